//! What runs on a host's engine, for `deploy status`: every container
//! deploy manages, with its image (and the digest a registry knows it
//! by), state, health, uptime, restarts and version label.

use std::sync::Arc;

use deploy_core::Target;

use crate::container::MANAGED_LABEL;
use crate::engine::{Engine, default_endpoint};
use crate::error::DockerError;

/// One container as `deploy status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ContainerStatus {
    /// Its name.
    pub name: String,
    /// The image name it was created from.
    pub image: String,
    /// The image id it runs.
    pub image_id: String,
    /// The image's registry digests (`repo@sha256:…`), if any.
    pub repo_digests: Vec<String>,
    /// `running`, `exited`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `none`.
    pub health: String,
    /// Seconds up, when running.
    pub uptime_s: Option<u64>,
    /// Restarts by the engine.
    pub restarts: i64,
    /// Its version label.
    pub version: Option<String>,
}

/// Every container deploy manages on `target`'s engine (the default one,
/// as the steps find it), sorted by name.
///
/// # Errors
///
/// The engine cannot be reached (a host without Docker), or answers with
/// an error.
pub async fn containers(target: Arc<dyn Target>) -> Result<Vec<ContainerStatus>, DockerError> {
    let endpoint = default_endpoint(target.as_ref())?;
    let engine = Engine::new(target, endpoint).negotiate().await?;
    let mut found = Vec::new();
    for info in engine.list(&[(MANAGED_LABEL, "true")]).await? {
        let repo_digests = engine
            .local_repo_digests(&info.image_id)
            .await?
            .unwrap_or_default();
        found.push(ContainerStatus {
            version: info.version().map(str::to_owned),
            name: info.name,
            image: info.image,
            image_id: info.image_id,
            repo_digests,
            state: info.state,
            health: info.health,
            uptime_s: info.uptime.map(|u| u.as_secs()),
            restarts: info.restarts,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}
