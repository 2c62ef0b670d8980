//! What the zenoh callbacks share with the driver's loop: the protocol's
//! [`DriverInbox`] (which commands, estops and resets to act on), the drop
//! counts, the frame→command round trips seen, and a wake-up for a loop
//! waiting on news.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing::warn;
use umwelt_protocol::driver::{Accepted, DriverInbox, InboxKey};
use umwelt_protocol::{DropCounter, ErrorClass, decode_motor_command, now_ns};

/// Invalid messages per second that count towards an "under attack?" alarm.
pub const ALARM_PER_SECOND: u64 = 10;
/// Consecutive such seconds that raise it.
pub const ALARM_SECONDS: u32 = 3;
/// Round trips kept for the summary (about an hour at 1 kHz is more than a
/// run needs; the oldest are not dropped, later ones are not kept).
const MAX_ROUND_TRIPS: usize = 1 << 22;

/// The inbox and its companions, behind one lock each so that a callback
/// never waits for the loop's step.
pub(crate) struct Shared {
    inbox: Mutex<DriverInbox>,
    drops: Mutex<Drops>,
    /// The newest frame published (seq, when), to time its answer.
    newest: Mutex<Option<(u64, Instant)>>,
    round_trips_us: Mutex<Vec<f32>>,
    wake: SyncSender<()>,
}

#[derive(Default)]
struct Drops {
    counter: DropCounter,
    total_then: u64,
    busy_seconds: u32,
}

/// A zenoh callback panicked while holding the inbox: the driver cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the driver's inbox was poisoned by a panic in a zenoh callback")]
pub struct Poisoned;

impl Shared {
    /// The shared state around `inbox`, and the receiving end of its
    /// wake-up (one pending wake-up at most: news is news once).
    pub(crate) fn new(inbox: DriverInbox) -> (Self, Receiver<()>) {
        let (wake, woken) = sync_channel(1);
        let shared = Self {
            inbox: Mutex::new(inbox),
            drops: Mutex::new(Drops::default()),
            newest: Mutex::new(None),
            round_trips_us: Mutex::new(Vec::new()),
            wake,
        };
        (shared, woken)
    }

    /// Hands a payload that arrived on `key` to the inbox (a zenoh
    /// callback): counts and logs drops, logs estops, times answers to the
    /// newest frame, and wakes the loop when it has news.
    pub(crate) fn receive(&self, key: InboxKey, payload: &[u8]) {
        let arrived = Instant::now();
        let Ok(mut inbox) = self.inbox.lock() else {
            return;
        };
        let outcome = inbox.receive(key, payload, now_ns());
        drop(inbox);
        match outcome {
            Err(d) => {
                self.record_drop(d.class, &d.why);
                return;
            }
            Ok(Accepted::EstopEngaged(why)) => {
                warn!("estop engaged ({why}): safe action until released on the admin key")
            }
            Ok(Accepted::EstopReleased(why)) => warn!("estop released ({why})"),
            Ok(Accepted::Superseded) => return,
            Ok(Accepted::Command) => self.time_answer(payload, arrived),
            Ok(Accepted::Reset(_)) => {}
        }
        // Full means a wake-up is already pending, which is as good.
        let _ = self.wake.try_send(());
    }

    /// Records how long after the newest frame's publication a command
    /// answering it arrived.
    fn time_answer(&self, payload: &[u8], arrived: Instant) {
        let Ok(cmd) = decode_motor_command(payload) else {
            return;
        };
        let sent = self.newest.lock().ok().and_then(|n| *n);
        if let Some((seq, at)) = sent
            && seq == cmd.answers_seq
            && let Ok(mut v) = self.round_trips_us.lock()
            && v.len() < MAX_ROUND_TRIPS
        {
            v.push(arrived.saturating_duration_since(at).as_secs_f32() * 1e6);
        }
    }

    /// Counts a dropped message and logs why, at most once a second.
    pub(crate) fn record_drop(&self, class: ErrorClass, why: &str) {
        let Ok(mut d) = self.drops.lock() else { return };
        d.counter.record(class);
        if d.counter.should_log(Instant::now()) {
            warn!(
                "dropped a {} message: {why} ({} dropped so far)",
                if class.is_freshness() {
                    "stale or unauthorised"
                } else {
                    "malformed"
                },
                d.counter.total()
            );
        }
    }

