//! End to end over real zenoh on loopback: the example pendulum served by
//! the `Driver`, and a client that speaks the protocol with zenoh directly.
//! Every wait has a 20 s guard against a hang; nothing asserts on timing.

mod common;

use common::{Client, NODE, endpoint, pendulum::Pendulum, serve, serve_robot, value};
use umwelt_driver::umwelt_protocol::{
    self as wire, Applied, CommandMode, ErrorClass, Image, ImageEncoding, Message, MotorCommand,
    NodeState, Reset, SensorFrame, Stepping, channels,
};
use umwelt_driver::{Measurement, Robot, RobotError};

/// A fixed, varied command stream.
fn torque(k: usize) -> f32 {
    (k as f32 * 0.37).sin()
}

/// The pendulum's state in a frame, as bits (bit-for-bit comparisons).
fn state_bits(f: &SensorFrame) -> (u32, u32) {
    (f.positions[0].to_bits(), f.velocities[0].to_bits())
}

/// Resets the episode with `seed` over `cmd`; returns its first frame.
fn reset(client: &mut Client, after: &SensorFrame, seed: u64) -> SensorFrame {
    let bytes = client.reset_bytes(seed);
    client.put_cmd(&bytes);
    client.frame_after(after.seq)
}

#[test]
fn lockstep_applies_each_answer_and_a_seed_repeats_its_trajectory() {
    let ep = endpoint(17610);
    let mut client = Client::new(&ep);
    let served = serve(&ep, true, 0);
    client.linked();
    let status = client.status_where(|s| s.node == NODE);
    assert_eq!(status.stepping, Stepping::Lockstep);

    let first = client.frame();
    assert_eq!(first.applied, Applied::None, "an episode's first frame");
    assert_eq!(first.robot, "pendulum");
    let mut last = first;
    let mut runs = Vec::new();
    for run in 1..=2u32 {
        let start = reset(&mut client, &last, 7);
        assert!(
            matches!(start.applied, Applied::Reset(_)),
            "{:?}",
            start.applied
        );
        assert_eq!(start.channel(channels::EPISODE), Some(run as f32));
        assert_eq!(start.channel(channels::REWARD), Some(0.0));
        // The same start the robot itself gives for seed 7.
        let mut local = Pendulum::default();
        let m = local.reset(7).expect("reset");
        assert_eq!(start.positions, m.positions);
        let mut trajectory = vec![state_bits(&start)];
        let mut frame = start;
        for k in 0..60 {
            let next = client.step(&frame, &[torque(k)]);
            let Applied::Command(seq) = next.applied else {
                panic!("frame {} applied {:?}", next.seq, next.applied);
            };
            assert!(
                client.answers_to(frame.seq).contains(&seq),
                "applied an answer to frame {}",
                frame.seq
            );
            assert_eq!(
                next.efforts,
                vec![torque(k)],
                "the command's torque was applied"
            );
            // Bit for bit what the robot computes in-process.
            let m = local.step(&[torque(k)]).expect("step");
            assert_eq!(
                (next.positions.clone(), next.velocities.clone()),
                (m.positions, m.velocities)
            );
            trajectory.push(state_bits(&next));
            frame = next;
        }
        runs.push(trajectory);
        last = frame;
    }
    assert_eq!(
        runs[0], runs[1],
        "seed 7 and one command stream: one trajectory"
    );
    let summary = served.stop();
    assert_eq!(summary.commands_applied, 120);
    assert_eq!(summary.safe_steps, 0);
    assert_eq!(summary.dropped_as("spec"), 0);
    let rt = summary.round_trip.expect("round trips seen");
    assert!(rt.samples >= 120 && rt.p50_us > 0.0, "{rt:?}");
}

