//! `eval.json` in LeRobot's `eval_info.json` layout, beside umwelt's own
//! fields. LeRobot (huggingface/lerobot, `src/lerobot/scripts/lerobot_eval.py`
//! at 7427f31) writes two shapes: `eval_policy` returns `per_episode`,
//! `aggregated` and `video_paths` for one environment; `eval_policy_all`,
//! what `lerobot-eval` saves, returns `per_task`, `per_group` and
//! `overall` over task groups. umwelt writes both (one task group, the
//! robot and task, with one task), so readers of either find their keys.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::offline::eval::{EpisodeReport, EvalSummary};

/// One row of `per_episode`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerEpisode {
    /// Index in the evaluation.
    pub episode_ix: usize,
    /// Return.
    pub sum_reward: f64,
    /// Largest single-step reward.
    pub max_reward: f64,
    /// The task's success rule at the last step.
    pub success: bool,
    /// The episode's seed.
    pub seed: u64,
}

/// `aggregated`: means over the episodes and wall times (and, beyond
/// LeRobot's `eval_policy`, `n_episodes`, which its metric parsers read).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Aggregated {
    /// Mean return.
    pub avg_sum_reward: f64,
    /// Mean of each episode's largest reward.
    pub avg_max_reward: f64,
    /// Percentage of successful episodes.
    pub pc_success: f64,
    /// Wall time of the evaluation, s.
    pub eval_s: f64,
    /// Wall time per episode, s.
    pub eval_ep_s: f64,
    /// Episodes.
    pub n_episodes: usize,
}

/// `overall` (and, without the times, each `per_group` entry).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Overall {
    /// Mean return.
    pub avg_sum_reward: f64,
    /// Mean of each episode's largest reward.
    pub avg_max_reward: f64,
    /// Percentage of successful episodes.
    pub pc_success: f64,
    /// Episodes.
    pub n_episodes: usize,
    /// Wall time of the evaluation, s (absent in `per_group`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_s: Option<f64>,
    /// Wall time per episode, s (absent in `per_group`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_ep_s: Option<f64>,
    /// Videos, relative to the report folder.
    pub video_paths: Vec<String>,
    /// Videos of a policy's predictions: none in umwelt.
    pub predicted_video_paths: Vec<String>,
}

/// Per-episode lists of one task, as in `per_task[].metrics`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskMetrics {
    /// Returns.
    pub sum_rewards: Vec<f64>,
    /// Largest rewards.
    pub max_rewards: Vec<f64>,
    /// Successes.
    pub successes: Vec<bool>,
    /// Videos, relative to the report folder.
    pub video_paths: Vec<String>,
    /// Videos of a policy's predictions: none in umwelt.
    pub predicted_video_paths: Vec<String>,
}

/// One entry of `per_task`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerTask {
    /// The task group: `<robot>_<task>`.
    pub task_group: String,
    /// Task within the group: always 0.
    pub task_id: usize,
    /// Its episodes.
    pub metrics: TaskMetrics,
}

/// The LeRobot keys of `eval.json`, flattened into umwelt's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeRobotInfo {
    /// One row per episode.
    pub per_episode: Vec<PerEpisode>,
    /// Means and times (`eval_policy`'s shape).
    pub aggregated: Aggregated,
    /// The one task's per-episode lists (`lerobot-eval`'s shape).
    pub per_task: Vec<PerTask>,
    /// The one task group's means.
    pub per_group: BTreeMap<String, Overall>,
    /// Means, times and videos over everything.
    pub overall: Overall,
    /// Videos, relative to the report folder (present, maybe empty).
    pub video_paths: Vec<String>,
}

/// The LeRobot keys for `episodes` summarised by `s`, the task group
/// named `group`, and videos at `video_paths`.
pub fn lerobot_info(
    group: &str,
    s: &EvalSummary,
    episodes: &[EpisodeReport],
    video_paths: Vec<String>,
) -> LeRobotInfo {
    let per_episode = episodes
        .iter()
        .map(|e| PerEpisode {
            episode_ix: e.index,
            sum_reward: e.ret,
            max_reward: e.max_reward as f64,
            success: e.success,
            seed: e.seed,
        })
        .collect();
    let overall = |times: bool| Overall {
        avg_sum_reward: s.avg_sum_reward,
        avg_max_reward: s.avg_max_reward,
        pc_success: s.pc_success,
        n_episodes: episodes.len(),
        eval_s: times.then_some(s.eval_s),
        eval_ep_s: times.then_some(s.eval_ep_s),
        video_paths: video_paths.clone(),
        predicted_video_paths: Vec::new(),
    };
    LeRobotInfo {
        per_episode,
        aggregated: Aggregated {
            avg_sum_reward: s.avg_sum_reward,
            avg_max_reward: s.avg_max_reward,
            pc_success: s.pc_success,
            eval_s: s.eval_s,
            eval_ep_s: s.eval_ep_s,
            n_episodes: episodes.len(),
        },
        per_task: vec![PerTask {
            task_group: group.to_string(),
            task_id: 0,
            metrics: TaskMetrics {
                sum_rewards: episodes.iter().map(|e| e.ret).collect(),
                max_rewards: episodes.iter().map(|e| e.max_reward as f64).collect(),
                successes: episodes.iter().map(|e| e.success).collect(),
                video_paths: video_paths.clone(),
                predicted_video_paths: Vec::new(),
            },
        }],
        per_group: BTreeMap::from([(group.to_string(), overall(false))]),
        overall: overall(true),
        video_paths,
    }
}
