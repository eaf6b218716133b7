//! `docker.compose`: bring up a compose file's services (what
//! `docker-compose up -d` does): networks, then each service in dependency
//! order (built or pulled, then its containers replaced when their spec or
//! image changed, waiting for health). Containers compose made are taken
//! over by their labels; the compose keys deploy does not apply are listed
//! in the plan.

use deploy_core::release::{ImageRecord, Pinned, Pins};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::target::{OutputSink, OutputStream};
use deploy_core::text::Text;
use serde::Deserialize;

use super::open_engine;
use super::place::Place;
use crate::compose::{
    ComposeFile, ComposeService, NUMBER_LABEL, PROJECT_LABEL, SERVICE_LABEL, project_name_of,
};
use crate::container::{ContainerInfo, SPEC_LABEL};
use crate::engine::Engine;
use crate::error::DockerError;
use crate::image::{BuildSpec, CONTEXT_LABEL, ImageRef};

/// Brings up the services of a compose file.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::ComposeUp;
///
/// let dir = tempfile::tempdir().unwrap();
/// let file = dir.path().join("docker-compose.yml");
/// std::fs::write(&file, "services:\n  web:\n    image: shop/web:v2\n    logging: { driver: syslog }\n").unwrap();
/// let step: ComposeUp = toml::from_str(&format!("file = {:?}\nproject = \"shop\"", file)).unwrap();
/// let d = step.describe();
/// assert_eq!(d.summary, format!("compose up shop from {}: web", file.display()));
/// assert!(d.fields.iter().any(|(k, v)| k == "not applied" && v == "services.web.logging"));
///
/// // With `strict = true` the same file is refused, naming the key:
/// let err = toml::from_str::<ComposeUp>(&format!("file = {:?}\nstrict = true", file)).unwrap_err();
/// assert!(err.to_string().contains("deploy does not apply services.web.logging"));
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawComposeUp")]
pub struct ComposeUp {
    /// Read when the plan is built (a file on this machine); `None` for a
    /// file on the host, read when the step runs.
    compose: Option<ComposeFile>,
    file: Place,
    project: Option<String>,
    env: BTreeMap<String, Text>,
    strict: bool,
    services: Vec<String>,
    deps: bool,
    force: bool,
    /// Services whose images are pulled first (`docker-compose pull web`).
    pull: Vec<String>,
    wait: Duration,
    stop_grace: Duration,
    engine: Option<Text>,
    /// What a rollback or promotion pins the services' images to.
    pins: Vec<ImageRecord>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComposeUp {
    file: Place,
    project: Option<String>,
    /// Values for the file's `${VAR}`s, winning over the environment and
    /// `.env`.
    #[serde(default)]
    env: BTreeMap<String, Text>,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default = "yes")]
    deps: bool,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    pull: Vec<String>,
    /// Refuse a compose file with keys deploy does not apply (instead of
    /// listing them in the plan).
    #[serde(default)]
    strict: bool,
    #[serde(default = "default_wait", with = "deploy_core::duration::serde_req")]
    wait: Duration,
    #[serde(default = "default_grace", with = "deploy_core::duration::serde_req")]
    stop_grace: Duration,
    engine: Option<Text>,
}

fn yes() -> bool {
    true
}

fn default_wait() -> Duration {
    Duration::from_secs(120)
}

fn default_grace() -> Duration {
    Duration::from_secs(10)
}

/// `strict = true` refuses a file with keys deploy does not apply.
fn check_strict(compose: &ComposeFile, strict: bool) -> Result<(), String> {
    if strict && !compose.ignored.is_empty() {
        return Err(format!(
            "{}: deploy does not apply {} (strict = true refuses them; without it they are listed in the plan)",
            compose.path.display(),
            compose.ignored.join(", ")
        ));
    }
    Ok(())
}

/// The values as the plan shows them (a run-time placeholder as `{release}`).
fn shown_env(env: &BTreeMap<String, Text>) -> BTreeMap<String, String> {
    env.iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect()
}

