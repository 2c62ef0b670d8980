//! One control tick's decision, shared by the real-time loop
//! ([`super::run_loop`]) and in-process episodes ([`crate::offline::episode`]): the
//! controller's action made safe, or the safe action, counted. Written once
//! so that evaluation calls a controller exactly as the robot's loop does.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::controller::{ControlInput, Controller};
use super::safety::{SafeReason, Safety};

/// What one tick decided.
#[derive(Debug)]
pub struct Decision {
    /// `Ok` when the controller's (filtered) action is commanded; otherwise
    /// why the safe action is.
    pub verdict: Result<(), SafeReason>,
    /// Time spent inside `Controller::act` (panics included), excluding the
    /// safety filter: what the loop and evaluation report as controller time.
    pub controller_time: Duration,
}

/// Decides one tick's command into `action` (one value per actuator).
///
/// Zeroes `action`, calls `controller.act` with panics caught, then passes a
/// successful proposal through [`Safety::filter`] (clamp and slew limit over
/// `period`). A panic, an error or a non-finite value falls back to the safe
/// action via [`hold_safe`] instead. On return `action` is the command to
/// send, and `safety` has counted any intervention and recorded `action` as
/// sent (the next tick's slew reference).
pub fn decide(
    controller: &mut dyn Controller,
    safety: &mut Safety,
    input: &ControlInput<'_>,
    action: &mut [f32],
    period: Duration,
) -> Decision {
    action.fill(0.0);
    let t0 = Instant::now();
    // A panicking controller must not take the loop down with it; its state
    // may be inconsistent afterwards, which is why the loop resets it when
    // control resumes after a safe-hold.
    let result = catch_unwind(AssertUnwindSafe(|| controller.act(input, action)));
    let controller_time = t0.elapsed();
    let verdict = match result {
        Err(_) => Err(SafeReason::ControllerPanic),
        Ok(Err(e)) => Err(SafeReason::ControllerError(e.to_string())),
        Ok(Ok(())) => safety.filter(action, period.as_secs_f32()),
    };
    match &verdict {
        Err(why) => hold_safe(safety, why, action),
        Ok(()) => safety.sent(action),
    }
    Decision {
        verdict,
        controller_time,
    }
}

/// Why a real-time tick must not ask the controller, if it must not: a
/// latched estop, no frame yet (`age` is `None`), or a newest frame older
/// than `stale_after`, unless `driver_waits` (a lockstep driver woke this
/// tick with a new frame and steps only on its answer, so the frame is
/// current however late the loop got to it).
pub fn held_back(
    estopped: bool,
    age: Option<Duration>,
    stale_after: Duration,
    driver_waits: bool,
) -> Option<SafeReason> {
    if estopped {
        return Some(SafeReason::Estop);
    }
    match age {
        None => Some(SafeReason::NoFrame),
        Some(a) if a > stale_after && !driver_waits => Some(SafeReason::Stale {
            age_ms: a.as_secs_f64() * 1e3,
        }),
        Some(_) => None,
    }
}

