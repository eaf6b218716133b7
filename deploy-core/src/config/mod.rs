//! The `deploy.toml` model: environments, tasks, variables, secrets, and how
//! they become a [`Plan`].
//!
//! It lives in deploy-core so a team's own tooling loads the same files the
//! `deploy` binary does. It knows no transport: step kinds come from a
//! [`StepRegistry`]. Every error points at `file:line:column`.

mod interpolate;
mod raw;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

pub use raw::{Approval, SshSettings, Transport};
use raw::{RawConfig, RawEntry, RawEnvironment, RawRollout, RawTask};

use crate::location::Location;
use crate::plan::{Plan, PlanError, PlannedStep, Rollout, Selector};
use crate::registry::StepRegistry;
use crate::secret::Secret;
use crate::steps::Approve;
use crate::suggest::did_you_mean;
use interpolate::{InterpolateError, Variables};

/// The keys a step entry may have besides its kind.
const COMMON_KEYS: &[&str] = &[
    "id", "roles", "hosts", "local", "once", "barrier", "needs", "timeout", "retries", "backoff",
];

/// What is wrong with a configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// TOML syntax, a wrong type, or an unknown field.
    #[error("{0}")]
    Invalid(String),
    /// No such environment.
    #[error("unknown environment `{name}`{suggestion} (environments: {known})")]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// A suggestion, or empty.
        suggestion: String,
        /// The environments.
        known: String,
    },
    /// No environment given and no default.
    #[error(
        "no environment given and deploy.toml names no `default_environment` (environments: {known})"
    )]
    NoEnvironment {
        /// The environments.
        known: String,
    },
    /// No such task.
    #[error("unknown task `{name}`{suggestion} (tasks: {known})")]
    UnknownTask {
        /// The name asked for.
        name: String,
        /// A suggestion, or empty.
        suggestion: String,
        /// The tasks.
        known: String,
    },
    /// No task given and no default.
    #[error("no task given and no task has `default = true` (tasks: {known})")]
    NoTask {
        /// The tasks.
        known: String,
    },
    /// A task argument that no task takes.
    #[error("unknown parameter `{name}`{suggestion} for task `{task}` (parameters: {known})")]
    UnknownParam {
        /// The parameter.
        name: String,
        /// The task.
        task: String,
        /// A suggestion, or empty.
        suggestion: String,
        /// Its parameters.
        known: String,
    },
    /// A `${name}` with no value.
    #[error("undefined variable `{name}`{suggestion}")]
    UndefinedVariable {
        /// The name.
        name: String,
        /// A suggestion, or empty.
        suggestion: String,
    },
    /// A `${secret.NAME}` with no `[secrets.NAME]`.
    #[error("secret `{0}` is not declared (add [secrets.{0}] with env = \"VARIABLE\")")]
    UndeclaredSecret(String),
    /// Tasks include each other in a circle.
    #[error("task cycle: {}", .0.join(" -> "))]
    TaskCycle(Vec<String>),
    /// A step entry is malformed, or its kind refused it.
    #[error("{0}")]
    Step(String),
    /// The plan the config describes is invalid.
    #[error(transparent)]
    Plan(crate::plan::PlanErrorKind),
    /// A secret's environment variable is not set at run time.
    #[error("secret `{name}` needs the environment variable {env}, which is not set")]
    MissingSecret {
        /// The secret.
        name: String,
        /// Its variable.
        env: String,
    },
}

/// A configuration error, with where it was written when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where.
    pub location: Option<Location>,
    /// What.
    pub kind: ConfigErrorKind,
    /// The source line at the location, for showing under the message.
    pub source_line: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(at) => write!(f, "{at}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn new(kind: ConfigErrorKind) -> Self {
        ConfigError {
            location: None,
            kind,
            source_line: None,
        }
    }

    /// The error with its source line and a caret under the column, for
    /// terminals.
    pub fn with_snippet(&self) -> String {
        let mut out = self.to_string();
        if let (Some(at), Some(line)) = (&self.location, &self.source_line) {
            let gutter = at.line.to_string().len();
            out.push_str(&format!(
                "\n{:gutter$} |\n{} | {line}\n{:gutter$} | {:>col$}",
                "",
                at.line,
                "",
                "^",
                col = at.column
            ));
        }
        out
    }
}

