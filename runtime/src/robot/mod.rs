//! Robots as a controller sees them: descriptions without physics
//! ([`RobotDescription`]), the descriptions of umwelt's simulated robots
//! ([`describe`]), the task rule applied to frames ([`TaskJudge`]), and
//! loading a robot by name or file ([`load_robot`]).

mod builtin;
mod camera;
mod check;
mod description;
mod judge;
mod ros2_settings;
mod source;

pub use builtin::describe;
pub use camera::{CameraDescription, MAX_CAMERA_SIDE, PIXEL_ENCODINGS};
pub use check::{DescriptionError, MAX_CONTROL_PERIOD_S, MAX_EPISODE_STEPS};
pub use description::{
    Actuation, ChannelDescription, DESCRIPTION_FORMAT, JointDescription, JointType, RewardRule,
    RobotDescription, SuccessRule, TaskDescription, ToleranceTerm,
};
pub use judge::TaskJudge;
pub use ros2_settings::{
    MAX_DOMAIN_ID, MAX_STAMP_AGE_S, MAX_STAMP_AHEAD_S, Ros2CommandType, Ros2Settings, Transport,
};
pub use source::{LoadedRobot, is_file, load_robot};
