//! Orthographic cameras: which way a robot is looked at, and a camera fitted
//! so that everything an episode shows stays in the picture.

use umwelt_sim::RobotKind;

/// A direction to look at a robot from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// From -y towards +y: the x–z plane, x to the right, z up (cart-pole,
    /// pendulum: they move in that plane).
    Side,
    /// From above, looking down -z: x to the right, y up (reacher: a planar
    /// arm on the table).
    Top,
    /// From the front right and above (azimuth -60°, elevation 25°), z up:
    /// for robots that move in three dimensions (the arm).
    ThreeQuarter,
}

impl View {
    /// The view that shows `kind`'s motion best.
    pub fn for_robot(kind: RobotKind) -> View {
        match kind {
            RobotKind::Cartpole | RobotKind::Pendulum => View::Side,
            RobotKind::Reacher => View::Top,
            RobotKind::Arm => View::ThreeQuarter,
        }
    }

    /// The camera's `(right, up, forward)` unit axes in the world; forward
    /// points away from the viewer (larger depth is further away).
    pub fn axes(self) -> ([f32; 3], [f32; 3], [f32; 3]) {
        match self {
            View::Side => ([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
            View::Top => ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]),
            View::ThreeQuarter => {
                let (az, el) = (-60f32.to_radians(), 25f32.to_radians());
                // From the robot towards the camera.
                let d = [el.cos() * az.cos(), el.cos() * az.sin(), el.sin()];
                let forward = [-d[0], -d[1], -d[2]];
                let right = normalize(cross(forward, [0.0, 0.0, 1.0]));
                let up = cross(right, forward);
                (right, up, forward)
            }
        }
    }
}

/// An orthographic camera: world points to pixels (x right, y down) and a
/// depth for painter's order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    /// Looking direction.
    pub view: View,
    /// The world point drawn at the image centre.
    pub center: [f32; 3],
    /// Pixels per metre.
    pub scale: f32,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    right: [f32; 3],
    up: [f32; 3],
    forward: [f32; 3],
}

impl Camera {
    /// A camera looking along `view`, with `center` at the image centre and
    /// `scale` pixels per metre.
    pub fn new(view: View, center: [f32; 3], scale: f32, width: u32, height: u32) -> Self {
        let (right, up, forward) = view.axes();
        Camera {
            view,
            center,
            scale,
            width,
            height,
            right,
            up,
            forward,
        }
    }

    /// The camera of `view` that shows every point of `points` with at
    /// least `margin` pixels to spare on each side, as large as that allows
    /// (at most `max_scale` pixels per metre, so a tiny motion is not
    /// blown up). Points that are not finite are ignored; with none left
    /// the world origin is shown at `max_scale`.
    pub fn fit(
        view: View,
        points: impl IntoIterator<Item = [f32; 3]>,
        width: u32,
        height: u32,
        margin: f32,
        max_scale: f32,
    ) -> Self {
        let probe = Camera::new(view, [0.0; 3], 1.0, width, height);
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for p in points
            .into_iter()
            .filter(|p| p.iter().all(|v| v.is_finite()))
        {
            let (u, v) = (dot(p, probe.right), dot(p, probe.up));
            lo = [lo[0].min(u), lo[1].min(v)];
            hi = [hi[0].max(u), hi[1].max(v)];
        }
        if !lo[0].is_finite() {
            return Camera::new(view, [0.0; 3], max_scale, width, height);
        }
        let avail = [
            (width as f32 - 2.0 * margin).max(1.0),
            (height as f32 - 2.0 * margin).max(1.0),
        ];
        let sx = avail[0] / (hi[0] - lo[0]).max(1e-6);
        let sy = avail[1] / (hi[1] - lo[1]).max(1e-6);
        let scale = sx.min(sy).min(max_scale);
        let (cu, cv) = (0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]));
        let center = [
            probe.right[0] * cu + probe.up[0] * cv,
            probe.right[1] * cu + probe.up[1] * cv,
            probe.right[2] * cu + probe.up[2] * cv,
        ];
        Camera::new(view, center, scale, width, height)
    }

    /// `p` in pixels `[x, y]` (x right, y down, pixel centres at +0.5) and
    /// its depth in metres (larger is further from the viewer).
    pub fn project(&self, p: [f32; 3]) -> ([f32; 2], f32) {
        let d = [
            p[0] - self.center[0],
            p[1] - self.center[1],
            p[2] - self.center[2],
        ];
        let x = 0.5 * self.width as f32 + self.scale * dot(d, self.right);
        let y = 0.5 * self.height as f32 - self.scale * dot(d, self.up);
        ([x, y], dot(d, self.forward))
    }

    /// The looking direction (away from the viewer), a unit vector.
    pub fn forward(&self) -> [f32; 3] {
        self.forward
    }
}

/// Dot product.
pub(crate) fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn normalize(a: [f32; 3]) -> [f32; 3] {
    let n = dot(a, a).sqrt().max(1e-12);
    [a[0] / n, a[1] / n, a[2] / n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_orthonormal_and_right_handed() {
        for v in [View::Side, View::Top, View::ThreeQuarter] {
            let (r, u, f) = v.axes();
            for (a, b) in [(r, u), (u, f), (r, f)] {
                assert!(dot(a, b).abs() < 1e-6, "{v:?}");
            }
            for a in [r, u, f] {
                assert!((dot(a, a) - 1.0).abs() < 1e-6, "{v:?}");
            }
            // right x up points at the viewer (-forward).
            let c = cross(r, u);
            assert!((dot(c, f) + 1.0).abs() < 1e-6, "{v:?}");
        }
    }

    #[test]
    fn fit_keeps_every_point_inside_the_margin() {
        let pts = [[-2.0, 0.3, -0.5], [1.0, -0.2, 1.5], [0.4, 0.0, 0.2]];
        for v in [View::Side, View::Top, View::ThreeQuarter] {
            let c = Camera::fit(v, pts, 320, 200, 10.0, 1e4);
            for p in pts {
                let ([x, y], _) = c.project(p);
                assert!((9.99..=310.01).contains(&x), "{v:?} {x}");
                assert!((9.99..=190.01).contains(&y), "{v:?} {y}");
            }
        }
    }
}
