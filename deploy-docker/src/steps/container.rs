//! `docker.ensure-running` and `docker.recreate`: a named container from a
//! spec. Ensure-running starts it only if it is not already running the
//! wanted image ("do not redeploy logstash if it is running"); recreate
//! replaces it when its spec or image changed, or always with `force`
//! (compose's `up -d --no-deps --force-recreate`). Neither leaves the host
//! without the old container when the new one cannot start.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deploy_core::release::{Pinned, Pins};
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError, Undo};
use deploy_core::text::Text;
use serde::Deserialize;

use super::definition::split;
use super::replicas::{self, Replicas};
use super::{resolve_all, shown};
use crate::container::{ContainerSpec, Healthcheck, PortMapping};
use crate::error::DockerError;

/// A container as `deploy.toml` describes it.
///
/// # Examples
///
/// ```
/// use deploy_docker::steps::ContainerConfig;
///
/// let config: ContainerConfig = toml::from_str(r#"
///     name = "shop-web"
///     image = "shop/web:${release}"
///     env = { DATABASE_URL = "${secret.DATABASE_URL}" }
///     ports = ["127.0.0.1:8080:8080"]
///     healthcheck = { test = ["CMD", "/app", "--check"], interval = "2s" }
/// "#).unwrap();
/// # let _ = config;
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
// (The steps split their own fields off first: see `definition`.)
pub struct ContainerConfig {
    pub(crate) name: Text,
    pub(crate) image: Text,
    command: Option<Vec<Text>>,
    #[serde(default)]
    env: BTreeMap<String, Text>,
    #[serde(default)]
    env_file: Vec<Text>,
    #[serde(default)]
    pub(crate) ports: Vec<String>,
    #[serde(default)]
    volumes: Vec<Text>,
    #[serde(default)]
    pub(crate) networks: Vec<Text>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, Text>,
    restart: Option<String>,
    healthcheck: Option<HealthcheckConfig>,
    version: Option<Text>,
    #[serde(default)]
    init: bool,
    user: Option<Text>,
    workdir: Option<Text>,
    /// How long a new container may take to become healthy.
    #[serde(default = "default_wait", with = "deploy_core::duration::serde_req")]
    pub(crate) wait: Duration,
    /// How long a stopping container gets between SIGTERM and SIGKILL.
    #[serde(default = "default_grace", with = "deploy_core::duration::serde_req")]
    pub(crate) stop_grace: Duration,
    pub(crate) engine: Option<Text>,
    /// The image asked for, when a rollback or promotion pinned `image`.
    #[serde(skip)]
    pub(crate) pinned_from: Option<Text>,
}

fn default_wait() -> Duration {
    Duration::from_secs(60)
}

