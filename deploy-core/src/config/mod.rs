//! The `deploy.toml` model: environments, tasks, variables, secrets, and how
//! they become a [`Plan`].
//!
//! It lives in deploy-core so a team's own tooling loads the same files the
//! `deploy` binary does. It knows no transport: step kinds come from a
//! [`StepRegistry`]. Every error points at `file:line:column`.

mod address;
mod backup;
mod check;
mod ci;
mod coerce;
mod containers;
mod entry;
mod error;
mod info;
mod interpolate;
mod listing;
mod prompts;
mod raw;
mod secrets;
mod ssh;
mod tasks;
mod variables;
mod when;

use std::path::{Path, PathBuf};

pub use address::HostAddress;
pub use backup::{BACKUP_TASK, BackupSettings, RESTORE_TASK};
pub use ci::{CiBuild, CiError, CiMatch, CiOverrides, CiRef, CiSystem, OnNoMatch};
pub use containers::CONTAINER_KINDS;
use error::locate;
pub use error::{ConfigError, ConfigErrorKind};
pub use info::{EnvironmentInfo, ParamInfo, TaskInfo};
use interpolate::{Git, Variables};
pub use listing::{EnvironmentSummary, Listing, Resolution, TaskListing};
pub use prompts::ParamPrompt;
pub use raw::{Approval, Transport};
use raw::{RawConfig, RawEnvironment, RawRollout};
pub use ssh::{HostKeyPolicy, SshSettings, ssh_jump_hops};

use crate::plan::{Plan, PlanError, PlannedStep, Rollout};
use crate::registry::StepRegistry;
use crate::steps::Approve;
use crate::suggest::did_you_mean;

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
#[derive(Debug, Clone)]
pub struct Config {
    file: String,
    dir: PathBuf,
    source: String,
    raw: std::sync::Arc<RawConfig>,
    /// Set by [`Config::with_ci`] for a `deploy ci` run.
    ci: Option<ci::CiRun>,
    /// Set by [`Config::at_revision`]: the commit the git built-ins name.
    revision: Option<String>,
}

