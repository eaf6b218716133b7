//! `docker.blue-green`: the zero-downtime replacement compose does not do
//! (see [`crate::bluegreen`]), as a step with undo (switch back).

use std::time::Duration;

use async_trait::async_trait;
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
#[serde(try_from = "RawBlueGreen")]
pub struct ReplaceBlueGreen {
    container: ContainerConfig,
    port: u16,
    replicas: usize,
    batch: usize,
    proxy: Proxy,
    drain: Duration,
}

/// The table as written: the container's keys plus the replacement's own;
/// whatever neither knows lands in `unknown` and is refused.
#[derive(Deserialize)]
struct RawBlueGreen {
    /// The port the app listens on inside its container.
    port: u16,
    #[serde(default = "one")]
    replicas: usize,
    #[serde(default = "one")]
    batch: usize,
    proxy: Proxy,
    #[serde(default = "default_drain", with = "deploy_core::duration::serde_req")]
    drain: Duration,
    /// The container settings (`name` is the service).
    #[serde(flatten)]
    container: ContainerConfig,
    #[serde(flatten)]
    unknown: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
}

/// The keys of [`RawBlueGreen`] that are not the container's (serde cannot
/// list them: the struct flattens the container's in). Keep in step with
/// the struct; `try_from` names every field.
const OWN_KEYS: [&str; 5] = ["port", "replicas", "batch", "proxy", "drain"];

/// Container keys a blue/green replacement refuses (see `try_from`).
const REFUSED_CONTAINER_KEYS: [&str; 2] = ["ports", "force"];

impl TryFrom<RawBlueGreen> for ReplaceBlueGreen {
    type Error = String;

    fn try_from(raw: RawBlueGreen) -> Result<Self, String> {
        if let Some(key) = raw.unknown.keys().next() {
            return Err(format!("unknown field `{key}`"));
        }
        if !raw.container.ports.is_empty() {
            return Err(
                "blue/green app containers publish no host port (the proxy does): remove `ports`"
                    .to_owned(),
            );
        }
        if raw.container.force {
            return Err("`force` belongs to docker.recreate".to_owned());
        }
        // Every key of the table, named so that a new one cannot be left
        // out of `OWN_KEYS` unnoticed.
        let RawBlueGreen {
            port,
            replicas,
            batch,
            proxy,
            drain,
            container,
            unknown: _,
        } = raw;
        Ok(ReplaceBlueGreen {
            container,
            port,
            replicas,
            batch,
            proxy,
            drain,
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
        let container = deploy_core::registry::struct_fields::<ContainerConfig>()?;
        Some(
            OWN_KEYS
                .iter()
                .chain(container)
                .copied()
                .filter(|key| !REFUSED_CONTAINER_KEYS.contains(key))
                .collect(),
        )
    }
}

#[async_trait]
impl Step for ReplaceBlueGreen {
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
        Ok(live.len() == plan.replicas && live.iter().all(|c| current(c) == Some(true)))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let plan = self.plan(ctx)?;
        let engine = open_engine(ctx, self.container.engine.as_ref()).await?;
        let switched = engine
            .blue_green(ctx.target.as_ref(), &plan, ctx.output)
            .await?;
        Ok(Applied::with_memo(switched))
    }

    fn undoable(&self) -> Option<&dyn Undo> {
        Some(self)
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
