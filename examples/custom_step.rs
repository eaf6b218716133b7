//! Register your own step kind, use it from a `deploy.toml` and from Rust,
//! and render the plan, with no network at all.
//!
//! Run: `cargo run --example custom_step`

use async_trait::async_trait;
use deploy_core::{
    Applied, Config, Description, Kind, Plan, PlannedStep, Step, StepContext, StepError,
    StepRegistry, Text, render, steps::Exec,
};
use serde::Deserialize;

/// Posts a message to a chat channel (here: prints it on the target).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Notify {
    channel: String,
    message: Text,
}

/// The name `deploy.toml` uses for it and reports show.
impl Kind for Notify {
    const KIND: &'static str = "notify";
}

#[async_trait]
impl Step for Notify {
    fn describe(&self) -> Description {
        Description::new(format!("tell #{}: {}", self.channel, self.message))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let message = ctx.resolve(&self.message)?;
        ctx.run(&deploy_core::Command::new(["echo", &message]))
            .await?;
        Ok(Applied::done())
    }
}

const CONFIG: &str = r#"
[environments.production]
roles = { web = ["web1.example", "web2.example"] }
rollout = "one-by-one"

[tasks.release]
params = { version = "latest" }
steps = [
  { exec = { cmd = ["./bin/release", "${version}"] }, roles = ["web"] },
  { notify = { channel = "deploys", message = "released ${version} as ${release}" }, once = true },
]
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. From a deploy.toml: the registry knows the built-in kinds and ours.
    let mut registry = StepRegistry::with_builtins();
    registry.register_serde::<Notify>();
    let config = Config::parse("deploy.toml", ".", CONFIG)?;
    let args = [("version".to_owned(), "2.1.0".to_owned())];
    let plan = config.plan(Some("production"), Some("release"), &args, &registry)?;
    println!("{}", render::text(&plan));

    // 2. The same plan built in Rust.
    let plan = Plan::builder("production", "release")
        .host("web1.example", ["web"])
        .host("web2.example", ["web"])
        .rollout(deploy_core::Rollout::Batches(1))
        .step(PlannedStep::new(Exec::argv(["./bin/release", "2.1.0"])).roles(["web"]))
        .step(
            PlannedStep::new(Notify {
                channel: "deploys".into(),
                message: Text::parse("released 2.1.0 as ${release}")?,
            })
            .once(),
        )
        .build()?;
    println!("{}", render::json(&plan));
    Ok(())
}