impl TryFrom<RawComposeUp> for ComposeUp {
    type Error = String;

    fn try_from(raw: RawComposeUp) -> Result<Self, String> {
        let compose = match &raw.file {
            Place::Here(path) => {
                let path = PathBuf::from(path.to_string());
                let compose =
                    ComposeFile::load_with(&path, raw.project.as_deref(), &shown_env(&raw.env))
                        .map_err(|e| e.to_string())?;
                check_strict(&compose, raw.strict)?;
                Some(compose)
            }
            Place::Host(_) => None,
        };
        let up = ComposeUp {
            compose,
            file: raw.file,
            project: raw.project,
            env: raw.env,
            strict: raw.strict,
            services: raw.services,
            deps: raw.deps,
            force: raw.force,
            pull: raw.pull,
            wait: raw.wait,
            stop_grace: raw.stop_grace,
            engine: raw.engine,
            pins: Vec::new(),
        };
        if let Some(compose) = &up.compose {
            up.selection(compose).map_err(|e| e.to_string())?;
        }
        Ok(up)
    }
}

impl ComposeUp {
    /// Brings up the compose file at `path` on the host, read with the
    /// `.env` beside it when the step runs (so a `set-env` before it is
    /// seen): `file = { host = "…" }`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Step;
    /// use deploy_docker::steps::ComposeUp;
    ///
    /// let step = ComposeUp::on_host("~/production/docker-compose.yml")
    ///     .project("pixel-production")
    ///     .services(["proxy", "web"])
    ///     .without_deps()
    ///     .force()
    ///     .pull(["web"]);
    /// assert_eq!(
    ///     step.describe().summary,
    ///     "compose up pixel-production from ~/production/docker-compose.yml on the host: proxy, web"
    /// );
    /// ```
    pub fn on_host(path: impl Into<Text>) -> ComposeUp {
        ComposeUp::reading(Place::Host(path.into()))
    }

    /// A step reading `file`, every other setting its default.
    fn reading(file: Place) -> ComposeUp {
        ComposeUp {
            file,
            project: None,
            compose: None,
            env: BTreeMap::new(),
            strict: false,
            services: Vec::new(),
            deps: true,
            force: false,
            pull: Vec::new(),
            wait: default_wait(),
            stop_grace: default_grace(),
            engine: None,
            pins: Vec::new(),
        }
    }

    /// The compose project (default: the file's directory name).
    #[must_use]
    pub fn project(mut self, name: &str) -> ComposeUp {
        self.project = Some(name.to_owned());
        self
    }

    /// Only these services (and, unless [`ComposeUp::without_deps`], what
    /// they depend on).
    #[must_use]
    pub fn services<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> ComposeUp {
        self.services = names.into_iter().map(Into::into).collect();
        self
    }

    /// Not what the services depend on (`--no-deps`).
    #[must_use]
    pub fn without_deps(mut self) -> ComposeUp {
        self.deps = false;
        self
    }

    /// Recreate even when unchanged (`--force-recreate`).
    #[must_use]
    pub fn force(mut self) -> ComposeUp {
        self.force = true;
        self
    }

    /// Pull these services' images first (`docker-compose pull web`).
    #[must_use]
    pub fn pull<I: IntoIterator<Item = S>, S: Into<String>>(mut self, services: I) -> ComposeUp {
        self.pull = services.into_iter().map(Into::into).collect();
        self
    }

    /// How the plan says `pull`.
    fn pulls(&self) -> Option<String> {
        (!self.pull.is_empty()).then(|| {
            format!(
                "{} first, as `docker-compose pull` does (a moved tag is fetched)",
                self.pull.join(", ")
            )
        })
    }

    /// Brings up every service of `compose`.
    pub fn new(compose: ComposeFile) -> ComposeUp {
        let file = Place::Here(Text::literal(compose.path.display().to_string()));
        ComposeUp {
            project: Some(compose.project.clone()),
            compose: Some(compose),
            ..ComposeUp::reading(file)
        }
    }

