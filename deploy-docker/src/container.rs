//! Containers: what to run ([`ContainerSpec`]), and run, stop, remove, list,
//! inspect health, exec and logs on an [`Engine`].
//!
//! Every container deploy creates carries [`MANAGED_LABEL`], its spec's
//! digest ([`SPEC_LABEL`]) and, when given, a version label, so a later run
//! can tell "already running what we want" from "needs replacing".

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HealthStatusEnum, HostConfig,
    NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StopContainerOptions,
};
use deploy_core::target::{OutputSink, OutputStream};
use futures_util::StreamExt;
use sha2::Digest;

use crate::engine::Engine;
use crate::error::DockerError;

/// How long a container without a health check must keep running after a
/// start before it counts as up.
const SETTLE: Duration = Duration::from_secs(2);

/// Marks containers deploy created.
pub const MANAGED_LABEL: &str = "deploy.managed";
/// The digest of the spec a container was created from.
pub const SPEC_LABEL: &str = "deploy.spec-digest";
/// The version a container runs (`ContainerSpec::version`).
pub const VERSION_LABEL: &str = "deploy.version";

/// A published port: `host_ip:host_port:container_port/proto`.
///
/// # Examples
///
/// ```
/// use deploy_docker::container::PortMapping;
///
/// let p = PortMapping::parse("127.0.0.1:8080:80").unwrap();
/// assert_eq!((p.host_port, p.container_port), (Some(8080), 80));
/// assert_eq!(PortMapping::parse("443:443/tcp").unwrap().to_string(), "443:443/tcp");
/// assert!(PortMapping::parse("http").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// The host address to bind (all when `None`).
    pub host_ip: Option<String>,
    /// The host port (an ephemeral one when `None`).
    pub host_port: Option<u16>,
    /// The port inside the container.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

impl PortMapping {
    /// Parses compose's short syntax.
    pub fn parse(text: &str) -> Result<PortMapping, DockerError> {
        let bad = |why: &str| DockerError::Invalid(format!("port `{text}`: {why}"));
        let (spec, protocol) = match text.rsplit_once('/') {
            Some((spec, proto)) if proto == "tcp" || proto == "udp" => (spec, proto),
            Some(_) => return Err(bad("the protocol is tcp or udp")),
            None => (text, "tcp"),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let number = |s: &str| {
            s.parse::<u16>()
                .map_err(|_| bad("ports are numbers 1-65535"))
        };
        let (host_ip, host_port, container) = match parts.as_slice() {
            [container] => (None, None, *container),
            [host, container] => (None, Some(number(host)?), *container),
            [ip, host, container] => (
                Some((*ip).to_owned()),
                if host.is_empty() {
                    None
                } else {
                    Some(number(host)?)
                },
                *container,
            ),
            _ => return Err(bad("expected [ip:][host:]container[/proto]")),
        };
        Ok(PortMapping {
            host_ip,
            host_port,
            container_port: number(container)?,
            protocol: protocol.to_owned(),
        })
    }
}

impl std::fmt::Display for PortMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(ip) = &self.host_ip {
            write!(f, "{ip}:")?;
        }
        if let Some(port) = self.host_port {
            write!(f, "{port}:")?;
        } else if self.host_ip.is_some() {
            write!(f, ":")?;
        }
        write!(f, "{}/{}", self.container_port, self.protocol)
    }
}

/// A container health check, as in a Dockerfile's `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    pub test: Vec<String>,
    /// Between checks.
    pub interval: Duration,
    /// For one check.
    pub timeout: Duration,
    /// Failures before "unhealthy".
    pub retries: u32,
    /// Grace after start during which failures do not count.
    pub start_period: Duration,
}

