//! Draws a [`Scene`] into an RGBA image: every solid projected by an
//! orthographic [`Camera`], filled (boxes face by face, shaded by how much
//! each face turns towards the viewer; cylinders and capsules as the convex
//! hull of their projected outline; balls as discs), far ones first
//! (painter's order by each solid's centre), over a ground line or grid,
//! with the task's markers and an optional caption (time, reward) and
//! time bar.

use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};
use umwelt_sim::RobotKind;
use umwelt_sim::scene::{Geometry, Pose, Scene};

use super::camera::{Camera, View, dot};
use super::font;
use super::shapes::{ROUND, axis_ends, box_corners, convex_hull, ring, rotate, solids_with_color};

/// Why a frame could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The image size is zero or too large for the raster library.
    #[error("cannot draw a {0}x{1} image")]
    Size(u32, u32),
}

/// What is drawn under the robot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ground {
    /// Nothing (a pendulum hangs from its pivot).
    None,
    /// A horizontal line across the image at world height `z` (the
    /// cart-pole's rail).
    Rail {
        /// Height of the line, m.
        z: f32,
    },
    /// A square grid on the plane z = 0 over the region the camera was
    /// fitted to, `spacing` metres apart.
    Grid {
        /// Distance between lines, m.
        spacing: f32,
    },
}

impl Ground {
    /// What suits `kind` seen from its [`View::for_robot`].
    pub fn for_robot(kind: RobotKind) -> Ground {
        match kind {
            RobotKind::Cartpole => Ground::Rail { z: 0.0 },
            RobotKind::Pendulum => Ground::None,
            RobotKind::Reacher => Ground::Grid { spacing: 0.05 },
            RobotKind::Arm => Ground::Grid { spacing: 0.1 },
        }
    }
}

/// The caption of one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Overlay {
    /// Simulated time since the episode began, s.
    pub time_s: f64,
    /// The episode's length, s (the time bar's full width).
    pub duration_s: f64,
    /// The last step's reward, if one was given yet.
    pub reward: Option<f32>,
}

/// Draws scenes of one robot with one camera.
#[derive(Clone, Debug)]
pub struct Renderer {
    /// The camera.
    pub camera: Camera,
    /// What is drawn under the robot.
    pub ground: Ground,
    /// World x–y region the grid covers: `[[x_lo, y_lo], [x_hi, y_hi]]`.
    grid_region: [[f32; 2]; 2],
}

impl Renderer {
    /// A renderer with a camera of your own; the grid (if any) covers
    /// `grid_region` (`[[x_lo, y_lo], [x_hi, y_hi]]`, world metres).
    pub fn new(camera: Camera, ground: Ground, grid_region: [[f32; 2]; 2]) -> Self {
        Renderer {
            camera,
            ground,
            grid_region,
        }
    }

    /// A renderer for `kind` whose camera of `width x height` pixels keeps
    /// every point of `points` (see [`super::scene_points`], over all frames) in
    /// view.
    pub fn fit(kind: RobotKind, points: &[[f32; 3]], width: u32, height: u32) -> Self {
        let view = View::for_robot(kind);
        // A caption on top and a time bar below take the first 28 and the
        // last 8 pixels; 6 more on each side.
        let camera = Camera::fit(view, points.iter().copied(), width, height, 34.0, 2000.0);
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for p in points.iter().filter(|p| p.iter().all(|v| v.is_finite())) {
            lo = [lo[0].min(p[0]), lo[1].min(p[1])];
            hi = [hi[0].max(p[0]), hi[1].max(p[1])];
        }
        if !lo[0].is_finite() {
            (lo, hi) = ([-1.0; 2], [1.0; 2]);
        }
        Renderer {
            camera,
            ground: Ground::for_robot(kind),
            grid_region: [lo, hi],
        }
    }

