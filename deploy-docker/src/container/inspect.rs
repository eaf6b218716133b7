//! What the engine says about containers: inspect one, list by label, and
//! wait until one is healthy.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use bollard::models::HealthStatusEnum;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};

use super::VERSION_LABEL;
use crate::engine::Engine;
use crate::error::DockerError;

/// How long a container without a health check must keep running after a
/// start before it counts as up.
const SETTLE: Duration = Duration::from_secs(2);

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
    /// How many times the engine restarted it.
    pub restarts: i64,
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
        let restarts = inspect.restart_count.unwrap_or(0);
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
            restarts,
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
                    let printed = info.last_check.as_deref().map(str::trim);
                    return Err(unhealthy(match printed {
                        Some(output) if !output.is_empty() => {
                            format!("its health check failed: {output}")
                        }
                        _ => "its health check failed and printed nothing".to_owned(),
                    }));
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
                        .filter(|c| !c.trim().is_empty())
                        .map(|c| format!(" (last check: {})", c.trim()))
                        .unwrap_or_default()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
