//! Making targets for an environment's hosts, by its transport.

use std::sync::Arc;

use deploy_core::config::{EnvironmentInfo, Transport};
use deploy_core::{LocalTarget, Targets};

pub(crate) fn for_environment(env: &EnvironmentInfo) -> Result<Targets, String> {
    match env.transport {
        Transport::Local => Ok(env
            .hosts
            .iter()
            .map(|host| {
                let target = LocalTarget::new(&host.name).with_roles(host.roles.clone());
                (
                    host.name.clone(),
                    Arc::new(target) as Arc<dyn deploy_core::Target>,
                )
            })
            .collect()),
        Transport::Ssh => Err(format!(
            "environment `{}` reaches its hosts over SSH, which this build of deploy cannot do yet \
             (deploy-ssh is issue #3); its plan renders with `deploy plan {}`",
            env.name, env.name
        )),
    }
}
