//! Camera images of a [`Scene`]: RGB8 and depth, by ray casting.
//!
//! Why ray casting, and why our own intersections: the scenes are a handful
//! of boxes, balls, cylinders and capsules, and the images small (64x64 to a
//! few hundred pixels a side), so one ray per pixel against the few solids
//! whose screen rectangle holds the pixel costs less than setting up a
//! rasteriser's triangle meshes, and needs no new crate. parry
//! (`Shape::cast_local_ray_and_get_normal`) was the other choice; its
//! capsule and cylinder go through an iterative support-map (GJK) ray cast,
//! slower and only tolerance-exact, while the closed forms here (quadratics
//! and slabs, `solid.rs`) are exact to `f32` rounding, a few dozen flops a
//! ray, and work on the plain [`Scene`] without rapier types.
//!
//! What a frame is:
//! - pixel `(px, py)` is row-major from the top left; its ray passes
//!   through the pixel's centre (see [`View`]); with a camera's
//!   `supersample = n > 1`, its colour is the mean of `n x n` rays spread
//!   evenly over the pixel (anti-aliased edges), its depth still the
//!   centre ray's;
//! - RGB8: 3 bytes a pixel; Lambert shading of each solid's colour under one
//!   fixed light from above, front-left ([`TO_LIGHT`]) plus [`AMBIENT`];
//!   no shadows, no transparency (markers' alpha is ignored);
//! - behind everything, a checkered floor ([`Floor`]) below the robot and a
//!   plain sky colour ([`SKY`]) above it;
//! - depth: `f32` z-depth, the distance in metres from the camera's plane
//!   along its line of sight (as dm_control's depth images), not along the
//!   ray; the floor has depth too; `+inf` where a ray meets nothing;
//! - a camera inside a solid does not see that solid.
//!
//! A frame is deterministic: the same scene and camera give the same bytes
//! (single-threaded, no randomness). Solids are culled by a screen-space
//! bound of their bounding ball before any ray is cast, and [`Renderer`]
//! keeps its scratch between frames: no allocation per pixel, and none per
//! frame once the buffers have grown.

mod solid;
mod view;

pub use view::View;

use crate::kind::RobotKind;
use crate::scene::{Pose, Scene};
use solid::{Prepared, Shape, dot};

/// Unit vector towards the light, in the world (z up): from above, a little
/// to the front (-y) and left (-x), so that the faces side cameras see and
/// the tops a top camera sees are both lit.
pub const TO_LIGHT: [f32; 3] = [-0.2873478, -0.5746957, 0.766261];
/// Share of a colour that shows without light.
pub const AMBIENT: f32 = 0.35;
/// The sky: what a ray that meets nothing shows.
pub const SKY: [u8; 3] = [196, 214, 232];
/// The floor's two tile colours (linear RGB in [0, 1]).
const FLOOR_COLORS: [[f32; 3]; 2] = [[0.38, 0.40, 0.44], [0.45, 0.47, 0.51]];

/// A horizontal floor under the robot, drawn but not simulated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Floor {
    /// Its height (world z), m.
    pub height: f32,
    /// Side of its square tiles, m.
    pub tile: f32,
}

/// What is drawn behind the robot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backdrop {
    /// The floor, if any; seen only from above.
    pub floor: Option<Floor>,
}

impl Backdrop {
    /// The backdrop of a built-in robot: a floor just below the lowest point
    /// any of its bodies reaches at nominal lengths, tiles sized to its
    /// default camera's view.
    pub fn of(kind: RobotKind) -> Backdrop {
        let (height, tile) = match kind {
            // The hanging pole's tip is 1.045 m below the rail.
            RobotKind::Cartpole => (-1.2, 0.5),
            // The hanging bob's bottom is 0.8 m below the hinge.
            RobotKind::Pendulum => (-0.9, 0.25),
            // The arm moves in the plane z = 0 with 1 cm thick links.
            RobotKind::Reacher => (-0.02, 0.1),
            // The arm's base stands on z = 0.
            RobotKind::Arm => (0.0, 0.25),
        };
        Backdrop {
            floor: Some(Floor { height, tile }),
        }
    }
}

/// Renders scenes; keeps its scratch between frames.
#[derive(Debug, Default)]
pub struct Renderer {
    solids: Vec<Prepared>,
}

impl Renderer {
    /// A renderer with empty scratch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Renders `scene` as `view` sees it over `backdrop`: `rgb` (if given) is
    /// cleared and filled with `width * height * 3` bytes, `depth` (if given)
    /// with `width * height` z-depths in metres (see the module docs).
    pub fn render(
        &mut self,
        scene: &Scene,
        view: &View,
        backdrop: &Backdrop,
        mut rgb: Option<&mut Vec<u8>>,
        mut depth: Option<&mut Vec<f32>>,
    ) {
        self.prepare(scene, view);
        let (w, h) = (usize::from(view.width), usize::from(view.height));
        if let Some(out) = rgb.as_deref_mut() {
            out.clear();
            out.reserve(w * h * 3);
        }
        if let Some(out) = depth.as_deref_mut() {
            out.clear();
            out.reserve(w * h);
        }
        let n = usize::from(view.supersample.max(1));
        for py in 0..h {
            let y = view.ray_y(py);
            for px in 0..w {
                let x = view.ray_x(px);
                if n == 1 {
                    let (t, color) = self.trace(view, backdrop, px, py, x, y);
                    if let Some(out) = rgb.as_deref_mut() {
                        out.extend_from_slice(&color);
                    }
                    if let Some(out) = depth.as_deref_mut() {
                        out.push(t);
                    }
                    continue;
                }
                if let Some(out) = rgb.as_deref_mut() {
                    out.extend_from_slice(&self.supersampled(view, backdrop, px, py, n));
                }
                if let Some(out) = depth.as_deref_mut() {
                    out.push(self.trace(view, backdrop, px, py, x, y).0);
                }
            }
        }
    }

