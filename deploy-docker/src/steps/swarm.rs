//! `docker.swarm-service`: create or roll out a swarm service and follow
//! the rollout to its end; an update swarm rolled back is an error.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::text::Text;
use serde::Deserialize;

use super::container::HealthcheckConfig;
use super::{open_engine, resolve_all, shown};
use crate::container::PortMapping;
use crate::error::DockerError;
use crate::swarm::{RollingUpdate, Rollout, SwarmService};

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
    update: UpdateConfig,
    #[serde(default = "default_wait", with = "deploy_core::duration::serde_req")]
    wait: Duration,
    engine: Option<Text>,
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
        Ok(service)
    }
}

impl Kind for DeploySwarmService {
    const KIND: &'static str = "docker.swarm-service";
}

#[async_trait]
impl Step for DeploySwarmService {
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
        Ok(matches!(
            engine.service_state(&service.name).await?,
            Some((Some(digest), Rollout::Completed)) if digest == service.digest()
        ))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let service = self.service(ctx)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        let start = engine.deploy_service(&service).await?;
        let rollout = engine
            .wait_rollout(&service.name, &start, self.wait)
            .await?;
        match rollout {
            Rollout::Completed => Ok(Applied::done()),
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
