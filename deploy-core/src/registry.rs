//! Step kinds by name: how `deploy.toml` entries become typed steps.
//!
//! deploy-core registers its own kinds; deploy-docker registers `docker.*`; a
//! team's crate registers its own. The config loader only asks the registry,
//! so it knows no transport.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::step::Step;
use crate::steps;

type ParseFn = dyn Fn(toml::Value) -> Result<Arc<dyn Step>, String> + Send + Sync;

/// The step kinds `deploy.toml` may name.
///
/// # Examples
///
/// ```
/// use deploy_core::StepRegistry;
///
/// let registry = StepRegistry::with_builtins();
/// let value: toml::Value = toml::from_str::<toml::Table>(r#"cmd = ["uptime"]"#).unwrap().into();
/// let step = registry.parse("exec", value).unwrap();
/// assert_eq!(step.describe().summary, "$ uptime");
/// assert!(registry.kinds().any(|k| k == "set-env"));
/// ```
#[derive(Clone, Default)]
pub struct StepRegistry {
    kinds: BTreeMap<String, Arc<ParseFn>>,
}

impl std::fmt::Debug for StepRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.kinds.keys()).finish()
    }
}

/// Why a step table did not become a step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No such kind is registered.
    #[error("unknown step kind `{kind}`{suggestion} (known kinds: {})", known.join(", "))]
    UnknownKind {
        /// The kind asked for.
        kind: String,
        /// ` (did you mean `x`?)` or empty.
        suggestion: String,
        /// The registered kinds.
        known: Vec<String>,
    },
    /// The kind's parser refused the table.
    #[error("invalid `{kind}` step: {message}")]
    Invalid {
        /// The kind.
        kind: String,
        /// What was wrong.
        message: String,
    },
}

impl StepRegistry {
    /// A registry with no kinds.
    pub fn new() -> Self {
        StepRegistry::default()
    }

    /// A registry with deploy-core's built-in kinds: `exec`, `sync`,
    /// `write-file`, `set-env`, `symlink`, `http-check`, `approve`,
    /// `keep-releases`, `rollback-release`.
    pub fn with_builtins() -> Self {
        let mut registry = StepRegistry::new();
        registry.register_serde::<steps::Exec>("exec");
        registry.register_serde::<steps::Sync>("sync");
        registry.register_serde::<steps::WriteFile>("write-file");
        registry.register_serde::<steps::SetEnvVar>("set-env");
        registry.register_serde::<steps::Symlink>("symlink");
        registry.register_serde::<steps::HttpCheck>("http-check");
        registry.register_serde::<steps::Approve>("approve");
        registry.register_serde::<steps::KeepReleases>("keep-releases");
        registry.register_serde::<steps::RollbackRelease>("rollback-release");
        registry
    }

    /// Registers a kind with its own parser.
    pub fn register<F>(&mut self, kind: impl Into<String>, parse: F)
    where
        F: Fn(toml::Value) -> Result<Arc<dyn Step>, String> + Send + Sync + 'static,
    {
        self.kinds.insert(kind.into(), Arc::new(parse));
    }

    /// Registers a kind whose step deserializes straight from its table.
    pub fn register_serde<S>(&mut self, kind: impl Into<String>)
    where
        S: Step + DeserializeOwned + 'static,
    {
        self.register(kind, |value| {
            S::deserialize(value)
                .map(|s| Arc::new(s) as Arc<dyn Step>)
                .map_err(|e| e.to_string().trim().to_owned())
        });
    }

    /// The registered kind names, sorted.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }

    /// Turns a step table into a step of this kind.
    pub fn parse(&self, kind: &str, value: toml::Value) -> Result<Arc<dyn Step>, RegistryError> {
        let Some(parse) = self.kinds.get(kind) else {
            let known: Vec<String> = self.kinds.keys().cloned().collect();
            return Err(RegistryError::UnknownKind {
                kind: kind.to_owned(),
                suggestion: crate::suggest::did_you_mean(kind, known.iter().map(String::as_str)),
                known,
            });
        };
        parse(value).map_err(|message| RegistryError::Invalid {
            kind: kind.to_owned(),
            message,
        })
    }
}