    /// The services to bring up, images pinned where the release recorded
    /// them (a pinned service is not built again).
    fn selection(&self, compose: &ComposeFile) -> Result<Vec<ComposeService>, DockerError> {
        let pins = Pins {
            images: &self.pins,
            rollback: false,
        };
        let selected = compose.select(&self.services, self.deps)?;
        if let Some(name) = self
            .pull
            .iter()
            .find(|n| !selected.iter().any(|s| &s.name == *n))
        {
            let names: Vec<&str> = selected.iter().map(|s| s.name.as_str()).collect();
            return Err(crate::compose::invalid(
                &compose.path,
                format!(
                    "pull: `{name}` is not a service this step brings up ({})",
                    names.join(", ")
                ),
            ));
        }
        Ok(selected
            .into_iter()
            .cloned()
            .map(|mut service| {
                if let Some(image) = pins.image(&service.image, &service.name) {
                    service.image.clone_from(&image);
                    service.spec.image = image;
                    service.build = None;
                }
                service
            })
            .collect())
    }

    /// Tells the run which image each container of `compose`'s selected
    /// services runs, under the image name the file gives it.
    async fn note_running(
        &self,
        ctx: &StepContext<'_>,
        engine: &Engine,
        compose: &ComposeFile,
    ) -> Result<(), StepError> {
        for service in compose.select(&self.services, self.deps)? {
            let containers = engine
                .list(&[
                    (PROJECT_LABEL, compose.project.as_str()),
                    (SERVICE_LABEL, service.name.as_str()),
                ])
                .await?;
            for container in containers.iter().filter(|c| c.running()) {
                super::record::note_running(ctx, engine, &container.name, Some(&service.image))
                    .await;
            }
        }
        Ok(())
    }

    /// The compose file as this run reads it: the one read with the plan
    /// when its values were all known then, else read again now (from this
    /// machine, or from the host through its target) with the values filled.
    async fn read(&self, ctx: &StepContext<'_>) -> Result<ComposeFile, StepError> {
        if let Some(compose) = &self.compose
            && self.env.values().all(Text::is_literal)
        {
            return Ok(compose.clone());
        }
        let mut env = BTreeMap::new();
        for (key, value) in &self.env {
            env.insert(key.clone(), ctx.resolve(value)?);
        }
        let (target, path, process_env) = match &self.file {
            Place::Here(path) => (&ctx.local, ctx.resolve(path)?, true),
            Place::Host(path) => (
                &ctx.target,
                ctx.host_path(&ctx.resolve(path)?).await?,
                false,
            ),
        };
        let project = match (&self.project, &self.file) {
            (Some(project), _) => project.clone(),
            // Named after the directory as written, not as `~` expands.
            (None, Place::Host(path)) => project_name_of(&ctx.resolve(path)?),
            (None, Place::Here(_)) => crate::compose::project_name(std::path::Path::new(&path)),
        };
        let compose =
            ComposeFile::load_from(target.as_ref(), &path, Some(&project), &env, process_env)
                .await?;
        check_strict(&compose, self.strict).map_err(StepError::Failed)?;
        if matches!(self.file, Place::Host(_))
            && let Some(built) = compose.services.iter().find(|s| s.build.is_some())
        {
            return Err(StepError::Failed(format!(
                "{path}: services.{}.build: a compose file on the host cannot build yet; \
                 build with docker.build (context = {{ host = \"…\" }}) and give the service an image",
                built.name
            )));
        }
        Ok(compose)
    }
}

/// Replica `n` runs the wanted image, made from the service's spec.
fn is_current(
    c: &ContainerInfo,
    service: &ComposeService,
    n: usize,
    wanted: Option<&String>,
) -> bool {
    if !c.running() || Some(&c.image_id) != wanted {
        return false;
    }
    let mut spec = service.replica(&c.name, n);
    let label = c.labels.get(SPEC_LABEL);
    if label == Some(&spec.digest()) {
        return true;
    }
    // The same image under another name (its tag, or the digest a rollback
    // pins) leaves the container as it is: a rollback does not recreate
    // the database it did not change.
    spec.image.clone_from(&c.image);
    label == Some(&spec.digest())
}

