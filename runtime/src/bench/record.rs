//! `umwelt bench record`: the recorder's write speed on real arm sensor
//! frames beside a plain file's, and reading the recording back.

use std::time::Instant;

use serde::Serialize;
use umwelt_sim::Env;

use super::BenchError;
use crate::offline::explore::uniform_action;

/// Options of [`bench_record`].
#[derive(Clone, Debug)]
pub struct RecordBenchOptions {
    /// Sensor frames to record (an arm reaching under random actions).
    pub messages: usize,
    /// An RGB image of this many pixels (width, height) in every frame, of
    /// seeded random bytes (the worst case for compression); none if `None`.
    pub image: Option<(u16, u16)>,
    /// Folder for the two files written (removed at the end).
    pub dir: std::path::PathBuf,
}

/// What `umwelt bench record` measures.
#[derive(Clone, Debug, Serialize)]
pub struct RecordBench {
    /// Frames recorded.
    pub messages: usize,
    /// Bytes of one frame on the wire.
    pub frame_bytes: usize,
    /// Recorder: frames written per second (MCAP, zstd chunks, summary
    /// counts, index and footer, synced to disk).
    pub record_msgs_per_s: f64,
    /// Recorder: payload MB (1e6 bytes) written per second.
    pub record_mb_per_s: f64,
    /// Baseline: the same payloads written back to back to a plain file
    /// (buffered, synced), MB per second.
    pub raw_mb_per_s: f64,
    /// Recorder throughput as a share of the plain file's.
    pub record_vs_raw: f64,
    /// Recording file size over payload bytes (zstd on real sensor data).
    pub file_vs_payload: f64,
    /// Reading the recording back (decompress, frames in order): frames per second.
    pub read_msgs_per_s: f64,
    /// Recorder frames per second as a multiple of a 100 Hz robot's.
    pub record_vs_100hz: f64,
    /// Recorder with the decoded Foxglove channels too (joint states,
    /// `/tf` and the 3D scene from the arm's simulator, images as
    /// `RawImage`): frames per second.
    pub foxglove_msgs_per_s: f64,
    /// The same, payload MB (wire bytes, 1e6) per second, comparable with
    /// `record_mb_per_s`.
    pub foxglove_mb_per_s: f64,
    /// Its throughput as a share of the byte-exact-only recorder's.
    pub foxglove_vs_record: f64,
    /// Its file size over payload bytes.
    pub foxglove_file_vs_payload: f64,
    /// Its frames per second as a multiple of a 100 Hz robot's.
    pub foxglove_vs_100hz: f64,
    /// Rounds timed; every figure is the median round's.
    pub rounds: usize,
}