impl Healthcheck {
    /// A check command with Docker's defaults, but a 2 s interval (deploys
    /// wait on it).
    ///
    /// # Examples
    ///
    /// ```
    /// let check = deploy_docker::container::Healthcheck::command(["CMD", "/app", "--check"]);
    /// assert_eq!(check.retries, 3);
    /// ```
    pub fn command<I, S>(test: I) -> Healthcheck
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Healthcheck {
            test: test.into_iter().map(Into::into).collect(),
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            retries: 3,
            start_period: Duration::ZERO,
        }
    }
}

/// What to run.
///
/// # Examples
///
/// ```
/// use deploy_docker::ContainerSpec;
///
/// let spec = ContainerSpec::new("shop-web", "shop/web:v1.4")
///     .env("PORT", "8080")
///     .port("127.0.0.1:8080:8080")
///     .unwrap()
///     .label("team", "shop");
/// assert_eq!(spec.name, "shop-web");
/// assert_ne!(spec.digest(), ContainerSpec::new("shop-web", "shop/web:v1.5").digest());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The container's name.
    pub name: String,
    /// The image.
    pub image: String,
    /// Replaces the image's command.
    pub command: Option<Vec<String>>,
    /// Environment (values may be secrets: they are never rendered).
    pub env: BTreeMap<String, String>,
    /// Published ports.
    pub ports: Vec<PortMapping>,
    /// `source:target[:ro]` binds and named volumes.
    pub volumes: Vec<String>,
    /// Networks to join (the first at creation, the rest after).
    pub networks: Vec<String>,
    /// Network aliases in every network joined.
    pub aliases: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    pub restart: Option<String>,
    /// Health check (otherwise the image's).
    pub healthcheck: Option<Healthcheck>,
    /// The version label.
    pub version: Option<String>,
    /// Run Docker's init as PID 1 (it forwards signals and reaps children,
    /// so an app that installs no SIGTERM handler still stops at once).
    pub init: bool,
}

