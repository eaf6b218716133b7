//! `docs/reference.md` documents every key `deploy.toml` accepts, and only
//! those, with an example that loads. For each section the keys of its
//! table are compared with the keys the code accepts there, read from the
//! code itself: the error a `deploy.toml` with an unknown key in that
//! section gets lists them (serde's `expected one of …`, or the step
//! entry's and task reference's own lists); `backup` is `postgres.backup`'s
//! fields and `on`. Each example is written into a small `deploy.toml`
//! (one environment `production`, host `web1` with role `web`, one task
//! `deploy`) and must load and plan; a `[containers]` example must also
//! give a `docker.recreate` step, a `backup` example a backup step.
//!
//! Run: `cargo test --test reference`

use std::collections::BTreeSet;

use deploy_core::{Config, StepRegistry};

const BASE_ENV: &str = "[environments.production]\nroles = { web = [\"web1\"] }\n";
const BASE_TASK: &str = "[tasks.deploy]\nsteps = [{ exec = { cmd = [\"true\"] } }]\n";
/// The secret a `backup` example's `password` names.
const SECRET: &str = "[secrets]\ndb_password = { env = \"DB_PASSWORD\" }\n";

fn registry() -> StepRegistry {
    let mut registry = StepRegistry::with_builtins();
    deploy_docker::register(&mut registry);
    registry
}

/// Each `## ` section of the reference: its title and its table's rows
/// (key, example), the key and example unwrapped from their backticks.
fn sections() -> Vec<(String, Vec<(String, String)>)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md"))
        .expect("docs/reference.md");
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            out.push((title.trim().to_owned(), Vec::new()));
        } else if line.starts_with("| `") {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            let unwrap = |cell: &str| cell.trim_matches('`').to_owned();
            let (key, example) = (unwrap(cells[0]), unwrap(cells[cells.len() - 1]));
            out.last_mut()
                .expect("a table under a section")
                .1
                .push((key, example));
        }
    }
    out
}

