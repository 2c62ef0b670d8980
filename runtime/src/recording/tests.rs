use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::wire::{self, CommandMode, Message, MotorCommand, SensorFrame};

/// A fresh folder for one test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Self {
        let d =
            std::env::temp_dir().join(format!("umwelt-recording-{test}-{}", std::process::id()));
        std::fs::remove_dir_all(&d).ok();
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn frame(seq: u64) -> Vec<u8> {
    wire::encode(&Message::SensorFrame(SensorFrame {
        seq,
        stamp_ns: 5_000 + seq,
        robot: "cartpole".into(),
        applied: wire::Applied::None,
        positions: vec![0.1 * seq as f32, -0.5],
        velocities: vec![0.0, 1.0],
        efforts: vec![0.0, 0.0],
        channels: vec![("to_target_x".into(), 0.25)],
        images: vec![],
    }))
}

fn command(seq: u64) -> Vec<u8> {
    wire::encode(&Message::MotorCommand(MotorCommand {
        seq,
        stamp_ns: 9_000 + seq,
        answers_seq: seq,
        deadline_ns: 10_000 + seq,
        mode: CommandMode::Torque,
        values: vec![0.5],
    }))
}

const SENSORS: &str = "umwelt/cartpole/sensors";
const CMD: &str = "umwelt/cartpole/cmd";

/// Frames 1, 2 and 4 (3 lost), commands 1 and 2, one malformed payload.
fn traffic() -> Vec<(&'static str, Vec<u8>, u64)> {
    vec![
        (SENSORS, frame(1), 100),
        (CMD, command(1), 150),
        (SENSORS, frame(2), 200),
        (CMD, b"garbage".to_vec(), 210),
        (CMD, command(2), 250),
        (SENSORS, frame(4), 400),
    ]
}

fn record(path: &std::path::Path, traffic: &[(&str, Vec<u8>, u64)]) -> RecordingSummary {
    let meta = BTreeMap::from([("key".to_string(), "umwelt/**".to_string())]);
    let mut rec = Recorder::create(path, &meta).unwrap();
    for (key, payload, t) in traffic {
        rec.write(key, payload, *t).unwrap();
    }
    rec.finish().unwrap()
}

#[test]
fn a_recording_reads_back_every_payload_byte_for_byte() {
    let dir = Dir::new("roundtrip");
    let path = dir.file("run.mcap");
    let written = record(&path, &traffic());
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(mcap::MAGIC) && bytes.ends_with(mcap::MAGIC));

    let recording = Recording::open(&path).unwrap();
    let read: Vec<RecordedMessage> = recording.messages().map(Result::unwrap).collect();
    assert_eq!(read.len(), 6);
    for (m, (key, payload, t)) in read.iter().zip(traffic()) {
        assert_eq!(
            (m.key.as_str(), &m.payload, m.log_time_ns),
            (key, &payload, t)
        );
    }
    // Valid messages carry their own stamp and seq; the malformed one its
    // log time and its index on the key (the third message on `cmd`).
    assert_eq!((read[0].publish_time_ns, read[0].sequence), (5_001, 1));
    assert_eq!((read[4].publish_time_ns, read[4].sequence), (9_002, 2));
    assert_eq!((read[3].publish_time_ns, read[3].sequence), (210, 1));

    let summary = recording.summary();
    assert_eq!(summary, written, "the file says what the recorder counted");
    assert_eq!(
        (summary.messages, summary.start_ns, summary.end_ns),
        (6, Some(100), Some(400))
    );
    assert!(summary.incomplete.is_none());
    let sensors = &summary.keys[SENSORS];
    assert_eq!(
        (sensors.messages, sensors.invalid, sensors.seq_breaks),
        (3, 0, 1)
    );
    assert_eq!(
        sensors.kinds,
        BTreeMap::from([("SensorFrame".to_string(), 3)])
    );
    let cmd = &summary.keys[CMD];
    assert_eq!((cmd.messages, cmd.invalid, cmd.seq_breaks), (3, 1, 0));
    // 2 intervals over 300 ns.
    assert!((sensors.rate_hz - 2.0 / 300e-9).abs() < 1.0);
    assert_eq!(recording.metadata()["key"], "umwelt/**");
    let text = summary.to_text();
    assert!(
        text.contains("1 invalid") && text.contains("1 seq breaks"),
        "{text}"
    );
}