impl ContainerSpec {
    /// A container `name` from `image`.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            image: image.into(),
            ..ContainerSpec::default()
        }
    }

    /// Sets an environment variable.
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> ContainerSpec {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Publishes a port (compose's short syntax).
    pub fn port(mut self, mapping: &str) -> Result<ContainerSpec, DockerError> {
        self.ports.push(PortMapping::parse(mapping)?);
        Ok(self)
    }

    /// Sets a label.
    #[must_use]
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> ContainerSpec {
        self.labels.insert(name.into(), value.into());
        self
    }

    /// Joins a network.
    #[must_use]
    pub fn network(mut self, name: impl Into<String>) -> ContainerSpec {
        self.networks.push(name.into());
        self
    }

    /// A digest of everything that shapes the container (secrets included,
    /// hashed): equal digests mean "no need to recreate".
    pub fn digest(&self) -> String {
        let mut hash = sha2::Sha256::new();
        let text = format!(
            "{}\0{}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}\0{:?}\0{}",
            self.name,
            self.image,
            self.command,
            self.env,
            self.ports,
            self.volumes,
            self.networks,
            self.aliases,
            self.labels,
            self.restart,
            self.healthcheck,
            self.version,
            self.init
        );
        hash.update(text.as_bytes());
        crate::image::hex(&hash.finalize()[..12])
    }

    fn restart_policy(&self) -> Result<Option<RestartPolicy>, DockerError> {
        let Some(restart) = &self.restart else {
            return Ok(None);
        };
        let (name, count) = match restart.split_once(':') {
            Some((name, count)) => (name, Some(count)),
            None => (restart.as_str(), None),
        };
        let name = match name {
            "no" => RestartPolicyNameEnum::NO,
            "always" => RestartPolicyNameEnum::ALWAYS,
            "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
            "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
            other => {
                return Err(DockerError::Invalid(format!(
                    "container {}: restart policy `{other}` is not one of no, always, \
                     unless-stopped, on-failure[:N]",
                    self.name
                )));
            }
        };
        let maximum_retry_count = count
            .map(|c| {
                c.parse::<i64>().map_err(|_| {
                    DockerError::Invalid(format!("container {}: `{restart}`", self.name))
                })
            })
            .transpose()?;
        Ok(Some(RestartPolicy {
            name: Some(name),
            maximum_retry_count,
        }))
    }

    fn body(&self) -> Result<ContainerCreateBody, DockerError> {
        let mut labels: HashMap<String, String> = self.labels.clone().into_iter().collect();
        labels.insert(MANAGED_LABEL.to_owned(), "true".to_owned());
        labels.insert(SPEC_LABEL.to_owned(), self.digest());
        if let Some(version) = &self.version {
            labels.insert(VERSION_LABEL.to_owned(), version.clone());
        }
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for port in &self.ports {
            bindings
                .entry(format!("{}/{}", port.container_port, port.protocol))
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: port.host_ip.clone(),
                    host_port: port.host_port.map(|p| p.to_string()),
                });
        }
        let exposed: Vec<String> = bindings.keys().cloned().collect();
        let endpoints = self.networks.first().map(|first| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(first.clone(), self.endpoint_settings())])),
        });
        let healthcheck = self.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: Some(nanos(h.interval)),
            timeout: Some(nanos(h.timeout)),
            retries: Some(i64::from(h.retries)),
            start_period: Some(nanos(h.start_period)),
            start_interval: None,
        });
        Ok(ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: self.command.clone(),
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            healthcheck,
            host_config: Some(HostConfig {
                binds: (!self.volumes.is_empty()).then(|| self.volumes.clone()),
                port_bindings: (!bindings.is_empty()).then_some(bindings),
                restart_policy: self.restart_policy()?,
                network_mode: self.networks.first().cloned(),
                init: self.init.then_some(true),
                ..Default::default()
            }),
            networking_config: endpoints,
            ..Default::default()
        })
    }

    fn endpoint_settings(&self) -> EndpointSettings {
        EndpointSettings {
            aliases: (!self.aliases.is_empty()).then(|| self.aliases.clone()),
            ..Default::default()
        }
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// A container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Its name (no leading `/`).
    pub name: String,
    /// Its id.
    pub id: String,
    /// The image name it was created from.
    pub image: String,
    /// The image id it runs.
    pub image_id: String,
    /// `running`, `exited`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `none` without a check.
    pub health: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// When it started (RFC 3339), if it ran.
    pub started_at: Option<String>,
    /// How long it has been up, when running.
    pub uptime: Option<Duration>,
    /// The output of its last health check.
    pub last_check: Option<String>,
    /// Its address on each network it joined.
    pub addresses: BTreeMap<String, String>,
}

impl ContainerInfo {
    /// True when the container is running.
    pub fn running(&self) -> bool {
        self.state == "running"
    }

    /// Its version label.
    pub fn version(&self) -> Option<&str> {
        self.labels.get(VERSION_LABEL).map(String::as_str)
    }
}

/// What an exec in a container ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// Its exit code.
    pub exit_code: i64,
    /// The last lines of its stderr (for errors).
    pub stderr_tail: Vec<String>,
}

/// Which logs to read.
///
/// # Examples
///
/// ```
/// let options = deploy_docker::container::LogRequest { tail: Some(20), ..Default::default() };
/// assert!(!options.follow);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    /// Only the last N lines.
    pub tail: Option<u32>,
    /// Keep following until the container stops (or the future is dropped).
    pub follow: bool,
    /// Only lines since this Unix time.
    pub since: Option<i64>,
}

fn parse_rfc3339_age(stamp: &str) -> Option<Duration> {
    // "2026-11-22T01:02:03.456Z": seconds since, from the civil date.
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let time = time.split(['+']).next()?;
    let mut t = time.split(':');
    let (hh, mm) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let ss = t.next()?.split('.').next()?.parse::<i64>().ok()?;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let started = days * 86_400 + hh * 3600 + mm * 60 + ss;
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()?
            .as_secs(),
    )
    .ok()?;
    u64::try_from(now - started).ok().map(Duration::from_secs)
}

