//! Task parameters and variables as a user meets them on the command line:
//! required parameters, typed values, transforms, git built-ins, secrets
//! read only for the task that runs, and relative paths taken from the
//! config's directory. (Bad input is in `config_errors.rs`.)

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

fn deploy(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("deploy").expect("deploy binary");
    cmd.current_dir(dir).env_remove("DEPLOY_CONFIG");
    cmd
}

fn project(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deploy.toml"), config).expect("write config");
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    )
}

const REQUIRED: &str = r#"
default_environment = "here"

[environments.here]
transport = "local"
hosts = ["localhost"]

[tasks.ship]
description = "Ship an app"
params = { app = { required = true, description = "the app to ship" }, version = { default = "latest", description = "the image tag" }, slot = "blue" }
steps = [{ exec = { cmd = ["touch", "${config_dir}/shipped-${app}-${version}"] } }]
"#;

/// A run without a required parameter is refused before anything runs; with
/// it, the run goes ahead; `deploy tasks` shows it as required.
#[test]
fn required_parameters() {
    let dir = project(REQUIRED);
    let out = deploy(dir.path())
        .args(["run", "ship"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains(
            "deploy.toml:10:18: task `ship` needs the parameter `app` (the app to ship): give it as app=VALUE"
        ),
        "{}",
        show(&out)
    );
    let ran: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert_eq!(ran.len(), 1, "only deploy.toml: nothing ran");

    let out = deploy(dir.path())
        .args(["run", "ship", "app=shop"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(dir.path().join("shipped-shop-latest").is_file());

    let out = deploy(dir.path()).arg("tasks").output().expect("runs");
    assert_eq!(
        text(&out.stdout),
        "Tasks in deploy.toml:\n  ship    Ship an app\n          params:\n            app (required)  the app to ship\n            slot=blue\n            version=latest  the image tag\n(* the default task)\n"
    );
    let out = deploy(dir.path())
        .args(["tasks", "--json"])
        .output()
        .expect("runs");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        json[0]["params"][0],
        serde_json::json!({ "name": "app", "default": null, "required": true, "description": "the app to ship" })
    );
}
