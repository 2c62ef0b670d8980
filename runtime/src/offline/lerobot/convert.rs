//! LeRobot episodes into umwelt episodes of a described robot, checked
//! against the description: dimensions and names, the frame rate against
//! the control period, every value finite, every action inside the
//! command limits (refused, not clipped: a clipped action is not what the
//! robot did). Rewards come from `next.reward`, else from the task's rule
//! applied to the observations (when they hold what the rule reads).

use serde::Serialize;
use umwelt_models::dataset::{DatasetSpec, Episode};
use umwelt_sim::observation::{FeatureKind, ObservationMap};
use umwelt_sim::{Measurement, observation::Feature};

use super::LerobotError;
use super::read::{LerobotDataset, LerobotEpisode};
use crate::robot::{RobotDescription, TaskJudge};

/// LeRobot's tolerance on timestamps (`tolerance_s` of `LeRobotDataset`).
const TIMESTAMP_TOLERANCE_S: f64 = 1e-4;

/// Where the imported rewards come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardSource {
    /// The dataset's `next.reward` column.
    NextReward,
    /// The description's task rule applied to the observations.
    TaskRule,
}

/// What [`to_episodes`] made of a LeRobot dataset.
#[derive(Clone, Debug, Serialize)]
pub struct ImportReport {
    /// `codebase_version`.
    pub version: String,
    /// Frames per second.
    pub fps: f64,
    /// Episodes in the LeRobot dataset.
    pub lerobot_episodes: usize,
    /// Frames in the LeRobot dataset.
    pub frames: u64,
    /// umwelt episodes made.
    pub episodes: usize,
    /// Steps in them.
    pub steps: u64,
    /// Episodes of one frame, left out (no transition).
    pub skipped_short: usize,
    /// Episodes whose final observation came from umwelt's metadata (an
    /// umwelt export); the others end at their last frame, whose action
    /// leads nowhere known and is dropped.
    pub with_final_observation: usize,
    /// Where rewards come from.
    pub rewards: RewardSource,
}

/// The episodes of `data` as umwelt episodes of the robot `d`, or the
/// first problem found (naming the episode and frame).
pub fn to_episodes(
    data: &LerobotDataset,
    d: &RobotDescription,
) -> Result<(Vec<Episode>, ImportReport), LerobotError> {
    let invalid = LerobotError::Invalid;
    let spec = d
        .dataset_spec()
        .map_err(|e| invalid(format!("robot {}: {e}", d.robot)))?;
    check_shape(data, &spec)?;
    let product = data.info.fps * d.control_period;
    if (product - 1.0).abs() > 1e-6 {
        return Err(invalid(format!(
            "fps {} does not match the control period {} s of {} ({} frames a second)",
            data.info.fps,
            d.control_period,
            d.robot,
            1.0 / d.control_period
        )));
    }
    let judge = TaskJudge::new(d).map_err(|e| invalid(format!("robot {}: {e}", d.robot)))?;
    let has_rewards = data.episodes.iter().all(|e| e.rewards.is_some());
    let rule = if has_rewards {
        None
    } else {
        Some(RuleReader::new(d)?)
    };
    let mut out = Vec::new();
    let mut report = ImportReport {
        version: data.info.codebase_version.clone(),
        fps: data.info.fps,
        lerobot_episodes: data.episodes.len(),
        frames: data.episodes.iter().map(|e| e.frames as u64).sum(),
        episodes: 0,
        steps: 0,
        skipped_short: 0,
        with_final_observation: 0,
        rewards: if has_rewards {
            RewardSource::NextReward
        } else {
            RewardSource::TaskRule
        },
    };
    for ep in &data.episodes {
        check_frames(ep, &spec, data.info.fps)?;
        let Some(episode) = convert(ep, &spec, rule.as_ref(), judge.clone())? else {
            report.skipped_short += 1;
            continue;
        };
        report.with_final_observation += usize::from(ep.extras.is_some());
        report.steps += episode.len() as u64;
        out.push(episode);
    }
    report.episodes = out.len();
    Ok((out, report))
}

