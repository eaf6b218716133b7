//! `docker.restart`: restart a container in place (`docker restart`),
//! keeping everything it was created with (image, env, volumes, networks,
//! secrets), then wait for its health. Written with `container = "web"` (a
//! `[containers]` entry) or `name = "web"`; it never recreates, so a
//! restart task cannot drop what a deploy task gave the container.

use std::time::Duration;

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::target::OutputStream;
use deploy_core::text::Text;
use serde::Deserialize;

use super::definition::{CONTAINER_FIELDS, definition, refuse_beside};
use super::{ContainerConfig, open_engine};
use crate::container::SPEC_LABEL;
use crate::error::DockerError;

/// Restarts container `name` in place.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::RestartContainer;
///
/// let step: RestartContainer = toml::from_str(r#"name = "shop-web""#).unwrap();
/// assert_eq!(step.describe().summary, "restart container shop-web in place");
///
/// let err = toml::from_str::<RestartContainer>("name = \"web\"\nenv = { A = \"1\" }").unwrap_err();
/// assert!(err.to_string().contains("use docker.recreate"), "{err}");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct RestartContainer {
    name: Text,
    /// The `[containers]` entry it was named by, to tell a container made
    /// from another spec.
    definition: Option<Box<ContainerConfig>>,
    wait: Duration,
    stop_grace: Duration,
    engine: Option<Text>,
}

/// The table when no `[containers]` entry is named.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestart {
    name: Text,
    #[serde(default = "default_wait", with = "deploy_core::duration::serde_req")]
    wait: Duration,
    #[serde(default = "default_grace", with = "deploy_core::duration::serde_req")]
    stop_grace: Duration,
    engine: Option<Text>,
}

fn default_wait() -> Duration {
    Duration::from_secs(60)
}

fn default_grace() -> Duration {
    Duration::from_secs(10)
}

impl TryFrom<toml::Value> for RestartContainer {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, String> {
        let toml::Value::Table(mut table) = value else {
            return Err("expected a table".into());
        };
        if let Some(config) = definition(&mut table)? {
            refuse_beside(&table, &[])?;
            if let Some(key) = table.keys().next() {
                return Err(format!(
                    "unknown field `{key}`: beside `container` docker.restart takes nothing\nin `{key}`"
                ));
            }
            return Ok(RestartContainer {
                name: config.name.clone(),
                wait: config.wait,
                stop_grace: config.stop_grace,
                engine: config.engine.clone(),
                definition: Some(Box::new(config)),
            });
        }
        let kept = ["name", "wait", "stop_grace", "engine"];
        if let Some(key) = table
            .keys()
            .find(|k| CONTAINER_FIELDS.contains(&k.as_str()) && !kept.contains(&k.as_str()))
        {
            return Err(format!(
                "`{key}`: docker.restart restarts the container as it was created, keeping its \
                 image, env, volumes and secrets, so `{key}` would not apply (use docker.recreate \
                 to change it)\nin `{key}`"
            ));
        }
        let raw = RawRestart::deserialize(toml::Value::Table(table))
            .map_err(|e| e.to_string().trim().to_owned())?;
        Ok(RestartContainer {
            name: raw.name,
            definition: None,
            wait: raw.wait,
            stop_grace: raw.stop_grace,
            engine: raw.engine,
        })
    }
}

impl RestartContainer {
    /// Restarts container `name`.
    pub fn new(name: &str) -> RestartContainer {
        RestartContainer {
            name: Text::from(name),
            definition: None,
            wait: default_wait(),
            stop_grace: default_grace(),
            engine: None,
        }
    }
}

impl Kind for RestartContainer {
    const KIND: &'static str = "docker.restart";
}

#[async_trait]
impl Step for RestartContainer {
    fn describe(&self) -> Description {
        Description::new(format!("restart container {} in place", self.name))
            .field(
                "keeps",
                "everything it was created with: image, env, volumes, networks, secrets \
                 (docker.recreate applies a changed spec)",
            )
            .field(
                "wait",
                format!(
                    "{} to stop, up to {} for health",
                    deploy_core::duration::format(self.stop_grace),
                    deploy_core::duration::format(self.wait)
                ),
            )
            .field_opt("engine", self.engine.as_ref())
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let name = ctx.resolve(&self.name)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        let Some(info) = engine.inspect(&name).await? else {
            return Err(DockerError::NotFound {
                host: engine.host().to_owned(),
                what: format!(
                    "container {name} (docker.restart restarts an existing container: \
                     docker.recreate or docker.ensure-running creates it)"
                ),
            }
            .into());
        };
        if let Some(definition) = &self.definition {
            let wanted = definition.spec(ctx)?.digest();
            if info.labels.get(SPEC_LABEL) != Some(&wanted) {
                ctx.output.line(
                    OutputStream::Stderr,
                    &format!(
                        "container {name} was not created from its [containers] entry as it \
                         reads now: restarted as it is (docker.recreate applies the entry)"
                    ),
                );
            }
        }
        engine.restart(&name, self.stop_grace).await?;
        engine.wait_healthy(&name, self.wait).await?;
        Ok(Applied::done())
    }
}
