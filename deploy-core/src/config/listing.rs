//! What `deploy tasks` lists: every task with its parameters, their
//! defaults resolved where that needs no run, and every environment.
//!
//! A default that uses `${…}` is resolved as a run of that task would
//! resolve it, from the built-ins (`task`, `config_dir`, the git ones),
//! `[vars]`, the environment's `vars` and the other parameters' defaults.
//! Without a chosen environment it is resolved for every environment and
//! shown when they all agree (`${environment}`, with more than one, does
//! not). A default that needs a value only a run has — `${release}`,
//! `${host}`, a secret, a required parameter — is left as written, and so
//! is one whose git built-in has no value here.

use std::collections::{BTreeMap, BTreeSet};

use super::interpolate::{Git, InterpolateError, Variables};
use super::raw::{self, RawEnvironment};
use super::{Approval, Config, ConfigError, TaskInfo, Transport, hosts_of, parse_rollout};
use crate::plan::{FailurePolicy, Host, Rollout};

/// Everything `deploy tasks` shows (and prints as JSON with `--json`).
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, config::Resolution};
///
/// let toml = r#"
/// [vars]
/// project = "pixel"
/// [environments.staging]
/// hosts = ["web1"]
/// [tasks.deploy]
/// params = { image = "${project}-web", stamp = "${release}" }
/// "#;
/// let config = Config::parse("deploy.toml", ".", toml).unwrap();
/// let listing = config.listing(None).unwrap();
/// assert_eq!(listing.environments[0].name, "staging");
/// let resolved = &listing.tasks[0].resolved;
/// assert_eq!(resolved["image"], Resolution::Value("pixel-web".into()));
/// assert_eq!(resolved["stamp"], Resolution::AtRunTime);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Listing {
    /// The environment defaults were resolved for, when one was chosen.
    pub environment: Option<String>,
    /// Tasks, sorted by name.
    pub tasks: Vec<TaskListing>,
    /// Environments, sorted by name.
    pub environments: Vec<EnvironmentSummary>,
}

/// A task as [`Config::listing`] gives it: what [`Config::tasks`] says, and
/// how each default that uses `${…}` resolves.
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, config::Resolution};
///
/// let toml = "[tasks.deploy]\nparams = { version = \"latest\", tag = \"${task}-${version}\" }\n";
/// let listing = Config::parse("deploy.toml", ".", toml).unwrap().listing(None).unwrap();
/// let task = &listing.tasks[0];
/// assert_eq!(task.task.name, "deploy");
/// // Only defaults that use `${…}` are resolved.
/// assert_eq!(task.resolved.keys().collect::<Vec<_>>(), ["tag"]);
/// assert_eq!(task.resolved["tag"], Resolution::Value("deploy-latest".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TaskListing {
    /// The task.
    #[serde(flatten)]
    pub task: TaskInfo,
    /// Per parameter whose default uses `${…}`, what it resolves to.
    pub resolved: BTreeMap<String, Resolution>,
}

/// What a parameter's default that uses `${…}` comes to without a run.
///
/// # Examples
///
/// ```
/// use deploy_core::config::Resolution;
///
/// assert_eq!(Resolution::Value("main".into()).to_string(), "= main");
/// assert_eq!(Resolution::PerEnvironment.to_string(), "(differs per environment)");
/// assert_eq!(
///     serde_json::to_value(Resolution::Value("main".into())).unwrap(),
///     serde_json::json!({ "value": "main" }),
/// );
/// assert_eq!(serde_json::to_value(Resolution::AtRunTime).unwrap(), "at-run-time");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// The value a run gets when the parameter is not given.
    Value(String),
    /// It needs a value only a run has: `${release}`, `${host}`, a secret,
    /// a parameter that must be given.
    AtRunTime,
    /// It differs between environments (or uses `${environment}`): name
    /// one to see it.
    PerEnvironment,
    /// A built-in it uses has no value here (a git one outside a
    /// repository, `${git_branch}` on a detached HEAD): why.
    Unavailable(String),
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resolution::Value(value) => write!(f, "= {value}"),
            Resolution::AtRunTime => f.write_str("(at run time)"),
            Resolution::PerEnvironment => f.write_str("(differs per environment)"),
            Resolution::Unavailable(why) => write!(f, "(no value here: {why})"),
        }
    }
}

