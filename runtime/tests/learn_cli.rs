//! `umwelt learn`: a tiny run end to end (seed data, planner episodes,
//! training, evaluation, checkpoint, curve), resumed, and refusing to
//! overwrite a run.

mod common;

use common::{json, num, umwelt};

fn tempdir(name: &str) -> std::path::PathBuf {
    common::fresh_dir(&format!("learn-{name}"))
}

use common::{TINY, tiny_run};

#[test]
fn a_tiny_run_learns_checkpoints_and_resumes() {
    let dir = tempdir("tiny");
    let out = dir.to_str().unwrap();
    let args = tiny_run(out, &["--q-heads", "3", "--value-coef", "0.05"]);
    let s = json(&args);
    assert_eq!(s["env_steps"], 2000);
    assert_eq!(s["options"]["model"]["num_q"], 3);
    let value_coef = |v: &serde_json::Value| v.as_f64().map(|c| (c - 0.05).abs() < 1e-6);
    assert_eq!(value_coef(&s["options"]["train"]["value_coef"]), Some(true));
    assert_eq!(s["episodes"], 2);
    // 1000 seed steps x 0.01 + 1000 planner steps x 0.01.
    assert_eq!(s["updates"], 20);
    let curve = s["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 1);
    assert!(curve[0]["eval_return"].as_f64().unwrap().is_finite());
    check_time_split(&s);
    for f in [
        "model.uwwm",
        "best.uwwm",
        "final.uwwm",
        "learn.json",
        "curve.csv",
        "curve.svg",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let csv = std::fs::read_to_string(dir.join("curve.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let svg = std::fs::read_to_string(dir.join("curve.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("environment steps"));
    // The checkpoint is a model of this robot.
    let info = json(&[
        "model",
        "info",
        "--json",
        dir.join("model.uwwm").to_str().unwrap(),
    ]);
    assert_eq!(info["spec"]["robot"], "cartpole");
    assert_eq!(info["model"]["num_q"], 3);
    assert_eq!(info["train"]["episodes"], 2);
    assert_eq!(info["train"]["hindsight_episodes"], 0);
    assert_eq!(
        value_coef(&info["train"]["config"]["value_coef"]),
        Some(true)
    );

    // The same directory again without --resume: refused, nothing lost.
    let again = umwelt(&args);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("--resume"), "{err}");
    assert!(dir.join("model.uwwm").is_file());

    // Resumed with a larger budget: one more planner episode.
    let mut args: Vec<&str> = vec![
        "learn", "--json", "--resume", "--out", out, "--steps", "3000",
    ];
    args.extend(TINY);
    let s = json(&args);
    assert_eq!(s["env_steps"], 3000);
    assert_eq!(s["episodes"], 3);
    // The resumed run keeps its own ensemble and loss weights.
    assert_eq!(s["options"]["model"]["num_q"], 3);
    assert_eq!(s["updates"], 30);
    assert_eq!(s["curve"].as_array().unwrap().len(), 2);
    check_time_split(&s);
    // New runs compute each step's gradient on two threads, with the
    // fused engine (whose Adam state the resumes above carried on).
    assert_eq!(s["options"]["train_threads"], 2);
    assert_eq!(s["options"]["train_engine"], "fused");

    // Resumed without --steps: its own budget holds (it is spent), not the
    // default's 100,000 steps.
    let mut args: Vec<&str> = vec!["learn", "--json", "--resume", "--out", out];
    args.extend(TINY);
    let s = json(&args);
    assert_eq!(s["env_steps"], 3000);
    assert_eq!(s["options"]["env_steps"], 3000);
    assert_eq!(s["episodes"], 3);

    // `--resume --out DIR` alone, as a stopped run prints it: the run's
    // own options (robot included) come from its learn.json.
    let s = json(&["learn", "--json", "--resume", "--out", out]);
    assert_eq!(s["env_steps"], 3000);
    assert_eq!(s["options"]["robot"], "cartpole");
    assert_eq!(s["options"]["model"]["num_q"], 3);
    std::fs::remove_dir_all(dir).ok();
}

/// learn.json's time split: every part that ran took time, and the parts
/// add up to the run's wall time.
fn check_time_split(s: &serde_json::Value) {
    let t = &s["time"];
    let part = |k: &str| {
        t[k].as_f64()
            .unwrap_or_else(|| panic!("time.{k} missing: {t}"))
    };
    for k in [
        "seed_episodes_s",
        "robot_s",
        "plan_s",
        "train_s",
        "eval_s",
        "select_s",
        "save_s",
    ] {
        assert!(part(k) > 0.0, "time.{k} = {}: {t}", part(k));
    }
    assert!(part("other_s") >= 0.0, "{t}");
    let sum: f64 = [
        "seed_episodes_s",
        "robot_s",
        "plan_s",
        "train_s",
        "eval_s",
        "select_s",
        "save_s",
        "other_s",
    ]
    .iter()
    .map(|k| part(k))
    .sum();
    let wall = s["wall_s"].as_f64().unwrap();
    // `other` closes the sum (to rounding).
    assert!(
        (sum - wall).abs() < 1e-6 * wall.max(1.0),
        "{sum} vs {wall}: {t}"
    );
}

/// `--action-repeat 2`: every action of the run (random seed policy and
/// planner) is held for two control steps, the checkpoint says it steps two
/// at a time, and a run config must plan with that repeat: without it the
/// controller is refused at setup, naming the fix; with it, it evaluates.
#[test]
fn an_action_repeat_run_holds_its_actions_and_its_checkpoint_needs_the_same_repeat() {
    use umwelt_models::dataset::Dataset;

    let dir = tempdir("repeat");
    let out = dir.to_str().unwrap();
    let s = json(&tiny_run(out, &["--action-repeat", "2"]));
    assert_eq!(s["options"]["action_repeat"], 2);
    assert_eq!(s["env_steps"], 2000);
    let data = Dataset::open(dir.join("data")).unwrap();
    let episodes = data.load_all().unwrap();
    assert_eq!(episodes.len(), 2);
    for e in &episodes {
        assert_eq!(e.len(), 1000);
        for t in (0..e.len()).step_by(2) {
            assert_eq!(e.action(t), e.action(t + 1), "seed {} step {t}", e.seed);
        }
        // ...but not one action throughout: the policy did choose.
        assert_ne!(e.action(0), e.action(500), "seed {}", e.seed);
        assert_eq!(e.with_action_repeat(2).unwrap().len(), 500);
    }
    let model = dir.join("model.uwwm");
    let info = json(&["model", "info", "--json", model.to_str().unwrap()]);
    assert_eq!(info["action_repeat"], 2);

    let config = |planner_extra: &str| {
        let text = format!(
            "robot = \"cartpole\"\ntask = \"balance\"\n\n[controller]\nkind = \"mpc\"\n\
             model = \"learned\"\ncheckpoint = {:?}\nthreads = 1\n\n[controller.planner]\n\
             samples = 16\nelites = 4\niterations = 1\nhorizon = 2\npolicy_samples = 4\n{planner_extra}",
            model.display().to_string()
        );
        let path = dir.join(format!("mpc{}.toml", planner_extra.len()));
        std::fs::write(&path, text).unwrap();
        path
    };
    let eval = |cfg: &std::path::Path| {
        common::umwelt(&[
            "eval",
            "--json",
            "--config",
            cfg.to_str().unwrap(),
            "--episodes",
            "1",
            "--out",
            dir.join("eval").to_str().unwrap(),
        ])
    };
    let refused = eval(&config(""));
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("action_repeat = 2"), "{err}");
    let ran = eval(&config("action_repeat = 2\nhold = true\n"));
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap();
    assert!(report["episodes"][0]["ret"].is_number(), "{report}");
    std::fs::remove_dir_all(dir).ok();
}

/// `--relabel 2` on the reacher: the run trains on hindsight copies but
/// writes only its own episodes, records the option, and resumes with it.
#[test]
fn a_relabelling_run_writes_only_its_own_episodes_and_keeps_the_option_on_resume() {
    use umwelt_models::dataset::Dataset;

    let dir = tempdir("relabel");
    let out = dir.to_str().unwrap();
    let reacher = |steps: &'static str, resume: bool| {
        let mut args = vec!["learn", "--json", "--out", out, "--steps", steps];
        if resume {
            args.push("--resume");
        } else {
            args.extend(["--relabel", "2"]);
        }
        args.extend(["--robot", "reacher", "--task", "easy"]);
        args.extend(&TINY[4..]);
        json(&args)
    };
    let s = reacher("2000", false);
    assert_eq!(s["options"]["relabel"], 2);
    assert_eq!(s["episodes"], 2);
    assert_eq!(s["updates"], 20);
    let episodes = Dataset::open(dir.join("data")).unwrap().load_all().unwrap();
    assert_eq!(episodes.len(), 2);
    // What is written is what the simulator gave: each episode starts as
    // its seed's reset does, target included (a copy's goal has moved).
    let mut env = umwelt_sim::Env::new("reacher", "easy").unwrap();
    for e in &episodes {
        assert_eq!(
            e.obs(0),
            env.reset(e.seed).unwrap().vector,
            "seed {}",
            e.seed
        );
    }
    // The checkpoint's summary tells the two copies of each recorded
    // episode from the recorded ones, here and in the readable summary.
    let model = dir.join("model.uwwm");
    let model = model.to_str().unwrap();
    let train = |n: usize| {
        let info = json(&["model", "info", "--json", model]);
        assert_eq!(info["train"]["episodes"], 3 * n);
        assert_eq!(info["train"]["hindsight_episodes"], 2 * n);
        assert_eq!(info["train"]["transitions"], 3 * 1000 * n);
    };
    train(2);
    let text = umwelt(&["model", "info", model]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("6 episodes (6000 transitions) of which 4 hindsight copies"),
        "{text}"
    );
    let s = reacher("3000", true);
    assert_eq!(s["options"]["relabel"], 2);
    assert_eq!(s["episodes"], 3);
    train(3);
    std::fs::remove_dir_all(dir).ok();
}

