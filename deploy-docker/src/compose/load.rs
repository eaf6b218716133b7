//! Reading a compose file and what it reads (its `.env`, its services'
//! `env_file`s): from this machine ([`ComposeFile::load`],
//! [`ComposeFile::load_with`]) or from a host through its [`Target`]
//! ([`ComposeFile::load_from`], when the step runs).
//!
//! Variables, the first that has the name wins: the values the deploy gives
//! (`env = { VERSION = "${version}" }`), then this machine's environment
//! (only for a file read here: a host's file is not read with the deploying
//! machine's environment), then the `.env` beside the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use deploy_core::Target;

use super::{ComposeFile, invalid, project_name};
use crate::error::DockerError;

/// `KEY=VALUE` lines of a `.env` (comments, blank lines and `export `
/// skipped, quotes around a value dropped).
fn dotenv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.trim_start_matches("export ").split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_owned(),
                v.trim().trim_matches(['"', '\'']).to_owned(),
            )
        })
        .collect()
}

/// Where `${VAR}` values come from, in order.
struct Vars<'a> {
    given: &'a BTreeMap<String, String>,
    process_env: bool,
    dotenv: BTreeMap<String, String>,
}

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.given
            .get(name)
            .cloned()
            .or_else(|| self.process_env.then(|| std::env::var(name).ok()).flatten())
            .or_else(|| self.dotenv.get(name).cloned())
    }
}

/// A host's name and a path there, for errors.
fn on_host(target: &dyn Target, path: &Path, message: impl std::fmt::Display) -> DockerError {
    DockerError::OnHost {
        host: target.name().to_owned(),
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

fn text_of(target: &dyn Target, path: &Path, bytes: Vec<u8>) -> Result<String, DockerError> {
    String::from_utf8(bytes).map_err(|_| on_host(target, path, "is not UTF-8 text"))
}

impl ComposeFile {
    /// Reads `path` here, with variables from the environment and then
    /// `.env` beside it; the project is `project` or the directory's name.
    pub fn load(path: &Path, project: Option<&str>) -> Result<ComposeFile, DockerError> {
        ComposeFile::load_with(path, project, &BTreeMap::new())
    }

    /// [`ComposeFile::load`] with `given` values winning over the
    /// environment and `.env`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use deploy_docker::compose::ComposeFile;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = dir.path().join("docker-compose.yml");
    /// std::fs::write(&file, "services:\n  web:\n    image: shop/web:${VERSION}\n").unwrap();
    /// std::fs::write(dir.path().join(".env"), "VERSION=latest\n").unwrap();
    /// let given = BTreeMap::from([("VERSION".to_owned(), "1.4.2".to_owned())]);
    /// let compose = ComposeFile::load_with(&file, Some("shop"), &given).unwrap();
    /// assert_eq!(compose.services[0].image, "shop/web:1.4.2");
    /// ```
    pub fn load_with(
        path: &Path,
        project: Option<&str>,
        given: &BTreeMap<String, String>,
    ) -> Result<ComposeFile, DockerError> {
        let source = std::fs::read_to_string(path).map_err(|e| invalid(path, e))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let vars = Vars {
            given,
            process_env: true,
            dotenv: dotenv(&std::fs::read_to_string(dir.join(".env")).unwrap_or_default()),
        };
        let project = project.map_or_else(|| project_name(path), str::to_owned);
        ComposeFile::parse(&source, path, &project, &|name| vars.get(name))
    }

    /// Reads `path` through `target` (on the host it names), with `given`
    /// values winning over the `.env` beside it there (the deploying
    /// machine's environment is not used: it is not the host's). The
    /// project is `project` or the directory's name; `env_file`s are read
    /// there too.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use deploy_core::LocalTarget;
    /// use deploy_docker::compose::ComposeFile;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::create_dir(dir.path().join("production")).unwrap();
    /// std::fs::write(dir.path().join("production/docker-compose.yml"), "services:\n  web:\n    image: shop/web:${VERSION}\n").unwrap();
    /// std::fs::write(dir.path().join("production/.env"), "VERSION=1.4.2\n").unwrap();
    /// let host = LocalTarget::new("web1").with_base_dir(dir.path());
    /// let compose = ComposeFile::load_from(&host, "production/docker-compose.yml", None, &BTreeMap::new(), false)
    ///     .await
    ///     .unwrap();
    /// assert_eq!((compose.project.as_str(), compose.services[0].image.as_str()), ("production", "shop/web:1.4.2"));
    /// # });
    /// ```
    pub async fn load_from(
        target: &dyn Target,
        path: &str,
        project: Option<&str>,
        given: &BTreeMap<String, String>,
        process_env: bool,
    ) -> Result<ComposeFile, DockerError> {
        let file = Path::new(path);
        let read = async |p: &Path| {
            target
                .read_file(&p.display().to_string())
                .await
                .map_err(|e| on_host(target, p, e))
        };
        let source = match read(file).await? {
            Some(bytes) => text_of(target, file, bytes)?,
            None => return Err(on_host(target, file, "no such file")),
        };
        let dir = file.parent().unwrap_or(Path::new(""));
        let env_path = dir.join(".env");
        let dotenv_text = match read(&env_path).await? {
            Some(bytes) => text_of(target, &env_path, bytes)?,
            None => String::new(),
        };
        let vars = Vars {
            given,
            process_env,
            dotenv: dotenv(&dotenv_text),
        };
        let project = project.map_or_else(|| project_name_of(path), str::to_owned);
        let vars = |name: &str| vars.get(name);
        // First which env_files the services name, then read them there.
        let wanted = {
            let wanted: Mutex<Vec<PathBuf>> = Mutex::default();
            let record = |p: &Path| {
                if let Ok(mut wanted) = wanted.lock() {
                    wanted.push(p.to_path_buf());
                }
                Ok(String::new())
            };
            ComposeFile::parse_with(&source, file, &project, &vars, &record)?;
            wanted.into_inner().unwrap_or_default()
        };
        let mut env_files = BTreeMap::new();
        for p in wanted {
            let text = match read(&p).await? {
                Some(bytes) => text_of(target, &p, bytes)?,
                None => return Err(on_host(target, &p, "no such env_file")),
            };
            env_files.insert(p, text);
        }
        let lookup = |p: &Path| {
            env_files
                .get(p)
                .cloned()
                .ok_or_else(|| on_host(target, p, "no such env_file"))
        };
        ComposeFile::parse_with(&source, file, &project, &vars, &lookup)
    }
}

/// Compose's default project for a file on a host: its directory's name
/// as written (`~/production/docker-compose.yml` → `production`).
///
/// # Examples
///
/// ```
/// assert_eq!(deploy_docker::compose::project_name_of("~/Production/docker-compose.yml"), "production");
/// ```
pub fn project_name_of(path: &str) -> String {
    Path::new(path)
        .parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}