impl Config {
    /// Reads and parses a file.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("deploy.toml");
    /// std::fs::write(&path, "[environments.staging]\nhosts = [\"web1\"]\n").unwrap();
    /// let config = Config::load(&path).unwrap();
    /// assert_eq!(config.environments(), ["staging"]);
    /// assert_eq!(config.dir(), dir.path().canonicalize().unwrap());
    /// assert!(Config::load(&dir.path().join("missing.toml")).is_err());
    /// ```
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
    ///
    /// # Examples
    ///
    /// Errors point at `file:line:column`:
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let err = Config::parse("deploy.toml", ".", "[environments.prod]\nhost = [\"web1\"]\n").unwrap_err();
    /// let at = err.location.clone().unwrap();
    /// assert_eq!((at.file.as_str(), at.line), ("deploy.toml", 2));
    /// assert!(err.to_string().contains("unknown field `host`"));
    /// ```
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
            raw: std::sync::Arc::new(raw),
            ci: None,
            revision: None,
        };
        config.check()?;
        Ok(config)
    }

    fn error_at(&self, offset: usize, kind: ConfigErrorKind) -> ConfigError {
        locate(&self.file, &self.source, offset, kind)
    }

    /// Replaces `${config_dir}` (the file's directory), e.g. with a fixed
    /// name so snapshots of rendered plans do not depend on where the
    /// repository is checked out.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = deploy_core::Config::parse("deploy.toml", "/home/me/app", "")
    ///     .unwrap()
    ///     .with_config_dir("[repo]");
    /// assert_eq!(config.dir(), std::path::Path::new("[repo]"));
    /// ```
    pub fn with_config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    /// The file's path as given.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let config = Config::parse("ops/deploy.toml", "ops", "").unwrap();
    /// assert_eq!(config.file(), "ops/deploy.toml");
    /// ```
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The directory holding the file (`${config_dir}`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// use deploy_core::Config;
    ///
    /// let config = Config::parse("deploy.toml", "/srv/repo", "").unwrap();
    /// assert_eq!(config.dir(), Path::new("/srv/repo"));
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Environment names, sorted.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let toml = "[environments.staging]\n[environments.production]\n";
    /// let config = Config::parse("deploy.toml", ".", toml).unwrap();
    /// assert_eq!(config.environments(), ["production", "staging"]);
    /// ```
    pub fn environments(&self) -> Vec<&str> {
        self.raw.environments.keys().map(String::as_str).collect()
    }

    /// The default environment, if named.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let toml = "default_environment = \"staging\"\n[environments.staging]\n";
    /// assert_eq!(Config::parse("deploy.toml", ".", toml).unwrap().default_environment(), Some("staging"));
    /// assert_eq!(Config::parse("deploy.toml", ".", "").unwrap().default_environment(), None);
    /// ```
    pub fn default_environment(&self) -> Option<&str> {
        self.raw
            .default_environment
            .as_ref()
            .map(|d| d.get_ref().as_str())
    }

    /// The default task, if one has `default = true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let toml = "[tasks.deploy]\ndefault = true\n[tasks.rollback]\n";
    /// assert_eq!(Config::parse("deploy.toml", ".", toml).unwrap().default_task(), Some("deploy"));
    /// ```
    pub fn default_task(&self) -> Option<&str> {
        self.raw
            .tasks
            .iter()
            .find(|(_, t)| t.get_ref().default)
            .map(|(name, _)| name.as_str())
    }

    /// The `[ssh]` settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Config, config::SshSettings};
    ///
    /// let config = Config::parse("deploy.toml", ".", "[ssh]\nuser = \"deploy\"\nport = 2222\n").unwrap();
    /// assert_eq!((config.ssh().user.as_deref(), config.ssh().port), (Some("deploy"), Some(2222)));
    /// assert_eq!(Config::parse("deploy.toml", ".", "").unwrap().ssh(), SshSettings::default());
    /// ```
    pub fn ssh(&self) -> SshSettings {
        self.raw.ssh.clone().unwrap_or_default()
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
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let toml = "default_environment = \"staging\"\n[environments.staging]\n[environments.production]\n";
    /// let config = Config::parse("deploy.toml", ".", toml).unwrap();
    /// assert_eq!(config.resolve_environment(None).unwrap(), "staging");
    /// let err = config.resolve_environment(Some("prodution")).unwrap_err();
    /// assert!(err.to_string().contains("(did you mean `production`?)"));
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let config = Config::parse("deploy.toml", ".", "[tasks.deploy]\n[tasks.rollback]\n").unwrap();
    /// assert_eq!(config.resolve_task(Some("rollback")).unwrap(), "rollback");
    /// let err = config.resolve_task(None).unwrap_err();
    /// assert_eq!(err.to_string(), "no task given and no task has `default = true` (tasks: deploy, rollback)");
    /// ```
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

    /// The git built-ins name `commit` instead of HEAD (`${git_commit}`, and
    /// `${git_short_commit}` its short form): a rollback or promotion
    /// builds the plan of a release as that release's code made it (an
    /// image tagged with the commit, a check for its version).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Config, StepRegistry};
    ///
    /// let toml = r#"
    /// [environments.production]
    /// hosts = ["web1"]
    ///
    /// [tasks.deploy]
    /// steps = [{ exec = { cmd = ["./ship", "shop:${git_short_commit}"] } }]
    /// "#;
    /// let config = Config::parse("deploy.toml", "/nowhere", toml)
    ///     .unwrap()
    ///     .at_revision("57a9f73c0ffee1234567890abcdef0123456789a");
    /// let plan = config
    ///     .plan(Some("production"), Some("deploy"), &[], &StepRegistry::with_builtins())
    ///     .unwrap();
    /// assert_eq!(plan.steps()[0].step.describe().summary, "$ ./ship shop:57a9f73");
    /// ```
    #[must_use]
    pub fn at_revision(mut self, commit: impl Into<String>) -> Config {
        self.revision = Some(commit.into());
        self
    }

    /// The git built-ins of this config's directory (at its revision).
    fn git(&self) -> Git<'_> {
        match &self.revision {
            Some(commit) => Git::at(&self.dir, commit),
            None => Git::new(&self.dir),
        }
    }

    /// Builds the plan for `task` (else the default) in `environment` (else
    /// the default), with task arguments `args`.
    ///
    /// # Examples
    ///
    /// An environment that needs approval gets a gate before the first step:
    ///
    /// ```
    /// use deploy_core::{Config, StepRegistry};
    ///
    /// let toml = r#"
    /// [environments.production]
    /// hosts = ["web1"]
    /// approval = "required"
    ///
    /// [tasks.restart]
    /// steps = [{ exec = { cmd = ["systemctl", "restart", "app"] } }]
    /// "#;
    /// let config = Config::parse("deploy.toml", ".", toml).unwrap();
    /// let plan = config.plan(Some("production"), Some("restart"), &[], &StepRegistry::with_builtins());
    /// let ids: Vec<String> = plan.unwrap().steps().iter().map(|s| s.id.clone()).collect();
    /// assert_eq!(ids, ["approval", "restart.1"]);
    /// ```
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
        let git = self.git();
        let values = self.variables(&env_name, &task_name, env, &reachable, args, &git)?;
        let secrets = self.secret_names();
        let vars = Variables {
            values: &values,
            secrets: &secrets,
            git: &git,
            pending: None,
        };

        let mut steps = Vec::new();
        let approval = self.raw.tasks[&task_name]
            .get_ref()
            .approval
            .unwrap_or(env.approval);
        if approval == Approval::Required {
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
            .on_failure(
                self.raw.tasks[&task_name]
                    .get_ref()
                    .on_failure
                    .unwrap_or(env.on_failure),
            )
            .ships(self.raw.tasks[&task_name].get_ref().ships);
        for host in hosts_of(env) {
            builder = builder.host(host.name, host.roles);
        }
        let secret_params = self.secret_params();
        // A parameter a CI rule gave is recorded as if given on the command
        // line, so a rollback or promotion of this run gives it again.
        let task_params = &self.raw.tasks[&task_name].get_ref().params;
        let by_rule: Vec<(String, String)> = self
            .ci_rule_vars()
            .into_keys()
            .filter(|key| task_params.contains_key(key) && !args.iter().any(|(k, _)| k == key))
            .filter_map(|key| match values.get(&key) {
                Some(Ok(value)) => Some((key, value.clone())),
                _ => None,
            })
            .collect();
        for (key, value) in args.iter().chain(&by_rule) {
            let shown = if secret_params.contains(key) {
                crate::secret::REDACTED
            } else {
                value.as_str()
            };
            builder = builder.param(key, shown);
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
            kind: Box::new(kind),
            source_line,
        }
    }
}

/// Hosts in order: `hosts` first, then role members, each once.
pub(in crate::config) fn hosts_of(env: &RawEnvironment) -> Vec<crate::plan::Host> {
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
        if let Some(role) = role
            && !hosts[index].roles.iter().any(|r| r == role)
        {
            hosts[index].roles.push(role.to_owned());
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
