//! Pixel's server-side deploy as a Rust program on the library API: prints
//! the plan (the same `deploy plan production-server deploy` prints), and
//! with `--run` runs it on this machine, as bin/deploy would.
//!
//! Run: `cargo run --example pixel -- production-server ~/production 1.4.2 [--run]`

mod plan;

use std::sync::Arc;

use deploy_core::event::NullSink;
use deploy_core::{Executor, LocalTarget, RunValues, Target, render};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = args.iter().any(|a| a == "--run");
    let words: Vec<&str> = args
        .iter()
        .filter(|a| *a != "--run")
        .map(String::as_str)
        .collect();
    let [environment, dir, rest @ ..] = words.as_slice() else {
        return Err("usage: pixel ENVIRONMENT DIR [VERSION] [--run]".into());
    };
    let plan = plan::server_plan(environment, dir, rest.first().copied().unwrap_or(""));
    println!("{}", render::text(&plan));
    if run {
        let here: Arc<dyn Target> = Arc::new(LocalTarget::new("pixel.example"));
        let targets = [("pixel.example".to_owned(), here.clone())]
            .into_iter()
            .collect();
        let report = Executor::new(here, RunValues::new("manual"))
            .run(&plan, &targets, &NullSink)
            .await;
        println!("{}", report.render());
    }
    Ok(())
}
