//! A test client speaking the wire protocol with zenoh directly (no
//! runtime): it watches a driver's frames, statuses and telemetry and
//! sends commands, estops and resets, and starts the example pendulum
//! driver on a private loopback endpoint.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use umwelt_driver::umwelt_protocol::{
    self as wire, CommandMode, Estop, Message, MessageKind, MotorCommand, Reset, SensorFrame,
    Status, Telemetry,
};
use umwelt_driver::{Driver, DriverConfig, DriverError, DriverSummary, Transport};
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::{Session, Wait};

#[path = "../../examples/pendulum.rs"]
#[allow(dead_code)]
pub mod pendulum;

/// The robot name the tests serve.
pub const ROBOT: &str = "pendulum";
/// The node name the tests' driver reports.
pub const NODE: &str = "pendulum-test";
/// Longest a test waits for anything before failing (a guard against a
/// hang, not a timing assertion).
pub const GUARD: Duration = Duration::from_secs(20);

/// A running driver: its stop flag and thread.
pub struct Served {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<DriverSummary, DriverError>>>,
}

impl Served {
    /// Stops the driver and returns its summary.
    pub fn stop(mut self) -> DriverSummary {
        self.stop.store(true, Ordering::SeqCst);
        let t = self.thread.take().expect("driver thread");
        t.join()
            .expect("driver thread panicked")
            .expect("driver run")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The example pendulum served on `endpoint`, in lockstep or real time,
/// first episode seeded with `seed`.
pub fn serve(endpoint: &str, lockstep: bool, seed: u64) -> Served {
    serve_robot(endpoint, lockstep, seed, pendulum::Pendulum::default())
}

/// `robot` (a one-joint torque robot) served as [`serve`] serves the
/// pendulum.
pub fn serve_robot<R: umwelt_driver::Robot + Send + 'static>(
    endpoint: &str,
    lockstep: bool,
    seed: u64,
    mut robot: R,
) -> Served {
    let mut cfg = DriverConfig::new(ROBOT, 1, CommandMode::Torque, vec![0.0]);
    cfg.node = NODE.into();
    cfg.task_channels = true;
    cfg.lockstep = lockstep;
    // Short, so that a first frame sent before the client's route was known
    // is sent again soon.
    cfg.lockstep_timeout = Duration::from_millis(250);
    cfg.seed = seed;
    cfg.transport = Transport::at(endpoint);
    let driver = Driver::new(cfg).expect("valid config");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || driver.run(&mut robot, &flag));
    Served {
        stop,
        thread: Some(thread),
    }
}

/// Collects what a callback decodes into a channel.
fn sink<T: Send + 'static>(
    session: &Session,
    key: String,
    decode: fn(&[u8]) -> Option<T>,
) -> (Subscriber<()>, Receiver<T>) {
    let (tx, rx): (Sender<T>, Receiver<T>) = channel();
    let tx = Mutex::new(tx);
    let sub = session
        .declare_subscriber(key)
        .callback(move |s| {
            if let Some(v) = decode(&s.payload().to_bytes())
                && let Ok(tx) = tx.lock()
            {
                let _ = tx.send(v);
            }
        })
        .wait()
        .expect("subscriber");
    (sub, rx)
}

/// The client.
pub struct Client {
    pub frames: Receiver<SensorFrame>,
    pub statuses: Receiver<Status>,
    pub telemetry: Receiver<Telemetry>,
    cmd: Publisher<'static>,
    estop: Publisher<'static>,
    admin: Publisher<'static>,
    _subs: Vec<Subscriber<()>>,
    seq: u64,
    /// Every command seq sent, by the frame seq it answered.
    pub sent: Vec<(u64, u64)>,
    session: &'static Session,
}

impl Client {
    /// A client meeting on `endpoint` (it opens first, so it holds the
    /// endpoint and the driver connects to it).
    pub fn new(endpoint: &str) -> Self {
        // Leaked: the publishers borrow the session for the test's life.
        let session: &'static Session =
            Box::leak(Box::new(Transport::at(endpoint).open().expect("session")));
        let (s1, frames) = sink(
            session,
            wire::key_expr(ROBOT, MessageKind::SensorFrame),
            |b| wire::decode_sensor_frame(b).ok(),
        );
        let (s2, statuses) = sink(session, wire::key_expr(ROBOT, MessageKind::Status), |b| {
            wire::decode_status(b).ok()
        });
        let (s3, telemetry) = sink(
            session,
            wire::key_expr(ROBOT, MessageKind::Telemetry),
            |b| wire::decode_telemetry(b).ok(),
        );
        let publisher = |key: String| {
            session
                .declare_publisher(key)
                .express(true)
                .wait()
                .expect("publisher")
        };
        Self {
            frames,
            statuses,
            telemetry,
            cmd: publisher(wire::key_expr(ROBOT, MessageKind::MotorCommand)),
            estop: publisher(wire::key_expr(ROBOT, MessageKind::Estop)),
            admin: publisher(wire::admin_key_expr(ROBOT)),
            _subs: vec![s1, s2, s3],
            seq: 0,
            sent: Vec::new(),
            session,
        }
    }

