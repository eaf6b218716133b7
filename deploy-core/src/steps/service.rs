//! `service`: a service on a plain host (no Docker) started, stopped,
//! restarted or reloaded by its manager — supervisor (`supervisorctl`) or
//! systemd (`systemctl`) — as the RandoPony guide's `start_app` /
//! `restart_supervisor` tasks do. It knows when it is already done (a start
//! of a running service), waits for the service to be running (or
//! stopped), and fails with the manager's own words.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;

use crate::command::Command;
use crate::release::ServiceRecord;
use crate::step::{Applied, Description, Kind, Step, StepContext, StepError, Undo};
use crate::text::Text;

/// Who runs the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Manager {
    /// supervisord, through `supervisorctl`.
    Supervisor,
    /// systemd, through `systemctl`.
    Systemd,
}

/// What to do to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Start it unless it runs.
    Start,
    /// Stop it unless it is stopped.
    Stop,
    /// Stop and start it.
    Restart,
    /// Have it reload its configuration (supervisor: `SIGHUP`).
    Reload,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Reload => "reload",
        }
    }
}

/// Where a service is, as its manager says.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Running,
    Stopped,
    /// On its way (supervisor's `STARTING`, systemd's `activating`).
    Changing,
    /// Given up on (supervisor's `FATAL`/`BACKOFF`, systemd's `failed`),
    /// with the manager's line.
    Failed(String),
}

/// A service started, stopped, restarted or reloaded by its manager.
///
/// From `deploy.toml`: `{ service = { name = "randopony", manager = "supervisor", action = "restart" } }`.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_core::steps::{Service, ServiceAction, ServiceManager};
///
/// let step = Service::new("randopony", ServiceManager::Supervisor, ServiceAction::Start)
///     .conf("/etc/supervisor/supervisord.conf");
/// assert_eq!(step.describe().summary, "start randopony (supervisor), unless it runs");
/// let restart = Service::new("nginx", ServiceManager::Systemd, ServiceAction::Reload).sudo();
/// assert_eq!(restart.describe().summary, "reload nginx (systemd)");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    name: Text,
    manager: Manager,
    action: Action,
    /// Through `sudo` (systemd's units usually need it).
    #[serde(default)]
    sudo: bool,
    /// supervisorctl's configuration file (`-c`), for a supervisord of its
    /// own; the default is supervisorctl's.
    conf: Option<Text>,
    /// How long the service may take to be running (or stopped).
    #[serde(default = "default_wait", with = "crate::duration::serde_req")]
    wait: Duration,
}

fn default_wait() -> Duration {
    Duration::from_secs(30)
}

impl Service {
    /// `action` on service `name` under `manager`.
    ///
    /// # Examples
    ///
    /// See [`Service`].
    pub fn new(name: impl Into<Text>, manager: Manager, action: Action) -> Service {
        Service {
            name: name.into(),
            manager,
            action,
            sudo: false,
            conf: None,
            wait: default_wait(),
        }
    }

    /// Runs the manager through `sudo`.
    ///
    /// # Examples
    ///
    /// See [`Service`].
    #[must_use]
    pub fn sudo(mut self) -> Service {
        self.sudo = true;
        self
    }

    /// supervisorctl's configuration file.
    ///
    /// # Examples
    ///
    /// See [`Service`].
    #[must_use]
    pub fn conf(mut self, conf: impl Into<Text>) -> Service {
        self.conf = Some(conf.into());
        self
    }

    /// The manager's command line: `supervisorctl [-c CONF] ARGS…` or
    /// `systemctl ARGS…`.
    fn manager_command(&self, ctx: &StepContext<'_>, args: &[&str]) -> Result<Command, StepError> {
        let mut argv: Vec<String> = match self.manager {
            Manager::Supervisor => {
                let mut argv = vec!["supervisorctl".to_owned()];
                if let Some(conf) = &self.conf {
                    argv.extend(["-c".to_owned(), ctx.resolve(conf)?]);
                }
                argv
            }
            Manager::Systemd => vec!["systemctl".to_owned()],
        };
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        Ok(Command::new(argv).sudo(self.sudo))
    }