/// An environment as `deploy tasks` lists it.
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, FailurePolicy, Rollout};
///
/// let toml = r#"
/// default_environment = "production"
/// [environments.production]
/// roles = { web = ["web1", "web2"] }
/// approval = "required"
/// rollout = "one-by-one"
/// on_failure = "rollback"
/// "#;
/// let listing = Config::parse("deploy.toml", ".", toml).unwrap().listing(None).unwrap();
/// let env = &listing.environments[0];
/// assert!(env.default);
/// assert_eq!(env.hosts.len(), 2);
/// assert_eq!(env.rollout, Some(Rollout::Batches(1)));
/// assert_eq!(env.on_failure, Some(FailurePolicy::Rollback));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EnvironmentSummary {
    /// Name.
    pub name: String,
    /// Whether it is the `default_environment`.
    pub default: bool,
    /// How its hosts are reached.
    pub transport: Transport,
    /// Hosts in order, with roles.
    pub hosts: Vec<Host>,
    /// Its approval gate.
    pub approval: Approval,
    /// Its rollout, when set.
    pub rollout: Option<Rollout>,
    /// Its failure policy, when not the default (`stop`).
    pub on_failure: Option<FailurePolicy>,
    /// Most steps at once, when set.
    pub concurrency: Option<usize>,
}

impl Config {
    /// Tasks and environments as `deploy tasks` lists them, with parameter
    /// defaults resolved for `environment` (else for every environment, see
    /// [the module](self)).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Config, config::Resolution};
    ///
    /// let toml = r#"
    /// [environments.staging]
    /// vars = { project = "pixel-staging" }
    /// [environments.production]
    /// vars = { project = "pixel" }
    /// [tasks.deploy]
    /// params = { image = "${project}-web", env = "${environment}" }
    /// "#;
    /// let config = Config::parse("deploy.toml", ".", toml).unwrap();
    /// let all = config.listing(None).unwrap();
    /// assert_eq!(all.tasks[0].resolved["image"], Resolution::PerEnvironment);
    /// let staging = config.listing(Some("staging")).unwrap();
    /// assert_eq!(staging.tasks[0].resolved["image"], Resolution::Value("pixel-staging-web".into()));
    /// assert_eq!(staging.tasks[0].resolved["env"], Resolution::Value("staging".into()));
    /// assert!(config.listing(Some("prod")).is_err());
    /// ```
    pub fn listing(&self, environment: Option<&str>) -> Result<Listing, ConfigError> {
        let chosen = match environment {
            Some(name) => Some(self.resolve_environment(Some(name))?),
            None => None,
        };
        let git = self.git();
        let no_environment: Option<RawEnvironment> = toml::from_str("").ok();
        // The environments defaults are resolved for: the chosen one, else
        // every one (none: as if there were one without vars).
        let environments: Vec<(Option<&str>, &RawEnvironment)> = match &chosen {
            Some(name) => vec![(Some(name.as_str()), self.raw.environments[name].get_ref())],
            None if self.raw.environments.is_empty() => {
                no_environment.iter().map(|env| (None, env)).collect()
            }
            None => self
                .raw
                .environments
                .iter()
                .map(|(name, env)| (Some(name.as_str()), env.get_ref()))
                .collect(),
        };
        let tasks = self
            .tasks()
            .into_iter()
            .map(|task| {
                let resolved = self.resolve_defaults(&task.name, &environments, &git);
                TaskListing { task, resolved }
            })
            .collect();
        Ok(Listing {
            environment: chosen,
            tasks,
            environments: self.environment_summaries(),
        })
    }

    fn environment_summaries(&self) -> Vec<EnvironmentSummary> {
        self.raw
            .environments
            .iter()
            .map(|(name, env)| {
                let env = env.get_ref();
                EnvironmentSummary {
                    name: name.clone(),
                    default: self.default_environment() == Some(name.as_str()),
                    transport: env.transport,
                    hosts: hosts_of(env),
                    approval: env.approval,
                    rollout: env
                        .rollout
                        .as_ref()
                        .and_then(|r| parse_rollout(r.get_ref()).ok()),
                    on_failure: (env.on_failure != FailurePolicy::default())
                        .then_some(env.on_failure),
                    concurrency: env.concurrency,
                }
            })
            .collect()
    }

    /// Each default of `task`'s that uses `${…}`, resolved in each of
    /// `environments`; one that differs between them is per environment.
    fn resolve_defaults(
        &self,
        task: &str,
        environments: &[(Option<&str>, &RawEnvironment)],
        git: &Git<'_>,
    ) -> BTreeMap<String, Resolution> {
        let mut out: BTreeMap<String, Resolution> = BTreeMap::new();
        for (name, env) in environments {
            let per_env = self.defaults_in(task, *name, env, git);
            for (param, resolution) in per_env {
                let merged = match out.remove(&param) {
                    None => resolution,
                    Some(seen) if seen == resolution => seen,
                    // A run-time need or a missing git value wins over a
                    // difference: it holds in every environment.
                    Some(Resolution::Value(_)) | Some(Resolution::PerEnvironment) => {
                        match resolution {
                            Resolution::Value(_) | Resolution::PerEnvironment => {
                                Resolution::PerEnvironment
                            }
                            other => other,
                        }
                    }
                    Some(other) => other,
                };
                out.insert(param, merged);
            }
        }
        out
    }

