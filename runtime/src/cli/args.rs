//! Typed clap value parsers for the numbers users type on the command line.
//!
//! Each check refuses a value outside its range with a message stating the
//! range; wrapped in [`flag`] (or built by [`count`]) it is a clap value
//! parser, and clap prints the refusal on one line naming the flag and the
//! value (`error: --duration -1: must be a number of seconds in (0,
//! 31536000]`) and exits with status 2. Every range is finite, so a parsed
//! number of seconds always converts to a [`Duration`] without panicking.

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use clap::error::ErrorKind;

/// The longest span, in seconds, that any flag accepts: one year.
pub const MAX_SECONDS: f64 = 365.0 * 86_400.0;
/// The highest rate, in Hz, that any flag accepts.
pub const MAX_HZ: f64 = 100_000.0;
/// The longest period, in milliseconds, that `--period-ms` accepts.
pub const MAX_MILLISECONDS: f64 = 10_000.0;
/// The smallest playback speed factor (a thousand times slower).
pub const MIN_SPEED: f64 = 0.001;
/// The largest playback speed factor.
pub const MAX_SPEED: f64 = 1_000.0;
/// The largest loss weight or per-step ratio a training flag accepts.
pub const MAX_WEIGHT: f64 = 1_000.0;

/// The most threads a `--threads` flag takes.
pub const MAX_THREADS: u64 = 256;
/// The widest layer (`--hidden`, `--latent`) a flag takes.
pub const MAX_CLI_WIDTH: u64 = 8_192;
/// The most hidden layers a flag takes.
pub const MAX_CLI_LAYERS: u64 = 64;
/// The largest batch a flag takes.
pub const MAX_CLI_BATCH: u64 = 65_536;
/// The largest image side `--image WxH` takes, in pixels.
pub const MAX_IMAGE_SIDE: u16 = 8_192;

/// A number, or why `s` is not one.
fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| format!("`{s}` is not a number"))
}

/// `s` as a number in `[lo, hi]` (`(lo, hi]` if `open_low`); `what` names
/// the unit in the message.
fn within(s: &str, lo: f64, open_low: bool, hi: f64, what: &str) -> Result<f64, String> {
    let v = number(s)?;
    let low_ok = if open_low { v > lo } else { v >= lo };
    if low_ok && v <= hi {
        return Ok(v);
    }
    let bracket = if open_low { "(" } else { "[" };
    Err(format!("must be {what} in {bracket}{lo}, {hi}]"))
}

/// Seconds: finite, > 0, at most [`MAX_SECONDS`].
pub fn seconds(s: &str) -> Result<f64, String> {
    within(s, 0.0, true, MAX_SECONDS, "a number of seconds")
}

/// Seconds: finite, >= 0, at most [`MAX_SECONDS`].
pub fn seconds_or_zero(s: &str) -> Result<f64, String> {
    within(s, 0.0, false, MAX_SECONDS, "a number of seconds")
}

/// A rate in Hz: finite, > 0, at most [`MAX_HZ`].
pub fn positive_hz(s: &str) -> Result<f64, String> {
    within(s, 0.0, true, MAX_HZ, "a rate in Hz")
}

/// Milliseconds: finite, >= 0 (0: none), at most [`MAX_MILLISECONDS`].
pub fn milliseconds_or_zero(s: &str) -> Result<f64, String> {
    within(s, 0.0, false, MAX_MILLISECONDS, "a number of milliseconds")
}

/// A speed factor in `[MIN_SPEED, MAX_SPEED]`.
pub fn speed(s: &str) -> Result<f64, String> {
    within(s, MIN_SPEED, false, MAX_SPEED, "a speed factor")
}

/// A share strictly between 0 and 1.
pub fn open_fraction(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v > 0.0 && v < 1.0 {
        return Ok(v);
    }
    Err("must be a fraction in (0, 1)".into())
}

/// A discount factor in `[0, 1]`.
pub fn discount(s: &str) -> Result<f32, String> {
    within(s, 0.0, false, 1.0, "a discount").map(|v| v as f32)
}

/// A learning rate in `(0, 1]`.
pub fn learning_rate(s: &str) -> Result<f64, String> {
    within(s, 0.0, true, 1.0, "a learning rate")
}

/// A loss weight in `[0, MAX_WEIGHT]`.
pub fn weight(s: &str) -> Result<f32, String> {
    within(s, 0.0, false, MAX_WEIGHT, "a weight").map(|v| v as f32)
}