#[test]
fn a_killed_recorder_leaves_a_file_that_reads_up_to_its_last_flush() {
    let dir = Dir::new("killed");
    let path = dir.file("run.mcap");
    let mut rec = Recorder::create(&path, &BTreeMap::new()).unwrap();
    let traffic = traffic();
    for (key, payload, t) in &traffic[..3] {
        rec.write(key, payload, *t).unwrap();
    }
    rec.flush().unwrap();
    for (key, payload, t) in &traffic[3..] {
        rec.write(key, payload, *t).unwrap();
    }
    // As if the process died here: nothing more reaches the file.
    std::mem::forget(rec);
    // Even one killed before its first flush leaves a (message-less) MCAP file.
    let early = dir.file("early.mcap");
    let mut rec = Recorder::create(&early, &BTreeMap::new()).unwrap();
    rec.write(SENSORS, &frame(1), 1).unwrap();
    std::mem::forget(rec);
    let summary = Recording::open(&early).unwrap().summary();
    assert_eq!(summary.messages, 0);
    assert!(summary.incomplete.is_some());

    let recording = Recording::open(&path).unwrap();
    let read: Vec<_> = recording.messages().collect();
    assert_eq!(read.len(), 4, "three messages, then the damage");
    for (m, (key, payload, _)) in read.iter().zip(&traffic[..3]) {
        let m = m.as_ref().unwrap();
        assert_eq!((m.key.as_str(), &m.payload), (*key, payload));
    }
    assert!(matches!(read[3], Err(RecordingError::Mcap { .. })));
    let summary = recording.summary();
    assert_eq!(summary.messages, 3);
    assert!(summary.incomplete.is_some());

    let mut played = Vec::new();
    let stop = AtomicBool::new(false);
    let report = play(&recording, &|_| true, Pace::Fast, &stop, &mut |m| {
        played.push(m.payload.clone());
        Ok(())
    })
    .unwrap();
    assert_eq!(report.messages, 3);
    assert!(report.incomplete.is_some());
    assert_eq!(played.len(), 3);
}

#[test]
fn a_file_cut_anywhere_reads_a_prefix_of_its_messages_and_never_panics() {
    let dir = Dir::new("cut");
    let path = dir.file("run.mcap");
    // Flushing after every message puts each in its own chunk, so most
    // cuts leave some messages whole.
    let mut rec = Recorder::create(&path, &BTreeMap::new()).unwrap();
    for (key, payload, t) in traffic() {
        rec.write(key, &payload, t).unwrap();
        rec.flush().unwrap();
    }
    rec.finish().unwrap();
    let whole = std::fs::read(&path).unwrap();
    let cut_path = dir.file("cut.mcap");
    let mut most = 0;
    for len in 0..whole.len() {
        std::fs::write(&cut_path, &whole[..len]).unwrap();
        let recording = match Recording::open(&cut_path) {
            Ok(r) => r,
            Err(RecordingError::NotMcap { .. }) if len < mcap::MAGIC.len() => continue,
            Err(e) => panic!("cut at {len}: {e}"),
        };
        let ok: Vec<RecordedMessage> = recording.messages().map_while(Result::ok).collect();
        for (m, (key, payload, t)) in ok.iter().zip(traffic()) {
            assert_eq!(
                (m.key.as_str(), &m.payload, m.log_time_ns),
                (key, &payload, t)
            );
        }
        let summary = recording.summary();
        assert_eq!(summary.messages, ok.len() as u64);
        assert!(
            summary.incomplete.is_some(),
            "cut at {len} of {}",
            whole.len()
        );
        most = most.max(ok.len());
    }
    assert_eq!(most, 6, "a cut in the footer still leaves every message");
}

#[test]
fn bad_files_are_refused_with_their_path_named() {
    let dir = Dir::new("bad");
    let missing = dir.file("missing.mcap");
    let e = Recording::open(&missing).unwrap_err();
    assert!(matches!(e, RecordingError::Io { .. }));
    assert!(e.to_string().contains("missing.mcap"), "{e}");

    let text = dir.file("notes.txt");
    std::fs::write(&text, "not a recording").unwrap();
    let e = Recording::open(&text).unwrap_err();
    assert!(matches!(e, RecordingError::NotMcap { .. }));
    assert!(e.to_string().contains("notes.txt") && e.to_string().contains("not an MCAP"));

    // The recorder never replaces a file.
    let e = Recorder::create(&text, &BTreeMap::new()).unwrap_err();
    assert!(matches!(e, RecordingError::Exists { .. }), "{e}");
    assert_eq!(std::fs::read_to_string(&text).unwrap(), "not a recording");
}

