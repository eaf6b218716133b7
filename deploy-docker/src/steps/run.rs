//! `docker.run`: a command in a new, one-off container (`docker run --rm`),
//! from an image ("run the tests in the image") or from a compose service's
//! definition as `docker-compose run SERVICE CMD` makes it (its image, env,
//! volumes and networks, which are created if missing; no published ports,
//! no restart policy, its dependencies not started). Output is streamed as the step's output, a
//! non-zero exit fails the step with the tail of stdout and stderr, and the
//! container is removed afterwards unless `rm = false`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::text::Text;
use serde::Deserialize;

use super::{open_engine, resolve_all, shown};
use crate::compose::{ComposeFile, ComposeService, NUMBER_LABEL, PROJECT_LABEL, SERVICE_LABEL};
use crate::container::ContainerSpec;
use crate::error::DockerError;

/// Compose's label for one-off containers.
const COMPOSE_ONEOFF_LABEL: &str = "com.docker.compose.oneoff";

/// Runs a command in a one-off container.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::RunContainer;
///
/// let step: RunContainer = toml::from_str(r#"
///     image = "shop/web:${release}"
///     command = ["pytest", "-q"]
///     env = { DJANGO_SETTINGS_MODULE = "shop.settings.test" }
/// "#).unwrap();
/// assert_eq!(step.describe().summary, "run `pytest -q` in a one-off container from shop/web:{release}");
///
/// let err = toml::from_str::<RunContainer>("command = [\"true\"]").unwrap_err();
/// assert!(err.to_string().contains("name the `image`"), "{err}");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawRun")]
pub struct RunContainer {
    from: From,
    command: Option<Vec<Text>>,
    env: BTreeMap<String, Text>,
    volumes: Vec<Text>,
    networks: Vec<Text>,
    user: Option<Text>,
    workdir: Option<Text>,
    name: Option<Text>,
    rm: bool,
    init: bool,
    engine: Option<Text>,
}

/// What the container is made from.
#[derive(Clone, Debug)]
enum From {
    Image(Text),
    Service {
        compose: Box<ComposeFile>,
        service: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    image: Option<Text>,
    service: Option<String>,
    compose: Option<PathBuf>,
    project: Option<String>,
    command: Option<Vec<Text>>,
    #[serde(default)]
    env: BTreeMap<String, Text>,
    #[serde(default)]
    volumes: Vec<Text>,
    #[serde(default)]
    networks: Vec<Text>,
    user: Option<Text>,
    workdir: Option<Text>,
    name: Option<Text>,
    #[serde(default = "yes")]
    rm: bool,
    #[serde(default)]
    init: bool,
    engine: Option<Text>,
}

fn yes() -> bool {
    true
}

impl TryFrom<RawRun> for RunContainer {
    type Error = String;

    fn try_from(raw: RawRun) -> Result<Self, String> {
        let from = match (raw.image, raw.service, raw.compose) {
            (Some(_), Some(_), _) => {
                return Err("name the `image` or the compose `service`, not both".into());
            }
            (Some(_), None, Some(_)) => return Err("`compose` goes with `service`".into()),
            (Some(image), None, None) => {
                if raw.project.is_some() {
                    return Err("`project` goes with `service`".into());
                }
                From::Image(image)
            }
            (None, Some(_), None) => {
                return Err(
                    "`service` needs `compose`, the compose file that defines it (e.g. \
                     compose = \"docker-compose.yml\")"
                        .into(),
                );
            }
            (None, Some(service), Some(file)) => {
                let compose = ComposeFile::load(&file, raw.project.as_deref())
                    .map_err(|e| format!("compose: {e}"))?;
                compose
                    .select(std::slice::from_ref(&service), false)
                    .map_err(|e| format!("service: {e}"))?;
                From::Service {
                    compose: Box::new(compose),
                    service,
                }
            }
            (None, None, _) => {
                return Err(
                    "name the `image` to run (or a compose `service` with its `compose` file)"
                        .into(),
                );
            }
        };
        if raw.command.as_ref().is_some_and(Vec::is_empty) {
            return Err("command: an empty command (leave it out for the image's own)".into());
        }
        Ok(RunContainer {
            from,
            command: raw.command,
            env: raw.env,
            volumes: raw.volumes,
            networks: raw.networks,
            user: raw.user,
            workdir: raw.workdir,
            name: raw.name,
            rm: raw.rm,
            init: raw.init,
            engine: raw.engine,
        })
    }
}

impl RunContainer {
    /// Runs `command` in a one-off container from `image`, removed after.
    pub fn new<I, S>(image: &str, command: I) -> RunContainer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        RunContainer {
            from: From::Image(Text::from(image)),
            command: Some(
                command
                    .into_iter()
                    .map(|s| Text::from(s.as_ref()))
                    .collect(),
            ),
            env: BTreeMap::new(),
            volumes: Vec::new(),
            networks: Vec::new(),
            user: None,
            workdir: None,
            name: None,
            rm: true,
            init: false,
            engine: None,
        }
    }

    fn service(&self) -> Option<(&ComposeFile, &ComposeService)> {
        match &self.from {
            From::Image(_) => None,
            From::Service { compose, service } => compose
                .services
                .iter()
                .find(|s| &s.name == service)
                .map(|s| (compose.as_ref(), s)),
        }
    }

