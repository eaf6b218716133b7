//! Task parameters and variables as a user meets them on the command line:
//! required parameters, typed values, transforms, git built-ins, secrets
//! read only for the task that runs, and relative paths taken from the
//! config's directory. (Bad input is in `config_errors.rs`.)

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

fn deploy(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("deploy").expect("deploy binary");
    // The deploy lock lives beside the directory, not in it (a test below
    // checks that nothing lands in the working directory).
    let mut state = dir.as_os_str().to_owned();
    state.push(".state");
    cmd.current_dir(dir)
        .env_remove("DEPLOY_CONFIG")
        .env("DEPLOY_STATE_DIR", state);
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
        "Tasks in deploy.toml:\n  ship    Ship an app\n          params:\n            app (required)  the app to ship\n            slot=blue\n            version=latest  the image tag\nEnvironments:\n  here *  1 host: localhost; local\n(* the default task or environment)\n"
    );
    let out = deploy(dir.path())
        .args(["tasks", "--json"])
        .output()
        .expect("runs");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        json["tasks"][0]["params"][0],
        serde_json::json!({ "name": "app", "default": null, "required": true, "description": "the app to ship" })
    );
}

/// Runs git in `dir` (fixed identity and dates).
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

const GIT: &str = r#"
default_environment = "here"

[environments.here]
transport = "local"
hosts = ["localhost"]

[vars]
image = "pixel/web:${git_branch | sanitize_tag}"
unused = "${git_tag}"

[tasks.stamp]
steps = [{ write-file = { path = "${config_dir}/stamp", content = "${git_commit} ${git_short_commit} ${git_tag}\n" } }]

[tasks.branch]
steps = [{ exec = { cmd = ["echo", "${git_branch}"] } }]

[tasks.image]
steps = [{ exec = { cmd = ["echo", "${image}"] } }]

[tasks.tagged]
steps = [{ exec = { cmd = ["echo", '${git_tag | default("untagged")}', "${task}"] } }]
"#;

