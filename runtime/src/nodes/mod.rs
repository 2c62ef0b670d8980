//! Nodes on zenoh: opening sessions ([`transport`]), what every node shares
//! (declaring a robot's publishers and subscribers, counting drops:
//! [`node`]), the simulator as a robot driver ([`sim_node`]) and the
//! operator's hand-sent messages ([`operator`]).

pub mod node;
pub mod operator;
pub mod remote_robot;
pub mod sim_images;
pub mod sim_node;
pub mod transport;
