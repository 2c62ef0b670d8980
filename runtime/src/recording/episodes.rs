//! Turning a recording of a robot into training episodes: what `umwelt
//! collect --from-recording` writes into a dataset.
//!
//! A transition is a sensor frame, the command that answered it
//! (`answers_seq`) and the next frame: observation vectors come from the
//! frames through the task's observation map (as the control loop builds
//! them), the action is the command's values, and the reward is the next
//! frame's `reward` channel (what `umwelt sim` publishes; a driver can
//! publish it too). This is exact for a lockstep simulator, whose step
//! applies the first command answering its frame, and a close
//! approximation in real time when commands arrive within the period.
//!
//! An episode runs while the frames' `episode` channel (if any) stays the
//! same and their `seq` counts up by one. It is cut where that fails, and
//! where a frame has no answering command (the action applied then is
//! unknown): what is known before and after the cut is kept, as separate
//! episodes. Every episode is marked truncated (to be bootstrapped, as at
//! a time limit): a recording does not say whether a task terminated.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

use serde::Serialize;
use umwelt_models::dataset::Episode;
use umwelt_sim::{Env, Measurement};

use super::{Recording, RecordingError};
use crate::wire::channels::{EPISODE, REWARD, SUCCESS};
use crate::wire::{self, Message, MessageKind, SensorFrame};

/// What [`episodes`] found and made.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Valid sensor frames of the robot.
    pub frames: u64,
    /// Frames sent again with the same `seq` (a lockstep simulator resends
    /// a frame nobody answered), counted once.
    pub repeated_frames: u64,
    /// Valid motor commands of the robot.
    pub commands: u64,
    /// Messages on the robot's sensor and command keys that are not valid
    /// wire messages, or do not fit the robot (counted, skipped).
    pub invalid: u64,
    /// Episodes made.
    pub episodes: usize,
    /// Transitions in them.
    pub transitions: u64,
    /// Where and why episodes were cut short, by reason.
    pub cuts: BTreeMap<String, u64>,
    /// Why the recording ends early, if it does.
    pub incomplete: Option<String>,
}

