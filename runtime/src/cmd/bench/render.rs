//! `umwelt bench render`: camera frames per second of each robot's default
//! camera on one thread, beside env steps per second and the control rate.

use std::path::PathBuf;

use anyhow::Context;
use umwelt_runtime::bench::bench_render;
use umwelt_runtime::bench::render::first_frames;
use umwelt_runtime::view::write_png;

/// Flags of `umwelt bench render`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds to measure each robot and size for.
    #[arg(long = "duration", alias = "seconds", value_name = "SECONDS", default_value_t = 2.0, value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::seconds))]
    seconds: f64,
    /// Seed of the episodes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write each robot's first 64x64 frame (seed `--seed`) as
    /// `<robot>_<camera>.png` into this folder, drawn 4x larger.
    #[arg(long, value_name = "DIR")]
    frames: Option<PathBuf>,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `umwelt bench render` and prints its figures (or, with `--json`,
/// one JSON document).
pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        seconds,
        seed,
        frames,
        json,
    } = args;
    if let Some(dir) = &frames {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for image in first_frames(seed)? {
            write_png(&image, 4, &dir.join(format!("{}.png", image.name)))?;
        }
    }
    let results = bench_render(seconds, seed)?;
    if json {
        return crate::cmd::print_json(&results);
    }
    outln!(
        "{:<10} {:<8} {:>7} {:>10} {:>12} {:>10} {:>12}",
        "robot",
        "camera",
        "size",
        "frames/s",
        "env steps/s",
        "control Hz",
        "x control"
    );
    for r in &results {
        outln!(
            "{:<10} {:<8} {:>7} {:>10.0} {:>12.0} {:>10.0} {:>12.1}",
            r.robot,
            r.camera,
            format!("{}x{}", r.width, r.height),
            r.frames_per_s,
            r.env_steps_per_s,
            r.control_rate_hz,
            r.frames_per_control_rate
        );
    }
    Ok(())
}
