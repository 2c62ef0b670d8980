//! Cameras: known shapes land on known pixels at known depths, frames are
//! deterministic, every built-in robot's default camera sees the robot (and
//! the reacher's its target), and bad camera configs are refused by name.

use umwelt_sim::render::{Backdrop, Floor, Renderer, SKY, View};
use umwelt_sim::scene::{Body, Geometry, Pose, Scene, Solid};
use umwelt_sim::{CameraConfig, Env, RobotConfig, RobotKind};

const NO_FLOOR: Backdrop = Backdrop { floor: None };

/// A scene of one body at `at` carrying one solid.
fn one(geometry: Geometry, at: [f32; 3]) -> Scene {
    Scene {
        bodies: vec![Body {
            name: "thing".into(),
            pose: Pose {
                position: at,
                ..Pose::IDENTITY
            },
            solids: vec![Solid {
                pose: Pose::IDENTITY,
                geometry,
                color: [0.8, 0.3, 0.1, 1.0],
            }],
        }],
        markers: vec![],
    }
}

/// A 64x64 camera 5 m along -y looking at the origin.
fn front() -> View {
    View::new(
        &CameraConfig::world("front", [0.0, -5.0, 0.0], [0.0; 3]),
        &Pose::IDENTITY,
    )
}

fn rgb_of(scene: &Scene, view: &View, backdrop: &Backdrop) -> Vec<u8> {
    let mut rgb = Vec::new();
    Renderer::new().render(scene, view, backdrop, Some(&mut rgb), None);
    rgb
}

fn depth_of(scene: &Scene, view: &View, backdrop: &Backdrop) -> Vec<f32> {
    let mut depth = Vec::new();
    Renderer::new().render(scene, view, backdrop, None, Some(&mut depth));
    depth
}

fn pixel(rgb: &[u8], w: usize, x: usize, y: usize) -> [u8; 3] {
    let i = 3 * (y * w + x);
    [rgb[i], rgb[i + 1], rgb[i + 2]]
}

#[test]
fn a_sphere_straight_ahead_covers_the_centre_and_not_the_corners() {
    let rgb = rgb_of(
        &one(Geometry::Sphere { radius: 0.5 }, [0.0; 3]),
        &front(),
        &NO_FLOOR,
    );
    assert_eq!(rgb.len(), 64 * 64 * 3);
    for (x, y) in [(32, 32), (31, 31), (32, 31), (31, 32)] {
        assert_ne!(pixel(&rgb, 64, x, y), SKY, "({x}, {y})");
    }
    for (x, y) in [(0, 0), (63, 0), (0, 63), (63, 63)] {
        assert_eq!(pixel(&rgb, 64, x, y), SKY, "({x}, {y})");
    }
    // Shading: the lit side (towards -x, the light's side) is brighter.
    let sum = |p: [u8; 3]| p.iter().map(|&c| u32::from(c)).sum::<u32>();
    assert!(sum(pixel(&rgb, 64, 28, 28)) > sum(pixel(&rgb, 64, 36, 36)));
}

#[test]
fn a_box_to_the_left_lands_in_the_left_half() {
    let rgb = rgb_of(
        &one(
            Geometry::Box {
                size: [0.4, 0.4, 0.4],
            },
            [-1.0, 0.0, 0.5],
        ),
        &front(),
        &NO_FLOOR,
    );
    let mut hit = 0;
    for y in 0..64 {
        for x in 0..64 {
            if pixel(&rgb, 64, x, y) != SKY {
                assert!(x < 32 && y < 32, "box pixel at ({x}, {y})");
                hit += 1;
            }
        }
    }
    assert!(hit > 10, "{hit} pixels");
}

#[test]
fn every_shape_shows() {
    for g in [
        Geometry::Cylinder {
            radius: 0.3,
            length: 1.0,
        },
        Geometry::Capsule {
            radius: 0.2,
            length: 1.0,
        },
    ] {
        let rgb = rgb_of(&one(g, [0.0; 3]), &front(), &NO_FLOOR);
        // Along z: tall and narrow.
        assert_ne!(pixel(&rgb, 64, 32, 24), SKY, "{g:?}");
        assert_eq!(pixel(&rgb, 64, 20, 32), SKY, "{g:?}");
    }
}

