//! `[containers.NAME]`: a container defined once and used by many tasks
//! (`docker.recreate = { container = "web" }`), so a restart or a second
//! deploy task cannot leave out the env, volumes or secrets the first one
//! gave it.
//!
//! The loader knows nothing of a container's fields (the step kinds do): it
//! checks when the file loads that every reference names an entry, and when
//! the plan is built it replaces the name with the entry's table, `${…}`
//! filled in as in step bodies and `name` defaulting to NAME. A field the
//! kind then refuses is pointed at inside the entry.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::Config;
use super::error::{ConfigError, ConfigErrorKind};
use super::interpolate::Variables;
use super::raw::RawEntry;
use crate::registry::RegistryError;
use crate::suggest::did_you_mean;

/// The step kinds whose `container = "NAME"` names a `[containers]` entry
/// (deploy-docker's; elsewhere `container` keeps its kind's meaning, as in
/// `docker.exec`, where it names a running container).
pub const CONTAINER_KINDS: &[&str] = &[
    "docker.recreate",
    "docker.ensure-running",
    "docker.blue-green",
    "docker.restart",
];

/// The field a step names its entry with.
const KEY: &str = "container";

/// A step entry's kind (one of [`CONTAINER_KINDS`]), its body, and the
/// TOML path to the body inside the entry (`docker`, `recreate`).
fn container_kind(entry: &RawEntry) -> Option<(String, &toml::Value, Vec<String>)> {
    for (key, value) in entry {
        let key = key.get_ref();
        if CONTAINER_KINDS.contains(&key.as_str()) {
            return Some((key.clone(), value.get_ref(), vec![key.clone()]));
        }
        if let toml::Value::Table(inner) = value.get_ref()
            && let (1, Some((sub, body))) = (inner.len(), inner.iter().next())
        {
            let kind = format!("{key}.{sub}");
            if CONTAINER_KINDS.contains(&kind.as_str()) {
                return Some((kind, body, vec![key.clone(), sub.clone()]));
            }
        }
    }
    None
}

/// Where the value at `path` starts in `text` (a TOML document, or with
/// `value` an inline value), offset by `base`.
fn offset(text: &str, base: usize, path: &[String], value: bool) -> Option<usize> {
    let mut at: Spanned<DeValue<'_>> = if value {
        DeValue::parse(text).ok()?
    } else {
        let table = DeTable::parse(text).ok()?;
        let span = table.span();
        Spanned::new(span, DeValue::Table(table.into_inner()))
    };
    for key in path {
        let next = match key.parse::<usize>() {
            Ok(index) => at.get_ref().get(index),
            Err(_) => at.get_ref().get(key.as_str()),
        };
        at = next?.clone();
    }
    Some(base + at.span().start)
}

impl Config {
    /// The container name a `[containers.NAME]` entry gives (its `name`
    /// key as written), if there is such an entry.
    ///
    /// # Examples
    ///
    /// ```
    /// let toml = "[containers.web]\nname = \"shop-web\"\nimage = \"shop/web:1\"\n";
    /// let config = deploy_core::Config::parse("deploy.toml", ".", toml).unwrap();
    /// assert_eq!(config.container_name("web").as_deref(), Some("shop-web"));
    /// assert_eq!(config.container_name("db"), None);
    /// ```
    pub fn container_name(&self, entry: &str) -> Option<String> {
        self.raw
            .containers
            .get(entry)?
            .get_ref()
            .get("name")?
            .as_str()
            .map(str::to_owned)
    }

    fn container_names(&self) -> Vec<&str> {
        self.raw.containers.keys().map(String::as_str).collect()
    }

