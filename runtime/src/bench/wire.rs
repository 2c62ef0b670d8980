//! `umwelt bench wire`: sensor-frame latency over zenoh on loopback beside
//! raw zenoh put-to-receive of the same size, over one or several links at
//! once: frames and raw messages interleaved message by message across the
//! links, so that every link sees the same machine load.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::{Session, Wait};

use super::Latency;
use crate::nodes::transport::{TransportError, ZenohArgs, free_loopback_endpoint, wait_for_peer};
use crate::wire::{self, Message, RobotWireSpec, SensorFrame};

/// Sensor-frame latency over zenoh on loopback beside raw zenoh.
#[derive(Clone, Debug, Serialize)]
pub struct WireBench {
    /// Encoded frame size in bytes (the raw payload has the same size).
    pub bytes: usize,
    /// Messages per second sent of each kind (interleaved).
    pub rate_hz: f64,
    /// Raw zenoh: put to receive.
    pub raw: Latency,
    /// umwelt frame: encode, put, receive, decode and check against the robot spec.
    pub frame: Latency,
    /// frame p50 / raw p50.
    pub p50_ratio: f64,
    /// frame p99 / raw p99.
    pub p99_ratio: f64,
    /// Frames lost or rejected.
    pub frames_lost: usize,
}

/// Measures publish-to-decoded latency of `messages` arm sensor frames (6
/// joints, 3 channels), interleaved with raw zenoh puts of the same size, at
/// `rate_hz`, between two zenoh sessions linked over TCP loopback.
pub fn bench_wire(messages: usize, rate_hz: f64) -> Result<WireBench, TransportError> {
    let endpoint = free_loopback_endpoint().map_err(|e| TransportError::Open(e.to_string()))?;
    let args = ZenohArgs::at(endpoint);
    let link = WireLink {
        publisher: args.open()?,
        subscriber: args.open()?,
        keys: WIRE_KEYS,
    };
    bench_wire_links(vec![link], messages, rate_hz)?
        .pop()
        .ok_or_else(|| TransportError::Open("no benchmark link".into()))
}

/// Where a link's sensor frames and raw messages go.
#[derive(Clone, Copy, Debug)]
pub struct WireKeys<'a> {
    /// Key of the sensor frames.
    pub frames: &'a str,
    /// Key of the raw messages.
    pub raw: &'a str,
}

/// The keys of the default benchmark.
pub const WIRE_KEYS: WireKeys<'static> = WireKeys {
    frames: "umwelt/bench/sensors",
    raw: "umwelt/bench/raw",
};

/// Two sessions to measure between: `publisher` sends, `subscriber`
/// receives.
pub struct WireLink {
    /// The sending session.
    pub publisher: Session,
    /// The receiving session.
    pub subscriber: Session,
    /// Its keys.
    pub keys: WireKeys<'static>,
}

/// What one link measures with: its publishers, subscribers and samples.
struct Probe<'a> {
    frames: Publisher<'a>,
    raw: Publisher<'a>,
    frame_us: Arc<Mutex<Vec<f64>>>,
    raw_us: Arc<Mutex<Vec<f64>>>,
    _subs: [Subscriber<()>; 2],
}

/// The arm's sensor-frame layout (6 joints, 3 channels).
fn arm_spec() -> RobotWireSpec {
    RobotWireSpec {
        robot: "arm".into(),
        joints: 6,
        channels: vec![
            "to_target_x".into(),
            "to_target_y".into(),
            "to_target_z".into(),
        ],
        actuators: 6,
    }
}

fn declare_err(what: &'static str, key: &str) -> impl FnOnce(zenoh::Error) -> TransportError {
    let key = key.to_string();
    move |e| TransportError::Declare {
        what,
        key,
        message: e.to_string(),
    }
}

fn put_err(key: &str) -> impl FnOnce(zenoh::Error) -> TransportError {
    let key = key.to_string();
    move |e| TransportError::Put {
        key,
        message: e.to_string(),
    }
}

