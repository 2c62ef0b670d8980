//! `umwelt eval --video`: videos of episodes that a web browser plays,
//! checked with an independent decoder (PyAV, which bundles FFmpeg: the
//! container is MP4, the codec H.264, every frame decodes, with the
//! frame count, size and rate `eval.json` states), the LeRobot layout of
//! `eval.json` with its `video_paths`, and the state traces.

mod common;

use std::path::Path;
use std::process::Command;

use common::json;

fn config(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs")
        .join(name)
        .display()
        .to_string()
}

/// Why `python3 -c "import av"` fails, if it does.
fn av_missing() -> Option<String> {
    match Command::new("python3").args(["-c", "import av"]).output() {
        Ok(o) if o.status.success() => None,
        // The last line says why (`ModuleNotFoundError: ...`).
        Ok(o) => Some(
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .to_string(),
        ),
        Err(e) => Some(format!("python3: {e}")),
    }
}

/// Opens each file with PyAV, decodes every frame, and prints one JSON
/// object per file.
const PROBE: &str = r#"
import av, json, sys
for path in sys.argv[1:]:
    with av.open(path) as c:
        s = c.streams.video[0]
        n = 0
        keys = 0
        for f in c.decode(s):
            assert (f.width, f.height) == (s.codec_context.width, s.codec_context.height)
            n += 1
            keys += int(f.key_frame)
        print(json.dumps({
            "format": c.format.name,
            "codec": s.codec_context.name,
            "profile": s.codec_context.profile,
            "width": s.codec_context.width,
            "height": s.codec_context.height,
            "fps": float(s.average_rate),
            "declared_frames": s.frames,
            "decoded_frames": n,
            "key_frames": keys,
            "duration_s": float(s.duration * s.time_base),
        }))
"#;

/// Decodes `paths` with PyAV; `None` (after printing SKIPPED) without it.
fn probe(paths: &[std::path::PathBuf]) -> Option<Vec<serde_json::Value>> {
    if let Some(why) = av_missing() {
        // Straight to the stream: libtest captures `eprintln!` of tests
        // that pass, and a skip must be seen.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: python3 cannot import av ({why}): the videos were not decoded independently"
        );
        return None;
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(PROBE)
        .args(paths)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "PyAV could not decode {paths:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("probe JSON"))
            .collect(),
    )
}

/// Checks each listed video against what PyAV decodes from it.
fn check_videos(dir: &Path, report: &serde_json::Value) {
    let videos = report["videos"].as_array().unwrap();
    let paths: Vec<_> = videos
        .iter()
        .map(|v| dir.join(v["path"].as_str().unwrap()))
        .collect();
    for (v, p) in videos.iter().zip(&paths) {
        assert!(p.is_file(), "{p:?}");
        assert!(dir.join(v["poster"].as_str().unwrap()).is_file(), "{v}");
        let len = std::fs::metadata(p).unwrap().len();
        assert_eq!(v["bytes"].as_u64(), Some(len), "{v}");
    }
    let Some(probed) = probe(&paths) else { return };
    assert_eq!(probed.len(), videos.len());
    for (v, p) in videos.iter().zip(&probed) {
        assert!(p["format"].as_str().unwrap().contains("mp4"), "{p}");
        assert_eq!(p["codec"], "h264", "{p}");
        assert_eq!(p["width"], v["width"], "{p} {v}");
        assert_eq!(p["height"], v["height"], "{p} {v}");
        assert_eq!(p["decoded_frames"], v["frames"], "{p} {v}");
        assert_eq!(p["declared_frames"], v["frames"], "{p} {v}");
        let fps = p["fps"].as_f64().unwrap();
        assert!((fps - v["fps"].as_f64().unwrap()).abs() < 1e-6, "{p} {v}");
        // A key frame every two seconds, so a player can seek.
        let frames = v["frames"].as_f64().unwrap();
        assert!(
            p["key_frames"].as_f64().unwrap() >= (frames / (2.0 * fps)).floor(),
            "{p}"
        );
    }
}

