//! Zero-downtime replacement: start the new version beside the old one,
//! wait for its health, switch the proxy, let in-flight requests drain, stop
//! the old one. If the new version never gets healthy it is removed and the
//! old one keeps serving; the old containers stay (stopped) so that undo can
//! switch back, and are removed by the next deploy.
//!
//! Containers are `SERVICE-blue-N` / `SERVICE-green-N`, labelled with the
//! service and slot; app containers publish no host port (the proxy reaches
//! them on their network). With replicas, `batch` of them are replaced at a
//! time: the proxy sends to the remaining old ones and the new ones so far.

use std::time::{Duration, Instant};

use deploy_core::Target;
use deploy_core::target::{OutputSink, OutputStream};
use futures_util::future::join_all;

use crate::container::{ContainerInfo, ContainerSpec};
use crate::engine::Engine;
use crate::error::DockerError;
use crate::proxy::Proxy;

/// The label naming a blue/green service.
pub const SERVICE_LABEL: &str = "deploy.service";
/// The label naming a container's slot (`blue` or `green`).
pub const SLOT_LABEL: &str = "deploy.slot";

/// One blue/green replacement.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use deploy_docker::ContainerSpec;
/// use deploy_docker::bluegreen::BlueGreen;
/// use deploy_docker::proxy::Proxy;
///
/// let plan = BlueGreen {
///     service: "web".into(),
///     spec: ContainerSpec::new("web", "shop/web:v2").network("shop"),
///     port: 8080,
///     replicas: 2,
///     batch: 1,
///     proxy: Proxy::Caddy { admin: "127.0.0.1:2019".into(), id: "web".into() },
///     health_wait: Duration::from_secs(60),
///     drain: Duration::from_secs(2),
///     stop_grace: Duration::from_secs(10),
/// };
/// assert_eq!(plan.container("green", 2), "web-green-2");
/// ```
#[derive(Debug, Clone)]
pub struct BlueGreen {
    /// The service (container names start with it).
    pub service: String,
    /// What each replica runs (its name is replaced; its first network is
    /// where the proxy reaches it; no published ports).
    pub spec: ContainerSpec,
    /// The port the app listens on in its container.
    pub port: u16,
    /// How many replicas.
    pub replicas: usize,
    /// How many are replaced at a time.
    pub batch: usize,
    /// The proxy to switch.
    pub proxy: Proxy,
    /// How long a new replica may take to become healthy.
    pub health_wait: Duration,
    /// How long the old replicas keep running after the switch.
    pub drain: Duration,
    /// Between SIGTERM and SIGKILL when stopping.
    pub stop_grace: Duration,
}

/// What a replacement did (and what undo needs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Switched {
    /// The containers that served before (now stopped).
    pub old: Vec<String>,
    /// The containers that serve now.
    pub new: Vec<String>,
    /// From the first new batch healthy to the proxy switched.
    pub healthy_to_switched: Duration,
}

fn other(slot: &str) -> &'static str {
    if slot == "blue" { "green" } else { "blue" }
}

impl BlueGreen {
    /// The name of replica `n` (from 1) in `slot`.
    pub fn container(&self, slot: &str, n: usize) -> String {
        format!("{}-{slot}-{n}", self.service)
    }

    fn check(&self) -> Result<&str, DockerError> {
        if !self.spec.ports.is_empty() {
            return Err(DockerError::Invalid(format!(
                "service {}: blue/green app containers publish no host port (the proxy does); \
                 remove `ports`",
                self.service
            )));
        }
        if self.replicas == 0 || self.batch == 0 {
            return Err(DockerError::Invalid(format!(
                "service {}: replicas and batch must be at least 1",
                self.service
            )));
        }
        self.spec
            .networks
            .first()
            .map(String::as_str)
            .ok_or_else(|| {
                DockerError::Invalid(format!(
                    "service {}: name the network the proxy reaches it on (`networks`)",
                    self.service
                ))
            })
    }

    /// What replica `n` in `slot` runs.
    pub fn replica(&self, slot: &str, n: usize) -> ContainerSpec {
        let mut spec = self.spec.clone();
        spec.name = self.container(slot, n);
        spec.labels
            .insert(SERVICE_LABEL.to_owned(), self.service.clone());
        spec.labels.insert(SLOT_LABEL.to_owned(), slot.to_owned());
        spec
    }

