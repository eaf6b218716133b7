//! Rendered plans, pinned by insta: one snapshot per configuration variant.
//!
//! Each fixture in `tests/fixtures/` is a `deploy.toml`; each test builds one
//! environment × task from it and snapshots `render::text` (and, for the
//! Pixel guide, `render::json`). `cargo insta review` after an intended
//! change.

use deploy_core::{Config, StepRegistry, render};

/// Builds the plan of `env`/`task` from a fixture, with `args`. The config
/// directory is fixed so snapshots do not depend on where the repo lives.
fn plan(
    fixture: &str,
    env: Option<&str>,
    task: Option<&str>,
    args: &[(&str, &str)],
) -> deploy_core::Plan {
    let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).expect("fixture exists");
    let config = Config::parse(fixture, "/project", &source).expect("fixture parses");
    let args: Vec<(String, String)> = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut registry = StepRegistry::with_builtins();
    deploy_docker::register(&mut registry);
    config
        .plan(env, task, &args, &registry)
        .expect("fixture plans")
}

fn text(fixture: &str, env: Option<&str>, task: Option<&str>, args: &[(&str, &str)]) -> String {
    render::text(&plan(fixture, env, task, args))
}

/// `exec`: argv, shell, env with a secret, cwd, sudo, stdin, unless, undo.
#[test]
fn step_exec() {
    insta::assert_snapshot!(text("steps.toml", None, Some("exec"), &[]));
}

/// `sync`: delete and excludes, into a release placeholder.
#[test]
fn step_sync() {
    insta::assert_snapshot!(text("steps.toml", None, Some("sync"), &[]));
}

/// `write-file`: mode, multi-line content, a secret inside it.
#[test]
fn step_write_file() {
    insta::assert_snapshot!(text("steps.toml", None, Some("write-file"), &[]));
}

/// `set-env`: a task parameter given on the command line.
#[test]
fn step_set_env() {
    insta::assert_snapshot!(text(
        "steps.toml",
        None,
        Some("set-env"),
        &[("version", "1.4.2")]
    ));
}

/// `symlink`: the Capistrano `current` switch.
#[test]
fn step_symlink() {
    insta::assert_snapshot!(text("steps.toml", None, Some("symlink"), &[]));
}

/// `http-check`: from the deploying machine and from the target's side.
#[test]
fn step_http_check() {
    insta::assert_snapshot!(text("steps.toml", None, Some("http-check"), &[]));
}

/// `approve` on the deploying machine before a step on every host.
#[test]
fn step_approve() {
    insta::assert_snapshot!(text("steps.toml", None, Some("approve"), &[]));
}

/// `keep-releases` and `rollback-release`.
#[test]
fn step_releases() {
    insta::assert_snapshot!(text("steps.toml", None, Some("releases"), &[]));
}

/// Per-step timeout, retries and backoff.
#[test]
fn step_limits() {
    insta::assert_snapshot!(text("steps.toml", None, Some("limits"), &[]));
}

/// All hosts at once; stop on failure.
#[test]
fn policy_all_at_once_stop() {
    insta::assert_snapshot!(text("policies.toml", Some("all-stop"), Some("deploy"), &[]));
}

/// One host at a time; continue on failure.
#[test]
fn policy_one_by_one_continue() {
    insta::assert_snapshot!(text(
        "policies.toml",
        Some("one-by-one-continue"),
        Some("deploy"),
        &[]
    ));
}

/// Batches of two; roll back on failure (every step says how it is undone).
#[test]
fn policy_batches_rollback() {
    insta::assert_snapshot!(text(
        "policies.toml",
        Some("batches-rollback"),
        Some("deploy"),
        &[]
    ));
}

/// `once`, barriers, `needs`, a step on the deploying machine, roles and hosts.
#[test]
fn ordering_once_barrier_needs_local() {
    insta::assert_snapshot!(text(
        "ordering.toml",
        Some("production"),
        Some("deploy"),
        &[]
    ));
}

/// The Pixel guide on staging (default environment and task).
#[test]
fn pixel_staging() {
    insta::assert_snapshot!(text("pixel.toml", None, None, &[]));
}

/// The Pixel guide on production: an approval gate first, the tag as VERSION.
#[test]
fn pixel_production_with_approval() {
    insta::assert_snapshot!(text(
        "pixel.toml",
        Some("production"),
        None,
        &[("version", "1.4.2")]
    ));
}

/// The Pixel guide's production plan as JSON (schema 1).
#[test]
fn pixel_production_json() {
    insta::assert_snapshot!(render::json(&plan(
        "pixel.toml",
        Some("production"),
        None,
        &[("version", "1.4.2")]
    )));
}

/// RandoPony's `deploy_staging`: four composed Fabric tasks.
#[test]
fn randopony_composed_tasks() {
    insta::assert_snapshot!(text("randopony.toml", None, None, &[]));
}

/// Allume: hosts by role, one host at a time, logstash left alone when running.
#[test]
fn allume_roles() {
    insta::assert_snapshot!(text(
        "allume.toml",
        Some("qa"),
        Some("deploy"),
        &[("docker_tag", "feature-rotate-collage")]
    ));
}

