//! `dataset.json`: what the episodes of a dataset are.

use serde::{Deserialize, Serialize};

use super::DatasetError;

/// Version of the dataset format (`dataset.json` and the episode files)
/// that this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// One named, bounded entry of an observation or action vector (mirrors the
/// simulator's `SpecEntry`).
///
/// In JSON, infinite bounds are the strings `"inf"` and `"-inf"` (JSON has
/// no infinity); finite bounds are numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// Name, e.g. `slider.pos`.
    pub name: String,
    /// Lower bound (may be `-inf`).
    #[serde(with = "bound")]
    pub low: f32,
    /// Upper bound (may be `inf`).
    #[serde(with = "bound")]
    pub high: f32,
    /// Physical unit, e.g. `m`, `rad/s`, `N`, or `1` for dimensionless.
    pub unit: String,
}

impl FieldSpec {
    /// A new entry.
    pub fn new(name: impl Into<String>, low: f32, high: f32, unit: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            low,
            high,
            unit: unit.into(),
        }
    }
}

/// What every episode of a dataset is: robot, task, the meaning of each
/// observation and action component, and the control period. Stored as
/// `dataset.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetSpec {
    /// Version of the dataset format ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Robot name, e.g. `cartpole`.
    pub robot: String,
    /// Task name, e.g. `swingup`.
    pub task: String,
    /// One entry per observation component, in vector order.
    pub observation: Vec<FieldSpec>,
    /// One entry per action component, in vector order (physical units).
    pub action: Vec<FieldSpec>,
    /// Seconds between two observations (one action each).
    pub control_period: f64,
}

impl DatasetSpec {
    /// A spec of the current [`FORMAT_VERSION`].
    pub fn new(
        robot: impl Into<String>,
        task: impl Into<String>,
        observation: Vec<FieldSpec>,
        action: Vec<FieldSpec>,
        control_period: f64,
    ) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            robot: robot.into(),
            task: task.into(),
            observation,
            action,
            control_period,
        }
    }

    /// Length of an observation vector.
    pub fn obs_dim(&self) -> usize {
        self.observation.len()
    }

    /// Length of an action vector.
    pub fn act_dim(&self) -> usize {
        self.action.len()
    }

    /// A one-line summary: `robot/task (observation dim N, action dim M)`.
    pub fn summary(&self) -> String {
        format!(
            "{}/{} (observation dim {}, action dim {})",
            self.robot,
            self.task,
            self.obs_dim(),
            self.act_dim()
        )
    }

    /// Checks that the spec can describe episodes: this format version,
    /// named entries, bounds that are not NaN with `low <= high`, dimensions
    /// that fit the episode header, a positive finite control period.
    /// Returns what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.format_version != FORMAT_VERSION {
            return Err(format!(
                "format version {}, this build reads version {FORMAT_VERSION}",
                self.format_version
            ));
        }
        if self.robot.is_empty() || self.task.is_empty() {
            return Err("robot and task must be named".into());
        }
        if !(self.control_period.is_finite() && self.control_period > 0.0) {
            return Err(format!(
                "control_period {} must be a positive number of seconds",
                self.control_period
            ));
        }
        for (what, fields) in [("observation", &self.observation), ("action", &self.action)] {
            if u32::try_from(fields.len()).is_err() {
                return Err(format!("{what} dim {} is too large", fields.len()));
            }
            for (i, f) in fields.iter().enumerate() {
                if f.name.is_empty() {
                    return Err(format!("{what}[{i}] has no name"));
                }
                if f.low.is_nan() || f.high.is_nan() || f.low > f.high {
                    return Err(format!(
                        "{what}[{i}] `{}`: bounds [{}, {}] are not an interval",
                        f.name, f.low, f.high
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks that `other` describes the same episodes as `self`: format
    /// version, robot, task, control period, and for observation and action
    /// the dimension and each entry's name, bounds and unit. The error
    /// ([`DatasetError::SpecMismatch`]) lists every difference, `self`'s
    /// value first, e.g. "robot: `cartpole` vs `pendulum`".
    ///
    /// Values compare exactly. A spec read back from `dataset.json` equals
    /// the one written; to compare a fresh spec with one read from disk, use
    /// [`DatasetWriter::check_spec`](super::DatasetWriter::check_spec), which
    /// passes the fresh one through the same JSON round trip first.
    pub fn check_compatible(&self, other: &DatasetSpec) -> Result<(), DatasetError> {
        let differences = self.differences(other);
        if differences.is_empty() {
            return Ok(());
        }
        Err(DatasetError::SpecMismatch {
            expected: self.summary(),
            found: other.summary(),
            differences,
        })
    }

    /// Every difference between `self` and `other`, `self`'s value first.
    pub(crate) fn differences(&self, other: &DatasetSpec) -> Vec<String> {
        let mut d = Vec::new();
        if self.format_version != other.format_version {
            d.push(format!(
                "format version: {} vs {}",
                self.format_version, other.format_version
            ));
        }
        if self.robot != other.robot {
            d.push(format!("robot: `{}` vs `{}`", self.robot, other.robot));
        }
        if self.task != other.task {
            d.push(format!("task: `{}` vs `{}`", self.task, other.task));
        }
        for (what, a, b) in [
            ("observation", &self.observation, &other.observation),
            ("action", &self.action, &other.action),
        ] {
            if a.len() != b.len() {
                d.push(format!("{what} dim: {} vs {}", a.len(), b.len()));
            }
            if names(a) != names(b) {
                d.push(format!(
                    "{what} names: [{}] vs [{}]",
                    names(a).join(", "),
                    names(b).join(", ")
                ));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if x.name != y.name {
                    continue; // already reported with the names
                }
                if x.low.to_bits() != y.low.to_bits() || x.high.to_bits() != y.high.to_bits() {
                    d.push(format!(
                        "{what}[{i}] `{}` bounds: [{}, {}] vs [{}, {}]",
                        x.name, x.low, x.high, y.low, y.high
                    ));
                }
                if x.unit != y.unit {
                    d.push(format!(
                        "{what}[{i}] `{}` unit: `{}` vs `{}`",
                        x.name, x.unit, y.unit
                    ));
                }
            }
        }
        if self.control_period.to_bits() != other.control_period.to_bits() {
            d.push(format!(
                "control period: {} s vs {} s",
                self.control_period, other.control_period
            ));
        }
        d
    }

    /// The spec as `dataset.json` holds it (pretty JSON, newline-terminated).
    pub fn to_json(&self) -> String {
        // Serialising plain data (strings, numbers) cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses `dataset.json` text (without validating it).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// This spec passed through its JSON form, as it reads back from disk.
    pub(crate) fn normalized(&self) -> Result<Self, String> {
        Self::from_json(&self.to_json()).map_err(|e| e.to_string())
    }
}

/// The names of `fields`, in order.
fn names(fields: &[FieldSpec]) -> Vec<&str> {
    fields.iter().map(|f| f.name.as_str()).collect()
}

/// Serde of a bound: a number, or `"inf"` / `"-inf"`.
mod bound {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f32(*v)
        } else if v.is_nan() {
            s.serialize_str("nan")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f32),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Number(v) => Ok(v),
            Repr::Text(t) => match t.as_str() {
                "inf" | "+inf" | "Infinity" => Ok(f32::INFINITY),
                "-inf" | "-Infinity" => Ok(f32::NEG_INFINITY),
                "nan" | "NaN" => Ok(f32::NAN),
                _ => Err(D::Error::custom(format!(
                    "bound `{t}`: expected a number, \"inf\" or \"-inf\""
                ))),
            },
        }
    }
}
