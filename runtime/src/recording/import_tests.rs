//! `episodes` over synthetic MCAP recordings of a reacher: each case of
//! what a frame can say it applied, and the accounting that ties them up.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use crate::wire::{
    self, Applied, CommandMode, Image, ImageEncoding, Message, MotorCommand, SensorFrame,
};

const SENSORS: &str = "umwelt/reacher/sensors";
const CMD: &str = "umwelt/reacher/cmd";
const MS: u64 = 1_000_000;

/// A recording file in a folder of its own, removed when dropped.
struct Tmp(PathBuf);

impl Tmp {
    fn new(test: &str) -> Self {
        let d = std::env::temp_dir().join(format!("umwelt-import-{test}-{}", std::process::id()));
        std::fs::remove_dir_all(&d).ok();
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }

    /// Writes `traffic` (key, payload, log time) and opens it.
    fn record(&self, traffic: &[(&str, Vec<u8>, u64)]) -> Recording {
        let path = self.0.join("run.mcap");
        std::fs::remove_file(&path).ok();
        let mut rec = Recorder::create(&path, &BTreeMap::new()).unwrap();
        for (key, payload, t) in traffic {
            rec.write(key, payload, *t).unwrap();
        }
        rec.finish().unwrap();
        Recording::open(&path).unwrap()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A reacher frame: its seq, episode, what it says was applied, and a
/// reward channel of seq / 64 (exact in f32) unless `reward` is false.
fn frame(seq: u64, episode: f32, applied: Applied, reward: bool) -> Vec<u8> {
    let mut channels = vec![
        ("to_target_x".to_string(), 0.1 * seq as f32),
        ("to_target_y".to_string(), -0.05),
    ];
    if reward {
        channels.push(("reward".into(), seq as f32 / 64.0));
    }
    channels.push(("episode".into(), episode));
    wire::encode(&Message::SensorFrame(SensorFrame {
        seq,
        stamp_ns: seq * 10 * MS,
        robot: "reacher".into(),
        applied,
        positions: vec![0.01 * seq as f32, 0.5],
        velocities: vec![1.0, -1.0],
        efforts: vec![0.0, 0.0],
        channels,
        images: vec![],
    }))
}

/// A torque command `seq` answering frame `answers` with values (v, -0.01).
fn command(seq: u64, answers: u64, v: f32) -> Vec<u8> {
    wire::encode(&Message::MotorCommand(MotorCommand {
        seq,
        stamp_ns: answers * 10 * MS,
        answers_seq: answers,
        deadline_ns: answers * 10 * MS + 20 * MS,
        mode: CommandMode::Torque,
        values: vec![v, -0.01],
    }))
}

use Applied::{Command, None as NotSaid, Safe};

/// Two episodes of traffic with every kind of step (see the comments).
fn traffic() -> Vec<(&'static str, Vec<u8>, u64)> {
    let f = |seq, ep, a| (SENSORS, frame(seq, ep, a, true), seq * 10 * MS);
    let c = |seq, answers, v, at_us: u64| (CMD, command(seq, answers, v), at_us * 1_000);
    let mut v1 = frame(14, 1.0, Command(1), true);
    v1[2] = 1; // protocol version 1
    let mut velocity = command(9, 13, 0.9);
    velocity[36] = 1; // mode: velocity, while the reacher takes torques
    vec![
        // Heard just before its frame (different links): still its answer.
        c(1, 1, 0.1, 9_900),
        f(1, 0.0, NotSaid),
        f(2, 0.0, Command(1)), // 1→2 answered by seq 1
        c(2, 2, 0.2, 21_000),
        f(3, 0.0, Command(2)), // 2→3 answered
        f(4, 0.0, Command(2)), // 3→4: seq 2 still in force; seq 3 late
        c(3, 3, 0.3, 41_000),
        c(4, 4, 0.4, 42_000),
        f(5, 0.0, Command(4)), // 4→5 answered
        f(6, 0.0, Safe),       // 5→6 safe (nobody answered 5)
        c(5, 6, 0.5, 61_000),
        f(7, 0.0, NotSaid), // 6→7 cut: applied not said
        c(6, 7, 0.6, 71_000),
        f(8, 0.0, Command(6)),  // 7→8 answered
        f(10, 0.0, Command(6)), // 8→10 cut: frame 9 lost
        c(8, 10, 0.8, 101_000),
        f(11, 0.0, Command(99)), // 10→11 cut: command 99 not recorded
        (SENSORS, frame(11, 0.0, Command(99), true), 115 * MS), // re-sent
        // Episode 1, a restarted controller numbering from 1 again.
        f(12, 1.0, NotSaid), // 11→12 boundary
        c(1, 12, 0.7, 121_000),
        f(13, 1.0, Command(1)), // 12→13 answered by the new seq 1
        (CMD, velocity, 131 * MS),
        (SENSORS, v1, 140 * MS),
        f(15, 1.0, Command(1)), // 13→15 cut: frame 14 unreadable
        (CMD, b"junk".to_vec(), 160 * MS),
    ]
}

#[test]
fn each_step_takes_the_action_its_next_frame_says_was_applied() {
    let tmp = Tmp::new("cases");
    let env = crate::robot::describe(&umwelt_sim::Env::new("reacher", "easy").unwrap());
    let (eps, r) = episodes(&tmp.record(&traffic()), "reacher", &env, false, None).unwrap();
    assert_eq!((r.frames, r.repeated_frames), (14, 1), "{r:?}");
    assert_eq!((r.commands, r.invalid, r.other_version), (8, 3, 1));
    assert_eq!(
        (r.applied_as_answered, r.applied_held, r.safe_steps),
        (5, 1, 1)
    );
    assert_eq!((r.late_commands, r.superseded_commands), (1, 0));
    assert_eq!(r.boundaries, 1);
    assert_eq!(
        r.cuts,
        BTreeMap::from([
            ("applied_not_said".to_string(), 1),
            ("command_not_recorded".to_string(), 1),
            ("frames_lost".to_string(), 2),
        ])
    );
    // Every pair of consecutive frames is accounted for exactly once.
    let pairs = r.frames - r.repeated_frames - 1;
    assert_eq!(r.boundaries + r.transitions + r.cut_total(), pairs);
    assert_eq!(
        r.transitions,
        r.applied_as_answered + r.applied_held + r.safe_steps
    );

    // [1..6] | [7 8] | [12 13]: the held command twice, the safe action.
    let lens: Vec<usize> = eps.iter().map(|e| e.len()).collect();
    assert_eq!(lens, [5, 1, 1]);
    assert_eq!((r.episodes, r.transitions), (3, 7));
    let first: Vec<f32> = eps[0].actions.chunks(2).map(|a| a[0]).collect();
    assert_eq!(first, [0.1, 0.2, 0.2, 0.4, 0.0]);
    assert_eq!(&eps[0].actions[8..], &[0.0, 0.0], "the safe action");
    assert_eq!(
        eps[0].rewards,
        [2.0, 3.0, 4.0, 5.0, 6.0].map(|s: f32| s / 64.0)
    );
    assert_eq!(eps[1].actions, [0.6, -0.01]);
    assert_eq!(
        (eps[2].seed, eps[2].actions.as_slice()),
        (1, &[0.7, -0.01][..])
    );
    assert!(eps.iter().all(|e| e.truncated && !e.terminated));
    // The observation of frame 2, as the control loop would build it.
    let obs_dim = env.observation_spec().unwrap().len();
    // The description's channels: the task's two, reward, success, episode.
    let m = umwelt_sim::Measurement {
        positions: vec![0.02, 0.5],
        velocities: vec![1.0, -1.0],
        efforts: vec![0.0, 0.0],
        channels: vec![0.2, -0.05, 2.0 / 64.0, 0.0, 0.0],
    };
    assert_eq!(
        eps[0].observations[obs_dim..2 * obs_dim],
        env.observation_map().unwrap().vector(&m)[..]
    );
    let text = r.to_text();
    for want in [
        "7 transitions imported: 5 with the command answering their frame, 1 with an earlier",
        "1 late commands",
        "2 cut: frames lost (seq jumped)",
        "1 of another protocol version",
    ] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
}

#[test]
fn recordings_that_cannot_give_episodes_are_refused_saying_why() {
    let tmp = Tmp::new("refused");
    let env = crate::robot::describe(&umwelt_sim::Env::new("reacher", "easy").unwrap());
    let no_reward = [
        (SENSORS, frame(1, 0.0, NotSaid, false), 10 * MS),
        (CMD, command(1, 1, 0.1), 11 * MS),
        (SENSORS, frame(2, 0.0, Command(1), false), 20 * MS),
    ];
    let recording = tmp.record(&no_reward);
    let e = episodes(&recording, "reacher", &env, false, None).unwrap_err();
    assert!(
        e.to_string().contains("no `reward` channel") && e.to_string().contains("--zero-rewards"),
        "{e}"
    );
    let (eps, _) = episodes(&recording, "reacher", &env, true, None).unwrap();
    assert_eq!(
        (eps[0].rewards.as_slice(), eps[0].actions.as_slice()),
        (&[0.0][..], &[0.1, -0.01][..])
    );

    // Frames that do not fit the task (the pendulum has one joint): refused.
    let pendulum = crate::robot::describe(&umwelt_sim::Env::new("pendulum", "swingup").unwrap());
    let e = episodes(&recording, "pendulum", &pendulum, true, None).unwrap_err();
    assert!(
        e.to_string().contains("no sensor frames of `pendulum`"),
        "{e}"
    );

    // Only frames of protocol version 1: they do not say what was applied.
    let mut old = frame(1, 0.0, NotSaid, true);
    old[2] = 1;
    let e = episodes(
        &tmp.record(&[(SENSORS, old, 1)]),
        "reacher",
        &env,
        false,
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("another version"), "{e}");
}

#[test]
fn a_description_that_defines_its_reward_needs_no_reward_channel() {
    use crate::robot::{RewardRule, SuccessRule, ToleranceTerm};
    let tmp = Tmp::new("terms");
    let mut d = crate::robot::describe(&umwelt_sim::Env::new("reacher", "easy").unwrap());
    // The reward is 1 while the target is 0.25 or more ahead in x, else 0;
    // the goal holds at that reward.
    d.task.reward = RewardRule {
        channel: None,
        terms: vec![ToleranceTerm {
            features: vec!["to_target_x".into()],
            bounds: [0.25, 1.0],
            margin: 0.0,
            sigmoid: umwelt_sim::rewards::Sigmoid::Gaussian,
            value_at_margin: 0.1,
        }],
    };
    d.task.success = SuccessRule {
        channel: None,
        reward_at_least: Some(1.0),
        final_steps: 1,
    };
    d.channels
        .retain(|c| c.name != "reward" && c.name != "success");
    d.check("test").unwrap();
    let recording = tmp.record(&[
        (SENSORS, frame(1, 0.0, NotSaid, false), 10 * MS),
        (CMD, command(1, 1, 0.1), 11 * MS),
        (SENSORS, frame(2, 0.0, Command(1), false), 20 * MS),
        (CMD, command(2, 2, 0.2), 21 * MS),
        (SENSORS, frame(3, 0.0, Command(2), false), 30 * MS),
    ]);
    let (eps, r) = episodes(&recording, "reacher", &d, false, None).unwrap();
    assert_eq!((eps.len(), r.transitions), (1, 2), "{r:?}");
    // to_target_x is 0.1 * seq: 0.2 after the first step, 0.3 after the second.
    assert_eq!(eps[0].rewards, [0.0, 1.0]);
    assert!(eps[0].success);
    assert_eq!(eps[0].actions, [0.1, -0.01, 0.2, -0.01]);
}

/// `frame` with camera images: `cam` a 2x2 RGB image whose bytes are the
/// seq, unless `None`; a 1x1 grey `other` camera always.
fn frame_seeing(seq: u64, applied: Applied, cam: Option<(u16, ImageEncoding)>) -> Vec<u8> {
    let Ok(Message::SensorFrame(mut f)) = wire::decode(&frame(seq, 0.0, applied, true)) else {
        unreachable!("a frame")
    };
    if let Some((side, encoding)) = cam {
        let n = side as usize * side as usize * encoding.bytes_per_pixel();
        f.images.push(Image {
            name: "cam".into(),
            width: side,
            height: side,
            encoding,
            data: vec![seq as u8; n],
        });
    }
    f.images.push(Image {
        name: "other".into(),
        width: 1,
        height: 1,
        encoding: ImageEncoding::Mono8,
        data: vec![200],
    });
    wire::encode(&Message::SensorFrame(f))
}

#[test]
fn a_cameras_images_are_kept_per_observation_and_a_step_without_one_is_cut() {
    let tmp = Tmp::new("images");
    let env = crate::robot::describe(&umwelt_sim::Env::new("reacher", "easy").unwrap());
    let rgb = Some((2, ImageEncoding::Rgb8));
    let f = |seq, a, cam| (SENSORS, frame_seeing(seq, a, cam), seq * 10 * MS);
    let c = |seq, answers| (CMD, command(seq, answers, 0.1), answers * 10 * MS + MS);
    let recording = tmp.record(&[
        f(1, NotSaid, rgb),
        c(1, 1),
        f(2, Command(1), rgb), // 1→2 imported
        c(2, 2),
        f(3, Command(2), None), // 2→3 cut: no image in 3
        c(3, 3),
        f(4, Command(3), rgb), // 3→4 cut: no image in 3
        c(4, 4),
        f(5, Command(4), Some((3, ImageEncoding::Rgb8))), // 4→5 cut: another size
        c(5, 5),
        f(6, Command(5), rgb), // 5→6 cut: frame 5's size
        c(6, 6),
        f(7, Command(6), rgb), // 6→7 imported
        c(7, 7),
        f(8, Command(7), rgb), // 7→8 imported
    ]);
    let (eps, r) = episodes(&recording, "reacher", &env, false, Some("cam")).unwrap();
    assert_eq!(r.cuts.get("image_missing"), Some(&4), "{r:?}");
    assert_eq!(r.transitions, 3);
    assert_eq!(eps.len(), 2);
    let kept: Vec<Vec<u8>> = eps
        .iter()
        .map(|e| {
            let f = e.frames.as_ref().expect("frames");
            assert_eq!(
                (f.width(), f.height(), f.channels(), f.len()),
                (2, 2, 3, e.len() + 1)
            );
            (0..f.len()).map(|t| f.frame(t)[0]).collect()
        })
        .collect();
    assert_eq!(kept, vec![vec![1, 2], vec![6, 7, 8]]);
    // Without a camera, nothing is cut for images and no frames are kept.
    let (eps, r) = episodes(&recording, "reacher", &env, false, None).unwrap();
    assert!(
        r.cuts.is_empty() && eps.iter().all(|e| e.frames.is_none()),
        "{r:?}"
    );
    // A camera no frame carries, and a depth camera, are refused.
    let e = episodes(&recording, "reacher", &env, false, Some("wrist")).unwrap_err();
    assert!(e.to_string().contains("camera `wrist`"), "{e}");
    let depth = tmp.record(&[f(1, NotSaid, Some((1, ImageEncoding::DepthF32)))]);
    let e = episodes(&depth, "reacher", &env, false, Some("cam")).unwrap_err();
    assert!(e.to_string().contains("RGB or grey"), "{e}");
}
