//! Counting dropped messages, and logging them at a bounded rate.

use super::{DecodeError, SpecError};
use std::fmt;
use std::time::{Duration, Instant};

/// Why a message was dropped: one class per [`DecodeError`] variant,
/// [`ErrorClass::Spec`] for a valid message that does not fit the robot, and
/// the freshness classes (`super::fresh`) for a valid message that is not
/// current, answers nothing, or came on a key that may not carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// [`DecodeError::Truncated`].
    Truncated,
    /// [`DecodeError::BadMagic`].
    BadMagic,
    /// [`DecodeError::UnsupportedVersion`].
    UnsupportedVersion,
    /// [`DecodeError::UnknownKind`].
    UnknownKind,
    /// [`DecodeError::WrongKind`].
    WrongKind,
    /// [`DecodeError::BadEnum`].
    BadEnum,
    /// [`DecodeError::LengthMismatch`].
    LengthMismatch,
    /// [`DecodeError::TooLarge`].
    TooLarge,
    /// [`DecodeError::InvalidUtf8`].
    InvalidUtf8,
    /// [`DecodeError::NonFinite`].
    NonFinite,
    /// [`DecodeError::TrailingBytes`].
    TrailingBytes,
    /// Any [`SpecError`].
    Spec,
    /// A command whose deadline has passed.
    Expired,
    /// A command whose deadline lies too far ahead.
    FarDeadline,
    /// A command that answers no frame the driver sent recently.
    Unanswered,
    /// A stamp older than allowed, or not newer than the last accepted
    /// (a replay, a duplicate, a reordered message).
    Stale,
    /// A stamp too far ahead of the receiver's clock.
    FutureStamp,
    /// A privileged message (estop release, Reset) where it is not allowed.
    Unauthorised,
}

impl ErrorClass {
    /// Every class, in declaration order.
    pub const ALL: [Self; 18] = [
        Self::Truncated,
        Self::BadMagic,
        Self::UnsupportedVersion,
        Self::UnknownKind,
        Self::WrongKind,
        Self::BadEnum,
        Self::LengthMismatch,
        Self::TooLarge,
        Self::InvalidUtf8,
        Self::NonFinite,
        Self::TrailingBytes,
        Self::Spec,
        Self::Expired,
        Self::FarDeadline,
        Self::Unanswered,
        Self::Stale,
        Self::FutureStamp,
        Self::Unauthorised,
    ];

    /// A short snake_case name, for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::BadMagic => "bad_magic",
            Self::UnsupportedVersion => "unsupported_version",
            Self::UnknownKind => "unknown_kind",
            Self::WrongKind => "wrong_kind",
            Self::BadEnum => "bad_enum",
            Self::LengthMismatch => "length_mismatch",
            Self::TooLarge => "too_large",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::NonFinite => "non_finite",
            Self::TrailingBytes => "trailing_bytes",
            Self::Spec => "spec",
            Self::Expired => "expired",
            Self::FarDeadline => "far_deadline",
            Self::Unanswered => "unanswered",
            Self::Stale => "stale",
            Self::FutureStamp => "future_stamp",
            Self::Unauthorised => "unauthorised",
        }
    }

    /// Whether the class is about freshness or authority (the message
    /// itself was well formed) rather than a malformed message.
    pub fn is_freshness(self) -> bool {
        matches!(
            self,
            Self::Expired
                | Self::FarDeadline
                | Self::Unanswered
                | Self::Stale
                | Self::FutureStamp
                | Self::Unauthorised
        )
    }
}

impl From<&DecodeError> for ErrorClass {
    fn from(e: &DecodeError) -> Self {
        match e {
            DecodeError::Truncated { .. } => Self::Truncated,
            DecodeError::BadMagic { .. } => Self::BadMagic,
            DecodeError::UnsupportedVersion { .. } => Self::UnsupportedVersion,
            DecodeError::UnknownKind(_) => Self::UnknownKind,
            DecodeError::WrongKind { .. } => Self::WrongKind,
            DecodeError::BadEnum { .. } => Self::BadEnum,
            DecodeError::LengthMismatch { .. } => Self::LengthMismatch,
            DecodeError::TooLarge { .. } => Self::TooLarge,
            DecodeError::InvalidUtf8 { .. } => Self::InvalidUtf8,
            DecodeError::NonFinite { .. } => Self::NonFinite,
            DecodeError::TrailingBytes { .. } => Self::TrailingBytes,
        }
    }
}

impl From<&SpecError> for ErrorClass {
    fn from(_: &SpecError) -> Self {
        Self::Spec
    }
}

