//! Where `umwelt-sim` meets `umwelt-models`: the dataset spec (robot, task,
//! observation and action fields, control period) of a simulated robot's
//! episodes, which datasets are written with and checkpoints are checked
//! against.

use umwelt_models::dataset::{DatasetSpec, FieldSpec};
use umwelt_sim::{Env, SpecEntry};

/// A simulator spec entry as a dataset field.
pub fn field_spec(entry: &SpecEntry) -> FieldSpec {
    FieldSpec::new(
        entry.name.clone(),
        entry.low,
        entry.high,
        entry.unit.clone(),
    )
}

/// The dataset spec of episodes of `env`: robot, task, observation and
/// action entries, control period.
pub fn dataset_spec(env: &Env) -> DatasetSpec {
    DatasetSpec::new(
        env.robot_name(),
        env.task_name(),
        env.observation_spec()
            .entries
            .iter()
            .map(field_spec)
            .collect(),
        env.action_spec().entries.iter().map(field_spec).collect(),
        env.control_period(),
    )
}