    async fn state(&self, ctx: &StepContext<'_>) -> Result<State, StepError> {
        let name = ctx.resolve(&self.name)?;
        match self.manager {
            Manager::Supervisor => {
                let out = ctx
                    .probe(&self.manager_command(ctx, &["status", &name])?)
                    .await?;
                let line = out.stdout.first().cloned().unwrap_or_default();
                let word = line.split_whitespace().nth(1).unwrap_or_default();
                Ok(match word {
                    "RUNNING" => State::Running,
                    "STOPPED" | "EXITED" => State::Stopped,
                    "STARTING" | "STOPPING" => State::Changing,
                    _ => State::Failed(if line.is_empty() {
                        format!("supervisorctl status said nothing of {name}")
                    } else {
                        line
                    }),
                })
            }
            Manager::Systemd => {
                let out = ctx
                    .probe(&self.manager_command(ctx, &["is-active", &name])?)
                    .await?;
                let word = out.stdout.first().cloned().unwrap_or_default();
                Ok(match word.trim() {
                    "active" | "reloading" => State::Running,
                    "inactive" => State::Stopped,
                    "activating" | "deactivating" => State::Changing,
                    other => State::Failed(format!("systemctl is-active {name}: {other}")),
                })
            }
        }
    }

    /// The manager's account of a service that failed: the status line and
    /// the last lines it logged.
    async fn why(&self, ctx: &StepContext<'_>, line: &str) -> Result<String, StepError> {
        let name = ctx.resolve(&self.name)?;
        let args: &[&str] = match self.manager {
            Manager::Supervisor => &["tail", &name, "stderr"],
            Manager::Systemd => &["status", "--no-pager", "-n", "10", &name],
        };
        let out = ctx.probe(&self.manager_command(ctx, args)?).await?;
        let tail: Vec<&str> = out
            .stdout
            .iter()
            .map(String::as_str)
            .filter(|l| !l.trim().is_empty())
            .collect();
        let tail = &tail[tail.len().saturating_sub(10)..];
        Ok(if tail.is_empty() {
            line.to_owned()
        } else {
            format!("{line}\n{}", tail.join("\n"))
        })
    }
}

impl Kind for Service {
    const KIND: &'static str = "service";
}

#[async_trait]
impl Step for Service {
    fn describe(&self) -> Description {
        let manager = match self.manager {
            Manager::Supervisor => "supervisor",
            Manager::Systemd => "systemd",
        };
        let unless = match self.action {
            Action::Start => ", unless it runs",
            Action::Stop => ", unless it is stopped",
            Action::Restart | Action::Reload => "",
        };
        let until = if self.action == Action::Stop {
            "stopped"
        } else {
            "running"
        };
        Description::new(format!(
            "{} {} ({manager}){unless}",
            self.action.verb(),
            self.name
        ))
        .field(
            "wait",
            format!(
                "up to {} until it is {until}",
                crate::duration::format(self.wait)
            ),
        )
        .field_opt("conf", self.conf.as_ref())
        .field_opt("sudo", self.sudo.then_some("yes"))
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        self.note(ctx)?;
        Ok(match self.action {
            Action::Start => self.state(ctx).await? == State::Running,
            Action::Stop => self.state(ctx).await? == State::Stopped,
            Action::Restart | Action::Reload => false,
        })
    }

