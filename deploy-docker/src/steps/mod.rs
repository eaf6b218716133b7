//! The `docker.*` step kinds. Each builds what it will do without I/O,
//! checks whether it is already done (its idempotency check), and reaches
//! the engine on the step's host through that host's [`Target`]: this
//! machine's socket (`DOCKER_HOST` honoured) when the target is this
//! machine, the server's `/var/run/docker.sock` (or `engine =
//! "unix:///…"`) elsewhere.
//!
//! [`Target`]: deploy_core::Target

mod bluegreen;
mod build;
mod compose;
mod container;
mod exec;
mod network;
mod prune;
mod pull;
mod push;
mod report;
mod swarm;

pub use bluegreen::ReplaceBlueGreen;
pub use build::BuildImage;
pub use compose::ComposeUp;
pub use container::{ContainerConfig, EnsureRunning, RecreateContainer};
pub use exec::ExecInContainer;
pub use network::EnsureNetwork;
pub use prune::PruneImages;
pub use pull::PullImage;
pub use push::PushImage;
pub use report::{ListContainers, ShowLogs};
pub use swarm::DeploySwarmService;

use deploy_core::StepContext;
use deploy_core::step::StepError;
use deploy_core::target::Endpoint;
use deploy_core::text::Text;
use futures_util::future::BoxFuture;

use crate::engine::{DEFAULT_SOCKET, Engine, endpoint_from_docker_host, local_endpoint};
use crate::error::DockerError;

/// Where the step's engine listens on its host.
fn endpoint(ctx: &StepContext<'_>, engine: Option<&Text>) -> Result<Endpoint, StepError> {
    if let Some(address) = engine {
        return Ok(endpoint_from_docker_host(&ctx.resolve(address)?)?);
    }
    if ctx.target.is_this_machine() {
        Ok(local_endpoint()?)
    } else {
        Ok(Endpoint::Unix(DEFAULT_SOCKET.to_owned()))
    }
}

/// Runs `work` with the step host's engine, negotiated.
pub(crate) async fn with_engine<'a, R: Send>(
    ctx: &'a StepContext<'a>,
    engine: Option<&Text>,
    work: impl FnOnce(Engine) -> BoxFuture<'a, Result<R, DockerError>> + Send,
) -> Result<R, StepError> {
    let endpoint = endpoint(ctx, engine)?;
    let (engine, scope) = Engine::scoped(ctx.target, endpoint);
    let result = scope
        .serve(async move {
            let engine = engine.negotiate().await?;
            work(engine).await
        })
        .await;
    Ok(result?)
}

/// A registry login given in `deploy.toml` (the password a secret).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    user: Text,
    password: Text,
}

/// The docker config's logins, plus the step's own for the image's registry.
fn credentials(
    ctx: &StepContext<'_>,
    login: Option<&Login>,
    image: &crate::ImageRef,
) -> Result<crate::Credentials, StepError> {
    let mut credentials = crate::Credentials::from_docker_config()?;
    if let Some(login) = login {
        credentials.insert(
            image.registry().unwrap_or("docker.io"),
            &ctx.resolve(&login.user)?,
            deploy_core::Secret::new(ctx.resolve(&login.password)?),
        );
    }
    Ok(credentials)
}

/// Resolves a list of texts.
fn resolve_all(ctx: &StepContext<'_>, texts: &[Text]) -> Result<Vec<String>, StepError> {
    texts.iter().map(|t| ctx.resolve(t)).collect()
}

/// Joins texts for a description.
fn shown(texts: &[Text]) -> String {
    texts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Registers every `docker.*` kind.
///
/// # Examples
///
/// ```
/// let mut registry = deploy_core::StepRegistry::with_builtins();
/// deploy_docker::register(&mut registry);
/// assert!(registry.kinds().any(|k| k == "docker.recreate"));
/// ```
pub fn register(registry: &mut deploy_core::StepRegistry) {
    registry.register_serde::<PullImage>("docker.pull");
    registry.register_serde::<BuildImage>("docker.build");
    registry.register_serde::<PushImage>("docker.push");
    registry.register_serde::<EnsureNetwork>("docker.network");
    registry.register_serde::<EnsureRunning>("docker.ensure-running");
    registry.register_serde::<RecreateContainer>("docker.recreate");
    registry.register_serde::<ExecInContainer>("docker.exec");
    registry.register_serde::<ReplaceBlueGreen>("docker.blue-green");
    registry.register_serde::<ComposeUp>("docker.compose");
    registry.register_serde::<DeploySwarmService>("docker.swarm-service");
    registry.register_serde::<ListContainers>("docker.ps");
    registry.register_serde::<ShowLogs>("docker.logs");
    registry.register_serde::<PruneImages>("docker.prune");
}
