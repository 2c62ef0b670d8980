//! A robot served by a driver over zenoh, run as a [`Plant`]: episodes
//! start with a seeded Reset, each step answers the newest frame with a
//! command and waits for the next frame, and each transition is paired
//! with what the driver says it applied (`SensorFrame.applied`).
//!
//! The same client serves lockstep drivers (simulators, which wait for
//! each answer) and real-time ones (hardware, which step on their own
//! clock): in real time the loop is frame-triggered (it answers every
//! frame as it arrives), a command that arrived late is recorded as what
//! was applied instead (the previous command or the safe action), and an
//! episode is cut only where the transition is truly unknown (frames lost,
//! or an episode the driver began on its own).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, bounded};
use serde::{Deserialize, Serialize};
use umwelt_sim::{Measurement, Observation, ObservationMap, SpecEntry, Step, StepInfo};
use zenoh::Session;
use zenoh::Wait;
use zenoh::pubsub::Publisher;

use crate::nodes::node::{self, DropLog};
use crate::nodes::transport::ZenohArgs;
use crate::offline::plant::{Plant, PlantError, PlantStep};
use crate::robot::{PIXEL_ENCODINGS, RobotDescription, TaskJudge};
use crate::wire::channels::EPISODE;
use crate::wire::fresh::FrameGate;
use crate::wire::{
    self, Applied, ErrorClass, Message, MessageKind, MotorCommand, Reset, SensorFrame, Stepping,
};

/// The node name this client's Status messages would carry, and which its
/// own status filter ignores.
pub const REMOTE_NODE_NAME: &str = "controller";

/// How long to wait for a driver's frame before giving up.
#[derive(Clone, Copy, Debug)]
pub struct RemoteTimeouts {
    /// For the first frame of an episode after a Reset.
    pub reset: Duration,
    /// For the frame after a command.
    pub step: Duration,
}

impl Default for RemoteTimeouts {
    fn default() -> Self {
        Self {
            reset: Duration::from_secs(10),
            step: Duration::from_secs(5),
        }
    }
}

/// What happened on the wire, over every episode so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteStats {
    /// Whether the driver stepped in lockstep (from its Status).
    pub lockstep: bool,
    /// Frames received and used.
    pub frames: u64,
    /// Frames the driver sent that never arrived (gaps in `seq`).
    pub frames_missed: u64,
    /// Steps whose command the driver did not apply as sent (it arrived
    /// late, or was dropped): the record holds what was applied.
    pub late_commands: u64,
    /// Steps on which the driver applied the safe action.
    pub safe_steps: u64,
    /// Episodes cut at an unknown transition.
    pub cuts: u64,
    /// Lockstep frames sent again by the driver (an answer was lost).
    pub resent_frames: u64,
    /// Invalid or stale messages dropped, by class.
    pub dropped: Vec<(String, u64)>,
}

impl RemoteStats {
    /// Adds the counts of `other` (another part of one evaluation, on
    /// another robot or driver): counts sum, drops by class, and
    /// `lockstep` holds only if it held for both.
    pub fn absorb(&mut self, other: &RemoteStats) {
        self.lockstep &= other.lockstep;
        self.frames += other.frames;
        self.frames_missed += other.frames_missed;
        self.late_commands += other.late_commands;
        self.safe_steps += other.safe_steps;
        self.cuts += other.cuts;
        self.resent_frames += other.resent_frames;
        for (class, n) in &other.dropped {
            match self.dropped.iter_mut().find(|(c, _)| c == class) {
                Some((_, m)) => *m += n,
                None => self.dropped.push((class.clone(), *n)),
            }
        }
    }
}

/// A robot behind its driver, as a [`Plant`]. See the module documentation.
pub struct RemoteRobot {
    session: Session,
    cmd: Publisher<'static>,
    frames: Receiver<SensorFrame>,
    drops: Arc<DropLog>,
    stepping: Arc<AtomicU8>,
    _subscribers: Vec<zenoh::pubsub::Subscriber<()>>,
    description: RobotDescription,
    wire_name: String,
    actions: Vec<SpecEntry>,
    observation: ObservationMap,
    judge: TaskJudge,
    safe: Vec<f32>,
    channel_names: Vec<String>,
    timeouts: RemoteTimeouts,
    deadline: Duration,
    /// The newest frame, which the next command answers.
    current: Option<SensorFrame>,
    /// This episode's commands, newest last: (seq, values).
    sent: VecDeque<(u64, Vec<f32>)>,
    seq: u64,
    last_reset_seq: u64,
    steps: u32,
    episode: Option<f32>,
    stats: RemoteStats,
    buf: Vec<u8>,
}

