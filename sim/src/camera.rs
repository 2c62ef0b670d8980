//! Cameras of a simulated robot: the `[[camera]]` entries of a robot config
//! and each built-in robot's default camera.
//!
//! A camera is a pinhole looking from `position` towards `look_at`, with
//! `up` pointing to the top of the image, all given in the frame it is
//! attached to: the world (`attach = "world"`, z up, metres) or a body of
//! [`crate::Env::scene`] (a joint's name for the body it moves, `base`, ...),
//! so that a camera on a body moves with it. `look_at` + `up` was chosen over
//! a quaternion because it is what a person writes by hand and checks by
//! reading; [`crate::render`] turns it into a rotation.
//!
//! ```toml
//! [[camera]]
//! name = "side"
//! attach = "world"           # or a body: "slider", "base", ...
//! position = [0.0, -5.2, 0.0]
//! look_at = [0.0, 0.0, 0.0]
//! up = [0.0, 0.0, 1.0]       # default
//! fov_deg = 45.0             # vertical field of view; default
//! width = 64                 # pixels, 1..=1024; default 64
//! height = 64
//! rgb = true                 # default
//! depth = false              # default
//! supersample = 1            # rays per pixel side, 1..=4; default 1
//! ```

use serde::{Deserialize, Serialize};

use crate::kind::RobotKind;

/// Most cameras one robot may have: each can publish two images, and a
/// sensor frame carries at most 32 (`umwelt_protocol::MAX_IMAGES`).
pub const MAX_CAMERAS: usize = 16;
/// Largest width or height of an image, in pixels.
pub const MAX_PIXELS_PER_SIDE: u16 = 1024;
/// Longest camera name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Most rays per pixel side ([`CameraConfig::supersample`]): 4 x 4 = 16
/// rays a pixel.
pub const MAX_SUPERSAMPLE: u8 = 4;
/// Farthest a camera may stand from its frame's origin, in metres: beyond
/// it `f32` loses the millimetres a picture of these robots needs.
pub const MAX_DISTANCE_M: f32 = 1000.0;

/// One camera of a robot (a `[[camera]]` entry of its config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// The camera's name: 1 to 64 characters of `A-Z a-z 0-9 _ -`, unique
    /// among the robot's cameras; the name of its images on the wire.
    pub name: String,
    /// The frame the pose is given in: `"world"` or the name of a body of
    /// the robot's scene (see [`crate::scene`]).
    #[serde(default = "world")]
    pub attach: String,
    /// Where the camera is, in metres, in the `attach` frame.
    pub position: [f32; 3],
    /// The point the camera looks at, in the `attach` frame; not `position`.
    pub look_at: [f32; 3],
    /// Which way is up in the image, in the `attach` frame; any vector not
    /// parallel to the line of sight (only its part across it counts).
    #[serde(default = "z_up")]
    pub up: [f32; 3],
    /// Vertical field of view in degrees, in `[1, 170]`; the horizontal one
    /// follows from the aspect ratio (square pixels).
    #[serde(default = "default_fov")]
    pub fov_deg: f32,
    /// Image width in pixels, `1..=1024`.
    #[serde(default = "default_side")]
    pub width: u16,
    /// Image height in pixels, `1..=1024`.
    #[serde(default = "default_side")]
    pub height: u16,
    /// Whether the camera gives a colour image (RGB8).
    #[serde(default = "yes")]
    pub rgb: bool,
    /// Whether the camera gives a depth image (f32 metres).
    #[serde(default)]
    pub depth: bool,
    /// Rays per pixel side for the colour image, `1..=4`. 1 (the default)
    /// casts one ray through each pixel's centre, so an edge falls wholly
    /// in or out of a pixel and a part moving by less than a pixel may not
    /// change the image. `n > 1` casts `n x n` rays spread evenly over the
    /// pixel and averages their colours, as a real sensor integrates light
    /// over its pixel's area and as MuJoCo's multisampled images (DrQ's and
    /// dm_control's pixels) do: edges blend, and sub-pixel motion shows.
    /// Costs `n^2` rays a pixel. Depth stays one ray through the centre: an
    /// average across an edge would put a surface where there is none.
    #[serde(default = "one")]
    pub supersample: u8,
}

