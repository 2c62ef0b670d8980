//! Where a scene's solids are: world poses, sampled outlines, bounding
//! points, and the convex hull of projected points.

use umwelt_sim::scene::{Body, Geometry, Pose, Scene, Solid};

/// Points around a circle when a round outline is sampled.
pub(super) const ROUND: usize = 24;

/// Every point that bounds what `scene` shows: box corners, the extreme
/// points of balls, cylinders and capsules along the world axes, markers.
/// A camera fitted to these points of every frame keeps the whole episode
/// in view.
pub fn scene_points(scene: &Scene) -> Vec<[f32; 3]> {
    let mut out = Vec::new();
    for (pose, geometry) in solids(scene) {
        match geometry {
            Geometry::Box { size } => out.extend(box_corners(pose, size)),
            Geometry::Sphere { radius } => out.extend(ball_extremes(pose.position, radius)),
            Geometry::Cylinder { radius, length } | Geometry::Capsule { radius, length } => {
                for c in axis_ends(pose, length) {
                    out.extend(ball_extremes(c, radius));
                }
            }
        }
    }
    for m in &scene.markers {
        out.extend(ball_extremes(m.position, m.radius));
    }
    out
}

/// Each solid's pose in the world and its geometry.
pub(super) fn solids(scene: &Scene) -> impl Iterator<Item = (Pose, Geometry)> + '_ {
    solids_with_color(scene).map(|(p, g, _)| (p, g))
}

pub(super) fn solids_with_color(
    scene: &Scene,
) -> impl Iterator<Item = (Pose, Geometry, [f32; 4])> + '_ {
    scene.bodies.iter().flat_map(|b: &Body| {
        b.solids
            .iter()
            .map(move |s: &Solid| (b.pose.then(s.pose), s.geometry, s.color))
    })
}

/// A direction given in `pose`'s frame, in the world.
pub(super) fn rotate(pose: Pose, v: [f32; 3]) -> [f32; 3] {
    let (a, o) = (pose.apply(v), pose.position);
    [a[0] - o[0], a[1] - o[1], a[2] - o[2]]
}

/// Corners of a box; corner `i` has +x when bit 0 is set, +y bit 1, +z bit 2.
pub(super) fn box_corners(pose: Pose, size: [f32; 3]) -> [[f32; 3]; 8] {
    std::array::from_fn(|i| {
        let s = |bit: usize, k: usize| if i & bit != 0 { 0.5 } else { -0.5 } * size[k];
        pose.apply([s(1, 0), s(2, 1), s(4, 2)])
    })
}

/// The two ends of a solid's z axis, `length` apart.
pub(super) fn axis_ends(pose: Pose, length: f32) -> [[f32; 3]; 2] {
    [
        pose.apply([0.0, 0.0, -0.5 * length]),
        pose.apply([0.0, 0.0, 0.5 * length]),
    ]
}

/// A circle of `radius` about `center`, in the plane normal to `pose`'s z.
pub(super) fn ring(pose: Pose, center: [f32; 3], radius: f32) -> Vec<[f32; 3]> {
    let (u, v) = (rotate(pose, [1.0, 0.0, 0.0]), rotate(pose, [0.0, 1.0, 0.0]));
    (0..ROUND)
        .map(|k| {
            let a = k as f32 * std::f32::consts::TAU / ROUND as f32;
            let (c, s) = (radius * a.cos(), radius * a.sin());
            std::array::from_fn(|i| center[i] + c * u[i] + s * v[i])
        })
        .collect()
}

pub(super) fn ball_extremes(c: [f32; 3], r: f32) -> [[f32; 3]; 6] {
    std::array::from_fn(|i| {
        let mut p = c;
        p[i / 2] += if i % 2 == 0 { r } else { -r };
        p
    })
}

/// Convex hull (Andrew's monotone chain), counter-clockwise in image
/// coordinates.
pub(super) fn convex_hull(mut pts: Vec<[f32; 2]>) -> Vec<[f32; 2]> {
    pts.retain(|p| p[0].is_finite() && p[1].is_finite());
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: [f32; 2], a: [f32; 2], b: [f32; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut hull: Vec<[f32; 2]> = Vec::with_capacity(2 * pts.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f32; 2]>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_of_a_square_with_inner_points_is_its_corners() {
        let pts = vec![
            [0.0, 0.0],
            [1.0, 0.0],
            [0.5, 0.5],
            [1.0, 1.0],
            [0.0, 1.0],
            [0.2, 0.7],
        ];
        let h = convex_hull(pts);
        assert_eq!(h.len(), 4, "{h:?}");
        for c in [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]] {
            assert!(h.contains(&c), "{h:?}");
        }
    }
}
