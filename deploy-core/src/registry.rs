//! Step kinds by name: how `deploy.toml` entries become typed steps.
//!
//! deploy-core registers its own kinds; deploy-docker registers `docker.*`; a
//! team's crate registers its own. The config loader only asks the registry,
//! so it knows no transport.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::step::{Kind, Step};
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
    /// Per kind, the fields naming paths on the deploying machine.
    local_paths: BTreeMap<String, Vec<String>>,
    /// Per kind, the keys its table accepts (when known).
    fields: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for StepRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.kinds.keys()).finish()
    }
}

/// Why a step table did not become a step.
///
/// # Examples
///
/// ```
/// use deploy_core::{StepRegistry, registry::RegistryError};
///
/// let empty = toml::Value::Table(Default::default());
/// let err = StepRegistry::with_builtins().parse("exce", empty).unwrap_err();
/// assert!(matches!(&err, RegistryError::UnknownKind { suggestion, .. } if suggestion == " (did you mean `exec`?)"));
/// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::StepRegistry;
    ///
    /// let registry = StepRegistry::new();
    /// assert_eq!(registry.kinds().count(), 0);
    /// ```
    pub fn new() -> Self {
        StepRegistry::default()
    }

    /// A registry with deploy-core's built-in kinds: `exec`, `sync`,
    /// `write-file`, `upload`, `set-env`, `symlink`, `http-check`,
    /// `approve`, `keep-releases`, `rollback-release`, `service`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::StepRegistry;
    ///
    /// let registry = StepRegistry::with_builtins();
    /// assert_eq!(registry.kinds().collect::<Vec<_>>(), [
    ///     "approve", "exec", "http-check", "keep-releases", "rollback-release",
    ///     "service", "set-env", "symlink", "sync", "upload", "write-file",
    /// ]);
    /// ```
    pub fn with_builtins() -> Self {
        let mut registry = StepRegistry::new();
        registry.register_serde::<steps::Exec>();
        registry.register_serde::<steps::Sync>();
        registry.register_serde::<steps::WriteFile>();
        registry.register_serde::<steps::Upload>();
        registry.register_serde::<steps::SetEnvVar>();
        registry.register_serde::<steps::Symlink>();
        registry.register_serde::<steps::HttpCheck>();
        registry.register_serde::<steps::Approve>();
        registry.register_serde::<steps::KeepReleases>();
        registry.register_serde::<steps::RollbackRelease>();
        registry.register_serde::<steps::Service>();
        registry.local_paths("sync", &["from"]);
        registry.local_paths("upload", &["from"]);
        registry
    }

    /// Declares that `fields` of `kind` name files or directories on the
    /// deploying machine (a sync's source, a build context): when a
    /// `deploy.toml` entry writes one as a relative path,
    /// [`parse_in`](Self::parse_in) takes it from the config's directory,
    /// not the working directory. A field may hold a path or a list of
    /// paths; absolute paths and `~/…` are left as written.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::StepRegistry;
    ///
    /// let mut registry = StepRegistry::with_builtins();
    /// registry.local_paths("exec", &["stdin_file"]);
    /// assert_eq!(registry.local_path_fields("sync"), ["from"]);
    /// assert_eq!(registry.local_path_fields("exec"), ["stdin_file"]);
    /// assert!(registry.local_path_fields("symlink").is_empty());
    /// ```
    pub fn local_paths(&mut self, kind: &str, fields: &[&str]) {
        self.local_paths
            .entry(kind.to_owned())
            .or_default()
            .extend(fields.iter().map(|f| (*f).to_owned()));
    }

    /// The fields of `kind` declared with [`local_paths`](Self::local_paths).
    ///
    /// # Examples
    ///
    /// ```
    /// let registry = deploy_core::StepRegistry::with_builtins();
    /// assert_eq!(registry.local_path_fields("sync"), ["from"]);
    /// ```
    pub fn local_path_fields(&self, kind: &str) -> &[String] {
        self.local_paths.get(kind).map_or(&[], Vec::as_slice)
    }

    /// Registers a kind with its own parser: a shorthand that builds steps
    /// of other kinds (which report their own kind names).
    ///
    /// # Examples
    ///
    /// A `restart = { service = "..." }` kind made of an existing step:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use deploy_core::{Step, StepRegistry, steps::Exec};
    ///
    /// let mut registry = StepRegistry::new();
    /// registry.register("restart", |value| {
    ///     let service = value.get("service").and_then(|s| s.as_str()).ok_or("missing `service`")?;
    ///     Ok(Arc::new(Exec::argv(["systemctl", "restart", service]).sudo()) as Arc<dyn Step>)
    /// });
    /// let table: toml::Table = toml::from_str(r#"service = "nginx""#).unwrap();
    /// let step = registry.parse("restart", table.into()).unwrap();
    /// assert_eq!(step.describe().summary, "$ systemctl restart nginx");
    /// ```
    pub fn register<F>(&mut self, kind: impl Into<String>, parse: F)
    where
        F: Fn(toml::Value) -> Result<Arc<dyn Step>, String> + Send + Sync + 'static,
    {
        self.kinds.insert(kind.into(), Arc::new(parse));
    }

    /// Registers a kind whose step deserializes straight from its table,
    /// under the name its [`Kind`] gives (the name the step reports).
    ///
    /// # Examples
    ///
    /// ```
    /// use async_trait::async_trait;
    /// use deploy_core::{Applied, Description, Step, StepContext, StepError, StepRegistry, step::Kind};
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Announce { channel: String }
    ///
    /// impl Kind for Announce { const KIND: &'static str = "announce"; }
    ///
    /// #[async_trait]
    /// impl Step for Announce {
    ///     fn describe(&self) -> Description { Description::new(format!("announce in #{}", self.channel)) }
    ///     async fn apply(&self, _: &StepContext<'_>) -> Result<Applied, StepError> { Ok(Applied::done()) }
    /// }
    ///
    /// let mut registry = StepRegistry::new();
    /// registry.register_serde::<Announce>();
    /// let table: toml::Table = toml::from_str(r#"channel = "deploys""#).unwrap();
    /// assert_eq!(registry.parse("announce", table.into()).unwrap().describe().summary, "announce in #deploys");
    /// ```
    pub fn register_serde<S>(&mut self)
    where
        S: Step + Kind + DeserializeOwned + 'static,
    {
        self.register(S::KIND, |value| {
            S::deserialize(value)
                .map(|s| Arc::new(s) as Arc<dyn Step>)
                .map_err(|e| e.to_string().trim().to_owned())
        });
        let fields = S::fields().or_else(|| struct_fields::<S>().map(<[_]>::to_vec));
        if let Some(fields) = fields {
            self.declare_fields(S::KIND, &fields);
        }
    }

    /// Declares the keys a table of `kind` accepts, replacing what was
    /// known: for a kind registered with its own parser
    /// ([`register`](Self::register)). [`register_serde`](Self::register_serde)
    /// declares them itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use deploy_core::{Step, StepRegistry, steps::Exec};
    ///
    /// let mut registry = StepRegistry::new();
    /// registry.register("restart", |_| Ok(Arc::new(Exec::argv(["true"])) as Arc<dyn Step>));
    /// assert_eq!(registry.fields("restart"), None);
    /// registry.declare_fields("restart", &["service"]);
    /// assert_eq!(registry.fields("restart"), Some(&["service".to_owned()][..]));
    /// ```
    pub fn declare_fields(&mut self, kind: &str, fields: &[&str]) {
        self.fields.insert(
            kind.to_owned(),
            fields.iter().map(|f| (*f).to_owned()).collect(),
        );
    }

    /// The keys a table of `kind` accepts, as declared (by
    /// [`register_serde`](Self::register_serde), from the step's serde
    /// struct or its [`Kind::fields`], or by
    /// [`declare_fields`](Self::declare_fields)); `None` when unknown.
    /// The keys every step entry has (`id`, `roles`, …) are not a kind's.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::StepRegistry;
    ///
    /// let registry = StepRegistry::with_builtins();
    /// assert_eq!(registry.fields("symlink"), Some(&["link".to_owned(), "to".to_owned()][..]));
    /// assert_eq!(registry.fields("no-such-kind"), None);
    /// ```
    pub fn fields(&self, kind: &str) -> Option<&[String]> {
        self.fields.get(kind).map(Vec::as_slice)
    }

    /// The registered kind names, sorted.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::StepRegistry;
    ///
    /// let registry = StepRegistry::with_builtins();
    /// assert_eq!(registry.kinds().take(2).collect::<Vec<_>>(), ["approve", "exec"]);
    /// ```
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }

    /// Turns a step table into a step of this kind.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::StepRegistry;
    ///
    /// let registry = StepRegistry::with_builtins();
    /// let table: toml::Table = toml::from_str(r#"link = "current""#).unwrap();
    /// let err = registry.parse("symlink", table.into()).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `symlink` step: missing field `to`");
    /// ```
    ///
    /// A dotted kind written as TOML writes it (`docker.pull = { … }` is the
    /// table `docker = { pull = { … } }`) is found by its dotted name:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use deploy_core::{Step, StepRegistry, steps::Symlink};
    ///
    /// let mut registry = StepRegistry::with_builtins();
    /// registry.register("files.symlink", |value| {
    ///     let step: Symlink = serde::Deserialize::deserialize(value).map_err(|e| e.to_string())?;
    ///     Ok(Arc::new(step) as Arc<dyn Step>)
    /// });
    /// let entry: toml::Table = toml::from_str(r#"files.symlink = { link = "current", to = "releases/1" }"#).unwrap();
    /// let step = registry.parse("files", entry["files"].clone()).unwrap();
    /// assert_eq!(step.kind(), "symlink");
    /// let typo: toml::Table = toml::from_str(r#"files.symlnk = { link = "current" }"#).unwrap();
    /// let err = registry.parse("files", typo["files"].clone()).unwrap_err().to_string();
    /// assert!(err.starts_with("unknown step kind `files.symlnk` (did you mean `files.symlink`?)"), "{err}");
    /// ```
    pub fn parse(&self, kind: &str, value: toml::Value) -> Result<Arc<dyn Step>, RegistryError> {
        if let Some((dotted, inner)) = self.dotted(kind, &value) {
            return self.parse(&dotted, inner);
        }
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

    /// `docker` + `{ pull = {…} }` as `docker.pull` + `{…}`, when `kind`
    /// is not itself registered and names a family of kinds.
    fn dotted(&self, kind: &str, value: &toml::Value) -> Option<(String, toml::Value)> {
        if self.kinds.contains_key(kind) {
            return None;
        }
        let prefix = format!("{kind}.");
        if let toml::Value::Table(table) = value
            && let (1, Some((sub, inner))) = (table.len(), table.iter().next())
            && self.kinds.keys().any(|k| k.starts_with(&prefix))
        {
            return Some((format!("{prefix}{sub}"), inner.clone()));
        }
        None
    }

    /// As [`parse`](Self::parse), with the kind's
    /// [local-path fields](Self::local_paths) that are relative taken from
    /// `dir` (the config's directory).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::StepRegistry;
    ///
    /// let registry = StepRegistry::with_builtins();
    /// let table: toml::Table = toml::from_str("from = \"./dist\"\nto = \"/srv/app\"").unwrap();
    /// let step = registry.parse_in("sync", table.into(), "/home/me/shop".as_ref()).unwrap();
    /// assert_eq!(step.describe().summary, "sync /home/me/shop/dist/ to /srv/app/");
    ///
    /// let table: toml::Table = toml::from_str("from = \"/opt/dist\"\nto = \"/srv/app\"").unwrap();
    /// let step = registry.parse_in("sync", table.into(), "/home/me/shop".as_ref()).unwrap();
    /// assert_eq!(step.describe().summary, "sync /opt/dist/ to /srv/app/");
    /// ```
    pub fn parse_in(
        &self,
        kind: &str,
        value: toml::Value,
        dir: &std::path::Path,
    ) -> Result<Arc<dyn Step>, RegistryError> {
        if let Some((dotted, inner)) = self.dotted(kind, &value) {
            return self.parse_in(&dotted, inner, dir);
        }
        let mut value = value;
        if let toml::Value::Table(table) = &mut value {
            for field in self.local_path_fields(kind) {
                match table.get_mut(field) {
                    Some(toml::Value::String(path)) => *path = from_dir(dir, path),
                    Some(toml::Value::Array(items)) => {
                        for item in items {
                            if let toml::Value::String(path) = item {
                                *path = from_dir(dir, path);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        self.parse(kind, value)
    }
}

/// The keys the struct `T` deserializes from, as serde's derive names them
/// (after `rename`s), or `None` when `T` does not read a plain struct
/// (`#[serde(flatten)]`, a map, an enum, a hand-written `Deserialize`
/// that asks for something else). A `#[serde(try_from = "Raw")]` or
/// `from` type gives `Raw`'s keys. Nothing is deserialized.
///
/// # Examples
///
/// ```
/// use deploy_core::registry::struct_fields;
///
/// #[derive(serde::Deserialize)]
/// struct Notify { channel: String, #[serde(rename = "message")] text: String }
///
/// assert_eq!(struct_fields::<Notify>(), Some(&["channel", "message"][..]));
/// assert_eq!(struct_fields::<std::collections::BTreeMap<String, String>>(), None);
/// ```
pub fn struct_fields<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    use serde::de::{self, Visitor};

    /// A deserializer that only notes the fields a struct asks for.
    struct Fields<'a>(&'a mut Option<&'static [&'static str]>);

    impl<'de> de::Deserializer<'de> for Fields<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = Some(fields);
            Err(de::Error::custom("fields noted"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields = None;
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// `path` taken from `dir` when it is relative (and not `~/…`, and not
/// already under `dir`, as `${config_dir}/dist` is), with `.` components
/// dropped.
fn from_dir(dir: &std::path::Path, path: &str) -> String {
    let relative = std::path::Path::new(path);
    if path.is_empty()
        || path.starts_with('~')
        || !relative.is_relative()
        || dir.as_os_str().is_empty()
        || dir == std::path::Path::new(".")
        || relative.starts_with(dir)
    {
        return path.to_owned();
    }
    let mut out = dir.to_path_buf();
    for part in relative.components() {
        if part != std::path::Component::CurDir {
            out.push(part);
        }
    }
    out.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::from_dir;
    use std::path::Path;

    #[test]
    fn relative_paths_are_taken_from_the_directory_once() {
        let dir = Path::new("/home/me/shop");
        assert_eq!(from_dir(dir, "dist"), "/home/me/shop/dist");
        assert_eq!(from_dir(dir, "./web/."), "/home/me/shop/web");
        assert_eq!(
            from_dir(dir, "../shared/.env"),
            "/home/me/shop/../shared/.env"
        );
        for kept in ["/opt/dist", "~/fonts", "", "/home/me/shop/dist"] {
            assert_eq!(from_dir(dir, kept), kept);
        }
        // A config directory given as a name (`with_config_dir("[repo]")`)
        // or `.` is not joined twice or for nothing.
        assert_eq!(from_dir(Path::new("[repo]"), "[repo]/dist"), "[repo]/dist");
        assert_eq!(from_dir(Path::new("."), "dist"), "dist");
    }
}