/// Variable layers, `$${` escapes, run-time placeholders, parameter defaults
/// that use other parameters.
#[test]
fn interpolation_layers() {
    insta::assert_snapshot!(text(
        "interpolation.toml",
        Some("staging"),
        Some("show"),
        &[("version", "2.0")]
    ));
}

/// The repository's own demo `deploy.toml`.
#[test]
fn demo_deploy() {
    let source = std::fs::read_to_string(format!("{}/deploy.toml", env!("CARGO_MANIFEST_DIR")))
        .expect("demo config");
    let config = Config::parse("deploy.toml", "/project", &source).expect("demo parses");
    let plan = config
        .plan(None, None, &[], &StepRegistry::with_builtins())
        .expect("demo plans");
    insta::assert_snapshot!(render::text(&plan));
}

/// Rendering is deterministic: the same input gives the same bytes.
#[test]
fn same_input_same_bytes() {
    let a = text("ordering.toml", Some("production"), Some("deploy"), &[]);
    let b = text("ordering.toml", Some("production"), Some("deploy"), &[]);
    assert_eq!(a, b);
    let j1 = render::json(&plan("pixel.toml", None, None, &[]));
    let j2 = render::json(&plan("pixel.toml", None, None, &[]));
    assert_eq!(j1, j2);
}

/// docs/snapshot-testing.md shows tests/team_recipe.rs verbatim.
#[test]
fn recipe_doc_matches_the_tested_file() {
    let root = env!("CARGO_MANIFEST_DIR");
    let doc = std::fs::read_to_string(format!("{root}/docs/snapshot-testing.md")).expect("doc");
    let recipe = std::fs::read_to_string(format!("{root}/tests/team_recipe.rs")).expect("recipe");
    assert!(
        doc.contains(&format!("```rust\n{recipe}```")),
        "update docs/snapshot-testing.md from tests/team_recipe.rs"
    );
}

/// `docker.build`, `docker.push`, `docker.pull` (once, and always with
/// another engine), `docker.prune`.
#[test]
fn docker_images() {
    insta::assert_snapshot!(text("docker.toml", Some("prod"), Some("images"), &[]));
}

/// `docker.network`, `docker.ensure-running`, `docker.recreate` (every
/// container setting, a secret in its env), `docker.exec` with `unless`.
#[test]
fn docker_containers() {
    insta::assert_snapshot!(text("docker.toml", Some("prod"), Some("containers"), &[]));
}

/// `docker.blue-green` behind nginx (replicas in batches) and Caddy.
#[test]
fn docker_blue_green() {
    insta::assert_snapshot!(text("docker.toml", Some("prod"), Some("blue-green"), &[]));
}

/// `docker.compose`: one service and its dependencies, the keys it does not
/// apply listed.
#[test]
fn docker_compose() {
    insta::assert_snapshot!(text("docker.toml", Some("prod"), Some("compose"), &[]));
}

/// `docker.swarm-service` with its rolling-update settings.
#[test]
fn docker_swarm_service() {
    insta::assert_snapshot!(text("docker.toml", Some("prod"), Some("swarm"), &[]));
}

/// `docker.run`: a one-off from an image (tests, a secret in its env), from
/// a compose service's definition (a backup), and kept with `rm = false`.
#[test]
fn docker_run() {
    insta::assert_snapshot!(text("docker.toml", Some("prod"), Some("one-off"), &[]));
}

/// `[containers]` entries used by `docker.ensure-running` and
/// `docker.recreate` (with `force` beside the reference): `${…}` filled in
/// the entry, `name` defaulting to the entry's key.
#[test]
fn containers_deploy() {
    insta::assert_snapshot!(text(
        "containers.toml",
        Some("prod"),
        Some("deploy"),
        &[("version", "1.4.2")]
    ));
}

/// `docker.restart` of a `[containers]` entry and of a container by name.
#[test]
fn containers_restart() {
    insta::assert_snapshot!(text("containers.toml", Some("prod"), Some("restart"), &[]));
}

/// `docker.blue-green` of a `[containers]` entry.
#[test]
fn containers_blue_green() {
    insta::assert_snapshot!(text(
        "containers.toml",
        Some("prod"),
        Some("blue-green"),
        &[("version", "2.0.0")]
    ));
}

/// `replicas = N` on `docker.ensure-running` and `docker.recreate`.
#[test]
fn docker_replicas() {
    insta::assert_snapshot!(text("docker.toml", Some("prod"), Some("replicas"), &[]));
}

/// `replicas` beside a `[containers]` reference.
#[test]
fn containers_replicas() {
    insta::assert_snapshot!(text("containers.toml", Some("prod"), Some("scale"), &[]));
}

/// `docker.swarm-service` with networks, volumes, mounts and secrets.
#[test]
fn docker_swarm_service_attachments() {
    insta::assert_snapshot!(text(
        "docker.toml",
        Some("prod"),
        Some("swarm-attached"),
        &[]
    ));
}

/// `docker.ps` and `docker.logs`: the djangopackages guide's status and logs.
#[test]
fn docker_report() {
    insta::assert_snapshot!(text("docker.toml", Some("prod"), Some("report"), &[]));
}