/// The backticked names in `text` after `after`.
fn names_after(text: &str, after: &str) -> BTreeSet<String> {
    let rest = text.split_once(after).map_or("", |(_, rest)| rest);
    rest.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The error loading (and planning) `config` gets.
fn error(config: &str) -> String {
    let config = match Config::parse("deploy.toml", ".", config) {
        Ok(config) => config,
        Err(e) => return e.to_string(),
    };
    match config.plan(Some("production"), Some("deploy"), &[], &registry()) {
        Ok(_) => panic!("a bogus key was accepted:\n{config:?}"),
        Err(e) => e.to_string(),
    }
}

/// The keys the code accepts in section `title`.
fn accepted(title: &str) -> BTreeSet<String> {
    let bogus = |config: &str| names_after(&error(config), "expected");
    match title {
        "Top level" => bogus("bogus = 1"),
        "`[ssh]`" => bogus("[ssh]\nbogus = 1"),
        "`[secrets]`" => bogus("[secrets]\ns = { bogus = 1 }"),
        "`[environments.NAME]`" => bogus(&format!("{BASE_ENV}bogus = 1\n{BASE_TASK}")),
        "`[tasks.NAME]`" => bogus("[tasks.t]\nbogus = 1"),
        "`params`" => bogus("[tasks.t]\nparams = { p = { bogus = 1 } }"),
        "`[ci]`" => bogus("[ci]\nbogus = 1"),
        "`[ci]` rules" => bogus(&format!(
            "[ci]\nrules = [{{ branch = \"x\", environment = \"production\", bogus = 1 }}]\n{BASE_ENV}{BASE_TASK}"
        )),
        "`[containers.NAME]`" => bogus(&format!(
            "{BASE_ENV}[containers.web]\nimage = \"i\"\nbogus = 1\n[tasks.deploy]\nsteps = [{{ docker.recreate = {{ container = \"web\" }} }}]\n"
        )),
        "Step entries" => {
            let said = error(&format!(
                "{BASE_ENV}[tasks.deploy]\nsteps = [{{ exec = {{ cmd = [\"x\"] }}, bogus = 1 }}]\n"
            ));
            let list = said.split_once("common keys: ").expect("the list").1;
            list.trim_end_matches(')')
                .split(", ")
                .map(str::to_owned)
                .collect()
        }
        "Task references" => {
            let said = error(&format!(
                "{BASE_ENV}{BASE_TASK}[tasks.t]\nsteps = [{{ task = \"deploy\", bogus = 1 }}]\n"
            ));
            let list = said.split_once("takes ").expect("the list").1;
            let list = list.split(", not").next().unwrap_or_default();
            list.split(", ").map(str::to_owned).collect()
        }
        "`backup`" => {
            let mut keys: BTreeSet<String> = registry()
                .fields("postgres.backup")
                .expect("postgres.backup's fields")
                .iter()
                .cloned()
                .collect();
            keys.insert("on".to_owned());
            keys
        }
        other => panic!("docs/reference.md: a section the test does not know: {other}"),
    }
}

/// A `deploy.toml` holding `example` where section `title` goes.
fn with_example(title: &str, example: &str) -> String {
    let env_body = if example.starts_with("hosts") || example.starts_with("roles") {
        format!("[environments.production]\n{example}\n")
    } else {
        format!("{BASE_ENV}{example}\n")
    };
    match title {
        "Top level" | "`[secrets]`" | "`[containers.NAME]`"
            if example.starts_with("environments") =>
        {
            format!("{example}\n{BASE_TASK}")
        }
        "Top level" if example.starts_with("tasks") => format!("{example}\n{BASE_ENV}"),
        "Top level" | "`[secrets]`" | "`[containers.NAME]`" => {
            format!("{example}\n{BASE_ENV}{BASE_TASK}")
        }
        "`[ssh]`" => format!("[ssh]\n{example}\n{BASE_ENV}{BASE_TASK}"),
        "`[environments.NAME]`" | "`backup`" => format!("{SECRET}{env_body}{BASE_TASK}"),
        "`[tasks.NAME]`" if example.starts_with("steps") => {
            format!("{BASE_ENV}[tasks.deploy]\n{example}\n")
        }
        "`[tasks.NAME]`" | "`params`" => format!("{BASE_ENV}{BASE_TASK}{example}\n"),
        "Step entries" => format!("{BASE_ENV}[tasks.deploy]\n{example}\n"),
        "Task references" => format!(
            "{BASE_ENV}[tasks.deploy]\nparams = {{ version = \"latest\" }}\nsteps = [{{ exec = {{ cmd = [\"true\"] }} }}]\n[tasks.ship]\n{example}\n"
        ),
        "`[ci]`" | "`[ci]` rules" => format!("[ci]\n{example}\n{BASE_ENV}{BASE_TASK}"),
        other => panic!("no template for {other}"),
    }
}

#[test]
fn every_key_is_documented_and_only_those() {
    let sections = sections();
    assert!(
        sections.len() >= 12,
        "the reference's sections: {sections:?}"
    );
    let mut wrong = Vec::new();
    for (title, rows) in &sections {
        let documented: BTreeSet<String> = rows.iter().map(|(key, _)| key.clone()).collect();
        let code = accepted(title);
        for key in code.difference(&documented) {
            wrong.push(format!("{title}: `{key}` is accepted but not documented"));
        }
        for key in documented.difference(&code) {
            wrong.push(format!("{title}: `{key}` is documented but not accepted"));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/reference.md drifted:\n{}",
        wrong.join("\n")
    );
}

/// Loads (and, but for a parameter, plans) one example's `deploy.toml`.
fn check_example(
    registry: &StepRegistry,
    title: &str,
    key: &str,
    text: &str,
) -> Result<(), String> {
    let config = Config::parse("deploy.toml", ".", text).map_err(|e| e.to_string())?;
    if title == "`params`" {
        // It declares what a run must give: planning it would ask.
        return Ok(());
    }
    let task = if title == "Task references" {
        "ship"
    } else {
        "deploy"
    };
    config
        .plan(Some("production"), Some(task), &[], registry)
        .map_err(|e| e.to_string())?;
    if title == "`[containers.NAME]`" {
        let with_step = text.replace(
            BASE_TASK,
            "[tasks.deploy]\nsteps = [{ docker.recreate = { container = \"web\" } }]\n",
        );
        Config::parse("deploy.toml", ".", &with_step)
            .map_err(|e| e.to_string())?
            .plan(Some("production"), Some("deploy"), &[], registry)
            .map_err(|e| e.to_string())?;
    }
    if title == "`backup`" || key == "backup" {
        let backup = config
            .backup(Some("production"))
            .map_err(|e| e.to_string())?;
        registry
            .parse("postgres.backup", backup.step)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn every_example_loads() {
    let registry = registry();
    let mut wrong = Vec::new();
    for (title, rows) in sections() {
        for (key, example) in rows {
            let config = with_example(&title, &example);
            if let Err(e) = check_example(&registry, &title, &key, &config) {
                wrong.push(format!(
                    "{title}: `{key}`'s example `{example}`:\n    {e}\n    in:\n{config}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "examples that do not load:\n{}",
        wrong.join("\n")
    );
}
