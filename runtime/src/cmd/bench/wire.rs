//! `umwelt bench wire`: sensor-frame latency over zenoh beside raw zenoh,
//! over plain TCP or the secure profile.

use umwelt_runtime::bench::{WireBench, bench_wire, bench_wire_secure, bench_wire_transports};

/// Flags of `umwelt bench wire`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Frames to send (as many raw messages are interleaved).
    #[arg(long, default_value_t = 2000, value_parser = umwelt_runtime::cli::args::count::<usize>(1, 10_000_000))]
    messages: usize,
    /// Frames per second.
    #[arg(long, default_value_t = 1000.0, value_parser = umwelt_runtime::cli::args::flag(umwelt_runtime::cli::args::positive_hz))]
    rate: f64,
    /// Which link: plain TCP (the default profile), the secure profile
    /// (mutual TLS and access rules, throw-away certificates) over QUIC
    /// or over TLS on TCP, or all three at once with ratios to TCP.
    #[arg(long, value_enum, default_value_t = WireTransport::Tcp)]
    transport: WireTransport,
    /// Print one JSON document on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs `umwelt bench wire` and prints its figures (or, with `--json`,
/// one JSON document).
pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        messages,
        rate,
        transport,
        json,
    } = args;
    match transport {
        WireTransport::All => {
            let r = bench_wire_transports(messages, rate)?;
            if json {
                return crate::cmd::print_json(&r);
            }
            print_wire(&r.tcp, "TCP")?;
            print_wire(&r.quic, "secure profile, QUIC")?;
            print_wire(&r.tls, "secure profile, TLS")?;
            outln!(
                "ratio to TCP (sensor frames): QUIC p50 {:.2}, p99 {:.2}; TLS p50 {:.2}, p99 {:.2}",
                r.quic_p50_ratio,
                r.quic_p99_ratio,
                r.tls_p50_ratio,
                r.tls_p99_ratio
            );
            Ok(())
        }
        one => {
            let (r, link) = match one {
                WireTransport::Quic => (
                    bench_wire_secure("quic", messages, rate)?,
                    "secure profile, QUIC",
                ),
                WireTransport::Tls => (
                    bench_wire_secure("tls", messages, rate)?,
                    "secure profile, TLS",
                ),
                _ => (bench_wire(messages, rate)?, "TCP"),
            };
            if json {
                return crate::cmd::print_json(&r);
            }
            print_wire(&r, link)
        }
    }
}

/// `umwelt bench wire --transport`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum WireTransport {
    /// Plain TCP (the default profile).
    Tcp,
    /// The secure profile over QUIC (its default).
    Quic,
    /// The secure profile over TLS on TCP.
    Tls,
    /// All three at once, with ratios to TCP.
    All,
}

/// Prints one wire benchmark over `link`.
fn print_wire(r: &WireBench, link: &str) -> anyhow::Result<()> {
    outln!(
        "{} B messages at {} Hz over zenoh on loopback ({link}), {} each:",
        r.bytes,
        r.rate_hz,
        r.frame.samples
    );
    outln!("{:<44} {:>9} {:>9} {:>9}", "", "p50 us", "p99 us", "max us");
    for (name, l) in [
        ("raw zenoh put -> receive", &r.raw),
        ("sensor frame encode -> decoded and checked", &r.frame),
    ] {
        outln!(
            "{name:<44} {:>9.1} {:>9.1} {:>9.1}",
            l.p50_us,
            l.p99_us,
            l.max_us
        );
    }
    outln!(
        "ratio frame/raw: p50 {:.2}, p99 {:.2}; frames lost {}",
        r.p50_ratio,
        r.p99_ratio,
        r.frames_lost
    );
    Ok(())
}