#[test]
fn an_mcap_file_of_another_encoding_is_not_replayed() {
    let dir = Dir::new("foreign");
    let path = dir.file("ros.mcap");
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut w = mcap::Writer::new(file).unwrap();
        let id = w
            .add_channel(0, "/joint_states", "json", &BTreeMap::new())
            .unwrap();
        let header = mcap::records::MessageHeader {
            channel_id: id,
            sequence: 0,
            log_time: 1,
            publish_time: 1,
        };
        w.write_to_known_channel(&header, b"{}").unwrap();
        w.finish().unwrap();
    }
    let recording = Recording::open(&path).unwrap();
    let e = recording.messages().next().unwrap().unwrap_err();
    assert!(matches!(e, RecordingError::Encoding { .. }));
    assert!(
        e.to_string().contains("/joint_states") && e.to_string().contains("json"),
        "{e}"
    );
    let stop = AtomicBool::new(false);
    let e = play(&recording, &|_| true, Pace::Fast, &stop, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(e, RecordingError::Encoding { .. }));
    // Still described: one message, not a valid umwelt one.
    let summary = recording.summary();
    assert_eq!(summary.keys["/joint_states"].invalid, 1);
}

#[test]
fn play_selects_keys_keeps_the_order_and_stops_when_told() {
    let dir = Dir::new("play");
    let path = dir.file("run.mcap");
    record(&path, &traffic());
    let recording = Recording::open(&path).unwrap();
    let stop = AtomicBool::new(false);

    // Paced (fast enough not to slow the test), only the sensor frames.
    let mut got = Vec::new();
    let report = play(
        &recording,
        &|m| m.key == SENSORS,
        Pace::Speed(1e3),
        &stop,
        &mut |m| {
            got.push(m.payload.clone());
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(got, vec![frame(1), frame(2), frame(4)]);
    assert_eq!((report.messages, report.skipped), (3, 3));
    assert!((report.recorded_s - 300e-9).abs() < 1e-12);
    assert!(!report.stopped && report.incomplete.is_none());

    // A stop after two messages: no third.
    let mut n = 0;
    let report = play(&recording, &|_| true, Pace::Fast, &stop, &mut |_| {
        n += 1;
        if n == 2 {
            stop.store(true, Ordering::SeqCst);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!((report.messages, n), (2, 2));
    assert!(report.stopped);

    stop.store(false, Ordering::SeqCst);
    let e = play(&recording, &|_| true, Pace::Fast, &stop, &mut |_| {
        Err("link down".into())
    })
    .unwrap_err();
    assert!(
        e.to_string().contains(SENSORS) && e.to_string().contains("link down"),
        "{e}"
    );
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = play(&recording, &|_| true, Pace::Speed(bad), &stop, &mut |_| {
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(e, RecordingError::Speed(_)), "{bad}: {e}");
    }
}

#[test]
fn restamping_changes_the_stamp_and_nothing_else() {
    let f = restamp(&frame(3), 77).unwrap();
    let mut want = wire::decode(&frame(3)).unwrap();
    want.set_stamp_ns(77);
    assert_eq!(wire::decode(&f).unwrap(), want);
    assert_eq!(wire::decode(&f).unwrap().stamp_ns(), 77);
    // A command keeps its (past) deadline, so drivers still ignore it.
    let c = wire::decode_motor_command(&restamp(&command(2), 1_000_000).unwrap()).unwrap();
    assert_eq!((c.stamp_ns, c.deadline_ns, c.seq), (1_000_000, 10_002, 2));
    assert_eq!(restamp(b"garbage", 5), None);
}

#[test]
fn estops_and_resets_are_the_messages_that_act_on_a_robot() {
    use crate::wire::{Estop, Reset};
    let estop = |engage| {
        wire::encode(&Message::Estop(Estop {
            seq: 1,
            stamp_ns: 2,
            engage,
            reason: "test".into(),
        }))
    };
    let reset = wire::encode(&Message::Reset(Reset {
        seq: 1,
        stamp_ns: 2,
        seed: Some(4),
    }));
    assert!(acts_on_robot(&estop(true)) && acts_on_robot(&estop(false)));
    assert!(acts_on_robot(&reset));
    assert!(!acts_on_robot(&frame(1)) && !acts_on_robot(&command(1)));
    assert!(!acts_on_robot(b"garbage"));
}