#[test]
fn an_estop_holds_the_safe_action_until_released_on_admin() {
    let ep = endpoint(17620);
    let mut client = Client::new(&ep);
    let served = serve(&ep, true, 3);
    client.linked();
    let mut frame = client.frame();
    for k in 0..3 {
        frame = client.step(&frame, &[0.5 + k as f32 * 0.1]);
        assert!(matches!(frame.applied, Applied::Command(_)));
    }

    client.estop(true, false);
    client.status_where(|s| s.state == NodeState::Estopped);
    for _ in 0..3 {
        frame = client.step(&frame, &[0.9]);
        assert_eq!(frame.applied, Applied::Safe, "estopped");
        assert_eq!(frame.efforts, vec![0.0], "the safe torque");
    }
    // A release anywhere but on admin is refused.
    client.estop(false, false);
    for _ in 0..3 {
        frame = client.step(&frame, &[0.9]);
        assert_eq!(frame.applied, Applied::Safe, "still estopped");
    }
    client.estop(false, true);
    client.status_where(|s| s.state == NodeState::SafeHold && s.message.contains("released"));
    frame = client.step(&frame, &[0.9]);
    let Applied::Command(seq) = frame.applied else {
        panic!("released, yet {:?}", frame.applied);
    };
    assert_eq!(client.sent.last().map(|s| s.1), Some(seq));
    assert_eq!(frame.efforts, vec![0.9]);

    let summary = served.stop();
    assert_eq!(summary.dropped_as("unauthorised"), 1, "{summary}");
    assert_eq!(summary.safe_steps, 6);
    assert_eq!(summary.commands_applied, 4);
}

#[test]
fn stale_forged_and_expired_messages_are_dropped_counted_and_never_applied() {
    let ep = endpoint(17630);
    let mut client = Client::new(&ep);
    let served = serve(&ep, true, 5);
    client.linked();
    let mut frame = client.frame();
    let replayed = {
        let cmd = client.command_for(&frame, vec![0.2]);
        wire::encode(&Message::MotorCommand(cmd))
    };
    client.put_cmd(&replayed);
    frame = client.frame_after(frame.seq);
    assert!(matches!(frame.applied, Applied::Command(_)));

    // Each bad command asks for a torque of 0.7, which must never appear.
    let good = client.command_for(&frame, vec![0.7]);
    let variants: Vec<(ErrorClass, MotorCommand)> = vec![
        (
            ErrorClass::Expired,
            MotorCommand {
                deadline_ns: frame.stamp_ns,
                ..good.clone()
            },
        ),
        (
            ErrorClass::Unanswered,
            MotorCommand {
                answers_seq: frame.seq + 5,
                ..good.clone()
            },
        ),
        (
            ErrorClass::FarDeadline,
            MotorCommand {
                deadline_ns: wire::now_ns() + 5_000_000_000,
                ..good.clone()
            },
        ),
        (
            ErrorClass::Spec,
            MotorCommand {
                values: vec![0.7, 0.7],
                ..good.clone()
            },
        ),
        (
            ErrorClass::Spec,
            MotorCommand {
                mode: CommandMode::Velocity,
                ..good.clone()
            },
        ),
        (
            ErrorClass::NonFinite,
            MotorCommand {
                values: vec![f32::NAN],
                ..good.clone()
            },
        ),
    ];
    for (_, cmd) in &variants {
        client.put_cmd(&wire::encode(&Message::MotorCommand(cmd.clone())));
    }
    // The last frame's answer, replayed: it answers an older frame.
    client.put_cmd(&replayed);
    // A bit-flipped version byte, and a truncated message.
    let mut old_version = wire::encode(&Message::MotorCommand(good.clone()));
    old_version[2] = 1;
    client.put_cmd(&old_version);
    client.put_cmd(&wire::encode(&Message::MotorCommand(good.clone()))[..10]);
    // Resets that are stale, from the future, or replayed must not reset.
    let stale = Reset {
        seq: 90,
        stamp_ns: wire::now_ns() - 5_000_000_000,
        seed: Some(1),
    };
    let future = Reset {
        seq: 91,
        stamp_ns: wire::now_ns() + 5_000_000_000,
        seed: Some(1),
    };
    client.put_cmd(&wire::encode(&Message::Reset(stale)));
    client.put_admin(&wire::encode(&Message::Reset(future)));
    let expected_total = variants.len() as f64 + 5.0;

    let t = client.telemetry_with_drops(expected_total);
    assert_eq!(value(&t, "dropped"), Some(expected_total), "{t:?}");
    for (class, n) in [
        ("expired", 1.0),
        ("unanswered", 2.0),
        ("far_deadline", 1.0),
        ("spec", 2.0),
        ("non_finite", 1.0),
        ("unsupported_version", 1.0),
        ("truncated", 1.0),
        ("stale", 1.0),
        ("future_stamp", 1.0),
    ] {
        assert_eq!(
            value(&t, &format!("dropped_{class}")),
            Some(n),
            "{class}: {t:?}"
        );
    }
    // The frame is still waiting for a valid answer; this one is applied.
    let next = client.step(&frame, &[0.1]);
    assert_eq!(next.efforts, vec![0.1]);
    assert_eq!(
        next.channel(channels::EPISODE),
        Some(0.0),
        "no reset happened"
    );
    let Applied::Command(seq) = next.applied else {
        panic!("{:?}", next.applied);
    };
    assert!(client.answers_to(frame.seq).contains(&seq));

    let summary = served.stop();
    assert_eq!(summary.commands_applied, 2, "{summary}");
    // Answers to the frame's re-sends (sent every 250 ms while the test
    // waited) are late once the first is applied: more unanswered drops
    // than the telemetry above counted, and nothing else.
    assert!(summary.dropped_as("unanswered") >= 2, "{summary}");
    for (class, n) in &summary.dropped {
        if class != "unanswered" {
            assert_eq!(
                value(&t, &format!("dropped_{class}")),
                Some(*n as f64),
                "{class}"
            );
        }
    }
}

