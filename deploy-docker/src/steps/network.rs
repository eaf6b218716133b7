//! `docker.network`: a user-defined network, created once.

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Step, StepContext, StepError};
use deploy_core::text::Text;
use serde::Deserialize;

use super::with_engine;

/// Creates network `name` unless it exists.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::EnsureNetwork;
///
/// assert_eq!(EnsureNetwork::new("shop").describe().summary, "network shop (bridge) exists");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsureNetwork {
    name: Text,
    #[serde(default = "default_driver")]
    driver: String,
    engine: Option<Text>,
}

fn default_driver() -> String {
    "bridge".to_owned()
}

impl EnsureNetwork {
    /// A bridge network `name`.
    pub fn new(name: &str) -> EnsureNetwork {
        EnsureNetwork {
            name: Text::from(name),
            driver: default_driver(),
            engine: None,
        }
    }
}

#[async_trait]
impl Step for EnsureNetwork {
    fn kind(&self) -> &str {
        "docker.network"
    }

    fn describe(&self) -> Description {
        Description::new(format!("network {} ({}) exists", self.name, self.driver))
            .field_opt("engine", self.engine.as_ref())
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let name = ctx.resolve(&self.name)?;
        with_engine(ctx, self.engine.as_ref(), |engine| {
            Box::pin(async move { engine.network_exists(&name).await })
        })
        .await
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let name = ctx.resolve(&self.name)?;
        let driver = self.driver.clone();
        with_engine(ctx, self.engine.as_ref(), |engine| {
            Box::pin(async move { engine.ensure_network(&name, &driver).await })
        })
        .await?;
        Ok(Applied::done())
    }
}
