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
mod definition;
mod exec;
mod network;
mod place;
mod postgres;
mod prune;
mod ps_and_logs;
mod pull;
mod push;
mod record;
mod replicas;
mod restart;
mod run;
mod swarm;

pub use bluegreen::ReplaceBlueGreen;
pub use build::BuildImage;
pub use compose::ComposeUp;
pub use container::{ContainerConfig, EnsureRunning, RecreateContainer};
pub use exec::ExecInContainer;
pub use network::EnsureNetwork;
pub use postgres::{Backup, PostgresBackup, PostgresRestore, list_backups};
pub use prune::PruneImages;
pub use ps_and_logs::{ListContainers, ShowLogs};
pub use pull::PullImage;
pub use push::PushImage;
pub use replicas::REPLICA_OF_LABEL;
pub use restart::RestartContainer;
pub use run::RunContainer;
pub use swarm::DeploySwarmService;

use deploy_core::StepContext;
use deploy_core::step::StepError;
use deploy_core::target::Endpoint;
use deploy_core::text::Text;

use crate::engine::{Engine, endpoint_from_docker_host};

/// Where the step's engine listens on its host.
fn endpoint(ctx: &StepContext<'_>, engine: Option<&Text>) -> Result<Endpoint, StepError> {
    if let Some(address) = engine {
        return Ok(endpoint_from_docker_host(&ctx.resolve(address)?)?);
    }
    Ok(crate::engine::default_endpoint(ctx.target.as_ref())?)
}

/// The step host's engine, negotiated: opened through the step's own
/// target handle, so it lives as long as the step needs it.
pub(crate) async fn open_engine(
    ctx: &StepContext<'_>,
    engine: Option<&Text>,
) -> Result<Engine, StepError> {
    let endpoint = endpoint(ctx, engine)?;
    Ok(Engine::new(ctx.target.clone(), endpoint)
        .negotiate()
        .await?)
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
/// // Paths read on the deploying machine; relative ones are the config's.
/// assert_eq!(registry.local_path_fields("docker.build"), ["context"]);
/// assert_eq!(registry.local_path_fields("docker.recreate"), ["env_file"]);
/// ```
pub fn register(registry: &mut deploy_core::StepRegistry) {
    registry.register_serde::<PullImage>();
    registry.register_serde::<BuildImage>();
    registry.register_serde::<PushImage>();
    registry.register_serde::<EnsureNetwork>();
    registry.register_serde::<EnsureRunning>();
    registry.register_serde::<RecreateContainer>();
    registry.register_serde::<RestartContainer>();
    registry.register_serde::<ExecInContainer>();
    registry.register_serde::<RunContainer>();
    registry.register_serde::<ReplaceBlueGreen>();
    registry.register_serde::<ComposeUp>();
    registry.register_serde::<DeploySwarmService>();
    registry.register_serde::<ListContainers>();
    registry.register_serde::<ShowLogs>();
    registry.register_serde::<PruneImages>();
    registry.register_serde::<PostgresBackup>();
    // Read on the deploying machine: relative ones are taken from the
    // config's directory.
    registry.local_paths("docker.build", &["context"]);
    registry.local_paths("docker.compose", &["file"]);
    registry.local_paths("docker.run", &["compose"]);
    for kind in [
        "docker.ensure-running",
        "docker.recreate",
        "docker.blue-green",
    ] {
        registry.local_paths(kind, &["env_file"]);
    }
}