    /// Draws `scene` with an optional caption.
    pub fn render(&self, scene: &Scene, overlay: Option<&Overlay>) -> Result<Pixmap, RenderError> {
        let (w, h) = (self.camera.width, self.camera.height);
        let mut pix = Pixmap::new(w, h).ok_or(RenderError::Size(w, h))?;
        pix.fill(Color::from_rgba8(250, 250, 247, 255));
        self.draw_ground(&mut pix);
        // Painter's order: far first.
        let mut items: Vec<(f32, Item)> = Vec::new();
        for (pose, geometry, color) in solids_with_color(scene) {
            let (_, depth) = self.camera.project(pose.position);
            for item in self.items(pose, geometry, color) {
                items.push((depth, item));
            }
        }
        for m in &scene.markers {
            let ([x, y], depth) = self.camera.project(m.position);
            let r = m.radius * self.camera.scale;
            // Behind a body at the same depth: a reacher's target lies in
            // its arm's plane, and the arm passes over it.
            items.push((depth + 1e-3, Item::Disc([x, y], r, m.color)));
        }
        items.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, item) in &items {
            item.draw(&mut pix);
        }
        // Fixed bodies' origins (a pendulum's pivot, the rail's anchor).
        for b in scene.bodies.iter().filter(|b| b.name.starts_with("base")) {
            let (c, _) = self.camera.project(b.pose.position);
            Item::Disc(c, 4.0, [0.2, 0.2, 0.2, 1.0]).draw(&mut pix);
        }
        if let Some(o) = overlay {
            draw_overlay(&mut pix, o);
        }
        Ok(pix)
    }

    fn items(&self, pose: Pose, geometry: Geometry, color: [f32; 4]) -> Vec<Item> {
        let cam = &self.camera;
        let fwd = cam.forward();
        match geometry {
            Geometry::Box { size } => {
                let corners = box_corners(pose, size);
                let px: Vec<[f32; 2]> = corners.iter().map(|c| cam.project(*c).0).collect();
                // Faces as corner indices (bit 0: +x, bit 1: +y, bit 2: +z)
                // with their outward local normals.
                const FACES: [([usize; 4], [f32; 3]); 6] = [
                    ([0, 2, 6, 4], [-1.0, 0.0, 0.0]),
                    ([1, 3, 7, 5], [1.0, 0.0, 0.0]),
                    ([0, 1, 5, 4], [0.0, -1.0, 0.0]),
                    ([2, 3, 7, 6], [0.0, 1.0, 0.0]),
                    ([0, 1, 3, 2], [0.0, 0.0, -1.0]),
                    ([4, 5, 7, 6], [0.0, 0.0, 1.0]),
                ];
                FACES
                    .iter()
                    .filter_map(|(idx, n)| {
                        let facing = -dot(rotate(pose, *n), fwd);
                        (facing > 1e-4)
                            .then(|| Item::Poly(idx.map(|i| px[i]).to_vec(), shade(color, facing)))
                    })
                    .collect()
            }
            Geometry::Sphere { radius } => {
                let (c, _) = cam.project(pose.position);
                vec![Item::Disc(c, radius * cam.scale, color)]
            }
            Geometry::Cylinder { radius, length } => {
                let ends = axis_ends(pose, length);
                let rings: Vec<Vec<[f32; 2]>> = ends
                    .iter()
                    .map(|e| {
                        ring(pose, *e, radius)
                            .into_iter()
                            .map(|p| cam.project(p).0)
                            .collect()
                    })
                    .collect();
                let all: Vec<[f32; 2]> = rings.iter().flatten().copied().collect();
                let mut out = vec![Item::Poly(convex_hull(all), shade(color, 0.8))];
                // The end cap that faces the viewer.
                let axis = rotate(pose, [0.0, 0.0, 1.0]);
                let facing = -dot(axis, fwd);
                let cap = if facing >= 0.0 { 1 } else { 0 };
                if facing.abs() > 1e-3 {
                    out.push(Item::Poly(rings[cap].clone(), shade(color, facing.abs())));
                }
                out
            }
            Geometry::Capsule { radius, length } => {
                let r = radius * cam.scale;
                let mut all = Vec::with_capacity(2 * ROUND);
                for e in axis_ends(pose, length) {
                    let ([x, y], _) = cam.project(e);
                    all.extend((0..ROUND).map(|k| {
                        let a = k as f32 * std::f32::consts::TAU / ROUND as f32;
                        [x + r * a.cos(), y + r * a.sin()]
                    }));
                }
                vec![Item::Poly(convex_hull(all), shade(color, 0.9))]
            }
        }
    }

    fn draw_ground(&self, pix: &mut Pixmap) {
        let cam = &self.camera;
        // Anti-aliased (tiny-skia's default).
        let mut paint = Paint::default();
        match self.ground {
            Ground::None => {}
            Ground::Rail { z } => {
                let ([_, y], _) = cam.project([cam.center[0], cam.center[1], z]);
                paint.set_color_rgba8(90, 90, 90, 255);
                let w = cam.width as f32;
                line(pix, [0.0, y], [w, y], 3.0, &paint);
            }
            Ground::Grid { spacing } => {
                paint.set_color_rgba8(200, 200, 196, 255);
                let [lo, hi] = self.grid_region;
                let pad = 2.0 * spacing;
                let (x0, x1) = (snap(lo[0] - pad, spacing), hi[0] + pad);
                let (y0, y1) = (snap(lo[1] - pad, spacing), hi[1] + pad);
                let mut x = x0;
                while x <= x1 {
                    let (a, _) = cam.project([x, y0, 0.0]);
                    let (b, _) = cam.project([x, y1, 0.0]);
                    line(pix, a, b, 1.0, &paint);
                    x += spacing;
                }
                let mut y = y0;
                while y <= y1 {
                    let (a, _) = cam.project([x0, y, 0.0]);
                    let (b, _) = cam.project([x1, y, 0.0]);
                    line(pix, a, b, 1.0, &paint);
                    y += spacing;
                }
            }
        }
    }
}

