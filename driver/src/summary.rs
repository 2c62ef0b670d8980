//! What a driver did, returned when it stops.

use std::fmt;

/// Percentiles of the round trips a driver saw from publishing a frame to
/// accepting the command answering it, in µs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundTrip {
    /// How many.
    pub samples: usize,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
}

impl RoundTrip {
    /// Percentiles of `us` (sorted in place; nearest rank); `None` when
    /// empty.
    pub fn of(us: &mut [f32]) -> Option<Self> {
        us.sort_by(f32::total_cmp);
        let last = us.len().checked_sub(1)?;
        let at = |q: f64| f64::from(us[((last as f64) * q).round() as usize]);
        Some(Self {
            samples: us.len(),
            p50_us: at(0.5),
            p99_us: at(0.99),
            max_us: at(1.0),
        })
    }
}

/// What a driver did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DriverSummary {
    /// Sensor frames published (re-sends not counted).
    pub frames: u64,
    /// Lockstep frames sent again for want of an answer.
    pub resends: u64,
    /// Steps that applied a command.
    pub commands_applied: u64,
    /// Steps that applied the safe action.
    pub safe_steps: u64,
    /// Real-time ticks that started more than a period late.
    pub overruns: u64,
    /// Episodes finished (a Reset cuts one short without finishing it).
    pub episodes: u32,
    /// Messages dropped, by class name (classes with none left out).
    pub dropped: Vec<(String, u64)>,
    /// Frame→command round trips seen (answers to the newest frame only).
    pub round_trip: Option<RoundTrip>,
    /// Seconds the driver served.
    pub wall_s: f64,
}

impl DriverSummary {
    /// Messages dropped as `class` (its [`umwelt_protocol::ErrorClass`] name).
    pub fn dropped_as(&self, class: &str) -> u64 {
        self.dropped
            .iter()
            .find_map(|(c, n)| (c == class).then_some(*n))
            .unwrap_or(0)
    }
}

impl fmt::Display for DriverSummary {
    /// One line, e.g. `500 frames (0 re-sent), 499 commands applied, ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} frames ({} re-sent), {} commands applied, {} safe steps, {} overruns, {} episodes in {:.1} s; dropped {}",
            self.frames,
            self.resends,
            self.commands_applied,
            self.safe_steps,
            self.overruns,
            self.episodes,
            self.wall_s,
            self.dropped.iter().map(|(_, n)| n).sum::<u64>()
        )?;
        for (c, n) in &self.dropped {
            write!(f, " {c}={n}")?;
        }
        if let Some(rt) = &self.round_trip {
            write!(
                f,
                "; frame->command round trip p50 {:.0} us, p99 {:.0} us",
                rt.p50_us, rt.p99_us
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_empty_is_none() {
        let mut us: Vec<f32> = (1..=100).rev().map(|v| v as f32).collect();
        let rt = RoundTrip::of(&mut us).expect("samples");
        assert_eq!((rt.samples, rt.max_us), (100, 100.0));
        assert_eq!(rt.p50_us, 51.0);
        assert_eq!(rt.p99_us, 99.0);
        assert_eq!(RoundTrip::of(&mut []), None);
    }

    #[test]
    fn drops_are_found_by_class_name() {
        let s = DriverSummary {
            dropped: vec![("stale".into(), 2)],
            ..DriverSummary::default()
        };
        assert_eq!((s.dropped_as("stale"), s.dropped_as("expired")), (2, 0));
        assert!(s.to_string().contains("dropped 2 stale=2"), "{s}");
    }
}
