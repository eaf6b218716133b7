//! Build a Capistrano-style plan in Rust and run it on this machine with
//! `LocalTarget`, printing events as they happen.
//!
//! Run: `cargo run --example local_plan` (writes under a temporary directory).

use std::sync::Arc;

use deploy_core::event::{Event, EventSink};
use deploy_core::steps::{Exec, KeepReleases, SetEnvVar, Symlink, WriteFile};
use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, Targets};

/// Prints each event as one line.
struct Print;

impl EventSink for Print {
    fn event(&self, event: &Event) {
        match event {
            Event::StepStarted {
                host,
                step,
                summary,
                ..
            } => println!("[{host}] {step}: {summary}"),
            Event::Output { host, line, .. } => println!("[{host}]   | {line}"),
            Event::StepSkipped { host, step } => println!("[{host}] {step}: already done"),
            Event::StepFailed {
                host, step, error, ..
            } => println!("[{host}] {step} FAILED: {error}"),
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::temp_dir().join(format!("deploy-example-{}", std::process::id()));
    let app = root.display().to_string();
    let plan = Plan::builder("local", "release")
        .host("localhost", ["app"])
        .step(PlannedStep::new(WriteFile::new(
            format!("{app}/releases/${{release}}/index.html"),
            "<h1>hello</h1>\n",
        )))
        .step(PlannedStep::new(SetEnvVar::new(
            format!("{app}/releases/${{release}}/.env"),
            "VERSION",
            "1.0.0",
        )))
        .step(PlannedStep::new(Symlink::new(
            format!("{app}/current"),
            format!("{app}/releases/${{release}}"),
        )))
        .step(PlannedStep::new(
            Exec::argv(["cat", ".env"]).cwd(format!("{app}/current")),
        ))
        .step(PlannedStep::new(
            KeepReleases::new(format!("{app}/releases"), 3).current(format!("{app}/current")),
        ))
        .build()?;

    let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
    let targets: Targets = [("localhost".to_owned(), Arc::clone(&local))]
        .into_iter()
        .collect();
    let report = Executor::new(local, RunValues::new(RunValues::release_now()))
        .run(&plan, &targets, &Print)
        .await;
    print!("{}", report.render());
    std::fs::remove_dir_all(&root)?;
    if report.succeeded() {
        Ok(())
    } else {
        Err("the run failed".into())
    }
}
