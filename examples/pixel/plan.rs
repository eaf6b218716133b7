//! The plan `bin/deploy` runs on Pixel's server, built with the library
//! instead of `deploy.toml`'s `[tasks.deploy]` (the same steps; a test
//! checks the two render alike): what a team writes when its pipeline
//! needs code, a loop over services, a step of its own, while keeping the
//! plan `deploy plan` shows.

use deploy_core::steps::SetEnvVar;
use deploy_core::{Plan, PlannedStep};
use deploy_docker::steps::{ComposeUp, ExecInContainer};

/// The server's plan for `environment` (`staging-server` or
/// `production-server`), its files in `dir` (`~/staging`), shipping
/// `version` (or what `.env` says, when empty).
pub(crate) fn server_plan(environment: &str, dir: &str, version: &str) -> Plan {
    let project = format!("pixel-{}", environment.trim_end_matches("-server"));
    let compose = format!("{dir}/docker-compose.yml");
    let manage = |args: &[&str]| {
        let cmd = ["python3", "./manage.py"].iter().chain(args).copied();
        ExecInContainer::new_in_service("web", Some(&project), cmd.collect::<Vec<_>>())
    };
    let mut steps = Vec::new();
    let mut builder =
        Plan::builder(environment, "deploy").host("pixel.example", Vec::<String>::new());
    if !version.is_empty() {
        builder = builder.param("version", version);
        steps.push(PlannedStep::new(SetEnvVar::new(
            format!("{dir}/.env"),
            "VERSION",
            version,
        )));
    }
    steps.push(PlannedStep::new(
        ComposeUp::on_host(compose.as_str())
            .project(&project)
            .services(["db"]),
    ));
    steps.push(PlannedStep::new(
        ComposeUp::on_host(compose.as_str())
            .project(&project)
            .services(["proxy", "web"])
            .without_deps()
            .force()
            .pull(["web"]),
    ));
    steps.push(PlannedStep::new(manage(&[
        "collectstatic",
        "--noinput",
        "--clear",
    ])));
    steps.push(PlannedStep::new(manage(&["migrate"])));
    for (n, step) in steps.into_iter().enumerate() {
        builder = builder.step(step.id(format!("deploy.{}", n + 1)).task("deploy"));
    }
    builder.build().expect("a plan with a host and steps")
}
