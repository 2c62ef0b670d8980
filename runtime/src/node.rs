//! What every umwelt zenoh node shares: declaring a robot's publishers and
//! subscribers, counting and logging dropped messages, and the estop latch.

use std::fmt::Display;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tracing::warn;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::sample::Sample;
use zenoh::{Session, Wait};

use umwelt_sim::{ActuationMode, Env};

use crate::transport::TransportError;
use crate::wire::{
    self, CommandMode, DropCounter, ErrorClass, Estop, Message, MessageKind, RobotWireSpec,
};

/// What a robot's messages must look like, from its (simulated) model.
pub fn wire_spec(env: &Env) -> RobotWireSpec {
    RobotWireSpec {
        robot: env.robot_name().to_string(),
        joints: env.joint_names().len(),
        channels: env.channel_names().to_vec(),
        actuators: env.action_spec().len(),
    }
}

/// The command mode that drives actuators of `mode`.
pub fn command_mode(mode: ActuationMode) -> CommandMode {
    match mode {
        ActuationMode::Torque => CommandMode::Torque,
        ActuationMode::Velocity => CommandMode::Velocity,
    }
}

/// Declares the publisher of `kind` messages for `robot`; `express` sends
/// each message at once instead of batching (for the control path).
pub fn publisher<'a>(
    session: &'a Session,
    robot: &str,
    kind: MessageKind,
    express: bool,
) -> Result<Publisher<'a>, TransportError> {
    let key = wire::key_expr(robot, kind);
    session
        .declare_publisher(key.clone())
        .express(express)
        .wait()
        .map_err(|e| TransportError::Declare {
            what: "publisher",
            key,
            message: e.to_string(),
        })
}

/// Declares a subscriber to `kind` messages for `robot`, calling `f` on
/// zenoh's thread for each sample.
pub fn subscriber<F>(
    session: &Session,
    robot: &str,
    kind: MessageKind,
    f: F,
) -> Result<Subscriber<()>, TransportError>
where
    F: Fn(Sample) + Send + Sync + 'static,
{
    let key = wire::key_expr(robot, kind);
    session
        .declare_subscriber(key.clone())
        .callback(f)
        .wait()
        .map_err(|e| TransportError::Declare {
            what: "subscriber",
            key,
            message: e.to_string(),
        })
}

/// Encodes `msg` into `buf` (reused) and publishes it; a failure is logged,
/// not fatal: the next message may go through.
pub fn put(publisher: &Publisher<'_>, msg: &Message, buf: &mut Vec<u8>) {
    buf.clear();
    wire::encode_into(msg, buf);
    if let Err(e) = publisher.put(buf.as_slice()).wait() {
        warn!("publishing on {}: {e}", publisher.key_expr());
    }
}

/// Dropped messages, counted by class and logged at most once a second.
#[derive(Default)]
pub struct DropLog(Mutex<DropCounter>);

impl DropLog {
    /// Counts a dropped `what` and logs why, rate-limited.
    pub fn record(&self, class: ErrorClass, what: &str, err: &dyn Display) {
        let Ok(mut d) = self.0.lock() else { return };
        d.record(class);
        if d.should_log(Instant::now()) {
            warn!(
                "dropped an invalid {what}: {err} ({} dropped so far)",
                d.total()
            );
        }
    }

    /// Counts by class name, for summaries (classes with none left out).
    pub fn by_class(&self) -> Vec<(String, u64)> {
        let Ok(d) = self.0.lock() else {
            return Vec::new();
        };
        ErrorClass::ALL
            .iter()
            .filter(|c| d.count(**c) > 0)
            .map(|c| (c.name().to_string(), d.count(*c)))
            .collect()
    }
}

/// An emergency stop: engaged by an `Estop { engage: true }`, released only
/// by an explicit `Estop { engage: false }`.
#[derive(Default)]
pub struct EstopLatch {
    engaged: AtomicBool,
    reason: Mutex<String>,
}

impl EstopLatch {
    /// Applies an estop message.
    pub fn apply(&self, e: &Estop) {
        if e.engage {
            warn!("estop engaged ({}): safe action until released", e.reason);
        } else {
            warn!("estop released ({})", e.reason);
        }
        if let Ok(mut r) = self.reason.lock() {
            r.clone_from(&e.reason);
        }
        self.engaged.store(e.engage, Ordering::SeqCst);
    }

    /// Whether the stop is engaged.
    pub fn engaged(&self) -> bool {
        self.engaged.load(Ordering::SeqCst)
    }

    /// The reason given by the last estop message.
    pub fn reason(&self) -> String {
        self.reason.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