#[test]
fn videos_of_the_shipped_cartpole_model_play_and_eval_json_has_lerobots_layout() {
    let d = common::fresh_dir("eval-video-cartpole");
    let r = json(&[
        "eval",
        "--json",
        "--config",
        &config("mpc_cartpole_swingup.toml"),
        "--episodes",
        "3",
        "--seed",
        "100",
        "--video",
        "3",
        "--full-budget",
        "--out",
        d.to_str().unwrap(),
    ]);
    // Best, median and worst, each with its file under videos/.
    let videos = r["videos"].as_array().unwrap();
    let labels: Vec<&str> = videos
        .iter()
        .map(|v| v["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["best", "median", "worst"]);
    let returns: Vec<f64> = videos
        .iter()
        .map(|v| v["sum_reward"].as_f64().unwrap())
        .collect();
    assert!(
        returns[0] >= returns[1] && returns[1] >= returns[2],
        "{returns:?}"
    );
    for v in videos {
        let seed = v["seed"].as_u64().unwrap();
        assert_eq!(v["path"], format!("videos/episode_{seed}.mp4"));
        let i = v["index"].as_u64().unwrap() as usize;
        assert_eq!(r["episodes"][i]["ret"], v["sum_reward"]);
        // 1000 control steps of 10 ms, every 2nd drawn, and the start.
        assert_eq!(v["frames"], 501, "{v}");
        assert_eq!(v["fps"], 50.0, "{v}");
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(640), Some(360))
        );
    }
    // LeRobot's layout: eval_policy's and lerobot-eval's keys.
    let paths: Vec<&serde_json::Value> = videos.iter().map(|v| &v["path"]).collect();
    let vp: Vec<&serde_json::Value> = r["video_paths"].as_array().unwrap().iter().collect();
    assert_eq!(vp, paths);
    assert_eq!(r["overall"]["video_paths"], r["video_paths"]);
    assert_eq!(r["overall"]["n_episodes"], 3);
    assert_eq!(r["aggregated"]["n_episodes"], 3);
    assert_eq!(r["aggregated"]["pc_success"], r["pc_success"]);
    assert_eq!(r["aggregated"]["avg_sum_reward"], r["avg_sum_reward"]);
    assert_eq!(r["overall"]["avg_max_reward"], r["avg_max_reward"]);
    let per = r["per_episode"].as_array().unwrap();
    assert_eq!(per.len(), 3);
    let task = &r["per_task"][0];
    assert_eq!(task["task_group"], "cartpole_swingup");
    for (i, e) in per.iter().enumerate() {
        assert_eq!(e["episode_ix"], i);
        assert_eq!(e["seed"], 100 + i as u64);
        assert_eq!(e["sum_reward"], r["episodes"][i]["ret"]);
        assert_eq!(task["metrics"]["sum_rewards"][i], e["sum_reward"]);
        assert_eq!(task["metrics"]["successes"][i], e["success"]);
    }
    assert_eq!(r["per_group"]["cartpole_swingup"]["n_episodes"], 3);
    // The written eval.json is the document printed.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("eval.json")).unwrap()).unwrap();
    assert_eq!(file["video_paths"], r["video_paths"]);
    // The report page shows the videos; the traces show the state.
    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    for v in videos {
        assert!(html.contains(v["path"].as_str().unwrap()), "{html}");
    }
    let svg = std::fs::read_to_string(d.join("traces.svg")).unwrap();
    for want in ["pole angle", "cart position", "reward", "slider"] {
        assert!(svg.contains(want), "traces.svg lacks {want}");
    }
    check_videos(&d, &r);
    std::fs::remove_dir_all(d).ok();
}

/// The reacher from above, with a random controller: one video (of two
/// episodes, `--video 1` films the median: the lower return), its
/// fingertip–target distance traced and every action plotted.
#[test]
fn a_reacher_video_from_above_plays_and_traces_its_distance() {
    let d = common::fresh_dir("eval-video-reacher");
    std::fs::create_dir_all(&d).unwrap();
    let cfg = d.join("reacher_random.toml");
    std::fs::write(
        &cfg,
        "robot = \"reacher\"\ntask = \"easy\"\n[controller]\nkind = \"random\"\n",
    )
    .unwrap();
    let r = json(&[
        "eval",
        "--json",
        "--config",
        cfg.to_str().unwrap(),
        "--episodes",
        "2",
        "--seed",
        "11",
        "--video",
        "1",
        "--out",
        d.to_str().unwrap(),
    ]);
    let videos = r["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 1);
    // 1000 steps of 20 ms, each drawn, and the start.
    assert_eq!(videos[0]["frames"], 1001);
    assert_eq!(videos[0]["fps"], 50.0);
    let svg = std::fs::read_to_string(d.join("traces.svg")).unwrap();
    for want in ["fingertip-target distance", "shoulder", "wrist"] {
        assert!(svg.contains(want), "traces.svg lacks {want}");
    }
    check_videos(&d, &r);
    std::fs::remove_dir_all(d).ok();
}