fn default_grace() -> Duration {
    Duration::from_secs(10)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthcheckConfig {
    pub(crate) test: Vec<String>,
    #[serde(default, with = "deploy_core::duration::serde_opt")]
    interval: Option<Duration>,
    #[serde(default, with = "deploy_core::duration::serde_opt")]
    timeout: Option<Duration>,
    retries: Option<u32>,
    #[serde(default, with = "deploy_core::duration::serde_opt")]
    start_period: Option<Duration>,
}

impl HealthcheckConfig {
    /// The check, with deploy's defaults where the table says nothing.
    pub(crate) fn to_healthcheck(&self) -> Healthcheck {
        let mut check = Healthcheck::command(self.test.clone());
        check.interval = self.interval.unwrap_or(check.interval);
        check.timeout = self.timeout.unwrap_or(check.timeout);
        check.retries = self.retries.unwrap_or(check.retries);
        check.start_period = self.start_period.unwrap_or(check.start_period);
        check
    }
}

/// Reads a compose-style env file: `KEY=VALUE` lines, `#` comments.
fn read_env_file(path: &str) -> Result<Vec<(String, String)>, DockerError> {
    let text = std::fs::read_to_string(path).map_err(|e| DockerError::Local {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.trim().to_owned(), v.to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect())
}

impl ContainerConfig {
    /// The fields that put a secret on the container's command line
    /// (`command`, which `ps` on the host shows).
    pub(crate) fn secrets_in_argv(&self) -> Vec<&'static str> {
        if self.command.iter().flatten().any(Text::has_secret) {
            vec!["command"]
        } else {
            Vec::new()
        }
    }

    /// A config for container `name` from `image`.
    pub fn new(name: &str, image: &str) -> ContainerConfig {
        ContainerConfig {
            name: Text::from(name),
            image: Text::from(image),
            command: None,
            env: BTreeMap::new(),
            env_file: Vec::new(),
            ports: Vec::new(),
            volumes: Vec::new(),
            networks: Vec::new(),
            aliases: Vec::new(),
            labels: BTreeMap::new(),
            restart: None,
            healthcheck: None,
            version: None,
            init: false,
            user: None,
            workdir: None,
            wait: default_wait(),
            stop_grace: default_grace(),
            engine: None,
            pinned_from: None,
        }
    }

    /// This config with its image pinned to what a release ran, if the
    /// release recorded its repository.
    pub(crate) fn pinned(&self, pins: &deploy_core::release::Pins<'_>) -> Option<ContainerConfig> {
        let image = super::record::pinned(pins, &self.image, &self.name)?;
        Some(ContainerConfig {
            image,
            pinned_from: Some(self.image.clone()),
            ..self.clone()
        })
    }

    /// The image as the step was asked for it (before any pin), resolved.
    pub(crate) fn asked_image(&self, ctx: &StepContext<'_>) -> Result<String, StepError> {
        ctx.resolve(self.pinned_from.as_ref().unwrap_or(&self.image))
    }

    /// The spec with every placeholder filled (env files read here).
    pub(crate) fn spec(&self, ctx: &StepContext<'_>) -> Result<ContainerSpec, StepError> {
        let mut spec = ContainerSpec::new(ctx.resolve(&self.name)?, ctx.resolve(&self.image)?);
        crate::image::ImageRef::parse(&spec.image)?;
        spec.command = self
            .command
            .as_deref()
            .map(|c| resolve_all(ctx, c))
            .transpose()?;
        for file in &self.env_file {
            spec.env.extend(read_env_file(&ctx.resolve(file)?)?);
        }
        for (name, value) in &self.env {
            spec.env.insert(name.clone(), ctx.resolve(value)?);
        }
        spec.ports = self
            .ports
            .iter()
            .map(|p| PortMapping::parse(p))
            .collect::<Result<_, _>>()?;
        spec.volumes = resolve_all(ctx, &self.volumes)?;
        spec.networks = resolve_all(ctx, &self.networks)?;
        spec.aliases.clone_from(&self.aliases);
        for (name, value) in &self.labels {
            spec.labels.insert(name.clone(), ctx.resolve(value)?);
        }
        spec.restart.clone_from(&self.restart);
        spec.healthcheck = self
            .healthcheck
            .as_ref()
            .map(HealthcheckConfig::to_healthcheck);
        spec.version = self.version.as_ref().map(|v| ctx.resolve(v)).transpose()?;
        spec.init = self.init;
        spec.user = self.user.as_ref().map(|u| ctx.resolve(u)).transpose()?;
        spec.workdir = self.workdir.as_ref().map(|w| ctx.resolve(w)).transpose()?;
        Ok(spec)
    }

    pub(crate) fn describe_fields(&self, description: Description) -> Description {
        let pairs = |map: &BTreeMap<String, Text>| {
            map.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let list = |items: &[String]| (!items.is_empty()).then(|| items.join(", "));
        let texts = |items: &[Text]| (!items.is_empty()).then(|| shown(items));
        description
            .field_opt(
                "pinned",
                self.pinned_from
                    .as_ref()
                    .map(|asked| format!("{asked} as the release ran it")),
            )
            .field_opt("command", self.command.as_deref().map(shown))
            .field_opt("env", (!self.env.is_empty()).then(|| pairs(&self.env)))
            .field_opt("env files", texts(&self.env_file))
            .field_opt("ports", list(&self.ports))
            .field_opt("volumes", texts(&self.volumes))
            .field_opt("networks", texts(&self.networks))
            .field_opt("aliases", list(&self.aliases))
            .field_opt(
                "labels",
                (!self.labels.is_empty()).then(|| pairs(&self.labels)),
            )
            .field_opt("restart", self.restart.as_ref())
            .field_opt(
                "healthcheck",
                self.healthcheck.as_ref().map(|h| h.test.join(" ")),
            )
            .field_opt("version", self.version.as_ref())
            .field_opt("init", self.init.then_some("Docker's init as PID 1"))
            .field_opt("user", self.user.as_ref())
            .field_opt("workdir", self.workdir.as_ref())
            .field(
                "wait",
                format!(
                    "up to {} for health, {} to stop",
                    deploy_core::duration::format(self.wait),
                    deploy_core::duration::format(self.stop_grace)
                ),
            )
            .field_opt("engine", self.engine.as_ref())
    }
}

/// Starts container `name` unless it already runs the wanted image.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::{ContainerConfig, EnsureRunning};
///
/// let step = EnsureRunning::new(ContainerConfig::new("logstash", "logstash:8.11"));
/// assert_eq!(step.describe().summary, "container logstash runs logstash:8.11 (started only if not)");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct EnsureRunning {
    set: Replicas,
}

/// docker.ensure-running's own fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnsureOwn {
    #[serde(default = "one")]
    replicas: usize,
}

fn one() -> usize {
    1
}