/// Widths and names of `observation.state` and `action` against the
/// robot's observation and actuators.
fn check_shape(data: &LerobotDataset, spec: &DatasetSpec) -> Result<(), LerobotError> {
    let invalid = LerobotError::Invalid;
    for (what, have, want) in [
        ("observation.state", data.state_dim, spec.obs_dim()),
        ("action", data.action_dim, spec.act_dim()),
    ] {
        if have != want {
            return Err(invalid(format!(
                "{what} holds {have} values a frame, robot {} has {want}",
                spec.robot
            )));
        }
    }
    let names = |feature: &str| -> Option<Vec<String>> {
        let n = &data.info.features.get(feature)?.names;
        // LeRobot's names are a list, or `{"motors": [...]}` in older datasets.
        let list = n
            .as_array()
            .or_else(|| n.as_object()?.values().next()?.as_array())?;
        list.iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    if let Some(got) = names("observation.state") {
        let want: Vec<&str> = spec.observation.iter().map(|f| f.name.as_str()).collect();
        if got != want {
            return Err(invalid(format!(
                "observation.state names [{}] are not the robot's observation [{}]",
                got.join(", "),
                want.join(", ")
            )));
        }
    }
    if let Some(got) = names("action") {
        // LeRobot names a joint's command `joint` or `joint.pos`.
        for (g, f) in got.iter().zip(&spec.action) {
            if g != &f.name && !g.starts_with(&format!("{}.", f.name)) {
                return Err(invalid(format!(
                    "action names [{}] are not the robot's actuators [{}]",
                    got.join(", "),
                    spec.action
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// Every value finite, every action within its limits, timestamps a
/// frame period apart.
fn check_frames(ep: &LerobotEpisode, spec: &DatasetSpec, fps: f64) -> Result<(), LerobotError> {
    let e = ep.index;
    let bad =
        |t: usize, what: String| LerobotError::Invalid(format!("episode {e}, frame {t}: {what}"));
    let (od, ad) = (spec.obs_dim(), spec.act_dim());
    for (i, v) in ep.states.iter().enumerate() {
        if !v.is_finite() {
            let name = &spec.observation[i % od].name;
            return Err(bad(i / od, format!("observation.state `{name}` is {v}")));
        }
    }
    if let Some(x) = &ep.extras
        && let Some(v) = x.final_observation.iter().find(|v| !v.is_finite())
    {
        return Err(bad(ep.frames, format!("the final observation holds {v}")));
    }
    for (i, v) in ep.actions.iter().enumerate() {
        let f = &spec.action[i % ad];
        if !v.is_finite() || *v < f.low || *v > f.high {
            return Err(bad(
                i / ad,
                format!(
                    "action `{}` = {v} is outside its limits [{}, {}] {}",
                    f.name, f.low, f.high, f.unit
                ),
            ));
        }
    }
    if let Some(r) = &ep.rewards
        && let Some(t) = r.iter().position(|v| !v.is_finite())
    {
        return Err(bad(t, format!("next.reward is {}", r[t])));
    }
    if let Some(ts) = &ep.timestamps {
        for (t, w) in ts.windows(2).enumerate() {
            let gap = w[1] - w[0];
            if !gap.is_finite() || (gap - 1.0 / fps).abs() > TIMESTAMP_TOLERANCE_S {
                return Err(bad(
                    t + 1,
                    format!(
                        "timestamp {} is {gap} s after the frame before, not 1/fps = {} s",
                        w[1],
                        1.0 / fps
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One LeRobot episode as an umwelt episode; `None` if it has no
/// transition (a single frame and no final observation).
fn convert(
    ep: &LerobotEpisode,
    spec: &DatasetSpec,
    rule: Option<&RuleReader>,
    mut judge: TaskJudge,
) -> Result<Option<Episode>, LerobotError> {
    let (od, ad) = (spec.obs_dim(), spec.act_dim());
    let mut observations = ep.states.clone();
    let steps = match &ep.extras {
        Some(x) => {
            observations.extend_from_slice(&x.final_observation);
            ep.frames
        }
        None => ep.frames.saturating_sub(1),
    };
    if steps == 0 {
        return Ok(None);
    }
    observations.truncate((steps + 1) * od);
    let actions = ep.actions[..steps * ad].to_vec();
    let obs = |t: usize| &observations[t * od..(t + 1) * od];
    judge.reset();
    let mut success = false;
    let rewards: Vec<f32> = match (&ep.rewards, rule) {
        (Some(r), _) => r[..steps].to_vec(),
        (None, Some(rule)) => (0..steps)
            .map(|t| {
                let m = rule.measurement(obs(t + 1));
                let r = judge.reward(&m);
                success = judge.step(&m, r);
                r
            })
            .collect(),
        (None, None) => unreachable_rewards()?,
    };
    // What the dataset says of the end wins over the rule's judgement.
    let (terminated, truncated, seed) = match &ep.extras {
        Some(x) => {
            success = x.success;
            (x.terminated, x.truncated, x.seed)
        }
        None => {
            if let Some(s) = &ep.success {
                // LeRobot's evaluation counts an episode a success if any frame is.
                success = s.iter().any(|v| *v);
            }
            // Like a recording: ended where the data ends, not by the task.
            (false, true, ep.index.max(0) as u64)
        }
    };
    let episode = Episode {
        seed,
        observations,
        actions,
        rewards,
        terminated,
        truncated,
        success,
        frames: None,
    };
    episode.validate(od, ad)?;
    Ok(Some(episode))
}

/// The error for rewards with neither a column nor a rule (prevented by
/// [`to_episodes`], which builds a rule whenever a column is missing).
fn unreachable_rewards() -> Result<Vec<f32>, LerobotError> {
    Err(LerobotError::Invalid(
        "an episode without next.reward".into(),
    ))
}

/// Reads measurements back from observation vectors, for the task rule.
struct RuleReader {
    features: Vec<Feature>,
    joints: usize,
    channels: usize,
}

impl RuleReader {
    /// A reader for `d`'s observation, if it holds everything `d`'s task
    /// rule reads; else an error naming what is missing.
    fn new(d: &RobotDescription) -> Result<Self, LerobotError> {
        let (joints, channels) = (d.joint_names(), d.channel_names());
        let have = d
            .observation_map()
            .map_err(|e| LerobotError::Invalid(e.to_string()))?;
        let mut needed: Vec<String> = match &d.task.reward.channel {
            Some(c) => vec![c.clone()],
            None => d
                .task
                .reward
                .terms
                .iter()
                .flat_map(|t| t.features.clone())
                .collect(),
        };
        needed.extend(d.task.success.channel.clone());
        let needed = ObservationMap::new(&needed, &joints, &channels)
            .map_err(|e| LerobotError::Invalid(e.to_string()))?;
        let held = |kind: FeatureKind, index: usize| {
            have.features()
                .iter()
                .any(|f| f.kind == kind && f.index == index)
        };
        for f in needed.features() {
            let ok = held(f.kind, f.index)
                || (matches!(f.kind, FeatureKind::Cos | FeatureKind::Sin)
                    && held(FeatureKind::Position, f.index))
                || (f.kind == FeatureKind::Position
                    && held(FeatureKind::Cos, f.index)
                    && held(FeatureKind::Sin, f.index));
            if !ok {
                return Err(LerobotError::Invalid(format!(
                    "no next.reward column, and the task rule of {} reads `{}`, which \
                     observation.state does not hold",
                    d.robot, f.name
                )));
            }
        }
        Ok(Self {
            features: have.features().to_vec(),
            joints: joints.len(),
            channels: channels.len(),
        })
    }

    /// The measurement an observation vector shows (a joint angle from its
    /// cosine and sine where the position is not observed).
    fn measurement(&self, obs: &[f32]) -> Measurement {
        let mut m = Measurement {
            positions: vec![0.0; self.joints],
            velocities: vec![0.0; self.joints],
            efforts: vec![0.0; self.joints],
            channels: vec![0.0; self.channels],
        };
        let mut cos: Vec<Option<f32>> = vec![None; self.joints];
        let mut sin: Vec<Option<f32>> = vec![None; self.joints];
        let mut pos: Vec<bool> = vec![false; self.joints];
        for (f, v) in self.features.iter().zip(obs) {
            match f.kind {
                FeatureKind::Position => {
                    m.positions[f.index] = *v;
                    pos[f.index] = true;
                }
                FeatureKind::Velocity => m.velocities[f.index] = *v,
                FeatureKind::Effort => m.efforts[f.index] = *v,
                FeatureKind::Channel => m.channels[f.index] = *v,
                FeatureKind::Cos => cos[f.index] = Some(*v),
                FeatureKind::Sin => sin[f.index] = Some(*v),
            }
        }
        for j in (0..self.joints).filter(|j| !pos[*j]) {
            m.positions[j] = match (cos[j], sin[j]) {
                (Some(c), Some(s)) => s.atan2(c),
                (Some(c), None) => c.clamp(-1.0, 1.0).acos(),
                (None, Some(s)) => s.clamp(-1.0, 1.0).asin(),
                (None, None) => 0.0,
            };
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::offline::lerobot::{Feature, Info};

    /// A described pendulum whose task rule reads `hinge.cos` (terms, not
    /// a channel), so rewards can come from observations alone.
    const PENDULUM: &str = r#"
description_format = 1
robot = "np_pendulum"
control_period = 0.02
observation = ["hinge.cos", "hinge.sin", "hinge.vel"]

[[joints]]
name = "hinge"
type = "revolute"
velocity_limit = 20.0
effort_limit = 2.0

[actuation]
mode = "torque"
joints = ["hinge"]

[task]
name = "swingup"
episode_steps = 10
reward = { terms = [{ features = ["hinge.cos"], bounds = [0.99, 1.0], margin = 1.0, sigmoid = "linear", value_at_margin = 0.5 }] }
success = { reward_at_least = 1.0, final_steps = 2 }
"#;

    fn dataset(actions: Vec<f32>) -> LerobotDataset {
        let f = |shape: usize| Feature {
            dtype: "float32".into(),
            shape: vec![shape],
            names: serde_json::Value::Null,
        };
        let pi = std::f32::consts::PI;
        // Upright, upright, hanging: angles 0, 0, pi.
        let states = [0.0f32, 0.0, pi]
            .iter()
            .flat_map(|a| [a.cos(), a.sin(), 0.0])
            .collect();
        LerobotDataset {
            root: "mem".into(),
            info: Info {
                codebase_version: "v3.0".into(),
                robot_type: None,
                total_episodes: 1,
                total_frames: 3,
                total_tasks: 1,
                chunks_size: 1000,
                data_files_size_in_mb: None,
                video_files_size_in_mb: None,
                fps: 50.0,
                splits: BTreeMap::new(),
                data_path: String::new(),
                video_path: None,
                features: BTreeMap::from([
                    ("observation.state".to_string(), f(3)),
                    ("action".to_string(), f(1)),
                ]),
            },
            state_dim: 3,
            action_dim: 1,
            episodes: vec![LerobotEpisode {
                index: 4,
                frames: 3,
                states,
                actions,
                rewards: None,
                success: None,
                timestamps: Some(vec![0.0, 0.02, 0.04]),
                extras: None,
            }],
            data_files: 1,
        }
    }

    #[test]
    fn without_next_reward_the_task_rule_scores_the_observations() {
        let d = RobotDescription::parse(PENDULUM, "test").unwrap();
        let (eps, report) = to_episodes(&dataset(vec![0.5, -0.5, 1.0]), &d).unwrap();
        assert_eq!(report.rewards, RewardSource::TaskRule);
        assert_eq!(eps.len(), 1);
        let ep = &eps[0];
        // Three frames, two transitions: into upright (1.0), into hanging
        // (cos -1 is 1.99 below the bound: 1 - 1.99 * 0.5 = 0.005).
        assert_eq!(ep.len(), 2);
        assert_eq!(ep.actions, [0.5, -0.5]);
        assert_eq!(ep.rewards[0], 1.0);
        assert!((ep.rewards[1] - 0.005).abs() < 1e-4, "{}", ep.rewards[1]);
        assert_eq!(ep.seed, 4);
        assert!(ep.truncated && !ep.success);
    }

    #[test]
    fn an_action_beyond_the_limit_is_refused_naming_episode_and_frame() {
        let d = RobotDescription::parse(PENDULUM, "test").unwrap();
        let err = to_episodes(&dataset(vec![0.5, 2.5, 0.0]), &d).unwrap_err();
        assert_eq!(
            err.to_string(),
            "episode 4, frame 1: action `hinge` = 2.5 is outside its limits [-2, 2] N*m"
        );
    }
}