/// A ratio per step (e.g. gradient updates per environment step) in
/// `[0, MAX_WEIGHT]`.
pub fn ratio(s: &str) -> Result<f64, String> {
    within(s, 0.0, false, MAX_WEIGHT, "a ratio")
}

/// A clap value parser from a check: a refused value is a clap error of
/// one line, `FLAG VALUE: why` (exit status 2).
#[derive(Clone)]
pub struct Checked<T>(Arc<Check<T>>);

/// A check of a flag's text: its value, or why it is refused.
type Check<T> = dyn Fn(&str) -> Result<T, String> + Send + Sync;

impl<T: Clone + Send + Sync + 'static> clap::builder::TypedValueParser for Checked<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let text = value.to_string_lossy();
        (self.0)(&text).map_err(|why| {
            let name = arg.map_or_else(
                || "value".to_string(),
                |a| match a.get_long() {
                    Some(long) => format!("--{long}"),
                    None => format!("<{}>", a.get_id()),
                },
            );
            clap::Error::raw(
                ErrorKind::ValueValidation,
                format!("{name} {text}: {why}\n"),
            )
            .with_cmd(cmd)
        })
    }
}

/// `check` as a clap value parser (`value_parser = args::flag(args::seconds)`).
pub fn flag<T: Clone + Send + Sync + 'static>(check: fn(&str) -> Result<T, String>) -> Checked<T> {
    Checked(Arc::new(check))
}

/// A whole number in `lo..=hi`, as a clap value parser.
pub fn count<T>(lo: u64, hi: u64) -> Checked<T>
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
{
    Checked(Arc::new(move |s: &str| {
        let bad = || format!("must be a whole number from {lo} to {hi}");
        let v: u64 = s.trim().parse().map_err(|_| bad())?;
        if !(lo..=hi).contains(&v) {
            return Err(bad());
        }
        T::try_from(v).map_err(|_| bad())
    }))
}

/// A training engine: `burn` or `fused`
/// ([`umwelt_models::world_model::TrainEngine`]).
pub fn train_engine(s: &str) -> Result<umwelt_models::world_model::TrainEngine, String> {
    s.trim().parse()
}

/// An image size `WIDTHxHEIGHT`, each side in `1..=MAX_IMAGE_SIDE`.
pub fn image_size(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("expected WIDTHxHEIGHT with sides 1 to {MAX_IMAGE_SIDE}, e.g. 320x240");
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    let (w, h): (u16, u16) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    let side = 1..=MAX_IMAGE_SIDE;
    if side.contains(&w) && side.contains(&h) {
        Ok((w, h))
    } else {
        Err(bad())
    }
}

/// `secs` as a [`Duration`], or an error naming `flag` (never a panic, for
/// numbers that did not come through the parsers above).
pub fn duration(flag: &str, secs: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{flag} {secs:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_refuse_what_duration_cannot_hold() {
        for bad in ["-1", "0", "nan", "NaN", "inf", "-inf", "1e300", "x", ""] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(seconds("2.5"), Ok(2.5));
        assert_eq!(seconds_or_zero("0"), Ok(0.0));
        assert!(seconds_or_zero("-0.1").is_err());
        let max = seconds(&MAX_SECONDS.to_string()).expect("the limit itself");
        assert!(duration("--x", max).is_ok());
        assert!(duration("--x", f64::NAN).is_err());
    }

    #[test]
    fn other_ranges() {
        assert!(positive_hz("0").is_err());
        assert!(positive_hz("1e6").is_err());
        assert_eq!(positive_hz("100"), Ok(100.0));
        assert!(open_fraction("1").is_err());
        assert!(open_fraction("0").is_err());
        assert_eq!(open_fraction("0.25"), Ok(0.25));
        assert!(discount("1.5").is_err());
        assert!(learning_rate("0").is_err());
        assert!(weight("-1").is_err());
        assert!(speed("nan").is_err());
        assert_eq!(milliseconds_or_zero("0"), Ok(0.0));
        assert_eq!(image_size("320x240"), Ok((320, 240)));
        for bad in ["0x10", "10x", "65535x65535", "axb"] {
            assert!(image_size(bad).is_err(), "{bad}");
        }
        let e = seconds("-1").expect_err("negative");
        assert!(e.contains("(0, 31536000]"), "{e}");
    }
}