    /// The inbox, locked.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, DriverInbox>, Poisoned> {
        self.inbox.lock().map_err(|_| Poisoned)
    }

    /// Notes a frame just published (a re-send included) in the inbox and
    /// for timing its answer.
    pub(crate) fn frame_sent(&self, seq: u64, stamp_ns: u64) -> Result<(), Poisoned> {
        if let Ok(mut n) = self.newest.lock() {
            *n = Some((seq, Instant::now()));
        }
        self.lock()?.frame_sent(seq, stamp_ns);
        Ok(())
    }

    /// The drop counts by class (classes with none left out).
    pub(crate) fn dropped(&self) -> Vec<(String, u64)> {
        let Ok(d) = self.drops.lock() else {
            return Vec::new();
        };
        ErrorClass::ALL
            .iter()
            .filter(|c| d.counter.count(**c) > 0)
            .map(|c| (c.name().to_string(), d.counter.count(*c)))
            .collect()
    }

    /// One line for status messages, e.g. `3 dropped (stale 1, expired 2)`.
    pub(crate) fn drop_line(&self) -> String {
        self.drops
            .lock()
            .map(|d| d.counter.to_string())
            .unwrap_or_default()
    }

    /// Telemetry values: `dropped` (the total) and `dropped_<class>` for
    /// every class, so that monitors see a class appear.
    pub(crate) fn drop_values(&self) -> Vec<(String, f64)> {
        let Ok(d) = self.drops.lock() else {
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

    /// Call once a second: an alarm sentence while at least
    /// [`ALARM_PER_SECOND`] invalid messages arrived in each of the last
    /// [`ALARM_SECONDS`] seconds (a broken or hostile peer), else `None`.
    pub(crate) fn second_passed(&self) -> Option<String> {
        let Ok(mut d) = self.drops.lock() else {
            return None;
        };
        let total = d.counter.total();
        let new = total.saturating_sub(d.total_then);
        d.total_then = total;
        d.busy_seconds = if new >= ALARM_PER_SECOND {
            d.busy_seconds.saturating_add(1)
        } else {
            0
        };
        (d.busy_seconds >= ALARM_SECONDS).then(|| {
            format!(
                "under attack? {new} invalid messages in the last second, {} s running ({})",
                d.busy_seconds, d.counter
            )
        })
    }

    /// The frame→command round trips seen so far after the first `from`,
    /// in µs, in arrival order, and how many were seen in all.
    pub(crate) fn round_trips_us(&self, from: usize) -> (Vec<f32>, usize) {
        self.round_trips_us
            .lock()
            .map(|v| (v.get(from..).unwrap_or_default().to_vec(), v.len()))
            .unwrap_or_default()
    }
}

/// Waits for a wake-up on `woken` for at most `timeout`.
pub(crate) fn wait(woken: &Receiver<()>, timeout: Duration) {
    let _ = woken.recv_timeout(timeout);
}

#[cfg(test)]
mod tests {
    use super::*;
    use umwelt_protocol::{CommandMode, Estop, Message, RobotWireSpec, encode};

    fn shared() -> (Shared, Receiver<()>) {
        let spec = RobotWireSpec {
            robot: "r".into(),
            joints: 1,
            channels: Vec::new(),
            actuators: 1,
        };
        Shared::new(DriverInbox::new(spec, CommandMode::Torque, false))
    }

    #[test]
    fn sustained_invalid_traffic_raises_an_alarm_and_a_lull_clears_it() {
        let (s, _woken) = shared();
        let burst = |n: u64| (0..n).for_each(|_| s.receive(InboxKey::Cmd, b"junk"));
        for second in 1..=ALARM_SECONDS {
            burst(ALARM_PER_SECOND);
            assert_eq!(s.second_passed().is_some(), second == ALARM_SECONDS);
        }
        burst(ALARM_PER_SECOND - 1);
        assert_eq!(s.second_passed(), None);
        assert_eq!(s.dropped(), vec![("bad_magic".to_string(), 39)]);
        assert_eq!(s.drop_values()[0], ("dropped".to_string(), 39.0));
        assert_eq!(s.drop_line(), "39 dropped (bad_magic 39)");
    }

    #[test]
    fn an_estop_wakes_the_loop_and_a_release_off_admin_is_counted() {
        let (s, woken) = shared();
        let estop = |engage| {
            encode(&Message::Estop(Estop {
                seq: 1,
                stamp_ns: now_ns(),
                engage,
                reason: "test".into(),
            }))
        };
        s.receive(InboxKey::Estop, &estop(true));
        assert!(woken.try_recv().is_ok());
        assert!(s.lock().expect("lock").estop().engaged());
        s.receive(InboxKey::Estop, &estop(false));
        assert!(woken.try_recv().is_err(), "a dropped release is no news");
        assert!(s.lock().expect("lock").estop().engaged());
        assert_eq!(s.dropped(), vec![("unauthorised".to_string(), 1)]);
    }
}
