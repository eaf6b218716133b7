//! Networks: the user-defined bridges that let containers find each other
//! by name (and a proxy find the app) without publishing app ports.

use std::collections::HashMap;

use bollard::models::NetworkCreateRequest;

use crate::engine::Engine;
use crate::error::DockerError;

impl Engine {
    /// True when a network of that name exists.
    pub async fn network_exists(&self, name: &str) -> Result<bool, DockerError> {
        let inspected = self
            .api()
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await;
        crate::error::found(inspected)
            .map(|network| network.is_some())
            .map_err(|e| self.error(format!("inspect network {name}"), e))
    }

    /// Creates a network unless it exists; true when it was created.
    pub async fn ensure_network(&self, name: &str, driver: &str) -> Result<bool, DockerError> {
        if self.network_exists(name).await? {
            return Ok(false);
        }
        let request = NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some(driver.to_owned()),
            labels: Some(HashMap::from([(
                crate::container::MANAGED_LABEL.to_owned(),
                "true".to_owned(),
            )])),
            ..Default::default()
        };
        match self.api().create_network(request).await {
            Ok(_) => Ok(true),
            // Made by someone else between the check and the create.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(false),
            Err(e) => Err(self.error(format!("create network {name}"), e)),
        }
    }

    /// Removes a network; a missing one is fine.
    pub async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        crate::error::gone_is_fine(self.api().remove_network(name).await, None)
            .map_err(|e| self.error(format!("remove network {name}"), e))
    }
}
