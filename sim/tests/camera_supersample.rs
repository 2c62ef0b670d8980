//! Supersampled cameras (`supersample = n`): flat interiors keep their
//! colour, edges blend between the two sides, motion by a fraction of a
//! pixel shows, depth is the centre ray's, and `n = 1` is the plain image.

use umwelt_sim::render::{Backdrop, Renderer, SKY, View};
use umwelt_sim::scene::{Body, Geometry, Pose, Scene, Solid};
use umwelt_sim::{CameraConfig, Env};

const NO_FLOOR: Backdrop = Backdrop { floor: None };

/// A 1 m cube at `(x, 0, 0)`: its front face 4.5 m from the camera below.
fn cube_at(x: f32) -> Scene {
    Scene {
        bodies: vec![Body {
            name: "cube".into(),
            pose: Pose {
                position: [x, 0.0, 0.0],
                ..Pose::IDENTITY
            },
            solids: vec![Solid {
                pose: Pose::IDENTITY,
                geometry: Geometry::Box {
                    size: [1.0, 1.0, 1.0],
                },
                color: [0.8, 0.3, 0.1, 1.0],
            }],
        }],
        markers: vec![],
    }
}

/// A 64x64 camera 5 m along -y looking at the origin, `n` rays per side.
fn front(n: u8) -> View {
    let cam = CameraConfig {
        supersample: n,
        ..CameraConfig::world("front", [0.0, -5.0, 0.0], [0.0; 3])
    };
    View::new(&cam, &Pose::IDENTITY)
}

fn render(scene: &Scene, view: &View) -> (Vec<u8>, Vec<f32>) {
    let (mut rgb, mut depth) = (Vec::new(), Vec::new());
    Renderer::new().render(scene, view, &NO_FLOOR, Some(&mut rgb), Some(&mut depth));
    (rgb, depth)
}

fn pixels(rgb: &[u8]) -> impl Iterator<Item = [u8; 3]> + '_ {
    rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]])
}

#[test]
fn interiors_keep_their_colour_and_edges_blend() {
    let scene = cube_at(0.0);
    let (plain, _) = render(&scene, &front(1));
    let face = pixels(&plain).nth(32 * 64 + 32).unwrap();
    assert_ne!(face, SKY);
    // One flat face under one light: the plain image has two colours only.
    assert!(pixels(&plain).all(|p| p == face || p == SKY));
    for n in [2, 3, 4] {
        let (rgb, _) = render(&scene, &front(n));
        assert_eq!(rgb.len(), plain.len());
        let (mut inside, mut sky, mut blended) = (0, 0, 0);
        for p in pixels(&rgb) {
            if p == face {
                inside += 1;
            } else if p == SKY {
                sky += 1;
            } else {
                // An edge pixel: each channel between the face's and the sky's.
                for c in 0..3 {
                    let (lo, hi) = (face[c].min(SKY[c]), face[c].max(SKY[c]));
                    assert!((lo..=hi).contains(&p[c]), "n = {n}: {p:?}");
                }
                blended += 1;
            }
        }
        // The face is ~17 pixels a side: its border blends, the rest stays.
        assert!(inside > 150 && sky > 3000, "n = {n}: {inside} {sky}");
        assert!(
            (40..=80).contains(&blended),
            "n = {n}: {blended} edge pixels"
        );
    }
}

#[test]
fn motion_by_a_fraction_of_a_pixel_shows_only_when_supersampled() {
    // One pixel at the face's depth (4.5 m) is 2 * 4.5 * tan(22.5°) / 64 m.
    let pixel_m = 2.0 * 4.5 * 22.5f32.to_radians().tan() / 64.0;
    let distinct = |n: u8| {
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for k in 0..20 {
            let (rgb, _) = render(&cube_at(k as f32 * pixel_m / 20.0), &front(n));
            if !seen.contains(&rgb) {
                seen.push(rgb);
            }
        }
        seen.len()
    };
    // Over one pixel of travel the two side edges each cross one pixel
    // centre (at most 3 images), or the lines of n sub-pixel centres.
    let (one, four) = (distinct(1), distinct(4));
    assert!(one <= 3, "{one} distinct plain images");
    assert!(four >= 6 && four > 2 * one, "{four} against {one}");
}

#[test]
fn depth_is_the_centre_rays_and_one_ray_is_the_plain_image() {
    let scene = cube_at(0.13);
    let (rgb1, depth1) = render(&scene, &front(1));
    for n in [2, 4] {
        let (_, depth) = render(&scene, &front(n));
        assert_eq!(
            depth.iter().map(|d| d.to_bits()).collect::<Vec<_>>(),
            depth1.iter().map(|d| d.to_bits()).collect::<Vec<_>>(),
            "n = {n}"
        );
    }
    // The default camera config is one ray a pixel.
    let cam = CameraConfig::world("front", [0.0, -5.0, 0.0], [0.0; 3]);
    assert_eq!(cam.supersample, 1);
    let (rgb, _) = render(&scene, &View::new(&cam, &Pose::IDENTITY));
    assert_eq!(rgb, rgb1);
}

#[test]
fn a_supersampled_robot_camera_is_deterministic_and_sees_the_same_scene() {
    let mut env = Env::new("reacher", "easy").unwrap();
    env.reset(4).unwrap();
    let (mut plain, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
    env.render_rgb(0, &mut plain).unwrap();
    let mut cfg = umwelt_sim::RobotConfig::builtin(umwelt_sim::RobotKind::Reacher);
    cfg.cameras = vec![CameraConfig {
        supersample: 4,
        ..env.cameras()[0].clone()
    }];
    let mut smooth = Env::from_config(cfg, "easy").unwrap();
    smooth.reset(4).unwrap();
    smooth.render_rgb(0, &mut a).unwrap();
    smooth.render_rgb(0, &mut b).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), plain.len());
    // The same picture, softened: most pixels agree, none is far off on average.
    let same = pixels(&a)
        .zip(pixels(&plain))
        .filter(|(x, y)| x == y)
        .count();
    assert!(same > 64 * 64 / 2, "{same} equal pixels");
    let diff: u64 = a
        .iter()
        .zip(&plain)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    assert!(
        diff / (a.len() as u64) < 20,
        "mean difference {}",
        diff / a.len() as u64
    );
}
