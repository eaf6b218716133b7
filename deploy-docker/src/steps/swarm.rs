//! `docker.swarm-service`: create or roll out a swarm service and follow
//! the rollout to its end; an update swarm rolled back is an error.

use deploy_core::release::{Pinned, Pins};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::text::Text;
use serde::Deserialize;

use super::container::HealthcheckConfig;
use super::{open_engine, resolve_all, shown};
use crate::container::PortMapping;
use crate::error::DockerError;
use crate::swarm::{MountKind, RollingUpdate, Rollout, SwarmMount, SwarmSecret, SwarmService};

/// Rolls `name` out as a swarm service running `image`.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::DeploySwarmService;
///
/// let step: DeploySwarmService = toml::from_str(r#"
///     name = "web"
///     image = "shop/web:${release}"
///     replicas = 3
///     update = { parallelism = 1, delay = "5s", order = "start-first", failure_action = "rollback" }
/// "#).unwrap();
/// let d = step.describe();
/// assert_eq!(d.summary, "swarm service web runs shop/web:{release} ×3");
/// assert!(d.fields.iter().any(|(k, v)| k == "rolling update" && v.contains("start-first")));
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySwarmService {
    name: Text,
    image: Text,
    command: Option<Vec<Text>>,
    #[serde(default)]
    env: BTreeMap<String, Text>,
    #[serde(default = "one")]
    replicas: u64,
    #[serde(default)]
    ports: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, Text>,
    healthcheck: Option<HealthcheckConfig>,
    #[serde(default)]
    networks: Vec<String>,
    /// Compose's short syntax, `SOURCE:TARGET[:ro]`.
    #[serde(default)]
    volumes: Vec<VolumeConfig>,
    #[serde(default)]
    mounts: Vec<MountConfig>,
    #[serde(default)]
    secrets: Vec<SecretConfig>,
    #[serde(default)]
    update: UpdateConfig,
    #[serde(default = "default_wait", with = "deploy_core::duration::serde_req")]
    wait: Duration,
    engine: Option<Text>,
}

/// A `volumes` entry, read (and checked) as the engine will take it.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "String")]
struct VolumeConfig(SwarmMount);

impl TryFrom<String> for VolumeConfig {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        SwarmMount::parse(&text)
            .map(VolumeConfig)
            .map_err(|e| e.to_string())
    }
}

/// A `mounts` entry: `{ type = "volume" | "bind" | "tmpfs", source, target, read_only }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawMount")]
struct MountConfig(SwarmMount);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMount {
    #[serde(rename = "type", default = "volume")]
    kind: String,
    source: Option<String>,
    target: String,
    #[serde(default)]
    read_only: bool,
}

fn volume() -> String {
    "volume".to_owned()
}

impl TryFrom<RawMount> for MountConfig {
    type Error = String;

    fn try_from(raw: RawMount) -> Result<Self, String> {
        let kind = match raw.kind.as_str() {
            "volume" => MountKind::Volume,
            "bind" => MountKind::Bind,
            "tmpfs" => MountKind::Tmpfs,
            other => return Err(format!("type `{other}`: volume, bind or tmpfs")),
        };
        let mount = SwarmMount {
            kind,
            source: raw.source,
            target: raw.target,
            read_only: raw.read_only,
        };
        mount
            .check()
            .map_err(|why| format!("mount {}: {why}", mount.target))?;
        Ok(MountConfig(mount))
    }
}

/// A `secrets` entry: the secret's name, or `{ source = NAME, target = FILE }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "toml::Value")]
struct SecretConfig(SwarmSecret);

impl TryFrom<toml::Value> for SecretConfig {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            source: String,
            target: Option<String>,
        }
        let secret = match value {
            toml::Value::String(name) => SwarmSecret::new(name),
            table @ toml::Value::Table(_) => {
                let full = Full::deserialize(table).map_err(|e| e.to_string().trim().to_owned())?;
                SwarmSecret {
                    target: full.target.unwrap_or_else(|| full.source.clone()),
                    name: full.source,
                }
            }
            other => {
                return Err(format!(
                    "a secret is its name or {{ source = NAME, target = FILE }}, not {}",
                    other.type_str()
                ));
            }
        };
        if secret.name.is_empty() {
            return Err("a secret's name is empty".into());
        }
        Ok(SecretConfig(secret))
    }
}

fn one() -> u64 {
    1
}

fn default_wait() -> Duration {
    Duration::from_secs(600)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateConfig {
    #[serde(default = "one")]
    parallelism: u64,
    #[serde(default = "default_delay", with = "deploy_core::duration::serde_req")]
    delay: Duration,
    #[serde(default = "default_order")]
    order: String,
    #[serde(default = "default_failure_action")]
    failure_action: String,
    #[serde(default = "default_monitor", with = "deploy_core::duration::serde_req")]
    monitor: Duration,
    #[serde(default)]
    max_failure_ratio: f64,
}

fn default_delay() -> Duration {
    Duration::from_secs(5)
}
fn default_order() -> String {
    "start-first".to_owned()
}
fn default_failure_action() -> String {
    "rollback".to_owned()
}
fn default_monitor() -> Duration {
    Duration::from_secs(10)
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            parallelism: 1,
            delay: default_delay(),
            order: default_order(),
            failure_action: default_failure_action(),
            monitor: default_monitor(),
            max_failure_ratio: 0.0,
        }
    }
}