/// Something to fill: a polygon or a disc, with its colour.
enum Item {
    Poly(Vec<[f32; 2]>, [f32; 4]),
    Disc([f32; 2], f32, [f32; 4]),
}

impl Item {
    fn draw(&self, pix: &mut Pixmap) {
        let mut pb = PathBuilder::new();
        let color = match self {
            Item::Poly(pts, color) => {
                let Some((first, rest)) = pts.split_first() else {
                    return;
                };
                pb.move_to(first[0], first[1]);
                for p in rest {
                    pb.line_to(p[0], p[1]);
                }
                pb.close();
                color
            }
            Item::Disc(c, r, color) => {
                pb.push_circle(c[0], c[1], r.max(0.5));
                color
            }
        };
        let Some(path) = pb.finish() else { return };
        // Anti-aliased (tiny-skia's default).
        let mut paint = Paint::default();
        paint.set_color(rgba(*color));
        pix.fill_path(
            &path,
            &paint,
            FillRule::Winding,
            Transform::identity(),
            None,
        );
        // A darker edge, so that touching solids of one colour stay apart.
        paint.set_color(rgba(shade(*color, 0.55)));
        let stroke = Stroke {
            width: 1.0,
            ..Stroke::default()
        };
        pix.stroke_path(&path, &paint, &stroke, Transform::identity(), None);
    }
}

fn draw_overlay(pix: &mut Pixmap, o: &Overlay) {
    let mut paint = Paint::default();
    let text = match o.reward {
        Some(r) => format!("t={:.2}s  r={:.3}", o.time_s, r),
        None => format!("t={:.2}s", o.time_s),
    };
    let px = 3.0;
    if let Some(bg) = Rect::from_xywh(4.0, 4.0, font::text_width(&text, px) + 8.0, 5.0 * px + 8.0) {
        paint.set_color_rgba8(255, 255, 255, 200);
        pix.fill_rect(bg, &paint, Transform::identity(), None);
    }
    paint.set_color_rgba8(30, 30, 30, 255);
    font::draw_text(pix, &text, 8.0, 8.0, px, &paint);
    let (w, h) = (pix.width() as f32, pix.height() as f32);
    let frac = if o.duration_s > 0.0 {
        (o.time_s / o.duration_s).clamp(0.0, 1.0) as f32
    } else {
        0.0
    };
    if let Some(bar) = Rect::from_xywh(0.0, h - 4.0, (w * frac).max(1.0), 4.0) {
        paint.set_color_rgba8(60, 110, 200, 255);
        pix.fill_rect(bar, &paint, Transform::identity(), None);
    }
}

fn line(pix: &mut Pixmap, a: [f32; 2], b: [f32; 2], width: f32, paint: &Paint) {
    let mut pb = PathBuilder::new();
    pb.move_to(a[0], a[1]);
    pb.line_to(b[0], b[1]);
    if let Some(path) = pb.finish() {
        let stroke = Stroke {
            width,
            ..Stroke::default()
        };
        pix.stroke_path(&path, paint, &stroke, Transform::identity(), None);
    }
}

fn snap(v: f32, step: f32) -> f32 {
    (v / step).floor() * step
}

fn rgba(c: [f32; 4]) -> Color {
    let [r, g, b, a] = c.map(|v| {
        if v.is_finite() {
            v.clamp(0.0, 1.0)
        } else {
            0.0
        }
    });
    Color::from_rgba(r, g, b, a).unwrap_or(Color::BLACK)
}

