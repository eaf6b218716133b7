//! [`Engine`]: the Docker Engine API (bollard) reached through a [`Target`].
//!
//! Every request opens a fresh stream to the engine's socket *on the
//! target's side* — this machine's `/var/run/docker.sock`, or a server's
//! through an SSH `direct-streamlocal` channel — and speaks HTTP/1.1 over it
//! (with upgrades, which exec and attach need). So there is no `docker` CLI,
//! no text output to parse and no open Docker TCP port, and deploy-docker
//! needs nothing from deploy-ssh: the caller composes the two.
//!
//! An engine holds its host's `Arc<dyn Target>` (a step passes its
//! context's handle), so a client can be cloned and outlive the call that
//! made it.

use std::sync::Arc;
use std::time::Duration;

use bollard::{BollardRequest, Docker};
use deploy_core::target::{BoxedStream, Endpoint, TargetError};
use deploy_core::{LocalTarget, Target};
use hyper::body::Incoming;
use hyper::header::{HOST, HeaderValue};
use hyper_util::rt::TokioIo;

use crate::error::DockerError;

/// Where engines listen unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// How long an API request may take to answer (bollard's timeout ends at the
/// response's headers: a build or a pull streams its body for longer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The oldest Engine API we speak: Docker 20.10 (API 1.41), Debian 12's.
const MIN_API: (usize, usize) = (1, 41);

/// Opens the streams: `endpoint` on `target`'s side.
struct Opener {
    target: Arc<dyn Target>,
    endpoint: Endpoint,
}

impl Opener {
    async fn open(&self) -> Result<BoxedStream, TargetError> {
        self.target.connect(&self.endpoint).await
    }
}

/// One request: a fresh stream, an HTTP/1.1 handshake over it (its
/// connection driven with upgrades, for exec and attach), the request sent
/// with a path-only URI.
async fn send(
    opener: Arc<Opener>,
    mut request: BollardRequest,
) -> Result<hyper::Response<Incoming>, bollard::errors::Error> {
    let stream = opener.open().await.map_err(|e| {
        let kind = if e.to_string().contains("ermission denied") {
            std::io::ErrorKind::PermissionDenied
        } else {
            std::io::ErrorKind::ConnectionRefused
        };
        std::io::Error::new(kind, e.to_string())
    })?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = path
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| std::io::Error::other(e.to_string()))?;
    request
        .headers_mut()
        .insert(HOST, HeaderValue::from_static("docker"));
    Ok(sender.send_request(request).await?)
}

/// A Docker engine on one host.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use deploy_core::{LocalTarget, target::Endpoint};
/// use deploy_docker::Engine;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // This machine's engine (DOCKER_HOST honoured):
/// let local = Engine::local().unwrap().negotiate().await.unwrap();
/// println!("{}", local.api().version().await.unwrap().version.unwrap_or_default());
/// // Any target that can open a stream to the socket on its side, such as
/// // deploy_ssh::SshTarget:
/// let web1 = Arc::new(LocalTarget::new("web1"));
/// let engine = Engine::new(web1, Endpoint::Unix("/var/run/docker.sock".into()));
/// # });
/// ```
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    host: String,
    address: String,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("host", &self.host)
            .field("address", &self.address)
            .finish()
    }
}