    /// The colour of pixel `(px, py)` as the mean of `n x n` rays spread
    /// evenly over it (the centres of an `n x n` grid of sub-pixels),
    /// rounded to the nearest byte.
    fn supersampled(
        &self,
        view: &View,
        backdrop: &Backdrop,
        px: usize,
        py: usize,
        n: usize,
    ) -> [u8; 3] {
        let mut sum = [0u32; 3];
        let step = 1.0 / n as f32;
        for j in 0..n {
            let y = view.ray_y_at(py as f32 + (j as f32 + 0.5) * step);
            for i in 0..n {
                let x = view.ray_x_at(px as f32 + (i as f32 + 0.5) * step);
                let (_, c) = self.trace(view, backdrop, px, py, x, y);
                for (s, c) in sum.iter_mut().zip(c) {
                    *s += u32::from(c);
                }
            }
        }
        let count = (n * n) as u32;
        // Each mean is at most 255, so the cast cannot truncate.
        sum.map(|s| ((s + count / 2) / count) as u8)
    }

    /// Fills the scratch with the solids and markers that may show.
    fn prepare(&mut self, scene: &Scene, view: &View) {
        self.solids.clear();
        for body in &scene.bodies {
            for s in &body.solids {
                let pose = body.pose.then(s.pose);
                let shape = Shape::of(&s.geometry);
                self.solids
                    .extend(Prepared::new(shape, &pose, s.color, view));
            }
        }
        for m in &scene.markers {
            let pose = Pose {
                position: m.position,
                ..Pose::IDENTITY
            };
            self.solids
                .extend(Prepared::new(Shape::Sphere(m.radius), &pose, m.color, view));
        }
    }

    /// The z-depth and colour of one pixel's ray.
    #[inline]
    fn trace(
        &self,
        view: &View,
        backdrop: &Backdrop,
        px: usize,
        py: usize,
        x: f32,
        y: f32,
    ) -> (f32, [u8; 3]) {
        let mut best: Option<(f32, [f32; 3], [f32; 3])> = None;
        for s in &self.solids {
            if !s.rect.contains(px, py) {
                continue;
            }
            if let Some((t, n)) = s.hit(x, y)
                && best.is_none_or(|b| t < b.0)
            {
                best = Some((t, n, s.color));
            }
        }
        if let Some((t, n, color)) = best {
            return (t, shade(color, n));
        }
        if let Some(f) = backdrop.floor
            && let Some((t, color)) = floor_hit(view, &f, x, y)
        {
            return (t, shade(color, [0.0, 0.0, 1.0]));
        }
        (f32::INFINITY, SKY)
    }
}

/// Where the ray `(x, y)` meets the floor from above: its z-depth and tile colour.
fn floor_hit(view: &View, f: &Floor, x: f32, y: f32) -> Option<(f32, [f32; 3])> {
    let above = view.eye[2] - f.height;
    let dz = view.forward[2] + x * view.right[2] + y * view.up[2];
    if above <= 0.0 || dz >= 0.0 {
        return None;
    }
    let t = above / -dz;
    let px = view.eye[0] + t * (view.forward[0] + x * view.right[0] + y * view.up[0]);
    let py = view.eye[1] + t * (view.forward[1] + x * view.right[1] + y * view.up[1]);
    if !(px.is_finite() && py.is_finite() && t.is_finite()) {
        return None;
    }
    let tile = f.tile.max(1e-3);
    let parity = ((px / tile).floor() as i64 + (py / tile).floor() as i64).rem_euclid(2);
    Some((t, FLOOR_COLORS[parity as usize]))
}

/// Lambert shading of a linear colour with unit normal `n`, as RGB8.
#[inline]
fn shade(color: [f32; 3], n: [f32; 3]) -> [u8; 3] {
    let light = AMBIENT + (1.0 - AMBIENT) * dot(n, TO_LIGHT).max(0.0);
    color.map(|c| ((c * light).clamp(0.0, 1.0) * 255.0 + 0.5) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_light_is_a_unit_vector() {
        assert!((dot(TO_LIGHT, TO_LIGHT) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn an_empty_scene_is_sky_above_the_horizon_and_floor_below() {
        let cam = crate::camera::CameraConfig::world("c", [0.0, -5.0, 0.0], [0.0; 3]);
        let view = View::new(&cam, &Pose::IDENTITY);
        let backdrop = Backdrop {
            floor: Some(Floor {
                height: -1.0,
                tile: 0.5,
            }),
        };
        let (mut rgb, mut depth) = (Vec::new(), Vec::new());
        Renderer::new().render(
            &Scene::default(),
            &view,
            &backdrop,
            Some(&mut rgb),
            Some(&mut depth),
        );
        assert_eq!((rgb.len(), depth.len()), (64 * 64 * 3, 64 * 64));
        assert_eq!(&rgb[..3], &SKY);
        assert!(depth[0].is_infinite());
        let last = 64 * 64 - 1;
        assert_ne!(&rgb[3 * last..], &SKY);
        assert!(depth[last].is_finite() && depth[last] > 0.0);
    }
}
