//! Playing a recording back at its recorded pace.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{RecordedMessage, Recording, RecordingError};
use crate::wire;

/// How [`play`] paces the messages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// At the recorded intervals divided by this factor (1: as recorded,
    /// 2: twice as fast). Must be finite and positive.
    Speed(f64),
    /// One after another, as fast as the publisher takes them.
    Fast,
}

/// What [`play`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlayReport {
    /// Messages published.
    pub messages: u64,
    /// Messages the selection left out.
    pub skipped: u64,
    /// Messages published, by key.
    pub keys: BTreeMap<String, u64>,
    /// Seconds between the first and the last published message's log
    /// times.
    pub recorded_s: f64,
    /// Seconds the playback took.
    pub wall_s: f64,
    /// Latest any message was published after its due time, ms (0 when
    /// not paced): how well the playback kept the recorded timing.
    pub late_max_ms: f64,
    /// Stopped (Ctrl-C) before the end.
    pub stopped: bool,
    /// Why the recording ended before its footer, if it did; everything
    /// before that point was played.
    pub incomplete: Option<String>,
}

/// Hands `recording`'s messages that `select` accepts to
/// `publish`, in recorded order, each when its offset from the first
/// selected message has passed (under `pace`), until the end or until
/// `stop` is set. A message recorded slightly out of time order is sent
/// right after its predecessor, never before it.
///
/// A recording that ends early is played up to the damage and reported
/// in [`PlayReport::incomplete`]; a channel of another encoding, or an
/// error from `publish`, stops the playback with an error.
pub fn play(
    recording: &Recording,
    select: &dyn Fn(&RecordedMessage) -> bool,
    pace: Pace,
    stop: &AtomicBool,
    publish: &mut dyn FnMut(&RecordedMessage) -> Result<(), String>,
) -> Result<PlayReport, RecordingError> {
    if let Pace::Speed(f) = pace
        && !(f.is_finite() && f > 0.0)
    {
        return Err(RecordingError::Speed(f));
    }
    let mut report = PlayReport::default();
    let start = Instant::now();
    let mut first_ns: Option<u64> = None;
    let mut last_ns = 0;
    let mut due = Duration::ZERO;
    report.incomplete = recording.scan(|m| {
        if !select(&m) {
            report.skipped += 1;
            return Ok(ControlFlow::Continue(()));
        }
        let t0 = *first_ns.get_or_insert(m.log_time_ns);
        last_ns = last_ns.max(m.log_time_ns);
        if let Pace::Speed(f) = pace {
            // `div_f64`, saturating instead of panicking for a tiny `f`.
            let since = Duration::from_nanos(m.log_time_ns.saturating_sub(t0)).as_secs_f64();
            due = due.max(Duration::try_from_secs_f64(since / f).unwrap_or(Duration::MAX));
            loop {
                if stop.load(Ordering::SeqCst) {
                    report.stopped = true;
                    return Ok(ControlFlow::Break(()));
                }
                let now = start.elapsed();
                if now >= due {
                    let late = (now - due).as_secs_f64() * 1e3;
                    report.late_max_ms = report.late_max_ms.max(late);
                    break;
                }
                // Wake now and then to notice a stop during a long pause.
                std::thread::sleep((due - now).min(Duration::from_millis(50)));
            }
        } else if stop.load(Ordering::SeqCst) {
            report.stopped = true;
            return Ok(ControlFlow::Break(()));
        }
        publish(&m).map_err(|message| RecordingError::Publish {
            key: m.key.clone(),
            message,
        })?;
        report.messages += 1;
        *report.keys.entry(m.key).or_default() += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    report.recorded_s = first_ns.map_or(0.0, |t0| (last_ns - t0) as f64 * 1e-9);
    report.wall_s = start.elapsed().as_secs_f64();
    Ok(report)
}

/// `payload` with its `stamp_ns` set to `stamp_ns`, so that a receiver's
/// latency and age figures refer to the replay rather than the recording;
/// `None` when it is not a valid message (replay it unchanged). A motor
/// command keeps its recorded `deadline_ns`, which has passed: restamped or
/// not, a replayed command is one a driver ignores.
pub fn restamp(payload: &[u8], stamp_ns: u64) -> Option<Vec<u8>> {
    let mut msg = wire::decode(payload).ok()?;
    msg.set_stamp_ns(stamp_ns);
    Some(wire::encode(&msg))
}

/// Whether `payload` is a message that acts on a robot when received: an
/// estop (engaging or releasing it) or an episode reset. A replay withholds
/// these unless asked: releasing a real robot's estop, or making it reset,
/// because a recording says so, is not what anyone replaying a log means.
/// (Motor commands are harmless: their deadlines have passed.)
pub fn acts_on_robot(payload: &[u8]) -> bool {
    wire::peek_header(payload)
        .is_ok_and(|h| matches!(h.kind, wire::MessageKind::Estop | wire::MessageKind::Reset))
}