fn world() -> String {
    "world".into()
}
fn z_up() -> [f32; 3] {
    [0.0, 0.0, 1.0]
}
fn default_fov() -> f32 {
    45.0
}
fn default_side() -> u16 {
    64
}
fn yes() -> bool {
    true
}
fn one() -> u8 {
    1
}

impl CameraConfig {
    /// A world-fixed 64x64 RGB camera with a 45° field of view, z up.
    pub fn world(name: &str, position: [f32; 3], look_at: [f32; 3]) -> Self {
        CameraConfig {
            name: name.into(),
            attach: world(),
            position,
            look_at,
            up: z_up(),
            fov_deg: default_fov(),
            width: default_side(),
            height: default_side(),
            rgb: true,
            depth: false,
            supersample: one(),
        }
    }

    /// Pixels in one image.
    pub fn pixels(&self) -> usize {
        usize::from(self.width) * usize::from(self.height)
    }

    /// Checks every value that does not depend on the robot model (not
    /// whether `attach` names one of its bodies); the message names the field
    /// as `camera[i].field` and says what is allowed.
    pub fn validate(&self, index: usize) -> Result<(), String> {
        let field = |f: &str| format!("camera[{index}] (`{}`).{f}", self.name);
        let n = &self.name;
        if n.is_empty()
            || n.len() > MAX_NAME_LEN
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "camera[{index}].name = {n:?}: must be 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ -"
            ));
        }
        if self.attach.is_empty() {
            return Err(format!(
                "{}: must be \"world\" or a body name",
                field("attach")
            ));
        }
        for (name, v) in [
            ("position", self.position),
            ("look_at", self.look_at),
            ("up", self.up),
        ] {
            if !v.iter().all(|x| x.is_finite() && x.abs() <= MAX_DISTANCE_M) {
                return Err(format!(
                    "{} = {v:?}: every value must be finite and within ±{MAX_DISTANCE_M}",
                    field(name)
                ));
            }
        }
        let sight = sub(self.look_at, self.position);
        let len = norm(sight);
        if len < 1e-4 {
            return Err(format!(
                "{} = {:?}: must differ from position = {:?} (by 0.1 mm at least)",
                field("look_at"),
                self.look_at,
                self.position
            ));
        }
        let up_len = norm(self.up);
        let across = norm(cross(sight, self.up));
        if up_len < 1e-6 || across < 1e-3 * len * up_len {
            return Err(format!(
                "{} = {:?}: must not be zero or parallel to the line of sight (look_at - position = {sight:?})",
                field("up"),
                self.up
            ));
        }
        if !(self.fov_deg.is_finite() && (1.0..=170.0).contains(&self.fov_deg)) {
            return Err(format!(
                "{} = {}: must be in [1, 170] degrees",
                field("fov_deg"),
                self.fov_deg
            ));
        }
        for (name, v) in [("width", self.width), ("height", self.height)] {
            if !(1..=MAX_PIXELS_PER_SIDE).contains(&v) {
                return Err(format!(
                    "{} = {v}: must be in 1..={MAX_PIXELS_PER_SIDE} pixels",
                    field(name)
                ));
            }
        }
        if !(1..=MAX_SUPERSAMPLE).contains(&self.supersample) {
            return Err(format!(
                "{} = {}: must be in 1..={MAX_SUPERSAMPLE} rays per pixel side",
                field("supersample"),
                self.supersample
            ));
        }
        if !self.rgb && !self.depth {
            return Err(format!(
                "{}: a camera gives an RGB image, a depth image or both; set rgb or depth to true",
                field("rgb")
            ));
        }
        Ok(())
    }
}