/// A service's containers, and whether they (and its built image) are as
/// wanted.
async fn service_state(
    engine: &Engine,
    project: &str,
    service: &ComposeService,
) -> Result<(Vec<ContainerInfo>, bool), DockerError> {
    let existing = engine
        .list(&[
            (PROJECT_LABEL, project),
            (SERVICE_LABEL, service.name.as_str()),
        ])
        .await?;
    let wanted_image = engine.image_id(&service.image).await?;
    let built_current = match &service.build {
        Some(build) => {
            let spec = build_spec(service, build);
            let want = spec.digest()?;
            engine
                .image_labels(&service.image)
                .await?
                .is_some_and(|l| l.get(CONTEXT_LABEL) == Some(&want))
        }
        None => wanted_image.is_some(),
    };
    let current = built_current
        && existing.len() == service.replicas
        && (1..=service.replicas).all(|n| {
            existing.iter().any(|c| {
                c.labels.get(NUMBER_LABEL) == Some(&n.to_string())
                    && is_current(c, service, n, wanted_image.as_ref())
            })
        });
    Ok((existing, current))
}

fn build_spec(service: &ComposeService, build: &crate::compose::ComposeBuild) -> BuildSpec {
    let mut spec = BuildSpec::new(&build.context, &service.image);
    spec.dockerfile.clone_from(&build.dockerfile);
    spec.args = build.args.clone().into_iter().collect();
    spec
}

async fn up(
    engine: &Engine,
    step: &ComposeUp,
    project: &str,
    services: &[ComposeService],
    output: &dyn OutputSink,
) -> Result<(), DockerError> {
    let networks: std::collections::BTreeSet<&String> = services
        .iter()
        .flat_map(|s| s.spec.networks.iter())
        .collect();
    for network in networks {
        engine.ensure_network(network, "bridge").await?;
    }
    for service in services {
        if step.pull.contains(&service.name) && service.build.is_none() {
            let credentials = crate::credentials::Credentials::from_docker_config()?;
            engine
                .pull(&ImageRef::parse(&service.image)?, &credentials, output)
                .await?;
        }
        let (existing, current) = service_state(engine, project, service).await?;
        if current && !step.force {
            output.line(
                OutputStream::Stdout,
                &format!("{}: up to date", service.name),
            );
            continue;
        }
        match &service.build {
            Some(build) => {
                engine.build(&build_spec(service, build), output).await?;
            }
            None if engine.image_id(&service.image).await?.is_none() => {
                let credentials = crate::credentials::Credentials::from_docker_config()?;
                engine
                    .pull(&ImageRef::parse(&service.image)?, &credentials, output)
                    .await?;
            }
            None => {}
        }
        // Always wait: an image's own HEALTHCHECK counts, and a container
        // without one must at least keep running.
        let health = Some(step.wait);
        // After a build or pull: the image the replicas should run.
        let wanted = engine.image_id(&service.image).await?;
        for n in 1..=service.replicas {
            let current = existing
                .iter()
                .find(|c| c.labels.get(NUMBER_LABEL) == Some(&n.to_string()));
            let name = current.map_or_else(|| service.container(project, n), |c| c.name.clone());
            let spec = service.replica(&name, n);
            let unchanged = current.is_some_and(|c| is_current(c, service, n, wanted.as_ref()));
            if unchanged && !step.force {
                continue;
            }
            engine.replace(&spec, step.stop_grace, health).await?;
            output.line(
                OutputStream::Stdout,
                &format!("{}: {name} runs {}", service.name, service.image),
            );
        }
        // Replicas beyond the wanted count (scaled down) go.
        for surplus in existing.iter().filter(|c| {
            c.labels
                .get(NUMBER_LABEL)
                .and_then(|n| n.parse::<usize>().ok())
                .is_none_or(|n| n > service.replicas)
        }) {
            engine.stop(&surplus.name, step.stop_grace).await?;
            engine.remove(&surplus.name).await?;
        }
    }
    Ok(())
}

