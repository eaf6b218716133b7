//! Swarm services, for a team that outgrows one host: create or update a
//! service with rolling-update settings (parallelism, delay, start-first,
//! roll back on failure) and follow its rollout to the end. What the tasks
//! are given besides the image (networks, mounts, secrets) is in `attach`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::models::NetworkAttachmentConfig;
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointSpec, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, ServiceSpecRollbackConfig, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, ServiceUpdateStatusStateEnum, TaskSpec,
    TaskSpecContainerSpec, TaskSpecContainerSpecFile, TaskSpecContainerSpecSecrets,
};
use bollard::query_parameters::{InspectServiceOptions, UpdateServiceOptions};

use crate::container::{Healthcheck, PortMapping, SPEC_LABEL, nanos};

mod attach;

use crate::engine::Engine;
use crate::error::DockerError;
pub use attach::{MountKind, SwarmMount, SwarmSecret};

/// How an update rolls out.
///
/// # Examples
///
/// ```
/// let update = deploy_docker::swarm::RollingUpdate::default();
/// assert!(update.start_first && update.rollback_on_failure);
/// assert_eq!(update.parallelism, 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RollingUpdate {
    /// Tasks replaced at once.
    pub parallelism: u64,
    /// Between batches.
    pub delay: Duration,
    /// Start the new task before stopping the old one.
    pub start_first: bool,
    /// Roll back automatically when the update fails.
    pub rollback_on_failure: bool,
    /// How long a new task is watched for failure.
    pub monitor: Duration,
    /// Failed tasks tolerated, as a fraction.
    pub max_failure_ratio: f64,
}

impl Default for RollingUpdate {
    fn default() -> Self {
        RollingUpdate {
            parallelism: 1,
            delay: Duration::from_secs(5),
            start_first: true,
            rollback_on_failure: true,
            monitor: Duration::from_secs(10),
            max_failure_ratio: 0.0,
        }
    }
}

/// A replicated swarm service.
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmService {
    /// Its name.
    pub name: String,
    /// The image.
    pub image: String,
    /// Replaces the image's command.
    pub command: Option<Vec<String>>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// Tasks.
    pub replicas: u64,
    /// Ports published on the swarm's routing mesh.
    pub ports: Vec<PortMapping>,
    /// Service labels.
    pub labels: BTreeMap<String, String>,
    /// Health check (otherwise the image's).
    pub healthcheck: Option<Healthcheck>,
    /// Rolling-update settings (rollbacks use the same).
    pub update: RollingUpdate,
    /// Networks the tasks join (overlay networks, by name).
    pub networks: Vec<String>,
    /// Volumes, binds and tmpfs mounted into the tasks.
    pub mounts: Vec<SwarmMount>,
    /// Swarm secrets given to the tasks as files.
    pub secrets: Vec<SwarmSecret>,
}

/// The fields a service had before networks, mounts and secrets, printed
/// as the derived `Debug` printed them: a service that uses none of the
/// three keeps the digest it had.
struct Legacy<'a>(&'a SwarmService);

impl std::fmt::Debug for Legacy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0;
        f.debug_struct("SwarmService")
            .field("name", &s.name)
            .field("image", &s.image)
            .field("command", &s.command)
            .field("env", &s.env)
            .field("replicas", &s.replicas)
            .field("ports", &s.ports)
            .field("labels", &s.labels)
            .field("healthcheck", &s.healthcheck)
            .field("update", &s.update)
            .finish()
    }
}

/// Where a rollout began: [`Engine::deploy_service`] returns it for
/// [`Engine::wait_rollout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutStart {
    /// The service was created, not updated.
    pub created: bool,
    /// When the update before this one started, if there was one.
    pub previous_update: Option<String>,
}

/// Where a service's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Created, or updated and done.
    Completed,
    /// Still replacing tasks.
    Updating,
    /// Paused on a failure (`failure_action = pause`).
    Paused(String),
    /// A failed update is being rolled back.
    RollingBack(String),
    /// A failed update was rolled back: the previous spec runs.
    RolledBack(String),
}

