//! Turning a sensor [`Measurement`] into a policy's observation vector, by name.
//!
//! A feature is written `JOINT.pos`, `JOINT.vel`, `JOINT.effort`, `JOINT.cos`,
//! `JOINT.sin` or `CHANNEL`. Features are resolved against joint and channel
//! names once, so that the order of values in a message never matters: the
//! simulator and the runtime use this same map.

use crate::spec::Measurement;

/// What a feature reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureKind {
    /// Joint position.
    Position,
    /// Joint velocity.
    Velocity,
    /// Joint effort.
    Effort,
    /// Cosine of a joint angle.
    Cos,
    /// Sine of a joint angle.
    Sin,
    /// A task channel.
    Channel,
}

/// One resolved feature: a kind and an index into the measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct Feature {
    /// The feature's name as written.
    pub name: String,
    /// What it reads.
    pub kind: FeatureKind,
    /// Index into the joint or channel list.
    pub index: usize,
}

/// An error resolving a feature name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("observation feature `{feature}`: {reason}")]
pub struct FeatureError {
    /// The feature as written.
    pub feature: String,
    /// What is wrong.
    pub reason: String,
}

/// A list of resolved features.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservationMap {
    features: Vec<Feature>,
}

impl ObservationMap {
    /// Resolves `names` against the joint and channel names.
    pub fn new<S: AsRef<str>>(
        names: &[S],
        joints: &[String],
        channels: &[String],
    ) -> Result<Self, FeatureError> {
        let features = names
            .iter()
            .map(|n| resolve(n.as_ref(), joints, channels))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { features })
    }

    /// The resolved features.
    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// Length of the vector this map produces.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// True when the map has no feature.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// Writes the feature vector of `m` into `out` (cleared first).
    ///
    /// The measurement must have the joint and channel counts this map was
    /// resolved against; the wire layer validates dimensions before this.
    pub fn fill(&self, m: &Measurement, out: &mut Vec<f32>) {
        out.clear();
        out.extend(self.features.iter().map(|f| match f.kind {
            FeatureKind::Position => m.positions[f.index],
            FeatureKind::Velocity => m.velocities[f.index],
            FeatureKind::Effort => m.efforts[f.index],
            FeatureKind::Cos => m.positions[f.index].cos(),
            FeatureKind::Sin => m.positions[f.index].sin(),
            FeatureKind::Channel => m.channels[f.index],
        }));
    }

    /// The feature vector of `m`.
    pub fn vector(&self, m: &Measurement) -> Vec<f32> {
        let mut v = Vec::with_capacity(self.features.len());
        self.fill(m, &mut v);
        v
    }
}

fn resolve(name: &str, joints: &[String], channels: &[String]) -> Result<Feature, FeatureError> {
    let err = |reason: String| FeatureError {
        feature: name.to_string(),
        reason,
    };
    if let Some(index) = channels.iter().position(|c| c == name) {
        return Ok(Feature {
            name: name.to_string(),
            kind: FeatureKind::Channel,
            index,
        });
    }
    let Some((joint, suffix)) = name.rsplit_once('.') else {
        return Err(err(format!(
            "not a channel ({}) and not of the form JOINT.pos|vel|effort|cos|sin",
            list(channels)
        )));
    };
    let kind = match suffix {
        "pos" => FeatureKind::Position,
        "vel" => FeatureKind::Velocity,
        "effort" => FeatureKind::Effort,
        "cos" => FeatureKind::Cos,
        "sin" => FeatureKind::Sin,
        other => {
            return Err(err(format!(
                "unknown suffix `.{other}`; use .pos, .vel, .effort, .cos or .sin"
            )));
        }
    };
    let index = joints
        .iter()
        .position(|j| j == joint)
        .ok_or_else(|| err(format!("unknown joint `{joint}`; joints: {}", list(joints))))?;
    Ok(Feature {
        name: name.to_string(),
        kind,
        index,
    })
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn resolves_by_name_not_position() {
        let joints = names(&["slider", "hinge"]);
        let channels = names(&["target_x"]);
        let map = ObservationMap::new(
            &["hinge.cos", "slider.pos", "target_x", "hinge.vel"],
            &joints,
            &channels,
        )
        .unwrap();
        let m = Measurement {
            positions: vec![0.5, 0.0],
            velocities: vec![1.0, 2.0],
            efforts: vec![0.0, 0.0],
            channels: vec![7.0],
        };
        assert_eq!(map.vector(&m), vec![1.0, 0.5, 7.0, 2.0]);
    }

    #[test]
    fn unknown_names_are_errors_that_say_what_exists() {
        let joints = names(&["slider"]);
        let e = ObservationMap::new(&["elbow.pos"], &joints, &[]).unwrap_err();
        assert!(e.to_string().contains("unknown joint `elbow`"), "{e}");
        assert!(e.to_string().contains("slider"), "{e}");
        let e = ObservationMap::new(&["slider.acc"], &joints, &[]).unwrap_err();
        assert!(e.to_string().contains(".acc"), "{e}");
        let e = ObservationMap::new(&["nothing"], &joints, &[]).unwrap_err();
        assert!(e.to_string().contains("JOINT.pos"), "{e}");
    }
}
