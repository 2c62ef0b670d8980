//! One solid made ready for a frame: its shape, its pose inverted once, the
//! camera's origin and axes in its own frame, its screen rectangle; and the
//! analytic ray intersections of the four shapes, in the solid's frame.

use super::view::{Rect, View};
use crate::scene::{Geometry, Pose};

/// Hits closer than this (in units of the ray's forward component, metres
/// of z-depth) are ignored: the camera's own surface.
const T_MIN: f32 = 1e-4;

/// A shape in its own frame, centred on the origin (axes along z).
#[derive(Clone, Copy, Debug)]
pub(super) enum Shape {
    /// Half side lengths.
    Box([f32; 3]),
    Sphere(f32),
    /// Radius, half length.
    Cylinder(f32, f32),
    /// Radius, half length of the cylindrical part.
    Capsule(f32, f32),
}

impl Shape {
    pub(super) fn of(g: &Geometry) -> Shape {
        match *g {
            Geometry::Box { size } => Shape::Box(size.map(|s| 0.5 * s.abs())),
            Geometry::Sphere { radius } => Shape::Sphere(radius.abs()),
            Geometry::Cylinder { radius, length } => {
                Shape::Cylinder(radius.abs(), 0.5 * length.abs())
            }
            Geometry::Capsule { radius, length } => {
                Shape::Capsule(radius.abs(), 0.5 * length.abs())
            }
        }
    }

    /// Radius of a ball around the origin that holds the shape.
    fn bounding_radius(self) -> f32 {
        match self {
            Shape::Box([x, y, z]) => (x * x + y * y + z * z).sqrt(),
            Shape::Sphere(r) => r,
            Shape::Cylinder(r, h) => (r * r + h * h).sqrt(),
            Shape::Capsule(r, h) => r + h,
        }
    }

    /// Whether the point is inside or on the shape.
    fn contains(self, p: [f32; 3]) -> bool {
        match self {
            Shape::Box(h) => (0..3).all(|i| p[i].abs() <= h[i]),
            Shape::Sphere(r) => dot(p, p) <= r * r,
            Shape::Cylinder(r, h) => p[2].abs() <= h && p[0] * p[0] + p[1] * p[1] <= r * r,
            Shape::Capsule(r, h) => {
                let z = p[2].clamp(-h, h);
                p[0] * p[0] + p[1] * p[1] + (p[2] - z) * (p[2] - z) <= r * r
            }
        }
    }

    /// The first hit of the ray `o + t d` (`t > T_MIN`) from outside the
    /// shape: `t` and the outward unit normal there.
    fn hit(self, o: [f32; 3], d: [f32; 3]) -> Option<(f32, [f32; 3])> {
        match self {
            Shape::Box(h) => hit_box(h, o, d),
            Shape::Sphere(r) => hit_sphere(r, [0.0; 3], o, d),
            Shape::Cylinder(r, h) => {
                let side = hit_side(r, h, o, d);
                let caps = [h, -h].into_iter().filter_map(|z| hit_cap(r, z, o, d));
                side.into_iter()
                    .chain(caps)
                    .min_by(|a, b| a.0.total_cmp(&b.0))
            }
            Shape::Capsule(r, h) => {
                // The union of a side wall and two balls: its first hit is the
                // first of theirs (the wall's caps lie inside the balls).
                let side = hit_side(r, h, o, d);
                let balls = [h, -h]
                    .into_iter()
                    .filter_map(|z| hit_sphere(r, [0.0, 0.0, z], o, d));
                side.into_iter()
                    .chain(balls)
                    .min_by(|a, b| a.0.total_cmp(&b.0))
            }
        }
    }
}

/// A solid ready to be hit by the rays of one view.
#[derive(Clone, Copy, Debug)]
pub(super) struct Prepared {
    shape: Shape,
    /// Columns: the solid's x, y, z axes in the world.
    axes: [[f32; 3]; 3],
    /// The camera's position, forward, right and up vectors in the solid's frame.
    eye: [f32; 3],
    forward: [f32; 3],
    right: [f32; 3],
    up: [f32; 3],
    /// Linear colour, RGB in [0, 1].
    pub(super) color: [f32; 3],
    /// The pixels it may cover.
    pub(super) rect: Rect,
}

