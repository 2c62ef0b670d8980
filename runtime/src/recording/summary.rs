//! What a recording holds, key by key.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::wire;

/// What a recording holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RecordingSummary {
    /// Messages on all keys.
    pub messages: u64,
    /// Payload bytes on all keys.
    pub bytes: u64,
    /// Log time of the first message, ns since the UNIX epoch.
    pub start_ns: Option<u64>,
    /// Log time of the last message.
    pub end_ns: Option<u64>,
    /// Seconds from the first message to the last.
    pub duration_s: f64,
    /// Each key's share, by key expression.
    pub keys: BTreeMap<String, KeySummary>,
    /// Why the file ends before its MCAP footer (a recorder that was
    /// killed); the messages before that point are all there.
    pub incomplete: Option<String>,
    /// Messages on the decoded channels (Foxglove's, see
    /// [`super::foxglove`]), by topic; not counted in `messages`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub decoded: BTreeMap<String, u64>,
}

/// One key's share of a recording.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KeySummary {
    /// Messages.
    pub messages: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Messages per second over the recording's span on this key.
    pub rate_hz: f64,
    /// Valid messages by kind (`SensorFrame`, `MotorCommand`, ...).
    pub kinds: BTreeMap<String, u64>,
    /// Payloads that are not valid wire messages.
    pub invalid: u64,
    /// Sensor frames and motor commands whose `seq` is not one more than
    /// the previous one's of their kind on this key: frames or commands
    /// lost on the way to the recorder, or a sender that restarted.
    /// (Status and telemetry are left out: several nodes share their keys,
    /// each with its own count.)
    pub seq_breaks: u64,
    /// `seq` of the last sensor frame or motor command.
    #[serde(skip)]
    last_seq: [Option<u64>; 2],
    /// Log time of the first and the last message on this key.
    #[serde(skip)]
    span_ns: Option<(u64, u64)>,
}

impl RecordingSummary {
    /// Counts one message: its key, payload and log time.
    pub fn add(&mut self, key: &str, payload: &[u8], log_time_ns: u64) {
        self.messages += 1;
        self.bytes += payload.len() as u64;
        self.start_ns = Some(self.start_ns.map_or(log_time_ns, |s| s.min(log_time_ns)));
        self.end_ns = Some(self.end_ns.map_or(log_time_ns, |e| e.max(log_time_ns)));
        if let (Some(s), Some(e)) = (self.start_ns, self.end_ns) {
            self.duration_s = (e - s) as f64 * 1e-9;
        }
        let k = match self.keys.get_mut(key) {
            Some(k) => k,
            None => self.keys.entry(key.to_string()).or_default(),
        };
        k.messages += 1;
        k.bytes += payload.len() as u64;
        k.span_ns = Some(k.span_ns.map_or((log_time_ns, log_time_ns), |(a, b)| {
            (a.min(log_time_ns), b.max(log_time_ns))
        }));
        if let Some((a, b)) = k.span_ns
            && b > a
        {
            // Intervals between messages per second of span.
            k.rate_hz = (k.messages - 1) as f64 / ((b - a) as f64 * 1e-9);
        }
        match wire::decode(payload) {
            Ok(msg) => {
                *k.kinds.entry(msg.kind().name().to_string()).or_default() += 1;
                let slot = match msg.kind() {
                    wire::MessageKind::SensorFrame => Some(0),
                    wire::MessageKind::MotorCommand => Some(1),
                    _ => None,
                };
                if let Some(i) = slot {
                    let seq = msg.seq();
                    // The same seq again is a resend (a lockstep simulator
                    // repeats a frame nobody answered), not a loss.
                    if k.last_seq[i].is_some_and(|prev| seq != prev.wrapping_add(1) && seq != prev)
                    {
                        k.seq_breaks += 1;
                    }
                    k.last_seq[i] = Some(seq);
                }
            }
            Err(_) => k.invalid += 1,
        }
    }

    /// A few lines for people: the span, then one line per key.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} messages, {:.1} KiB, over {:.2} s on {} keys\n",
            self.messages,
            self.bytes as f64 / 1024.0,
            self.duration_s,
            self.keys.len()
        );
        for (key, k) in &self.keys {
            let kinds: Vec<String> = k.kinds.iter().map(|(n, c)| format!("{c} {n}")).collect();
            s.push_str(&format!(
                "  {key:<36} {:>8} msgs {:>8.1} Hz  {}{}{}\n",
                k.messages,
                k.rate_hz,
                if kinds.is_empty() {
                    "-".to_string()
                } else {
                    kinds.join(", ")
                },
                if k.invalid > 0 {
                    format!("; {} invalid", k.invalid)
                } else {
                    String::new()
                },
                if k.seq_breaks > 0 {
                    format!("; {} seq breaks", k.seq_breaks)
                } else {
                    String::new()
                },
            ));
        }
        if !self.decoded.is_empty() {
            s.push_str(&format!(
                "  and {} decoded messages on {} Foxglove topics ({})\n",
                self.decoded.values().sum::<u64>(),
                self.decoded.len(),
                self.decoded.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(why) = &self.incomplete {
            s.push_str(&format!(
                "  incomplete: {why} (the recorder was probably killed; everything before is here)\n"
            ));
        }
        s
    }
}
