//! The sampling planner: MPPI/CEM over action sequences, warm-started from
//! the previous plan, with a share of samples from the model's policy prior,
//! anytime under the tick's deadline.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::config::PlannerConfig;
use super::model::{PlanError, PlanModel};

/// What one [`Planner::plan`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PlanOutcome {
    /// Refits completed before the deadline (0: the warm start was used).
    pub iterations: usize,
    /// Highest value among the last iteration's samples (NaN with none).
    pub best_value: f32,
    /// Model steps scored (samples x horizon x iterations).
    pub sample_steps: usize,
    /// Wall time of the plan.
    pub elapsed: Duration,
}

/// An MPPI/CEM planner in normalised action space (`[-1, 1]` per component).
///
/// Each iteration samples `samples - policy_samples` sequences around the
/// current mean, scores them with all policy-prior sequences, keeps the
/// `elites` best and refits mean and standard deviation with weights
/// `exp(temperature * (value - max))`. The action returned is the first of
/// an elite drawn by those weights (as TD-MPC2 does).
pub struct Planner {
    config: PlannerConfig,
    act_dim: usize,
    rng: ChaCha8Rng,
    mean: Vec<f32>,
    std: Vec<f32>,
    prev_mean: Option<Vec<f32>>,
    ticks_since_shift: usize,
    held: Vec<f32>,
    actions: Vec<f32>,
    values: Vec<f32>,
    noise: Vec<f32>,
    order: Vec<usize>,
    scores: Vec<f32>,
    /// Recent iteration time (a decaying maximum), to judge whether another
    /// iteration fits before the deadline.
    iteration_time: Duration,
}

