//! umwelt's ROS 2 messages against byte strings made by independent
//! implementations (rosbags' CDR serialiser and type hashes, zenoh-ext's
//! serialiser for rmw_zenoh's attachment): `tests/fixtures/ros2/`, written
//! by its `make_fixtures.py` (provenance in its README). Also the mapping
//! of JointStates into frames: by name, and every refusal counted under
//! its class.

use std::path::PathBuf;

use umwelt_runtime::robot::Ros2Settings;
use umwelt_runtime::ros2::graph::Attachment;
use umwelt_runtime::ros2::joints::JointMapper;
use umwelt_runtime::ros2::msgs::{
    self, Duration, FLOAT64_MULTI_ARRAY, Float64MultiArray, Header, JOINT_STATE, JOINT_TRAJECTORY,
    JointState, JointTrajectory, JointTrajectoryPoint, MultiArrayDimension, MultiArrayLayout, Time,
};
use umwelt_runtime::wire::ErrorClass;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ros2")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn manifest() -> serde_json::Value {
    serde_json::from_slice(&fixture("fixtures.json")).expect("fixtures.json")
}

fn cartpole_state() -> JointState {
    JointState {
        header: Header {
            stamp: Time {
                sec: 1_700_000_000,
                nanosec: 123_456_789,
            },
            frame_id: String::new(),
        },
        name: vec!["hinge".into(), "slider".into()],
        position: vec![3.0, -0.25],
        velocity: vec![0.5, 1.125],
        effort: vec![],
    }
}

#[test]
fn joint_states_decode_and_encode_byte_for_byte() {
    let le = fixture("joint_state_cartpole_le.cdr");
    assert_eq!(msgs::decode::<JointState>(&le).unwrap(), cartpole_state());
    assert_eq!(msgs::encode(&cartpole_state()).unwrap(), le);
    // Big endian decodes to the same message.
    let be = fixture("joint_state_cartpole_be.cdr");
    assert_eq!(msgs::decode::<JointState>(&be).unwrap(), cartpole_state());

    let e = msgs::decode::<JointState>(&fixture("joint_state_effort_le.cdr")).unwrap();
    assert_eq!(e.header.frame_id, "base");
    assert_eq!(
        e.header.stamp,
        Time {
            sec: 1_700_000_001,
            nanosec: 5
        }
    );
    assert_eq!(e.name, ["slider", "hinge"]);
    assert_eq!(e.position, [0.1, 0.2]);
    assert_eq!(e.velocity, [-0.3, 0.4]);
    assert_eq!(e.effort[0], 1.5);
    assert!(e.effort[1].is_nan());
    assert_eq!(
        msgs::encode(&e).unwrap(),
        fixture("joint_state_effort_le.cdr")
    );
}

#[test]
fn commands_encode_as_rosbags_does() {
    let flat = Float64MultiArray {
        layout: MultiArrayLayout::default(),
        data: vec![1.5, -2.25],
    };
    assert_eq!(
        msgs::encode(&flat).unwrap(),
        fixture("float64_multi_array_le.cdr")
    );
    let dims = Float64MultiArray {
        layout: MultiArrayLayout {
            dim: vec![MultiArrayDimension {
                label: "joints".into(),
                size: 3,
                stride: 3,
            }],
            data_offset: 0,
        },
        data: vec![0.0, -1.0, 7.5],
    };
    let bytes = fixture("float64_multi_array_dims_le.cdr");
    assert_eq!(msgs::encode(&dims).unwrap(), bytes);
    assert_eq!(msgs::decode::<Float64MultiArray>(&bytes).unwrap(), dims);

    let traj = JointTrajectory {
        header: Header {
            stamp: Time {
                sec: 1_700_000_002,
                nanosec: 10_000_000,
            },
            frame_id: String::new(),
        },
        joint_names: vec!["slider".into()],
        points: vec![JointTrajectoryPoint {
            effort: vec![2.5],
            time_from_start: Duration {
                sec: 0,
                nanosec: 10_000_000,
            },
            ..Default::default()
        }],
    };
    assert_eq!(
        msgs::encode(&traj).unwrap(),
        fixture("joint_trajectory_le.cdr")
    );
    // What umwelt's command builder makes is the same bytes.
    let b = umwelt_runtime::ros2::joints::CommandBuilder::new(
        umwelt_runtime::robot::Ros2CommandType::JointTrajectory,
        umwelt_runtime::wire::CommandMode::Torque,
        &["slider".to_string()],
        0.01,
    );
    assert_eq!(
        b.payload(&[2.5], 1_700_000_002_010_000_000).unwrap(),
        fixture("joint_trajectory_le.cdr")
    );
    let f = umwelt_runtime::ros2::joints::CommandBuilder::new(
        umwelt_runtime::robot::Ros2CommandType::Float64MultiArray,
        umwelt_runtime::wire::CommandMode::Torque,
        &["a".to_string(), "b".to_string()],
        0.01,
    );
    assert_eq!(
        f.payload(&[1.5, -2.25], 0).unwrap(),
        fixture("float64_multi_array_le.cdr")
    );
}