/// Times [`crate::recording::Recorder`] writing `o.messages` real sensor
/// frames of the arm (as `umwelt sim` publishes them), byte-exact only and
/// with the decoded Foxglove channels, beside writing the same bytes to a
/// plain file, in the same run (interleaved rounds), and reading the
/// recording back.
pub fn bench_record(o: &RecordBenchOptions) -> Result<RecordBench, BenchError> {
    use std::io::Write;

    use rand::{Rng, SeedableRng};

    use crate::recording::foxglove::Decoder;
    use crate::recording::{Recorder, Recording};
    use crate::wire::{self, Image, ImageEncoding, Message, SensorFrame};

    let mut env = Env::new("arm", "reach")?;
    let spec = env.action_spec().clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut obs = env.reset(0)?;
    let mut action = Vec::new();
    let mut payloads = Vec::with_capacity(o.messages);
    for seq in 0..o.messages as u64 {
        let images = match o.image {
            Some((w, h)) => {
                let mut data = vec![0u8; usize::from(w) * usize::from(h) * 3];
                rng.fill(&mut data[..]);
                vec![Image {
                    name: "camera".into(),
                    width: w,
                    height: h,
                    encoding: ImageEncoding::Rgb8,
                    data,
                }]
            }
            None => Vec::new(),
        };
        let frame = SensorFrame {
            seq,
            stamp_ns: 1_700_000_000_000_000_000 + seq * 20_000_000,
            robot: env.robot_name().to_string(),
            applied: umwelt_protocol::Applied::None,
            positions: obs.sensors.positions.clone(),
            velocities: obs.sensors.velocities.clone(),
            efforts: obs.sensors.efforts.clone(),
            channels: env
                .channel_names()
                .iter()
                .cloned()
                .zip(obs.sensors.channels.iter().copied())
                .collect(),
            images,
        };
        payloads.push(wire::encode(&Message::SensorFrame(frame)));
        uniform_action(&spec.entries, &mut rng, &mut action);
        let step = env.step(&action)?;
        obs = if step.terminated || step.truncated {
            env.reset(seq)?
        } else {
            step.observation
        };
    }
    let total: usize = payloads.iter().map(Vec::len).sum();
    std::fs::create_dir_all(&o.dir)?;
    let (mcap_path, raw_path) = (o.dir.join("bench.mcap"), o.dir.join("bench.raw"));

    let foxglove_path = o.dir.join("bench-foxglove.mcap");
    let (mut raw_t, mut record_t, mut foxglove_t) = (Vec::new(), Vec::new(), Vec::new());
    let (mut file_bytes, mut foxglove_bytes) = (0, 0);
    // Interleaved rounds, so that a busy spell of a shared machine falls on
    // all three alike.
    for _ in 0..ROUNDS {
        for p in [&mcap_path, &raw_path, &foxglove_path] {
            if p.exists() {
                std::fs::remove_file(p)?;
            }
        }
        let t = Instant::now();
        let mut raw = std::io::BufWriter::new(std::fs::File::create(&raw_path)?);
        for p in &payloads {
            raw.write_all(p)?;
        }
        raw.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        raw_t.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let mut rec = Recorder::create(&mcap_path, &Default::default())?;
        for (i, p) in payloads.iter().enumerate() {
            rec.write("umwelt/arm/sensors", p, i as u64 * 20_000_000)?;
        }
        rec.finish()?;
        record_t.push(t.elapsed().as_secs_f64());
        file_bytes = std::fs::metadata(&mcap_path)?.len();

        let t = Instant::now();
        let mut rec = Recorder::create(&foxglove_path, &Default::default())?
            .with_foxglove(Decoder::new(Vec::new()));
        for (i, p) in payloads.iter().enumerate() {
            rec.write("umwelt/arm/sensors", p, i as u64 * 20_000_000)?;
        }
        let summary = rec.finish()?;
        foxglove_t.push(t.elapsed().as_secs_f64());
        foxglove_bytes = std::fs::metadata(&foxglove_path)?.len();
        if summary.decoded.get("/tf").copied() != Some(payloads.len() as u64) {
            return Err(format!(
                "the decoded channels hold {:?}, not a /tf message per frame",
                summary.decoded
            )
            .into());
        }
    }
    let (raw_s, record_s, foxglove_s) = (median(raw_t), median(record_t), median(foxglove_t));

    let t = Instant::now();
    let mut read = 0usize;
    let incomplete = Recording::open(&mcap_path)?.scan(|m| {
        read += usize::from(m.payload == payloads[read]);
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    let read_s = t.elapsed().as_secs_f64();
    if read != payloads.len() || incomplete.is_some() {
        return Err(format!("read back {read} of {} frames intact", payloads.len()).into());
    }
    std::fs::remove_file(&mcap_path).ok();
    std::fs::remove_file(&raw_path).ok();
    std::fs::remove_file(&foxglove_path).ok();
    std::fs::remove_dir(&o.dir).ok();
    let n = payloads.len() as f64;
    let mb = total as f64 / 1e6;
    Ok(RecordBench {
        messages: payloads.len(),
        frame_bytes: total / payloads.len().max(1),
        record_msgs_per_s: n / record_s,
        record_mb_per_s: mb / record_s,
        raw_mb_per_s: mb / raw_s,
        record_vs_raw: raw_s / record_s,
        file_vs_payload: file_bytes as f64 / total as f64,
        read_msgs_per_s: n / read_s,
        record_vs_100hz: n / record_s / 100.0,
        foxglove_msgs_per_s: n / foxglove_s,
        foxglove_mb_per_s: mb / foxglove_s,
        foxglove_vs_record: record_s / foxglove_s,
        foxglove_file_vs_payload: foxglove_bytes as f64 / total as f64,
        foxglove_vs_100hz: n / foxglove_s / 100.0,
        rounds: ROUNDS,
    })
}

/// Rounds of [`bench_record`].
const ROUNDS: usize = 3;

/// The median of a few timings.
fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}
