//! Step entries of a task (`{ exec = {...}, roles = [...] }`) to planned
//! steps, and task composition.

use std::sync::Arc;

use toml::Spanned;
use toml::de::DeValue;

use super::Config;
use super::coerce;
use super::error::{ConfigError, ConfigErrorKind};
use super::interpolate::Variables;
use super::raw::RawEntry;
use crate::location::Location;
use crate::plan::{PlannedStep, Selector};
use crate::registry::{RegistryError, StepRegistry};

/// The keys a step entry may have besides its kind.
pub(super) const COMMON_KEYS: &[&str] = &[
    "id",
    "roles",
    "hosts",
    "local",
    "once",
    "barrier",
    "needs",
    "timeout",
    "retries",
    "backoff",
    "allow_failure",
    "when",
];

impl Config {
    /// One step entry to a planned step.
    pub(super) fn step(
        &self,
        task_name: &str,
        entry: &Spanned<RawEntry>,
        vars: &Variables<'_>,
        registry: &StepRegistry,
    ) -> Result<PlannedStep, ConfigError> {
        let start = entry.span().start;
        let entry_error = |message: String| self.error_at(start, ConfigErrorKind::Step(message));
        let kinds: Vec<(&Spanned<String>, &Spanned<toml::Value>)> = entry
            .get_ref()
            .iter()
            .filter(|(k, _)| !COMMON_KEYS.contains(&k.get_ref().as_str()))
            .collect();
        let (kind, body) = match kinds.as_slice() {
            [one] => *one,
            [] => {
                return Err(entry_error(format!(
                    "a step needs a kind (one of: {})",
                    registry.kinds().collect::<Vec<_>>().join(", ")
                )));
            }
            [_, second, ..] => {
                let names: Vec<&str> = kinds.iter().map(|(k, _)| k.get_ref().as_str()).collect();
                return Err(self.error_at(
                    second.0.span().start,
                    ConfigErrorKind::Step(format!(
                        "a step has exactly one kind; this one has {} (common keys: {})",
                        names.join(" and "),
                        COMMON_KEYS.join(", ")
                    )),
                ));
            }
        };
        let mut value = body.get_ref().clone();
        let candidates = coerce::candidates(&value);
        vars.fill_value(&mut value)
            .map_err(|e| self.interpolation_error(e, body.span().start, vars.values))?;
        let definition = self.expand_container(entry.get_ref(), &mut value, vars)?;
        let mut coerced = Vec::new();
        let step = loop {
            let error = match registry.parse_in(kind.get_ref(), value.clone(), &self.dir) {
                Ok(step) => break step,
                Err(error) => error,
            };
            if let RegistryError::Invalid {
                kind: name,
                message,
            } = &error
            {
                match coerce::coerce(&mut value, message, &candidates, &mut coerced) {
                    coerce::Coerced::Retry => continue,
                    coerce::Coerced::Refused { field, why } => {
                        let refused = RegistryError::Invalid {
                            kind: name.clone(),
                            message: format!("{why}\nin `{field}`"),
                        };
                        return Err(self
                            .container_error(&refused, definition.as_deref())
                            .unwrap_or_else(|| self.registry_error(refused, entry, kind, body)));
                    }
                    coerce::Coerced::NotMine => {}
                }
            }
            return Err(self
                .container_error(&error, definition.as_deref())
                .unwrap_or_else(|| self.registry_error(error, entry, kind, body)));
        };
        let mut planned = PlannedStep::from_arc(Arc::clone(&step))
            .task(task_name)
            .origin(Location::from_offset(&self.file, &self.source, start));
        for (key, value) in entry.get_ref() {
            let at = value.span().start;
            let invalid = |what: &str| {
                self.error_at(
                    at,
                    ConfigErrorKind::Step(format!("`{}` must be {what}", key.get_ref())),
                )
            };
            match key.get_ref().as_str() {
                "id" => planned.id = as_str(value.get_ref()).ok_or_else(|| invalid("a string"))?,
                "roles" => {
                    planned.on = Selector::Roles(
                        as_strings(value.get_ref()).ok_or_else(|| invalid("a list of roles"))?,
                    )
                }
                "hosts" => {
                    planned.on = Selector::Hosts(
                        as_strings(value.get_ref()).ok_or_else(|| invalid("a list of hosts"))?,
                    )
                }
                "local"
                    if value
                        .get_ref()
                        .as_bool()
                        .ok_or_else(|| invalid("true or false"))? =>
                {
                    planned.on = Selector::Local;
                }
                "once" => {
                    planned.once = value
                        .get_ref()
                        .as_bool()
                        .ok_or_else(|| invalid("true or false"))?
                }
                "barrier" => {
                    planned.barrier = value
                        .get_ref()
                        .as_bool()
                        .ok_or_else(|| invalid("true or false"))?
                }
                "allow_failure" => {
                    planned.allow_failure = value
                        .get_ref()
                        .as_bool()
                        .ok_or_else(|| invalid("true or false"))?
                }
                "needs" => {
                    planned.needs =
                        as_strings(value.get_ref()).ok_or_else(|| invalid("a list of step ids"))?
                }
                "timeout" => planned.timeout = Some(self.duration(key, value)?),
                "retries" => {
                    planned.retry.retries = value
                        .get_ref()
                        .as_integer()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| invalid("a number"))?
                }
                "backoff" => planned.retry.backoff = self.duration(key, value)?,
                _ => {}
            }
        }
        if planned.on == Selector::Local && planned.once {
            planned.once = false;
        }
        Ok(planned)
    }

    /// A common key's duration (`timeout`, `backoff`), read as every step
    /// kind reads its own.
    fn duration(
        &self,
        key: &Spanned<String>,
        value: &Spanned<toml::Value>,
    ) -> Result<std::time::Duration, ConfigError> {
        crate::duration::serde_req::deserialize(value.get_ref().clone()).map_err(|e| {
            self.error_at(
                value.span().start,
                ConfigErrorKind::Step(format!("step {}: {}", key.get_ref(), e.message())),
            )
        })
    }

    /// A kind that refused its table: the error points at the field it
    /// names (`in `interval`` from serde), else at the table, and says
    /// which field.
    fn registry_error(
        &self,
        error: RegistryError,
        entry: &Spanned<RawEntry>,
        kind: &Spanned<String>,
        body: &Spanned<toml::Value>,
    ) -> ConfigError {
        let (offset, message) = match &error {
            RegistryError::UnknownKind { .. } => (kind.span().start, error.to_string()),
            RegistryError::Invalid { kind, message } => match message.rsplit_once("\nin `") {
                Some((what, path)) => {
                    let path = path.trim_end_matches('`');
                    let offset =
                        field_offset(&self.source, entry.span(), &format!("{kind}.{path}"))
                            .unwrap_or(body.span().start);
                    (offset, format!("invalid `{kind}` step: {path}: {what}"))
                }
                None => (body.span().start, error.to_string()),
            },
        };
        self.error_at(offset, ConfigErrorKind::Step(message))
    }
}

/// Where the value at `path` (`http-check.healthcheck.interval`: the kind,
/// then the field) starts inside the step entry written at `span`, when the
/// field is found.
fn field_offset(source: &str, span: std::ops::Range<usize>, path: &str) -> Option<usize> {
    let text = source.get(span.clone())?;
    let mut at = DeValue::parse(text).ok()?;
    for key in path.split('.') {
        let DeValue::Table(table) = at.get_ref() else {
            return None;
        };
        let (_, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key)?;
        at = value.clone();
    }
    Some(span.start + at.span().start)
}
fn as_str(value: &toml::Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

pub(super) fn as_strings(value: &toml::Value) -> Option<Vec<String>> {
    match value {
        toml::Value::String(s) => Some(vec![s.clone()]),
        toml::Value::Array(items) => items.iter().map(as_str).collect(),
        _ => None,
    }
}

/// `{ task = "name" }` entries: the included task and the offset of its name.
pub(super) fn included_task(entry: &RawEntry) -> Option<(String, usize)> {
    entry.iter().find_map(|(k, v)| {
        (k.get_ref() == "task")
            .then(|| v.get_ref().as_str().map(|s| (s.to_owned(), v.span().start)))
            .flatten()
    })
}