    /// The defaults of `task` (that use `${…}`) as a run in `env` would
    /// fill them when no parameter is given.
    fn defaults_in(
        &self,
        task: &str,
        env_name: Option<&str>,
        env: &RawEnvironment,
        git: &Git<'_>,
    ) -> BTreeMap<String, Resolution> {
        let own: Vec<(String, String)> = self.raw.tasks[task]
            .get_ref()
            .params
            .iter()
            .filter_map(|(k, v)| {
                let text = v.get_ref().default.as_ref().map(raw::Scalar::text)?;
                text.contains("${").then(|| (k.clone(), text))
            })
            .collect();
        if own.is_empty() {
            return BTreeMap::new();
        }
        let mut reachable = Vec::new();
        let values = self
            .reachable_tasks(task, &mut Vec::new(), &mut reachable)
            .ok()
            .and_then(|()| {
                self.variables(env_name.unwrap_or(""), task, env, &[], &[], git)
                    .ok()
            });
        let Some(mut values) = values else {
            return own
                .into_iter()
                .map(|(k, _)| (k, Resolution::AtRunTime))
                .collect();
        };
        if env_name.is_none() {
            values.remove("environment");
        }
        // The parameters of every task the run reaches, the first
        // declaration winning (as a run takes them); those without a
        // default must be given, so what uses them needs a run.
        let mut pending: BTreeMap<String, String> = BTreeMap::new();
        let mut required: BTreeSet<String> = BTreeSet::new();
        for name in &reachable {
            for (key, value) in &self.raw.tasks[name].get_ref().params {
                if pending.contains_key(key) || required.contains(key) {
                    continue;
                }
                match value.get_ref().default.as_ref() {
                    Some(default) => {
                        pending.insert(key.clone(), default.text());
                    }
                    None => {
                        required.insert(key.clone());
                    }
                }
            }
        }
        let secrets: BTreeSet<String> = self.raw.secrets.keys().cloned().collect();
        let mut settled: BTreeMap<String, Resolution> = BTreeMap::new();
        loop {
            let mut progress = Vec::new();
            for (key, text) in &pending {
                let others: BTreeSet<String> =
                    pending.keys().filter(|k| *k != key).cloned().collect();
                let vars = Variables {
                    values: &values,
                    secrets: &secrets,
                    git,
                    pending: Some(&others),
                };
                let outcome = match vars.fill(text) {
                    Ok(filled) => Some((Ok(filled.clone()), resolution_of(&filled))),
                    Err(InterpolateError::Unavailable { unavailable, .. }) => Some((
                        Err(unavailable.clone()),
                        Resolution::Unavailable(unavailable.why),
                    )),
                    Err(InterpolateError::Undefined { name, .. }) if others.contains(&name) => None,
                    // A parameter that could not be resolved passes that on.
                    Err(InterpolateError::Undefined { name, .. })
                        if settled.contains_key(&name) =>
                    {
                        Some((Ok(String::new()), settled[&name].clone()))
                    }
                    Err(InterpolateError::Undefined { name, .. }) if name == "environment" => {
                        Some((Ok(String::new()), Resolution::PerEnvironment))
                    }
                    Err(_) => Some((Ok(String::new()), Resolution::AtRunTime)),
                };
                if let Some(outcome) = outcome {
                    progress.push((key.clone(), outcome));
                }
            }
            if progress.is_empty() {
                break;
            }
            for (key, (value, resolution)) in progress {
                pending.remove(&key);
                // What could not be resolved makes what uses it unresolved
                // too: it stays undefined for the others.
                if let Resolution::Value(_) = resolution {
                    values.insert(key.clone(), value);
                } else if let Err(unavailable) = value {
                    values.insert(key.clone(), Err(unavailable));
                }
                settled.insert(key, resolution);
            }
        }
        own.into_iter()
            .map(|(key, _)| {
                let resolution = settled.remove(&key).unwrap_or(Resolution::AtRunTime);
                (key, resolution)
            })
            .collect()
    }
}

/// A filled-in default: its value, unless a run-time placeholder remains
/// (`${release}`, `${host}`, `${secret.…}`; `$${` is a literal `${`).
fn resolution_of(filled: &str) -> Resolution {
    let unescaped = filled.replace("$${", "");
    if unescaped.contains("${") {
        Resolution::AtRunTime
    } else {
        Resolution::Value(filled.replace("$${", "${"))
    }
}