/// A task as `deploy tasks` lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TaskInfo {
    /// Name.
    pub name: String,
    /// Description, if any.
    pub description: Option<String>,
    /// Whether it is the default task.
    pub default: bool,
    /// Parameters with their defaults.
    pub params: Vec<(String, String)>,
    /// Tasks it runs.
    pub includes: Vec<String>,
}

/// How to reach and roll out one environment (for whoever makes targets).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EnvironmentInfo {
    /// Name.
    pub name: String,
    /// Transport.
    pub transport: Transport,
    /// Hosts in order, with roles.
    pub hosts: Vec<crate::plan::Host>,
    /// Approval gate.
    pub approval: Approval,
    /// Most steps at once, when set.
    pub concurrency: Option<usize>,
}

/// A loaded `deploy.toml`.
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, StepRegistry, render};
///
/// let toml = r#"
/// default_environment = "staging"
///
/// [environments.staging]
/// hosts = ["web1", "web2"]
/// vars = { app = "/srv/pixel" }
///
/// [tasks.deploy]
/// default = true
/// params = { version = "latest" }
/// steps = [
///   { set-env = { file = "${app}/.env", key = "VERSION", value = "${version}" } },
///   { exec = { cmd = ["docker-compose", "up", "-d"], cwd = "${app}" } },
/// ]
/// "#;
/// let config = Config::parse("deploy.toml", ".", toml).unwrap();
/// let plan = config
///     .plan(None, None, &[("version".into(), "1.4.2".into())], &StepRegistry::with_builtins())
///     .unwrap();
/// assert!(render::text(&plan).contains("set VERSION=1.4.2 in /srv/pixel/.env"));
/// ```
#[derive(Debug)]
pub struct Config {
    file: String,
    dir: PathBuf,
    source: String,
    raw: RawConfig,
}

impl Config {
    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(ConfigErrorKind::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        Config::parse(path.display().to_string(), dir, &source)
    }

    /// Parses text; `file` names it in errors, `dir` is `${config_dir}`.
    pub fn parse(
        file: impl Into<String>,
        dir: impl Into<PathBuf>,
        source: &str,
    ) -> Result<Config, ConfigError> {
        let file = file.into();
        let raw: RawConfig = toml::from_str(source).map_err(|e| {
            let kind = ConfigErrorKind::Invalid(e.message().trim().to_owned());
            match e.span() {
                Some(span) => locate(&file, source, span.start, kind),
                None => ConfigError::new(kind),
            }
        })?;
        let config = Config {
            file,
            dir: dir.into(),
            source: source.to_owned(),
            raw,
        };
        config.check()?;
        Ok(config)
    }

    fn error_at(&self, offset: usize, kind: ConfigErrorKind) -> ConfigError {
        locate(&self.file, &self.source, offset, kind)
    }

