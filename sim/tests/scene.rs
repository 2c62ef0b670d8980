//! The scene of a simulated robot: bodies where the joints put them, shapes
//! with their sizes, and the task's target where the task keeps it.

use umwelt_sim::Env;
use umwelt_sim::scene::{Geometry, Scene};

fn body<'a>(s: &'a Scene, name: &str) -> &'a umwelt_sim::scene::Body {
    s.bodies
        .iter()
        .find(|b| b.name == name)
        .unwrap_or_else(|| panic!("no body `{name}` in {:?}", s.bodies))
}

fn close(a: [f32; 3], b: [f32; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
}

#[test]
fn cartpole_bodies_follow_the_joints() {
    let mut env = Env::new("cartpole", "swingup").unwrap();
    env.reset(3).unwrap();
    // Cart 0.5 m along the rail, pole tilted 90 degrees towards +x.
    env.set_state(&[0.5, std::f32::consts::FRAC_PI_2], &[0.0, 0.0])
        .unwrap();
    let s = env.scene().unwrap();
    let names: Vec<&str> = s.bodies.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["base", "slider", "hinge"]);
    let cart = body(&s, "slider");
    assert!(close(cart.pose.position, [0.5, 0.0, 0.0]), "{cart:?}");
    assert_eq!(cart.solids.len(), 1);
    assert_eq!(
        cart.solids[0].geometry,
        Geometry::Box {
            size: [0.4, 0.3, 0.2]
        }
    );
    let pole = body(&s, "hinge");
    assert_eq!(pole.solids.len(), 1);
    let Geometry::Capsule { radius, length } = pole.solids[0].geometry else {
        panic!("pole is not a capsule: {:?}", pole.solids[0]);
    };
    assert!((radius - 0.045).abs() < 1e-6 && (length - 1.0).abs() < 1e-5);
    // The capsule's far end (its local +z, half a length from its centre)
    // is the pole tip: 1 m along +x from the cart once tilted.
    let tip = pole
        .pose
        .then(pole.solids[0].pose)
        .apply([0.0, 0.0, length / 2.0]);
    assert!(close(tip, [1.5, 0.0, 0.0]), "tip at {tip:?}");
    assert!(s.markers.is_empty());
}

#[test]
fn reacher_target_marker_sits_where_its_channels_say() {
    let mut env = Env::new("reacher", "easy").unwrap();
    let obs = env.reset(11).unwrap();
    let s = env.scene().unwrap();
    assert_eq!(s.markers.len(), 1);
    let t = &s.markers[0];
    assert_eq!(t.name, "target");
    assert!((t.radius - 0.05).abs() < 1e-6);
    // to_target channels = target - fingertip; the fingertip is the hand
    // body's point 0.12 m along its x axis.
    let hand = body(&s, "wrist");
    let finger = hand.pose.apply([0.12, 0.0, 0.0]);
    let to_target = &obs.sensors.channels;
    assert!(
        close(
            t.position,
            [finger[0] + to_target[0], finger[1] + to_target[1], 0.0]
        ),
        "target {:?}, finger {finger:?}, channels {to_target:?}",
        t.position
    );
}

#[test]
fn arm_scene_has_every_link_and_a_target() {
    let mut env = Env::new("arm", "reach").unwrap();
    env.reset(5).unwrap();
    let s = env.scene().unwrap();
    // Six joints, each moving a body; the URDF's links are boxes.
    for j in env.joint_names() {
        body(&s, j);
    }
    let boxes = s
        .bodies
        .iter()
        .flat_map(|b| &b.solids)
        .filter(|x| matches!(x.geometry, Geometry::Box { .. }))
        .count();
    assert!(boxes >= 7, "{boxes} boxes");
    assert_eq!(s.markers.len(), 1);
    assert!(s.markers[0].position.iter().all(|v| v.is_finite()));
}

#[test]
fn no_scene_before_reset() {
    let env = Env::new("pendulum", "swingup").unwrap();
    assert!(env.scene().is_err());
}