/// Bad options are refused before the run directory is made or a seed
/// episode collected, naming what is wrong.
#[test]
fn bad_options_are_refused_before_anything_is_written() {
    let dir = tempdir("bad");
    let out = dir.join("run");
    for (flags, expected) in [
        (["--value-coef=-1"], "value_coef"),
        (["--samples=0"], "samples"),
        // Cart-pole has no goal to relabel.
        (["--relabel=1"], "goal radius"),
        (["--relabel=17"], "at most 16"),
        (["--train-threads=0"], "--train-threads"),
        (["--train-threads=65"], "--train-threads"),
        (["--train-engine=torch"], "burn or fused"),
    ] {
        let args = tiny_run(out.to_str().unwrap(), &flags);
        let o = umwelt(&args);
        assert!(!o.status.success(), "{flags:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expected), "{flags:?}: {err}");
        assert!(!out.exists(), "{flags:?} left {}", out.display());
    }
    std::fs::remove_dir_all(dir).ok();
}

/// `--recipe FILE`: the file sets the options and flags on the command line
/// win over it; a file that is missing, misspelt or holds a bad value is
/// refused before anything is written, naming the file or the key.
#[test]
fn a_recipe_sets_the_options_and_flags_win_over_it() {
    let dir = tempdir("recipe");
    std::fs::create_dir_all(&dir).unwrap();
    let recipe = dir.join("tiny.toml");
    let text = "robot = \"cartpole\"\ntask = \"balance\"\nsteps = 2000\nseed = 4\n\
                seed_episodes = 1\neval_every = 1\neval_episodes = 1\nsamples = 16\n\
                iterations = 1\nhorizon = 2\nhidden = 16\nupdates_per_step = 0.01\n\
                gamma = 0.95\n";
    std::fs::write(&recipe, text).unwrap();
    let out = dir.join("run");
    let (recipe_s, out_s) = (recipe.to_str().unwrap(), out.to_str().unwrap());
    let s = json(&[
        "learn", "--json", "--recipe", recipe_s, "--out", out_s, "--seed", "9",
    ]);
    assert_eq!(s["env_steps"], 2000);
    assert_eq!(s["episodes"], 2);
    let o = &s["options"];
    assert_eq!(
        (&o["robot"], &o["task"]),
        (&"cartpole".into(), &"balance".into())
    );
    // The flag's seed, everywhere a seed goes.
    assert_eq!(o["seed"], 9);
    assert_eq!(o["train"]["seed"], 9);
    assert_eq!(o["planner"]["seed"], 9);
    // The file's values.
    assert_eq!(o["model"]["hidden"], 16);
    assert_eq!(o["planner"]["samples"], 16);
    assert_eq!(o["planner"]["horizon"], 2);
    assert!((o["train"]["gamma"].as_f64().unwrap() - 0.95).abs() < 1e-6);
    // A key in neither keeps the default.
    assert_eq!(o["action_repeat"], 1);
    assert_eq!(o["relabel"], 0);

    let bad = dir.join("bad.toml");
    let missing = dir.join("missing.toml");
    for (contents, expected) in [
        (Some(text.replace("horizon", "horizen")), "horizen"),
        (
            Some(text.replace("updates_per_step = 0.01", "updates_per_step = -1.0")),
            "updates-per-step",
        ),
        (Some(text.replace("robot = \"cartpole\"", "")), "--robot"),
        (None, "missing.toml"),
    ] {
        let file = match &contents {
            Some(c) => {
                std::fs::write(&bad, c).unwrap();
                &bad
            }
            None => &missing,
        };
        let run = dir.join("bad-run");
        let o = umwelt(&[
            "learn",
            "--json",
            "--recipe",
            file.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ]);
        assert!(!o.status.success(), "{expected}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expected), "{expected}: {err}");
        assert!(!run.exists(), "{expected} left {}", run.display());
    }
    std::fs::remove_dir_all(dir).ok();
}

/// A run stopped after every episode and resumed each time evaluates at the
/// episodes an uninterrupted run would (every 2nd planner episode, and at
/// the end), not every 2nd episode of each session (which, one episode a
/// session, would never come), and is that run, bit for bit.
#[test]
fn a_run_resumed_one_episode_at_a_time_keeps_its_evaluation_schedule() {
    let dir = common::fresh_dir("learn-eval-schedule");
    let out = dir.to_str().unwrap();
    let mut tiny = TINY.to_vec();
    let at = |flag: &str| tiny.iter().position(|a| *a == flag).unwrap() + 1;
    let (every, select) = (at("--eval-every"), at("--select-episodes"));
    tiny[every] = "2";
    tiny[select] = "0";
    // One episode a session: the seed episode, then five planner episodes.
    let mut s = serde_json::Value::Null;
    for session in 0..6 {
        let mut args = vec!["learn", "--json", "--out", out, "--steps", "6000"];
        args.extend(["--max-episodes", "1"]);
        if session > 0 {
            args.push("--resume");
        }
        args.extend(&tiny);
        s = json(&args);
    }
    assert_eq!(num(&s, "/env_steps"), 6000.0, "{s}");
    // One seed episode, then planner episodes 2 to 6: evaluated after the
    // 2nd and 4th of them and at the budget's end.
    let evaluated: Vec<u64> = s["curve"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| num(p, "/episodes") as u64)
        .collect();
    assert_eq!(evaluated, [3, 5, 6], "{}", s["curve"]);

    // The same run without stops: the same weights, bit for bit, and the
    // same evaluations (the sidecar carries Adam, the target heads and the
    // batch generator; the planner and robot are seeded per episode).
    let whole_dir = common::fresh_dir("learn-eval-schedule-whole");
    let whole_out = whole_dir.to_str().unwrap();
    let mut args = vec!["learn", "--json", "--out", whole_out, "--steps", "6000"];
    args.extend(&tiny);
    let whole = json(&args);
    let points = |s: &serde_json::Value| -> Vec<serde_json::Value> {
        let mut c = s["curve"].as_array().unwrap().clone();
        for p in &mut c {
            p.as_object_mut().unwrap().remove("wall_s");
        }
        c
    };
    assert_eq!(points(&whole), points(&s));
    assert_eq!(whole["updates"], s["updates"]);
    let (whole_t, resumed_t) = (tensors(&whole_dir), tensors(&dir));
    let differ: Vec<&String> = whole_t
        .iter()
        .filter(|(name, t)| resumed_t.get(*name) != Some(t))
        .map(|(name, _)| name)
        .collect();
    assert!(
        differ.is_empty() && whole_t.len() == resumed_t.len(),
        "the resumed run's weights differ: {differ:?}"
    );
    std::fs::remove_dir_all(whole_dir).ok();
    std::fs::remove_dir_all(dir).ok();
}

/// The tensors of a run's `model.uwwm`, by name: the checkpoint's
/// safetensors part parsed (its JSON header lists the tensors in no fixed
/// order, so its bytes may differ between equal models).
fn tensors(run: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let b = std::fs::read(run.join("model.uwwm")).expect("a checkpoint");
    let len = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
    let weights = &b[28 + len(&b, 8)..];
    let header_len = len(weights, 0);
    let header: serde_json::Value =
        serde_json::from_slice(&weights[8..8 + header_len]).expect("a safetensors header");
    let data = &weights[8 + header_len..];
    let out: std::collections::BTreeMap<String, Vec<u8>> = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .map(|(name, t)| {
            let at = |i: usize| t["data_offsets"][i].as_u64().unwrap() as usize;
            (name.clone(), data[at(0)..at(1)].to_vec())
        })
        .collect();
    assert!(out.len() > 10, "{} tensors", out.len());
    out
}

/// A run whose sidecar predates version 4 (Adam's moments only) still
/// resumes, and says once, in `--json` mode too, that it cannot be the run
/// that was stopped; a current sidecar resumes without a word.
#[test]
fn a_resume_from_a_version_3_sidecar_warns_that_it_is_not_exact() {
    let dir = tempdir("v3-sidecar");
    let out = dir.to_str().unwrap();
    json(&tiny_run(out, &[]));
    let resume = |steps: &'static str| {
        let mut args = vec![
            "learn", "--json", "--resume", "--out", out, "--steps", steps,
        ];
        args.extend(TINY);
        let o = umwelt(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr)
            .matches("predates version 4")
            .count()
    };
    assert_eq!(resume("3000"), 0, "a version 4 sidecar");
    // The sidecar as a build before version 4 wrote it: a 28-byte header,
    // no resume part, the payload's checksum over ids and record only.
    let side = dir.join("model.uwwm.adam");
    let b = std::fs::read(&side).unwrap();
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
    assert_eq!(&b[..4], b"UWAD");
    assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 4);
    let ids = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    let payload = &b[36..36 + ids * 8 + word(16)];
    let mut v3 = b[..28].to_vec();
    v3[4..8].copy_from_slice(&3u32.to_le_bytes());
    v3[24..28].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    v3.extend_from_slice(payload);
    std::fs::write(&side, v3).unwrap();
    assert_eq!(resume("4000"), 1, "a version 3 sidecar");
    std::fs::remove_dir_all(dir).ok();
}
