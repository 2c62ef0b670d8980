//! The safety layer: whatever the controller says, what reaches the robot
//! is finite, inside limits and slew-limited, or else the safe action.

use serde::Serialize;

/// Why the loop commanded the safe action instead of the controller's.
#[derive(Clone, Debug, PartialEq)]
pub enum SafeReason {
    /// No frame has arrived yet.
    NoFrame,
    /// The newest frame is too old.
    Stale {
        /// Its age in milliseconds.
        age_ms: f64,
    },
    /// The controller's output was NaN or infinite.
    NonFinite,
    /// The controller returned an error.
    ControllerError(String),
    /// The controller panicked.
    ControllerPanic,
    /// An estop is latched.
    Estop,
}

impl std::fmt::Display for SafeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SafeReason::NoFrame => write!(f, "no sensor frame yet"),
            SafeReason::Stale { age_ms } => write!(f, "newest sensor frame is {age_ms:.0} ms old"),
            SafeReason::NonFinite => write!(f, "controller output not finite"),
            SafeReason::ControllerError(e) => write!(f, "{e}"),
            SafeReason::ControllerPanic => write!(f, "controller panicked"),
            SafeReason::Estop => write!(f, "estop latched"),
        }
    }
}

/// How often each intervention happened (ticks).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Interventions {
    /// Ticks before the first frame.
    pub no_frame: u64,
    /// Ticks with a stale frame.
    pub stale: u64,
    /// Ticks whose controller output was not finite.
    pub non_finite: u64,
    /// Ticks whose controller returned an error.
    pub controller_error: u64,
    /// Ticks whose controller panicked.
    pub controller_panic: u64,
    /// Ticks under a latched estop.
    pub estop: u64,
    /// Ticks where a value was clamped to its limits.
    pub clamped: u64,
    /// Ticks where a value was slew-limited.
    pub slew_limited: u64,
}

impl std::fmt::Display for Interventions {
    /// The non-zero counts, e.g. `stale 12, clamped 3`, or `none`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let all = [
            ("no_frame", self.no_frame),
            ("stale", self.stale),
            ("non_finite", self.non_finite),
            ("controller_error", self.controller_error),
            ("controller_panic", self.controller_panic),
            ("estop", self.estop),
            ("clamped", self.clamped),
            ("slew_limited", self.slew_limited),
        ];
        let parts: Vec<String> = all
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

impl Interventions {
    /// Counts a safe-action tick by its reason.
    pub fn count(&mut self, reason: &SafeReason) {
        match reason {
            SafeReason::NoFrame => self.no_frame += 1,
            SafeReason::Stale { .. } => self.stale += 1,
            SafeReason::NonFinite => self.non_finite += 1,
            SafeReason::ControllerError(_) => self.controller_error += 1,
            SafeReason::ControllerPanic => self.controller_panic += 1,
            SafeReason::Estop => self.estop += 1,
        }
    }

    /// Ticks that commanded the safe action.
    pub fn safe_ticks(&self) -> u64 {
        self.no_frame
            + self.stale
            + self.non_finite
            + self.controller_error
            + self.controller_panic
            + self.estop
    }
}

/// Limits, slew and the safe action of one robot.
pub struct Safety {
    limits: Vec<[f32; 2]>,
    slew: Option<Vec<f32>>,
    last: Vec<f32>,
    /// The counts so far.
    pub counts: Interventions,
}

impl Safety {
    /// A safety layer for actuators with these limits and slew rates (units/s).
    pub fn new(limits: Vec<[f32; 2]>, slew: Option<Vec<f32>>) -> Self {
        let n = limits.len();
        Self {
            limits,
            slew,
            last: vec![0.0; n],
            counts: Interventions::default(),
        }
    }

    /// The safe action: zero effort on torque robots, zero velocity (stop)
    /// on velocity robots.
    pub fn safe_action(&self, out: &mut [f32]) {
        out.fill(0.0);
    }

    /// Makes the controller's proposal safe in place: a non-finite value
    /// rejects it; values are clamped to the limits and slew-limited against
    /// the last command sent, `dt` seconds ago.
    pub fn filter(&mut self, proposal: &mut [f32], dt: f32) -> Result<(), SafeReason> {
        if proposal.iter().any(|v| !v.is_finite()) {
            return Err(SafeReason::NonFinite);
        }
        let mut clamped = false;
        for (v, [lo, hi]) in proposal.iter_mut().zip(&self.limits) {
            let c = v.clamp(*lo, *hi);
            clamped |= c != *v;
            *v = c;
        }
        let mut slewed = false;
        if let Some(rates) = &self.slew {
            for ((v, last), rate) in proposal.iter_mut().zip(&self.last).zip(rates) {
                let step = rate * dt;
                let c = v.clamp(last - step, last + step);
                slewed |= c != *v;
                *v = c;
            }
        }
        self.counts.clamped += u64::from(clamped);
        self.counts.slew_limited += u64::from(slewed);
        Ok(())
    }

    /// Records the command actually sent (the reference for the slew limit).
    pub fn sent(&mut self, values: &[f32]) {
        self.last.copy_from_slice(values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_is_rejected_and_limits_clamp() {
        let mut s = Safety::new(vec![[-1.0, 1.0], [-2.0, 2.0]], None);
        assert_eq!(
            s.filter(&mut [f32::NAN, 0.0], 0.01),
            Err(SafeReason::NonFinite)
        );
        assert_eq!(
            s.filter(&mut [0.0, f32::INFINITY], 0.01),
            Err(SafeReason::NonFinite)
        );
        let mut a = [5.0, -0.5];
        s.filter(&mut a, 0.01).unwrap();
        assert_eq!(a, [1.0, -0.5]);
        assert_eq!(s.counts.clamped, 1);
        assert_eq!(s.counts.to_string(), "clamped 1");
        assert_eq!(Interventions::default().to_string(), "none");
    }

    #[test]
    fn slew_limits_the_change_from_the_last_command() {
        let mut s = Safety::new(vec![[-10.0, 10.0]], Some(vec![100.0]));
        let mut a = [10.0];
        s.filter(&mut a, 0.01).unwrap();
        assert_eq!(a, [1.0]);
        s.sent(&a);
        let mut b = [10.0];
        s.filter(&mut b, 0.01).unwrap();
        assert_eq!(b, [2.0]);
        assert_eq!(s.counts.slew_limited, 2);
        let mut safe = [7.0];
        s.safe_action(&mut safe);
        assert_eq!(safe, [0.0]);
    }
}
