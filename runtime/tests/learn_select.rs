//! `umwelt learn`'s held-out selection: a tiny run keeps at most K + 1
//! candidate checkpoints at every stop on its way, selects nothing before
//! its budget is spent, then ships as `final.uwwm` the candidate best on
//! held-out seeds disjoint from every other seed of the run; resumed with
//! a larger budget it selects again; `--select-episodes 0` selects nothing.

mod common;

use std::path::Path;

use common::{TINY, json, num};
use umwelt_runtime::offline::learn::{LearnState, Selection};

/// Candidates besides the last, and held-out episodes ([`TINY`]'s), of
/// these runs.
const K: usize = 2;
const M: usize = 2;

/// `umwelt learn --json` into `out`: `extra`, then [`TINY`] with
/// `--select-candidates` [`K`].
fn learn(out: &Path, extra: &[&str]) -> serde_json::Value {
    assert_eq!(TINY[TINY.len() - 2..], ["--select-episodes", "2"]);
    let k = K.to_string();
    let mut args = vec!["learn", "--json", "--out", out.to_str().unwrap()];
    args.extend(extra);
    args.extend(TINY);
    args.extend(["--select-candidates", &k]);
    json(&args)
}

/// The files in `candidates/`, sorted; each must be one learn.json lists.
fn candidate_files(dir: &Path, s: &serde_json::Value) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir.join("candidates"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut listed: Vec<String> = s["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("steps_{}.uwwm", c["env_steps"]))
        .collect();
    listed.sort();
    assert_eq!(files, listed, "candidates/ against learn.json");
    assert!(files.len() <= K + 1, "{files:?}");
    files
}

/// The selection in `s` was made at `env_steps`: its held-out seeds meet
/// no other seed of the run, the one chosen has the highest held-out mean
/// (ties to the later), `final.uwwm` is its file byte for byte, and
/// learn.json's selection reads back as it was written.
fn check_selection(dir: &Path, s: &serde_json::Value, env_steps: u64) {
    let sel = &s["selection"];
    assert_eq!(num(sel, "/env_steps") as u64, env_steps, "{sel}");
    assert_eq!(num(sel, "/episodes") as usize, M);
    let from = num(sel, "/seeds_from") as u64;
    let held_out = from..from + M as u64;
    let eval = num(s, "/options/eval_episodes") as u64;
    let seed = num(s, "/options/seed") as u64;
    let episodes = num(s, "/episodes") as u64;
    for (what, other) in [
        ("curve", 1_000_000..1_000_000 + eval),
        ("training", seed..seed + episodes),
        ("reporting", 100..120),
        ("reporting", 2000..2020),
    ] {
        assert!(
            held_out.end <= other.start || other.end <= held_out.start,
            "held-out {held_out:?} meets the {what} seeds {other:?}"
        );
    }
    let scored = sel["candidates"].as_array().unwrap();
    let pool = s["candidates"].as_array().unwrap();
    assert_eq!(scored.len(), pool.len());
    for (c, p) in scored.iter().zip(pool) {
        assert_eq!(c["env_steps"], p["env_steps"]);
        assert_eq!(c["curve_return"], p["curve_return"]);
        assert!(num(c, "/held_out_return").is_finite(), "{c}");
    }
    // The last checkpoint is always a candidate.
    assert_eq!(num(&pool[pool.len() - 1], "/env_steps") as u64, env_steps);
    let chosen = num(sel, "/chosen") as u64;
    let best = scored
        .iter()
        .map(|c| (num(c, "/held_out_return"), num(c, "/env_steps") as u64))
        .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .unwrap();
    assert_eq!(chosen, best.1, "{sel}");
    let final_bytes = std::fs::read(dir.join("final.uwwm")).unwrap();
    let chosen_bytes = std::fs::read(dir.join(format!("candidates/steps_{chosen}.uwwm"))).unwrap();
    assert!(
        final_bytes == chosen_bytes,
        "final.uwwm is not steps_{chosen}"
    );
    // learn.json reads into the run's state and writes back the same.
    let text = std::fs::read_to_string(dir.join("learn.json")).unwrap();
    let state: LearnState = serde_json::from_str(&text).unwrap();
    let again = serde_json::to_string(&state.selection).unwrap();
    let again: Option<Selection> = serde_json::from_str(&again).unwrap();
    assert!(again.is_some());
    assert_eq!(again, state.selection);
    let on_disk: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        serde_json::to_value(&state.selection).unwrap(),
        on_disk["selection"]
    );
    assert_eq!(&on_disk["selection"], sel);
    assert!(num(s, "/time/select_s") > 0.0, "{}", s["time"]);
}