/// Stepping byte values in the shared atomic.
const UNKNOWN: u8 = u8::MAX;

impl RemoteRobot {
    /// Connects to the robot served as `wire_name` (`umwelt/<wire_name>/…`)
    /// by a driver, for the robot and task of `description`. Commands
    /// expire `deadline` after they are sent.
    pub fn connect(
        zenoh: &ZenohArgs,
        wire_name: &str,
        description: RobotDescription,
        deadline: Duration,
        timeouts: RemoteTimeouts,
    ) -> Result<Self, PlantError> {
        let remote = |e: String| PlantError::Remote(e);
        let observation = description
            .observation_map()
            .map_err(|e| remote(e.to_string()))?;
        let judge = TaskJudge::new(&description).map_err(remote)?;
        let actions: Vec<SpecEntry> = description
            .action_spec()
            .into_iter()
            .map(|f| SpecEntry::new(f.name, f.low, f.high, f.unit))
            .collect();
        let session = zenoh.open().map_err(|e| remote(e.to_string()))?;
        let drops = Arc::new(DropLog::default());
        let stepping = Arc::new(AtomicU8::new(UNKNOWN));
        let (tx, rx) = bounded::<SensorFrame>(256);
        let spec = description.wire_spec(wire_name);
        let gate_drops = drops.clone();
        let frames_sub = node::subscriber(&session, wire_name, MessageKind::SensorFrame, {
            let gate = std::sync::Mutex::new(FrameGate::new());
            move |sample| {
                let bytes = sample.payload().to_bytes();
                if let Some(f) = node::accept_frame(&bytes, &spec, &gate, &gate_drops) {
                    let _ = tx.try_send(f);
                }
            }
        })
        .map_err(|e| remote(e.to_string()))?;
        let st = stepping.clone();
        let status_drops = drops.clone();
        let status_sub =
            node::subscriber(&session, wire_name, MessageKind::Status, move |sample| {
                match wire::decode_status(&sample.payload().to_bytes()) {
                    Ok(s) if s.node != REMOTE_NODE_NAME => {
                        st.store(s.stepping as u8, Ordering::SeqCst)
                    }
                    Ok(_) => {}
                    Err(e) => status_drops.record(ErrorClass::from(&e), "status", &e),
                }
            })
            .map_err(|e| remote(e.to_string()))?;
        // An owned key: the publisher borrows nothing.
        let cmd: Publisher<'static> = session
            .declare_publisher(wire::key_expr(wire_name, MessageKind::MotorCommand))
            .express(true)
            .wait()
            .map_err(|e| remote(format!("declaring the command publisher: {e}")))?;
        Ok(Self {
            session,
            cmd,
            frames: rx,
            drops,
            stepping,
            _subscribers: vec![frames_sub, status_sub],
            safe: description.safe_action(),
            channel_names: description.channel_names(),
            description,
            wire_name: wire_name.to_string(),
            actions,
            observation,
            judge,
            timeouts,
            deadline,
            current: None,
            sent: VecDeque::new(),
            seq: 0,
            last_reset_seq: 0,
            steps: 0,
            episode: None,
            stats: RemoteStats::default(),
            buf: Vec::with_capacity(256),
        })
    }

    /// What happened on the wire so far.
    pub fn stats(&self) -> RemoteStats {
        let mut s = self.stats.clone();
        s.lockstep = self.stepping.load(Ordering::SeqCst) == Stepping::Lockstep as u8;
        s.dropped = self.drops.by_class();
        s
    }

    /// Whether the driver said it steps in lockstep (`None`: no Status
    /// heard from it yet).
    pub fn driver_stepping(&self) -> Option<Stepping> {
        Stepping::from_u8(self.stepping.load(Ordering::SeqCst))
    }

    fn measurement(&self, f: &SensorFrame) -> Measurement {
        Measurement {
            positions: f.positions.clone(),
            velocities: f.velocities.clone(),
            efforts: f.efforts.clone(),
            // Checked against the wire spec on arrival: every channel the
            // description lists is present.
            channels: self
                .channel_names
                .iter()
                .map(|n| f.channel(n).unwrap_or(0.0))
                .collect(),
        }
    }

    fn observation(&self, f: &SensorFrame) -> Observation {
        let sensors = self.measurement(f);
        let vector = self.observation.vector(&sensors);
        Observation { sensors, vector }
    }

