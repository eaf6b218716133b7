//! Every step kind the `deploy` binary knows reports the name it was
//! registered under: each kind is parsed from an entry of the fixture
//! configs and its step's `kind()` compared with the name `deploy.toml`
//! used. A kind no fixture uses fails the test, so a new kind arrives with
//! an example.
//!
//! Run: `cargo test --test step_kinds`

use std::collections::BTreeSet;
use std::path::Path;

use deploy_core::StepRegistry;

fn registry() -> StepRegistry {
    let mut registry = StepRegistry::with_builtins();
    deploy_docker::register(&mut registry);
    registry
}

/// The kind an entry names and its table: `{ exec = {…} }` or the dotted
/// `{ docker.pull = {…} }` (TOML's `{ docker = { pull = {…} } }`).
fn kind_of(registry: &StepRegistry, entry: &toml::Table) -> Option<(String, toml::Value)> {
    let known: BTreeSet<&str> = registry.kinds().collect();
    for (key, value) in entry {
        if known.contains(key.as_str()) {
            return Some((key.clone(), value.clone()));
        }
        if let toml::Value::Table(inner) = value
            && let Some((sub, table)) = inner.iter().next()
            && known.contains(format!("{key}.{sub}").as_str())
        {
            return Some((format!("{key}.{sub}"), table.clone()));
        }
    }
    None
}

/// The entry with every `${…}` filled (the names are the config's
/// variables, which this test does not load): `http://app.test` where a
/// URL starts with one, `1` elsewhere.
fn filled(value: toml::Value) -> toml::Value {
    match value {
        toml::Value::String(text) if text.starts_with("${") && text.contains("}/") => {
            let rest = text.split_once('}').map_or("", |(_, after)| after);
            filled(toml::Value::String(format!("http://app.test{rest}")))
        }
        toml::Value::String(text) => {
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                rest = rest[start..].split_once('}').map_or("", |(_, after)| after);
                out.push('1');
            }
            out.push_str(rest);
            toml::Value::String(out)
        }
        toml::Value::Array(items) => toml::Value::Array(items.into_iter().map(filled).collect()),
        toml::Value::Table(table) => {
            toml::Value::Table(table.into_iter().map(|(k, v)| (k, filled(v))).collect())
        }
        other => other,
    }
}

/// Parses like the loader does a number or boolean field written as one
/// `${…}` (`tail = "${lines}"`): the field the kind refuses a string for
/// gets a `1` or `true` instead, and the kind is asked again. Relative
/// paths are the fixture's directory's, as the loader takes them.
fn parse_typed(
    registry: &StepRegistry,
    kind: &str,
    mut value: toml::Value,
    dir: &Path,
) -> Result<std::sync::Arc<dyn deploy_core::Step>, deploy_core::registry::RegistryError> {
    loop {
        let error = match registry.parse_in(kind, value.clone(), dir) {
            Ok(step) => return Ok(step),
            Err(error) => error,
        };
        let deploy_core::registry::RegistryError::Invalid { message, .. } = &error else {
            return Err(error);
        };
        let Some((what, path)) = message.split_once("\nin `") else {
            return Err(error);
        };
        if !what.starts_with("invalid type: string \"1\"") {
            return Err(error);
        }
        let mut slot = &mut value;
        for key in path.trim_end_matches('`').split('.') {
            slot = match slot.as_table_mut().and_then(|t| t.get_mut(key)) {
                Some(inner) => inner,
                None => return Err(error),
            };
        }
        *slot = if what.contains("boolean") {
            toml::Value::Boolean(true)
        } else {
            toml::Value::Integer(1)
        };
    }
}

/// `container = "web"` replaced by the `[containers.web]` table (with its
/// `name`), as the loader does for the kinds that take one.
fn with_container(mut body: toml::Value, containers: Option<&toml::Table>) -> toml::Value {
    let entry = body
        .get("container")
        .and_then(|c| c.as_str())
        .and_then(|name| Some((name.to_owned(), containers?.get(name)?.clone())));
    if let (Some((name, toml::Value::Table(mut definition))), toml::Value::Table(table)) =
        (entry, &mut body)
    {
        definition
            .entry("name")
            .or_insert(toml::Value::String(name));
        table.insert("container".into(), toml::Value::Table(definition));
    }
    body
}

#[test]
fn every_registered_kind_reports_its_registered_name() {
    let registry = registry();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy.toml"));
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read fixture");
        let config: toml::Table = toml::from_str(&text).expect("fixture is TOML");
        let Some(tasks) = config.get("tasks").and_then(|t| t.as_table()) else {
            continue;
        };
        let containers = config.get("containers").and_then(|c| c.as_table());
        for (task, body) in tasks {
            let steps = body.get("steps").and_then(|s| s.as_array());
            for entry in steps.into_iter().flatten().filter_map(|e| e.as_table()) {
                let Some((kind, table)) = kind_of(&registry, entry) else {
                    continue;
                };
                let dir = file.parent().expect("a fixture's directory");
                let table = with_container(table, containers);
                let step = parse_typed(&registry, &kind, filled(table), dir)
                    .unwrap_or_else(|e| panic!("{}: task `{task}`: {e}", file.display()));
                assert_eq!(
                    step.kind(),
                    kind,
                    "{}: task `{task}`: a `{kind}` entry made a step reporting `{}`",
                    file.display(),
                    step.kind()
                );
                seen.insert(kind);
            }
        }
    }
    let missing: Vec<&str> = registry.kinds().filter(|k| !seen.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "no fixture under tests/fixtures uses these kinds: {missing:?}"
    );
}

/// The kinds whose `container` names a `[containers]` entry are kinds the
/// binary knows (the loader's list cannot name a kind that is gone).
#[test]
fn the_kinds_taking_a_containers_entry_are_registered() {
    let registry = registry();
    for kind in deploy_core::config::CONTAINER_KINDS {
        assert!(
            registry.kinds().any(|k| k == *kind),
            "{kind} is not registered"
        );
    }
}