impl Planner {
    /// A planner for actions of `act_dim` components.
    pub fn new(config: PlannerConfig, act_dim: usize) -> Result<Self, PlanError> {
        config.validate().map_err(PlanError::Config)?;
        if act_dim == 0 {
            return Err(PlanError::Config("the model has no actions".into()));
        }
        let (n, h) = (config.samples, config.horizon);
        Ok(Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            mean: vec![0.0; h * act_dim],
            std: vec![config.max_std; h * act_dim],
            prev_mean: None,
            ticks_since_shift: 0,
            held: vec![0.0; act_dim],
            actions: vec![0.0; n * h * act_dim],
            values: vec![0.0; n],
            noise: vec![0.0; n * h * act_dim],
            order: (0..n).collect(),
            scores: vec![0.0; config.elites],
            iteration_time: Duration::ZERO,
            config,
            act_dim,
        })
    }

    /// The parameters.
    pub fn config(&self) -> &PlannerConfig {
        &self.config
    }

    /// Forgets the previous plan and restarts the noise stream from `seed`.
    pub fn reset(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
        self.prev_mean = None;
        self.ticks_since_shift = 0;
    }

    /// True when the next [`Self::plan`] call will only repeat the held
    /// action (`hold` inside a repeat block): it will not look at the
    /// model, so the caller need not give it the new observation.
    pub fn holds_next(&self) -> bool {
        self.config.hold
            && self.prev_mean.is_some()
            && self.ticks_since_shift + 1 < self.config.action_repeat
    }

    /// The current plan's mean sequence (`horizon x act_dim`).
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Plans from the state the model was last given ([`PlanModel::begin`])
    /// and writes the normalised first action into `action`. Stops
    /// iterating when the next iteration would end within
    /// `deadline_margin_us` of `deadline`.
    pub fn plan(
        &mut self,
        model: &mut dyn PlanModel,
        deadline: Instant,
        action: &mut [f32],
    ) -> Result<PlanOutcome, PlanError> {
        self.plan_with_clock(model, deadline, action, &mut Instant::now)
    }

    /// [`Self::plan`] with an injected clock (tests drive time by hand).
    pub fn plan_with_clock(
        &mut self,
        model: &mut dyn PlanModel,
        deadline: Instant,
        action: &mut [f32],
        clock: &mut dyn FnMut() -> Instant,
    ) -> Result<PlanOutcome, PlanError> {
        let start = clock();
        let (n, h, a) = (self.config.samples, self.config.horizon, self.act_dim);
        if model.act_dim() != a || action.len() != a {
            return Err(PlanError::Config(format!(
                "planner has {a} action components, the model {} and the output {}",
                model.act_dim(),
                action.len()
            )));
        }
        let hold = self.holds_next();
        self.warm_start();
        if hold {
            action.copy_from_slice(&self.held);
            return Ok(PlanOutcome {
                best_value: f32::NAN,
                elapsed: clock().saturating_duration_since(start),
                ..PlanOutcome::default()
            });
        }
        let row = h * a;
        // Policy-prior sequences are drawn once per plan and re-scored each
        // iteration, as in TD-MPC2.
        let mut n_pi = self.config.policy_samples;
        if n_pi > 0 {
            fill_normal(&mut self.rng, &mut self.noise[..n_pi * row]);
            let has_prior = model.policy_actions(
                &self.noise[..n_pi * row],
                n_pi,
                h,
                &mut self.actions[..n_pi * row],
            )?;
            if !has_prior {
                n_pi = 0;
            }
        }
        let margin = Duration::from_micros(self.config.deadline_margin_us);
        let mut outcome = PlanOutcome {
            best_value: f32::NAN,
            ..PlanOutcome::default()
        };
        let mut chosen: Option<usize> = None;
        for it in 0..self.config.iterations {
            let now = clock();
            if it >= self.config.min_iterations && now + self.iteration_time + margin > deadline {
                break;
            }
            self.sample_around_mean(n_pi);
            model.evaluate(
                &self.actions,
                n,
                h,
                self.config.action_repeat,
                &mut self.values,
            )?;
            chosen = Some(self.refit()?);
            outcome.iterations += 1;
            outcome.sample_steps += n * h;
            outcome.best_value = self.values[self.order[0]];
            // A decaying maximum: one descheduled iteration must not cap
            // every later plan at `min_iterations`.
            let took = clock().saturating_duration_since(now);
            self.iteration_time = took.max(self.iteration_time.mul_f32(0.9));
        }
        match chosen {
            Some(i) => action.copy_from_slice(&self.actions[i * row..i * row + a]),
            None => action.copy_from_slice(&self.mean[..a]),
        }
        if self.config.explore {
            for (v, s) in action.iter_mut().zip(&self.std[..a]) {
                let e: f32 = StandardNormal.sample(&mut self.rng);
                *v += s * e;
            }
        }
        for v in action.iter_mut() {
            *v = v.clamp(-1.0, 1.0);
        }
        self.held.copy_from_slice(action);
        match &mut self.prev_mean {
            Some(p) => p.copy_from_slice(&self.mean),
            None => self.prev_mean = Some(self.mean.clone()),
        }
        outcome.elapsed = clock().saturating_duration_since(start);
        Ok(outcome)
    }

    /// Mean: the previous plan shifted by one step (zeros at the end);
    /// standard deviation: its maximum.
    fn warm_start(&mut self) {
        let a = self.act_dim;
        match &self.prev_mean {
            Some(prev) => {
                self.ticks_since_shift += 1;
                if self.ticks_since_shift >= self.config.action_repeat {
                    self.ticks_since_shift = 0;
                    let len = self.mean.len();
                    self.mean[..len - a].copy_from_slice(&prev[a..]);
                    self.mean[len - a..].fill(0.0);
                } else {
                    self.mean.copy_from_slice(prev);
                }
            }
            None => self.mean.fill(0.0),
        }
        self.std.fill(self.config.max_std);
    }

    fn sample_around_mean(&mut self, n_pi: usize) {
        let row = self.mean.len();
        let tail = &mut self.actions[n_pi * row..];
        for seq in tail.chunks_exact_mut(row) {
            for ((v, m), s) in seq.iter_mut().zip(&self.mean).zip(&self.std) {
                let e: f32 = StandardNormal.sample(&mut self.rng);
                *v = (m + s * e).clamp(-1.0, 1.0);
            }
        }
    }

    /// Refits mean and std to the elites; returns the sample whose first
    /// action is taken (an elite drawn by weight).
    fn refit(&mut self) -> Result<usize, PlanError> {
        let k = self.config.elites;
        let row = self.mean.len();
        for v in self.values.iter_mut() {
            if !v.is_finite() {
                *v = f32::NEG_INFINITY;
            }
        }
        if self.values.iter().all(|v| *v == f32::NEG_INFINITY) {
            return Err(PlanError::Model(
                "every sampled action sequence scored NaN or infinite".into(),
            ));
        }
        for (i, o) in self.order.iter_mut().enumerate() {
            *o = i;
        }
        let values = &self.values;
        let by_value_desc = |x: &usize, y: &usize| values[*y].total_cmp(&values[*x]).then(x.cmp(y));
        if k < self.order.len() {
            self.order.select_nth_unstable_by(k - 1, by_value_desc);
        }
        self.order[..k].sort_unstable_by(by_value_desc);
        let max = values[self.order[0]];
        let mut total = 0.0f32;
        for (s, &i) in self.scores.iter_mut().zip(&self.order[..k]) {
            *s = (self.config.temperature * (values[i] - max)).exp();
            total += *s;
        }
        for s in self.scores.iter_mut() {
            *s /= total;
        }
        self.mean.fill(0.0);
        for (s, &i) in self.scores.iter().zip(&self.order[..k]) {
            for (m, v) in self
                .mean
                .iter_mut()
                .zip(&self.actions[i * row..(i + 1) * row])
            {
                *m += s * v;
            }
        }
        self.std.fill(0.0);
        for (s, &i) in self.scores.iter().zip(&self.order[..k]) {
            for ((d, v), m) in self
                .std
                .iter_mut()
                .zip(&self.actions[i * row..(i + 1) * row])
                .zip(&self.mean)
            {
                *d += s * (v - m) * (v - m);
            }
        }
        for d in self.std.iter_mut() {
            *d = d.sqrt().clamp(self.config.min_std, self.config.max_std);
        }
        let u: f32 = self.rng.random();
        let mut acc = 0.0;
        for (s, &i) in self.scores.iter().zip(&self.order[..k]) {
            acc += s;
            if u < acc {
                return Ok(i);
            }
        }
        Ok(self.order[0])
    }
}

