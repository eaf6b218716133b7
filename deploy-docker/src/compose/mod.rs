//! Compose files: a team's existing `docker-compose.yml` read into what the
//! engine should run, so deploy can bring it up (and replace services
//! without downtime) where `docker-compose` would.
//!
//! Read as compose reads it: `${VAR}`, `$VAR`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?error}`, `${VAR?error}` and `$$` in every string,
//! from the values the deploy gives (`env`), then the environment (for a
//! file on this machine), then the `.env` file beside the compose file; relative paths from the file's directory; named volumes and
//! networks prefixed with the project; each service reachable by its name on
//! its networks. Containers carry compose's own labels, so containers that
//! `docker-compose` created are recognised and replaced, not duplicated.
//! Keys deploy does not apply are listed in [`ComposeFile::ignored`], never
//! silently dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::container::ContainerSpec;
use crate::error::DockerError;

mod interpolate;
mod load;
mod parse;
mod value;

pub use interpolate::interpolate;
pub use load::project_name_of;

/// Compose's label for the project.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// Compose's label for the service.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";
/// Compose's label for the replica number.
pub const NUMBER_LABEL: &str = "com.docker.compose.container-number";

/// How a service's image is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeBuild {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile, relative to the context.
    pub dockerfile: String,
    /// Build arguments.
    pub args: BTreeMap<String, String>,
}

/// One service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeService {
    /// Its name.
    pub name: String,
    /// Its image (for a built service: the tag to give the build).
    pub image: String,
    /// How to build it, when it is built.
    pub build: Option<ComposeBuild>,
    /// Everything the container is created with (its name is per replica).
    pub spec: ContainerSpec,
    /// Services it starts after.
    pub depends_on: Vec<String>,
    /// How many containers (`deploy.replicas`).
    pub replicas: usize,
    /// A fixed container name (`container_name`).
    pub container_name: Option<String>,
}

/// A compose file, read.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    /// The project (containers, networks and volumes are named after it).
    pub project: String,
    /// The file.
    pub path: PathBuf,
    /// Its services, in dependency order.
    pub services: Vec<ComposeService>,
    /// Networks to create (project-prefixed), the default one included.
    pub networks: Vec<String>,
    /// Keys deploy does not apply, as `services.web.logging`.
    pub ignored: Vec<String>,
}

pub(crate) fn invalid(path: &Path, message: impl std::fmt::Display) -> DockerError {
    DockerError::Local {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Compose's default project name: the directory's name, lowercased, only
/// letters, digits, `-` and `_`.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// assert_eq!(deploy_docker::compose::project_name(Path::new("/srv/My Shop/docker-compose.yml")), "myshop");
/// ```
pub fn project_name(file: &Path) -> String {
    file.parent()
        .and_then(|d| d.canonicalize().ok().or_else(|| Some(d.to_path_buf())))
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

impl ComposeFile {
    /// The named services and, with `deps`, what they depend on, in order
    /// (all of them when `names` is empty).
    pub fn select(
        &self,
        names: &[String],
        deps: bool,
    ) -> Result<Vec<&ComposeService>, DockerError> {
        if names.is_empty() {
            return Ok(self.services.iter().collect());
        }
        let mut wanted: BTreeSet<&str> = BTreeSet::new();
        let mut todo: Vec<&str> = names.iter().map(String::as_str).collect();
        while let Some(name) = todo.pop() {
            let service = self
                .services
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| {
                    invalid(
                        &self.path,
                        format!(
                            "no service `{name}` (services: {})",
                            self.services
                                .iter()
                                .map(|s| s.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
            if wanted.insert(&service.name) && deps {
                todo.extend(service.depends_on.iter().map(String::as_str));
            }
        }
        Ok(self
            .services
            .iter()
            .filter(|s| wanted.contains(s.name.as_str()))
            .collect())
    }
}

impl ComposeService {
    /// The default name of replica `n` (compose v2's; a container compose
    /// already made keeps its own).
    pub fn container(&self, project: &str, n: usize) -> String {
        match &self.container_name {
            Some(name) if n == 1 => name.clone(),
            _ => format!("{project}-{}-{n}", self.name),
        }
    }

    /// The spec of replica `n` named `name`.
    pub fn replica(&self, name: &str, n: usize) -> ContainerSpec {
        let mut spec = self.spec.clone();
        spec.name = name.to_owned();
        spec.labels.insert(NUMBER_LABEL.to_owned(), n.to_string());
        spec
    }
}