impl Prepared {
    /// The solid `shape` at `pose` (in the world) seen by `view`, or `None`
    /// when it cannot show: off screen, behind the camera, or around it (a
    /// camera inside a solid sees out of it).
    pub(super) fn new(shape: Shape, pose: &Pose, color: [f32; 4], view: &View) -> Option<Self> {
        let axes = rotation_columns(pose.orientation);
        let centre = pose.position;
        let to_local = |v: [f32; 3]| [dot(axes[0], v), dot(axes[1], v), dot(axes[2], v)];
        let eye = to_local(sub(view.eye, centre));
        if shape.contains(eye) {
            return None;
        }
        let rect = view.sphere_rect(centre, shape.bounding_radius())?;
        Some(Prepared {
            shape,
            axes,
            eye,
            forward: to_local(view.forward),
            right: to_local(view.right),
            up: to_local(view.up),
            color: [color[0], color[1], color[2]],
            rect,
        })
    }

    /// The hit of the ray `forward + x right + y up` from the eye: its
    /// z-depth and the world normal there.
    #[inline]
    pub(super) fn hit(&self, x: f32, y: f32) -> Option<(f32, [f32; 3])> {
        let d = [
            self.forward[0] + x * self.right[0] + y * self.up[0],
            self.forward[1] + x * self.right[1] + y * self.up[1],
            self.forward[2] + x * self.right[2] + y * self.up[2],
        ];
        let (t, n) = self.shape.hit(self.eye, d)?;
        let a = &self.axes;
        let world = [
            a[0][0] * n[0] + a[1][0] * n[1] + a[2][0] * n[2],
            a[0][1] * n[0] + a[1][1] * n[1] + a[2][1] * n[2],
            a[0][2] * n[0] + a[1][2] * n[1] + a[2][2] * n[2],
        ];
        Some((t, world))
    }
}

