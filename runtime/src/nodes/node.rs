//! What every umwelt zenoh node shares: declaring a robot's publishers and
//! subscribers, counting and logging dropped messages.

use std::fmt::Display;
use std::sync::Mutex;
use std::time::Instant;

use tracing::warn;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::sample::Sample;
use zenoh::{Session, Wait};

use umwelt_sim::{ActuationMode, Env};

use crate::nodes::transport::TransportError;
use crate::wire::fresh::{FrameGate, FrameOrder};
use crate::wire::{
    self, CommandMode, DropCounter, ErrorClass, Message, MessageKind, RobotWireSpec, SensorFrame,
};

/// A controller's view of a payload from a robot's sensors key: decoded,
/// checked against `spec`, and taken by `gate` only fresh and in order (a
/// replayed or reordered frame must neither steer a controller nor enter
/// an episode). What fails is counted in `drops` and `None` returned; a
/// driver's restart is logged.
pub fn accept_frame(
    payload: &[u8],
    spec: &RobotWireSpec,
    gate: &Mutex<FrameGate>,
    drops: &DropLog,
) -> Option<SensorFrame> {
    let frame = match wire::decode_sensor_frame(payload) {
        Err(e) => {
            drops.record(ErrorClass::from(&e), "sensor frame", &e);
            return None;
        }
        Ok(f) => f,
    };
    if let Err(e) = spec.check_frame(&frame) {
        drops.record(ErrorClass::Spec, "sensor frame", &e);
        return None;
    }
    let order = gate.lock().ok()?.accept(&frame, wire::now_ns());
    match order {
        Err(class) => {
            let e = format!("seq {} stamped {} ns: not fresh", frame.seq, frame.stamp_ns);
            drops.record(class, "sensor frame", &e);
            return None;
        }
        Ok(FrameOrder::Restarted) => {
            tracing::info!(
                "the driver restarted: frames number from {} again",
                frame.seq
            )
        }
        Ok(_) => {}
    }
    Some(frame)
}

/// What a robot's messages must look like, from its (simulated) model.
pub fn wire_spec(env: &Env, name: &str) -> RobotWireSpec {
    RobotWireSpec {
        robot: name.to_string(),
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
    Ok(umwelt_driver::transport::publisher(
        session, robot, kind, express,
    )?)
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
    subscriber_on(session, wire::key_expr(robot, kind), f)
}

/// Declares a subscriber to the key expression `key`, calling `f` on
/// zenoh's thread for each sample.
pub fn subscriber_on<F>(
    session: &Session,
    key: String,
    f: F,
) -> Result<Subscriber<()>, TransportError>
where
    F: Fn(Sample) + Send + Sync + 'static,
{
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

/// Dropped messages, counted by class and logged at most once a second,
/// with a watch for sustained invalid traffic.
#[derive(Default)]
pub struct DropLog(Mutex<DropState>);

#[derive(Default)]
struct DropState {
    counter: DropCounter,
    /// The total at the last [`DropLog::second_passed`].
    total_then: u64,
    /// Consecutive seconds with at least [`ALARM_PER_SECOND`] drops.
    busy_seconds: u32,
}

/// Invalid messages per second that count towards an alarm.
pub const ALARM_PER_SECOND: u64 = 10;
/// Consecutive such seconds that raise it.
pub const ALARM_SECONDS: u32 = 3;

impl DropLog {
    /// Counts a dropped `what` and logs why, rate-limited.
    pub fn record(&self, class: ErrorClass, what: &str, err: &dyn Display) {
        let Ok(mut d) = self.0.lock() else { return };
        d.counter.record(class);
        if d.counter.should_log(Instant::now()) {
            warn!(
                "dropped a {} {what}: {err} ({} dropped so far)",
                if class.is_freshness() {
                    "stale or unauthorised"
                } else {
                    "malformed"
                },
                d.counter.total()
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
            .filter(|c| d.counter.count(**c) > 0)
            .map(|c| (c.name().to_string(), d.counter.count(*c)))
            .collect()
    }

    /// One line for status messages, e.g. `3 dropped (stale 1, expired 2)`.
    pub fn summary(&self) -> String {
        self.0
            .lock()
            .map(|d| d.counter.to_string())
            .unwrap_or_default()
    }

    /// Telemetry values: `dropped` (the total) and `dropped_<class>` for
    /// every class, so monitors see a class appear.
    pub fn telemetry_values(&self) -> Vec<(String, f64)> {
        let Ok(d) = self.0.lock() else {
            return Vec::new();
        };
        std::iter::once(("dropped".to_string(), d.counter.total() as f64))
            .chain(
                ErrorClass::ALL
                    .iter()
                    .map(|c| (format!("dropped_{}", c.name()), d.counter.count(*c) as f64)),
            )
            .collect()
    }

    /// Call once a second: an alarm sentence when at least
    /// [`ALARM_PER_SECOND`] invalid messages arrived in each of the last
    /// [`ALARM_SECONDS`] seconds (sustained invalid traffic: a broken or
    /// hostile peer), else `None`.
    pub fn second_passed(&self) -> Option<String> {
        let Ok(mut d) = self.0.lock() else {
            return None;
        };
        let total = d.counter.total();
        let new = total.saturating_sub(d.total_then);
        d.total_then = total;
        if new >= ALARM_PER_SECOND {
            d.busy_seconds = d.busy_seconds.saturating_add(1);
        } else {
            d.busy_seconds = 0;
        }
        (d.busy_seconds >= ALARM_SECONDS).then(|| {
            format!(
                "under attack? {new} invalid messages in the last second, {} s running ({})",
                d.busy_seconds, d.counter
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sustained_invalid_traffic_raises_an_alarm_and_a_lull_clears_it() {
        let log = DropLog::default();
        let burst = |n: u64| {
            for _ in 0..n {
                log.record(ErrorClass::Stale, "frame", &"replayed");
            }
        };
        for second in 1..=ALARM_SECONDS {
            burst(ALARM_PER_SECOND);
            let alarm = log.second_passed();
            assert_eq!(alarm.is_some(), second == ALARM_SECONDS, "second {second}");
        }
        burst(ALARM_PER_SECOND);
        let alarm = log.second_passed().expect("still under attack");
        assert!(
            alarm.contains("under attack?") && alarm.contains("stale"),
            "{alarm}"
        );
        burst(ALARM_PER_SECOND - 1);
        assert_eq!(log.second_passed(), None, "a quieter second clears it");
        let values = log.telemetry_values();
        assert_eq!(values[0], ("dropped".to_string(), 49.0));
        assert!(values.contains(&("dropped_stale".to_string(), 49.0)));
        assert!(values.contains(&("dropped_expired".to_string(), 0.0)));
        assert_eq!(log.summary(), "49 dropped (stale 49)");
    }
}