/// Declares `link`'s subscribers (timing what arrives) and publishers.
fn probe<'a>(link: &'a WireLink, messages: usize) -> Result<Probe<'a>, TransportError> {
    let (keys, spec) = (link.keys, arm_spec());
    let frame_us = Arc::new(Mutex::new(Vec::with_capacity(messages)));
    let raw_us = Arc::new(Mutex::new(Vec::with_capacity(messages)));
    let sink = frame_us.clone();
    let fs = link
        .subscriber
        .declare_subscriber(keys.frames)
        .callback(move |s| {
            if let Ok(f) = wire::decode_sensor_frame(&s.payload().to_bytes())
                && spec.check_frame(&f).is_ok()
                && let Ok(mut v) = sink.lock()
            {
                v.push(wire::now_ns().saturating_sub(f.stamp_ns) as f64 / 1e3);
            }
        })
        .wait()
        .map_err(declare_err("subscriber", keys.frames))?;
    let sink = raw_us.clone();
    let rs = link
        .subscriber
        .declare_subscriber(keys.raw)
        .callback(move |s| {
            let bytes = s.payload().to_bytes();
            if let Some(sent) = bytes
                .get(..8)
                .and_then(|h| h.try_into().ok())
                .map(u64::from_le_bytes)
                && let Ok(mut v) = sink.lock()
            {
                v.push(wire::now_ns().saturating_sub(sent) as f64 / 1e3);
            }
        })
        .wait()
        .map_err(declare_err("subscriber", keys.raw))?;
    let publisher = |key: &'static str| {
        link.publisher
            .declare_publisher(key)
            .express(true)
            .wait()
            .map_err(declare_err("publisher", key))
    };
    Ok(Probe {
        frames: publisher(keys.frames)?,
        raw: publisher(keys.raw)?,
        frame_us,
        raw_us,
        _subs: [fs, rs],
    })
}

/// Measures publish-to-decoded latency of `messages` arm sensor frames per
/// link, each interleaved with a raw zenoh put of the same size, at
/// `rate_hz` frames per second per link; the messages go round the links
/// one by one. Every link's sessions must link within 5 s; all are closed
/// at the end. One result per link, in order.
pub fn bench_wire_links(
    links: Vec<WireLink>,
    messages: usize,
    rate_hz: f64,
) -> Result<Vec<WireBench>, TransportError> {
    for l in &links {
        if !(wait_for_peer(&l.publisher, Duration::from_secs(5))
            && wait_for_peer(&l.subscriber, Duration::from_secs(5)))
        {
            return Err(TransportError::Open(
                "the two benchmark sessions did not link".into(),
            ));
        }
    }
    let probes = links
        .iter()
        .map(|l| probe(l, messages))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = arm_spec();
    let mut frame = SensorFrame {
        seq: 0,
        stamp_ns: 0,
        robot: "arm".into(),
        applied: crate::wire::Applied::None,
        positions: vec![0.1; 6],
        velocities: vec![0.2; 6],
        efforts: vec![0.3; 6],
        channels: spec.channels.iter().map(|c| (c.clone(), 0.5)).collect(),
        images: Vec::new(),
    };
    let bytes = wire::encode(&Message::SensorFrame(frame.clone())).len();
    let mut payload = vec![0u8; bytes];
    let mut buf = Vec::with_capacity(bytes);
    // Warm-up: links, buffers, caches.
    for _ in 0..50 {
        for p in &probes {
            p.raw
                .put(payload.clone())
                .wait()
                .map_err(put_err(p.raw.key_expr().as_str()))?;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50));
    for p in &probes {
        p.raw_us.lock().map(|mut v| v.clear()).ok();
    }
    let slots = 2 * probes.len() as u32;
    let period = Duration::from_secs_f64(1.0 / rate_hz.max(1.0)) / slots;
    let mut next = Instant::now();
    for i in 0..messages {
        for slot in 0..slots as usize {
            next += period;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let (p, kind) = (&probes[slot / 2], slot % 2);
            if (i + kind) % 2 == 0 {
                frame.seq = i as u64;
                frame.stamp_ns = wire::now_ns();
                buf.clear();
                wire::encode_into(&Message::SensorFrame(frame.clone()), &mut buf);
                p.frames
                    .put(buf.as_slice())
                    .wait()
                    .map_err(put_err(p.frames.key_expr().as_str()))?;
            } else {
                payload[..8].copy_from_slice(&wire::now_ns().to_le_bytes());
                p.raw
                    .put(payload.as_slice())
                    .wait()
                    .map_err(put_err(p.raw.key_expr().as_str()))?;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let out = probes
        .iter()
        .map(|p| {
            let mut f = p.frame_us.lock().map(|v| v.clone()).unwrap_or_default();
            let mut r = p.raw_us.lock().map(|v| v.clone()).unwrap_or_default();
            let (frame, raw) = (Latency::of(&mut f), Latency::of(&mut r));
            WireBench {
                bytes,
                rate_hz,
                p50_ratio: frame.p50_us / raw.p50_us,
                p99_ratio: frame.p99_us / raw.p99_us,
                frames_lost: messages.saturating_sub(frame.samples),
                raw,
                frame,
            }
        })
        .collect();
    drop(probes);
    for l in links {
        let _ = l.publisher.close().wait();
        let _ = l.subscriber.close().wait();
    }
    Ok(out)
}
