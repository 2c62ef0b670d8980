//! Pictures of simulated robots for people: an orthographic drawing of a
//! [`umwelt_sim::scene::Scene`] (the bodies' solids where the simulator
//! put them, and the task's markers), used for episode videos.
//!
//! It lives in the runtime, beside the reports it illustrates, not in the
//! simulator: it is a diagram for reports, not a sensor. Cameras that a
//! controller sees through belong to the simulator and will be rendered
//! there, physically (`umwelt_sim::render`); [`png`] writes their images
//! as PNG files.

pub mod camera;
mod font;
pub mod png;
pub mod render;
mod shapes;

pub use camera::{Camera, View};
pub use png::{PngError, write_png};
pub use render::{Ground, Overlay, RenderError, Renderer};
pub use shapes::scene_points;