/// `color` lit by `light` in `[0, 1]` (0.45 in shadow to 1.0 face-on).
fn shade(c: [f32; 4], light: f32) -> [f32; 4] {
    let k = 0.45 + 0.55 * light.clamp(0.0, 1.0);
    [c[0] * k, c[1] * k, c[2] * k, c[3]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use umwelt_sim::scene::{Body, Marker, Solid};

    const RED: [f32; 4] = [1.0, 0.0, 0.0, 1.0];
    const BLUE: [f32; 4] = [0.0, 0.0, 1.0, 1.0];

    fn rgb(p: &Pixmap, x: u32, y: u32) -> [u8; 3] {
        let c = p.pixel(x, y).unwrap();
        [c.red(), c.green(), c.blue()]
    }

    /// Equal but for the raster library's rounding.
    fn near(a: [u8; 3], b: [u8; 3]) {
        assert!(
            a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 2),
            "{a:?} vs {b:?}"
        );
    }

    fn cube(name: &str, at: [f32; 3], side: f32, color: [f32; 4]) -> Body {
        Body {
            name: name.into(),
            pose: Pose {
                position: at,
                orientation: [0.0, 0.0, 0.0, 1.0],
            },
            solids: vec![Solid {
                pose: Pose::IDENTITY,
                geometry: Geometry::Box { size: [side; 3] },
                color,
            }],
        }
    }

    /// Side view, 100 px/m, origin at the centre of 200x200: a 0.2 m cube
    /// at x = 0.5, z = 0.2 covers pixels 140..160 across and 70..90 down.
    #[test]
    fn a_box_at_a_known_pose_lands_on_known_pixels() {
        let cam = Camera::new(View::Side, [0.0; 3], 100.0, 200, 200);
        let r = Renderer::new(cam, Ground::None, [[0.0; 2]; 2]);
        let scene = Scene {
            bodies: vec![cube("link", [0.5, 0.0, 0.2], 0.2, RED)],
            markers: vec![Marker {
                name: "target".into(),
                position: [-0.5, 0.0, -0.5],
                radius: 0.05,
                color: BLUE,
            }],
        };
        let p = r.render(&scene, None).unwrap();
        // The face towards the viewer (-y) is lit fully: pure red inside.
        for (x, y) in [(150, 80), (142, 72), (158, 88)] {
            assert_eq!(rgb(&p, x, y), [255, 0, 0], "({x}, {y})");
        }
        let bg = [250, 250, 247];
        for (x, y) in [(137, 80), (163, 80), (150, 67), (150, 93), (100, 100)] {
            assert_eq!(rgb(&p, x, y), bg, "({x}, {y})");
        }
        // The target: a disc of 5 px about (50, 150).
        assert_eq!(rgb(&p, 50, 150), [0, 0, 255]);
        assert_eq!(rgb(&p, 53, 150), [0, 0, 255]);
        assert_eq!(rgb(&p, 57, 150), bg);
    }

    /// Painter's order: of two overlapping cubes the nearer (smaller y in
    /// the side view) is drawn over the other, whatever their order.
    #[test]
    fn nearer_solids_cover_farther_ones() {
        let cam = Camera::new(View::Side, [0.0; 3], 100.0, 200, 200);
        let r = Renderer::new(cam, Ground::None, [[0.0; 2]; 2]);
        let near = cube("a", [0.0, -0.5, 0.0], 0.4, BLUE);
        let far = cube("b", [0.1, 0.5, 0.0], 0.4, RED);
        for bodies in [vec![near.clone(), far.clone()], vec![far, near]] {
            let p = r
                .render(
                    &Scene {
                        bodies,
                        markers: vec![],
                    },
                    None,
                )
                .unwrap();
            assert_eq!(rgb(&p, 100, 100), [0, 0, 255]);
            // Only the far cube reaches x = 0.25 m (pixel 125).
            assert_eq!(rgb(&p, 125, 100), [255, 0, 0]);
        }
    }

    /// The side view of the cart-pole with the pole lying along +x: the
    /// cart's centre at x = 0.5 m, the pole's middle at x = 1.0 m.
    #[test]
    fn the_cartpole_seen_from_the_side_where_the_simulator_puts_it() {
        let mut env = umwelt_sim::Env::new("cartpole", "swingup").unwrap();
        env.reset(3).unwrap();
        env.set_state(&[0.5, std::f32::consts::FRAC_PI_2], &[0.0, 0.0])
            .unwrap();
        let scene = env.scene().unwrap();
        let cam = Camera::new(View::Side, [0.0; 3], 100.0, 400, 200);
        let r = Renderer::new(cam, Ground::Rail { z: 0.0 }, [[0.0; 2]; 2]);
        let p = r.render(&scene, None).unwrap();
        let cart = scene.bodies.iter().find(|b| b.name == "slider").unwrap();
        let pole = scene.bodies.iter().find(|b| b.name == "hinge").unwrap();
        let lit = |c: [f32; 4], k: f32| {
            let s = shade(c, k);
            [s[0], s[1], s[2]].map(|v| (v * 255.0).round() as u8)
        };
        // Cart centre (x 0.5 m -> 250 px); the cart box is 0.4 x 0.2 m.
        near(rgb(&p, 232, 105), lit(cart.solids[0].color, 1.0));
        // Pole middle (x 1.0 m -> 300 px), a capsule 9 px thick.
        near(rgb(&p, 300, 100), lit(pole.solids[0].color, 0.9));
        assert_eq!(rgb(&p, 300, 92), [250, 250, 247]);
    }
}
