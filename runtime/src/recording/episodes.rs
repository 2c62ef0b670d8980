//! Turning a recording of a robot into training episodes: what `umwelt
//! collect --from-recording` writes into a dataset.
//!
//! A transition is a sensor frame, the action the driver applied for the
//! step that followed it, and the next frame. The action is what the next
//! frame says was applied (`SensorFrame::applied`, protocol version 2):
//! the values of the recorded command it names, or the robot's safe
//! action; which recorded command a `seq` means is decided by
//! [`super::pairing`]. Observation vectors come from the frames through the
//! task's observation map (as the control loop builds them), and the
//! reward and success follow the robot description's task rule, applied to
//! the next frame: the `reward` and `success` channels for umwelt's own
//! robots (what `umwelt sim` publishes; a driver can publish them too), or
//! terms over the frame's features for a description that defines them. This is exact whenever the
//! driver says what it applied, in lockstep and in real time alike: a
//! command that reached the driver after the step it answered is counted
//! as late and not imported as if it had been on time.
//!
//! With a camera named, each episode also keeps that camera's image of
//! every one of its frames (RGB or grey; the dataset's frames file beside
//! the episode), for a pixel model; a step whose frames lack the image is
//! cut, like a step whose action is unknown.
//!
//! An episode runs while the frames' `episode` channel (if any) stays the
//! same. It is cut only where the action is truly unknown (frames lost, a
//! restarted driver, a frame that does not say what was applied, a command
//! not in the recording): what is known before and after a cut is kept, as
//! separate episodes, and every cut is counted by reason. Every episode is
//! marked truncated (to be bootstrapped, as at a time limit): a recording
//! does not say whether a task terminated.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use serde::Serialize;
use umwelt_models::dataset::Episode;
use umwelt_sim::Measurement;

use super::pairing::{self, CommandRef, CutReason, FrameRef, Link, StepAction};
use super::{Recording, RecordingError};
use crate::robot::{RobotDescription, TaskJudge};
use crate::wire::channels::EPISODE;
use crate::wire::{self, DecodeError, ImageEncoding, Message, MessageKind, SensorFrame};

/// What [`episodes`] found and made. Every pair of consecutive frames is
/// exactly one of: an episode boundary, an imported transition, or a cut,
/// so `boundaries + transitions + sum(cuts) = frames - repeated_frames - 1`;
/// and `transitions = applied_as_answered + applied_held + safe_steps`.
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
    /// wire messages, do not fit the robot, or command another actuation
    /// mode (counted, skipped).
    pub invalid: u64,
    /// Of the invalid messages, those of another protocol version (a
    /// driver or controller of version 1 says nothing of what it applied).
    pub other_version: u64,
    /// Episodes made.
    pub episodes: usize,
    /// Transitions in them.
    pub transitions: u64,
    /// Transitions whose action is the command that answered their first
    /// frame.
    pub applied_as_answered: u64,
    /// Transitions whose action is a command answering an earlier frame,
    /// still in force because the answer to their first frame was late or
    /// missing.
    pub applied_held: u64,
    /// Transitions whose action is the robot's safe action.
    pub safe_steps: u64,
    /// Commands that reached the driver too late for the step they
    /// answered (the next frame reports another action): imported as what
    /// was really applied, never as if on time.
    pub late_commands: u64,
    /// Commands replaced in time by a later answer to the same frame.
    pub superseded_commands: u64,
    /// Consecutive frames of different episodes (no transition between).
    pub boundaries: u64,
    /// Steps not imported because their action is unknown, by reason
    /// ([`CutReason::key`]).
    pub cuts: BTreeMap<String, u64>,
    /// Why the recording ends early, if it does.
    pub incomplete: Option<String>,
}

impl ImportReport {
    /// Steps cut, all reasons together.
    pub fn cut_total(&self) -> u64 {
        self.cuts.values().sum()
    }

    /// The report's counts in a few lines for people: the transitions by
    /// the action imported, late commands, and each cut's reason.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} frames ({} repeated), {} commands, {} invalid messages{}\n\
             {} transitions imported: {} with the command answering their frame, {} with an \
             earlier command still in force, {} with the safe action\n\
             {} late commands (reached the driver after the step they answered; imported as \
             what was applied instead), {} superseded in time\n\
             {} episode boundaries, {} steps cut",
            self.frames,
            self.repeated_frames,
            self.commands,
            self.invalid,
            if self.other_version > 0 {
                format!(
                    " ({} of another protocol version, which does not say what was applied)",
                    self.other_version
                )
            } else {
                String::new()
            },
            self.transitions,
            self.applied_as_answered,
            self.applied_held,
            self.safe_steps,
            self.late_commands,
            self.superseded_commands,
            self.boundaries,
            self.cut_total(),
        );
        for r in CutReason::ALL {
            if let Some(n) = self.cuts.get(r.key()) {
                s.push_str(&format!("\n  {n} cut: {}", r.describe()));
            }
        }
        s
    }
}

