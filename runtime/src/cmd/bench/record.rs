//! `umwelt bench record`: the recorder's write speed, byte-exact only and
//! with the decoded Foxglove channels, beside a plain file's, and reading
//! the recording back.

use umwelt_runtime::bench::{RecordBenchOptions, bench_record};

/// The most image bytes `bench record` may hold in memory at once.
const MAX_RECORD_BENCH_BYTES: u64 = 8 << 30;

/// Flags of `umwelt bench record`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Frames to record.
    #[arg(long, default_value_t = 20_000, value_parser = umwelt_runtime::cli::args::count::<usize>(1, 10_000_000))]
    messages: usize,
    /// Add a WIDTHxHEIGHT RGB image of random bytes to every frame
    /// (incompressible: the worst case), e.g. 320x240.
    #[arg(long, value_name = "WxH", value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::image_size))]
    image: Option<(u16, u16)>,
    /// Folder for the files written (removed at the end).
    #[arg(long, default_value_os_t = std::env::temp_dir().join("umwelt-bench-record"))]
    dir: std::path::PathBuf,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `umwelt bench record` and prints its figures (or, with `--json`,
/// one JSON document).
pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        messages,
        image,
        dir,
        json,
    } = args;
    if let Some((w, h)) = image {
        let bytes = messages as u64 * u64::from(w) * u64::from(h) * 3;
        anyhow::ensure!(
            bytes <= MAX_RECORD_BENCH_BYTES,
            "--messages {messages} with --image {w}x{h}: {bytes} bytes of images, more than the {MAX_RECORD_BENCH_BYTES} this benchmark holds in memory"
        );
    }
    let r = bench_record(&RecordBenchOptions {
        messages,
        image,
        dir,
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if json {
        return crate::cmd::print_json(&r);
    }
    outln!(
        "{} arm sensor frames of {} B (recorded, closed and synced; median of {} rounds):",
        r.messages,
        r.frame_bytes,
        r.rounds
    );
    outln!(
        "  umwelt record's writer  {:>10.0} frames/s  {:>8.1} MB/s  = {:.2} of a plain file's {:.1} MB/s",
        r.record_msgs_per_s,
        r.record_mb_per_s,
        r.record_vs_raw,
        r.raw_mb_per_s
    );
    outln!(
        "  with Foxglove channels  {:>10.0} frames/s  {:>8.1} MB/s  = {:.2} of byte-exact only; file {:.2} of the payload; keeps up with {:.0} robots at 100 Hz",
        r.foxglove_msgs_per_s,
        r.foxglove_mb_per_s,
        r.foxglove_vs_record,
        r.foxglove_file_vs_payload,
        r.foxglove_vs_100hz
    );
    outln!(
        "  file size {:.2} of the payload (zstd); read back {:.0} frames/s; the writer keeps up with {:.0} robots at 100 Hz",
        r.file_vs_payload,
        r.read_msgs_per_s,
        r.record_vs_100hz
    );
    Ok(())
}
