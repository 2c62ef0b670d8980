//! The control loop's receiving side: what the zenoh callbacks keep for
//! the control thread (the newest fresh frame, the estop latch, drop counts,
//! the driver's episodes as seen through its frames).

use std::sync::Mutex;
use std::time::Instant;

use crossbeam::channel::{Receiver, Sender, bounded};
use serde::Serialize;
use tracing::warn;

use crate::nodes::node::{self, DropLog};
use crate::nodes::transport::TransportError;
use crate::ros2::link::{LinkSpec, Ros2Link};
use crate::wire::channels::{REWARD, SUCCESS};
use crate::wire::driver::{Accepted, EstopState, InboxKey};
use crate::wire::fresh::FrameGate;
use crate::wire::{self, ErrorClass, Message, NodeState, RobotWireSpec, SensorFrame};

/// One episode seen through the driver's `reward` and `success` channels.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EpisodeSeen {
    /// Sum of the frames' `reward` channel.
    #[serde(rename = "return")]
    pub episode_return: f64,
    /// Frames seen.
    pub frames: u64,
    /// The `success` channel of the last frame.
    pub success: bool,
}

/// The newest valid frame and when it arrived.
pub(super) struct Latest {
    pub(super) frame: SensorFrame,
    pub(super) arrived: Instant,
}

/// Valid frames received, grouped into the driver's episodes.
#[derive(Default)]
pub(super) struct FramesSeen {
    pub(super) count: u64,
    pub(super) finished: Vec<EpisodeSeen>,
    pub(super) current: EpisodeSeen,
}

/// State shared with the zenoh callbacks.
pub(super) struct Shared {
    pub(super) latest: Mutex<Option<Latest>>,
    /// Wakes a frame-triggered loop: one pending notice at most.
    pub(super) new_frame: (Sender<()>, Receiver<()>),
    /// Frames are taken only fresh and in order (`wire::fresh`).
    frame_gate: Mutex<FrameGate>,
    estop: Mutex<EstopState>,
    pub(super) drops: DropLog,
    pub(super) frames: Mutex<FramesSeen>,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            latest: Mutex::default(),
            new_frame: bounded(1),
            frame_gate: Mutex::default(),
            estop: Mutex::default(),
            drops: DropLog::default(),
            frames: Mutex::default(),
        }
    }
}

impl Shared {
    /// Applies an Estop payload that arrived on `key` (engage anywhere,
    /// release only on `admin`, fresh).
    pub(super) fn estop_payload(&self, key: InboxKey, payload: &[u8]) {
        let e = match wire::decode(payload) {
            Ok(Message::Estop(e)) => e,
            // Resets on `admin` address the driver, not the controller.
            Ok(Message::Reset(_)) if key == InboxKey::Admin => return,
            Ok(other) => {
                let e = format!("a {} message does not belong on {key:?}", other.kind());
                return self.drops.record(ErrorClass::WrongKind, "estop", &e);
            }
            Err(e) => return self.drops.record(ErrorClass::from(&e), "estop", &e),
        };
        let Ok(mut latch) = self.estop.lock() else {
            return;
        };
        match latch.apply(key, &e, wire::now_ns()) {
            Ok(Accepted::EstopEngaged(why)) => {
                warn!("estop engaged ({why}): safe action until released on the admin key")
            }
            Ok(Accepted::EstopReleased(why)) => warn!("estop released ({why})"),
            Ok(_) => {}
            Err(d) => self.drops.record(d.class, "estop", &d.why),
        }
    }

    /// Whether the estop is engaged (a poisoned latch counts as engaged).
    pub(super) fn estopped(&self) -> bool {
        self.estop.lock().map_or(true, |l| l.engaged())
    }

    /// The reason given by the last estop message.
    pub(super) fn estop_reason(&self) -> String {
        self.estop
            .lock()
            .map(|l| l.reason().to_string())
            .unwrap_or_default()
    }
}

impl Shared {
    /// A payload from the sensors key: decoded, checked against the robot,
    /// taken only fresh and in order (a replayed or reordered frame must
    /// neither steer the controller nor enter the episode accounting).
    pub(super) fn frame_payload(&self, check: &RobotWireSpec, payload: &[u8]) {
        let Some(frame) = node::accept_frame(payload, check, &self.frame_gate, &self.drops) else {
            return;
        };
        self.take_frame(frame);
    }

    /// A frame mapped from a ROS 2 JointState (`crate::ros2`), or why the
    /// message was refused (counted with the other drops).
    pub(super) fn ros2_frame(&self, res: Result<SensorFrame, crate::ros2::joints::Refused>) {
        match res {
            Ok(frame) => self.take_frame(frame),
            Err(r) => self.drops.record(r.class, "JointState", &r.why),
        }
    }

    /// An accepted frame: counted into the episode, made the newest, and
    /// the loop woken.
    fn take_frame(&self, frame: SensorFrame) {
        if let Ok(mut f) = self.frames.lock() {
            f.count += 1;
            let ep = &mut f.current;
            ep.frames += 1;
            ep.episode_return += f64::from(frame.channel(REWARD).unwrap_or(0.0));
            ep.success = frame.channel(SUCCESS).is_some_and(|v| v > 0.5);
        }
        if let Ok(mut l) = self.latest.lock() {
            *l = Some(Latest {
                frame,
                arrived: Instant::now(),
            });
        }
        let _ = self.new_frame.0.try_send(());
    }

    /// A payload from the status key: the driver's episode resets close an
    /// episode.
    pub(super) fn status_payload(&self, payload: &[u8]) {
        if let Ok(Message::Status(st)) = wire::decode(payload)
            && st.state == NodeState::EpisodeReset
            && let Ok(mut f) = self.frames.lock()
            && f.current.frames > 0
        {
            let done = std::mem::take(&mut f.current);
            f.finished.push(done);
        }
    }
}

/// The ROS 2 node of a robot whose description says `transport = "ros2"`
/// (its JointStates feed `shared`), or `None` for umwelt's own protocol.
pub(super) fn open_ros2<'s>(
    session: &'s zenoh::Session,
    r: &super::resolve::Resolved,
    shared: &std::sync::Arc<Shared>,
) -> Result<Option<Ros2Link<'s>>, TransportError> {
    let Some(settings) = r.description.ros2_settings() else {
        return Ok(None);
    };
    let s = shared.clone();
    let spec = LinkSpec::new(r, &settings);
    Ok(Some(Ros2Link::open(session, &spec, move |res| {
        s.ros2_frame(res)
    })?))
}
