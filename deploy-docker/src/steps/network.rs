//! `docker.network`: a user-defined network, created once.

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::text::Text;
use serde::Deserialize;

use super::open_engine;

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

impl Kind for EnsureNetwork {
    const KIND: &'static str = "docker.network";
}

#[async_trait]
impl Step for EnsureNetwork {
    fn describe(&self) -> Description {
        Description::new(format!("network {} ({}) exists", self.name, self.driver))
            .field_opt("engine", self.engine.as_ref())
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let name = ctx.resolve(&self.name)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        Ok(engine.network_exists(&name).await?)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let name = ctx.resolve(&self.name)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        engine.ensure_network(&name, &self.driver).await?;
        Ok(Applied::done())
    }
}