    fn address(&self, info: &ContainerInfo, network: &str) -> Result<String, DockerError> {
        info.addresses
            .get(network)
            .map(|ip| format!("{ip}:{}", self.port))
            .ok_or_else(|| {
                DockerError::Invalid(format!(
                    "container {} has no address on network {network}",
                    info.name
                ))
            })
    }
}

impl Engine {
    async fn service_containers(&self, service: &str) -> Result<Vec<ContainerInfo>, DockerError> {
        self.list(&[(SERVICE_LABEL, service)]).await
    }

    async fn start_healthy(
        &self,
        spec: &ContainerSpec,
        wait: Duration,
    ) -> Result<ContainerInfo, DockerError> {
        self.run(spec).await?;
        self.wait_healthy(&spec.name, wait).await?;
        self.inspect(&spec.name)
            .await?
            .ok_or_else(|| DockerError::NotFound {
                host: self.host().to_owned(),
                what: format!("container {}", spec.name),
            })
    }

    /// Replaces the running version of `plan.service` with `plan.spec`.
    pub async fn blue_green(
        &self,
        target: &dyn Target,
        plan: &BlueGreen,
        output: &dyn OutputSink,
    ) -> Result<Switched, DockerError> {
        let network = plan.check()?.to_owned();
        let existing = self.service_containers(&plan.service).await?;
        // The live slot is the one started last: after a switch whose old
        // replicas failed to stop, or after an undo, both slots may run.
        let live_slot = existing
            .iter()
            .filter(|c| c.running())
            .max_by(|a, b| a.started_at.cmp(&b.started_at))
            .and_then(|c| c.labels.get(SLOT_LABEL).cloned())
            .unwrap_or_else(|| "green".to_owned());
        let live: Vec<&ContainerInfo> = existing
            .iter()
            .filter(|c| c.running() && c.labels.get(SLOT_LABEL) == Some(&live_slot))
            .collect();
        let new_slot = other(&live_slot);
        // What a failed attempt or the deploy before last left in the slot.
        for leftover in existing
            .iter()
            .filter(|c| c.labels.get(SLOT_LABEL).map(String::as_str) == Some(new_slot))
        {
            self.remove(&leftover.name).await?;
        }
        let mut old: Vec<(String, String)> = Vec::new();
        for info in &live {
            old.push((info.name.clone(), plan.address(info, &network)?));
        }
        let mut switched = Switched {
            old: old.iter().map(|(n, _)| n.clone()).collect(),
            ..Switched::default()
        };
        let mut serving_new: Vec<(String, String)> = Vec::new();
        let mut stopped_old: Vec<String> = Vec::new();
        let numbers: Vec<usize> = (1..=plan.replicas).collect();
        for (index, batch) in numbers.chunks(plan.batch).enumerate() {
            let specs: Vec<ContainerSpec> =
                batch.iter().map(|n| plan.replica(new_slot, *n)).collect();
            let started = join_all(
                specs
                    .iter()
                    .map(|s| self.start_healthy(s, plan.health_wait)),
            )
            .await;
            let healthy_at = Instant::now();
            let mut failure = None;
            let mut batch_new = Vec::new();
            for (spec, result) in specs.iter().zip(started) {
                match result.and_then(|info| plan.address(&info, &network)) {
                    Ok(address) => batch_new.push((spec.name.clone(), address)),
                    Err(e) => failure = failure.or(Some(e)),
                }
            }
            if let Some(e) = failure {
                output.line(
                    OutputStream::Stderr,
                    &format!(
                        "{}: the new version is not healthy; keeping the old one",
                        plan.service
                    ),
                );
                self.abandon(
                    target,
                    plan,
                    &specs,
                    &serving_new,
                    &old,
                    &stopped_old,
                    output,
                )
                .await?;
                return Err(e);
            }
            serving_new.extend(batch_new);
            // The old replicas this batch replaces leave the proxy.
            let leaving: Vec<(String, String)> = old
                .iter()
                .filter(|(n, _)| !stopped_old.contains(n))
                .take(batch.len())
                .cloned()
                .collect();
            let upstream: Vec<String> = old
                .iter()
                .filter(|(n, _)| !stopped_old.contains(n) && !leaving.iter().any(|(l, _)| l == n))
                .chain(serving_new.iter())
                .map(|(_, a)| a.clone())
                .collect();
            if let Err(e) = plan.proxy.switch(target, self, &upstream, output).await {
                output.line(
                    OutputStream::Stderr,
                    &format!(
                        "{}: switching the proxy failed; keeping the old version",
                        plan.service
                    ),
                );
                return Err(
                    match self
                        .abandon(target, plan, &[], &serving_new, &old, &stopped_old, output)
                        .await
                    {
                        Ok(()) => e,
                        Err(again) => DockerError::Api {
                            host: self.host().to_owned(),
                            what: format!("blue/green {}", plan.service),
                            message: format!("{e}; going back failed too: {again}"),
                        },
                    },
                );
            }
            if index == 0 {
                switched.healthy_to_switched = healthy_at.elapsed();
            }
            tokio::time::sleep(plan.drain).await;
            self.stop_all(&leaving, plan, output).await;
            stopped_old.extend(leaving.into_iter().map(|(name, _)| name));
        }
        // Old replicas beyond the new count (scaling down) leave too.
        let remaining: Vec<(String, String)> = old
            .iter()
            .filter(|(n, _)| !stopped_old.contains(n))
            .cloned()
            .collect();
        self.stop_all(&remaining, plan, output).await;
        switched.new = serving_new.into_iter().map(|(n, _)| n).collect();
        Ok(switched)
    }