impl UpdateConfig {
    fn rolling(&self) -> Result<RollingUpdate, DockerError> {
        let start_first = match self.order.as_str() {
            "start-first" => true,
            "stop-first" => false,
            other => {
                return Err(DockerError::Invalid(format!(
                    "update.order `{other}`: start-first or stop-first"
                )));
            }
        };
        let rollback_on_failure = match self.failure_action.as_str() {
            "rollback" => true,
            "pause" => false,
            other => {
                return Err(DockerError::Invalid(format!(
                    "update.failure_action `{other}`: rollback or pause"
                )));
            }
        };
        Ok(RollingUpdate {
            parallelism: self.parallelism.max(1),
            delay: self.delay,
            start_first,
            rollback_on_failure,
            monitor: self.monitor,
            max_failure_ratio: self.max_failure_ratio,
        })
    }
}

impl DeploySwarmService {
    fn service(&self, ctx: &StepContext<'_>) -> Result<SwarmService, StepError> {
        let mut service = SwarmService::new(ctx.resolve(&self.name)?, ctx.resolve(&self.image)?);
        service.command = self
            .command
            .as_deref()
            .map(|c| resolve_all(ctx, c))
            .transpose()?;
        for (name, value) in &self.env {
            service.env.insert(name.clone(), ctx.resolve(value)?);
        }
        for (name, value) in &self.labels {
            service.labels.insert(name.clone(), ctx.resolve(value)?);
        }
        service.replicas = self.replicas;
        service.ports = self
            .ports
            .iter()
            .map(|p| PortMapping::parse(p))
            .collect::<Result<_, _>>()?;
        service.healthcheck = self
            .healthcheck
            .as_ref()
            .map(HealthcheckConfig::to_healthcheck);
        service.update = self.update.rolling()?;
        service.networks.clone_from(&self.networks);
        service.mounts = self
            .volumes
            .iter()
            .map(|v| v.0.clone())
            .chain(self.mounts.iter().map(|m| m.0.clone()))
            .collect();
        service.secrets = self.secrets.iter().map(|s| s.0.clone()).collect();
        Ok(service)
    }
}

impl Kind for DeploySwarmService {
    const KIND: &'static str = "docker.swarm-service";
}

#[async_trait]
impl Step for DeploySwarmService {
    /// `command` is the tasks' argv, which `ps` on each node shows.
    fn secrets_in_argv(&self) -> Vec<&'static str> {
        if self.command.iter().flatten().any(Text::has_secret) {
            vec!["command"]
        } else {
            Vec::new()
        }
    }

    fn describe(&self) -> Description {
        let u = &self.update;
        Description::new(format!(
            "swarm service {} runs {} ×{}",
            self.name, self.image, self.replicas
        ))
        .field_opt("command", self.command.as_deref().map(shown))
        .field_opt(
            "env",
            (!self.env.is_empty()).then(|| {
                self.env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        )
        .field_opt(
            "ports",
            (!self.ports.is_empty()).then(|| self.ports.join(", ")),
        )
        .field_opt(
            "healthcheck",
            self.healthcheck.as_ref().map(|h| h.test.join(" ")),
        )
        .field_opt(
            "networks",
            (!self.networks.is_empty()).then(|| self.networks.join(", ")),
        )
        .field_opt("mounts", {
            let mounts: Vec<String> = self
                .volumes
                .iter()
                .map(|v| v.0.to_string())
                .chain(self.mounts.iter().map(|m| m.0.to_string()))
                .collect();
            (!mounts.is_empty()).then(|| mounts.join(", "))
        })
        .field_opt(
            "secrets",
            (!self.secrets.is_empty()).then(|| {
                self.secrets
                    .iter()
                    .map(|s| format!("{} → {}", s.0.name, s.0.path()))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        )
        .field(
            "rolling update",
            format!(
                "{} at a time, {} apart, {}, on failure {} (watched {})",
                u.parallelism,
                deploy_core::duration::format(u.delay),
                u.order,
                u.failure_action,
                deploy_core::duration::format(u.monitor)
            ),
        )
        .field_opt("engine", self.engine.as_ref())
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let service = self.service(ctx)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        let done = matches!(
            engine.service_state(&service.name).await?,
            Some((Some(digest), Rollout::Completed)) if digest == service.digest()
        );
        if done {
            super::record::note_image(ctx, &engine, &service.name, &service.image).await;
        }
        Ok(done)
    }

    fn pin_images(&self, pins: &Pins<'_>) -> Pinned {
        match super::record::pinned(pins, &self.image, &self.name) {
            Some(image) => Pinned::Replaced(Arc::new(DeploySwarmService {
                image,
                ..self.clone()
            })),
            None => Pinned::Unchanged,
        }
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let service = self.service(ctx)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        let start = engine.deploy_service(&service).await?;
        let rollout = engine
            .wait_rollout(&service.name, &start, self.wait)
            .await?;
        match rollout {
            Rollout::Completed => {
                super::record::note_image(ctx, &engine, &service.name, &service.image).await;
                Ok(Applied::done())
            }
            Rollout::RolledBack(message) | Rollout::RollingBack(message) => Err(StepError::Failed(
                format!("the update failed and swarm rolled it back: {message}"),
            )),
            Rollout::Paused(message) => Err(StepError::Failed(format!(
                "the update failed and is paused: {message}"
            ))),
            Rollout::Updating => Err(StepError::Failed("the rollout did not end".into())),
        }
    }
}
