//! The seed examples' plans (`examples/<name>/deploy.toml`), pinned by
//! insta: every environment's deploy, and the day-two tasks each guide
//! names. Their end-to-end runs on real hosts are in
//! `deploy-cli/tests/<name>.rs`.
//!
//! Run: `cargo test -p deploy-examples --test examples`

use deploy_core::{Config, StepRegistry, render};

/// The example's directory (its config directory).
fn dir(example: &str) -> String {
    format!("{}/examples/{example}", env!("CARGO_MANIFEST_DIR"))
}

/// The example's plan of `env`/`task`, as `deploy plan` builds it.
pub fn plan(example: &str, env: &str, task: &str) -> deploy_core::Plan {
    plan_with(example, env, task, &[])
}

/// [`plan`] with task parameters (`KEY=VALUE`).
pub fn plan_with(example: &str, env: &str, task: &str, args: &[(&str, &str)]) -> deploy_core::Plan {
    let path = format!("{}/deploy.toml", dir(example));
    let source = std::fs::read_to_string(&path).expect("the example's deploy.toml");
    // The git built-ins as if at one fixed commit, so the snapshots do not
    // follow this repository's HEAD.
    let config = Config::parse(&path, dir(example), &source)
        .expect("the example parses")
        .at_revision("0123abcd0123abcd0123abcd0123abcd0123abcd");
    let mut registry = StepRegistry::with_builtins();
    deploy_docker::register(&mut registry);
    let args: Vec<(String, String)> = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    config
        .plan(Some(env), Some(task), &args, &registry)
        .expect("the example plans")
}

/// The rendered plan, the example's directory written `/project`.
fn text(example: &str, env: &str, task: &str) -> String {
    text_with(example, env, task, &[])
}

/// [`text`] with task parameters.
fn text_with(example: &str, env: &str, task: &str, args: &[(&str, &str)]) -> String {
    render::text(&plan_with(example, env, task, args)).replace(&dir(example), "/project")
}

/// RandoPony: staging's deploy (`fab deploy_staging`).
#[test]
fn randopony_staging_deploy() {
    insta::assert_snapshot!(text("randopony", "staging", "deploy"));
}

/// RandoPony: production's deploy (what a promotion runs), behind approval.
#[test]
fn randopony_production_deploy() {
    insta::assert_snapshot!(text("randopony", "production", "deploy"));
}

/// RandoPony: the day-two tasks on staging.
#[test]
fn randopony_staging_day_two() {
    let tasks = [
        "stop_app",
        "start_app",
        "restart_app",
        "stop_supervisor",
        "status",
    ];
    let all: Vec<String> = tasks
        .iter()
        .map(|task| text("randopony", "staging", task))
        .collect();
    insta::assert_snapshot!(all.join("\n"));
}

/// Allume: each environment's deploy (web and worker roles, the default
/// tag each gets), production behind approval.
#[test]
fn allume_every_environment() {
    for env in ["stage", "uat", "production"] {
        insta::assert_snapshot!(format!("allume_{env}"), text("allume", env, "deploy"));
    }
}

/// Pixel: what CI runs (each branch of `ship`) and what `bin/deploy` runs
/// on the server, for both environments.
#[test]
fn pixel_every_environment() {
    insta::assert_snapshot!("pixel_staging", text("pixel", "staging", "ship"));
    insta::assert_snapshot!(
        "pixel_production_tag",
        text_with("pixel", "production", "ship", &[("version", "1.4.2")])
    );
    insta::assert_snapshot!(
        "pixel_staging_rollback",
        text("pixel", "staging", "rollback")
    );
    insta::assert_snapshot!(
        "pixel_staging_server",
        text("pixel", "staging-server", "deploy")
    );
    insta::assert_snapshot!(
        "pixel_production_server",
        text_with(
            "pixel",
            "production-server",
            "deploy",
            &[("version", "1.4.2")]
        )
    );
}

#[path = "../examples/pixel/plan.rs"]
mod pixel_plan;

/// Pixel's server plan built by a Rust program on the library API
/// (`examples/pixel/main.rs`) renders exactly as `deploy.toml`'s.
#[test]
fn pixel_program_builds_the_same_plan() {
    for (env, version) in [("staging-server", ""), ("production-server", "1.4.2")] {
        let args: &[(&str, &str)] = if version.is_empty() {
            &[]
        } else {
            &[("version", version)]
        };
        let from_toml = text_with("pixel", env, "deploy", args);
        let from_rust = render::text(&pixel_plan::server_plan(env, &dir("pixel"), version))
            .replace(&dir("pixel"), "/project");
        assert_eq!(from_rust, from_toml, "{env}");
    }
}

/// The library tour's programs (docs/library.md) run here, needing no
/// server: each exits 0 and prints what it did.
#[test]
fn the_library_tour_runs() {
    for (example, args) in [
        ("custom_step", &[][..]),
        ("local_plan", &[][..]),
        (
            "pixel",
            &["production-server", "/srv/pixel/production", "1.4.2"][..],
        ),
    ] {
        let out = cargo_run(&["--example", example], args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{example}: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!stdout.trim().is_empty(), "{example} printed nothing");
    }
}

/// ICEkit: build, test in the image, push, back up, deploy, check pages.
#[test]
fn icekit_production_deploy() {
    insta::assert_snapshot!(text("icekit", "production", "deploy"));
}

/// djangopackages: code onto the server, built there, blue/green behind
/// Caddy; and the ps task.
#[test]
fn djangopackages_production() {
    insta::assert_snapshot!(
        "djangopackages_deploy",
        text("djangopackages", "production", "deploy")
    );
    insta::assert_snapshot!(
        "djangopackages_ps",
        text("djangopackages", "production", "ps")
    );
}

/// The commands the guides say need no server (each in a ```sh block
/// under docs/guides/, starting `deploy --config`) run from the
/// repository's root and exit 0.
#[test]
fn the_guides_commands_run() {
    let guides = format!("{}/docs/guides", env!("CARGO_MANIFEST_DIR"));
    let mut commands = Vec::new();
    for entry in std::fs::read_dir(&guides).expect("docs/guides") {
        let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("a guide");
        let mut in_sh = false;
        for line in text.lines() {
            match line {
                "```sh" => in_sh = true,
                "```" => in_sh = false,
                _ if in_sh && line.starts_with("deploy --config ") => {
                    commands.push(line.to_owned())
                }
                _ => {}
            }
        }
    }
    assert!(commands.len() >= 5, "the guides' commands: {commands:?}");
    for command in commands {
        let words: Vec<&str> = command.split_whitespace().skip(1).collect();
        let out = cargo_run(&["-p", "deploy-cli"], &words);
        assert!(
            out.status.success(),
            "`{command}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `cargo run --quiet --locked WHAT -- ARGS` from the repository's root
/// (built already by `cargo test`), without a `DEPLOY_CONFIG` of the caller.
fn cargo_run(what: &[&str], args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--locked"])
        .args(what)
        .arg("--")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DEPLOY_CONFIG")
        .output()
        .expect("cargo runs")
}
