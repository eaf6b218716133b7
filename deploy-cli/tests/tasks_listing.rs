//! `deploy tasks` as a user reads it: tasks with their parameters, each
//! default that uses `${…}` shown with what it resolves to when no run is
//! needed for that (built-ins, `[vars]`, an environment's `vars`, other
//! defaults), left as written with the reason when it is not; and the
//! environments with their hosts, transport, approval, rollout and
//! failure policy. `--json` carries the same.
//!
//! Run: `cargo test -p deploy-cli --test tasks_listing`

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

fn deploy(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("deploy").expect("deploy binary");
    cmd.current_dir(dir).env_remove("DEPLOY_CONFIG");
    cmd
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

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=CI", "-c", "user.email=ci@example.com"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

const CONFIG: &str = r#"
default_environment = "staging"

[secrets.token]
env = "DEPLOY_TEST_TOKEN"

[vars]
project = "pixel"

[environments.staging]
transport = "local"
hosts = ["localhost"]
vars = { url = "https://staging.pixel.example" }

[environments.production]
roles = { web = ["web1", "web2"], worker = ["jobs1"] }
approval = "required"
rollout = "one-by-one"
on_failure = "rollback"
concurrency = 8
vars = { url = "https://pixel.example" }

[tasks.deploy]
description = "Ship a version"
default = true
params = { image = "${project}-web", tag = "${git_branch_tag}", check = "${url}/health", dir = "/srv/${project}/${release}", pair = "${image}:${tag | default('dev')}", auth = "${secret.token}", version = "latest", where = "${environment}" }
steps = [{ exec = { cmd = ["echo", "${pair}"] } }]

[tasks.smoke]
params = { app = { required = true }, page = "${app}/health" }
steps = [{ exec = { cmd = ["true"] } }]
"#;

#[test]
fn defaults_are_resolved_where_no_run_is_needed_and_environments_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deploy.toml"), CONFIG).expect("write config");

    // Not a repository: `${git_branch_tag}` has no value here; what uses
    // it with a `default` still resolves.
    let out = deploy(dir.path()).arg("tasks").output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    let git_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("tag="))
        .unwrap_or_default()
        .to_owned();
    assert!(
        git_line.contains("tag=${git_branch_tag} (no value here: ")
            && git_line.contains("not inside a git repository"),
        "{stdout}"
    );
    let expected = format!(
        "Tasks in deploy.toml:
  deploy *      Ship a version
                params:
                  auth=${{secret.token}} (at run time)
                  check=${{url}}/health (differs per environment)
                  dir=/srv/${{project}}/${{release}} (at run time)
                  image=${{project}}-web = pixel-web
                  pair=${{image}}:${{tag | default('dev')}} = pixel-web:dev
{git_line}
                  version=latest
                  where=${{environment}} (differs per environment)
  smoke
                params:
                  app (required)
                  page=${{app}}/health (at run time)
Environments:
  production    3 hosts: web1 [web], web2 [web], jobs1 [worker]; ssh; approval required; rollout one-by-one; on_failure rollback; concurrency 8
  staging *     1 host: localhost; local
(* the default task or environment)
"
    );
    assert_eq!(stdout, expected);

    // With an environment chosen, its vars and `${environment}` resolve.
    git(dir.path(), &["init", "-q", "-b", "feature/rotate"]);
    git(dir.path(), &["add", "deploy.toml"]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    let out = deploy(dir.path())
        .args(["tasks", "production"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Tasks in deploy.toml (defaults for production):\n"),
        "{stdout}"
    );
    for line in [
        "check=${url}/health = https://pixel.example/health",
        "tag=${git_branch_tag} = feature-rotate",
        "pair=${image}:${tag | default('dev')} = pixel-web:feature-rotate",
        "where=${environment} = production",
        "dir=/srv/${project}/${release} (at run time)",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim() == line),
            "no line `{line}` in:\n{stdout}"
        );
    }

    // JSON: the same, tasks and environments.
    let out = deploy(dir.path())
        .args(["tasks", "staging", "--json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["environment"], "staging");
    let deploy_task = &json["tasks"][0];
    assert_eq!(deploy_task["name"], "deploy");
    assert_eq!(
        deploy_task["resolved"]["check"],
        serde_json::json!({ "value": "https://staging.pixel.example/health" })
    );
    assert_eq!(deploy_task["resolved"]["dir"], "at-run-time");
    assert!(
        deploy_task["resolved"].get("version").is_none(),
        "a default without `${{…}}` is its own value"
    );
    assert_eq!(
        json["environments"][0],
        serde_json::json!({
            "name": "production", "default": false, "transport": "ssh",
            "hosts": [
                { "name": "web1", "roles": ["web"] },
                { "name": "web2", "roles": ["web"] },
                { "name": "jobs1", "roles": ["worker"] },
            ],
            "approval": "required", "rollout": { "batches": 1 }, "on_failure": "rollback",
            "concurrency": 8,
        })
    );
    assert_eq!(
        json["environments"][1],
        serde_json::json!({
            "name": "staging", "default": true, "transport": "local",
            "hosts": [{ "name": "localhost", "roles": [] }],
            "approval": "none", "rollout": null, "on_failure": null, "concurrency": null,
        })
    );

    // An environment that does not exist is refused, exit 2.
    let out = deploy(dir.path())
        .args(["tasks", "prod"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("(did you mean `production`?)"),
        "{}",
        show(&out)
    );
}
