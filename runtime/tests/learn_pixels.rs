//! `umwelt learn --obs pixels`: a short run of the cart-pole learned from
//! its side camera alone keeps every episode's frames beside it, ships a
//! model whose encoder sees that camera, does better than the random
//! policy on the held-out seeds, and plans through `umwelt eval` with the
//! images rendered every step.

mod common;

use common::{json, num, umwelt};

#[test]
fn a_pixel_model_learns_from_the_side_camera_and_beats_random() {
    let dir = common::fresh_dir("learn-pixels");
    let out = dir.to_str().unwrap();
    let s = json(&[
        "learn",
        "--json",
        "--out",
        out,
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--obs",
        "pixels",
        "--steps",
        "3000",
        "--seed-episodes",
        "1",
        "--action-repeat",
        "4",
        "--batch-size",
        "16",
        "--updates-per-step",
        "0.2",
        "--eval-every",
        "1",
        "--eval-episodes",
        "1",
        "--samples",
        "64",
        "--iterations",
        "2",
        "--horizon",
        "2",
        "--select-episodes",
        "3",
    ]);
    assert_eq!(s["options"]["obs"], "pixels", "{}", s["options"]);
    // Every episode file has its frames: one per observation.
    let episodes = dir.join("data/episodes");
    let mut eps = 0;
    for e in std::fs::read_dir(&episodes).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "ep") {
            eps += 1;
            let frames = p.with_extension("ep.frames");
            assert!(frames.exists(), "{} has no frames", p.display());
        }
    }
    assert_eq!(eps, num(&s, "/episodes") as usize);

    // The shipped model sees the default side camera, pixels only.
    let info = json(&[
        "model",
        "info",
        "--json",
        dir.join("final.uwwm").to_str().unwrap(),
    ]);
    let px = &info["model"]["pixels"];
    assert_eq!(px["camera"], "side", "{info}");
    assert_eq!(
        (px["width"].as_u64(), px["height"].as_u64()),
        (Some(64), Some(64))
    );
    assert_eq!(px["state"], false);
    assert!(
        info["parameters_per_network"]
            .to_string()
            .contains("pixel encoder"),
        "{}",
        info["parameters_per_network"]
    );

    // Better than random on the held-out seeds the selection used.
    let sel = &s["selection"];
    let held_out = sel["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| num(c, "/held_out_return"))
        .fold(f64::NEG_INFINITY, f64::max);
    let seeds_from = num(sel, "/seeds_from") as u64;
    let random = json(&[
        "rollout",
        "--robot",
        "cartpole",
        "--task",
        "swingup",
        "--policy",
        "random",
        "--episodes",
        "3",
        "--seed",
        &seeds_from.to_string(),
        "--json",
    ]);
    let random_mean = num(&random, "/mean_return");
    assert!(
        held_out > random_mean + 20.0,
        "pixel model {held_out:.1} against random {random_mean:.1} on seeds from {seeds_from}"
    );

    // The checkpoint plans through eval, which renders the camera itself.
    let config = dir.join("pixels.toml");
    std::fs::write(
        &config,
        format!(
            "robot = \"cartpole\"\ntask = \"swingup\"\n[controller]\nkind = \"mpc\"\ncheckpoint = \"{}\"\n[controller.planner]\nsamples = 64\nelites = 8\niterations = 2\nhorizon = 2\naction_repeat = 4\n",
            dir.join("final.uwwm").display()
        ),
    )
    .unwrap();
    let e = umwelt(&[
        "eval",
        "--json",
        "--config",
        config.to_str().unwrap(),
        "--episodes",
        "1",
        "--seed",
        "100",
        "--out",
        dir.join("eval").to_str().unwrap(),
    ]);
    assert!(
        e.status.success(),
        "eval of the pixel model: {}",
        String::from_utf8_lossy(&e.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