#[test]
fn depth_is_z_depth_in_metres() {
    // A box face 4.5 m ahead of the camera: 4.5 at every pixel it covers.
    let scene = one(
        Geometry::Box {
            size: [1.0, 1.0, 1.0],
        },
        [0.0; 3],
    );
    let depth = depth_of(&scene, &front(), &NO_FLOOR);
    assert_eq!(depth.len(), 64 * 64);
    for (x, y) in [(32, 32), (28, 36), (35, 29)] {
        let d = depth[y * 64 + x];
        assert!((d - 4.5).abs() < 1e-4, "({x}, {y}): {d}");
    }
    assert_eq!(depth[0], f32::INFINITY);
    // A floor 2 m below a camera looking straight down: 2 everywhere.
    let down = CameraConfig {
        up: [0.0, 1.0, 0.0],
        ..CameraConfig::world("down", [0.3, -0.2, 2.0], [0.3, -0.2, 0.0])
    };
    let floor = Backdrop {
        floor: Some(Floor {
            height: 0.0,
            tile: 0.1,
        }),
    };
    let depth = depth_of(
        &Scene::default(),
        &View::new(&down, &Pose::IDENTITY),
        &floor,
    );
    assert!(depth.iter().all(|d| (d - 2.0).abs() < 1e-4), "{depth:?}");
}

#[test]
fn renders_are_deterministic() {
    let run = || {
        let mut env = Env::new("arm", "reach").unwrap();
        env.reset(17).unwrap();
        for _ in 0..20 {
            env.step(&[5.0, -5.0, 3.0, 1.0, 1.0, 0.5]).unwrap();
        }
        let (mut rgb, mut depth) = (Vec::new(), Vec::new());
        env.render_rgb(0, &mut rgb).unwrap();
        env.render_depth(0, &mut depth).unwrap();
        let mut again = Vec::new();
        env.render_rgb(0, &mut again).unwrap();
        assert_eq!(rgb, again);
        (rgb, depth.iter().map(|d| d.to_bits()).collect::<Vec<_>>())
    };
    assert_eq!(run(), run());
}

/// The pixels where the robot's picture differs from its camera's picture
/// of the same backdrop without the robot.
fn robot_pixels(env: &Env, camera: usize) -> usize {
    let mut rgb = Vec::new();
    env.render_rgb(camera, &mut rgb).unwrap();
    let cam = &env.cameras()[camera];
    let view = View::new(cam, &Pose::IDENTITY);
    let empty = rgb_of(&Scene::default(), &view, &env.backdrop());
    rgb.chunks(3)
        .zip(empty.chunks(3))
        .filter(|(a, b)| a != b)
        .count()
}

#[test]
fn every_default_camera_sees_its_robot() {
    for kind in RobotKind::ALL {
        let task = umwelt_sim::tasks_of(kind)[0].name;
        let mut cfg = RobotConfig::builtin(kind);
        // A config that lists no camera gets the same default.
        cfg.cameras.clear();
        let mut env = Env::from_config(cfg, task).unwrap();
        assert_eq!(env.cameras().len(), 1);
        assert_eq!(env.cameras()[0], RobotConfig::builtin(kind).cameras[0]);
        assert_eq!((env.cameras()[0].width, env.cameras()[0].height), (64, 64));
        for seed in 0..5 {
            env.reset(seed).unwrap();
            let n = robot_pixels(&env, 0);
            assert!(n >= 8, "{}: {n} robot pixels at seed {seed}", kind.name());
        }
    }
}

#[test]
fn the_reacher_target_shows_red() {
    for task in ["easy", "hard"] {
        let mut env = Env::new("reacher", task).unwrap();
        for seed in 0..10 {
            env.reset(seed).unwrap();
            let mut rgb = Vec::new();
            env.render_rgb(0, &mut rgb).unwrap();
            let red = rgb
                .chunks(3)
                .filter(|p| p[0] > 140 && p[1] < 70 && p[2] < 70)
                .count();
            let least = if task == "easy" { 40 } else { 2 };
            assert!(red >= least, "{task} seed {seed}: {red} red pixels");
        }
    }
}