    /// The one-off's spec, every placeholder filled; `name` is its name.
    fn spec(&self, ctx: &StepContext<'_>, name: String) -> Result<ContainerSpec, StepError> {
        let mut spec = match (&self.from, self.service()) {
            (From::Image(image), _) => {
                let spec = ContainerSpec::new(name, ctx.resolve(image)?);
                crate::image::ImageRef::parse(&spec.image)?;
                spec
            }
            (From::Service { .. }, Some((compose, service))) => {
                // What `docker-compose run` keeps of the service.
                let mut spec = service.spec.clone();
                spec.name = name;
                spec.ports.clear();
                spec.restart = None;
                spec.aliases.clear();
                spec.labels.remove(SERVICE_LABEL);
                spec.labels.remove(NUMBER_LABEL);
                spec.labels
                    .insert(PROJECT_LABEL.to_owned(), compose.project.clone());
                spec.labels
                    .insert(COMPOSE_ONEOFF_LABEL.to_owned(), "True".to_owned());
                spec
            }
            (From::Service { service, .. }, None) => {
                return Err(DockerError::Invalid(format!("no compose service `{service}`")).into());
            }
        };
        if let Some(command) = &self.command {
            spec.command = Some(resolve_all(ctx, command)?);
        }
        for (key, value) in &self.env {
            spec.env.insert(key.clone(), ctx.resolve(value)?);
        }
        spec.volumes.extend(resolve_all(ctx, &self.volumes)?);
        spec.networks.extend(resolve_all(ctx, &self.networks)?);
        if let Some(user) = &self.user {
            spec.user = Some(ctx.resolve(user)?);
        }
        if let Some(workdir) = &self.workdir {
            spec.workdir = Some(ctx.resolve(workdir)?);
        }
        spec.init |= self.init;
        Ok(spec)
    }

    /// `name`, else compose's `PROJECT-SERVICE-run-XXXXXXXX` (for an image:
    /// its last path part, `web-run-XXXXXXXX`).
    fn container_name(&self, ctx: &StepContext<'_>) -> Result<String, StepError> {
        if let Some(name) = &self.name {
            return ctx.resolve(name);
        }
        let base = match (&self.from, self.service()) {
            (From::Image(image), _) => {
                let image = ctx.resolve(image)?;
                let repository = image.split('@').next().unwrap_or_default();
                let last = repository.rsplit('/').next().unwrap_or_default();
                let last = last.split(':').next().unwrap_or_default();
                let clean: String = last
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                    .collect();
                if clean.is_empty() {
                    "deploy".to_owned()
                } else {
                    clean
                }
            }
            (_, Some((compose, service))) => format!("{}-{}", compose.project, service.name),
            (_, None) => "deploy".to_owned(),
        };
        Ok(format!("{base}-run-{}", suffix()))
    }
}

/// Eight hex digits no other one-off of this machine is likely to have.
fn suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mixed = nanos
        ^ std::process::id().rotate_left(16)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9);
    format!("{mixed:08x}")
}

impl Kind for RunContainer {
    const KIND: &'static str = "docker.run";
}

#[async_trait]
impl Step for RunContainer {
    /// `command` is the container's argv, which `ps` on the host shows.
    fn secrets_in_argv(&self) -> Vec<&'static str> {
        if self.command.iter().flatten().any(Text::has_secret) {
            vec!["command"]
        } else {
            Vec::new()
        }
    }

    fn describe(&self) -> Description {
        let what = match &self.command {
            Some(command) => format!("`{}`", shown(command)),
            None => "the image's command".to_owned(),
        };
        let summary = match (&self.from, self.service()) {
            (From::Image(image), _) => format!("run {what} in a one-off container from {image}"),
            (From::Service { service, .. }, Some((compose, _))) => format!(
                "run {what} in a one-off container of compose service {service} ({})",
                compose.project
            ),
            (From::Service { service, .. }, None) => {
                format!("run {what} in a one-off container of compose service {service}")
            }
        };
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let texts = |items: &[Text]| (!items.is_empty()).then(|| shown(items));
        Description::new(summary)
            .field_opt(
                "service",
                self.service().map(|(compose, service)| {
                    format!(
                        "{} from {}: its env, volumes and networks; no ports, restart policy \
                         or dependencies",
                        service.image,
                        compose.path.display()
                    )
                }),
            )
            .field_opt("env", (!env.is_empty()).then(|| env.join(" ")))
            .field_opt("volumes", texts(&self.volumes))
            .field_opt("networks", texts(&self.networks))
            .field_opt("user", self.user.as_ref())
            .field_opt("workdir", self.workdir.as_ref())
            .field_opt("name", self.name.as_ref())
            .field_opt("init", self.init.then_some("Docker's init as PID 1"))
            .field(
                "afterwards",
                if self.rm {
                    "removed (rm = true)"
                } else {
                    "kept, stopped (rm = false)"
                },
            )
            .field_opt("engine", self.engine.as_ref())
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let name = self.container_name(ctx)?;
        let spec = self.spec(ctx, name)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        if let Some((_, service)) = self.service() {
            // As `docker-compose run` does: the project's networks exist.
            for network in &service.spec.networks {
                engine.ensure_network(network, "bridge").await?;
            }
        }
        let outcome = engine.run_once(&spec, self.rm, ctx.output).await?;
        if outcome.exit_code == 0 {
            return Ok(Applied::done());
        }
        let mask = |lines: Vec<String>| -> Vec<String> {
            lines.iter().map(|l| ctx.masker.mask(l)).collect()
        };
        let command = match &self.command {
            Some(command) => format!("`{}`", shown(command)),
            None => "the image's command".to_owned(),
        };
        Err(DockerError::Exited {
            host: engine.host().to_owned(),
            what: format!(
                "{command} in one-off container {} ({})",
                spec.name, spec.image
            ),
            code: outcome.exit_code,
            stdout_tail: mask(outcome.stdout_tail),
            stderr_tail: mask(outcome.stderr_tail),
        }
        .into())
    }
}
