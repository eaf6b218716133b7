//! A [`ContainerSpec`] as the Docker API's create-container body: a pure
//! function of the spec (no engine), so it is tested as data.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, NetworkingConfig, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
};

use super::spec::{ContainerSpec, Healthcheck};
use super::{MANAGED_LABEL, SPEC_LABEL, VERSION_LABEL};
use crate::error::DockerError;

impl ContainerSpec {
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
        // The engine takes a retry count with on-failure only, and no
        // negative one: refused here, before anything is stopped.
        let maximum_retry_count = match count {
            None => None,
            Some(count) if name == RestartPolicyNameEnum::ON_FAILURE => {
                Some(count.parse::<u32>().map(i64::from).map_err(|_| {
                    DockerError::Invalid(format!(
                        "container {}: `{restart}`: the retry count is a whole number",
                        self.name
                    ))
                })?)
            }
            Some(_) => {
                return Err(DockerError::Invalid(format!(
                    "container {}: `{restart}`: only on-failure takes a retry count",
                    self.name
                )));
            }
        };
        Ok(Some(RestartPolicy {
            name: Some(name),
            maximum_retry_count,
        }))
    }

    pub(super) fn body(&self) -> Result<ContainerCreateBody, DockerError> {
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
        let healthcheck = self.healthcheck.as_ref().map(Healthcheck::to_api);
        Ok(ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: self.command.clone(),
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            healthcheck,
            user: self.user.clone(),
            working_dir: self.workdir.clone(),
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

    pub(super) fn endpoint_settings(&self) -> EndpointSettings {
        EndpointSettings {
            aliases: (!self.aliases.is_empty()).then(|| self.aliases.clone()),
            ..Default::default()
        }
    }
}

impl Healthcheck {
    /// The check as the Engine API takes it (containers and swarm services).
    pub(crate) fn to_api(&self) -> HealthConfig {
        HealthConfig {
            test: Some(self.test.clone()),
            interval: Some(nanos(self.interval)),
            timeout: Some(nanos(self.timeout)),
            retries: Some(i64::from(self.retries)),
            start_period: Some(nanos(self.start_period)),
            start_interval: None,
        }
    }
}

/// A duration in the API's nanoseconds (saturating).
pub(crate) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