    /// The next frame, whatever it is.
    pub fn frame(&self) -> SensorFrame {
        self.frames
            .recv_timeout(GUARD)
            .expect("a frame from the driver")
    }

    /// The next frame with a seq above `seq` (re-sends skipped).
    pub fn frame_after(&self, seq: u64) -> SensorFrame {
        let start = Instant::now();
        while start.elapsed() < GUARD {
            if let Ok(f) = self.frames.recv_timeout(GUARD)
                && f.seq > seq
            {
                return f;
            }
        }
        panic!("no frame after {seq}");
    }

    /// Publishes raw bytes on `cmd`.
    pub fn put_cmd(&self, bytes: &[u8]) {
        self.cmd.put(bytes.to_vec()).wait().expect("put");
    }

    /// A fresh command answering `frame` with `values`.
    pub fn command_for(&mut self, frame: &SensorFrame, values: Vec<f32>) -> MotorCommand {
        self.seq += 1;
        let now = wire::now_ns();
        MotorCommand {
            seq: self.seq,
            stamp_ns: now,
            answers_seq: frame.seq,
            deadline_ns: now + 500_000_000,
            mode: CommandMode::Torque,
            values,
        }
    }

    /// Answers `frame` with `values`; returns the command's seq.
    pub fn answer(&mut self, frame: &SensorFrame, values: &[f32]) -> u64 {
        let cmd = self.command_for(frame, values.to_vec());
        self.sent.push((frame.seq, cmd.seq));
        self.put_cmd(&wire::encode(&Message::MotorCommand(cmd.clone())));
        cmd.seq
    }

    /// Lockstep: answers `frame` with `values` and returns the next frame;
    /// answers a re-send of `frame` again (its answer may have been lost).
    pub fn step(&mut self, frame: &SensorFrame, values: &[f32]) -> SensorFrame {
        self.answer(frame, values);
        let start = Instant::now();
        while start.elapsed() < GUARD {
            let f = self.frame();
            if f.seq > frame.seq {
                return f;
            }
            if f.seq == frame.seq {
                self.answer(&f, values);
            }
        }
        panic!("no frame after {}", frame.seq);
    }

    /// The command seqs sent in answer to frame `seq`.
    pub fn answers_to(&self, seq: u64) -> Vec<u64> {
        self.sent
            .iter()
            .filter(|(f, _)| *f == seq)
            .map(|(_, c)| *c)
            .collect()
    }

    /// Publishes an Estop on `estop` (or `admin` when `admin`).
    pub fn estop(&mut self, engage: bool, admin: bool) {
        self.seq += 1;
        let msg = Message::Estop(Estop {
            seq: self.seq,
            stamp_ns: wire::now_ns(),
            engage,
            reason: "test".into(),
        });
        let publisher = if admin { &self.admin } else { &self.estop };
        publisher.put(wire::encode(&msg)).wait().expect("put");
    }

    /// A Reset asking for `seed`, encoded.
    pub fn reset_bytes(&mut self, seed: u64) -> Vec<u8> {
        self.seq += 1;
        wire::encode(&Message::Reset(Reset {
            seq: self.seq,
            stamp_ns: wire::now_ns(),
            seed: Some(seed),
        }))
    }

    /// Publishes raw bytes on `admin`.
    pub fn put_admin(&self, bytes: &[u8]) {
        self.admin.put(bytes.to_vec()).wait().expect("put");
    }

    /// Waits for a Status that `pred` accepts.
    pub fn status_where(&self, pred: impl Fn(&Status) -> bool) -> Status {
        let start = Instant::now();
        while start.elapsed() < GUARD {
            if let Ok(s) = self.statuses.recv_timeout(GUARD)
                && pred(&s)
            {
                return s;
            }
        }
        panic!("no such status");
    }

    /// Waits for Telemetry whose `dropped` total is at least `n`.
    pub fn telemetry_with_drops(&self, n: f64) -> Telemetry {
        let start = Instant::now();
        while start.elapsed() < GUARD {
            if let Ok(t) = self.telemetry.recv_timeout(GUARD)
                && value(&t, "dropped").is_some_and(|d| d >= n)
            {
                return t;
            }
        }
        panic!("no telemetry with {n} drops");
    }

    /// Waits until the session is linked to the driver's.
    pub fn linked(&self) {
        assert!(
            umwelt_driver::transport::wait_for_peer(self.session, GUARD),
            "the driver never linked"
        );
    }
}

/// A telemetry value by name.
pub fn value(t: &Telemetry, name: &str) -> Option<f64> {
    t.values.iter().find_map(|(n, v)| (n == name).then_some(*v))
}

/// A loopback endpoint on a fixed test port (17600-17699 are this crate's).
pub fn endpoint(port: u16) -> String {
    assert!((17600..17700).contains(&port));
    format!("tcp/127.0.0.1:{port}")
}
