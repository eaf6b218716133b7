//! `replicas = N` on `docker.recreate` and `docker.ensure-running`: N
//! containers from one spec, named as compose names a service's
//! (`NAME-1` … `NAME-N`; one replica keeps the plain `NAME`), each reachable
//! as `NAME` on its networks. Replicas are replaced one at a time, each
//! old one kept (stopped) as `…-previous`; containers of an earlier, larger
//! count (or the plain `NAME` when going from 1 to N) are stopped and set
//! aside the same way, so undo puts back exactly what ran before.

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, StepContext, StepError, Undo};

use super::{ContainerConfig, open_engine};
use crate::container::{ContainerSpec, PortMapping, SPEC_LABEL};
use crate::engine::Engine;

/// Which containers are replicas of `NAME` (its value: NAME).
pub const REPLICA_OF_LABEL: &str = "deploy.replica-of";

/// A container config run `count` times.
#[derive(Clone, Debug)]
pub(crate) struct Replicas {
    pub(crate) config: ContainerConfig,
    pub(crate) count: usize,
}

/// What a replacement did, for undo.
struct Replaced {
    /// Each replica, and whether the container it replaced was kept.
    kept: Vec<(String, bool)>,
    /// Containers of an earlier count, stopped and kept as `…-previous`.
    set_aside: Vec<String>,
}

/// Refuses counts that cannot work: none, or several containers binding
/// one host port.
pub(crate) fn check(config: &ContainerConfig, count: usize) -> Result<(), String> {
    if count == 0 {
        return Err("at least 1 container (got 0)\nin `replicas`".to_owned());
    }
    if count > 1 {
        for port in &config.ports {
            let mapping = PortMapping::parse(port).map_err(|e| format!("{e}\nin `ports`"))?;
            if mapping.host_port.is_some() {
                return Err(format!(
                    "replicas = {count} with port `{port}`: {count} containers cannot bind one \
                     host port (publish only the container port, `{}`, for a free host port \
                     each, or put a proxy in front with docker.blue-green)\nin `replicas`",
                    mapping.container_port
                ));
            }
        }
    }
    Ok(())
}

/// The names of `count` replicas of container `name`.
pub(crate) fn names(name: &str, count: usize) -> Vec<String> {
    if count == 1 {
        vec![name.to_owned()]
    } else {
        (1..=count).map(|n| format!("{name}-{n}")).collect()
    }
}

impl Replicas {
    /// The replicas' names for container `name`.
    fn names(&self, name: &str) -> Vec<String> {
        names(name, self.count)
    }

    /// Each replica's spec, every placeholder filled.
    pub(crate) fn specs(&self, ctx: &StepContext<'_>) -> Result<Vec<ContainerSpec>, StepError> {
        let base = self.config.spec(ctx)?;
        if self.count == 1 {
            return Ok(vec![base]);
        }
        Ok(self
            .names(&base.name)
            .into_iter()
            .map(|name| {
                let mut spec = base.clone();
                spec.labels
                    .insert(REPLICA_OF_LABEL.to_owned(), base.name.clone());
                if !spec.networks.is_empty() && !spec.aliases.contains(&base.name) {
                    spec.aliases.push(base.name.clone());
                }
                spec.name = name;
                spec
            })
            .collect())
    }

    /// Containers of `name` that are not among `wanted`: replicas of
    /// another count, or the plain `name` when there are several.
    async fn extras(
        &self,
        engine: &Engine,
        name: &str,
        wanted: &[String],
    ) -> Result<Vec<String>, StepError> {
        let mut extras: Vec<String> = engine
            .list(&[(REPLICA_OF_LABEL, name)])
            .await?
            .into_iter()
            .map(|c| c.name)
            .filter(|n| {
                !wanted.contains(n) && !n.ends_with("-previous") && !n.ends_with("-replaced")
            })
            .collect();
        if !wanted.iter().any(|w| w == name) && engine.inspect(name).await?.is_some() {
            extras.push(name.to_owned());
        }
        Ok(extras)
    }

    /// Replaces each replica (the old one back if the new one fails),
    /// waiting for its health, then sets aside the containers of an
    /// earlier count. With `leave`, a replica that is already as wanted
    /// ([`Replicas::current`] with that `spec_too`) is left alone.
    pub(crate) async fn replace(
        &self,
        ctx: &StepContext<'_>,
        leave: Option<bool>,
    ) -> Result<Applied, StepError> {
        let specs = self.specs(ctx)?;
        let name = ctx.resolve(&self.config.name)?;
        let engine = open_engine(ctx, self.config.engine.as_ref()).await?;
        let image = engine.image_id(&self.config.spec(ctx)?.image).await?;
        let c = &self.config;
        let mut kept = Vec::new();
        for spec in &specs {
            if let Some(spec_too) = leave
                && current(&engine, spec, image.as_deref(), spec_too).await?
            {
                continue;
            }
            let old = engine
                .replace_keeping(spec, c.stop_grace, Some(c.wait), true)
                .await?;
            kept.push((spec.name.clone(), old));
        }
        let wanted: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let mut set_aside = Vec::new();
        for extra in self.extras(&engine, &name, &wanted).await? {
            let previous = format!("{extra}-previous");
            engine.stop(&extra, c.stop_grace).await?;
            engine.remove(&previous).await?;
            engine.rename(&extra, &previous).await?;
            set_aside.push(extra);
        }
        self.note_running(ctx, &engine, &specs).await?;
        Ok(Applied::with_memo(Replaced { kept, set_aside }))
    }

