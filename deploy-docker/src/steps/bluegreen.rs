//! `docker.blue-green`: the zero-downtime replacement compose does not do
//! (see [`crate::bluegreen`]), as a step with undo (switch back).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deploy_core::release::{Pinned, Pins};
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError, Undo};
use serde::Deserialize;

use super::{ContainerConfig, open_engine};
use crate::bluegreen::{BlueGreen, SERVICE_LABEL, SLOT_LABEL, Switched};
use crate::container::SPEC_LABEL;
use crate::proxy::Proxy;

/// Replaces service `name` with a new version behind a proxy.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::ReplaceBlueGreen;
///
/// let step: ReplaceBlueGreen = toml::from_str(r#"
///     name = "web"
///     image = "shop/web:v2"
///     networks = ["shop"]
///     port = 8080
///     replicas = 2
///     proxy = { caddy = { id = "web-upstreams" } }
/// "#).unwrap();
/// assert_eq!(step.describe().summary, "blue/green: web to shop/web:v2 behind caddy 127.0.0.1:2019 @id web-upstreams");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct ReplaceBlueGreen {
    container: ContainerConfig,
    port: u16,
    replicas: usize,
    batch: usize,
    proxy: Proxy,
    drain: Duration,
}

/// The replacement's own fields (the rest of the table, or a
/// `[containers]` entry, is the container; `name` is the service).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlueGreenOwn {
    /// The port the app listens on inside its container.
    port: u16,
    #[serde(default = "one")]
    replicas: usize,
    #[serde(default = "one")]
    batch: usize,
    proxy: Proxy,
    #[serde(default = "default_drain", with = "deploy_core::duration::serde_req")]
    drain: Duration,
}

/// The replacement's own keys (the rest of the table is the container's).
const OWN_KEYS: [&str; 5] = ["port", "replicas", "batch", "proxy", "drain"];

/// Container keys a blue/green replacement refuses (see `try_from`).
const REFUSED_CONTAINER_KEYS: [&str; 2] = ["ports", "force"];

impl TryFrom<toml::Value> for ReplaceBlueGreen {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, String> {
        if value.get("force").is_some() {
            return Err("`force` belongs to docker.recreate\nin `force`".to_owned());
        }
        let split = super::definition::split::<BlueGreenOwn>(value, &OWN_KEYS)?;
        if !split.container.ports.is_empty() {
            return Err(format!(
                "blue/green app containers publish no host port (the proxy does): remove `ports`\nin `{}`",
                if split.defined {
                    "container.ports"
                } else {
                    "ports"
                }
            ));
        }
        let own = split.own;
        Ok(ReplaceBlueGreen {
            container: split.container,
            port: own.port,
            replicas: own.replicas,
            batch: own.batch,
            proxy: own.proxy,
            drain: own.drain,
        })
    }
}

fn one() -> usize {
    1
}

fn default_drain() -> Duration {
    Duration::from_secs(2)
}

impl ReplaceBlueGreen {
    fn plan(&self, ctx: &StepContext<'_>) -> Result<BlueGreen, StepError> {
        let mut spec = self.container.spec(ctx)?;
        spec.labels
            .insert(SERVICE_LABEL.to_owned(), spec.name.clone());
        Ok(BlueGreen {
            service: spec.name.clone(),
            spec,
            port: self.port,
            replicas: self.replicas,
            batch: self.batch,
            proxy: self.proxy.clone(),
            health_wait: self.container.wait,
            drain: self.drain,
            stop_grace: self.container.stop_grace,
        })
    }
}

impl Kind for ReplaceBlueGreen {
    const KIND: &'static str = "docker.blue-green";

    /// Its own keys and the container's, less those it refuses.
    fn fields() -> Option<Vec<&'static str>> {
        super::definition::fields_with(&OWN_KEYS, &REFUSED_CONTAINER_KEYS)
    }
}

