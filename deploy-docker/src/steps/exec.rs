//! `docker.exec`: run a command in a running container (`manage.py migrate`,
//! `collectstatic`), its output streamed, its exit status checked.

use std::collections::BTreeMap;

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::target::DiscardOutput;
use deploy_core::target::ExitStatus;
use deploy_core::text::Text;
use serde::Deserialize;

use super::{open_engine, resolve_all, shown};

/// Runs `cmd` in `container` (or in the first running container of compose
/// service `service`, of `project` when given); with `unless`, done already
/// when that command exits 0 in the container.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::ExecInContainer;
///
/// let step = ExecInContainer::new("shop-web", ["python", "manage.py", "migrate"]);
/// assert_eq!(step.describe().summary, "in container shop-web: python manage.py migrate");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawExec")]
pub struct ExecInContainer {
    container: Where,
    cmd: Vec<Text>,
    #[serde(default)]
    env: BTreeMap<String, Text>,
    unless: Option<Vec<Text>>,
    engine: Option<Text>,
    /// Its stdout is what it is for: printed without `-v`.
    output: bool,
}

/// Which container.
#[derive(Clone, Debug)]
pub(crate) enum Where {
    Container(Text),
    Service {
        service: Text,
        project: Option<Text>,
    },
}

impl std::fmt::Display for Where {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Where::Container(name) => write!(f, "container {name}"),
            Where::Service {
                service,
                project: Some(project),
            } => write!(f, "service {service} of {project}"),
            Where::Service { service, .. } => write!(f, "service {service}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExec {
    container: Option<Text>,
    service: Option<Text>,
    project: Option<Text>,
    cmd: Vec<Text>,
    #[serde(default)]
    env: BTreeMap<String, Text>,
    unless: Option<Vec<Text>>,
    engine: Option<Text>,
    #[serde(default)]
    output: bool,
}

impl TryFrom<RawExec> for ExecInContainer {
    type Error = String;

    fn try_from(raw: RawExec) -> Result<Self, String> {
        let container = match (raw.container, raw.service, raw.project) {
            (Some(container), None, None) => Where::Container(container),
            (None, Some(service), project) => Where::Service { service, project },
            (Some(_), Some(_), _) => return Err("name `container` or `service`, not both".into()),
            (Some(_), None, Some(_)) => return Err("`project` goes with `service`".into()),
            (None, None, _) => return Err("name the `container` (or the compose `service`)".into()),
        };
        Ok(ExecInContainer {
            container,
            cmd: raw.cmd,
            env: raw.env,
            unless: raw.unless,
            engine: raw.engine,
            output: raw.output,
        })
    }
}

/// A [`Where`] with its placeholders filled.
pub(crate) enum Resolved {
    Container(String),
    Service {
        service: String,
        project: Option<String>,
    },
}

impl Resolved {
    /// The container's name (a compose service's first running one).
    pub(crate) async fn name(&self, engine: &crate::Engine) -> Result<String, crate::DockerError> {
        match self {
            Resolved::Container(name) => Ok(name.clone()),
            Resolved::Service { service, project } => {
                engine.service_container(service, project.as_deref()).await
            }
        }
    }
}

impl ExecInContainer {
    /// Runs `cmd` in `container`.
    pub fn new<I, S>(container: &str, cmd: I) -> ExecInContainer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ExecInContainer {
            container: Where::Container(Text::from(container)),
            cmd: cmd.into_iter().map(|s| Text::from(s.as_ref())).collect(),
            env: BTreeMap::new(),
            unless: None,
            engine: None,
            output: false,
        }
    }
}

impl ExecInContainer {
    /// The container reference with its placeholders filled.
    fn resolved(&self, ctx: &StepContext<'_>) -> Result<Resolved, StepError> {
        Ok(match &self.container {
            Where::Container(name) => Resolved::Container(ctx.resolve(name)?),
            Where::Service { service, project } => Resolved::Service {
                service: ctx.resolve(service)?,
                project: project.as_ref().map(|p| ctx.resolve(p)).transpose()?,
            },
        })
    }
}

impl ExecInContainer {
    /// Runs `cmd` in the first running container of compose service
    /// `service` (of `project`, when given).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Step;
    /// use deploy_docker::steps::ExecInContainer;
    ///
    /// let step = ExecInContainer::new_in_service("web", Some("shop"), ["python", "manage.py", "migrate"]);
    /// assert_eq!(step.describe().summary, "in service web of shop: python manage.py migrate");
    /// ```
    pub fn new_in_service<I, S>(service: &str, project: Option<&str>, cmd: I) -> ExecInContainer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ExecInContainer {
            container: Where::Service {
                service: Text::from(service),
                project: project.map(Text::from),
            },
            cmd: cmd.into_iter().map(|s| Text::from(s.as_ref())).collect(),
            env: BTreeMap::new(),
            unless: None,
            engine: None,
            output: false,
        }
    }
}

impl ExecInContainer {
    /// Its stdout is what it is for (`deploy exec --service`): printed
    /// without `-v`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Step;
    /// use deploy_docker::steps::ExecInContainer;
    ///
    /// assert!(ExecInContainer::new("web", ["env"]).show_output().describe().shows_output);
    /// ```
    #[must_use]
    pub fn show_output(mut self) -> ExecInContainer {
        self.output = true;
        self
    }
}

impl Kind for ExecInContainer {
    const KIND: &'static str = "docker.exec";
}

#[async_trait]
impl Step for ExecInContainer {
    /// `cmd` and `unless` run as argv in the container, which `ps` on the
    /// host shows.
    fn secrets_in_argv(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        if self.cmd.iter().any(Text::has_secret) {
            fields.push("cmd");
        }
        if self.unless.iter().flatten().any(Text::has_secret) {
            fields.push("unless");
        }
        fields
    }

    fn describe(&self) -> Description {
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let description = Description::new(format!("in {}: {}", self.container, shown(&self.cmd)));
        let description = if self.output {
            description.shows_output()
        } else {
            description
        };
        description
            .field_opt("env", (!env.is_empty()).then(|| env.join(" ")))
            .field_opt("unless", self.unless.as_deref().map(shown))
            .field_opt("engine", self.engine.as_ref())
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let Some(unless) = &self.unless else {
            return Ok(false);
        };
        let target = self.resolved(ctx)?;
        let cmd = resolve_all(ctx, unless)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        let container = target.name(&engine).await?;
        let outcome = engine
            .exec(&container, &cmd, &BTreeMap::new(), &DiscardOutput)
            .await?;
        Ok(outcome.exit_code == 0)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let target = self.resolved(ctx)?;
        let cmd = resolve_all(ctx, &self.cmd)?;
        let mut env = BTreeMap::new();
        for (name, value) in &self.env {
            env.insert(name.clone(), ctx.resolve(value)?);
        }
        let shown_cmd = format!("{} (in {})", shown(&self.cmd), self.container);
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        let container = target.name(&engine).await?;
        let outcome = engine.exec(&container, &cmd, &env, ctx.output).await?;
        if outcome.exit_code == 0 {
            Ok(Applied::done())
        } else {
            Err(StepError::CommandFailed {
                command: shown_cmd,
                status: ExitStatus {
                    code: i32::try_from(outcome.exit_code).ok(),
                    signal: None,
                },
                stdout_tail: outcome
                    .stdout_tail
                    .iter()
                    .map(|l| ctx.masker.mask(l))
                    .collect(),
                stderr_tail: outcome
                    .stderr_tail
                    .iter()
                    .map(|l| ctx.masker.mask(l))
                    .collect(),
            })
        }
    }
}
