//! What `deploy tasks` and transports read of a loaded file: each task
//! (description, parameters, the tasks it runs) and each environment
//! (hosts, transport, approval, limits).

use super::Config;
use super::entry::included_task;
use super::error::ConfigError;
use super::raw::{Approval, Transport};
use super::{hosts_of, raw};

/// A task as `deploy tasks` lists it.
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, config::{ParamInfo, TaskInfo}};
///
/// let toml = r#"
/// [tasks.deploy]
/// default = true
/// params = { version = "latest" }
/// steps = [{ task = "migrate" }]
/// [tasks.migrate]
/// "#;
/// let tasks = Config::parse("deploy.toml", ".", toml).unwrap().tasks();
/// assert_eq!(tasks[0], TaskInfo {
///     name: "deploy".into(), description: None, default: true,
///     params: vec![ParamInfo::with_default("version", "latest")], includes: vec!["migrate".into()],
/// });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TaskInfo {
    /// Name.
    pub name: String,
    /// Description, if any.
    pub description: Option<String>,
    /// Whether it is the default task.
    pub default: bool,
    /// Parameters, by name.
    pub params: Vec<ParamInfo>,
    /// Tasks it runs.
    pub includes: Vec<String>,
}

/// A task parameter as `deploy tasks` lists it: its default as written, or
/// that a run must give it.
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, config::ParamInfo};
///
/// let toml = r#"
/// [tasks.deploy]
/// params = { app = { required = true, description = "the app to ship" }, version = "latest" }
/// "#;
/// let tasks = Config::parse("deploy.toml", ".", toml).unwrap().tasks();
/// assert_eq!(tasks[0].params, [
///     ParamInfo { name: "app".into(), default: None, required: true, description: Some("the app to ship".into()) },
///     ParamInfo::with_default("version", "latest"),
/// ]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ParamInfo {
    /// Name.
    pub name: String,
    /// The default as written (`${…}` not filled in), if any.
    pub default: Option<String>,
    /// Whether a run must give it (`KEY=VALUE`).
    pub required: bool,
    /// What it is for, if said.
    pub description: Option<String>,
}

impl ParamInfo {
    /// An optional parameter with a default and no description.
    ///
    /// # Examples
    ///
    /// ```
    /// let param = deploy_core::config::ParamInfo::with_default("version", "latest");
    /// assert_eq!((param.default.as_deref(), param.required), (Some("latest"), false));
    /// ```
    pub fn with_default(name: impl Into<String>, default: impl Into<String>) -> Self {
        ParamInfo {
            name: name.into(),
            default: Some(default.into()),
            required: false,
            description: None,
        }
    }
}

/// How to reach and roll out one environment (for whoever makes targets).
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, config::{Approval, Transport}};
///
/// let toml = r#"
/// [environments.production]
/// hosts = ["web1"]
/// roles = { worker = ["jobs1"] }
/// approval = "required"
/// concurrency = 4
/// "#;
/// let env = Config::parse("deploy.toml", ".", toml).unwrap().environment(Some("production")).unwrap();
/// assert_eq!(env.hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["web1", "jobs1"]);
/// assert_eq!((env.transport, env.approval, env.concurrency), (Transport::Ssh, Approval::Required, Some(4)));
/// ```
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
    /// Where deploy keeps its state on the hosts (`state_dir`, default
    /// `~/.local/state/deploy/<environment>`, or `$DEPLOY_STATE_DIR/<environment>`
    /// when that is set here; `~/` is the host's `$HOME`).
    pub state_dir: String,
    /// The host that holds the deploy lock (`lock_host`, default the first).
    pub lock_host: Option<String>,
    /// How long a lock that is not renewed stays (`lock_expiry`, default 10m).
    pub lock_expiry: std::time::Duration,
    /// Log files on the hosts by name (`logs`), for `deploy logs`.
    pub logs: std::collections::BTreeMap<String, String>,
}

impl Config {
    /// Tasks, sorted by name.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let toml = "[tasks.rollback]\n[tasks.deploy]\ndescription = \"Ship it\"\n";
    /// let tasks = Config::parse("deploy.toml", ".", toml).unwrap().tasks();
    /// let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    /// assert_eq!(names, ["deploy", "rollback"]);
    /// assert_eq!(tasks[0].description.as_deref(), Some("Ship it"));
    /// ```
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
                        .map(|(k, v)| {
                            let param = v.get_ref();
                            ParamInfo {
                                name: k.clone(),
                                default: param.default.as_ref().map(raw::Scalar::text),
                                required: param.required,
                                description: param.description.clone(),
                            }
                        })
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

    /// Hosts, transport and gates of an environment.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Config, config::Transport};
    ///
    /// let toml = "[environments.demo]\nhosts = [\"app1\"]\ntransport = \"local\"\n";
    /// let env = Config::parse("deploy.toml", ".", toml).unwrap().environment(Some("demo")).unwrap();
    /// assert_eq!(env.name, "demo");
    /// assert_eq!(env.transport, Transport::Local);
    /// ```
    pub fn environment(&self, name: Option<&str>) -> Result<EnvironmentInfo, ConfigError> {
        let name = self.resolve_environment(name)?;
        let env = self.raw.environments[&name].get_ref();
        Ok(EnvironmentInfo {
            hosts: hosts_of(env),
            transport: env.transport,
            approval: env.approval,
            concurrency: env.concurrency,
            state_dir: env.state_dir.clone().unwrap_or_else(|| {
                // DEPLOY_STATE_DIR moves every environment's default (a
                // sandbox, a test run); `state_dir` in deploy.toml wins.
                let base = std::env::var("DEPLOY_STATE_DIR")
                    .ok()
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| "~/.local/state/deploy".to_owned());
                format!("{}/{name}", base.trim_end_matches('/'))
            }),
            lock_host: env
                .lock_host
                .as_ref()
                .map(|h| h.get_ref().clone())
                .or_else(|| hosts_of(env).first().map(|h| h.name.clone())),
            lock_expiry: env
                .lock_expiry
                .unwrap_or(std::time::Duration::from_secs(600)),
            logs: env.logs.clone(),
            name,
        })
    }
}
