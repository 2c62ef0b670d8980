//! `umwelt eval --sil`: the evaluation again simulator-in-the-loop, as
//! separate `umwelt sim` and `umwelt run` processes over zenoh, compared
//! with the in-process episodes bit for bit.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use umwelt_runtime::control::resolve::Resolved;
use umwelt_runtime::offline::eval::{Divergence, Evaluation, first_divergence};

/// What the simulator-in-the-loop run is of.
pub(super) struct SilRun<'a> {
    /// The controller config.
    pub(super) config: &'a Path,
    /// The report folder (the simulator's recording goes to
    /// `sil_episodes/` in it).
    pub(super) out: &'a Path,
    /// Seed of episode 0.
    pub(super) seed: u64,
    /// Episodes.
    pub(super) episodes: usize,
    /// Seconds it may take.
    pub(super) timeout: f64,
    /// No spinner (`--json`).
    pub(super) json: bool,
}

/// The simulator-in-the-loop part of the report.
#[derive(Serialize)]
pub(super) struct SilReport {
    /// Episodes the simulator recorded.
    pub(super) episodes: usize,
    /// Every action, reward and observation equal to the in-process run.
    pub(super) identical: bool,
    /// Episodes that differ somewhere.
    pub(super) episodes_diverging: usize,
    /// The first difference of each diverging episode.
    pub(super) divergences: Vec<Divergence>,
    /// Returns seen in the simulator-in-the-loop run.
    pub(super) returns: Vec<f64>,
    /// Wall time of the simulator-in-the-loop run, seconds.
    pub(super) wall_s: f64,
    /// The control loop's summary (timing, interventions).
    pub(super) run_summary: serde_json::Value,
}

/// Starts `umwelt sim --lockstep --record` and `umwelt run --trigger lockstep
/// --seed` as child processes on a free loopback endpoint, waits for
/// the simulator to finish the episodes, stops the loop, and compares the
/// recorded episodes with `main`'s.
pub(super) fn run_sil(
    args: &SilRun<'_>,
    r: &Resolved,
    main: &Evaluation,
    stop: &std::sync::atomic::AtomicBool,
) -> anyhow::Result<SilReport> {
    use std::process::{Command, Stdio};
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    let exe = std::env::current_exe().context("finding the umwelt executable")?;
    let endpoint = umwelt_runtime::nodes::transport::free_loopback_endpoint()
        .context("finding a free loopback port")?;
    let record = args.out.join("sil_episodes");
    if record.exists() {
        // Our own output from an earlier run: replaced, never appended to.
        std::fs::remove_dir_all(&record)
            .with_context(|| format!("removing {}", record.display()))?;
    }
    let seed = args.seed.to_string();
    let episodes = args.episodes.to_string();
    let mut sim_args: Vec<String> = vec![
        "sim".into(),
        "--robot".into(),
        r.config.robot.clone(),
        "--task".into(),
        r.config.task.clone(),
        "--lockstep".into(),
        // The first frame goes out before the controller has connected:
        // resend it soon.
        "--lockstep-timeout".into(),
        "0.5".into(),
        "--seed".into(),
        seed.clone(),
        "--episodes".into(),
        episodes,
        "--record".into(),
        record.display().to_string(),
        "--zenoh-endpoint".into(),
        endpoint.clone(),
    ];
    if let Some(rc) = &r.config.robot_config {
        sim_args.push("--robot-config".into());
        sim_args.push(rc.display().to_string());
    }
    let bar = super::progress::Progress::spinner(
        "simulator-in-the-loop: umwelt sim --lockstep + umwelt run over zenoh",
        args.json,
    );
    let t0 = Instant::now();
    let mut sim = Command::new(&exe)
        .args(&sim_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting umwelt sim")?;
    let run = Command::new(&exe)
        .args([
            "run",
            "--config",
            &args.config.display().to_string(),
            "--trigger",
            "lockstep",
            "--seed",
            &seed,
            "--zenoh-endpoint",
            &endpoint,
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting umwelt run")?;
    let deadline = t0 + super::duration("--sil-timeout", args.timeout)?;
    let sim_status = loop {
        if let Some(st) = sim.try_wait()? {
            break Some(st);
        }
        if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
            let _ = sim.kill();
            let _ = sim.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // SIGINT: the loop sends a final safe command and prints its summary.
    let pid = i32::try_from(run.id()).context("process id")?;
    // SAFETY: kill(2) on the pid of our own child, which we have not yet
    // waited for, so the pid cannot have been reused.
    unsafe {
        libc::kill(pid, libc::SIGINT);
    }
    let out = run.wait_with_output().context("waiting for umwelt run")?;
    bar.finish_and_clear();
    let wall_s = t0.elapsed().as_secs_f64();
    match sim_status {
        Some(st) if st.success() => {}
        Some(st) => anyhow::bail!("umwelt sim {sim_args:?} failed ({st})"),
        None => anyhow::bail!(
            "simulator-in-the-loop run did not finish within --sil-timeout {} s",
            args.timeout
        ),
    }
    let run_summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    let data = umwelt_models::dataset::Dataset::open(&record)?;
    let recorded = data.load_all()?;
    let mut divergences = Vec::new();
    for (i, run) in main.runs.iter().enumerate() {
        let Some(local) = run.record.as_ref() else {
            continue;
        };
        match recorded.get(i) {
            Some(remote) => {
                if let Some(d) = first_divergence(i, local, remote) {
                    divergences.push(d);
                }
            }
            None => divergences.push(Divergence {
                episode: i,
                step: 0,
                what: "missing from the simulator-in-the-loop recording".into(),
                in_process: local.len() as f64,
                sil: 0.0,
            }),
        }
    }
    Ok(SilReport {
        episodes: recorded.len(),
        identical: divergences.is_empty() && recorded.len() == main.runs.len(),
        episodes_diverging: divergences.len(),
        divergences,
        returns: recorded.iter().map(|e| e.episode_return()).collect(),
        wall_s,
        run_summary,
    })
}