    /// Every `container = "NAME"` of a kind in [`CONTAINER_KINDS`] names a
    /// `[containers]` entry (checked when the file loads, for every task).
    pub(super) fn check_containers(&self) -> Result<(), ConfigError> {
        for task in self.raw.tasks.values() {
            for entry in &task.get_ref().steps {
                let Some((_, body, path)) = container_kind(entry.get_ref()) else {
                    continue;
                };
                let Some(reference) = body.get(KEY) else {
                    continue;
                };
                let mut path = path;
                path.push(KEY.to_owned());
                let span = entry.span();
                let at = self
                    .source
                    .get(span.clone())
                    .and_then(|text| offset(text, span.start, &path, true))
                    .unwrap_or(span.start);
                let Some(name) = reference.as_str() else {
                    return Err(self.error_at(
                        at,
                        ConfigErrorKind::Step(format!(
                            "`{KEY}` names a [containers] entry: a string such as \"web\", not {}",
                            reference.type_str()
                        )),
                    ));
                };
                if !self.raw.containers.contains_key(name) {
                    let known = self.container_names();
                    return Err(self.error_at(
                        at,
                        ConfigErrorKind::UndefinedContainer {
                            name: name.to_owned(),
                            suggestion: did_you_mean(name, known.iter().copied()),
                            known: if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            },
                        },
                    ));
                }
            }
        }
        Ok(())
    }

    /// For a kind in [`CONTAINER_KINDS`] whose body names an entry: puts
    /// the entry's table (its `${…}` filled, `name` defaulting to its key)
    /// in place of the name, and returns the entry's name.
    pub(super) fn expand_container(
        &self,
        entry: &RawEntry,
        body: &mut toml::Value,
        vars: &Variables<'_>,
    ) -> Result<Option<String>, ConfigError> {
        let Some((_, _, path)) = container_kind(entry) else {
            return Ok(None);
        };
        // `body` is the entry's value under `path[0]` (for `docker.recreate`
        // written dotted: `{ recreate = {…} }`).
        let mut body = body;
        for key in &path[1..] {
            let Some(inner) = body.get_mut(key.as_str()) else {
                return Ok(None);
            };
            body = inner;
        }
        let Some(name) = body
            .get(KEY)
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
        else {
            return Ok(None);
        };
        let Some(definition) = self.raw.containers.get(&name) else {
            // Checked at load time; kept for a config built some other way.
            return Err(ConfigError::new(ConfigErrorKind::UndefinedContainer {
                suggestion: did_you_mean(&name, self.container_names()),
                known: self.container_names().join(", "),
                name,
            }));
        };
        let mut table = toml::Value::Table(definition.get_ref().clone());
        vars.fill_value(&mut table)
            .map_err(|e| self.interpolation_error(e, definition.span().start, vars.values))?;
        if let toml::Value::Table(fields) = &mut table {
            fields
                .entry("name")
                .or_insert_with(|| toml::Value::String(name.clone()));
        }
        if let toml::Value::Table(fields) = body {
            fields.insert(KEY.to_owned(), table);
        }
        Ok(Some(name))
    }

    /// A kind's error about a field of the entry `definition` (its path
    /// starts `container.`): pointed at that field in `[containers.NAME]`.
    pub(super) fn container_error(
        &self,
        error: &RegistryError,
        definition: Option<&str>,
    ) -> Option<ConfigError> {
        let definition = definition?;
        let RegistryError::Invalid { kind, message } = error else {
            return None;
        };
        let (what, path) = message.rsplit_once("\nin `")?;
        let path = path.trim_end_matches('`');
        let field = match path.strip_prefix("container") {
            Some("") => None,
            Some(rest) => Some(rest.strip_prefix('.')?),
            None => return None,
        };
        let mut keys = vec!["containers".to_owned(), definition.to_owned()];
        keys.extend(
            field
                .into_iter()
                .flat_map(|f| f.split('.'))
                .map(str::to_owned),
        );
        let start = self.raw.containers.get(definition)?.span().start;
        let at = offset(&self.source, 0, &keys, false).unwrap_or(start);
        let field = field.map(|f| format!(" {f}")).unwrap_or_default();
        Some(self.error_at(
            at,
            ConfigErrorKind::Step(format!(
                "invalid `{kind}` step: [containers.{definition}]{field}: {what}"
            )),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn error(source: &str) -> String {
        Config::parse("deploy.toml", ".", source)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_reference_to_no_entry_is_refused_where_it_is_written() {
        let source = "[containers.web]\nimage = \"shop/web:1\"\n[containers.worker]\nimage = \"shop/web:1\"\n\
                      [tasks.t]\nsteps = [\n  { docker.restart = { container = \"webb\" } },\n]\n";
        assert_eq!(
            error(source),
            "deploy.toml:7:36: unknown container `webb` (did you mean `web`?): no [containers] entry defines it (containers: web, worker)"
        );
        let quoted = source.replace("docker.restart = {", "\"docker.recreate\" = {");
        assert!(error(&quoted).starts_with("deploy.toml:7:39: unknown container `webb`"));
        assert!(Config::parse("deploy.toml", ".", &source.replace("webb", "web")).is_ok());
        let none = "[tasks.t]\nsteps = [{ docker.ensure-running = { container = \"web\" } }]\n";
        assert!(
            error(none).ends_with("(containers: none)"),
            "{}",
            error(none)
        );
        let table =
            "[tasks.t]\nsteps = [{ docker.recreate = { container = { image = \"x\" } } }]\n";
        assert!(error(table).contains("`container` names a [containers] entry"));
    }

    #[test]
    fn other_kinds_keep_their_own_container_field() {
        let exec = "[tasks.t]\nsteps = [{ docker.exec = { container = \"shop-web\", cmd = [\"true\"] } }]\n";
        assert!(Config::parse("deploy.toml", ".", exec).is_ok());
    }
}
