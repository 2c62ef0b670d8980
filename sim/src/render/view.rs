//! A camera placed in the world: its eye, axes and pixel grid, and the
//! pixels a ball may cover (how solids are culled before any ray is cast).

use crate::camera::{CameraConfig, cross, norm, sub};
use crate::scene::Pose;

/// A camera in the world, ready to cast rays.
///
/// The ray of pixel `(px, py)` (from the top left) leaves `eye` along
/// `forward + x right + y up`, where `x` and `y` are the tangents of the
/// pixel centre's angles ([`View::ray_x`], [`View::ray_y`]); its forward
/// component is 1, so a hit at `eye + t ray` is `t` metres deep along the
/// line of sight (z-depth).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    /// The camera's position in the world, m.
    pub eye: [f32; 3],
    /// Unit line of sight.
    pub forward: [f32; 3],
    /// Unit vector to the image's right.
    pub right: [f32; 3],
    /// Unit vector to the image's top.
    pub up: [f32; 3],
    /// Image width, pixels.
    pub width: u16,
    /// Image height, pixels.
    pub height: u16,
    /// Rays per pixel side for colour ([`CameraConfig::supersample`]).
    pub supersample: u8,
    /// Tangent of half the vertical field of view.
    tan_y: f32,
    /// Tangent of half the horizontal field of view.
    tan_x: f32,
}

/// Pixels `x0..x1` by `y0..y1`, inside the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rect {
    pub(super) x0: usize,
    pub(super) x1: usize,
    pub(super) y0: usize,
    pub(super) y1: usize,
}

impl Rect {
    #[inline]
    pub(super) fn contains(&self, x: usize, y: usize) -> bool {
        x >= self.x0 && x < self.x1 && y >= self.y0 && y < self.y1
    }
}

impl View {
    /// The view of camera `cam` whose frame (its `attach`) is at `frame` in
    /// the world. The camera must have passed [`CameraConfig::validate`];
    /// a degenerate pose then cannot happen.
    pub fn new(cam: &CameraConfig, frame: &Pose) -> View {
        let eye = frame.apply(cam.position);
        let target = frame.apply(cam.look_at);
        let origin = frame.apply([0.0; 3]);
        let up_world = sub(frame.apply(cam.up), origin);
        let forward = unit(sub(target, eye));
        let right = unit(cross(forward, up_world));
        let up = cross(right, forward);
        let tan_y = (0.5 * cam.fov_deg.to_radians()).tan();
        let tan_x = tan_y * f32::from(cam.width) / f32::from(cam.height);
        View {
            eye,
            forward,
            right,
            up,
            width: cam.width,
            height: cam.height,
            supersample: cam.supersample.max(1),
            tan_y,
            tan_x,
        }
    }

    /// The `x` of column `px`'s ray (tangent of its angle to the right).
    #[inline]
    pub fn ray_x(&self, px: usize) -> f32 {
        self.ray_x_at(px as f32 + 0.5)
    }

    /// The `y` of row `py`'s ray (tangent of its angle upwards; row 0 is the top).
    #[inline]
    pub fn ray_y(&self, py: usize) -> f32 {
        self.ray_y_at(py as f32 + 0.5)
    }

    /// The `x` of the ray through `u` pixels from the image's left edge
    /// (`px + 0.5` is column `px`'s centre).
    #[inline]
    pub fn ray_x_at(&self, u: f32) -> f32 {
        (u / f32::from(self.width) * 2.0 - 1.0) * self.tan_x
    }

    /// The `y` of the ray through `v` pixels below the image's top edge.
    #[inline]
    pub fn ray_y_at(&self, v: f32) -> f32 {
        (1.0 - v / f32::from(self.height) * 2.0) * self.tan_y
    }

    /// The pixels a ball at `centre` of `radius` may cover, a pixel wider
    /// on each side; the whole image when it reaches behind the camera's
    /// plane; `None` when it is wholly behind the camera or off screen.
    pub(super) fn sphere_rect(&self, centre: [f32; 3], radius: f32) -> Option<Rect> {
        let rel = sub(centre, self.eye);
        let z = dot(rel, self.forward);
        let (w, h) = (usize::from(self.width), usize::from(self.height));
        let whole = Rect {
            x0: 0,
            x1: w,
            y0: 0,
            y1: h,
        };
        if z <= -radius {
            return None;
        }
        if z <= radius * 1.001 + 1e-4 {
            return Some(whole);
        }
        // The tangents from the eye to the ball's circle in the x-z and y-z
        // planes bound its picture (the ball lies wholly in front).
        let span = |c: f32| {
            let angle = c.atan2(z);
            let half = (radius / (c * c + z * z).sqrt()).min(1.0).asin();
            ((angle - half).tan(), (angle + half).tan())
        };
        let (xl, xh) = span(dot(rel, self.right));
        let (yl, yh) = span(dot(rel, self.up));
        // Inverse of ray_x / ray_y, widened by a pixel against rounding.
        let col = |t: f32| (t / self.tan_x + 1.0) * 0.5 * w as f32 - 0.5;
        let row = |t: f32| (1.0 - t / self.tan_y) * 0.5 * h as f32 - 0.5;
        let clamp = |v: f32, n: usize| v.clamp(0.0, n as f32) as usize;
        let rect = Rect {
            x0: clamp((col(xl) - 1.0).floor(), w),
            x1: clamp((col(xh) + 2.0).ceil(), w),
            y0: clamp((row(yh) - 1.0).floor(), h),
            y1: clamp((row(yl) + 2.0).ceil(), h),
        };
        (rect.x0 < rect.x1 && rect.y0 < rect.y1).then_some(rect)
    }
}

fn unit(v: [f32; 3]) -> [f32; 3] {
    let n = norm(v);
    v.map(|c| c / n)
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ahead() -> View {
        let cam = CameraConfig::world("c", [0.0, -5.0, 0.0], [0.0; 3]);
        View::new(&cam, &Pose::IDENTITY)
    }

    #[test]
    fn axes_and_rays_follow_the_camera() {
        let v = ahead();
        assert_eq!(v.forward, [0.0, 1.0, 0.0]);
        assert_eq!(v.right, [1.0, 0.0, 0.0]);
        assert_eq!(v.up, [0.0, 0.0, 1.0]);
        assert!(v.ray_x(0) < 0.0 && v.ray_x(63) > 0.0 && (v.ray_x(0) + v.ray_x(63)).abs() < 1e-6);
        assert!(v.ray_y(0) > 0.0 && v.ray_y(63) < 0.0);
    }

    #[test]
    fn balls_are_culled_to_their_pixels() {
        let v = ahead();
        let r = v.sphere_rect([0.0; 3], 0.1).unwrap();
        assert!(
            r.contains(32, 32) && !r.contains(0, 0) && !r.contains(63, 63),
            "{r:?}"
        );
        let left = v.sphere_rect([-1.0, 0.0, 0.0], 0.1).unwrap();
        assert!(left.x1 < 32, "{left:?}");
        assert!(v.sphere_rect([0.0, -10.0, 0.0], 1.0).is_none());
        assert!(v.sphere_rect([50.0, 0.0, 0.0], 1.0).is_none());
        assert_eq!(v.sphere_rect([0.0, -5.0, 0.0], 1.0).map(|r| r.x1), Some(64));
    }
}