/// The candidates' files the curve of `s` should have left: its [`K`]
/// best points (ties to the later) and its last, sorted by name.
fn expected_pool(s: &serde_json::Value) -> Vec<String> {
    let curve: Vec<(f64, u64)> = s["curve"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (num(p, "/eval_return"), num(p, "/env_steps") as u64))
        .collect();
    let mut ranked = curve.clone();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut keep: Vec<u64> = ranked.iter().take(K).map(|p| p.1).collect();
    keep.push(curve.last().unwrap().1);
    let mut names: Vec<String> = keep.iter().map(|s| format!("steps_{s}.uwwm")).collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn a_run_keeps_k_plus_one_candidates_and_ships_the_held_out_best_again_when_resumed() {
    let dir = common::fresh_dir("learn-select");
    // One seed episode and three planner episodes of 1000 steps, an
    // evaluation after each, stopped after every episode on the way.
    let mut s = learn(&dir, &["--steps", "4000", "--max-episodes", "2"]);
    while num(&s, "/env_steps") < 4000.0 {
        assert!(s["selection"].is_null(), "selected before the end: {s}");
        assert!(!dir.join("final.uwwm").exists());
        candidate_files(&dir, &s);
        s = learn(
            &dir,
            &["--resume", "--steps", "4000", "--max-episodes", "1"],
        );
    }
    assert_eq!(s["curve"].as_array().unwrap().len(), 3);
    assert_eq!(candidate_files(&dir, &s), expected_pool(&s));
    // K best of three and the last: at least two to choose between.
    assert!(s["selection"]["candidates"].as_array().unwrap().len() >= 2);
    check_selection(&dir, &s, 4000);

    // Done: resuming with the same budget selects nothing new.
    let before = s["selection"].clone();
    let s = learn(&dir, &["--resume", "--steps", "4000"]);
    assert_eq!(s["selection"], before);

    // A larger budget: one more planner episode, and a new selection.
    let s = learn(&dir, &["--resume", "--steps", "5000"]);
    assert_eq!(num(&s, "/env_steps"), 5000.0);
    assert_eq!(candidate_files(&dir, &s), expected_pool(&s));
    check_selection(&dir, &s, 5000);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn no_selection_with_zero_held_out_episodes() {
    let dir = common::fresh_dir("learn-select-off");
    let out = dir.to_str().unwrap();
    let mut args = common::tiny_run(out, &["--select-candidates=2"]);
    let n = args.len();
    assert_eq!(args[n - 2], "--select-episodes");
    args[n - 1] = "0";
    let s = json(&args);
    assert_eq!(num(&s, "/env_steps"), 2000.0);
    assert!(s["selection"].is_null(), "{s}");
    assert_eq!(s["candidates"].as_array().map(Vec::len), Some(0));
    assert_eq!(num(&s, "/time/select_s"), 0.0);
    assert!(!dir.join("final.uwwm").exists());
    assert!(!dir.join("candidates").exists());
    assert!(dir.join("model.uwwm").is_file());
    std::fs::remove_dir_all(dir).ok();
}

/// A learn.json from before the selection (the shipped cart-pole's run)
/// still reads: no candidates, no selection, no selection time, and the
/// selection's options at their defaults.
#[test]
fn a_learn_json_from_before_the_selection_still_reads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/results/cartpole_swingup/learn/learn.json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("selection"), "{}", path.display());
    let state: LearnState = serde_json::from_str(&text).unwrap();
    assert!(state.candidates.is_empty());
    assert_eq!(state.selection, None);
    assert_eq!(state.time.select_s, 0.0);
    assert_eq!(
        state.options.select_episodes,
        umwelt_runtime::offline::learn::DEFAULT_SELECT_EPISODES
    );
    assert_eq!(
        state.options.select_candidates,
        umwelt_runtime::offline::learn::DEFAULT_SELECT_CANDIDATES
    );
}
