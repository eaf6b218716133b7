//! Rendered plans, pinned by insta: one snapshot per configuration variant.
//!
//! Each fixture in `tests/fixtures/` is a `deploy.toml`; each test builds one
//! environment × task from it and snapshots `render::text` (and, for the
//! Pixel guide, `render::json`). `cargo insta review` after an intended
//! change.

use deploy_core::{Config, StepRegistry, render};

/// The fixtures' directory: the config directory of every fixture, so
/// files beside one (a compose file) are found as `deploy` would find them.
fn fixtures() -> String {
    format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"))
}

/// Builds the plan of `env`/`task` from a fixture, with `args`.
fn plan(
    fixture: &str,
    env: Option<&str>,
    task: Option<&str>,
    args: &[(&str, &str)],
) -> deploy_core::Plan {
    let path = format!("{}/{fixture}", fixtures());
    let source = std::fs::read_to_string(&path).expect("fixture exists");
    let config = Config::parse(fixture, fixtures(), &source).expect("fixture parses");
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

/// The rendered plan, the fixtures' directory written `/project` so
/// snapshots do not depend on where the repository lives.
fn text(fixture: &str, env: Option<&str>, task: Option<&str>, args: &[(&str, &str)]) -> String {
    render::text(&plan(fixture, env, task, args)).replace(&fixtures(), "/project")
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

/// `upload`: one file to the host's home; one with mode, owner and sudo.
#[test]
fn step_upload() {
    insta::assert_snapshot!(text("steps.toml", None, Some("upload"), &[]));
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

/// A task's own `on_failure` replaces the environment's; a step with
/// `allow_failure` says so.
#[test]
fn policy_task_override_and_allowed_failure() {
    insta::assert_snapshot!(text(
        "policies.toml",
        Some("batches-rollback"),
        Some("status"),
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

/// The same limited to two web hosts (`-H web2,web3`): `once` moves to the
/// first selected host, the worker's step has no host, the header says so.
#[test]
fn ordering_limited_to_hosts() {
    let plan = plan("ordering.toml", Some("production"), Some("deploy"), &[])
        .limited(&deploy_core::plan::Limit::hosts(["web2", "web3"]))
        .expect("a selection of the environment's hosts");
    insta::assert_snapshot!(render::text(&plan));
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
    insta::assert_snapshot!(
        render::json(&plan(
            "pixel.toml",
            Some("production"),
            None,
            &[("version", "1.4.2")]
        ))
        .replace(&fixtures(), "/project")
    );
}

/// RandoPony's `deploy_staging`: four composed Fabric tasks.
#[test]
fn randopony_composed_tasks() {
    insta::assert_snapshot!(text("randopony.toml", None, None, &[]));
}

/// A task run twice with a parameter passed by the reference, once with
/// `once` on every step it brings in.
#[test]
fn randopony_task_calls_with_params() {
    insta::assert_snapshot!(text("randopony.toml", None, Some("stop_both"), &[]));
}

/// `when`: a probe on the host guarding two branches, and a comparison
/// decided when the plan is built (left out, then in).
#[test]
fn randopony_promotion_with_conditions() {
    insta::assert_snapshot!(text("randopony.toml", None, Some("promote"), &[]));
}

/// The same with a release named: the comparison holds, the step is in.
#[test]
fn randopony_promotion_naming_a_release() {
    insta::assert_snapshot!(text(
        "randopony.toml",
        None,
        Some("promote"),
        &[("production_release", "r42")]
    ));
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

/// `docker.build`, `docker.push`, `docker.pull` (a tag, checked against the
/// registry's digest; always, with another engine; by digest),
/// `docker.prune`.
#[test]
fn docker_images() {
    insta::assert_snapshot!(text("docker.toml", Some("prod"), Some("images"), &[]));
}

/// `docker.build` of a context on the host, tarred there at run time.
#[test]
fn docker_build_on_host() {
    insta::assert_snapshot!(text(
        "docker.toml",
        Some("prod"),
        Some("build-on-host"),
        &[]
    ));
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

/// `docker.compose` with values from the deploy (`env`, one filled at run
/// time) winning over the environment and `.env`.
#[test]
fn docker_compose_env() {
    insta::assert_snapshot!(text("docker.toml", Some("prod"), Some("compose-env"), &[]));
}

/// `docker.compose` of a file on the host, read when the step runs, after
/// `set-env` wrote its `.env` (the Pixel guide's production).
#[test]
fn docker_compose_on_host() {
    insta::assert_snapshot!(text(
        "docker.toml",
        Some("prod"),
        Some("compose-on-host"),
        &[]
    ));
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

/// Numbers and booleans from `${…}`: `tail = "${lines}"`, `keep`,
/// `delete`, `replicas`, a nested `update.parallelism` (issue 9).
#[test]
fn params_typed_values() {
    insta::assert_snapshot!(text(
        "params.toml",
        None,
        Some("typed"),
        &[("parallelism", "2")]
    ));
}

/// A secret parameter (asked by a prompt; given here) never shows: not in
/// the params line, not in the step; the task's own approval gate comes
/// first (issue 9).
#[test]
fn params_secret_prompt_and_task_approval() {
    insta::assert_snapshot!(text(
        "params.toml",
        None,
        Some("webfaction"),
        &[("password", "hunter2")]
    ));
}

/// Transforms: `replace`, `lower`, `upper`, `sanitize_tag`, `default`,
/// chained left to right (issue 9).
#[test]
fn params_transforms() {
    insta::assert_snapshot!(text("params.toml", None, Some("transforms"), &[]));
}

/// Git built-ins in a CI build of a tag: HEAD detached at `v1.4.2` in a
/// repository made here (fixed dates, so the same commit id every time);
/// `${git_branch}` has no value there, so the fixture defaults it.
#[test]
fn params_git_builtins_on_a_tag_build() {
    let repo = tempfile::tempdir().expect("tempdir");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(repo.path())
            .args(["-c", "user.name=CI", "-c", "user.email=ci@example.com"])
            .args(args)
            .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["commit", "-q", "--allow-empty", "-m", "release 1.4.2"]);
    git(&["tag", "v1.4.2"]);
    git(&["checkout", "-q", "--detach", "v1.4.2"]);
    let path = format!("{}/tests/fixtures/params.toml", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).expect("fixture exists");
    let config = Config::parse("params.toml", repo.path(), &source).expect("fixture parses");
    let plan = config
        .plan(None, Some("git"), &[], &StepRegistry::with_builtins())
        .expect("fixture plans");
    insta::assert_snapshot!(render::text(&plan));
}

/// Paths read on the deploying machine (sync sources, build contexts, env
/// files, compose files): relative ones are taken from the config's
/// directory (here `/project`); absolute and `~/` ones stay (issue 9).
#[test]
fn params_relative_paths() {
    insta::assert_snapshot!(text("params.toml", None, Some("paths"), &[]));
}

/// `deploy ci`: the plan of the environment and task a `[ci]` rule picked,
/// with `${ci.*}` and the rule's variables filled in (issue 10).
fn ci_plan(vars: &[(&str, &str)]) -> String {
    use deploy_core::config::{CiBuild, CiOverrides};
    let path = format!("{}/ci.toml", fixtures());
    let source = std::fs::read_to_string(&path).expect("fixture exists");
    let config = Config::parse("ci.toml", fixtures(), &source).expect("fixture parses");
    let vars = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let build = CiBuild::read(&vars, &CiOverrides::default()).expect("a build");
    let matched = config.ci_match(&build).expect("a rule matches");
    let config = config.with_ci(build, Some(&matched));
    let plan = config
        .plan(
            Some(&matched.environment),
            matched.task.as_deref(),
            &[],
            &StepRegistry::with_builtins(),
        )
        .expect("fixture plans");
    format!("# {}\n{}", matched.text, render::text(&plan))
}

#[test]
fn ci_tag_build_to_production() {
    insta::assert_snapshot!(ci_plan(&[
        ("GITHUB_REF_TYPE", "tag"),
        ("GITHUB_REF_NAME", "v1.4.2"),
        ("GITHUB_SHA", "4f2a9c1e"),
    ]));
}

#[test]
fn ci_feature_branch_to_a_review_stack() {
    insta::assert_snapshot!(ci_plan(&[
        ("CIRCLE_BRANCH", "feature/rotate-collage"),
        ("CIRCLE_SHA1", "77b0d3a"),
    ]));
}

/// A rollback's plan of `env`/`task`, pinned to `images` of release
/// `20261201T090000.000Z`.
fn pinned(fixture: &str, env: &str, task: &str, pinning: deploy_core::release::Pinning) -> String {
    render::text(&plan(fixture, Some(env), Some(task), &[]).pinned(pinning))
        .replace(&fixtures(), "/project")
}

const RELEASE: &str = "20261201T090000.000Z";

/// A rollback of build, push and pull: the build and push of the pinned
/// repository left out, the pull by the digest the release recorded; an
/// image it did not record (redis) left as it is.
#[test]
fn rollback_images_by_digest() {
    use deploy_core::release::{ImageRecord, Pinning};
    let web = ImageRecord::new(
        "web",
        "registry.example:5000/shop/web:20261201T090000.000Z",
        "sha256:9e1f0c1d3f1a",
    )
    .repo_digest("registry.example:5000/shop/web@sha256:2b8e6f0a7c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f");
    insta::assert_snapshot!(pinned(
        "docker.toml",
        "prod",
        "images",
        Pinning::rollback("prod", RELEASE, vec![web])
    ));
}

/// A rollback of two blue/green services: each replica set pinned to the
/// image id its release ran (an image no registry had).
#[test]
fn rollback_blue_green_by_image_id() {
    use deploy_core::release::{ImageRecord, Pinning};
    let records = vec![
        ImageRecord::new(
            "web-blue-1",
            "shop/web:20261201T090000.000Z",
            "sha256:1111aaaa",
        ),
        ImageRecord::new(
            "web-blue-2",
            "shop/web:20261201T090000.000Z",
            "sha256:1111aaaa",
        ),
        ImageRecord::new(
            "api-green-1",
            "shop/api:20261201T090000.000Z",
            "sha256:2222bbbb",
        ),
    ];
    insta::assert_snapshot!(pinned(
        "docker.toml",
        "prod",
        "blue-green",
        Pinning::rollback("prod", RELEASE, records)
    ));
}

/// A promotion of a compose service: its image pinned to what staging ran.
#[test]
fn promote_compose_service() {
    use deploy_core::release::{ImageRecord, Pinning, Revision};
    let mut pinning = Pinning::promote(
        "staging",
        RELEASE,
        vec![
            ImageRecord::new("shop-web-1", "shop/web:latest", "sha256:3333cccc")
                .repo_digest("shop/web@sha256:4444dddd"),
        ],
    );
    pinning.revision = Some(Revision {
        commit: "0a1b2c3d4e5f".into(),
        dirty: false,
    });
    insta::assert_snapshot!(pinned("docker.toml", "prod", "compose", pinning));
}

/// A rollback of a release directory: the sync into `releases/${release}`
/// becomes a check that the put-back release's directory is still there.
#[test]
fn rollback_release_directory() {
    insta::assert_snapshot!(pinned(
        "steps.toml",
        "staging",
        "sync",
        deploy_core::release::Pinning::rollback("staging", RELEASE, Vec::new())
    ));
}
