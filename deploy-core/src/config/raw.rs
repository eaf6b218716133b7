//! The `deploy.toml` file as serde reads it: every field spanned where an
//! error may need to point at it, unknown fields refused.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::ssh::SshSettings;
use crate::plan::FailurePolicy;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) default_environment: Option<Spanned<String>>,
    pub(super) ssh: Option<SshSettings>,
    #[serde(default)]
    pub(super) secrets: BTreeMap<String, Spanned<RawSecret>>,
    #[serde(default)]
    pub(super) vars: BTreeMap<String, Spanned<Scalar>>,
    #[serde(default)]
    pub(super) environments: BTreeMap<String, Spanned<RawEnvironment>>,
    #[serde(default)]
    pub(super) tasks: BTreeMap<String, Spanned<RawTask>>,
    /// `[containers.NAME]` tables (see `containers.rs`).
    #[serde(default)]
    pub(super) containers: BTreeMap<String, Spanned<toml::Table>>,
    /// `[ci]`: which environment a CI build deploys to (see `ci.rs`).
    pub(super) ci: Option<super::ci::RawCi>,
}

/// `[secrets.NAME]`: where a secret's value comes from at run time. Exactly
/// one source is given (checked when the file loads, see `check.rs`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecret {
    /// `env = "VAR"`: a variable of the process environment.
    pub(super) env: Option<String>,
    /// `file = "path"`: the file's content, trimmed.
    pub(super) file: Option<String>,
    /// `dotenv = { file = "path", key = "KEY" }`: KEY's value in that file.
    pub(super) dotenv: Option<RawDotenvSecret>,
    /// `command = ["pass", "show", "pixel/db"]`: its stdout, trimmed.
    pub(super) command: Option<Vec<String>>,
}

/// `dotenv = { file, key }` of a `[secrets.NAME]` entry.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDotenvSecret {
    pub(super) file: String,
    pub(super) key: String,
}

/// A variable's value: TOML strings, numbers and booleans all become text.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub(super) enum Scalar {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    pub(super) fn text(&self) -> String {
        match self {
            Scalar::Text(s) => s.clone(),
            Scalar::Integer(n) => n.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// How an environment's hosts are reached.
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, config::Transport};
///
/// let toml = "[environments.demo]\ntransport = \"local\"\n[environments.production]\n";
/// let config = Config::parse("deploy.toml", ".", toml).unwrap();
/// assert_eq!(config.environment(Some("demo")).unwrap().transport, Transport::Local);
/// assert_eq!(config.environment(Some("production")).unwrap().transport, Transport::Ssh);
/// ```
#[derive(Clone, Copy, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Over SSH (deploy-ssh).
    #[default]
    Ssh,
    /// This machine, for every host name (a demo, a CI smoke test).
    Local,
}

