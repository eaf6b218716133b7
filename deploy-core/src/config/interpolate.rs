//! `${var}` interpolation of configuration values.
//!
//! Config variables (environment `vars`, task `params`, built-ins) are
//! filled in when the plan is built; run-time values (`${release}`,
//! `${host}`) and secrets (`${secret.NAME}`) are left for [`Text`](crate::Text)
//! to carry into the plan; `$${` stays escaped for the same reason.

use std::collections::{BTreeMap, BTreeSet};

use crate::text::RUNTIME_VALUES;

/// A `${name}` with no value, at a byte offset in the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum InterpolateError {
    Undefined { name: String, offset: usize },
    UndeclaredSecret { name: String, offset: usize },
    Unclosed { offset: usize },
}

pub(super) struct Variables<'a> {
    pub(super) values: &'a BTreeMap<String, String>,
    pub(super) secrets: &'a BTreeSet<String>,
}

/// The expression of a string that is exactly one `${…}`, trimmed.
pub(super) fn single_reference(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("${")?.strip_suffix('}')?;
    (!inner.contains('}') && !inner.contains("${")).then(|| inner.trim())
}

impl Variables<'_> {
    /// Fills in config variables, leaving run-time placeholders and escapes.
    pub(super) fn fill(&self, input: &str) -> Result<String, InterpolateError> {
        let mut out = String::with_capacity(input.len());
        let mut rest = input;
        let mut consumed = 0;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos..];
            let at = consumed + pos;
            if let Some(tail) = after.strip_prefix("$${") {
                out.push_str("$${");
                rest = tail;
                consumed = at + 3;
                continue;
            }
            let Some(tail) = after.strip_prefix("${") else {
                out.push('$');
                rest = &after[1..];
                consumed = at + 1;
                continue;
            };
            let end = tail
                .find('}')
                .ok_or(InterpolateError::Unclosed { offset: at })?;
            let name = tail[..end].trim();
            if let Some(secret) = name.strip_prefix("secret.") {
                if !self.secrets.contains(secret) {
                    return Err(InterpolateError::UndeclaredSecret {
                        name: secret.to_owned(),
                        offset: at,
                    });
                }
                out.push_str(&after[..end + 3]);
            } else if let Some(value) = self.values.get(name) {
                out.push_str(value);
            } else if RUNTIME_VALUES.contains(&name) {
                out.push_str(&after[..end + 3]);
            } else {
                return Err(InterpolateError::Undefined {
                    name: name.to_owned(),
                    offset: at,
                });
            }
            rest = &tail[end + 1..];
            consumed = at + end + 3;
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Fills every string inside a TOML value.
    pub(super) fn fill_value(&self, value: &mut toml::Value) -> Result<(), InterpolateError> {
        match value {
            toml::Value::String(s) => *s = self.fill(s)?,
            toml::Value::Array(items) => {
                for item in items {
                    self.fill_value(item)?;
                }
            }
            toml::Value::Table(table) => {
                for (_, item) in table.iter_mut() {
                    self.fill_value(item)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_vars_and_keeps_runtime_values_and_escapes() {
        let values = BTreeMap::from([("project".to_owned(), "pixel".to_owned())]);
        let secrets = BTreeSet::from(["db".to_owned()]);
        let vars = Variables {
            values: &values,
            secrets: &secrets,
        };
        assert_eq!(
            vars.fill("${project}/releases/${release} $${HOME} ${secret.db} $5")
                .as_deref(),
            Ok("pixel/releases/${release} $${HOME} ${secret.db} $5")
        );
        assert_eq!(
            vars.fill("x ${nope}"),
            Err(InterpolateError::Undefined {
                name: "nope".into(),
                offset: 2
            })
        );
        assert!(matches!(
            vars.fill("${secret.other}"),
            Err(InterpolateError::UndeclaredSecret { .. })
        ));
    }
}