#[test]
fn a_camera_on_a_body_moves_with_it() {
    let mut cfg = RobotConfig::builtin(RobotKind::Cartpole);
    cfg.cameras = vec![CameraConfig {
        attach: "slider".into(),
        depth: true,
        ..CameraConfig::world("cart", [0.0, -3.0, 0.0], [0.0; 3])
    }];
    let mut env = Env::from_config(cfg, "balance").unwrap();
    env.reset(1).unwrap();
    let mut depth = Vec::new();
    for x in [-1.0, 0.0, 1.2] {
        env.set_state(&[x, 0.0], &[0.0, 0.0]).unwrap();
        env.render_depth(0, &mut depth).unwrap();
        // The cart's front face, 0.15 m before its centre.
        let d = depth[32 * 64 + 32];
        assert!((d - 2.85).abs() < 1e-4, "cart at {x}: depth {d}");
    }
}

#[test]
fn rendering_needs_a_reset_and_a_camera() {
    let mut env = Env::new("pendulum", "swingup").unwrap();
    let mut rgb = Vec::new();
    assert!(env.render_rgb(0, &mut rgb).is_err());
    env.reset(0).unwrap();
    env.render_rgb(0, &mut rgb).unwrap();
    assert_eq!(rgb.len(), 64 * 64 * 3);
    let e = env.render_rgb(1, &mut rgb).unwrap_err().to_string();
    assert!(e.contains("no camera 1") && e.contains("side"), "{e}");
    let mut depth = Vec::new();
    assert!(env.render_depth(3, &mut depth).is_err());
}

/// The cart-pole's config file with `extra` appended.
fn cartpole_with(extra: &str) -> String {
    let base = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/robots/cartpole.toml"),
    )
    .unwrap();
    // Drop the file's own camera so that the one under test is camera[0].
    let cut = base.find("\n[[camera]]").unwrap() + 1;
    format!("{}{extra}", &base[..cut])
}

#[test]
fn camera_entries_parse_and_bad_ones_name_their_field() {
    let good = cartpole_with(
        "[[camera]]\nname = \"close\"\nposition = [0.0, -2.0, 0.5]\nlook_at = [0.0, 0.0, 0.0]\nwidth = 84\nheight = 48\ndepth = true\n",
    );
    let cfg = RobotConfig::from_toml(&good, "c.toml").unwrap();
    let env = Env::from_config(cfg, "swingup").unwrap();
    let c = &env.cameras()[0];
    assert_eq!(
        (c.name.as_str(), c.attach.as_str(), c.width, c.height),
        ("close", "world", 84, 48)
    );
    assert!(c.rgb && c.depth && c.fov_deg == 45.0 && c.supersample == 1);

    let camera =
        "[[camera]]\nname = \"c\"\nposition = [0.0, -2.0, 0.0]\nlook_at = [0.0, 0.0, 0.0]\n";
    for (extra, needle) in [
        ("width = 0\n", "camera[0] (`c`).width = 0"),
        ("height = 1025\n", "camera[0] (`c`).height = 1025"),
        ("fov_deg = nan\n", "camera[0] (`c`).fov_deg = NaN"),
        ("fov_deg = 0.5\n", "fov_deg = 0.5"),
        ("up = [0.0, 1.0, 0.0]\n", "camera[0] (`c`).up"),
        ("rgb = false\n", "camera[0] (`c`).rgb"),
        ("supersample = 0\n", "camera[0] (`c`).supersample = 0"),
        ("supersample = 9\n", "camera[0] (`c`).supersample = 9"),
    ] {
        let e = RobotConfig::from_toml(&cartpole_with(&format!("{camera}{extra}")), "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(needle) && e.contains("c.toml"),
            "{e} lacks {needle}"
        );
        assert!(!e.contains('\n'), "{e}");
    }
    // TOML-level errors (the toml crate's, with the line quoted) name the key.
    for (extra, needle) in [("zoom = 2\n", "zoom"), ("width = -3\n", "width")] {
        let e = RobotConfig::from_toml(&cartpole_with(&format!("{camera}{extra}")), "c.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(needle) && e.contains("c.toml"),
            "{e} lacks {needle}"
        );
    }
    let bad_frame = cartpole_with(&format!("{camera}attach = \"nose\"\n"));
    let cfg = RobotConfig::from_toml(&bad_frame, "c.toml").unwrap();
    let e = Env::from_config(cfg, "swingup").err().unwrap().to_string();
    assert!(
        e.contains("camera[0] (`c`).attach = \"nose\"") && e.contains("slider, hinge"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}
