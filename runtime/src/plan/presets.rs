//! Planner settings that work for the built-in robots, shared by the
//! shipped configs (`configs/oracle_*.toml`, checked by a test) and by
//! `umwelt eval --baselines oracle`.

use super::config::PlannerConfig;

/// The oracle's planner for `robot`: few samples, long look-ahead, decisions
/// held for several ticks (the true simulator is ~1000x dearer to roll out
/// than the latent model), every iteration run whatever the deadline.
pub fn oracle_planner(robot: &str) -> PlannerConfig {
    let (horizon, action_repeat) = match robot {
        "cartpole" => (10, 10),
        "pendulum" => (20, 10),
        "arm" => (8, 5),
        _ => (8, 3),
    };
    PlannerConfig {
        samples: 32,
        elites: 4,
        iterations: 2,
        min_iterations: 2,
        horizon,
        action_repeat,
        hold: true,
        policy_samples: 0,
        temperature: 1.0,
        discount: 0.99,
        ..PlannerConfig::default()
    }
}
