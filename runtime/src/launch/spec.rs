//! Launch files: what they may say, parsing and validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Seconds a node has to print its `ready` text when the file does not say.
pub const DEFAULT_READY_TIMEOUT_S: f64 = 10.0;
/// Seconds a node has to exit after SIGINT before SIGKILL, when the file
/// does not say.
pub const DEFAULT_STOP_TIMEOUT_S: f64 = 5.0;
/// Restarts a node gets when the file does not say.
pub const DEFAULT_MAX_RESTARTS: u32 = 3;
/// The longest `stop_timeout_s`: one hour.
pub const MAX_STOP_TIMEOUT_S: f64 = 3_600.0;
/// The longest `ready_timeout_s`: one day.
pub const MAX_READY_TIMEOUT_S: f64 = 86_400.0;

/// Errors reading a launch file. Each names the file, and the field when one
/// is at fault.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The file could not be read.
    #[error("launch file {}: cannot read it", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has unknown fields or wrong types.
    #[error("launch file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's complaint (with line and column).
        message: String,
    },
    /// A field has a value that cannot work.
    #[error("launch file {}: {field}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The field, e.g. `node[1].cmd`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

/// When a node that exited is started again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never: when the node ends, launch stops the others.
    #[default]
    Never,
    /// When it exits with a non-zero code or is killed by a signal.
    OnFailure,
    /// Whenever it exits.
    Always,
}

impl RestartPolicy {
    /// Whether an exit, clean or not, calls for a restart.
    pub fn wants_restart(self, clean: bool) -> bool {
        match self {
            Self::Never => false,
            Self::OnFailure => !clean,
            Self::Always => true,
        }
    }
}

/// A launch file: the nodes to start together, in order.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchFile {
    /// zenoh meeting endpoint exported to every node as
    /// `UMWELT_ZENOH_ENDPOINT`.
    #[serde(default)]
    pub zenoh_endpoint: Option<String>,
    /// Seconds each node has to exit after SIGINT before it is killed.
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout_s: f64,
    /// Environment variables set for every node.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The nodes, in start order (`[[node]]` tables).
    #[serde(default, rename = "node")]
    pub nodes: Vec<NodeSpec>,
}

/// One node of a launch file: a process to start and supervise.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique name; prefixes the node's output lines.
    pub name: String,
    /// Program and arguments; a first word `umwelt` means this very
    /// executable.
    pub cmd: Vec<String>,
    /// Text that, once seen in a line of the node's stdout or stderr, means
    /// it is ready; none means ready once started.
    #[serde(default)]
    pub ready: Option<String>,
    /// Seconds the node has to print `ready`.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout_s: f64,
    /// When to start it again after it exits.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// At most this many restarts.
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// Environment variables for this node (over the file's `[env]`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory of the node (default: the one launch runs in).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
}

fn default_stop_timeout() -> f64 {
    DEFAULT_STOP_TIMEOUT_S
}

fn default_ready_timeout() -> f64 {
    DEFAULT_READY_TIMEOUT_S
}

fn default_max_restarts() -> u32 {
    DEFAULT_MAX_RESTARTS
}

impl LaunchFile {
    /// Reads and validates a launch file.
    pub fn load(path: &Path) -> Result<Self, LaunchError> {
        let text = std::fs::read_to_string(path).map_err(|source| LaunchError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates launch-file text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, LaunchError> {
        let file: Self = toml::from_str(text).map_err(|e| LaunchError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        file.validate(path)?;
        Ok(file)
    }

    /// Checks what TOML types cannot: non-empty names and commands, unique
    /// names, sensible timeouts.
    pub fn validate(&self, path: &Path) -> Result<(), LaunchError> {
        let invalid = |field: String, message: String| LaunchError::Invalid {
            path: path.to_path_buf(),
            field,
            message,
        };
        if self.nodes.is_empty() {
            return Err(invalid(
                "node".into(),
                "no [[node]] tables: nothing to launch".into(),
            ));
        }
        if !(self.stop_timeout_s >= 0.0 && self.stop_timeout_s <= MAX_STOP_TIMEOUT_S) {
            return Err(invalid(
                "stop_timeout_s".into(),
                format!(
                    "{:?} is not a number of seconds in [0, {MAX_STOP_TIMEOUT_S}]",
                    self.stop_timeout_s
                ),
            ));
        }
        if let Some(e) = &self.zenoh_endpoint
            && (e.trim().is_empty() || !e.contains('/'))
        {
            return Err(invalid(
                "zenoh_endpoint".into(),
                format!("`{e}` is not a zenoh locator (e.g. tcp/127.0.0.1:7447)"),
            ));
        }
        for (key, _) in self.env.iter() {
            check_env_key(key).map_err(|m| invalid(format!("env.{key}"), m))?;
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let at = |field: &str| format!("node[{i}] (`{}`).{field}", node.name);
            if node.name.trim().is_empty() {
                return Err(invalid(
                    format!("node[{i}].name"),
                    "must not be empty".into(),
                ));
            }
            if node
                .name
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(invalid(
                    format!("node[{i}].name"),
                    format!("`{}` must not contain spaces", node.name),
                ));
            }
            if let Some(j) = self.nodes[..i].iter().position(|n| n.name == node.name) {
                return Err(invalid(
                    format!("node[{i}].name"),
                    format!(
                        "`{}` is also the name of node[{j}]; names must be unique",
                        node.name
                    ),
                ));
            }
            match node.cmd.first() {
                None => return Err(invalid(at("cmd"), "must not be empty".into())),
                Some(p) if p.trim().is_empty() => {
                    return Err(invalid(at("cmd"), "the program (cmd[0]) is empty".into()));
                }
                Some(_) => {}
            }
            if node.ready.as_deref().is_some_and(str::is_empty) {
                return Err(invalid(
                    at("ready"),
                    "must not be empty (leave it out to mean ready once started)".into(),
                ));
            }
            if !(node.ready_timeout_s > 0.0 && node.ready_timeout_s <= MAX_READY_TIMEOUT_S) {
                return Err(invalid(
                    at("ready_timeout_s"),
                    format!(
                        "{:?} is not a number of seconds in (0, {MAX_READY_TIMEOUT_S}]",
                        node.ready_timeout_s
                    ),
                ));
            }
            for (key, _) in node.env.iter() {
                check_env_key(key).map_err(|m| invalid(at(&format!("env.{key}")), m))?;
            }
        }
        Ok(())
    }
}

/// An environment variable name must be non-empty and free of `=` and NUL.
fn check_env_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.contains(['=', '\0']) {
        return Err(format!("`{key}` is not an environment variable name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_beyond_their_range_name_the_field() {
        let node = "[[node]]\nname = \"a\"\ncmd = [\"true\"]\n";
        for (text, field) in [
            (format!("stop_timeout_s = 1e300\n{node}"), "stop_timeout_s"),
            (format!("stop_timeout_s = nan\n{node}"), "stop_timeout_s"),
            (
                format!("{node}ready_timeout_s = 1e300\n"),
                "node[0] (`a`).ready_timeout_s",
            ),
            (
                format!("{node}ready_timeout_s = 0.0\n"),
                "node[0] (`a`).ready_timeout_s",
            ),
        ] {
            match LaunchFile::parse(&text, Path::new("x.toml")) {
                Err(LaunchError::Invalid { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        let ok = format!("stop_timeout_s = {MAX_STOP_TIMEOUT_S}\n{node}");
        LaunchFile::parse(&ok, Path::new("x.toml")).expect("the limit itself");
    }
}