/// The episodes of the traffic of the robot served as `robot` (its wire
/// name) in `recording`, for `description`'s robot and task (observation,
/// channels, actuators and mode, reward and success rule). With
/// `zero_rewards`, frames need no reward channel and rewards are stored as
/// 0 (a model trained on them can plan towards goal observations, not for
/// the task's reward). With `camera`, every episode keeps that camera's
/// images (see the module docs); a camera whose first image is depth, or
/// that no frame carries, is an error.
///
/// Frames that lack a channel the description lists (bar `episode` and the
/// success channel, read where present), or the reward channel without
/// `zero_rewards`, are an error: the episodes would be wrong.
pub fn episodes(
    recording: &Recording,
    robot: &str,
    description: &RobotDescription,
    zero_rewards: bool,
    camera: Option<&str>,
) -> Result<(Vec<Episode>, ImportReport), RecordingError> {
    let path = recording.path().to_path_buf();
    let refuse = |message: String| RecordingError::Import {
        path: path.clone(),
        message,
    };
    let d = description;
    let mut judge = TaskJudge::new(d).map_err(|e| refuse(format!("robot description: {e}")))?;
    let sensors_key = wire::key_expr(robot, MessageKind::SensorFrame);
    let cmd_key = wire::key_expr(robot, MessageKind::MotorCommand);
    // The channels a frame must carry: the `episode` channel and the
    // success channel are read where present (a recording from hardware
    // may lack them), the reward channel unless rewards are not imported.
    let reward_channel = d.task.reward.channel.clone();
    let mut spec = d.wire_spec(robot);
    spec.channels.retain(|c| {
        c != EPISODE
            && Some(c) != d.task.success.channel.as_ref()
            && !(zero_rewards && Some(c) == reward_channel.as_ref())
    });
    let mode = d.actuation.mode;
    let mut report = ImportReport::default();
    // Each frame once (a re-sent one extends its last hearing), beside what
    // the pairing needs of it.
    let mut frames: Vec<SensorFrame> = Vec::new();
    let mut refs: Vec<FrameRef> = Vec::new();
    let mut commands: Vec<CommandRef> = Vec::new();
    report.incomplete = recording.scan(|m| {
        if m.key != sensors_key && m.key != cmd_key {
            return Ok(ControlFlow::Continue(()));
        }
        match wire::decode(&m.payload) {
            Ok(Message::SensorFrame(f)) if m.key == sensors_key => {
                if let Some(c) = reward_channel.as_deref().filter(|_| !zero_rewards)
                    && f.channel(c).is_none()
                {
                    return Err(refuse(format!(
                        "frame {} on {sensors_key} has no `{c}` channel: publish the \
                         task's reward as that channel, or import with zero rewards \
                         (--zero-rewards) for a model that plans towards goal observations",
                        f.seq
                    )));
                }
                spec.check_frame(&f).map_err(|e| {
                    refuse(format!(
                        "frame {} on {sensors_key}: {e}; is this a recording of `{robot}` \
                         running the task `{}`?",
                        f.seq, d.task.name
                    ))
                })?;
                report.frames += 1;
                let mut f = f;
                // Only the imported camera's image is kept: a long
                // recording's other images would fill the memory.
                f.images.retain(|im| Some(im.name.as_str()) == camera);
                match refs.last_mut() {
                    Some(last) if last.seq == f.seq => {
                        report.repeated_frames += 1;
                        last.last_log_ns = last.last_log_ns.max(m.log_time_ns);
                    }
                    _ => {
                        refs.push(FrameRef {
                            seq: f.seq,
                            applied: f.applied,
                            episode: f.channel(EPISODE),
                            first_log_ns: m.log_time_ns,
                            last_log_ns: m.log_time_ns,
                        });
                        frames.push(f);
                    }
                }
            }
            Ok(Message::MotorCommand(c)) if m.key == cmd_key => {
                // A command the driver would refuse was never applied.
                if spec.check_command(&c).is_err() || c.mode != mode {
                    report.invalid += 1;
                } else {
                    report.commands += 1;
                    commands.push(CommandRef {
                        seq: c.seq,
                        answers_seq: c.answers_seq,
                        log_ns: m.log_time_ns,
                        values: c.values,
                    });
                }
            }
            // Resets and other kinds on these keys carry no transition.
            Ok(_) => {}
            Err(e) => {
                report.invalid += 1;
                if matches!(e, DecodeError::UnsupportedVersion { .. }) {
                    report.other_version += 1;
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if report.frames == 0 {
        let keys = recording.summary().keys.into_keys().collect::<Vec<_>>();
        return Err(refuse(format!(
            "no sensor frames of `{robot}` on {sensors_key}{}; the recording holds: {}",
            if report.other_version > 0 {
                format!(
                    " of this protocol version ({} messages of another version)",
                    report.other_version
                )
            } else {
                String::new()
            },
            if keys.is_empty() {
                "nothing".to_string()
            } else {
                keys.join(", ")
            }
        )));
    }
    let eye = match camera {
        Some(name) => Some(Eye::of(name, &frames).map_err(refuse)?),
        None => None,
    };
    let map = d
        .observation_map()
        .map_err(|e| refuse(format!("robot description: {e}")))?;
    let channel_names = d.channel_names();
    let measure = |f: &SensorFrame| Measurement {
        positions: f.positions.clone(),
        velocities: f.velocities.clone(),
        efforts: f.efforts.clone(),
        channels: channel_names
            .iter()
            .map(|c| f.channel(c).unwrap_or(0.0))
            .collect(),
    };
    let observe = |f: &SensorFrame| map.vector(&measure(f));
    let safe = d.safe_action();
    let mut out = Vec::new();
    let mut current: Option<Episode> = None;
    for (i, link) in pairing::links(&refs, &commands).into_iter().enumerate() {
        let (f, next) = (&frames[i], &frames[i + 1]);
        let action = match link {
            Link::Boundary => {
                report.boundaries += 1;
                None
            }
            Link::Cut(why) => {
                *report.cuts.entry(why.key().to_string()).or_default() += 1;
                None
            }
            Link::Step { .. } if eye.as_ref().is_some_and(|e| !e.sees(f) || !e.sees(next)) => {
                let why = CutReason::ImageMissing;
                *report.cuts.entry(why.key().to_string()).or_default() += 1;
                None
            }
            Link::Step {
                action,
                late,
                superseded,
            } => {
                report.late_commands += late;
                report.superseded_commands += superseded;
                Some(match action {
                    StepAction::Answered(c) => {
                        report.applied_as_answered += 1;
                        commands[c].values.as_slice()
                    }
                    StepAction::Held(c) => {
                        report.applied_held += 1;
                        commands[c].values.as_slice()
                    }
                    StepAction::Safe => {
                        report.safe_steps += 1;
                        safe.as_slice()
                    }
                })
            }
        };
        let Some(action) = action else {
            if let Some(done) = current.take()
                && !done.rewards.is_empty()
            {
                out.push(done);
            }
            continue;
        };
        if current.is_none() {
            judge.reset();
            let seed = f.channel(EPISODE).map_or(i as u64, |e| e as u64);
            let mut ep = Episode::begin(seed, &observe(f), 0, 0);
            ep.end(false, true, false);
            if let Some(eye) = &eye {
                eye.keep(f, &mut ep).map_err(refuse)?;
            }
            current = Some(ep);
        }
        let Some(ep) = current.as_mut() else {
            continue;
        };
        let m = measure(next);
        let task_reward = judge.reward(&m);
        let reward = if zero_rewards { 0.0 } else { task_reward };
        ep.push_step(action, reward, &map.vector(&m));
        if let Some(eye) = &eye {
            eye.keep(next, ep).map_err(refuse)?;
        }
        ep.success = judge.step(&m, task_reward);
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

/// The camera whose images an import keeps, at the size and encoding of
/// its first image in the recording.
struct Eye {
    name: String,
    width: u16,
    height: u16,
    encoding: ImageEncoding,
}

impl Eye {
    /// The camera `name` as the first frame carrying it shows it; an error
    /// if no frame does, or if it is a depth camera.
    fn of(name: &str, frames: &[SensorFrame]) -> Result<Self, String> {
        let first = frames
            .iter()
            .find_map(|f| f.images.iter().find(|im| im.name == name))
            .ok_or_else(|| {
                format!(
                    "no frame carries an image of the camera `{name}`: is it the camera's name?"
                )
            })?;
        if !matches!(first.encoding, ImageEncoding::Rgb8 | ImageEncoding::Mono8) {
            return Err(format!(
                "camera `{name}` sends {:?} images; a pixel model learns from RGB or grey ones",
                first.encoding
            ));
        }
        Ok(Self {
            name: name.to_string(),
            width: first.width,
            height: first.height,
            encoding: first.encoding,
        })
    }

    /// The camera's image in `f`, if it has the camera's size and encoding.
    fn image<'f>(&self, f: &'f SensorFrame) -> Option<&'f wire::Image> {
        f.images.iter().find(|im| {
            im.name == self.name
                && (im.width, im.height, im.encoding) == (self.width, self.height, self.encoding)
        })
    }

    fn sees(&self, f: &SensorFrame) -> bool {
        self.image(f).is_some()
    }

    /// Appends `f`'s image to the episode's frames.
    fn keep(&self, f: &SensorFrame, ep: &mut Episode) -> Result<(), String> {
        let im = self
            .image(f)
            .ok_or_else(|| format!("frame {} lacks the camera `{}`", f.seq, self.name))?;
        let channels = im.encoding.bytes_per_pixel() as u8;
        ep.push_frame(im.width, im.height, channels, &im.data)
            .map_err(|e| format!("camera `{}`, frame {}: {e}", self.name, f.seq))
    }
}
