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
use super::replicas::{self, Replicas};
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
    /// Restart `NAME-1` … `NAME-N` (as `replicas` on docker.recreate names them).
    replicas: usize,
    wait: Duration,
    stop_grace: Duration,
    engine: Option<Text>,
}

/// The table when no `[containers]` entry is named.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestart {
    name: Text,
    #[serde(default = "one")]
    replicas: usize,
    #[serde(default = "default_wait", with = "deploy_core::duration::serde_req")]
    wait: Duration,
    #[serde(default = "default_grace", with = "deploy_core::duration::serde_req")]
    stop_grace: Duration,
    engine: Option<Text>,
}

fn one() -> usize {
    1
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
            refuse_beside(&table, &["replicas"])?;
            let replicas = match table.remove("replicas") {
                None => 1,
                Some(value) => count(&value)?,
            };
            if let Some(key) = table.keys().next() {
                return Err(format!(
                    "unknown field `{key}`: beside `container` docker.restart takes only `replicas`\nin `{key}`"
                ));
            }
            return Ok(RestartContainer {
                replicas,
                name: config.name.clone(),
                wait: config.wait,
                stop_grace: config.stop_grace,
                engine: config.engine.clone(),
                definition: Some(Box::new(config)),
            });
        }
        let kept = ["name", "wait", "stop_grace", "engine", "replicas"];
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
        if raw.replicas == 0 {
            return Err("at least 1 container (got 0)\nin `replicas`".into());
        }
        Ok(RestartContainer {
            replicas: raw.replicas,
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
            replicas: 1,
            wait: default_wait(),
            stop_grace: default_grace(),
            engine: None,
        }
    }
}

/// A `replicas` value: a whole number from 1.
fn count(value: &toml::Value) -> Result<usize, String> {
    value
        .as_integer()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("at least 1 container (got {value})\nin `replicas`"))
}

impl Kind for RestartContainer {
    const KIND: &'static str = "docker.restart";

    /// `container`, or `name` and the keys a restart keeps.
    fn fields() -> Option<Vec<&'static str>> {
        let mut keys = deploy_core::registry::struct_fields::<RawRestart>()?.to_vec();
        keys.push("container");
        Some(keys)
    }
}

#[async_trait]
impl Step for RestartContainer {
    fn describe(&self) -> Description {
        let names = replicas::names(&self.name.to_string(), self.replicas);
        Description::new(if self.replicas == 1 {
            format!("restart container {} in place", self.name)
        } else {
            format!(
                "restart containers {} in place, one at a time",
                names.join(", ")
            )
        })
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
        // What each replica would be made from now, to say when it is not.
        let wanted: Vec<Option<String>> = match &self.definition {
            Some(definition) => Replicas {
                config: (**definition).clone(),
                count: self.replicas,
            }
            .specs(ctx)?
            .iter()
            .map(|s| Some(s.digest()))
            .collect(),
            None => vec![None; self.replicas],
        };
        for (replica, wanted) in replicas::names(&name, self.replicas).iter().zip(wanted) {
            let Some(info) = engine.inspect(replica).await? else {
                return Err(DockerError::NotFound {
                    host: engine.host().to_owned(),
                    what: format!(
                        "container {replica} (docker.restart restarts an existing container: \
                         docker.recreate or docker.ensure-running creates it)"
                    ),
                }
                .into());
            };
            if wanted.is_some() && info.labels.get(SPEC_LABEL) != wanted.as_ref() {
                ctx.output.line(
                    OutputStream::Stderr,
                    &format!(
                        "container {replica} was not created from its [containers] entry as it \
                         reads now: restarted as it is (docker.recreate applies the entry)"
                    ),
                );
            }
            engine.restart(replica, self.stop_grace).await?;
            engine.wait_healthy(replica, self.wait).await?;
        }
        Ok(Applied::done())
    }
}