/// Counts dropped messages by [`ErrorClass`] and rate-limits the log lines
/// about them.
///
/// ```
/// # use std::time::Instant;
/// # use umwelt_protocol::{decode, DropCounter};
/// let mut drops = DropCounter::default(); // at most one line a second
/// if let Err(e) = decode(b"garbage") {
///     drops.record(&e);
///     if drops.should_log(Instant::now()) {
///         eprintln!("dropped a message: {e} ({} more not logged; {drops})", drops.suppressed());
///     }
/// }
/// assert_eq!(drops.total(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct DropCounter {
    counts: [u64; ErrorClass::ALL.len()],
    interval: Duration,
    last_log: Option<Instant>,
    /// Calls to `should_log` answered `false` since the last `true`.
    pending: u64,
    /// `pending` as it was at the last `true`.
    suppressed: u64,
}

impl Default for DropCounter {
    /// At most one log line a second.
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

impl DropCounter {
    /// A counter that allows one log line per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            counts: [0; ErrorClass::ALL.len()],
            interval,
            last_log: None,
            pending: 0,
            suppressed: 0,
        }
    }

    /// Counts one dropped message (pass `&DecodeError`, `&SpecError` or an
    /// [`ErrorClass`]).
    pub fn record(&mut self, class: impl Into<ErrorClass>) {
        let c = &mut self.counts[class.into() as usize];
        *c = c.saturating_add(1);
    }

    /// Messages dropped for `class`.
    pub fn count(&self, class: ErrorClass) -> u64 {
        self.counts[class as usize]
    }

    /// Messages dropped for any reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |a, &c| a.saturating_add(c))
    }

    /// Whether to log a line now: `true` for the first call and then at most
    /// once per interval. After `true`, [`suppressed`](Self::suppressed)
    /// says how many calls were answered `false` since the previous `true`.
    pub fn should_log(&mut self, now: Instant) -> bool {
        match self.last_log {
            Some(t) if now.saturating_duration_since(t) < self.interval => {
                self.pending = self.pending.saturating_add(1);
                false
            }
            _ => {
                self.last_log = Some(now);
                self.suppressed = std::mem::take(&mut self.pending);
                true
            }
        }
    }

    /// Log lines suppressed between the last two that
    /// [`should_log`](Self::should_log) allowed.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

impl fmt::Display for DropCounter {
    /// E.g. `3 dropped (truncated 1, non_finite 2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dropped", self.total())?;
        let mut sep = " (";
        for class in ErrorClass::ALL {
            let n = self.count(class);
            if n > 0 {
                write!(f, "{sep}{} {n}", class.name())?;
                sep = ", ";
            }
        }
        if sep == ", " {
            f.write_str(")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_class() {
        let mut d = DropCounter::default();
        assert_eq!(d.to_string(), "0 dropped");
        d.record(&DecodeError::TrailingBytes { count: 1 });
        d.record(&DecodeError::NonFinite {
            field: "x",
            index: 0,
        });
        d.record(ErrorClass::NonFinite);
        d.record(&SpecError::ActuatorCount {
            robot: "r".into(),
            expected: 1,
            got: 2,
        });
        assert_eq!(d.count(ErrorClass::NonFinite), 2);
        assert_eq!(d.count(ErrorClass::TrailingBytes), 1);
        assert_eq!(d.count(ErrorClass::Spec), 1);
        assert_eq!(d.count(ErrorClass::Truncated), 0);
        assert_eq!(d.total(), 4);
        assert_eq!(
            d.to_string(),
            "4 dropped (non_finite 2, trailing_bytes 1, spec 1)"
        );
    }

    #[test]
    fn logs_at_most_once_per_interval() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = DropCounter::new(Duration::from_millis(100));
        assert!(d.should_log(ms(0)));
        assert_eq!(d.suppressed(), 0);
        assert!(!d.should_log(ms(1)));
        assert!(!d.should_log(ms(99)));
        assert!(d.should_log(ms(100)));
        assert_eq!(d.suppressed(), 2);
        assert!(!d.should_log(ms(150)));
        assert_eq!(d.suppressed(), 2, "unchanged until the next line");
        assert!(d.should_log(ms(1000)));
        assert_eq!(d.suppressed(), 1);
        // A clock that goes backwards suppresses rather than panics.
        assert!(!d.should_log(ms(10)));
    }

    #[test]
    fn every_decode_error_has_its_own_class() {
        let names: std::collections::HashSet<_> =
            ErrorClass::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), ErrorClass::ALL.len());
        for (i, c) in ErrorClass::ALL.into_iter().enumerate() {
            assert_eq!(c as usize, i);
        }
    }
}
