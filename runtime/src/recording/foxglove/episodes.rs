//! `umwelt eval --record FILE.mcap`: evaluation episodes as a recording
//! that Foxglove shows, without zenoh.
//!
//! Each episode is replayed in the robot's simulator from its seed and the
//! commands the evaluation applied (the simulator is deterministic, and
//! every step's reward is checked against the evaluation's to the bit), and
//! written as the wire messages a driver and a controller would have sent:
//! a Reset, then a sensor frame per step answered by a motor command. The
//! recorder writes them byte-exact and decoded, exactly as `umwelt record`
//! does. Time is episode time: the first episode starts at 0 s, each next
//! one a second after the last ended.

use std::collections::BTreeMap;
use std::path::Path;

use umwelt_sim::Env;

use super::Decoder;
use crate::control::resolve::Resolved;
use crate::offline::episode::EpisodeRun;
use crate::recording::{Recorder, RecordingError, RecordingSummary};
use crate::robot::LoadedRobot;
use crate::wire::{self, Applied, Message, MotorCommand, Reset, SensorFrame, channels};

/// Pause between two episodes on the recording's time line, ns.
const GAP_NS: u64 = 1_000_000_000;

/// Writes `runs` (episodes of the robot of `r`, as [`crate::offline::eval`]
/// ran them) to a new MCAP file `path` with the decoded channels. Fails if
/// the robot is not simulated or an episode does not replay identically.
pub fn record_episodes(
    path: &Path,
    r: &Resolved,
    runs: &[EpisodeRun],
) -> Result<RecordingSummary, RecordingError> {
    let fail = |message: String| RecordingError::Replay {
        path: path.to_path_buf(),
        message,
    };
    let sim = r
        .sim
        .clone()
        .ok_or_else(|| fail("only a simulated robot's episodes can be replayed".into()))?;
    let robot = LoadedRobot {
        description: r.description.clone(),
        sim: Some(sim.clone()),
    };
    let mut env = Env::from_config(sim, &r.description.task.name)
        .map_err(|e| fail(format!("the robot's simulator: {e}")))?;
    let metadata = BTreeMap::from([
        ("source".to_string(), "umwelt eval".to_string()),
        ("robot".to_string(), r.wire_name.clone()),
        ("task".to_string(), r.description.task.name.clone()),
        (
            "umwelt_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "time".to_string(),
            "episode time, episodes one after another".to_string(),
        ),
    ]);
    let mut rec = Recorder::create(path, &metadata)?
        .with_foxglove(Decoder::new(vec![(r.wire_name.clone(), robot)]));
    let period_ns = (r.period * 1e9).round() as u64;
    let n_act = r.description.act_dim();
    let names: Vec<String> = env.channel_names().to_vec();
    let sensors = wire::key_expr(&r.wire_name, wire::MessageKind::SensorFrame);
    let cmd = wire::key_expr(&r.wire_name, wire::MessageKind::MotorCommand);
    let mut buf = Vec::new();
    // Episode time; each kind of message counts its own seq, as a driver's
    // frames and a controller's commands do.
    let (mut t, mut frame_seq, mut cmd_seq) = (0u64, 0u64, 0u64);
    let mut put = |rec: &mut Recorder, key: &str, msg: &Message, t: u64| {
        buf.clear();
        wire::encode_into(msg, &mut buf);
        rec.write(key, &buf, t)
    };
    for (k, run) in runs.iter().enumerate() {
        let reset_seq = k as u64 + 1;
        let reset = Message::Reset(Reset {
            seq: reset_seq,
            stamp_ns: t,
            seed: Some(run.seed),
        });
        put(&mut rec, &cmd, &reset, t)?;
        let mut obs = env
            .reset(run.seed)
            .map_err(|e| fail(format!("episode {k}: {e}")))?;
        let (mut reward, mut success, mut applied) = (0.0f32, false, Applied::Reset(reset_seq));
        for i in 0..=run.length as usize {
            frame_seq += 1;
            let mut ch: Vec<(String, f32)> = names
                .iter()
                .cloned()
                .zip(obs.sensors.channels.iter().copied())
                .collect();
            ch.push((channels::REWARD.into(), reward));
            ch.push((channels::SUCCESS.into(), f32::from(u8::from(success))));
            ch.push((channels::EPISODE.into(), k as f32));
            let frame = Message::SensorFrame(SensorFrame {
                seq: frame_seq,
                stamp_ns: t,
                robot: r.wire_name.clone(),
                applied,
                positions: obs.sensors.positions.clone(),
                velocities: obs.sensors.velocities.clone(),
                efforts: obs.sensors.efforts.clone(),
                channels: ch,
                images: Vec::new(),
            });
            put(&mut rec, &sensors, &frame, t)?;
            let Some(action) = run.actions.get(i * n_act..(i + 1) * n_act) else {
                break;
            };
            cmd_seq += 1;
            let command = Message::MotorCommand(MotorCommand {
                seq: cmd_seq,
                stamp_ns: t,
                answers_seq: frame_seq,
                deadline_ns: t + period_ns,
                mode: r.description.actuation.mode,
                values: action.to_vec(),
            });
            put(&mut rec, &cmd, &command, t)?;
            applied = Applied::Command(cmd_seq);
            let step = env
                .step(action)
                .map_err(|e| fail(format!("episode {k}, step {i}: {e}")))?;
            if run.rewards.get(i).map(|r| r.to_bits()) != Some(step.reward.to_bits()) {
                return Err(fail(format!(
                    "episode {k} (seed {}) did not replay identically at step {i}: reward {} replayed as {}",
                    run.seed,
                    run.rewards.get(i).copied().unwrap_or(f32::NAN),
                    step.reward
                )));
            }
            (reward, success, obs) = (step.reward, step.info.success, step.observation);
            t += period_ns;
        }
        t += GAP_NS;
    }
    rec.finish()
}