/// Whether a person must approve runs in an environment.
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, config::Approval};
///
/// let toml = "[environments.production]\napproval = \"required\"\n[environments.staging]\n";
/// let config = Config::parse("deploy.toml", ".", toml).unwrap();
/// assert_eq!(config.environment(Some("production")).unwrap().approval, Approval::Required);
/// assert_eq!(config.environment(Some("staging")).unwrap().approval, Approval::None);
/// ```
#[derive(Clone, Copy, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Approval {
    /// No gate.
    #[default]
    None,
    /// A gate before the first step; unattended runs need `--yes`.
    Required,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvironment {
    #[serde(default)]
    pub(super) hosts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) roles: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) vars: BTreeMap<String, Spanned<Scalar>>,
    #[serde(default)]
    pub(super) transport: Transport,
    #[serde(default)]
    pub(super) approval: Approval,
    pub(super) rollout: Option<Spanned<RawRollout>>,
    #[serde(default)]
    pub(super) on_failure: FailurePolicy,
    pub(super) concurrency: Option<usize>,
    /// Where deploy keeps its state on the hosts (lock, releases, audit).
    pub(super) state_dir: Option<String>,
    /// The host that holds the deploy lock (default: the first).
    pub(super) lock_host: Option<Spanned<String>>,
    /// How long a lock not renewed stays (default 10 minutes).
    #[serde(default, with = "crate::duration::serde_opt")]
    pub(super) lock_expiry: Option<std::time::Duration>,
    /// Log files on the hosts by name, for `deploy logs`
    /// (`{ app = "/srv/app/log/pyramid.log" }`).
    #[serde(default)]
    pub(super) logs: BTreeMap<String, String>,
    /// The database `deploy backup` and `deploy restore` work on: a
    /// `postgres.backup` step's fields and `on` (see `backup.rs`).
    pub(super) backup: Option<Spanned<toml::Table>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawRollout {
    Named(String),
    Batch {
        #[serde(rename = "batch")]
        size: usize,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTask {
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) default: bool,
    #[serde(default)]
    pub(super) params: BTreeMap<String, Spanned<RawParam>>,
    #[serde(default)]
    pub(super) steps: Vec<Spanned<RawEntry>>,
    /// Replaces the environment's `on_failure` when this task is the one
    /// run (a CI build task that must not roll back, a read-only task).
    #[serde(default)]
    pub(super) on_failure: Option<FailurePolicy>,
    /// Replaces the environment's `approval` when this task is the one run:
    /// `"none"` for a read-only task of a gated environment, `"required"`
    /// for a dangerous task of an open one.
    #[serde(default)]
    pub(super) approval: Option<Approval>,
    /// False for a task that only looks or maintains (status, logs,
    /// backups, a restart): its runs get an audit line but no release.
    #[serde(default = "ships_by_default")]
    pub(super) ships: bool,
}

fn ships_by_default() -> bool {
    true
}

/// A task parameter: a plain value (its default), or a table saying
/// whether it is required and what it is for.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RawParam {
    pub(super) default: Option<Scalar>,
    pub(super) required: bool,
    pub(super) description: Option<String>,
    /// Asked on a terminal when a run does not give it.
    pub(super) prompt: Option<String>,
    /// Its value is a secret: never rendered, logged or put in argv.
    pub(super) secret: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParamTable {
    default: Option<Scalar>,
    #[serde(default)]
    required: bool,
    description: Option<String>,
    prompt: Option<String>,
    #[serde(default)]
    secret: bool,
}

impl<'de> Deserialize<'de> for RawParam {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = toml::Value::deserialize(d)?;
        if let toml::Value::Table(_) = value {
            let table = RawParamTable::deserialize(value).map_err(|e| {
                D::Error::custom(format!(
                    "a parameter table takes `default`, `required`, `description`, `prompt` and `secret`: {}",
                    e.message().trim()
                ))
            })?;
            if table.secret && table.default.is_some() {
                return Err(D::Error::custom(
                    "a secret parameter has no default (it would be written in deploy.toml)",
                ));
            }
            // A prompt is asked when a run does not give the value: such a
            // parameter is required (at a terminal, the prompt gives it).
            let required = table.required || table.prompt.is_some();
            return match (required, table.default) {
                (true, Some(_)) => Err(D::Error::custom(
                    "a parameter cannot be both required (`required = true` or a `prompt`) and have a `default`",
                )),
                (false, None) => Err(D::Error::custom(
                    "a parameter table needs `default = ...`, `required = true` or a `prompt`",
                )),
                (required, default) => Ok(RawParam {
                    default,
                    required,
                    description: table.description,
                    prompt: table.prompt,
                    secret: table.secret,
                }),
            };
        }
        let default = Scalar::deserialize(value).map_err(|_| {
            D::Error::custom(
                "a parameter is a default value (a string, number or boolean) or a table \
                 `{ required = true, description = \"...\" }`",
            )
        })?;
        Ok(RawParam {
            default: Some(default),
            required: false,
            description: None,
            prompt: None,
            secret: false,
        })
    }
}

/// One entry of a task's `steps`: a kind key and the common keys.
pub(super) type RawEntry = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

impl<'de> Deserialize<'de> for FailurePolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.as_str() {
            "stop" => Ok(FailurePolicy::Stop),
            "continue" => Ok(FailurePolicy::Continue),
            "rollback" | "roll-back" => Ok(FailurePolicy::Rollback),
            other => Err(serde::de::Error::custom(format!(
                "unknown failure policy `{other}` (expected stop, continue or rollback)"
            ))),
        }
    }
}
