//! Every command that reads prints JSON with a `schema_version` when asked
//! (`--json`): plan, tasks, releases, audit, status, logs; data on stdout
//! only. And `--color` takes auto, always or never.
//!
//! Run: `cargo test -p deploy-cli --test json_output`

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

fn deploy(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(dir)
        .env_remove("DEPLOY_CONFIG")
        .env("DEPLOY_STATE_DIR", dir.join(".state"))
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn reading_commands_print_versioned_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    std::fs::write(&log, "ready\n").expect("log");
    std::fs::create_dir_all(dir.path().join("site")).expect("site");
    std::fs::write(dir.path().join("site/index.html"), "v1").expect("index");
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            r#"[environments.e]
hosts = ["localhost"]
transport = "local"
logs = {{ app = "{log}" }}

[tasks.deploy]
steps = [
  {{ sync = {{ from = "site", to = "DIR/releases/${{release}}" }} }},
  {{ symlink = {{ link = "DIR/current", to = "DIR/releases/${{release}}" }} }},
]
"#,
            log = log.display()
        )
        .replace("DIR", &dir.path().display().to_string()),
    )
    .expect("config");
    let run = deploy(dir.path(), &["run", "e", "deploy", "--color", "never"]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    for args in [
        vec!["plan", "e", "deploy", "--json"],
        vec!["tasks", "--json"],
        vec!["releases", "e", "--json"],
        vec!["audit", "e", "--json"],
        vec!["status", "e", "--json"],
        vec!["logs", "e", "--json"],
    ] {
        let out = deploy(dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        // Pretty documents are one value; line-oriented ones one per line.
        let values: Vec<serde_json::Value> = match serde_json::from_str(&stdout) {
            Ok(one) => vec![one],
            Err(_) => stdout
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{args:?}: {e}: {l}")))
                .collect(),
        };
        assert!(!values.is_empty(), "{args:?} printed nothing");
        for value in &values {
            assert_eq!(value["schema_version"], 1, "{args:?}: {value}");
        }
    }
    let logs = deploy(dir.path(), &["logs", "e", "app", "--json"]);
    let line: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&logs.stdout).trim()).expect("one line");
    assert_eq!(
        (
            line["host"].as_str(),
            line["service"].as_str(),
            line["line"].as_str()
        ),
        (Some("localhost"), Some("app"), Some("ready"))
    );

    let bad = deploy(dir.path(), &["tasks", "--color", "sometimes"]);
    assert_eq!(bad.status.code(), Some(2));
    for when in ["auto", "always", "never"] {
        assert_eq!(
            deploy(dir.path(), &["tasks", "--color", when])
                .status
                .code(),
            Some(0)
        );
    }
}