impl TryFrom<toml::Value> for EnsureRunning {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, String> {
        if value.get("force").is_some() {
            return Err("`force` belongs to docker.recreate\nin `force`".to_owned());
        }
        let split = split::<EnsureOwn>(value, &["replicas"])?;
        replicas::check(&split.container, split.own.replicas)?;
        Ok(EnsureRunning {
            set: Replicas {
                config: split.container,
                count: split.own.replicas,
            },
        })
    }
}

impl EnsureRunning {
    /// Ensures the container `config` describes runs.
    pub fn new(config: ContainerConfig) -> EnsureRunning {
        EnsureRunning {
            set: Replicas { config, count: 1 },
        }
    }
}

impl Kind for EnsureRunning {
    const KIND: &'static str = "docker.ensure-running";

    /// The container's keys but `force` (refused above), and its own.
    fn fields() -> Option<Vec<&'static str>> {
        super::definition::fields_with(&["replicas"], &["force"])
    }
}

#[async_trait]
impl Step for EnsureRunning {
    fn secrets_in_argv(&self) -> Vec<&'static str> {
        self.set.config.secrets_in_argv()
    }

    fn describe(&self) -> Description {
        let set = &self.set;
        set.describe_fields(Description::new(format!(
            "{} {} {} (started only if not)",
            set.containers(),
            if set.count == 1 { "runs" } else { "run" },
            set.config.image
        )))
        .field(
            "pull",
            "first, when it must start and the host lacks the image",
        )
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        self.set.runs_as_wanted(ctx, false).await
    }

    /// Pulls the image first when the host lacks it, as `docker run` does
    /// (a service started once, logstash, is not pulled by each deploy).
    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let image = self.set.config.spec(ctx)?.image;
        let engine = super::open_engine(ctx, self.set.config.engine.as_ref()).await?;
        if engine.image_id(&image).await?.is_none() {
            let reference = crate::ImageRef::parse(&image)?;
            let credentials = super::credentials(ctx, None, &reference)?;
            engine.pull(&reference, &credentials, ctx.output).await?;
        }
        self.set.replace(ctx, Some(false)).await
    }

    fn pin_images(&self, pins: &Pins<'_>) -> Pinned {
        match self.set.pinned(pins) {
            Some(set) => Pinned::Replaced(Arc::new(EnsureRunning { set })),
            None => Pinned::Unchanged,
        }
    }

    fn undoable(&self) -> Option<&dyn Undo> {
        Some(&self.set)
    }
}

/// Replaces container `name` when its spec or image changed (or always,
/// with `force`), keeping the old one if the new one fails.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::{ContainerConfig, RecreateContainer};
///
/// let step = RecreateContainer::new(ContainerConfig::new("web", "shop/web:v2")).force();
/// assert_eq!(step.describe().summary, "recreate container web from shop/web:v2 (always)");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct RecreateContainer {
    set: Replicas,
    force: bool,
}

/// docker.recreate's own fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecreateOwn {
    /// Replace even when nothing changed.
    #[serde(default)]
    force: bool,
    #[serde(default = "one")]
    replicas: usize,
}

impl TryFrom<toml::Value> for RecreateContainer {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, String> {
        let split = split::<RecreateOwn>(value, &["force", "replicas"])?;
        replicas::check(&split.container, split.own.replicas)?;
        Ok(RecreateContainer {
            set: Replicas {
                config: split.container,
                count: split.own.replicas,
            },
            force: split.own.force,
        })
    }
}

impl RecreateContainer {
    /// Recreates the container `config` describes when it changed.
    pub fn new(config: ContainerConfig) -> RecreateContainer {
        RecreateContainer {
            set: Replicas { config, count: 1 },
            force: false,
        }
    }

    /// Recreates even when nothing changed.
    #[must_use]
    pub fn force(mut self) -> RecreateContainer {
        self.force = true;
        self
    }
}

impl Kind for RecreateContainer {
    const KIND: &'static str = "docker.recreate";

    fn fields() -> Option<Vec<&'static str>> {
        super::definition::fields_with(&["force", "replicas"], &[])
    }
}

#[async_trait]
impl Step for RecreateContainer {
    fn secrets_in_argv(&self) -> Vec<&'static str> {
        self.set.config.secrets_in_argv()
    }

    fn describe(&self) -> Description {
        let set = &self.set;
        set.describe_fields(Description::new(format!(
            "recreate {} from {} ({})",
            set.containers(),
            set.config.image,
            if self.force { "always" } else { "when changed" }
        )))
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        if self.force {
            return Ok(false);
        }
        self.set.runs_as_wanted(ctx, true).await
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        self.set.replace(ctx, (!self.force).then_some(true)).await
    }

    fn pin_images(&self, pins: &Pins<'_>) -> Pinned {
        match self.set.pinned(pins) {
            Some(set) => Pinned::Replaced(Arc::new(RecreateContainer {
                set,
                force: self.force,
            })),
            None => Pinned::Unchanged,
        }
    }

    fn undoable(&self) -> Option<&dyn Undo> {
        Some(&self.set)
    }
}