    /// A restart (or reload) is taken back by doing it again once the
    /// other steps are undone, so the service runs what they put back; a
    /// start or stop is not undone.
    fn undoable(&self) -> Option<&dyn Undo> {
        matches!(self.action, Action::Restart | Action::Reload).then_some(self as &dyn Undo)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        self.note(ctx)?;
        let name = ctx.resolve(&self.name)?;
        let verb = match (self.manager, self.action) {
            // supervisor has no reload of one program: its signal is.
            (Manager::Supervisor, Action::Reload) => "signal",
            (_, action) => action.verb(),
        };
        let args: Vec<&str> = match (self.manager, self.action) {
            (Manager::Supervisor, Action::Reload) => vec![verb, "HUP", &name],
            _ => vec![verb, &name],
        };
        let out = ctx.probe(&self.manager_command(ctx, &args)?).await?;
        // supervisorctl says `ERROR (spawn error)` on stdout, and older
        // ones exit 0 even then.
        let said = out.stdout.join(" ");
        let refused = !out.status.is_some_and(|s| s.success()) || said.contains("ERROR");
        if refused {
            let line = if said.is_empty() {
                format!("{} {verb} {name} failed", self.manager_name())
            } else {
                said
            };
            return Err(StepError::Failed(self.why(ctx, &line).await?));
        }
        let wanted = if self.action == Action::Stop {
            State::Stopped
        } else {
            State::Running
        };
        let deadline = Instant::now() + self.wait;
        loop {
            match self.state(ctx).await? {
                state if state == wanted => return Ok(Applied::done()),
                State::Failed(line) => return Err(StepError::Failed(self.why(ctx, &line).await?)),
                state if Instant::now() >= deadline => {
                    return Err(StepError::Failed(format!(
                        "{name} is not {} after {} ({state:?})",
                        if wanted == State::Stopped {
                            "stopped"
                        } else {
                            "running"
                        },
                        crate::duration::format(self.wait)
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
    }
}

#[async_trait]
impl Undo for Service {
    fn summary(&self) -> String {
        format!(
            "{} {} again, once the other steps are undone",
            self.action.verb(),
            self.name
        )
    }

    async fn revert(&self, ctx: &StepContext<'_>, _applied: &Applied) -> Result<(), StepError> {
        self.apply(ctx).await.map(|_| ())
    }

    fn after_the_rest(&self) -> bool {
        true
    }
}

impl Service {
    /// Tells the run this host's release manages the service (`deploy
    /// status` asks its manager about it).
    fn note(&self, ctx: &StepContext<'_>) -> Result<(), StepError> {
        ctx.log.manages(ServiceRecord {
            name: ctx.resolve(&self.name)?,
            manager: self.manager_name_short().to_owned(),
            conf: self.conf.as_ref().map(|c| ctx.resolve(c)).transpose()?,
            sudo: self.sudo,
        });
        Ok(())
    }

    fn manager_name_short(&self) -> &'static str {
        match self.manager {
            Manager::Supervisor => "supervisor",
            Manager::Systemd => "systemd",
        }
    }

    fn manager_name(&self) -> &'static str {
        match self.manager {
            Manager::Supervisor => "supervisorctl",
            Manager::Systemd => "systemctl",
        }
    }
}

/// Whether a service a release manages runs, and its manager's line about
/// it (`randopony  RUNNING  pid 12, uptime 0:01:02`, `active`), asked on
/// `target` (for `deploy status`).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use deploy_core::release::ServiceRecord;
/// use deploy_core::testing::{FakeTarget, Rule};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let web1 = FakeTarget::new("web1");
/// web1.rule(Rule::new(["systemctl", "is-active"]).stdout("active"));
/// let app = ServiceRecord { name: "app".into(), manager: "systemd".into(), conf: None, sudo: false };
/// let (running, said) = deploy_core::steps::service_status(Arc::new(web1), &app).await.unwrap();
/// assert!(running);
/// assert_eq!(said, "active");
/// # });
/// ```
pub async fn service_status(
    target: std::sync::Arc<dyn crate::Target>,
    record: &ServiceRecord,
) -> Result<(bool, String), StepError> {
    let manager = match record.manager.as_str() {
        "supervisor" => Manager::Supervisor,
        "systemd" => Manager::Systemd,
        other => {
            return Err(StepError::Failed(format!(
                "unknown service manager `{other}`"
            )));
        }
    };
    let mut service = Service::new(Text::literal(record.name.clone()), manager, Action::Start);
    service.conf = record.conf.clone().map(Text::literal);
    service.sudo = record.sudo;
    let values = crate::RunValues::new("");
    let ctx = StepContext {
        target: target.clone(),
        local: target,
        values: &values,
        output: &crate::target::DiscardOutput,
        approver: &crate::step::Unattended::default(),
        masker: &crate::secret::Masker::default(),
        log: &(),
    };
    let args: &[&str] = match manager {
        Manager::Supervisor => &["status", &record.name],
        Manager::Systemd => &["is-active", &record.name],
    };
    let out = ctx.probe(&service.manager_command(&ctx, args)?).await?;
    let said = out
        .stdout
        .first()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Ok((service.state(&ctx).await? == State::Running, said))
}