impl Kind for ComposeUp {
    const KIND: &'static str = "docker.compose";
}

#[async_trait]
impl Step for ComposeUp {
    fn describe(&self) -> Description {
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let Some(compose) = &self.compose else {
            let project = self.project.clone().unwrap_or_else(|| match &self.file {
                Place::Host(path) | Place::Here(path) => project_name_of(&path.to_string()),
            });
            let path = match &self.file {
                Place::Host(path) | Place::Here(path) => path,
            };
            let services = if self.services.is_empty() {
                "every service".to_owned()
            } else if self.deps {
                format!("{} (and what they depend on)", self.services.join(", "))
            } else {
                self.services.join(", ")
            };
            return Description::new(format!(
                "compose up {project} from {path} on the host: {services}"
            ))
            .field(
                "file",
                "on the host, read at run time (with the .env beside it)",
            )
            .field_opt("env", (!env.is_empty()).then(|| env.join(", ")))
            .field_opt(
                "force",
                self.force.then_some("recreate even when unchanged"),
            )
            .field_opt("pull", self.pulls())
            .field_opt(
                "strict",
                self.strict.then_some("refuse keys deploy does not apply"),
            )
            .field_opt("engine", self.engine.as_ref());
        };
        let services = self.selection(compose).unwrap_or_default();
        let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        let mut description = Description::new(format!(
            "compose up {} from {}: {}",
            compose.project,
            compose.path.display(),
            names.join(", ")
        ))
        .field_opt("env", (!env.is_empty()).then(|| env.join(", ")));
        for service in &services {
            let mut parts = vec![match &service.build {
                Some(b) => format!("build {} as {}", b.context.display(), service.image),
                None => service.image.clone(),
            }];
            if service.replicas != 1 {
                parts.push(format!("×{}", service.replicas));
            }
            if !service.spec.ports.is_empty() {
                let ports: Vec<String> =
                    service.spec.ports.iter().map(ToString::to_string).collect();
                parts.push(format!("ports {}", ports.join(" ")));
            }
            if !service.depends_on.is_empty() {
                parts.push(format!("after {}", service.depends_on.join(", ")));
            }
            description = description.field(service.name.clone(), parts.join(", "));
        }
        description
            .field_opt(
                "force",
                self.force.then_some("recreate even when unchanged"),
            )
            .field_opt("pull", self.pulls())
            .field_opt(
                "not applied",
                (!compose.ignored.is_empty()).then(|| compose.ignored.join(", ")),
            )
            .field_opt("engine", self.engine.as_ref())
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        // A pull is work the step must do to know: `apply` pulls, then
        // leaves alone what is up to date.
        if self.force || !self.pull.is_empty() {
            return Ok(false);
        }
        let compose = self.read(ctx).await?;
        let services = self.selection(&compose)?;
        let project = compose.project.clone();
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        for service in &services {
            if !service_state(&engine, &project, service).await?.1 {
                return Ok(false);
            }
        }
        self.note_running(ctx, &engine, &compose).await?;
        Ok(true)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let compose = self.read(ctx).await?;
        let services = self.selection(&compose)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        up(&engine, self, &compose.project, &services, ctx.output).await?;
        self.note_running(ctx, &engine, &compose).await?;
        Ok(Applied::done())
    }

    fn pin_images(&self, pins: &Pins<'_>) -> Pinned {
        if pins.images.is_empty() {
            return Pinned::Unchanged;
        }
        Pinned::Replaced(Arc::new(ComposeUp {
            pins: pins.images.to_vec(),
            ..self.clone()
        }))
    }
}