    fn put(&mut self, msg: &Message) {
        node::put(&self.cmd, msg, &mut self.buf);
    }

    fn send_command(&mut self, answers: &SensorFrame, values: &[f32]) {
        self.seq += 1;
        let now = wire::now_ns();
        let deadline_ns =
            now.saturating_add(u64::try_from(self.deadline.as_nanos()).unwrap_or(u64::MAX));
        let msg = Message::MotorCommand(MotorCommand {
            seq: self.seq,
            stamp_ns: now,
            answers_seq: answers.seq,
            // In lockstep the driver needs a deadline past the frame's
            // newest stamp; a re-sent frame is newer than `now` may be.
            deadline_ns: deadline_ns.max(answers.stamp_ns.saturating_add(1)),
            mode: self.description.actuation.mode,
            values: values.to_vec(),
        });
        self.put(&msg);
        self.sent.push_back((self.seq, values.to_vec()));
        if self.sent.len() > 64 {
            self.sent.pop_front();
        }
    }

    /// The next frame newer than `after` (by seq), re-answering re-sent
    /// copies of `after` in lockstep with `values`.
    fn next_frame(
        &mut self,
        after: &SensorFrame,
        values: Option<&[f32]>,
        timeout: Duration,
    ) -> Result<SensorFrame, PlantError> {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let f = self.frames.recv_timeout(left).map_err(|_| {
                PlantError::Remote(format!(
                    "no frame from the driver within {:.1} s after frame {}: is it running on {}?",
                    timeout.as_secs_f64(),
                    after.seq,
                    wire::key_expr(&after.robot, MessageKind::SensorFrame)
                ))
            })?;
            if f.seq == after.seq {
                // The driver sent the frame again: our answer was lost.
                self.stats.resent_frames += 1;
                if let Some(v) = values {
                    self.send_command(&f, v);
                }
                continue;
            }
            return Ok(f);
        }
    }
}

impl Plant for RemoteRobot {
    fn images(
        &mut self,
        cameras: &[String],
        out: &mut Vec<crate::wire::Image>,
    ) -> Result<(), PlantError> {
        let Some(f) = &self.current else {
            return Err(PlantError::Remote("images before reset".into()));
        };
        crate::offline::plant::resize_images(out, cameras.len());
        for (name, im) in cameras.iter().zip(out.iter_mut()) {
            // A camera may send several images under one name (colour and
            // depth): the one a pixel model reads, as a description's camera
            // chooses it (what pixel models and datasets keep).
            let named = || f.images.iter().filter(|i| &i.name == name);
            let Some(got) = PIXEL_ENCODINGS
                .iter()
                .find_map(|e| named().find(|i| i.encoding == *e))
                .or_else(|| named().next())
            else {
                let have: Vec<&str> = f.images.iter().map(|i| i.name.as_str()).collect();
                return Err(PlantError::Camera(format!(
                    "frame {} of {} has no image from camera `{name}` (it has: {})",
                    f.seq,
                    self.wire_name,
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                )));
            };
            // A described camera's images are checked against it before a
            // dataset or a model sees them.
            if let Some(d) = self.description.camera(name)
                && ((got.width, got.height) != (d.width, d.height)
                    || !d.encodings.contains(&got.encoding))
            {
                return Err(PlantError::Camera(format!(
                    "frame {} of {}: camera `{name}` sent a {}x{} {} image; its description says {}x{} {}",
                    f.seq,
                    self.wire_name,
                    got.width,
                    got.height,
                    got.encoding.name(),
                    d.width,
                    d.height,
                    d.encodings
                        .iter()
                        .map(|e| e.name())
                        .collect::<Vec<_>>()
                        .join(" or ")
                )));
            }
            im.clone_from(got);
        }
        Ok(())
    }

    fn action_entries(&self) -> &[SpecEntry] {
        &self.actions
    }

    fn episode_steps(&self) -> usize {
        self.description.task.episode_steps as usize
    }

    fn control_period(&self) -> f64 {
        self.description.control_period
    }