    /// Stops replicas the proxy no longer sends to. The new version already
    /// serves, so a replica that will not stop is a warning, not a failure
    /// (the next deploy removes it).
    async fn stop_all(
        &self,
        replicas: &[(String, String)],
        plan: &BlueGreen,
        output: &dyn OutputSink,
    ) {
        let stops = replicas
            .iter()
            .map(|(name, _)| self.stop(name, plan.stop_grace));
        for ((name, _), result) in replicas.iter().zip(join_all(stops).await) {
            if let Err(e) = result {
                output.line(
                    OutputStream::Stderr,
                    &format!("warning: the old replica {name} did not stop: {e}"),
                );
            }
        }
    }

    /// A batch failed: the new replicas go, the old ones serve again.
    #[allow(clippy::too_many_arguments)]
    async fn abandon(
        &self,
        target: &dyn Target,
        plan: &BlueGreen,
        failed: &[ContainerSpec],
        serving_new: &[(String, String)],
        old: &[(String, String)],
        stopped_old: &[String],
        output: &dyn OutputSink,
    ) -> Result<(), DockerError> {
        let network = plan.check()?.to_owned();
        let mut upstream = Vec::new();
        for (name, address) in old {
            if stopped_old.contains(name) {
                self.start(name).await?;
                self.wait_healthy(name, plan.health_wait).await?;
                let info = self.inspect(name).await?;
                if let Some(info) = info {
                    upstream.push(plan.address(&info, &network)?);
                }
            } else {
                upstream.push(address.clone());
            }
        }
        if !serving_new.is_empty() && !upstream.is_empty() {
            plan.proxy.switch(target, self, &upstream, output).await?;
            tokio::time::sleep(plan.drain).await;
        }
        for spec in failed {
            self.remove(&spec.name).await?;
        }
        for (name, _) in serving_new {
            self.remove(name).await?;
        }
        Ok(())
    }

    /// Undoes a replacement: the old replicas start again, the proxy goes
    /// back to them, the new ones stop and go.
    pub async fn blue_green_back(
        &self,
        target: &dyn Target,
        plan: &BlueGreen,
        switched: &Switched,
        output: &dyn OutputSink,
    ) -> Result<(), DockerError> {
        let network = plan.check()?.to_owned();
        if switched.old.is_empty() {
            return Err(DockerError::Invalid(format!(
                "service {}: there was no earlier version to switch back to",
                plan.service
            )));
        }
        let mut upstream = Vec::new();
        for name in &switched.old {
            self.start(name).await.or_else(|e| match e {
                DockerError::Api { .. } => Ok(()),
                e => Err(e),
            })?;
            self.wait_healthy(name, plan.health_wait).await?;
            if let Some(info) = self.inspect(name).await? {
                upstream.push(plan.address(&info, &network)?);
            }
        }
        plan.proxy.switch(target, self, &upstream, output).await?;
        tokio::time::sleep(plan.drain).await;
        for name in &switched.new {
            self.stop(name, plan.stop_grace).await?;
            self.remove(name).await?;
        }
        Ok(())
    }
}
