//! An episode's dynamic state moved by hand: saved and restored in place
//! ([`EpisodeState`]), or set from joint states and measurements (tests,
//! and planners that roll the true simulator out from a measured state).

use super::Env;
use crate::error::{Result, SimError};
use crate::robots;
use crate::spec::{Measurement, Observation};

/// The dynamic state of an episode: what [`Env::save_state`] captures and
/// [`Env::restore_state`] puts back, in place, without rebuilding the physics.
/// Planners that roll the true simulator out many times from one state use it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpisodeState {
    q: Vec<f32>,
    qd: Vec<f32>,
    efforts: Vec<f32>,
    servo_integral: Vec<f32>,
    step: u32,
    ended: bool,
    goal_streak: u32,
    goal_always: bool,
}

impl EpisodeState {
    /// Joint positions (declared joint order).
    pub fn positions(&self) -> &[f32] {
        &self.q
    }
    /// Joint velocities (declared joint order).
    pub fn velocities(&self) -> &[f32] {
        &self.qd
    }
    /// Control steps taken in the episode.
    pub fn step(&self) -> u32 {
        self.step
    }
}

impl Env {
    /// Puts the robot of the current episode into the joint state `q`, `qd`
    /// (declared joint order), keeping the episode's task state (target,
    /// randomised parameters, step count). For tests, and for planners that
    /// roll the true simulator out from a measured state.
    pub fn set_state(&mut self, q: &[f32], qd: &[f32]) -> Result<Observation> {
        let n = self.joint_names.len();
        let mut ep = self.episode.take().ok_or(SimError::NotReset)?;
        if q.len() != n || qd.len() != n || !q.iter().chain(qd).all(|v| v.is_finite()) {
            self.episode = Some(ep);
            return Err(SimError::BadState {
                expected: n,
                got_q: q.len(),
                got_qd: qd.len(),
            });
        }
        let built = robots::build(&self.cfg, &ep.scales, self.urdf.as_ref());
        let mut model = match built {
            Ok(m) => m,
            Err(e) => {
                self.episode = Some(ep);
                return Err(e);
            }
        };
        model.art.set_state(q, qd);
        model.art.positions(&mut ep.q);
        model.art.velocities(&mut ep.qd);
        ep.model = model;
        ep.delayed.clear();
        let m = self.measure(&mut ep);
        for _ in 0..=self.cfg.realism.sensor_delay {
            ep.delayed.push_back(m.clone());
        }
        let obs = self.observe(&mut ep);
        self.episode = Some(ep);
        Ok(obs)
    }

    /// The episode's dynamic state (joints, servo integrals, step count and
    /// success bookkeeping); restore it with [`Env::restore_state`].
    pub fn save_state(&self) -> Result<EpisodeState> {
        let ep = self.episode.as_ref().ok_or(SimError::NotReset)?;
        Ok(EpisodeState {
            q: ep.q.clone(),
            qd: ep.qd.clone(),
            efforts: ep.efforts.clone(),
            servo_integral: ep.servo_integral.clone(),
            step: ep.step,
            ended: ep.ended,
            goal_streak: ep.goal_streak,
            goal_always: ep.goal_always,
        })
    }

    /// Puts back a state saved from this episode, in place: much cheaper
    /// than [`Env::set_state`], which rebuilds the physics. The task's own
    /// state (target) and the sensor-noise stream are left as they are, and
    /// the sensor-delay queue restarts from the restored state.
    pub fn restore_state(&mut self, s: &EpisodeState) -> Result<()> {
        let n = self.joint_names.len();
        let mut ep = self.episode.take().ok_or(SimError::NotReset)?;
        if s.q.len() != n || s.qd.len() != n || s.servo_integral.len() != n {
            self.episode = Some(ep);
            return Err(SimError::BadState {
                expected: n,
                got_q: s.q.len(),
                got_qd: s.qd.len(),
            });
        }
        ep.model.art.set_state(&s.q, &s.qd);
        ep.q.clone_from(&s.q);
        ep.qd.clone_from(&s.qd);
        ep.efforts.clone_from(&s.efforts);
        ep.servo_integral.clone_from(&s.servo_integral);
        ep.step = s.step;
        ep.ended = s.ended;
        ep.goal_streak = s.goal_streak;
        ep.goal_always = s.goal_always;
        ep.delayed.clear();
        let m = self.measure(&mut ep);
        for _ in 0..=self.cfg.realism.sensor_delay {
            ep.delayed.push_back(m.clone());
        }
        self.episode = Some(ep);
        Ok(())
    }

    /// Moves the current episode to a measured state: joint positions and
    /// velocities from `m`, and the task's own state (a target) from its
    /// channels. This is how a planner holding its own simulator follows a
    /// robot it only knows through sensor frames. The step count is kept.
    pub fn sync_to_measurement(&mut self, m: &Measurement) -> Result<()> {
        let n = self.joint_names.len();
        let mut ep = self.episode.take().ok_or(SimError::NotReset)?;
        if m.positions.len() != n
            || m.velocities.len() != n
            || !m
                .positions
                .iter()
                .chain(&m.velocities)
                .all(|v| v.is_finite())
        {
            self.episode = Some(ep);
            return Err(SimError::BadState {
                expected: n,
                got_q: m.positions.len(),
                got_qd: m.velocities.len(),
            });
        }
        ep.model.art.set_state(&m.positions, &m.velocities);
        ep.model.art.positions(&mut ep.q);
        ep.model.art.velocities(&mut ep.qd);
        self.task.sync_channels(&ep.model, &m.channels);
        ep.ended = false;
        ep.delayed.clear();
        let now = self.measure(&mut ep);
        for _ in 0..=self.cfg.realism.sensor_delay {
            ep.delayed.push_back(now.clone());
        }
        self.episode = Some(ep);
        Ok(())
    }
}