#[test]
fn a_seeded_reset_restarts_the_episode_with_no_applied_command() {
    let ep = endpoint(17640);
    let mut client = Client::new(&ep);
    let served = serve(&ep, true, 11);
    client.linked();
    let mut frame = client.frame();
    assert_eq!(frame.applied, Applied::None);
    assert_eq!(
        frame.positions,
        Pendulum::default().reset(11).expect("reset").positions
    );
    for k in 0..5 {
        frame = client.step(&frame, &[torque(k)]);
    }
    // On `cmd` from the controller, then on `admin` from an operator.
    for (episode, seed, admin) in [(1.0, 42, false), (2.0, 43, true)] {
        let bytes = client.reset_bytes(seed);
        if admin {
            client.put_admin(&bytes);
        } else {
            client.put_cmd(&bytes);
        }
        let start = client.frame_after(frame.seq);
        // The first frame names the Reset that asked for the episode.
        let reset_seq = umwelt_protocol::decode_reset(&bytes).expect("reset").seq;
        assert_eq!(start.applied, Applied::Reset(reset_seq), "seed {seed}");
        assert_eq!(start.channel(channels::EPISODE), Some(episode));
        let m = Pendulum::default().reset(seed).expect("reset");
        assert_eq!(
            (start.positions.clone(), start.velocities.clone()),
            (m.positions, m.velocities)
        );
        client.status_where(|s| {
            s.state == NodeState::EpisodeReset && s.message.contains(&format!("seed {seed}"))
        });
        // The same Reset again is a replay.
        if admin {
            client.put_admin(&bytes);
        } else {
            client.put_cmd(&bytes);
        }
        frame = client.step(&start, &[0.3]);
        assert!(matches!(frame.applied, Applied::Command(_)));
    }
    client.telemetry_with_drops(2.0);
    let summary = served.stop();
    assert_eq!(summary.dropped_as("stale"), 2, "{summary}");
    assert_eq!(summary.episodes, 0, "resets cut episodes short");
}

