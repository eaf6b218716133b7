//! Registry credentials: `~/.docker/config.json` (or `$DOCKER_CONFIG`) as the
//! docker CLI writes it after `docker login`, plus any given in code or
//! config. They go to the engine in the `X-Registry-Auth` header only, and
//! never print (`Debug` lists registries, not secrets).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64ct::Encoding;
use bollard::auth::DockerCredentials;
use deploy_core::secret::Secret;

use crate::error::DockerError;

/// The index Docker Hub's credentials are filed under.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// Credentials by registry host.
///
/// # Examples
///
/// ```
/// use deploy_core::secret::Secret;
/// use deploy_docker::Credentials;
///
/// let mut creds = Credentials::default();
/// creds.insert("registry.example:5000", "ci", Secret::new("s3cret"));
/// assert!(!format!("{creds:?}").contains("s3cret"));
/// assert!(creds.for_registry(Some("registry.example:5000")).is_some());
/// assert!(creds.for_registry(Some("other.example")).is_none());
/// ```
#[derive(Clone, Default)]
pub struct Credentials {
    by_registry: BTreeMap<String, (String, Secret)>,
    /// Keys of the config file that are not applied (credsStore, credHelpers).
    pub unsupported: Vec<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("registries", &self.by_registry.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn normalize(registry: &str) -> String {
    let host = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    if host == "index.docker.io" || host == "docker.io" || host == "registry-1.docker.io" {
        DOCKER_HUB.to_owned()
    } else {
        host.to_owned()
    }
}

impl Credentials {
    /// Adds or replaces the login for a registry host.
    pub fn insert(&mut self, registry: &str, username: &str, password: Secret) {
        self.by_registry
            .insert(normalize(registry), (username.to_owned(), password));
    }

    /// The docker CLI's config file: `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => Some(PathBuf::from(dir).join("config.json")),
            None => std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".docker").join("config.json")),
        }
    }

    /// Reads the docker CLI's config (a missing file is no credentials).
    pub fn from_docker_config() -> Result<Credentials, DockerError> {
        match Credentials::default_path() {
            Some(path) => Credentials::from_file(&path),
            None => Ok(Credentials::default()),
        }
    }

    /// Reads a docker `config.json`: `auths.<registry>.auth` (base64
    /// `user:password`) or `username`/`password`.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = dir.path().join("config.json");
    /// std::fs::write(&file, r#"{"auths": {"127.0.0.1:5000": {"auth": "Y2k6czNjcmV0"}}, "credsStore": "pass"}"#).unwrap();
    /// let creds = deploy_docker::Credentials::from_file(&file).unwrap();
    /// assert!(creds.for_registry(Some("127.0.0.1:5000")).is_some());
    /// assert_eq!(creds.unsupported, ["credsStore"]);
    /// ```
    pub fn from_file(path: &Path) -> Result<Credentials, DockerError> {
        let bad = |message: String| DockerError::Local {
            path: path.display().to_string(),
            message,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Credentials::default());
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let mut credentials = Credentials::default();
        for key in ["credsStore", "credHelpers"] {
            if json.get(key).is_some() {
                credentials.unsupported.push(key.to_owned());
            }
        }
        let Some(auths) = json.get("auths").and_then(|a| a.as_object()) else {
            return Ok(credentials);
        };
        for (registry, entry) in auths {
            let field = |name: &str| entry.get(name).and_then(|v| v.as_str());
            let login = match (field("auth"), field("username"), field("password")) {
                (Some(auth), _, _) if !auth.is_empty() => {
                    let decoded = base64ct::Base64::decode_vec(auth)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .ok_or_else(|| bad(format!("auths.{registry}.auth is not base64")))?;
                    let (user, password) = decoded.split_once(':').ok_or_else(|| {
                        bad(format!("auths.{registry}.auth is not user:password"))
                    })?;
                    Some((user.to_owned(), password.to_owned()))
                }
                (_, Some(user), Some(password)) => Some((user.to_owned(), password.to_owned())),
                _ => None,
            };
            if let Some((user, password)) = login {
                credentials.insert(registry, &user, Secret::new(password));
            }
        }
        Ok(credentials)
    }

    /// The login for a registry host (`None` = Docker Hub).
    pub fn for_registry(&self, registry: Option<&str>) -> Option<DockerCredentials> {
        let key = normalize(registry.unwrap_or(DOCKER_HUB));
        let (username, password) = self.by_registry.get(&key)?;
        Some(DockerCredentials {
            username: Some(username.clone()),
            password: Some(password.expose().to_owned()),
            serveraddress: Some(key),
            ..Default::default()
        })
    }
}