#[async_trait]
impl Step for ReplaceBlueGreen {
    fn secrets_in_argv(&self) -> Vec<&'static str> {
        self.container.secrets_in_argv()
    }

    fn describe(&self) -> Description {
        let c = &self.container;
        let description = Description::new(format!(
            "blue/green: {} to {} behind {}",
            c.name, c.image, self.proxy
        ))
        .field(
            "replicas",
            format!(
                "{}, {} at a time, port {}, drain {}",
                self.replicas,
                self.batch,
                self.port,
                deploy_core::duration::format(self.drain)
            ),
        );
        c.describe_fields(description)
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let plan = self.plan(ctx)?;
        let engine = open_engine(ctx, self.container.engine.as_ref()).await?;
        let live: Vec<_> = engine
            .list(&[(SERVICE_LABEL, plan.service.as_str())])
            .await?
            .into_iter()
            .filter(|c| c.running())
            .collect();
        let wanted = engine.image_id(&plan.spec.image).await?;
        // Each live replica must be what this step would start in its slot.
        let current = |c: &crate::container::ContainerInfo| {
            let slot = c.labels.get(SLOT_LABEL)?;
            let n: usize = c.name.rsplit('-').next()?.parse().ok()?;
            let expected = plan.replica(slot, n).digest();
            Some(
                Some(c.image_id.as_str()) == wanted.as_deref()
                    && c.labels.get(SPEC_LABEL) == Some(&expected),
            )
        };
        let done = live.len() == plan.replicas && live.iter().all(|c| current(c) == Some(true));
        if done {
            self.note_running(ctx, &engine, &plan.service).await?;
        }
        Ok(done)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let plan = self.plan(ctx)?;
        let engine = open_engine(ctx, self.container.engine.as_ref()).await?;
        let switched = engine
            .blue_green(ctx.target.as_ref(), &plan, ctx.output)
            .await?;
        self.note_running(ctx, &engine, &plan.service).await?;
        Ok(Applied::with_memo(switched))
    }

    fn pin_images(&self, pins: &Pins<'_>) -> Pinned {
        match self.container.pinned(pins) {
            Some(container) => Pinned::Replaced(Arc::new(ReplaceBlueGreen {
                container,
                ..self.clone()
            })),
            None => Pinned::Unchanged,
        }
    }

    fn undoable(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

impl ReplaceBlueGreen {
    /// Tells the run which image each live replica of `service` runs.
    async fn note_running(
        &self,
        ctx: &StepContext<'_>,
        engine: &crate::engine::Engine,
        service: &str,
    ) -> Result<(), StepError> {
        let asked = self.container.asked_image(ctx)?;
        for replica in engine.list(&[(SERVICE_LABEL, service)]).await? {
            if replica.running() {
                super::record::note_running(ctx, engine, &replica.name, Some(&asked)).await;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Undo for ReplaceBlueGreen {
    fn summary(&self) -> String {
        format!(
            "switch {} back to the version it replaced",
            self.container.name
        )
    }

    async fn revert(&self, ctx: &StepContext<'_>, applied: &Applied) -> Result<(), StepError> {
        let Some(switched) = applied.memo::<Switched>().cloned() else {
            return Err(StepError::NotUndoable);
        };
        let plan = self.plan(ctx)?;
        let engine = open_engine(ctx, self.container.engine.as_ref()).await?;
        Ok(engine
            .blue_green_back(ctx.target.as_ref(), &plan, &switched, ctx.output)
            .await?)
    }
}

#[cfg(test)]
mod fields_tests {
    use super::{OWN_KEYS, ReplaceBlueGreen};
    use deploy_core::step::Kind;

    #[test]
    fn every_declared_key_is_accepted_and_refused_ones_are_not_declared() {
        let table = r#"
            name = "web"
            image = "shop/web:2"
            port = 8080
            replicas = 2
            batch = 1
            drain = "1s"
            proxy = { caddy = { id = "web" } }
        "#;
        let parsed: toml::Table = toml::from_str(table).expect("toml");
        for key in OWN_KEYS {
            assert!(parsed.contains_key(key), "the table sets `{key}`");
        }
        toml::from_str::<ReplaceBlueGreen>(table).expect("every own key is accepted");
        let fields = ReplaceBlueGreen::fields().expect("fields");
        assert!(fields.contains(&"name") && fields.contains(&"port"));
        assert!(!fields.contains(&"ports") && !fields.contains(&"force"));
    }
}
