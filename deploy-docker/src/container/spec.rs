//! What to run: [`ContainerSpec`] and its parts (published ports, health
//! check), with the builders and the digest that says "no need to recreate".

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::Digest;

use crate::error::DockerError;

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
    /// The user (and group) the command runs as: `1000`, `app:app`.
    pub user: Option<String>,
    /// The working directory inside the container.
    pub workdir: Option<String>,
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
        // Added later: hashed only when set, so containers made before
        // these fields existed keep their digest (and are not recreated).
        if self.user.is_some() || self.workdir.is_some() {
            hash.update(format!("\0{:?}\0{:?}", self.user, self.workdir).as_bytes());
        }
        crate::image::hex(&hash.finalize()[..12])
    }
}