    /// Checks what can be checked without choosing an environment or task.
    fn check(&self) -> Result<(), ConfigError> {
        if let Some(default) = &self.raw.default_environment {
            if !self.raw.environments.contains_key(default.get_ref()) {
                return Err(self.error_at(
                    default.span().start,
                    self.unknown_environment(default.get_ref()),
                ));
            }
        }
        let defaults: Vec<&String> = self
            .raw
            .tasks
            .iter()
            .filter(|(_, t)| t.get_ref().default)
            .map(|(name, _)| name)
            .collect();
        if defaults.len() > 1 {
            let second = &self.raw.tasks[defaults[1]];
            return Err(self.error_at(
                second.span().start,
                ConfigErrorKind::Invalid(format!(
                    "tasks `{}` and `{}` are both `default = true`",
                    defaults[0], defaults[1]
                )),
            ));
        }
        for (name, env) in &self.raw.environments {
            if let Some(rollout) = &env.get_ref().rollout {
                parse_rollout(rollout.get_ref()).map_err(|message| {
                    self.error_at(
                        rollout.span().start,
                        ConfigErrorKind::Invalid(format!("environment `{name}`: {message}")),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The file's path as given.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The directory holding the file (`${config_dir}`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Environment names, sorted.
    pub fn environments(&self) -> Vec<&str> {
        self.raw.environments.keys().map(String::as_str).collect()
    }

    /// The default environment, if named.
    pub fn default_environment(&self) -> Option<&str> {
        self.raw
            .default_environment
            .as_ref()
            .map(|d| d.get_ref().as_str())
    }

    /// The default task, if one has `default = true`.
    pub fn default_task(&self) -> Option<&str> {
        self.raw
            .tasks
            .iter()
            .find(|(_, t)| t.get_ref().default)
            .map(|(name, _)| name.as_str())
    }

    /// The `[ssh]` settings.
    pub fn ssh(&self) -> SshSettings {
        self.raw.ssh.clone().unwrap_or_default()
    }

    /// Tasks, sorted by name.
    pub fn tasks(&self) -> Vec<TaskInfo> {
        self.raw
            .tasks
            .iter()
            .map(|(name, task)| {
                let task = task.get_ref();
                TaskInfo {
                    name: name.clone(),
                    description: task.description.clone(),
                    default: task.default,
                    params: task
                        .params
                        .iter()
                        .map(|(k, v)| (k.clone(), v.get_ref().text()))
                        .collect(),
                    includes: task
                        .steps
                        .iter()
                        .filter_map(|e| included_task(e.get_ref()).map(|(n, _)| n))
                        .collect(),
                }
            })
            .collect()
    }

    fn unknown_environment(&self, name: &str) -> ConfigErrorKind {
        ConfigErrorKind::UnknownEnvironment {
            name: name.to_owned(),
            suggestion: did_you_mean(name, self.environments()),
            known: self.environments().join(", "),
        }
    }

    fn task_names(&self) -> Vec<&str> {
        self.raw.tasks.keys().map(String::as_str).collect()
    }

    fn unknown_task(&self, name: &str) -> ConfigErrorKind {
        ConfigErrorKind::UnknownTask {
            name: name.to_owned(),
            suggestion: did_you_mean(name, self.task_names()),
            known: self.task_names().join(", "),
        }
    }

    /// The environment's name: `name`, else the default.
    pub fn resolve_environment(&self, name: Option<&str>) -> Result<String, ConfigError> {
        let name = match name.or(self.default_environment()) {
            Some(name) => name,
            None => {
                return Err(ConfigError::new(ConfigErrorKind::NoEnvironment {
                    known: self.environments().join(", "),
                }));
            }
        };
        if self.raw.environments.contains_key(name) {
            Ok(name.to_owned())
        } else {
            Err(ConfigError::new(self.unknown_environment(name)))
        }
    }

    /// The task's name: `name`, else the default.
    pub fn resolve_task(&self, name: Option<&str>) -> Result<String, ConfigError> {
        let name = match name.or(self.default_task()) {
            Some(name) => name,
            None => {
                return Err(ConfigError::new(ConfigErrorKind::NoTask {
                    known: self.task_names().join(", "),
                }));
            }
        };
        if self.raw.tasks.contains_key(name) {
            Ok(name.to_owned())
        } else {
            Err(ConfigError::new(self.unknown_task(name)))
        }
    }

    /// Hosts, transport and gates of an environment.
    pub fn environment(&self, name: Option<&str>) -> Result<EnvironmentInfo, ConfigError> {
        let name = self.resolve_environment(name)?;
        let env = self.raw.environments[&name].get_ref();
        Ok(EnvironmentInfo {
            hosts: hosts_of(env),
            transport: env.transport,
            approval: env.approval,
            concurrency: env.concurrency,
            name,
        })
    }

    /// Reads the declared secrets from the process environment (at run time;
    /// a plan never needs them).
    pub fn load_secrets(&self) -> Result<BTreeMap<String, Secret>, ConfigError> {
        let mut secrets = BTreeMap::new();
        for (name, source) in &self.raw.secrets {
            let var = &source.get_ref().env;
            match std::env::var(var) {
                Ok(value) => {
                    secrets.insert(name.clone(), Secret::new(value));
                }
                Err(_) => {
                    return Err(self.error_at(
                        source.span().start,
                        ConfigErrorKind::MissingSecret {
                            name: name.clone(),
                            env: var.clone(),
                        },
                    ));
                }
            }
        }
        Ok(secrets)
    }

    /// Builds the plan for `task` (else the default) in `environment` (else
    /// the default), with task arguments `args`.
    pub fn plan(
        &self,
        environment: Option<&str>,
        task: Option<&str>,
        args: &[(String, String)],
        registry: &StepRegistry,
    ) -> Result<Plan, ConfigError> {
        let env_name = self.resolve_environment(environment)?;
        let task_name = self.resolve_task(task)?;
        let env = self.raw.environments[&env_name].get_ref();

        let mut reachable = Vec::new();
        self.reachable_tasks(&task_name, &mut Vec::new(), &mut reachable)?;
        let values = self.variables(&env_name, &task_name, env, &reachable, args)?;
        let secrets: BTreeSet<String> = self.raw.secrets.keys().cloned().collect();
        let vars = Variables {
            values: &values,
            secrets: &secrets,
        };

        let mut steps = Vec::new();
        if env.approval == Approval::Required {
            let hosts = hosts_of(env).len();
            steps.push(
                PlannedStep::new(Approve::new(format!(
                    "Run task `{task_name}` on {env_name} ({hosts} host{})?",
                    if hosts == 1 { "" } else { "s" }
                )))
                .id("approval")
                .task("approval")
                .local(),
            );
        }
        self.expand(&task_name, &vars, registry, &mut steps)?;

        let mut builder = Plan::builder(&env_name, &task_name)
            .rollout(match &env.rollout {
                Some(r) => parse_rollout(r.get_ref()).unwrap_or_default(),
                None => Rollout::AllAtOnce,
            })
            .on_failure(env.on_failure);
        for host in hosts_of(env) {
            builder = builder.host(host.name, host.roles);
        }
        for (key, value) in args {
            builder = builder.param(key, value);
        }
        for step in steps {
            builder = builder.step(step);
        }
        builder.build().map_err(|e| self.plan_error(e))
    }

    fn plan_error(&self, error: PlanError) -> ConfigError {
        let source_line = error
            .location
            .as_ref()
            .and_then(|at| self.source.lines().nth(at.line - 1))
            .map(str::to_owned);
        let kind = match error.kind {
            crate::plan::PlanErrorKind::NoHosts => {
                ConfigErrorKind::Plan(crate::plan::PlanErrorKind::Invalid(
                    "the environment has no hosts (add `hosts = [...]` or `roles`)".into(),
                ))
            }
            other => ConfigErrorKind::Plan(other),
        };
        ConfigError {
            location: error.location,
            kind,
            source_line,
        }
    }

    /// Every task `name` runs (itself first), checking for cycles.
    fn reachable_tasks(
        &self,
        name: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        stack.push(name.to_owned());
        if !out.iter().any(|t| t == name) {
            out.push(name.to_owned());
        }
        let task = self.raw.tasks[name].get_ref();
        for entry in &task.steps {
            let Some((included, span)) = included_task(entry.get_ref()) else {
                continue;
            };
            if !self.raw.tasks.contains_key(&included) {
                return Err(self.error_at(span, self.unknown_task(&included)));
            }
            if stack.contains(&included) {
                let mut cycle: Vec<String> = stack
                    .iter()
                    .skip_while(|t| **t != included)
                    .cloned()
                    .collect();
                cycle.push(included);
                return Err(self.error_at(span, ConfigErrorKind::TaskCycle(cycle)));
            }
            self.reachable_tasks(&included, stack, out)?;
        }
        stack.pop();
        Ok(())
    }

    /// The variables of a run: built-ins, then top-level `vars`, then the
    /// environment's, then task parameters (arguments replacing defaults).
    /// A value may use any variable of an earlier layer or of its own.
    fn variables(
        &self,
        env_name: &str,
        task_name: &str,
        env: &RawEnvironment,
        tasks: &[String],
        args: &[(String, String)],
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut values = BTreeMap::from([
            ("environment".to_owned(), env_name.to_owned()),
            ("task".to_owned(), task_name.to_owned()),
            ("config_dir".to_owned(), self.dir.display().to_string()),
        ]);
        let mut params: BTreeMap<String, (String, usize)> = BTreeMap::new();
        for task in tasks {
            for (key, value) in &self.raw.tasks[task].get_ref().params {
                params
                    .entry(key.clone())
                    .or_insert((value.get_ref().text(), value.span().start));
            }
        }
        for (key, value) in args {
            match params.get_mut(key) {
                Some(param) => param.0 = value.replace("${", "$${"),
                None => {
                    let known: Vec<&str> = params.keys().map(String::as_str).collect();
                    return Err(ConfigError::new(ConfigErrorKind::UnknownParam {
                        name: key.clone(),
                        task: task_name.to_owned(),
                        suggestion: did_you_mean(key, known.iter().copied()),
                        known: if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        },
                    }));
                }
            }
        }
        let layer =
            |vars: &BTreeMap<String, Spanned<raw::Scalar>>| -> BTreeMap<String, (String, usize)> {
                vars.iter()
                    .map(|(k, v)| (k.clone(), (v.get_ref().text(), v.span().start)))
                    .collect()
            };
        for pending in [layer(&self.raw.vars), layer(&env.vars), params] {
            self.fill_layer(pending, &mut values)?;
        }
        Ok(values)
    }

    /// Fills one layer of variables into `values`, in as many passes as
    /// their references to each other need.
    fn fill_layer(
        &self,
        mut pending: BTreeMap<String, (String, usize)>,
        values: &mut BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        let secrets: BTreeSet<String> = self.raw.secrets.keys().cloned().collect();
        while !pending.is_empty() {
            let mut filled = Vec::new();
            let mut first_error = None;
            for (key, (raw, at)) in &pending {
                let vars = Variables {
                    values,
                    secrets: &secrets,
                };
                match vars.fill(raw) {
                    Ok(text) => filled.push((key.clone(), text)),
                    Err(InterpolateError::Undefined { name, .. })
                        if pending.contains_key(&name) && name != *key => {}
                    Err(e) => {
                        first_error.get_or_insert((e, *at));
                    }
                }
            }
            if filled.is_empty() {
                return Err(match first_error {
                    Some((error, at)) => self.interpolation_error(error, at, values),
                    None => {
                        let at = pending.values().map(|(_, at)| *at).min().unwrap_or(0);
                        let names: Vec<&str> = pending.keys().map(String::as_str).collect();
                        self.error_at(
                            at,
                            ConfigErrorKind::Invalid(format!(
                                "variables {} refer to each other in a circle",
                                names.join(", ")
                            )),
                        )
                    }
                });
            }
            for (key, text) in filled {
                pending.remove(&key);
                values.insert(key, text);
            }
        }
        Ok(())
    }

    /// Locates an interpolation error: the `${` inside the value when the
    /// value is written plainly at `value_start`, else the value itself.
    fn interpolation_error(
        &self,
        error: InterpolateError,
        value_start: usize,
        values: &BTreeMap<String, String>,
    ) -> ConfigError {
        let (kind, needle) = match &error {
            InterpolateError::Undefined { name, .. } => (
                ConfigErrorKind::UndefinedVariable {
                    name: name.clone(),
                    suggestion: did_you_mean(name, values.keys().map(String::as_str)),
                },
                format!("${{{name}}}"),
            ),
            InterpolateError::UndeclaredSecret { name, .. } => (
                ConfigErrorKind::UndeclaredSecret(name.clone()),
                format!("${{secret.{name}}}"),
            ),
            InterpolateError::Unclosed { .. } => (
                ConfigErrorKind::Invalid("unclosed `${` (write `$${` for a literal `${`)".into()),
                "${".to_owned(),
            ),
        };
        self.error_at(self.find_from(value_start, &needle), kind)
    }

    /// The offset of `needle` at or after `from` within the same entry, or
    /// `from` when it cannot be found.
    fn find_from(&self, from: usize, needle: &str) -> usize {
        self.source
            .get(from..)
            .and_then(|rest| rest.find(needle))
            .map(|i| from + i)
            .unwrap_or(from)
    }

    /// Appends the steps of `task_name` (and the tasks it includes).
    fn expand(
        &self,
        task_name: &str,
        vars: &Variables<'_>,
        registry: &StepRegistry,
        out: &mut Vec<PlannedStep>,
    ) -> Result<(), ConfigError> {
        let task: &RawTask = self.raw.tasks[task_name].get_ref();
        for entry in &task.steps {
            if let Some((included, _)) = included_task(entry.get_ref()) {
                self.expand(&included, vars, registry, out)?;
                continue;
            }
            out.push(self.step(task_name, entry, vars, registry)?);
        }
        Ok(())
    }

    /// One step entry to a planned step.
    fn step(
        &self,
        task_name: &str,
        entry: &Spanned<RawEntry>,
        vars: &Variables<'_>,
        registry: &StepRegistry,
    ) -> Result<PlannedStep, ConfigError> {
        let start = entry.span().start;
        let entry_error = |message: String| self.error_at(start, ConfigErrorKind::Step(message));
        let kinds: Vec<(&Spanned<String>, &Spanned<toml::Value>)> = entry
            .get_ref()
            .iter()
            .filter(|(k, _)| !COMMON_KEYS.contains(&k.get_ref().as_str()))
            .collect();
        let (kind, body) = match kinds.as_slice() {
            [one] => *one,
            [] => {
                return Err(entry_error(format!(
                    "a step needs a kind (one of: {})",
                    registry.kinds().collect::<Vec<_>>().join(", ")
                )));
            }
            [_, second, ..] => {
                let names: Vec<&str> = kinds.iter().map(|(k, _)| k.get_ref().as_str()).collect();
                return Err(self.error_at(
                    second.0.span().start,
                    ConfigErrorKind::Step(format!(
                        "a step has exactly one kind; this one has {} (common keys: {})",
                        names.join(" and "),
                        COMMON_KEYS.join(", ")
                    )),
                ));
            }
        };
        let mut value = body.get_ref().clone();
        vars.fill_value(&mut value)
            .map_err(|e| self.interpolation_error(e, body.span().start, vars.values))?;
        let step = registry.parse(kind.get_ref(), value).map_err(|e| {
            let offset = match e {
                crate::registry::RegistryError::UnknownKind { .. } => kind.span().start,
                _ => body.span().start,
            };
            self.error_at(offset, ConfigErrorKind::Step(e.to_string()))
        })?;
        let mut planned = PlannedStep::from_arc(Arc::clone(&step))
            .task(task_name)
            .origin(Location::from_offset(&self.file, &self.source, start));
        for (key, value) in entry.get_ref() {
            let at = value.span().start;
            let invalid = |what: &str| {
                self.error_at(
                    at,
                    ConfigErrorKind::Step(format!("`{}` must be {what}", key.get_ref())),
                )
            };
            match key.get_ref().as_str() {
                "id" => planned.id = as_str(value.get_ref()).ok_or_else(|| invalid("a string"))?,
                "roles" => {
                    planned.on = Selector::Roles(
                        as_strings(value.get_ref()).ok_or_else(|| invalid("a list of roles"))?,
                    )
                }
                "hosts" => {
                    planned.on = Selector::Hosts(
                        as_strings(value.get_ref()).ok_or_else(|| invalid("a list of hosts"))?,
                    )
                }
                "local" => {
                    if value
                        .get_ref()
                        .as_bool()
                        .ok_or_else(|| invalid("true or false"))?
                    {
                        planned.on = Selector::Local;
                    }
                }
                "once" => {
                    planned.once = value
                        .get_ref()
                        .as_bool()
                        .ok_or_else(|| invalid("true or false"))?
                }
                "barrier" => {
                    planned.barrier = value
                        .get_ref()
                        .as_bool()
                        .ok_or_else(|| invalid("true or false"))?
                }
                "needs" => {
                    planned.needs =
                        as_strings(value.get_ref()).ok_or_else(|| invalid("a list of step ids"))?
                }
                "timeout" => {
                    planned.timeout = Some(
                        as_str(value.get_ref())
                            .and_then(|s| crate::duration::parse(&s).ok())
                            .ok_or_else(|| invalid("a duration like \"30s\""))?,
                    )
                }
                "retries" => {
                    planned.retry.retries = value
                        .get_ref()
                        .as_integer()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| invalid("a number"))?
                }
                "backoff" => {
                    planned.retry.backoff = as_str(value.get_ref())
                        .and_then(|s| crate::duration::parse(&s).ok())
                        .ok_or_else(|| invalid("a duration like \"2s\""))?
                }
                _ => {}
            }
        }
        if planned.on == Selector::Local && planned.once {
            planned.once = false;
        }
        Ok(planned)
    }
}

fn locate(file: &str, source: &str, offset: usize, kind: ConfigErrorKind) -> ConfigError {
    let location = Location::from_offset(file, source, offset);
    let source_line = source.lines().nth(location.line - 1).map(str::to_owned);
    ConfigError {
        location: Some(location),
        kind,
        source_line,
    }
}

fn as_str(value: &toml::Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

fn as_strings(value: &toml::Value) -> Option<Vec<String>> {
    match value {
        toml::Value::String(s) => Some(vec![s.clone()]),
        toml::Value::Array(items) => items.iter().map(as_str).collect(),
        _ => None,
    }
}

/// `{ task = "name" }` entries: the included task and the offset of its name.
fn included_task(entry: &RawEntry) -> Option<(String, usize)> {
    entry.iter().find_map(|(k, v)| {
        (k.get_ref() == "task")
            .then(|| v.get_ref().as_str().map(|s| (s.to_owned(), v.span().start)))
            .flatten()
    })
}

/// Hosts in order: `hosts` first, then role members, each once.
fn hosts_of(env: &RawEnvironment) -> Vec<crate::plan::Host> {
    let mut hosts: Vec<crate::plan::Host> = Vec::new();
    let mut add = |name: &str, role: Option<&str>| {
        let index = match hosts.iter().position(|h| h.name == name) {
            Some(i) => i,
            None => {
                hosts.push(crate::plan::Host {
                    name: name.to_owned(),
                    roles: Vec::new(),
                });
                hosts.len() - 1
            }
        };
        if let Some(role) = role {
            if !hosts[index].roles.iter().any(|r| r == role) {
                hosts[index].roles.push(role.to_owned());
            }
        }
    };
    for host in &env.hosts {
        add(host.get_ref(), None);
    }
    for (role, members) in &env.roles {
        for host in members {
            add(host.get_ref(), Some(role));
        }
    }
    hosts
}

fn parse_rollout(raw: &RawRollout) -> Result<Rollout, String> {
    match raw {
        RawRollout::Named(name) => match name.as_str() {
            "all" | "all-at-once" => Ok(Rollout::AllAtOnce),
            "one-by-one" | "one-at-a-time" | "serial" => Ok(Rollout::Batches(1)),
            other => Err(format!(
                "unknown rollout `{other}` (expected \"all\", \"one-by-one\" or {{ batch = N }})"
            )),
        },
        RawRollout::Batch { size: 0 } => Err("a rollout batch needs at least 1 host".into()),
        RawRollout::Batch { size } => Ok(Rollout::Batches(*size)),
    }
}

/// Parses `key=value` task arguments.
///
/// # Examples
///
/// ```
/// let args = deploy_core::config::parse_args(["version=1.4.2", "note=a=b"]).unwrap();
/// assert_eq!(args[1], ("note".to_string(), "a=b".to_string()));
/// assert!(deploy_core::config::parse_args(["oops"]).is_err());
/// ```
pub fn parse_args<I, S>(args: I) -> Result<Vec<(String, String)>, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    args.into_iter()
        .map(|arg| {
            let arg = arg.as_ref();
            match arg.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                _ => Err(format!("task argument `{arg}` is not key=value")),
            }
        })
        .collect()
}