/// The episodes of `robot`'s traffic in `recording`, for `env`'s task (its
/// observation map, channels and action size). With `zero_rewards`, frames
/// need no `reward` channel and rewards are stored as 0 (a model trained on
/// them can plan towards goal observations, not for the task's reward).
///
/// Frames that lack a channel the task observes, or a `reward` channel
/// without `zero_rewards`, are an error: the episodes would be wrong.
pub fn episodes(
    recording: &Recording,
    robot: &str,
    env: &Env,
    zero_rewards: bool,
) -> Result<(Vec<Episode>, ImportReport), RecordingError> {
    let path = recording.path().to_path_buf();
    let refuse = |message: String| RecordingError::Import {
        path: path.clone(),
        message,
    };
    let sensors_key = wire::key_expr(robot, MessageKind::SensorFrame);
    let cmd_key = wire::key_expr(robot, MessageKind::MotorCommand);
    let spec = crate::nodes::node::wire_spec(env);
    let mut report = ImportReport::default();
    let mut frames: Vec<SensorFrame> = Vec::new();
    // The first command answering each frame, beside it.
    let mut actions: Vec<Option<Vec<f32>>> = Vec::new();
    // The newest frame of each seq: a command answers the frame with its
    // `answers_seq` sent last before it (a sender that restarts reuses seqs).
    let mut newest: HashMap<u64, usize> = HashMap::new();
    // Commands the recorder heard before their frame (the two come over
    // different links, so their order at the recorder is not guaranteed).
    let mut early: HashMap<u64, Vec<f32>> = HashMap::new();
    report.incomplete = recording.scan(|m| {
        if m.key != sensors_key && m.key != cmd_key {
            return Ok(ControlFlow::Continue(()));
        }
        match wire::decode(&m.payload) {
            Ok(Message::SensorFrame(f)) if m.key == sensors_key => {
                spec.check_frame(&f).map_err(|e| {
                    refuse(format!(
                        "frame {} on {sensors_key}: {e}; is this a recording of `{robot}` \
                         running the task `{}`?",
                        f.seq,
                        env.task_name()
                    ))
                })?;
                if !zero_rewards && f.channel(REWARD).is_none() {
                    return Err(refuse(format!(
                        "frame {} on {sensors_key} has no `{REWARD}` channel: publish the \
                         task's reward as that channel, or import with zero rewards \
                         (--zero-rewards) for a model that plans towards goal observations",
                        f.seq
                    )));
                }
                report.frames += 1;
                if frames.last().is_some_and(|p| p.seq == f.seq) {
                    report.repeated_frames += 1;
                } else {
                    newest.insert(f.seq, frames.len());
                    actions.push(early.remove(&f.seq));
                    frames.push(f);
                }
            }
            Ok(Message::MotorCommand(c)) if m.key == cmd_key => {
                if spec.check_command(&c).is_err() {
                    report.invalid += 1;
                } else {
                    report.commands += 1;
                    match newest.get(&c.answers_seq) {
                        Some(&i) => {
                            actions[i].get_or_insert(c.values);
                        }
                        None => {
                            early.entry(c.answers_seq).or_insert(c.values);
                        }
                    }
                }
            }
            // Resets and other kinds on these keys carry no transition.
            Ok(_) => {}
            Err(_) => report.invalid += 1,
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if report.frames == 0 {
        let keys = recording.summary().keys.into_keys().collect::<Vec<_>>();
        return Err(refuse(format!(
            "no sensor frames of `{robot}` on {sensors_key}; the recording holds: {}",
            if keys.is_empty() {
                "nothing".to_string()
            } else {
                keys.join(", ")
            }
        )));
    }
    let map = env.observation_map();
    let channel_names = env.channel_names();
    let observe = |f: &SensorFrame| {
        let m = Measurement {
            positions: f.positions.clone(),
            velocities: f.velocities.clone(),
            efforts: f.efforts.clone(),
            channels: channel_names
                .iter()
                .map(|c| f.channel(c).unwrap_or(0.0))
                .collect(),
        };
        map.vector(&m)
    };
    let mut out = Vec::new();
    let mut current: Option<Episode> = None;
    for (i, f) in frames.iter().enumerate() {
        let ep = current.get_or_insert_with(|| {
            let seed = f.channel(EPISODE).map_or(i as u64, |e| e as u64);
            let mut ep = Episode::begin(seed, &observe(f), 0, 0);
            let success = f.channel(SUCCESS).is_some_and(|s| s > 0.5);
            ep.end(false, true, success);
            ep
        });
        let Some(next) = frames.get(i + 1) else {
            break;
        };
        let same_episode = f.channel(EPISODE) == next.channel(EPISODE);
        let consecutive = next.seq == f.seq.wrapping_add(1);
        let action = actions[i].as_ref();
        let why = match (same_episode, consecutive, action) {
            (false, _, _) => None,
            (true, false, _) => Some("frames lost or the sender restarted"),
            (true, true, None) => Some("a frame nobody answered"),
            (true, true, Some(a)) => {
                let reward = if zero_rewards {
                    0.0
                } else {
                    next.channel(REWARD).unwrap_or(0.0)
                };
                ep.push_step(a, reward, &observe(next));
                ep.success = next.channel(SUCCESS).is_some_and(|s| s > 0.5);
                continue;
            }
        };
        if let Some(why) = why {
            *report.cuts.entry(why.to_string()).or_default() += 1;
        }
        if let Some(done) = current.take()
            && !done.rewards.is_empty()
        {
            out.push(done);
        }
    }
    if let Some(done) = current.take()
        && !done.rewards.is_empty()
    {
        out.push(done);
    }
    report.episodes = out.len();
    report.transitions = out.iter().map(|e| e.rewards.len() as u64).sum();
    Ok((out, report))
}