    fn reset(&mut self, seed: u64) -> Result<Observation, PlantError> {
        // The Reset's seq comes back in the first frame of its episode
        // (`Applied::Reset`); a clock reading keeps it unique across runs.
        let reset_seq = wire::now_ns().max(self.last_reset_seq + 1);
        self.last_reset_seq = reset_seq;
        self.put(&Message::Reset(Reset {
            seq: reset_seq,
            stamp_ns: wire::now_ns(),
            seed: Some(seed),
        }));
        let until = Instant::now() + self.timeouts.reset;
        let mut last_resend = Instant::now();
        // The first frame of the episode our Reset asked for, not one the
        // driver began on its own meanwhile.
        let first = loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PlantError::Remote(format!(
                    "no first frame within {:.1} s of a Reset (seed {seed}): is a driver serving {}, \
                     and does its episode's first frame say `applied = reset` with the Reset's seq (docs/PROTOCOL.md)?",
                    self.timeouts.reset.as_secs_f64(),
                    wire::key_expr(&self.wire_name, MessageKind::SensorFrame)
                )));
            }
            match self
                .frames
                .recv_timeout(left.min(Duration::from_millis(500)))
            {
                Ok(f) if f.applied == Applied::Reset(reset_seq) => break f,
                Ok(_) => {}
                Err(_) if last_resend.elapsed() >= Duration::from_secs(1) => {
                    // A driver that came up after our Reset missed it.
                    last_resend = Instant::now();
                    self.put(&Message::Reset(Reset {
                        seq: reset_seq,
                        stamp_ns: wire::now_ns(),
                        seed: Some(seed),
                    }));
                }
                Err(_) => {}
            }
        };
        self.stats.frames += 1;
        self.sent.clear();
        self.steps = 0;
        self.judge.reset();
        self.episode = first.channel(EPISODE);
        let obs = self.observation(&first);
        self.current = Some(first);
        Ok(obs)
    }

    fn step(&mut self, action: &[f32]) -> Result<PlantStep, PlantError> {
        let Some(current) = self.current.take() else {
            return Err(PlantError::Remote("step before reset".into()));
        };
        self.send_command(&current, action);
        let next = self.next_frame(&current, Some(action), self.timeouts.step)?;
        self.stats.frames += 1;
        let gap = next.seq.saturating_sub(current.seq);
        let new_episode = next.channel(EPISODE) != self.episode;
        let obs = self.observation(&next);
        let mut cut = gap != 1 || new_episode || next.seq < current.seq;
        if gap > 1 {
            self.stats.frames_missed += gap - 1;
        }
        let our = self.seq;
        let applied = match next.applied {
            _ if cut => None,
            Applied::Command(s) if s == our => None,
            Applied::Command(s) => match self.sent.iter().find(|(q, _)| *q == s) {
                Some((_, v)) => {
                    self.stats.late_commands += 1;
                    Some(v.clone())
                }
                None => {
                    cut = true;
                    None
                }
            },
            Applied::Safe => {
                self.stats.late_commands += 1;
                self.stats.safe_steps += 1;
                Some(self.safe.clone())
            }
            Applied::None | Applied::Reset(_) => {
                cut = true;
                None
            }
        };
        if cut {
            self.stats.cuts += 1;
        }
        self.steps += 1;
        let reward = self.judge.reward(&obs.sensors);
        let success = self.judge.step(&obs.sensors, reward);
        let truncated = self.steps >= self.description.task.episode_steps;
        let step = Step {
            observation: obs,
            reward,
            terminated: false,
            truncated,
            info: StepInfo {
                success,
                step: self.steps,
                time: f64::from(self.steps) * self.description.control_period,
                diverged: false,
            },
        };
        self.current = Some(next);
        Ok(PlantStep { step, applied, cut })
    }
}

impl Drop for RemoteRobot {
    fn drop(&mut self) {
        // Leave the robot at the safe action, whatever the episode was.
        if let Some(f) = self.current.take() {
            let safe = self.safe.clone();
            self.send_command(&f, &safe);
        }
        let _ = self.session.close().wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_two_parts_add_up() {
        let mut a = RemoteStats {
            lockstep: true,
            frames: 10,
            cuts: 1,
            dropped: vec![("stale".into(), 2)],
            ..RemoteStats::default()
        };
        let b = RemoteStats {
            lockstep: false,
            frames: 5,
            frames_missed: 3,
            dropped: vec![("stale".into(), 1), ("malformed".into(), 4)],
            ..RemoteStats::default()
        };
        a.absorb(&b);
        assert!(!a.lockstep);
        assert_eq!((a.frames, a.frames_missed, a.cuts), (15, 3, 1));
        assert_eq!(
            a.dropped,
            [("stale".to_string(), 3), ("malformed".to_string(), 4)]
        );
    }
}
