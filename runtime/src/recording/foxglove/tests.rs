use base64::Engine;
use serde_json::Value;

use super::*;
use crate::recording::{Recorder, Recording};
use crate::wire::{CommandMode, Image, ImageEncoding, MotorCommand, SensorFrame};

fn frame(robot: &str, seq: u64, positions: Vec<f32>, channels: Vec<(&str, f32)>) -> Vec<u8> {
    let n = positions.len();
    wire::encode(&Message::SensorFrame(SensorFrame {
        seq,
        stamp_ns: 1_000_000_000 + seq * 10_000_000,
        robot: robot.into(),
        applied: wire::Applied::Command(seq.saturating_sub(1)),
        positions,
        velocities: vec![0.0; n],
        efforts: vec![0.0; n],
        channels: channels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        images: vec![],
    }))
}

fn by_topic(out: &[Decoded], topic: &str) -> Vec<Value> {
    out.iter()
        .filter(|d| d.topic == topic)
        .map(|d| serde_json::from_slice(&d.json).unwrap())
        .collect()
}

fn transform<'a>(tf: &'a Value, child: &str) -> &'a Value {
    tf["transforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["child_frame_id"] == child)
        .unwrap_or_else(|| panic!("no {child} in {tf}"))
}

#[test]
fn a_cartpole_frame_decodes_to_named_joints_body_frames_and_a_scene() {
    let mut d = Decoder::new(vec![]);
    let key = "umwelt/cartpole/sensors";
    let out = d.decode(
        key,
        &frame("cartpole", 1, vec![0.4, 0.3], vec![("reward", 0.5)]),
        7,
    );
    let js = by_topic(&out, "/umwelt/cartpole/joint_states");
    assert_eq!(js.len(), 1);
    assert_eq!(js[0]["name"], serde_json::json!(["slider", "hinge"]));
    assert_eq!(js[0]["position"][0].as_f64().unwrap() as f32, 0.4);
    assert_eq!(js[0]["channels"]["reward"], 0.5);
    assert_eq!(js[0]["applied"], "command 0");
    assert_eq!(js[0]["timestamp"]["sec"], 1);
    assert_eq!(js[0]["timestamp"]["nsec"], 10_000_000);

    let tf = &by_topic(&out, TF_TOPIC)[0];
    let cart = transform(tf, "cartpole/slider");
    assert_eq!(cart["parent_frame_id"], WORLD_FRAME);
    assert!((cart["translation"]["x"].as_f64().unwrap() - 0.4).abs() < 1e-5);
    // The pole turned 0.3 rad about one axis: the quaternion says so.
    let w = transform(tf, "cartpole/hinge")["rotation"]["w"]
        .as_f64()
        .unwrap();
    assert!((2.0 * w.abs().acos() - 0.3).abs() < 1e-4, "w {w}");

    // The pole's capsule is a cylinder and two balls, in the pole's frame.
    let scene = &by_topic(&out, "/umwelt/cartpole/scene")[0];
    let pole = scene["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["frame_id"] == "cartpole/hinge")
        .unwrap();
    assert_eq!(pole["cylinders"].as_array().unwrap().len(), 1);
    assert_eq!(pole["spheres"].as_array().unwrap().len(), 2);
    assert_eq!(pole["frame_locked"], true);
    let cart = scene["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["frame_id"] == "cartpole/slider")
        .unwrap();
    assert_eq!(cart["cubes"].as_array().unwrap().len(), 1);

    // The next frame within a second moves the bodies only: no new scene.
    let out = d.decode(
        key,
        &frame("cartpole", 2, vec![0.5, 0.2], vec![("reward", 0.5)]),
        7 + 10_000_000,
    );
    assert_eq!(by_topic(&out, TF_TOPIC).len(), 1);
    assert!(by_topic(&out, "/umwelt/cartpole/scene").is_empty());
    // A second later, the scene again (for viewers that seek).
    let out = d.decode(
        key,
        &frame("cartpole", 3, vec![0.5, 0.2], vec![]),
        7 + 1_000_000_000,
    );
    assert_eq!(by_topic(&out, "/umwelt/cartpole/scene").len(), 1);
    assert_eq!(d.stats().skipped, 0);
    assert!(d.stats().robots["cartpole"]);
    assert!(d.take_notes().is_empty());
}

#[test]
fn malformed_and_unfitting_messages_are_skipped_and_counted() {
    let mut d = Decoder::new(vec![]);
    let key = "umwelt/cartpole/sensors";
    assert!(d.decode(key, b"garbage", 1).is_empty());
    assert!(
        d.decode(key, &frame("cartpole", 1, vec![f32::NAN, 0.0], vec![]), 2)
            .is_empty()
    );
    // Three joints on a two-joint robot.
    assert!(
        d.decode(key, &frame("cartpole", 2, vec![0.0; 3], vec![]), 3)
            .is_empty()
    );
    assert_eq!(d.stats().skipped, 3);
    assert!(
        !d.decode(key, &frame("cartpole", 3, vec![0.0; 2], vec![]), 4)
            .is_empty()
    );
    assert_eq!(d.stats().skipped, 3);
}

#[test]
fn a_frame_the_simulator_cannot_take_keeps_its_joints_and_is_counted() {
    // The reacher's scene needs its target channels.
    let mut d = Decoder::new(vec![]);
    let out = d.decode(
        "umwelt/reacher/sensors",
        &frame("reacher", 1, vec![0.1, 0.2], vec![]),
        1,
    );
    assert_eq!(by_topic(&out, "/umwelt/reacher/joint_states").len(), 1);
    assert!(by_topic(&out, TF_TOPIC).is_empty());
    assert_eq!(d.stats().scene_skipped, 1);
    assert_eq!(d.stats().skipped, 0);
}

#[test]
fn a_robot_known_only_by_its_frames_gets_generic_names_and_no_scene() {
    let mut d = Decoder::new(vec![]);
    let out = d.decode(
        "umwelt/rover/sensors",
        &frame("rover", 1, vec![1.0, 2.0, 3.0], vec![]),
        1,
    );
    assert_eq!(out.len(), 1, "joint states only: {out:?}");
    let js = by_topic(&out, "/umwelt/rover/joint_states");
    assert_eq!(
        js[0]["name"],
        serde_json::json!(["joint_0", "joint_1", "joint_2"])
    );
    let cmd = wire::encode(&Message::MotorCommand(MotorCommand {
        seq: 1,
        stamp_ns: 5,
        answers_seq: 1,
        deadline_ns: 6,
        mode: CommandMode::Velocity,
        values: vec![0.5, -0.5],
    }));
    let out = d.decode("umwelt/rover/cmd", &cmd, 2);
    let c = &by_topic(&out, "/umwelt/rover/command")[0];
    assert_eq!(c["name"], serde_json::json!(["actuator_0", "actuator_1"]));
    assert_eq!(c["mode"], "velocity");
    let notes = d.take_notes();
    assert_eq!(notes.len(), 1, "said once: {notes:?}");
    assert!(notes[0].contains("without a 3D scene"), "{notes:?}");
    assert!(!d.stats().robots["rover"]);
}

#[test]
fn a_reacher_scene_shows_its_target_where_the_channels_put_it() {
    let mut env = umwelt_sim::Env::new("reacher", "easy").unwrap();
    let obs = env.reset(4).unwrap();
    let truth = env.scene().unwrap();
    let channels: Vec<(&str, f32)> = env
        .channel_names()
        .iter()
        .map(String::as_str)
        .zip(obs.sensors.channels.iter().copied())
        .collect();
    let mut d = Decoder::new(vec![]);
    let out = d.decode(
        "umwelt/reacher/sensors",
        &frame("reacher", 1, obs.sensors.positions.clone(), channels),
        1,
    );
    let scene = &by_topic(&out, "/umwelt/reacher/scene")[0];
    let target = scene["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "reacher/marker/target")
        .unwrap();
    assert_eq!(target["frame_id"], WORLD_FRAME);
    let p = &target["spheres"][0]["pose"]["position"];
    let want = truth.markers[0].position;
    for (axis, w) in ["x", "y", "z"].into_iter().zip(want) {
        assert!(
            (p[axis].as_f64().unwrap() as f32 - w).abs() < 1e-3,
            "{p} vs {want:?}"
        );
    }
}

#[test]
fn images_become_raw_images_with_their_bytes() {
    let data: Vec<u8> = (0..2 * 3 * 3).map(|i| i as u8).collect();
    let payload = wire::encode(&Message::SensorFrame(SensorFrame {
        seq: 1,
        stamp_ns: 1,
        robot: "rover".into(),
        images: vec![Image {
            name: "front".into(),
            width: 3,
            height: 2,
            encoding: ImageEncoding::Rgb8,
            data: data.clone(),
        }],
        ..Default::default()
    }));
    let mut d = Decoder::new(vec![]);
    let out = d.decode("umwelt/rover/sensors", &payload, 1);
    let im = &by_topic(&out, "/umwelt/rover/camera/front")[0];
    assert_eq!(im["encoding"], "rgb8");
    assert_eq!(im["step"], 9);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(im["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, data);
}

#[test]
fn a_recording_with_decoded_channels_keeps_the_wire_channels_byte_exact() {
    let dir = std::env::temp_dir().join(format!("umwelt-foxglove-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fx.mcap");
    std::fs::remove_file(&path).ok();
    let traffic: Vec<(&str, Vec<u8>)> = vec![
        (
            "umwelt/cartpole/sensors",
            frame("cartpole", 1, vec![0.1, 0.2], vec![]),
        ),
        ("umwelt/cartpole/cmd", b"garbage".to_vec()),
        (
            "umwelt/cartpole/sensors",
            frame("cartpole", 2, vec![0.2, 0.3], vec![]),
        ),
    ];
    let mut rec = Recorder::create(&path, &Default::default())
        .unwrap()
        .with_foxglove(Decoder::new(vec![]));
    for (i, (k, p)) in traffic.iter().enumerate() {
        rec.write(k, p, 100 + i as u64).unwrap();
    }
    let summary = rec.finish().unwrap();
    assert_eq!(summary.messages, 3);
    assert_eq!(summary.decoded["/umwelt/cartpole/joint_states"], 2);
    assert_eq!(summary.decoded[TF_TOPIC], 2);

    let recording = Recording::open(&path).unwrap();
    let back: Vec<_> = recording.messages().map(Result::unwrap).collect();
    assert_eq!(back.len(), 3);
    for (m, (k, p)) in back.iter().zip(&traffic) {
        assert_eq!((&m.key[..], &m.payload), (*k, p));
    }
    let read = recording.summary();
    assert_eq!(read.messages, 3);
    assert_eq!(read.decoded, summary.decoded);

    // Every decoded channel has its JSON Schema; the counts are in the
    // metadata at the end.
    let bytes = std::fs::read(&path).unwrap();
    let summary = mcap::Summary::read(&bytes).unwrap().unwrap();
    let mut decoded = 0;
    for c in summary.channels.values() {
        if c.metadata.contains_key(DECODED_METADATA) {
            decoded += 1;
            let s = c.schema.as_ref().unwrap();
            assert_eq!(s.encoding, SCHEMA_ENCODING);
            assert_eq!(c.message_encoding, JSON_ENCODING);
            let schema: Value = serde_json::from_slice(&s.data).unwrap();
            assert_eq!(schema["title"], s.name);
        } else {
            assert!(c.schema.is_none());
        }
    }
    assert_eq!(decoded, 3, "joint_states, /tf, scene");
    let meta = mcap::read::LinearReader::new(&bytes)
        .unwrap()
        .filter_map(|r| match r.unwrap() {
            mcap::records::Record::Metadata(m)
                if m.name == crate::recording::FOXGLOVE_METADATA_NAME =>
            {
                Some(m.metadata)
            }
            _ => None,
        })
        .next()
        .unwrap();
    assert_eq!(meta["skipped"], "1");
    std::fs::remove_dir_all(&dir).ok();
}