#[test]
fn real_time_applies_fresh_answers_and_the_safe_action_otherwise() {
    let ep = endpoint(17650);
    let mut client = Client::new(&ep);
    let served = serve(&ep, false, 0);
    client.linked();
    let status = client.status_where(|s| s.node == NODE);
    assert_eq!(status.stepping, Stepping::RealTime);
    // Unanswered: every step is the safe action.
    let mut frame = client.frame();
    for _ in 0..5 {
        frame = client.frame_after(frame.seq);
        assert!(
            matches!(frame.applied, Applied::Safe | Applied::None),
            "{:?}",
            frame.applied
        );
    }
    client.status_where(|s| s.state == NodeState::SafeHold);
    // Expired answers are never applied.
    for _ in 0..5 {
        let mut cmd = client.command_for(&frame, vec![0.7]);
        cmd.deadline_ns = wire::now_ns() - 1;
        client.put_cmd(&wire::encode(&Message::MotorCommand(cmd)));
        frame = client.frame_after(frame.seq);
        assert_ne!(frame.efforts, vec![0.7]);
    }
    // Fresh answers to every frame: soon one is in force for a whole step.
    let mut applied = None;
    for _ in 0..500 {
        client.answer(&frame, &[0.25]);
        frame = client.frame_after(frame.seq);
        if let Applied::Command(seq) = frame.applied {
            applied = Some(seq);
            break;
        }
    }
    let seq = applied.expect("a fresh answer was applied");
    assert!(client.sent.iter().any(|(_, c)| *c == seq));
    assert_eq!(frame.efforts, vec![0.25]);
    client.status_where(|s| s.state == NodeState::Running);
    let summary = served.stop();
    assert!(summary.dropped_as("expired") >= 5, "{summary}");
    assert!(summary.commands_applied >= 1 && summary.safe_steps >= 5);
}

/// The pendulum with a camera: a 4x3 grey image whose every pixel is the
/// step count, and a 2x1 depth image of the angle, taken with each reading.
#[derive(Default)]
struct PendulumWithCamera {
    pendulum: Pendulum,
    steps: u8,
}

impl PendulumWithCamera {
    fn see(&self, mut m: Measurement) -> Measurement {
        let angle = m.positions[0].to_le_bytes();
        m.images = vec![
            Image {
                name: "front".into(),
                width: 4,
                height: 3,
                encoding: ImageEncoding::Mono8,
                data: vec![self.steps; 12],
            },
            Image {
                name: "depth".into(),
                width: 2,
                height: 1,
                encoding: ImageEncoding::DepthF32,
                data: [angle, angle].concat(),
            },
        ];
        m
    }
}

impl Robot for PendulumWithCamera {
    fn reset(&mut self, seed: u64) -> Result<Measurement, RobotError> {
        self.steps = 0;
        let m = self.pendulum.reset(seed)?;
        Ok(self.see(m))
    }
    fn step(&mut self, action: &[f32]) -> Result<Measurement, RobotError> {
        self.steps = self.steps.wrapping_add(1);
        let m = self.pendulum.step(action)?;
        Ok(self.see(m))
    }
}

#[test]
fn a_robots_camera_images_travel_in_each_frame_it_takes_them_with() {
    let ep = endpoint(17660);
    let mut client = Client::new(&ep);
    let served = serve_robot(&ep, true, 5, PendulumWithCamera::default());
    client.linked();
    let mut frame = client.frame();
    for k in 0..6u8 {
        assert_eq!(frame.images.len(), 2, "frame {}", frame.seq);
        let (grey, depth) = (&frame.images[0], &frame.images[1]);
        assert_eq!(
            (grey.name.as_str(), grey.width, grey.height),
            ("front", 4, 3)
        );
        assert_eq!(grey.encoding, ImageEncoding::Mono8);
        assert_eq!(grey.data, vec![k; 12], "the image of step {k}");
        assert_eq!(depth.encoding, ImageEncoding::DepthF32);
        let d = f32::from_le_bytes(depth.data[..4].try_into().expect("4 bytes"));
        assert_eq!(d.to_bits(), frame.positions[0].to_bits());
        frame = client.step(&frame, &[torque(k as usize)]);
    }
    served.stop();
}
