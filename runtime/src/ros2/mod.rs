//! ROS 2 without a bridge: umwelt speaks to ROS 2 nodes that run
//! rmw_zenoh directly on zenoh. The messages ([`msgs`]: JointState,
//! Float64MultiArray, JointTrajectory as CDR), where they live and how
//! entities are announced ([`graph`]: keys, liveliness tokens, GIDs, the
//! attachment), the mapping between JointStates and umwelt's frames and
//! between actions and commands ([`joints`]), and the node the control
//! loop opens ([`link`]). A robot description selects it with
//! `transport = "ros2"`; `docs/ROS2.md` is the reference.

pub mod graph;
pub mod joints;
pub mod link;
pub mod msgs;