fn fill_normal(rng: &mut ChaCha8Rng, out: &mut [f32]) {
    for v in out.iter_mut() {
        *v = StandardNormal.sample(rng);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::plan::PlanState;

    /// Value: minus the squared distance of every action to `target`.
    struct Quadratic {
        target: Vec<f32>,
        scale: (Vec<f32>, Vec<f32>),
        /// A fake clock advanced by `cost` per evaluation.
        clock: Option<(Arc<Mutex<Instant>>, Duration)>,
        calls: usize,
    }

    impl Quadratic {
        fn new(target: Vec<f32>) -> Self {
            let a = target.len();
            Self {
                target,
                scale: (vec![0.0; a], vec![1.0; a]),
                clock: None,
                calls: 0,
            }
        }
    }

    impl PlanModel for Quadratic {
        fn name(&self) -> &str {
            "quadratic"
        }
        fn act_dim(&self) -> usize {
            self.target.len()
        }
        fn action_scale(&self) -> (&[f32], &[f32]) {
            (&self.scale.0, &self.scale.1)
        }
        fn begin(&mut self, _: &PlanState<'_>) -> Result<(), PlanError> {
            Ok(())
        }
        fn evaluate(
            &mut self,
            actions: &[f32],
            n: usize,
            h: usize,
            _: usize,
            values: &mut [f32],
        ) -> Result<(), PlanError> {
            self.calls += 1;
            if let Some((c, cost)) = &self.clock {
                *c.lock().unwrap() += *cost;
            }
            let a = self.target.len();
            for (seq, v) in actions.chunks_exact(h * a).zip(values.iter_mut()).take(n) {
                *v = -seq
                    .chunks_exact(a)
                    .flat_map(|s| s.iter().zip(&self.target).map(|(x, t)| (x - t) * (x - t)))
                    .sum::<f32>();
            }
            Ok(())
        }
    }

    fn config() -> PlannerConfig {
        PlannerConfig {
            samples: 128,
            elites: 16,
            iterations: 6,
            horizon: 4,
            policy_samples: 0,
            temperature: 5.0,
            ..PlannerConfig::default()
        }
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn converges_towards_the_best_sequence_and_stays_in_bounds() {
        let mut model = Quadratic::new(vec![0.5, -0.25]);
        let mut p = Planner::new(config(), 2).unwrap();
        let mut a = [0.0; 2];
        for _ in 0..5 {
            p.plan(&mut model, far(), &mut a).unwrap();
        }
        assert!(
            (a[0] - 0.5).abs() < 0.15 && (a[1] + 0.25).abs() < 0.15,
            "{a:?}"
        );
        // A target outside [-1, 1]: the plan saturates at the bound, never beyond.
        let mut model = Quadratic::new(vec![3.0, -7.0]);
        let mut p = Planner::new(
            PlannerConfig {
                explore: true,
                ..config()
            },
            2,
        )
        .unwrap();
        for _ in 0..5 {
            p.plan(&mut model, far(), &mut a).unwrap();
            assert!(a.iter().all(|v| (-1.0..=1.0).contains(v)), "{a:?}");
        }
        assert!(p.mean().iter().all(|v| (-1.0..=1.0).contains(v)));
        assert!(a[0] > 0.9 && a[1] < -0.9, "{a:?}");
    }

    #[test]
    fn same_seed_same_plan() {
        let run = |seed| {
            let mut model = Quadratic::new(vec![0.1, 0.2]);
            let mut p = Planner::new(PlannerConfig { seed, ..config() }, 2).unwrap();
            let mut out = Vec::new();
            let mut a = [0.0; 2];
            for _ in 0..3 {
                p.plan(&mut model, far(), &mut a).unwrap();
                out.extend(a.map(f32::to_bits));
            }
            out
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn stops_iterating_before_the_deadline() {
        let t0 = Instant::now();
        let clock = Arc::new(Mutex::new(t0));
        let now = |c: &Arc<Mutex<Instant>>| *c.lock().unwrap();
        let mut model = Quadratic::new(vec![0.0]);
        model.clock = Some((clock.clone(), Duration::from_millis(2)));
        let cfg = PlannerConfig {
            deadline_margin_us: 300,
            min_iterations: 0,
            ..config()
        };
        let mut p = Planner::new(cfg, 1).unwrap();
        let mut a = [0.0];
        let deadline = t0 + Duration::from_millis(5);
        let c = clock.clone();
        let out = p
            .plan_with_clock(&mut model, deadline, &mut a, &mut || now(&c))
            .unwrap();
        // 0 -> 2 ms -> 4 ms; a third 2 ms iteration would end after 5 ms - 0.3 ms.
        assert_eq!(out.iterations, 2);
        assert!(now(&clock) <= deadline);
        // A deadline already passed: no iteration, the warm start's action.
        let c = clock.clone();
        let late = now(&clock);
        let out = p
            .plan_with_clock(&mut model, late, &mut a, &mut || now(&c))
            .unwrap();
        assert_eq!(out.iterations, 0);
        assert_eq!(now(&clock), late);
        assert!(a[0].is_finite() && (-1.0..=1.0).contains(&a[0]));
        // With one refit guaranteed, a late plan still looks at the state.
        let mut p = Planner::new(
            PlannerConfig {
                min_iterations: 1,
                ..config()
            },
            1,
        )
        .unwrap();
        let c = clock.clone();
        let late = now(&clock);
        let out = p
            .plan_with_clock(&mut model, late, &mut a, &mut || now(&c))
            .unwrap();
        assert_eq!(out.iterations, 1);
    }

    #[test]
    fn nan_scores_are_an_error_and_bad_configs_are_refused() {
        struct Nan(Quadratic);
        impl PlanModel for Nan {
            fn name(&self) -> &str {
                "nan"
            }
            fn act_dim(&self) -> usize {
                1
            }
            fn action_scale(&self) -> (&[f32], &[f32]) {
                self.0.action_scale()
            }
            fn begin(&mut self, _: &PlanState<'_>) -> Result<(), PlanError> {
                Ok(())
            }
            fn evaluate(
                &mut self,
                _: &[f32],
                _: usize,
                _: usize,
                _: usize,
                values: &mut [f32],
            ) -> Result<(), PlanError> {
                values.fill(f32::NAN);
                Ok(())
            }
        }
        let mut p = Planner::new(config(), 1).unwrap();
        let err = p
            .plan(&mut Nan(Quadratic::new(vec![0.0])), far(), &mut [0.0])
            .unwrap_err();
        assert!(err.to_string().contains("NaN"), "{err}");
        for bad in [
            PlannerConfig {
                elites: 0,
                ..config()
            },
            PlannerConfig {
                elites: 1000,
                ..config()
            },
            PlannerConfig {
                horizon: 0,
                ..config()
            },
            PlannerConfig {
                min_std: 0.0,
                ..config()
            },
            PlannerConfig {
                policy_samples: 128,
                ..config()
            },
            PlannerConfig {
                discount: 1.5,
                ..config()
            },
            PlannerConfig {
                min_iterations: 7,
                ..config()
            },
        ] {
            assert!(Planner::new(bad, 1).is_err());
        }
        assert!(Planner::new(config(), 0).is_err());
    }

    /// With `hold`, the planner plans at the start of each block of
    /// `action_repeat` ticks and repeats that action in between without
    /// calling the model, and `holds_next` says so before each call.
    #[test]
    fn a_holding_planner_plans_once_per_block_and_says_when_it_will_hold() {
        let mut model = Quadratic::new(vec![0.5]);
        let mut planner = Planner::new(
            PlannerConfig {
                action_repeat: 3,
                hold: true,
                ..config()
            },
            1,
        )
        .unwrap();
        let mut action = [0.0f32];
        let mut planned = Vec::new();
        for tick in 0..7 {
            let holds = planner.holds_next();
            let before = model.calls;
            let previous = action;
            planner.plan(&mut model, far(), &mut action).unwrap();
            assert_eq!(holds, model.calls == before, "tick {tick}");
            if holds {
                assert_eq!(action, previous, "tick {tick}: the held action");
            } else {
                planned.push(tick);
            }
        }
        assert_eq!(planned, vec![0, 3, 6]);
        // A reset starts a new block: the next call plans.
        planner.reset(1);
        assert!(!planner.holds_next());
    }
}