    /// True when every replica runs the wanted image (and, with
    /// `spec_too`, was made from this very spec), and no other count's do.
    pub(crate) async fn runs_as_wanted(
        &self,
        ctx: &StepContext<'_>,
        spec_too: bool,
    ) -> Result<bool, StepError> {
        let specs = self.specs(ctx)?;
        let name = ctx.resolve(&self.config.name)?;
        let engine = open_engine(ctx, self.config.engine.as_ref()).await?;
        let wanted = engine.image_id(&self.config.spec(ctx)?.image).await?;
        for spec in &specs {
            if !current(&engine, spec, wanted.as_deref(), spec_too).await? {
                return Ok(false);
            }
        }
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let as_wanted = self.extras(&engine, &name, &names).await?.is_empty();
        if as_wanted {
            self.note_running(ctx, &engine, &specs).await?;
        }
        Ok(as_wanted)
    }

    /// Tells the run which image each replica runs (the release record).
    async fn note_running(
        &self,
        ctx: &StepContext<'_>,
        engine: &crate::engine::Engine,
        specs: &[ContainerSpec],
    ) -> Result<(), StepError> {
        let asked = self.config.asked_image(ctx)?;
        for spec in specs {
            super::record::note_running(ctx, engine, &spec.name, Some(&asked)).await;
        }
        Ok(())
    }

    /// These replicas with their image pinned, if the release recorded it.
    pub(crate) fn pinned(&self, pins: &deploy_core::release::Pins<'_>) -> Option<Replicas> {
        Some(Replicas {
            config: self.config.pinned(pins)?,
            count: self.count,
        })
    }

    /// The replicas' names as the plan shows them (`{release}` and all).
    fn shown_names(&self) -> Vec<String> {
        self.names(&self.config.name.to_string())
    }

    /// `container redis` or `containers redis-1, redis-2`.
    pub(crate) fn containers(&self) -> String {
        if self.count == 1 {
            format!("container {}", self.config.name)
        } else {
            format!("containers {}", self.shown_names().join(", "))
        }
    }

    /// The config's fields, and the replicas' when there are several.
    pub(crate) fn describe_fields(&self, description: Description) -> Description {
        let description = if self.count == 1 {
            description
        } else {
            description.field(
                "replicas",
                format!(
                    "{}, replaced one at a time{}; other counts' containers are stopped and kept",
                    self.count,
                    if self.config.networks.is_empty() {
                        String::new()
                    } else {
                        format!(", each reachable as {} on its networks", self.config.name)
                    }
                ),
            )
        };
        self.config.describe_fields(description)
    }
}

/// True when container `spec.name` runs `image` (and, with `spec_too`, was
/// made from `spec`).
async fn current(
    engine: &Engine,
    spec: &ContainerSpec,
    image: Option<&str>,
    spec_too: bool,
) -> Result<bool, StepError> {
    let Some(info) = engine.inspect(&spec.name).await? else {
        return Ok(false);
    };
    Ok(info.running()
        && image == Some(info.image_id.as_str())
        && (!spec_too || info.labels.get(SPEC_LABEL) == Some(&spec.digest())))
}

/// Puts back the containers a step replaced, kept as `…-previous`.
#[async_trait]
impl Undo for Replicas {
    fn summary(&self) -> String {
        if self.count == 1 {
            let name = &self.config.name;
            format!("put back the container {name} replaced (kept as {name}-previous)")
        } else {
            format!(
                "put back what ran before: the containers {} replaced and any of another count \
                 set aside (each kept as …-previous)",
                self.shown_names().join(", ")
            )
        }
    }

    async fn revert(&self, ctx: &StepContext<'_>, applied: &Applied) -> Result<(), StepError> {
        let engine = open_engine(ctx, self.config.engine.as_ref()).await?;
        let grace = self.config.stop_grace;
        let Some(replaced) = applied.memo::<Replaced>() else {
            // No record (a plan restored elsewhere): remove what we started.
            for spec in self.specs(ctx)? {
                engine.remove(&spec.name).await?;
            }
            return Ok(());
        };
        for (name, kept) in &replaced.kept {
            if *kept {
                engine.restore_previous(name, grace).await?;
            } else {
                // Nothing ran under the name before: remove what we started.
                engine.remove(name).await?;
            }
        }
        for name in &replaced.set_aside {
            engine.rename(&format!("{name}-previous"), name).await?;
            engine.start(name).await?;
        }
        Ok(())
    }
}
