//! A container's life on an engine: run (create, join networks, start),
//! replace without losing the old one, restore the previous one, rename,
//! start, stop and remove.

use std::time::Duration;

use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, StopContainerOptions,
};

use super::spec::ContainerSpec;
use crate::engine::Engine;
use crate::error::DockerError;

impl Engine {
    /// Creates and starts a container (joining every network in the spec).
    /// An image pinned by digest (`repo@sha256:…`, a rollback's) that the
    /// engine no longer has is pulled by that digest first.
    pub async fn run(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        if spec.image.contains("@sha256:") && self.image_id(&spec.image).await?.is_none() {
            let image = crate::image::ImageRef::parse(&spec.image)?;
            let credentials = crate::Credentials::from_docker_config()?;
            self.pull(&image, &credentials, &deploy_core::target::DiscardOutput)
                .await?;
        }
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
        // A spec the engine cannot take is refused before the old one stops.
        spec.body()?;
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
                            // Back in service before the step says so.
                            if let Some(limit) = health {
                                self.wait_healthy(&spec.name, limit).await?;
                            }
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

    /// Restarts a container in place (stop, giving it `grace`, then start):
    /// it keeps everything it was created with.
    pub async fn restart(&self, name: &str, grace: Duration) -> Result<(), DockerError> {
        let options = bollard::query_parameters::RestartContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
            ..Default::default()
        };
        self.api()
            .restart_container(name, Some(options))
            .await
            .map_err(|e| self.error(format!("restart container {name}"), e))
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
}
