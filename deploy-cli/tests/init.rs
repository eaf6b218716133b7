//! `deploy init` run as a user would, in sample projects of each shape (a
//! compose file, a Dockerfile, plain files): what it detects, and that the
//! file it writes passes `deploy plan` for staging and production; and that
//! it never overwrites a deploy.toml.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The djangopackages-shaped compose file the plan snapshots use.
const COMPOSE: &str = include_str!("../../tests/fixtures/docker-compose.yml");

fn deploy(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("deploy").expect("deploy binary");
    cmd.current_dir(dir)
        .env_remove("DEPLOY_CONFIG")
        .env_remove("WEB_TAG")
        .env("DEPLOY_STATE_DIR", dir.join(".state"));
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A project directory holding `files`.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write project file");
    }
    dir
}

/// Runs `deploy init` in `dir` (must succeed); returns its stderr and the
/// file it wrote.
fn init(dir: &Path) -> (String, String) {
    let out = deploy(dir).arg("init").output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = std::fs::read_to_string(dir.join("deploy.toml")).expect("deploy.toml written");
    (stderr(&out), written)
}

/// `deploy plan staging` and `deploy plan production` both exit 0; returns
/// their plans.
fn plans(dir: &Path) -> [String; 2] {
    ["staging", "production"].map(|env| {
        let out = deploy(dir).args(["plan", env]).output().expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "plan {env}: {}\n{}",
            stderr(&out),
            std::fs::read_to_string(dir.join("deploy.toml")).unwrap_or_default()
        );
        stdout(&out)
    })
}

/// The files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    names
}

/// A compose project: its services found with deploy-docker's loader, the
/// ones without a port brought up by docker.compose, the one publishing a
/// port swapped in by blue/green; both environments plan.
#[test]
fn compose_project_gets_compose_and_blue_green() {
    let dir = project(&[("docker-compose.yml", COMPOSE)]);
    let (said, written) = init(dir.path());
    assert!(said.contains("wrote "), "{said}");
    assert!(
        said.contains("found docker-compose.yml") && said.contains("services db, redis, web"),
        "{said}"
    );
    assert!(said.contains("web publishes port 8000"), "{said}");
    assert!(
        written.contains(
            r#"{ docker.compose = { file = "docker-compose.yml", services = ["db", "redis"] } }"#
        ),
        "{written}"
    );
    assert!(written.contains("[containers.web]"), "{written}");
    assert!(written.contains("approval = \"required\""), "{written}");
    assert!(written.contains("README"), "{written}");
    let [staging, production] = plans(dir.path());
    assert!(staging.contains("plan: staging / deploy"), "{staging}");
    assert!(staging.contains("[docker.compose] compose up"), "{staging}");
    assert!(
        staging.contains("[docker.blue-green] blue/green:") && staging.contains("port 8000"),
        "{staging}"
    );
    assert!(staging.contains("staging.example.com"), "{staging}");
    assert!(production.contains("[approve]"), "{production}");
    assert!(
        production.contains("production.example.com"),
        "{production}"
    );
}

/// A compose file whose services publish no port: a compose deploy of all
/// of them, no blue/green (compose.yaml is found too).
#[test]
fn compose_without_ports_has_no_blue_green() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  worker:\n    image: shop/worker:1\n  redis:\n    image: redis:7\n",
    )]);
    let (said, written) = init(dir.path());
    assert!(said.contains("no service publishes a port"), "{said}");
    assert!(!written.contains("docker.blue-green ="), "{written}");
    let [staging, _] = plans(dir.path());
    assert!(staging.contains("[docker.compose]"), "{staging}");
    assert!(!staging.contains("[docker.blue-green]"), "{staging}");
}

