//! Reading compose's YAML values as compose does: scalars as text, word
//! lists, `KEY: value` or `KEY=value` pairs, durations.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_yaml_ng::Value;

/// A scalar as text (compose accepts numbers and booleans where it means text).
pub(super) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list of strings, or one string split like a shell would.
pub(super) fn words(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => shlex::split(s),
        Value::Sequence(items) => items.iter().map(text).collect(),
        _ => None,
    }
}

/// `KEY: value` mappings or `KEY=value` lists (compose allows both).
pub(super) fn pairs(
    value: &Value,
    from_env: &dyn Fn(&str) -> Option<String>,
) -> Option<BTreeMap<String, String>> {
    match value {
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                Some((
                    text(k)?,
                    if v.is_null() {
                        from_env(&text(k)?).unwrap_or_default()
                    } else {
                        text(v)?
                    },
                ))
            })
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|item| {
                let item = text(item)?;
                Some(match item.split_once('=') {
                    Some((k, v)) => (k.to_owned(), v.to_owned()),
                    None => (item.clone(), from_env(&item).unwrap_or_default()),
                })
            })
            .collect(),
        _ => None,
    }
}

pub(super) fn duration(value: &Value) -> Option<Duration> {
    deploy_core::duration::parse(&text(value)?).ok()
}