/// `${git_commit}`, `${git_short_commit}`, `${git_tag}` from a real
/// repository; on a detached HEAD (a CI tag build) `${git_branch}` is an
/// error where it is used, naming it and why, and only there.
#[test]
fn git_built_ins() {
    let dir = project(GIT);
    // Not a repository yet: tasks that use no git value still plan.
    let out = deploy(dir.path())
        .args(["plan", "tagged"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        text(&out.stdout).contains("$ echo untagged tagged"),
        "{}",
        show(&out)
    );
    let out = deploy(dir.path())
        .args(["plan", "stamp"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("deploy.toml:13:68: `${git_commit}` has no value here: ")
            && text(&out.stderr).contains("is not inside a git repository"),
        "{}",
        show(&out)
    );

    git(dir.path(), &["init", "-q", "-b", "feature/rotate"]);
    git(dir.path(), &["add", "deploy.toml"]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    git(dir.path(), &["tag", "v1.4.2"]);
    let out = deploy(dir.path())
        .args(["run", "stamp"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stamp = std::fs::read_to_string(dir.path().join("stamp")).expect("stamped");
    let words: Vec<&str> = stamp.split_whitespace().collect();
    assert_eq!(words.len(), 3, "{stamp}");
    assert_eq!(words[0].len(), 40);
    assert!(words[0].starts_with(words[1]));
    assert_eq!(words[2], "v1.4.2");
    let out = deploy(dir.path())
        .args(["plan", "image"])
        .output()
        .expect("runs");
    assert!(
        text(&out.stdout).contains("$ echo pixel/web:feature-rotate"),
        "{}",
        show(&out)
    );

    // A CI tag build: HEAD detached at the tag.
    git(dir.path(), &["checkout", "-q", "--detach", "v1.4.2"]);
    let out = deploy(dir.path())
        .args(["plan", "branch"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains(
            "deploy.toml:16:37: `${git_branch}` has no value here: HEAD is detached (a CI build of a tag or a commit checks out no branch) (give the value as a parameter, or write `${git_branch | default(\"...\")}`)"
        ),
        "{}",
        show(&out)
    );
    let out = deploy(dir.path())
        .args(["plan", "image"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains(
            "deploy.toml:19:37: `${image}` has no value here: it uses `${git_branch}`, and HEAD is detached"
        ),
        "{}",
        show(&out)
    );
    let out = deploy(dir.path())
        .args(["plan", "stamp"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

/// Transforms as a user writes them, through the binary.
#[test]
fn transforms() {
    let dir = project(
        r#"
[environments.here]
transport = "local"
hosts = ["localhost"]

[tasks.tag]
params = { docker_tag = "feature/rotate_collage_products" }
steps = [{ exec = { cmd = ["echo", '${docker_tag | replace("/", "") | replace("_", "") | lower}'] } }]
"#,
    );
    let out = deploy(dir.path())
        .args(["plan", "here", "tag"])
        .output()
        .expect("runs");
    assert!(
        text(&out.stdout).contains("$ echo featurerotatecollageproducts"),
        "{}",
        show(&out)
    );
    let out = deploy(dir.path())
        .args(["plan", "here", "tag", "docker_tag=Hotfix/ABC"])
        .output()
        .expect("runs");
    assert!(
        text(&out.stdout).contains("$ echo hotfixabc"),
        "{}",
        show(&out)
    );
}

const SECRETS: &str = r#"
default_environment = "here"

[secrets.registry_token]
env = "DEPLOY_TEST_REGISTRY_TOKEN"
[secrets.aws_key]
env = "DEPLOY_TEST_AWS_KEY"

[vars]
upload_key = "${secret.aws_key}"

[environments.here]
transport = "local"
hosts = ["localhost"]

[tasks.build]
steps = [{ exec = { cmd = ["sh", "-c", "echo $TOKEN > ${config_dir}/built"], env = { TOKEN = "${secret.registry_token}" } } }]

[tasks.deploy]
steps = [{ task = "build" }, { exec = { shell = "echo \"$KEY\" > ${config_dir}/uploaded", env = { KEY = "${upload_key}" } } }]
"#;

/// Only the secrets the selected task's steps use (with the tasks it runs,
/// and through variables) are read: `build` runs without the AWS key that
/// only `deploy` needs; `deploy` is refused without it before anything runs.
#[test]
fn secrets_are_read_only_for_the_task_that_uses_them() {
    let dir = project(SECRETS);
    let run = |task: &str| {
        deploy(dir.path())
            .args(["run", task])
            .env("DEPLOY_TEST_REGISTRY_TOKEN", "t0k3n")
            .env_remove("DEPLOY_TEST_AWS_KEY")
            .output()
            .expect("runs")
    };
    let out = run("build");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("built")).expect("built"),
        "t0k3n\n"
    );
    std::fs::remove_file(dir.path().join("built")).expect("rm");

    let out = run("deploy");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        text(&out.stderr).contains(
            "deploy.toml:6:1: secret `aws_key` needs the environment variable DEPLOY_TEST_AWS_KEY, which is not set"
        ),
        "{}",
        show(&out)
    );
    assert!(!dir.path().join("built").exists(), "nothing ran");
}

/// Relative paths in `deploy.toml` are the config directory's, wherever
/// `deploy` runs from: a sync source, a local step's working directory and
/// the paths of a `transport = "local"` host.
#[test]
fn relative_paths_are_taken_from_the_config_directory() {
    let dir = project(
        r#"
[environments.here]
transport = "local"
hosts = ["localhost"]

[tasks.ship]
steps = [
  { sync = { from = "dist", to = "out/releases/${release}" } },
  { exec = { cmd = ["touch", "made-by-a-local-step"] }, local = true },
  { exec = { cmd = ["mkdir", "-p", "logs"], cwd = "out" } },
]
"#,
    );
    std::fs::create_dir(dir.path().join("dist")).expect("mkdir");
    std::fs::write(dir.path().join("dist/app.txt"), "v1\n").expect("write");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("deploy.toml");
    let config = config.to_str().expect("utf-8 path");

    let out = deploy(elsewhere.path())
        .args(["--config", config, "plan", "here", "ship"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let root = dir.path().canonicalize().expect("canonical");
    assert!(
        text(&out.stdout).contains(&format!(
            "sync {}/dist/ to out/releases/{{release}}/",
            root.display()
        )),
        "{}",
        show(&out)
    );

    let out = deploy(elsewhere.path())
        .args(["--config", config, "run", "here", "ship"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let releases: Vec<_> = std::fs::read_dir(dir.path().join("out/releases"))
        .expect("synced into the config directory")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(releases.len(), 1);
    assert_eq!(
        std::fs::read_to_string(releases[0].join("app.txt")).expect("synced"),
        "v1\n"
    );
    assert!(dir.path().join("made-by-a-local-step").is_file());
    assert!(dir.path().join("out/logs").is_dir());
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).expect("ls").count(),
        0,
        "nothing lands in the working directory"
    );
}
