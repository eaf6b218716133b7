//! A container step's table, split into the container's settings and the
//! step's own: written inline (`docker.recreate = { name, image, …, force }`)
//! or taken from a `[containers.NAME]` entry, which the `deploy.toml`
//! loader puts under `container` in place of the name.
//!
//! Beside `container` only the step's own fields may be written: a
//! container field there is refused, never merged or dropped, so one entry
//! is the one place its env, volumes and secrets are said.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::ContainerConfig;

/// Every field of [`ContainerConfig`] (a test checks it against serde's).
pub(crate) const CONTAINER_FIELDS: &[&str] = &[
    "name",
    "image",
    "command",
    "env",
    "env_file",
    "ports",
    "volumes",
    "networks",
    "aliases",
    "labels",
    "restart",
    "healthcheck",
    "version",
    "init",
    "user",
    "workdir",
    "wait",
    "stop_grace",
    "engine",
];

/// The container's settings and the step's own fields `T`.
pub(crate) struct Split<T> {
    pub(crate) container: ContainerConfig,
    pub(crate) own: T,
    /// True when the settings came from a `[containers]` entry.
    pub(crate) defined: bool,
}

/// `message` (serde's, maybe ending "\nin `path`") about a field under
/// `prefix`.
pub(crate) fn nested(message: &str, prefix: &str) -> String {
    match message.rsplit_once("\nin `") {
        Some((what, path)) => format!("{what}\nin `{prefix}.{path}"),
        None => format!("{message}\nin `{prefix}`"),
    }
}

/// The entry's settings from `container` (a table, as the loader puts
/// it), or `None` when the step has no `container`.
pub(crate) fn definition(table: &mut toml::Table) -> Result<Option<ContainerConfig>, String> {
    match table.remove("container") {
        None => Ok(None),
        Some(toml::Value::Table(fields)) => {
            ContainerConfig::deserialize(toml::Value::Table(fields))
                .map(Some)
                .map_err(|e| nested(e.to_string().trim(), "container"))
        }
        Some(toml::Value::String(name)) => Err(format!(
            "container `{name}`: `container` names a [containers] entry of deploy.toml, \
             which fills it in (outside deploy.toml, write the container's fields)\nin `container`"
        )),
        Some(other) => Err(format!(
            "`container` names a [containers] entry, not {}\nin `container`",
            other.type_str()
        )),
    }
}

/// Refuses a container field written beside `container`.
pub(crate) fn refuse_beside(table: &toml::Table, own: &[&str]) -> Result<(), String> {
    match table
        .keys()
        .find(|k| CONTAINER_FIELDS.contains(&k.as_str()) && !own.contains(&k.as_str()))
    {
        Some(key) => Err(format!(
            "`{key}` cannot go beside `container`: a step that names a [containers] entry takes \
             the container's settings from the entry alone (set `{key}` there){}\nin `{key}`",
            if own.is_empty() {
                " and has no fields of its own".to_owned()
            } else {
                format!("; beside `container` go only: {}", own.join(", "))
            }
        )),
        None => Ok(()),
    }
}

/// Splits a step's table: `own` names the step's own fields (read as `T`,
/// which refuses unknown ones), the rest is the container.
pub(crate) fn split<T: DeserializeOwned>(
    value: toml::Value,
    own: &[&str],
) -> Result<Split<T>, String> {
    let toml::Value::Table(mut table) = value else {
        return Err(format!("expected a table, not {}", value.type_str()));
    };
    let error = |e: toml::de::Error| e.to_string().trim().to_owned();
    if let Some(container) = definition(&mut table)? {
        refuse_beside(&table, own)?;
        let own = T::deserialize(toml::Value::Table(table)).map_err(error)?;
        return Ok(Split {
            container,
            own,
            defined: true,
        });
    }
    let (mine, rest): (toml::Table, toml::Table) = table
        .into_iter()
        .partition(|(k, _)| own.contains(&k.as_str()));
    Ok(Split {
        container: ContainerConfig::deserialize(toml::Value::Table(rest)).map_err(error)?,
        own: T::deserialize(toml::Value::Table(mine)).map_err(error)?,
        defined: false,
    })
}

/// The keys a kind that takes container fields accepts: the container's
/// (less `refused`), `container` (a `[containers]` entry) and its `own`
/// (for the README's field tables and `deploy tasks`).
pub(crate) fn fields_with(own: &[&'static str], refused: &[&str]) -> Option<Vec<&'static str>> {
    let container = deploy_core::registry::struct_fields::<ContainerConfig>()?;
    let mut keys: Vec<&'static str> = container
        .iter()
        .copied()
        .filter(|key| !refused.contains(key))
        .chain(own.iter().copied())
        .chain(["container"])
        .collect();
    keys.sort_unstable();
    keys.dedup();
    Some(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_list_is_serdes() {
        let err = toml::from_str::<ContainerConfig>("zzz = 1").expect_err("unknown field");
        let message = err.to_string();
        let listed: Vec<&str> = message
            .split_once("expected one of ")
            .map(|(_, list)| list)
            .unwrap_or_default()
            .split(", ")
            .map(|f| f.trim().trim_matches('`'))
            .map(|f| f.split('`').next().unwrap_or_default())
            .collect();
        assert_eq!(listed, CONTAINER_FIELDS, "{message}");
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Own {
        #[serde(default)]
        force: bool,
    }

    fn table(text: &str) -> toml::Value {
        toml::Value::Table(toml::from_str(text).expect("toml"))
    }

    #[test]
    fn a_definition_takes_only_the_steps_own_fields_beside_it() {
        let first: Split<Own> = split(
            table("force = true\ncontainer = { name = \"web\", image = \"shop/web:1\" }\n"),
            &["force"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(first.defined && first.own.force);
        assert_eq!(first.container.name.to_string(), "web");

        let beside = split::<Own>(
            table("env = { A = \"1\" }\ncontainer = { name = \"web\", image = \"shop/web:1\" }\n"),
            &["force"],
        )
        .err()
        .unwrap_or_default();
        assert!(
            beside.starts_with("`env` cannot go beside `container`")
                && beside.contains("beside `container` go only: force")
                && beside.ends_with("\nin `env`"),
            "{beside}"
        );

        let bad = split::<Own>(
            table("container = { name = \"web\", image = \"shop/web:1\", wait = \"soon\" }\n"),
            &["force"],
        )
        .err()
        .unwrap_or_default();
        assert!(bad.ends_with("\nin `container.wait`"), "{bad}");
        let missing = split::<Own>(table("container = { name = \"web\" }\n"), &["force"])
            .err()
            .unwrap_or_default();
        assert!(
            missing.starts_with("missing field `image`") && missing.ends_with("\nin `container`"),
            "{missing}"
        );
    }

    #[test]
    fn inline_fields_split_into_container_and_own() {
        let inline: Split<Own> = split(
            table("name = \"web\"\nimage = \"shop/web:1\"\nforce = true\n"),
            &["force"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(!inline.defined && inline.own.force);
    }
}