/// Checks a robot's camera list: each entry, the count and unique names.
pub(crate) fn validate_all(cameras: &[CameraConfig]) -> Result<(), String> {
    if cameras.len() > MAX_CAMERAS {
        return Err(format!(
            "camera: {} cameras; at most {MAX_CAMERAS}",
            cameras.len()
        ));
    }
    for (i, c) in cameras.iter().enumerate() {
        c.validate(i)?;
        if cameras[..i].iter().any(|d| d.name == c.name) {
            return Err(format!(
                "camera[{i}].name: camera `{}` is listed twice",
                c.name
            ));
        }
    }
    Ok(())
}

/// The camera a built-in robot gets when its config lists none, after
/// dm_control's fixed cameras: 64x64 RGB, 45° vertical field of view.
pub fn default_camera(kind: RobotKind) -> CameraConfig {
    match kind {
        // From -y, level with the rail: ±5.2·tan(22.5°) = ±2.15 m shows the
        // whole ±1.8 m rail with the cart (±0.2 m) on it, and the pole up or down.
        RobotKind::Cartpole => CameraConfig::world("side", [0.0, -5.2, 0.0], [0.0, 0.0, 0.0]),
        // From -y: ±0.83 m around the hinge; the bob reaches 0.8 m.
        RobotKind::Pendulum => CameraConfig::world("side", [0.0, -2.0, 0.0], [0.0, 0.0, 0.0]),
        // From above, +y at the top: ±0.33 m; the fingertip reaches 0.24 m
        // and the target lies within 0.25 m (its edge included).
        RobotKind::Reacher => CameraConfig {
            up: [0.0, 1.0, 0.0],
            ..CameraConfig::world("top", [0.0, 0.0, 0.8], [0.0, 0.0, 0.0])
        },
        // Obliquely from the front right and above, 2 m away: ±0.8 m around
        // the middle of the workspace, where targets lie within 0.6 m.
        RobotKind::Arm => CameraConfig::world("oblique", [1.3, -1.3, 1.1], [0.0, 0.0, 0.4]),
    }
}

pub(crate) fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn norm(a: [f32; 3]) -> f32 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_64_by_64_rgb() {
        for k in RobotKind::ALL {
            let c = default_camera(k);
            c.validate(0).unwrap();
            assert_eq!(
                (c.width, c.height, c.rgb, c.depth, c.supersample),
                (64, 64, true, false, 1)
            );
        }
    }

    #[test]
    fn bad_values_name_their_field() {
        let base = default_camera(RobotKind::Cartpole);
        type Change = Box<dyn Fn(&mut CameraConfig)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|c| c.width = 0), "camera[0] (`side`).width = 0"),
            (
                Box::new(|c| c.height = 2000),
                "camera[0] (`side`).height = 2000",
            ),
            (Box::new(|c| c.fov_deg = f32::NAN), "fov_deg = NaN"),
            (Box::new(|c| c.fov_deg = 180.0), "fov_deg = 180"),
            (Box::new(|c| c.position[1] = f32::INFINITY), "position"),
            (Box::new(|c| c.look_at = c.position), "look_at"),
            (Box::new(|c| c.up = [0.0, 1.0, 0.0]), "up"),
            (Box::new(|c| c.up = [0.0; 3]), "up"),
            (Box::new(|c| c.name = "a b".into()), "camera[0].name"),
            (Box::new(|c| c.name = String::new()), "camera[0].name"),
            (Box::new(|c| c.attach = String::new()), "attach"),
            (Box::new(|c| c.supersample = 0), "supersample = 0"),
            (Box::new(|c| c.supersample = 5), "supersample = 5"),
            (
                Box::new(|c| {
                    c.rgb = false;
                    c.depth = false
                }),
                "rgb",
            ),
        ];
        for (change, needle) in cases {
            let mut c = base.clone();
            change(&mut c);
            let e = c.validate(0).unwrap_err();
            assert!(e.contains(needle), "{e} lacks {needle}");
            assert!(!e.contains('\n'), "{e}");
        }
        let twice = [base.clone(), base];
        assert!(validate_all(&twice).unwrap_err().contains("listed twice"));
    }
}