/// Reads `DOCKER_HOST` as the docker CLI does (`unix://PATH`, `tcp://H:P`).
///
/// # Examples
///
/// ```
/// use deploy_core::target::Endpoint;
/// use deploy_docker::engine::endpoint_from_docker_host;
///
/// assert_eq!(endpoint_from_docker_host("unix:///run/user/1000/docker.sock").unwrap(),
///            Endpoint::Unix("/run/user/1000/docker.sock".into()));
/// assert_eq!(endpoint_from_docker_host("tcp://127.0.0.1:2375").unwrap(),
///            Endpoint::Tcp { host: "127.0.0.1".into(), port: 2375 });
/// assert!(endpoint_from_docker_host("ssh://web1").is_err());
/// ```
pub fn endpoint_from_docker_host(value: &str) -> Result<Endpoint, DockerError> {
    let bad = |reason: &str| DockerError::BadAddress {
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    if let Some(path) = value.strip_prefix("unix://") {
        return Ok(Endpoint::Unix(path.to_owned()));
    }
    if let Some(rest) = value.strip_prefix("tcp://") {
        let (host, port) = rest
            .trim_end_matches('/')
            .rsplit_once(':')
            .ok_or_else(|| bad("a tcp:// address needs a port"))?;
        let port = port.parse().map_err(|_| bad("the port is not a number"))?;
        return Ok(Endpoint::Tcp {
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
        });
    }
    if value.starts_with("ssh://") {
        return Err(bad(
            "deploy does not run `ssh` for the engine: name the server as a host in deploy.toml \
             and its engine is reached over deploy's own SSH connection",
        ));
    }
    Err(bad("expected unix://PATH or tcp://HOST:PORT"))
}

/// The endpoint `DOCKER_HOST` names, or the default socket.
///
/// # Examples
///
/// ```
/// let endpoint = deploy_docker::engine::local_endpoint().unwrap();
/// println!("{endpoint}");
/// ```
pub fn local_endpoint() -> Result<Endpoint, DockerError> {
    match std::env::var("DOCKER_HOST") {
        Ok(value) if !value.is_empty() => endpoint_from_docker_host(&value),
        _ => Ok(Endpoint::Unix(DEFAULT_SOCKET.to_owned())),
    }
}

/// Where `target`'s engine listens when nothing says otherwise: this
/// machine's (`DOCKER_HOST` honoured) when the target is this machine, the
/// default socket elsewhere.
///
/// # Examples
///
/// ```
/// use deploy_core::{LocalTarget, testing::FakeTarget};
///
/// let remote = deploy_docker::engine::default_endpoint(&FakeTarget::new("web1")).unwrap();
/// assert_eq!(remote.to_string(), "unix:/var/run/docker.sock");
/// assert!(deploy_docker::engine::default_endpoint(&LocalTarget::new("localhost")).is_ok());
/// ```
pub fn default_endpoint(target: &dyn Target) -> Result<Endpoint, DockerError> {
    if target.is_this_machine() {
        local_endpoint()
    } else {
        Ok(Endpoint::Unix(DEFAULT_SOCKET.to_owned()))
    }
}

impl Engine {
    /// The engine at `endpoint` on `target`'s side (not yet negotiated).
    pub fn new(target: Arc<dyn Target>, endpoint: Endpoint) -> Engine {
        let host = target.name().to_owned();
        let address = endpoint.to_string();
        let opener = Arc::new(Opener { target, endpoint });
        let transport = move |request: BollardRequest| send(Arc::clone(&opener), request);
        let docker = Docker::connect_with_custom_transport(
            transport,
            Some("http://docker"),
            REQUEST_TIMEOUT.as_secs(),
            bollard::API_DEFAULT_VERSION,
        )
        .expect("a custom transport with a fixed address always builds");
        Engine {
            docker,
            host,
            address,
        }
    }

    /// This machine's engine: `DOCKER_HOST`, or the default socket.
    pub fn local() -> Result<Engine, DockerError> {
        let target: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
        Ok(Engine::new(target, local_endpoint()?))
    }

    /// Checks the engine answers and agrees on an API version (the lower of
    /// the engine's and bollard's); explains an unreachable or refusing socket.
    pub async fn negotiate(self) -> Result<Engine, DockerError> {
        let Engine {
            docker,
            host,
            address,
        } = self;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| unreachable_error(&host, &address, e))?;
        let version = docker.client_version();
        if (version.major_version, version.minor_version) < MIN_API {
            return Err(DockerError::Api {
                host,
                what: format!("engine at {address}"),
                message: format!(
                    "the engine speaks API {}.{}; deploy needs {}.{} (Docker 20.10) or newer",
                    version.major_version, version.minor_version, MIN_API.0, MIN_API.1
                ),
            });
        }
        Ok(Engine {
            docker,
            host,
            address,
        })
    }

    /// The bollard client, for calls this crate does not wrap.
    pub fn api(&self) -> &Docker {
        &self.docker
    }

    /// The host the engine runs on (for messages).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Where on that host the engine listens.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A bollard error as a [`DockerError`] about `what` on this host.
    pub(crate) fn error(&self, what: impl Into<String>, e: bollard::errors::Error) -> DockerError {
        DockerError::from_api(&self.host, &self.address, what.into(), e)
    }
}

fn unreachable_error(host: &str, address: &str, e: bollard::errors::Error) -> DockerError {
    match &e {
        bollard::errors::Error::IOError { err }
            if err.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            DockerError::PermissionDenied {
                host: host.to_owned(),
                address: address.to_owned(),
            }
        }
        _ => DockerError::Unreachable {
            host: host.to_owned(),
            address: address.to_owned(),
            cause: e,
        },
    }
}
