//! Progress of long work: a bar on a terminal, one line per unit of work
//! when stderr is a file or a pipe (where a bar would be hidden and the
//! log would say nothing until the end).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A progress display on stderr: an indicatif bar when stderr is a
/// terminal, else lines `[label ]pos/len unit (elapsed s): message`, one
/// per unit (or per `every` units), else nothing when quiet.
pub struct Progress {
    /// The bar; hidden when printing lines or quiet.
    bar: ProgressBar,
    /// The line printer's state; `None` on a terminal or when quiet.
    lines: Option<Mutex<Lines>>,
}

/// What the line printer knows between updates.
struct Lines {
    label: String,
    len: u64,
    unit: &'static str,
    every: u64,
    pos: u64,
    /// The position the last line was printed at.
    printed: Option<u64>,
    message: String,
    start: Instant,
}

impl Lines {
    /// Prints a line if `pos` crossed a multiple of `every` or reached the end.
    fn maybe_print(&mut self) {
        let due = self.pos >= self.len
            || self
                .printed
                .is_none_or(|p| self.pos / self.every > p / self.every);
        if !due || self.printed == Some(self.pos) {
            return;
        }
        self.printed = Some(self.pos);
        let sep = if self.message.is_empty() { "" } else { ": " };
        eprintln!(
            "{}{}/{} {} ({:.0} s){sep}{}",
            self.label,
            self.pos,
            self.len,
            self.unit,
            self.start.elapsed().as_secs_f64(),
            self.message
        );
    }
}

impl Progress {
    /// Progress over `len` units of work (`unit`: their name, plural),
    /// drawn with the indicatif `template` on a terminal; nothing when
    /// `quiet` (e.g. `--json`).
    pub fn bar(len: u64, unit: &'static str, template: &str, quiet: bool) -> anyhow::Result<Self> {
        if quiet {
            return Ok(Self::hidden());
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(len);
            bar.set_style(ProgressStyle::with_template(template)?);
            return Ok(Self { bar, lines: None });
        }
        Ok(Self {
            bar: ProgressBar::hidden(),
            lines: Some(Mutex::new(Lines {
                label: String::new(),
                len,
                unit,
                every: 1,
                pos: 0,
                printed: None,
                message: String::new(),
                start: Instant::now(),
            })),
        })
    }

    /// A spinner with `message` on a terminal; the message as one line
    /// otherwise; nothing when `quiet`.
    pub fn spinner(message: &str, quiet: bool) -> Self {
        if quiet {
            return Self::hidden();
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_message(message.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            return Self { bar, lines: None };
        }
        if !message.is_empty() {
            eprintln!("{message}");
        }
        Self::hidden()
    }

    /// Shows nothing.
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
            lines: None,
        }
    }

    /// Lines only every `every` units (and at the end): for work counted
    /// in steps rather than episodes.
    pub fn every(self, every: u64) -> Self {
        if let Some(l) = &self.lines
            && let Ok(mut l) = l.lock()
        {
            l.every = every.max(1);
        }
        self
    }

    /// Names the work (a bar's `{prefix}`, a line's first word).
    pub fn set_prefix(&self, label: &str) {
        self.bar.set_prefix(label.to_string());
        self.with_lines(|l| l.label = format!("{label} "));
    }

    /// Sets the message shown with the next update.
    pub fn set_message(&self, message: String) {
        self.with_lines(|l| l.message.clone_from(&message));
        self.bar.set_message(message);
    }

    /// One more unit done, with `message` about it.
    pub fn inc(&self, message: String) {
        self.with_lines(|l| {
            l.pos += 1;
            l.message.clone_from(&message);
            l.maybe_print();
        });
        self.bar.set_message(message);
        self.bar.inc(1);
    }

    /// `pos` units done.
    pub fn set_position(&self, pos: u64) {
        self.with_lines(|l| {
            l.pos = pos;
            l.maybe_print();
        });
        self.bar.set_position(pos);
    }

    /// Starts at `pos` without a line (a resumed run), and measures the
    /// bar's rate from here.
    pub fn start_at(&self, pos: u64) {
        self.with_lines(|l| {
            l.pos = pos;
            l.printed = Some(pos);
        });
        self.bar.set_position(pos);
        self.bar.reset_eta();
    }

    /// A line above the bar (or among the lines), even where the bar is
    /// hidden; nothing when quiet.
    pub fn println(&self, line: String) {
        if self.lines.is_some() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Runs `f` with the bar out of the way (for a warning on stderr).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the bar (lines stay, they are a log).
    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }

    /// Leaves the bar where it is (the work failed).
    pub fn abandon(&self) {
        self.bar.abandon();
    }

    fn with_lines(&self, f: impl FnOnce(&mut Lines)) {
        if let Some(l) = &self.lines
            && let Ok(mut l) = l.lock()
        {
            f(&mut l);
        }
    }
}

/// Time left in a run whose phases go at different speeds (`learn`: random
/// seed episodes fly, planner episodes with training crawl): the rate is
/// measured over the current phase only, and there is no estimate until
/// the phase has made progress, rather than one from another phase's rate.
#[derive(Debug, Default)]
pub struct PhaseEta {
    /// The current phase, where and when it began.
    phase: Option<(u32, u64, Instant)>,
}

impl PhaseEta {
    /// Records that `pos` of `len` units are done at `now` in `phase`; the
    /// time left at this phase's rate, if it has one yet.
    pub fn update(&mut self, phase: u32, pos: u64, len: u64, now: Instant) -> Option<Duration> {
        match self.phase {
            Some((p, _, _)) if p == phase => {}
            _ => {
                self.phase = Some((phase, pos, now));
                return None;
            }
        }
        let (_, p0, t0) = self.phase?;
        let done = pos.checked_sub(p0).filter(|d| *d > 0)?;
        let per_unit = now.checked_duration_since(t0)?.as_secs_f64() / done as f64;
        Duration::try_from_secs_f64(per_unit * len.saturating_sub(pos) as f64).ok()
    }
}

/// `d` as a short human span: `45 s`, `12 min`, `3.5 h`.
pub fn short_span(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_is_per_phase_and_absent_until_the_phase_has_a_rate() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut eta = PhaseEta::default();
        // Seed phase: 1,000 steps a second.
        assert_eq!(eta.update(0, 0, 10_000, at(0)), None);
        assert_eq!(
            eta.update(0, 1_000, 10_000, at(1)),
            Some(Duration::from_secs(9))
        );
        // Pre-training: a long pause, then the planner phase starts. Its
        // first report has no rate of its own: no estimate (not the seed
        // phase's rate, nor one measured across the pause).
        assert_eq!(eta.update(1, 1_000, 10_000, at(600)), None);
        // 100 steps in 10 s in this phase: 8,900 steps left take 890 s.
        assert_eq!(
            eta.update(1, 1_100, 10_000, at(610)),
            Some(Duration::from_secs(890))
        );
        // No progress in the phase yet: no estimate, not infinity.
        let mut fresh = PhaseEta::default();
        assert_eq!(fresh.update(1, 5, 10, at(0)), None);
        assert_eq!(fresh.update(1, 5, 10, at(100)), None);
    }

    #[test]
    fn spans_read_short() {
        assert_eq!(short_span(Duration::from_secs(45)), "45 s");
        assert_eq!(short_span(Duration::from_secs(720)), "12 min");
        assert_eq!(short_span(Duration::from_secs(12_600)), "3.5 h");
    }
}