impl Engine {
    /// Creates and starts a container (joining every network in the spec).
    pub async fn run(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let what = format!("create container {}", spec.name);
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = self
            .api()
            .create_container(Some(options), spec.body()?)
            .await
            .map_err(|e| match e {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404,
                    message,
                } => DockerError::NotFound {
                    host: self.host().to_owned(),
                    what: format!(
                        "image {} for container {} ({message})",
                        spec.image, spec.name
                    ),
                },
                e => self.error(&what, e),
            })?;
        for network in spec.networks.iter().skip(1) {
            let request = bollard::models::NetworkConnectRequest {
                container: created.id.clone(),
                endpoint_config: Some(spec.endpoint_settings()),
            };
            if let Err(e) = self.api().connect_network(network, request).await {
                let _ = self.remove(&spec.name).await;
                return Err(self.error(format!("connect {} to network {network}", spec.name), e));
            }
        }
        if let Err(e) = self.api().start_container(&created.id, None).await {
            // A container that cannot start (a port in use) is not left behind.
            let _ = self.remove(&spec.name).await;
            return Err(self.error(format!("start container {}", spec.name), e));
        }
        Ok(created.id)
    }

    /// Replaces the container `spec.name` with one made from `spec`, as
    /// `docker-compose up --force-recreate` does, but losing nothing: the old
    /// one is stopped and set aside, and if the new one cannot start (or, with
    /// `health`, does not become healthy in time) it is removed and the old
    /// one is put back and started again.
    pub async fn replace(
        &self,
        spec: &ContainerSpec,
        grace: Duration,
        health: Option<Duration>,
    ) -> Result<(), DockerError> {
        self.replace_keeping(spec, grace, health, false)
            .await
            .map(|_| ())
    }

    /// [`Engine::replace`], keeping the replaced container (stopped) as
    /// `NAME-previous` when `keep` is set, for [`Engine::restore_previous`];
    /// true when one was kept.
    pub async fn replace_keeping(
        &self,
        spec: &ContainerSpec,
        grace: Duration,
        health: Option<Duration>,
        keep: bool,
    ) -> Result<bool, DockerError> {
        let aside = format!("{}-replaced", spec.name);
        self.recover_aside(&spec.name, &aside).await?;
        let old = self.inspect(&spec.name).await?;
        if let Some(old) = &old {
            if old.running() {
                self.stop(&spec.name, grace).await?;
            }
            if let Err(e) = self.rename(&spec.name, &aside).await {
                if old.running() {
                    let _ = self.start(&spec.name).await;
                }
                return Err(e);
            }
        }
        let mut outcome = self.run(spec).await.map(|_| ());
        if let (Ok(()), Some(limit)) = (&outcome, health) {
            outcome = self.wait_healthy(&spec.name, limit).await;
        }
        match outcome {
            Ok(()) if old.is_some() && keep => {
                let previous = format!("{}-previous", spec.name);
                self.remove(&previous).await?;
                self.rename(&aside, &previous).await?;
                Ok(true)
            }
            Ok(()) => {
                if old.is_some() {
                    self.remove(&aside).await?;
                }
                Ok(false)
            }
            Err(e) => {
                // Put the old one back; a failure here is reported with the
                // reason the new one failed, never instead of it.
                let restored = async {
                    self.remove(&spec.name).await?;
                    if let Some(old) = &old {
                        self.rename(&aside, &spec.name).await?;
                        if old.running() {
                            self.start(&spec.name).await?;
                        }
                    }
                    Ok::<(), DockerError>(())
                }
                .await;
                match restored {
                    Ok(()) => Err(e),
                    Err(again) => Err(DockerError::Api {
                        host: self.host().to_owned(),
                        what: format!("replace container {}", spec.name),
                        message: format!(
                            "{e}; putting the old one back failed too: {again} (it is kept as {aside})"
                        ),
                    }),
                }
            }
        }
    }

    /// Undoes [`Engine::replace_keeping`]: the container kept as
    /// `NAME-previous` runs again under its name, the current one goes.
    pub async fn restore_previous(&self, name: &str, grace: Duration) -> Result<(), DockerError> {
        let previous = format!("{name}-previous");
        if self.inspect(&previous).await?.is_none() {
            return Err(DockerError::NotFound {
                host: self.host().to_owned(),
                what: format!("container {previous} (the version before {name})"),
            });
        }
        self.stop(name, grace).await?;
        self.remove(name).await?;
        self.rename(&previous, name).await?;
        self.start(name).await
    }

    /// A replacement interrupted earlier left the previous version aside:
    /// it comes back unless the container under the name runs.
    async fn recover_aside(&self, name: &str, aside: &str) -> Result<(), DockerError> {
        let Some(set_aside) = self.inspect(aside).await? else {
            return Ok(());
        };
        match self.inspect(name).await? {
            Some(current) if current.running() && current.health != "unhealthy" => {
                self.remove(aside).await
            }
            current => {
                if current.is_some() {
                    self.remove(name).await?;
                }
                self.rename(aside, name).await?;
                if !set_aside.running() {
                    self.start(name).await?;
                }
                Ok(())
            }
        }
    }

    /// Renames a container.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), DockerError> {
        let options = bollard::query_parameters::RenameContainerOptions {
            name: to.to_owned(),
        };
        self.api()
            .rename_container(from, options)
            .await
            .map_err(|e| self.error(format!("rename container {from} to {to}"), e))
    }

    /// Starts an existing container.
    pub async fn start(&self, name: &str) -> Result<(), DockerError> {
        self.api()
            .start_container(
                name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(|e| self.error(format!("start container {name}"), e))
    }

    /// Stops a container, giving it `grace` after SIGTERM before SIGKILL.
    /// A container that is already stopped is fine.
    pub async fn stop(&self, name: &str, grace: Duration) -> Result<(), DockerError> {
        let options = StopContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        let stopped = self.api().stop_container(name, Some(options)).await;
        crate::error::gone_is_fine(stopped, Some(304))
            .map_err(|e| self.error(format!("stop container {name}"), e))
    }

    /// Removes a container (running or not); a missing one is fine.
    pub async fn remove(&self, name: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        let removed = self.api().remove_container(name, Some(options)).await;
        crate::error::gone_is_fine(removed, None)
            .map_err(|e| self.error(format!("remove container {name}"), e))
    }

    /// A container's state, or `None` when there is no such container.
    pub async fn inspect(&self, name: &str) -> Result<Option<ContainerInfo>, DockerError> {
        let inspected = self
            .api()
            .inspect_container(name, None::<InspectContainerOptions>)
            .await;
        let Some(inspect) = crate::error::found(inspected)
            .map_err(|e| self.error(format!("inspect container {name}"), e))?
        else {
            return Ok(None);
        };
        let state = inspect.state.unwrap_or_default();
        let health = state.health.unwrap_or_default();
        let status = state
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        let running = status == "running";
        let started_at = state.started_at.filter(|s| !s.starts_with("0001-"));
        let addresses = inspect
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(network, endpoint)| {
                endpoint
                    .ip_address
                    .filter(|ip| !ip.is_empty())
                    .map(|ip| (network, ip))
            })
            .collect();
        Ok(Some(ContainerInfo {
            name: inspect
                .name
                .unwrap_or_else(|| name.to_owned())
                .trim_start_matches('/')
                .to_owned(),
            id: inspect.id.unwrap_or_default(),
            image: inspect
                .config
                .as_ref()
                .and_then(|c| c.image.clone())
                .unwrap_or_default(),
            image_id: inspect.image.unwrap_or_default(),
            state: status,
            health: match health.status {
                Some(HealthStatusEnum::HEALTHY) => "healthy",
                Some(HealthStatusEnum::UNHEALTHY) => "unhealthy",
                Some(HealthStatusEnum::STARTING) => "starting",
                _ => "none",
            }
            .to_owned(),
            labels: inspect
                .config
                .and_then(|c| c.labels)
                .unwrap_or_default()
                .into_iter()
                .collect(),
            uptime: if running {
                started_at.as_deref().and_then(parse_rfc3339_age)
            } else {
                None
            },
            started_at,
            last_check: health
                .log
                .and_then(|log| log.last().and_then(|r| r.output.clone()))
                .map(|o| o.trim().to_owned()),
            addresses,
        }))
    }

    /// Containers whose labels include all of `labels` (running or not).
    pub async fn list(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerInfo>, DockerError> {
        let filters: HashMap<String, Vec<String>> = HashMap::from([(
            "label".to_owned(),
            labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        )]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        let summaries = self
            .api()
            .list_containers(Some(options))
            .await
            .map_err(|e| self.error("list containers", e))?;
        let mut found = Vec::new();
        for summary in summaries {
            let Some(id) = summary.id else { continue };
            if let Some(info) = self.inspect(&id).await? {
                found.push(info);
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    /// Waits until a container's health check passes (or, without one, until
    /// it runs); an exit or "unhealthy" ends the wait early with an error.
    pub async fn wait_healthy(&self, name: &str, limit: Duration) -> Result<(), DockerError> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut settled_since: Option<tokio::time::Instant> = None;
        let mut seen_start: Option<String> = None;
        loop {
            let info = self
                .inspect(name)
                .await?
                .ok_or_else(|| DockerError::NotFound {
                    host: self.host().to_owned(),
                    what: format!("container {name}"),
                })?;
            let unhealthy = |detail: String| DockerError::Unhealthy {
                host: self.host().to_owned(),
                container: name.to_owned(),
                detail,
            };
            match (info.state.as_str(), info.health.as_str()) {
                ("running", "healthy") => return Ok(()),
                // No health check: it must keep running for a moment (a
                // container that crashes at start is not a success).
                ("running", "none") => {
                    // Restarted since we last looked: start counting again.
                    if seen_start != info.started_at {
                        seen_start.clone_from(&info.started_at);
                        settled_since = Some(tokio::time::Instant::now());
                    }
                    if settled_since.is_some_and(|t| t.elapsed() >= SETTLE) {
                        return Ok(());
                    }
                }
                ("running", "unhealthy") => {
                    return Err(unhealthy(format!(
                        "its health check failed: {}",
                        info.last_check.unwrap_or_default()
                    )));
                }
                ("running" | "created" | "restarting", _) => {}
                (state, _) => return Err(unhealthy(format!("it is {state}"))),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(unhealthy(format!(
                    "still {} after {}s{}",
                    info.health,
                    limit.as_secs(),
                    info.last_check
                        .map(|c| format!(" (last check: {c})"))
                        .unwrap_or_default()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Runs a command in a running container, streaming its output; returns
    /// its exit code.
    pub async fn exec(
        &self,
        container: &str,
        command: &[String],
        env: &BTreeMap<String, String>,
        output: &dyn OutputSink,
    ) -> Result<ExecOutcome, DockerError> {
        let what = format!("exec `{}` in {container}", command.join(" "));
        let config = bollard::models::ExecConfig {
            cmd: Some(command.to_vec()),
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self
            .api()
            .create_exec(container, config)
            .await
            .map_err(|e| self.error(&what, e))?;
        let started = self
            .api()
            .start_exec(&created.id, None)
            .await
            .map_err(|e| self.error(&what, e))?;
        let mut stderr_tail: Vec<String> = Vec::new();
        if let bollard::exec::StartExecResults::Attached {
            output: mut stream, ..
        } = started
        {
            let mut lines = Lines::default();
            while let Some(item) = stream.next().await {
                let chunk = item.map_err(|e| self.error(&what, e))?;
                lines.feed(chunk, output, &mut stderr_tail);
            }
            lines.finish(output, &mut stderr_tail);
        }
        // The output ends a moment before the engine records the exit code.
        let mut inspect = self
            .api()
            .inspect_exec(&created.id)
            .await
            .map_err(|e| self.error(&what, e))?;
        for _ in 0..50 {
            if inspect.running != Some(true) && inspect.exit_code.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            inspect = self
                .api()
                .inspect_exec(&created.id)
                .await
                .map_err(|e| self.error(&what, e))?;
        }
        Ok(ExecOutcome {
            exit_code: inspect.exit_code.unwrap_or(-1),
            stderr_tail,
        })
    }

    /// Streams the logs of every container carrying `labels` (all of a
    /// compose project's services, or one service), each line prefixed
    /// with its container's name (`web-1 | …`), as `docker-compose logs`
    /// prints them; returns how many containers there were.
    pub async fn logs_of(
        &self,
        labels: &[(&str, &str)],
        request: &LogRequest,
        output: &dyn OutputSink,
    ) -> Result<usize, DockerError> {
        let containers = self.list(labels).await?;
        let sinks: Vec<Prefixed<'_>> = containers
            .iter()
            .map(|c| Prefixed {
                name: &c.name,
                output,
            })
            .collect();
        let streams = containers
            .iter()
            .zip(&sinks)
            .map(|(c, sink)| self.logs(&c.name, request, sink));
        for result in futures_util::future::join_all(streams).await {
            result?;
        }
        Ok(containers.len())
    }

    /// Streams a container's logs into `output`.
    pub async fn logs(
        &self,
        container: &str,
        request: &LogRequest,
        output: &dyn OutputSink,
    ) -> Result<(), DockerError> {
        let options = LogsOptions {
            follow: request.follow,
            stdout: true,
            stderr: true,
            since: request
                .since
                .map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX)),
            tail: request
                .tail
                .map_or_else(|| "all".to_owned(), |t| t.to_string()),
            ..Default::default()
        };
        let mut stream = self.api().logs(container, Some(options));
        let mut lines = Lines::default();
        let mut tail = Vec::new();
        while let Some(item) = stream.next().await {
            let chunk = item.map_err(|e| self.error(format!("logs of {container}"), e))?;
            lines.feed(chunk, output, &mut tail);
        }
        lines.finish(output, &mut tail);
        Ok(())
    }
}

/// Lines of one container among several, prefixed with its name.
struct Prefixed<'a> {
    name: &'a str,
    output: &'a dyn OutputSink,
}

impl OutputSink for Prefixed<'_> {
    fn line(&self, stream: OutputStream, line: &str) {
        self.output.line(stream, &format!("{} | {line}", self.name));
    }
}

/// Splits multiplexed stdout/stderr chunks into lines.
#[derive(Default)]
struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Lines {
    fn feed(
        &mut self,
        chunk: bollard::container::LogOutput,
        output: &dyn OutputSink,
        stderr_tail: &mut Vec<String>,
    ) {
        use bollard::container::LogOutput;
        let (buffer, stream) = match &chunk {
            LogOutput::StdErr { .. } => (&mut self.stderr, OutputStream::Stderr),
            _ => (&mut self.stdout, OutputStream::Stdout),
        };
        buffer.extend_from_slice(&chunk.into_bytes());
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            output.line(stream, text);
            if stream == OutputStream::Stderr {
                remember(stderr_tail, text);
            }
        }
    }

    fn finish(&mut self, output: &dyn OutputSink, stderr_tail: &mut Vec<String>) {
        for (buffer, stream) in [
            (&mut self.stdout, OutputStream::Stdout),
            (&mut self.stderr, OutputStream::Stderr),
        ] {
            if !buffer.is_empty() {
                let text = String::from_utf8_lossy(buffer).into_owned();
                output.line(stream, &text);
                if stream == OutputStream::Stderr {
                    remember(stderr_tail, &text);
                }
                buffer.clear();
            }
        }
    }
}

fn remember(tail: &mut Vec<String>, line: &str) {
    tail.push(line.to_owned());
    if tail.len() > 5 {
        tail.remove(0);
    }
}