/// Commands the safe action for `why` without asking the controller (the
/// loop's estop, no-frame and stale ticks, and [`decide`]'s failures):
/// counts the intervention, writes the safe action into `action` and records
/// it as sent.
pub fn hold_safe(safety: &mut Safety, why: &SafeReason, action: &mut [f32]) {
    safety.counts.count(why);
    safety.safe_action(action);
    safety.sent(action);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ControllerError;
    use crate::control::safety::Interventions;
    use umwelt_sim::Measurement;

    /// Writes `out` as given, or fails as told.
    enum Scripted {
        Values(Vec<f32>),
        Fails,
        Panics,
    }

    impl Controller for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn reset(&mut self) {}
        fn act(&mut self, _: &ControlInput<'_>, out: &mut [f32]) -> Result<(), ControllerError> {
            match self {
                Scripted::Values(v) => {
                    out.copy_from_slice(v);
                    Ok(())
                }
                Scripted::Fails => Err(ControllerError::Failed("no answer".into())),
                Scripted::Panics => panic!("scripted panic"),
            }
        }
    }

    const PERIOD: Duration = Duration::from_millis(10);

    /// Two actuators limited to `[-1, 1]`, slew 50 units/s (0.5 per tick).
    fn safety() -> Safety {
        Safety::new(vec![[-1.0, 1.0], [-1.0, 1.0]], Some(vec![50.0, 50.0]))
    }

    /// One tick of `c` from a stale action of 7s, after `last` was sent.
    fn tick(c: Scripted, last: [f32; 2]) -> (Decision, [f32; 2], Safety) {
        let mut c = c;
        let mut s = safety();
        s.sent(&last);
        let sensors = Measurement::default();
        let input = ControlInput {
            observation: &[],
            sensors: &sensors,
            images: &[],
            deadline: Instant::now() + PERIOD,
        };
        let mut action = [7.0, 7.0];
        let d = decide(&mut c, &mut s, &input, &mut action, PERIOD);
        (d, action, s)
    }

    #[test]
    fn estop_no_frame_and_stale_frames_hold_the_controller_back() {
        let ms = Duration::from_millis;
        let stale = ms(30);
        assert_eq!(
            held_back(true, Some(ms(1)), stale, false),
            Some(SafeReason::Estop)
        );
        assert_eq!(
            held_back(true, Some(ms(1)), stale, true),
            Some(SafeReason::Estop)
        );
        assert_eq!(
            held_back(false, None, stale, true),
            Some(SafeReason::NoFrame)
        );
        assert_eq!(held_back(false, Some(ms(30)), stale, false), None);
        assert_eq!(
            held_back(false, Some(ms(45)), stale, false),
            Some(SafeReason::Stale { age_ms: 45.0 })
        );
        // A lockstep driver waits for the answer: its new frame is current
        // however late the loop is; without a new frame, staleness holds.
        assert_eq!(held_back(false, Some(ms(45)), stale, true), None);
    }

    #[test]
    fn a_normal_controller_is_commanded_as_is() {
        let (d, a, s) = tick(Scripted::Values(vec![0.25, -0.5]), [0.0, 0.0]);
        assert_eq!(d.verdict, Ok(()));
        assert_eq!(a, [0.25, -0.5]);
        assert_eq!(s.counts, Interventions::default());
        assert_eq!(s.counts.safe_ticks(), 0);
    }

    #[test]
    fn a_panicking_controller_gets_the_safe_action_counted() {
        let (d, a, s) = tick(Scripted::Panics, [0.5, 0.5]);
        assert_eq!(d.verdict, Err(SafeReason::ControllerPanic));
        assert_eq!(a, [0.0, 0.0]);
        assert_eq!(s.counts.controller_panic, 1);
        assert_eq!(s.counts.safe_ticks(), 1);
    }

    #[test]
    fn a_failing_controller_gets_the_safe_action_counted() {
        let (d, a, s) = tick(Scripted::Fails, [0.5, 0.5]);
        assert_eq!(
            d.verdict,
            Err(SafeReason::ControllerError(
                "controller failed: no answer".into()
            ))
        );
        assert_eq!(a, [0.0, 0.0]);
        assert_eq!(s.counts.controller_error, 1);
        assert_eq!(s.counts.safe_ticks(), 1);
    }

    #[test]
    fn a_non_finite_output_gets_the_safe_action_counted() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let (d, a, s) = tick(Scripted::Values(vec![0.1, bad]), [0.0, 0.0]);
            assert_eq!(d.verdict, Err(SafeReason::NonFinite));
            assert_eq!(a, [0.0, 0.0]);
            assert_eq!(s.counts.non_finite, 1);
            assert_eq!(s.counts.safe_ticks(), 1);
            assert_eq!(s.counts.clamped, 0);
        }
    }

    #[test]
    fn out_of_limit_output_is_clamped_and_slew_limited_not_replaced() {
        // Clamped to 1 and -1, then within 0.5 of the last command.
        let (d, a, s) = tick(Scripted::Values(vec![5.0, -5.0]), [0.0, -0.75]);
        assert_eq!(d.verdict, Ok(()));
        assert_eq!(a, [0.5, -1.0]);
        assert_eq!(s.counts.clamped, 1);
        assert_eq!(s.counts.slew_limited, 1);
        assert_eq!(s.counts.safe_ticks(), 0);
    }

    #[test]
    fn the_command_becomes_the_next_slew_reference() {
        let mut s = safety();
        let sensors = Measurement::default();
        let input = ControlInput {
            observation: &[],
            sensors: &sensors,
            images: &[],
            deadline: Instant::now() + PERIOD,
        };
        let mut c = Scripted::Values(vec![1.0, 1.0]);
        let mut a = [0.0; 2];
        decide(&mut c, &mut s, &input, &mut a, PERIOD);
        assert_eq!(a, [0.5, 0.5]);
        decide(&mut c, &mut s, &input, &mut a, PERIOD);
        assert_eq!(a, [1.0, 1.0]);
        // A safe-hold tick resets the reference to the safe action.
        hold_safe(&mut s, &SafeReason::Estop, &mut a);
        assert_eq!(a, [0.0, 0.0]);
        assert_eq!(s.counts.estop, 1);
        decide(&mut c, &mut s, &input, &mut a, PERIOD);
        assert_eq!(a, [0.5, 0.5]);
    }
}