/// The world directions of a unit quaternion `[x, y, z, w]`'s x, y and z
/// axes (normalised first, so a slightly off one still rotates).
fn rotation_columns(q: [f32; 4]) -> [[f32; 3]; 3] {
    let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).sqrt();
    let [x, y, z, w] = if n > 0.0 && n.is_finite() {
        q.map(|c| c / n)
    } else {
        [0.0, 0.0, 0.0, 1.0]
    };
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y + w * z),
            2.0 * (x * z - w * y),
        ],
        [
            2.0 * (x * y - w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z + w * x),
        ],
        [
            2.0 * (x * z + w * y),
            2.0 * (y * z - w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

fn hit_sphere(r: f32, c: [f32; 3], o: [f32; 3], d: [f32; 3]) -> Option<(f32, [f32; 3])> {
    let oc = sub(o, c);
    let a = dot(d, d);
    let b = dot(oc, d);
    let disc = b * b - a * (dot(oc, oc) - r * r);
    if disc < 0.0 || a <= 0.0 {
        return None;
    }
    let t = (-b - disc.sqrt()) / a;
    if t <= T_MIN {
        return None;
    }
    let p = [oc[0] + t * d[0], oc[1] + t * d[1], oc[2] + t * d[2]];
    Some((t, p.map(|v| v / r)))
}

/// Slabs: the ray enters the box where it has entered all three.
fn hit_box(h: [f32; 3], o: [f32; 3], d: [f32; 3]) -> Option<(f32, [f32; 3])> {
    let (mut near, mut far, mut axis) = (f32::NEG_INFINITY, f32::INFINITY, 0);
    for i in 0..3 {
        if d[i] == 0.0 {
            if o[i].abs() > h[i] {
                return None;
            }
            continue;
        }
        let (a, b) = ((-h[i] - o[i]) / d[i], (h[i] - o[i]) / d[i]);
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        if lo > near {
            near = lo;
            axis = i;
        }
        far = far.min(hi);
    }
    if near > far || near <= T_MIN {
        return None;
    }
    let mut n = [0.0; 3];
    n[axis] = if d[axis] > 0.0 { -1.0 } else { 1.0 };
    Some((near, n))
}

/// The wall of a z-axis cylinder of radius `r` between `-h` and `h`.
fn hit_side(r: f32, h: f32, o: [f32; 3], d: [f32; 3]) -> Option<(f32, [f32; 3])> {
    let a = d[0] * d[0] + d[1] * d[1];
    if a <= 0.0 {
        return None;
    }
    let b = o[0] * d[0] + o[1] * d[1];
    let disc = b * b - a * (o[0] * o[0] + o[1] * o[1] - r * r);
    if disc < 0.0 {
        return None;
    }
    let t = (-b - disc.sqrt()) / a;
    let z = o[2] + t * d[2];
    if t <= T_MIN || z.abs() > h {
        return None;
    }
    Some((t, [(o[0] + t * d[0]) / r, (o[1] + t * d[1]) / r, 0.0]))
}

/// The disc of radius `r` at height `z` across the z axis.
fn hit_cap(r: f32, z: f32, o: [f32; 3], d: [f32; 3]) -> Option<(f32, [f32; 3])> {
    if d[2] == 0.0 {
        return None;
    }
    let t = (z - o[2]) / d[2];
    let (x, y) = (o[0] + t * d[0], o[1] + t * d[1]);
    if t <= T_MIN || x * x + y * y > r * r {
        return None;
    }
    Some((t, [0.0, 0.0, z.signum()]))
}

pub(super) fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(super) fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shape_is_hit_where_it_is() {
        let o = [0.0, 0.0, -5.0];
        let d = [0.0, 0.0, 1.0];
        let (t, n) = Shape::Box([1.0, 2.0, 0.5]).hit(o, d).unwrap();
        assert_eq!((t, n), (4.5, [0.0, 0.0, -1.0]));
        let (t, n) = Shape::Sphere(2.0).hit(o, d).unwrap();
        assert_eq!((t, n), (3.0, [0.0, 0.0, -1.0]));
        let (t, n) = Shape::Cylinder(1.0, 1.5).hit(o, d).unwrap();
        assert_eq!((t, n), (3.5, [0.0, 0.0, -1.0]));
        let (t, n) = Shape::Capsule(0.5, 1.0).hit(o, d).unwrap();
        assert_eq!((t, n), (3.5, [0.0, 0.0, -1.0]));
        // From the side: the wall of a cylinder and a capsule.
        let (o, d) = ([-5.0, 0.0, 0.3], [1.0, 0.0, 0.0]);
        let (t, n) = Shape::Cylinder(1.0, 1.5).hit(o, d).unwrap();
        assert_eq!((t, n), (4.0, [-1.0, 0.0, 0.0]));
        let (t, _) = Shape::Capsule(0.5, 1.0).hit(o, d).unwrap();
        assert_eq!(t, 4.5);
        // Past the end of the wall, the capsule's ball still stops the ray.
        let (t, _) = Shape::Capsule(0.5, 1.0)
            .hit([-5.0, 0.0, 1.2], [1.0, 0.0, 0.0])
            .unwrap();
        assert!((t - (5.0 - (0.25f32 - 0.04).sqrt())).abs() < 1e-5, "{t}");
        assert!(Shape::Cylinder(1.0, 1.0).hit([-5.0, 0.0, 1.2], d).is_none());
        // Misses, and hits behind the origin.
        assert!(
            Shape::Box([1.0; 3])
                .hit([0.0, 3.0, -5.0], [0.0, 0.0, 1.0])
                .is_none()
        );
        assert!(
            Shape::Sphere(1.0)
                .hit([0.0, 0.0, 5.0], [0.0, 0.0, 1.0])
                .is_none()
        );
    }

    #[test]
    fn quaternions_turn_axes() {
        let h = std::f32::consts::FRAC_1_SQRT_2;
        // 90 degrees about z: x -> y, y -> -x.
        let a = rotation_columns([0.0, 0.0, h, h]);
        for (got, want) in a
            .iter()
            .zip([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        {
            assert!(
                got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6),
                "{a:?}"
            );
        }
    }
}