/// Every service publishes a port and one is built: each is swapped in by
/// blue/green (after a docker.build of the built one), no compose step.
#[test]
fn compose_where_every_service_publishes_a_port() {
    let dir = project(&[
        (
            "docker-compose.yml",
            "services:\n  web:\n    build: .\n    image: shop/web:dev\n    ports: [\"8080:8080\"]\n    environment:\n      SECRET_KEY: example-only\n  api:\n    image: shop/api:2\n    ports: [\"9000\"]\n",
        ),
        ("Dockerfile", "FROM busybox\n"),
    ]);
    let (said, written) = init(dir.path());
    assert!(said.contains("web publishes port 8080"), "{said}");
    assert!(said.contains("api publishes port 9000"), "{said}");
    assert!(!written.contains("docker.compose = {"), "{written}");
    assert!(
        !written.contains("example-only"),
        "an env value was copied: {written}"
    );
    assert!(written.contains("SECRET_KEY"), "{written}");
    let [staging, _] = plans(dir.path());
    assert!(staging.contains("[docker.build]"), "{staging}");
    assert_eq!(
        staging.matches("[docker.blue-green]").count(),
        2,
        "{staging}"
    );
}

/// A Dockerfile: build and push here, pull and blue/green on the hosts, on
/// the port it EXPOSEs.
#[test]
fn dockerfile_project_builds_pushes_and_blue_greens() {
    let dir = project(&[("Dockerfile", "FROM busybox\nEXPOSE 8080/tcp\n")]);
    let (said, written) = init(dir.path());
    assert!(said.contains("found Dockerfile"), "{said}");
    assert!(said.contains("port 8080"), "{said}");
    assert!(
        written.contains("registry = \"registry.example.com\""),
        "{written}"
    );
    let [staging, production] = plans(dir.path());
    for step in [
        "[docker.build]",
        "[docker.push]",
        "[docker.pull]",
        "[docker.blue-green]",
    ] {
        assert!(staging.contains(step), "{step}: {staging}");
    }
    assert!(staging.contains("port 8080"), "{staging}");
    assert!(staging.contains("registry.example.com/"), "{staging}");
    assert!(production.contains("[approve]"), "{production}");
}

/// Neither: release directories over SSH, `current` switched, old ones
/// pruned, the site checked.
#[test]
fn plain_project_gets_release_directories() {
    let dir = project(&[("index.html", "<h1>hi</h1>\n")]);
    let (said, _) = init(dir.path());
    assert!(
        said.contains("found no compose file and no Dockerfile"),
        "{said}"
    );
    let [staging, production] = plans(dir.path());
    for text in [&staging, &production] {
        assert!(text.contains("/releases/{release}"), "{text}");
        assert!(
            text.contains("[symlink]") && text.contains("/current"),
            "{text}"
        );
        assert!(text.contains("[keep-releases]"), "{text}");
        assert!(text.contains("[http-check]"), "{text}");
    }
}

/// `--dir` names the project from elsewhere; the file lands there.
#[test]
fn dir_names_the_project() {
    let dir = project(&[("Dockerfile", "FROM busybox\n")]);
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = deploy(elsewhere.path())
        .args(["init", "--dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.path().join("deploy.toml").is_file());
    assert!(!elsewhere.path().join("deploy.toml").exists());
    assert!(stderr(&out).contains("port 8000"), "{}", stderr(&out));
    plans(dir.path());
}

/// An existing deploy.toml is never overwritten: exit 2 naming it, its
/// bytes unchanged, nothing else written.
#[test]
fn never_overwrites() {
    let dir = project(&[
        ("deploy.toml", "# mine\n"),
        ("Dockerfile", "FROM busybox\n"),
    ]);
    let before = listing(dir.path());
    let out = deploy(dir.path()).arg("init").output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("deploy.toml already exists"), "{err}");
    assert!(
        err.contains(&dir.path().join("deploy.toml").display().to_string()),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("deploy.toml")).expect("read"),
        "# mine\n"
    );
    assert_eq!(listing(dir.path()), before);
}

/// A compose file that does not parse: exit 2 naming it, nothing written.
#[test]
fn broken_compose_file_is_an_error() {
    let dir = project(&[("docker-compose.yml", "services: [not, a, mapping\n")]);
    let out = deploy(dir.path()).arg("init").output().expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("docker-compose.yml"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("deploy.toml").exists());
    assert_eq!(listing(dir.path()).len(), 1);
}