impl SwarmService {
    /// A service of one replica from `image`, default rolling updates.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> SwarmService {
        SwarmService {
            name: name.into(),
            image: image.into(),
            command: None,
            env: BTreeMap::new(),
            replicas: 1,
            ports: Vec::new(),
            labels: BTreeMap::new(),
            healthcheck: None,
            update: RollingUpdate::default(),
            networks: Vec::new(),
            mounts: Vec::new(),
            secrets: Vec::new(),
        }
    }

    /// A digest of the spec (equal: nothing to update).
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let mut text = format!("{:?}", Legacy(self));
        if !self.networks.is_empty() || !self.mounts.is_empty() || !self.secrets.is_empty() {
            text.push_str(&format!(
                "\0{:?}\0{:?}\0{:?}",
                self.networks, self.mounts, self.secrets
            ));
        }
        crate::image::hex(&sha2::Sha256::digest(text.as_bytes())[..12])
    }

    /// The spec, with each secret's id from `secret_ids` (by name).
    fn spec(&self, secret_ids: &BTreeMap<String, String>) -> ServiceSpec {
        let mut labels: HashMap<String, String> = self.labels.clone().into_iter().collect();
        labels.insert(SPEC_LABEL.to_owned(), self.digest());
        let update = &self.update;
        ServiceSpec {
            name: Some(self.name.clone()),
            labels: Some(labels),
            task_template: Some(TaskSpec {
                container_spec: Some(TaskSpecContainerSpec {
                    image: Some(self.image.clone()),
                    command: self.command.clone(),
                    env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
                    health_check: self.healthcheck.as_ref().map(Healthcheck::to_api),
                    mounts: (!self.mounts.is_empty())
                        .then(|| self.mounts.iter().map(SwarmMount::to_api).collect()),
                    secrets: (!self.secrets.is_empty()).then(|| {
                        self.secrets
                            .iter()
                            .map(|s| TaskSpecContainerSpecSecrets {
                                file: Some(TaskSpecContainerSpecFile {
                                    name: Some(s.target.clone()),
                                    uid: Some("0".into()),
                                    gid: Some("0".into()),
                                    mode: Some(0o444),
                                }),
                                secret_id: secret_ids.get(&s.name).cloned(),
                                secret_name: Some(s.name.clone()),
                            })
                            .collect()
                    }),
                    ..Default::default()
                }),
                networks: (!self.networks.is_empty()).then(|| {
                    self.networks
                        .iter()
                        .map(|n| NetworkAttachmentConfig {
                            target: Some(n.clone()),
                            ..Default::default()
                        })
                        .collect()
                }),
                ..Default::default()
            }),
            mode: Some(ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: i64::try_from(self.replicas).ok(),
                }),
                ..Default::default()
            }),
            update_config: Some(ServiceSpecUpdateConfig {
                parallelism: i64::try_from(update.parallelism).ok(),
                delay: Some(nanos(update.delay)),
                failure_action: Some(if update.rollback_on_failure {
                    ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK
                } else {
                    ServiceSpecUpdateConfigFailureActionEnum::PAUSE
                }),
                monitor: Some(nanos(update.monitor)),
                max_failure_ratio: Some(update.max_failure_ratio),
                order: Some(if update.start_first {
                    ServiceSpecUpdateConfigOrderEnum::START_FIRST
                } else {
                    ServiceSpecUpdateConfigOrderEnum::STOP_FIRST
                }),
            }),
            rollback_config: Some(ServiceSpecRollbackConfig {
                parallelism: i64::try_from(update.parallelism).ok(),
                delay: Some(nanos(update.delay)),
                monitor: Some(nanos(update.monitor)),
                order: Some(if update.start_first {
                    ServiceSpecRollbackConfigOrderEnum::START_FIRST
                } else {
                    ServiceSpecRollbackConfigOrderEnum::STOP_FIRST
                }),
                ..Default::default()
            }),
            endpoint_spec: (!self.ports.is_empty()).then(|| EndpointSpec {
                ports: Some(
                    self.ports
                        .iter()
                        .map(|p| EndpointPortConfig {
                            protocol: Some(if p.protocol == "udp" {
                                EndpointPortConfigProtocolEnum::UDP
                            } else {
                                EndpointPortConfigProtocolEnum::TCP
                            }),
                            target_port: Some(i64::from(p.container_port)),
                            published_port: p.host_port.map(i64::from),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

impl Engine {
    /// True when this engine is a swarm manager.
    pub async fn swarm_manager(&self) -> Result<bool, DockerError> {
        let info = self
            .api()
            .info()
            .await
            .map_err(|e| self.error("read the engine's info", e))?;
        Ok(info
            .swarm
            .and_then(|s| s.control_available)
            .unwrap_or(false))
    }

    /// The service's spec digest and rollout, or `None` when it does not exist.
    pub async fn service_state(
        &self,
        name: &str,
    ) -> Result<Option<(Option<String>, Rollout)>, DockerError> {
        Ok(self
            .service_status(name)
            .await?
            .map(|(digest, rollout, _)| (digest, rollout)))
    }

    /// Digest, rollout, and when the last update started (it tells one
    /// update's status from the one before).
    async fn service_status(
        &self,
        name: &str,
    ) -> Result<Option<(Option<String>, Rollout, Option<String>)>, DockerError> {
        let inspected = self
            .api()
            .inspect_service(name, None::<InspectServiceOptions>)
            .await;
        let Some(service) = crate::error::found(inspected)
            .map_err(|e| self.error(format!("inspect service {name}"), e))?
        else {
            return Ok(None);
        };
        let digest = service
            .spec
            .as_ref()
            .and_then(|s| s.labels.as_ref())
            .and_then(|l| l.get(SPEC_LABEL).cloned());
        let status = service.update_status.unwrap_or_default();
        let started = status.started_at.clone();
        let message = status.message.unwrap_or_default();
        let rollout = match status.state {
            Some(ServiceUpdateStatusStateEnum::UPDATING) => Rollout::Updating,
            Some(
                ServiceUpdateStatusStateEnum::PAUSED
                | ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED,
            ) => Rollout::Paused(message),
            Some(ServiceUpdateStatusStateEnum::ROLLBACK_STARTED) => Rollout::RollingBack(message),
            Some(ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED) => Rollout::RolledBack(message),
            _ => Rollout::Completed,
        };
        Ok(Some((digest, rollout, started)))
    }

    /// Creates the service, or updates it to `service` (a rolling update);
    /// what it returns lets [`Engine::wait_rollout`] follow this rollout,
    /// not the one before.
    pub async fn deploy_service(
        &self,
        service: &SwarmService,
    ) -> Result<RolloutStart, DockerError> {
        let before = self.service_status(&service.name).await?;
        self.create_or_update(service).await?;
        Ok(RolloutStart {
            created: before.is_none(),
            previous_update: before.and_then(|(_, _, started)| started),
        })
    }

    /// The ids of the service's secrets, by name; a missing one is named.
    async fn secret_ids(
        &self,
        service: &SwarmService,
    ) -> Result<BTreeMap<String, String>, DockerError> {
        let mut ids = BTreeMap::new();
        if service.secrets.is_empty() {
            return Ok(ids);
        }
        let names: Vec<String> = service.secrets.iter().map(|s| s.name.clone()).collect();
        let options = bollard::query_parameters::ListSecretsOptions {
            filters: Some(HashMap::from([("name".to_owned(), names.clone())])),
        };
        let found = self
            .api()
            .list_secrets(Some(options))
            .await
            .map_err(|e| self.error("list swarm secrets", e))?;
        for secret in found {
            let name = secret.spec.and_then(|s| s.name);
            if let (Some(name), Some(id)) = (name, secret.id)
                && names.contains(&name)
            {
                ids.insert(name, id);
            }
        }
        match names.iter().find(|n| !ids.contains_key(*n)) {
            Some(missing) => Err(DockerError::NotFound {
                host: self.host().to_owned(),
                what: format!(
                    "swarm secret `{missing}` for service {} (make it once on a manager: \
                     `docker secret create {missing} FILE`; deploy never reads its value)",
                    service.name
                ),
            }),
            None => Ok(ids),
        }
    }

    async fn create_or_update(&self, service: &SwarmService) -> Result<(), DockerError> {
        let what = format!("service {}", service.name);
        let secret_ids = self.secret_ids(service).await?;
        match self
            .api()
            .inspect_service(&service.name, None::<InspectServiceOptions>)
            .await
        {
            Ok(current) => {
                let version = current
                    .version
                    .and_then(|v| v.index)
                    .and_then(|i| i32::try_from(i).ok())
                    .unwrap_or(0);
                let options = UpdateServiceOptions {
                    version,
                    ..Default::default()
                };
                self.api()
                    .update_service(&service.name, service.spec(&secret_ids), options, None)
                    .await
                    .map(|_| ())
                    .map_err(|e| self.error(format!("update {what}"), e))
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => self
                .api()
                .create_service(service.spec(&secret_ids), None)
                .await
                .map(|_| ())
                .map_err(|e| self.error(format!("create {what}"), e)),
            Err(e) => Err(self.error(format!("inspect {what}"), e)),
        }
    }

    /// Waits until the rollout `start` began ends (done, paused or rolled
    /// back) and the service's tasks run; returns how it ended.
    pub async fn wait_rollout(
        &self,
        name: &str,
        start: &RolloutStart,
        limit: Duration,
    ) -> Result<Rollout, DockerError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (_, rollout, started) =
                self.service_status(name)
                    .await?
                    .ok_or_else(|| DockerError::NotFound {
                        host: self.host().to_owned(),
                        what: format!("service {name}"),
                    })?;
            // Until the manager starts this update, the status is the last one's.
            let ours = start.created || (started.is_some() && started != start.previous_update);
            let settled = match &rollout {
                _ if !ours => false,
                Rollout::Completed => self.service_running(name).await?,
                Rollout::Paused(_) | Rollout::RolledBack(_) => true,
                Rollout::Updating | Rollout::RollingBack(_) => false,
            };
            if settled {
                return Ok(rollout);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DockerError::Api {
                    host: self.host().to_owned(),
                    what: format!("service {name}"),
                    message: format!("rollout still {rollout:?} after {}s", limit.as_secs()),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// True when every replica the service wants has a running task.
    async fn service_running(&self, name: &str) -> Result<bool, DockerError> {
        let service = self
            .api()
            .inspect_service(name, None::<InspectServiceOptions>)
            .await
            .map_err(|e| self.error(format!("inspect service {name}"), e))?;
        let wanted = service
            .spec
            .and_then(|s| s.mode)
            .and_then(|m| m.replicated)
            .and_then(|r| r.replicas)
            .unwrap_or(1);
        let running = self.service_tasks(name).await?;
        Ok(i64::try_from(
            running
                .iter()
                .filter(|(_, state)| state == "running")
                .count(),
        )
        .unwrap_or(0)
            >= wanted)
    }

    /// The service's tasks that should run: (image, state).
    pub async fn service_tasks(&self, name: &str) -> Result<Vec<(String, String)>, DockerError> {
        let filters = HashMap::from([
            ("service".to_owned(), vec![name.to_owned()]),
            ("desired-state".to_owned(), vec!["running".to_owned()]),
        ]);
        let options = bollard::query_parameters::ListTasksOptions {
            filters: Some(filters),
        };
        let tasks = self
            .api()
            .list_tasks(Some(options))
            .await
            .map_err(|e| self.error(format!("list tasks of {name}"), e))?;
        Ok(tasks
            .into_iter()
            .map(|t| {
                let image = t
                    .spec
                    .and_then(|s| s.container_spec)
                    .and_then(|c| c.image)
                    .unwrap_or_default();
                let state = t
                    .status
                    .and_then(|s| s.state)
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                (image, state)
            })
            .collect())
    }

    /// Removes a service; a missing one is fine.
    pub async fn remove_service(&self, name: &str) -> Result<(), DockerError> {
        crate::error::gone_is_fine(self.api().delete_service(name).await, None)
            .map_err(|e| self.error(format!("remove service {name}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_without_the_new_fields_keeps_its_digest() {
        let mut service = SwarmService::new("web", "shop/web:1");
        service.env.insert("A".into(), "1".into());
        service.replicas = 3;
        // The digest the same service had before networks, mounts and
        // secrets existed: no needless rollout after an upgrade.
        assert_eq!(service.digest(), "6290cc93ea5f0a63509a3db6");
        service.secrets.push(SwarmSecret::new("db_password"));
        assert_ne!(service.digest(), "6290cc93ea5f0a63509a3db6");
    }

    #[test]
    fn mounts_and_secrets_reach_the_task_spec() {
        let mut service = SwarmService::new("web", "shop/web:1");
        service.networks.push("shop".into());
        service
            .mounts
            .push(SwarmMount::parse("media:/app/media:ro").expect("mount"));
        service.secrets.push(SwarmSecret {
            name: "db_password".into(),
            target: "db".into(),
        });
        let ids = BTreeMap::from([("db_password".to_owned(), "s3cr3tid".to_owned())]);
        let task = service.spec(&ids).task_template.expect("task");
        let container = task.container_spec.expect("container");
        let secret = &container.secrets.expect("secrets")[0];
        assert_eq!(secret.secret_id.as_deref(), Some("s3cr3tid"));
        assert_eq!(
            secret.file.as_ref().and_then(|f| f.name.as_deref()),
            Some("db")
        );
        let mount = &container.mounts.expect("mounts")[0];
        assert_eq!(
            (mount.source.as_deref(), mount.read_only),
            (Some("media"), Some(true))
        );
        assert_eq!(
            task.networks.expect("networks")[0].target.as_deref(),
            Some("shop")
        );
    }
}