#[test]
fn type_hashes_and_attachment_match_the_independent_tools() {
    let m = manifest();
    for t in [JOINT_STATE, FLOAT64_MULTI_ARRAY, JOINT_TRAJECTORY] {
        assert_eq!(m["hashes"][t.ros_name], t.hash, "{}", t.ros_name);
    }
    let bytes = fixture("attachment.bin");
    let a = Attachment::decode(&bytes).expect("rmw_zenoh attachment");
    let want = &m["files"]["attachment.bin"];
    assert_eq!(Some(a.sequence_number), want["sequence_number"].as_i64());
    assert_eq!(Some(a.source_timestamp), want["source_timestamp"].as_i64());
    let gid: String = a.source_gid.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(Some(gid.as_str()), want["source_gid"].as_str());
    assert_eq!(a.encode().as_slice(), bytes.as_slice());
}

fn mapper(effort_read: bool) -> JointMapper {
    let joints = ["slider".to_string(), "hinge".to_string()];
    let mut features = vec!["slider.pos", "hinge.cos", "slider.vel"];
    if effort_read {
        features.push("hinge.effort");
    }
    let obs = umwelt_sim::ObservationMap::new(&features, &joints, &[]).unwrap();
    JointMapper::new("cartpole", &joints, &obs, &Ros2Settings::default())
}

const NOW: u64 = 1_700_000_000_200_000_000;

/// Makes a good JointState bad in one way.
type Spoil = fn(&mut JointState);

#[test]
fn joint_states_map_by_name_and_refusals_are_classed() {
    let mut m = mapper(false);
    let js = cartpole_state();
    let f = m.frame(&js, NOW).expect("fresh and complete");
    // Description order: slider, hinge.
    assert_eq!(f.positions, [-0.25, 3.0]);
    assert_eq!(f.velocities, [1.125, 0.5]);
    assert_eq!(f.efforts, [0.0, 0.0], "efforts not read: absent reads 0");
    assert_eq!((f.seq, f.stamp_ns), (1, 1_700_000_000_123_456_789));

    let class = |m: &mut JointMapper, js: &JointState| m.frame(js, NOW).unwrap_err().class;
    assert_eq!(class(&mut m, &js), ErrorClass::Stale, "a replay");
    let mut later = js.clone();
    later.header.stamp.nanosec += 1_000;
    let cases: [(&str, Spoil, ErrorClass); 7] = [
        (
            "unknown joint",
            |j| j.name[0] = "elbow".into(),
            ErrorClass::Spec,
        ),
        (
            "joint twice",
            |j| j.name[0] = "slider".into(),
            ErrorClass::Spec,
        ),
        (
            "missing joint",
            |j| {
                j.name.pop();
                j.position.pop();
                j.velocity.pop();
            },
            ErrorClass::Spec,
        ),
        (
            "short array",
            |j| {
                j.velocity.pop();
            },
            ErrorClass::LengthMismatch,
        ),
        ("NaN", |j| j.position[1] = f64::NAN, ErrorClass::NonFinite),
        ("stale", |j| j.header.stamp.sec -= 1, ErrorClass::Stale),
        (
            "ahead",
            |j| j.header.stamp.sec += 1,
            ErrorClass::FutureStamp,
        ),
    ];
    for (what, spoil, want) in cases {
        let mut bad = later.clone();
        spoil(&mut bad);
        assert_eq!(class(&mut m, &bad), want, "{what}");
    }
    assert_eq!(m.frame(&later, NOW).expect("still fine").seq, 2);

    // An observation that reads efforts needs them.
    let mut m = mapper(true);
    assert_eq!(class(&mut m, &js), ErrorClass::NonFinite);
    let mut with = js.clone();
    // Names are [hinge, slider]: hinge's effort is read, slider's is not.
    with.effort = vec![f64::NAN, 0.5];
    assert_eq!(
        class(&mut m, &with),
        ErrorClass::NonFinite,
        "hinge's NaN is read"
    );
    with.effort = vec![0.5, f64::NAN];
    let f = m.frame(&with, NOW).expect("hinge effort finite");
    assert_eq!(f.efforts, [0.0, 0.5], "slider's unread NaN reads 0");
}

#[test]
fn a_sample_without_rmw_zenohs_attachment_is_refused() {
    use umwelt_runtime::ros2::link::joint_state;
    let payload = fixture("joint_state_cartpole_le.cdr");
    let att = fixture("attachment.bin");
    assert_eq!(joint_state(&payload, Some(&att)).unwrap(), cartpole_state());
    assert_eq!(
        joint_state(&payload, None::<&[u8]>).unwrap_err().class,
        ErrorClass::BadMagic
    );
    assert_eq!(
        joint_state(&payload, Some(&att[..20])).unwrap_err().class,
        ErrorClass::BadMagic
    );
    assert_eq!(
        joint_state(&payload[..30], Some(&att)).unwrap_err().class,
        ErrorClass::Truncated
    );
}
