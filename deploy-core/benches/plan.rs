//! Rendering and executor overhead for a large plan: 10,000 steps over
//! 1,000 hosts (each host has its own role and runs 10 steps; every 1,000th
//! step is a barrier), run on fake targets that answer at once.
//!
//! Run: `cargo bench -p deploy-core --bench plan`
//!
//! Prints the median, minimum and maximum of every measurement over all its
//! runs (no best-of-N), and the machine's load at the start.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deploy_core::event::{Event, EventSink, NullSink};
use deploy_core::steps::{Exec, SetEnvVar, Symlink, WriteFile};
use deploy_core::testing::FakeTarget;
use deploy_core::{Executor, Plan, PlannedStep, RunValues, Target, Targets, render};

const HOSTS: usize = 1_000;
const STEPS: usize = 10_000;

fn build_plan() -> Plan {
    let mut builder = Plan::builder("bench", "deploy");
    for h in 0..HOSTS {
        builder = builder.host(format!("host-{h:04}"), [format!("r{h}")]);
    }
    for s in 0..STEPS {
        let role = format!("r{}", s % HOSTS);
        let step = match s % 4 {
            0 => {
                PlannedStep::new(Exec::argv(["./bin/task", &s.to_string()]).cwd("/srv/app/current"))
            }
            1 => PlannedStep::new(SetEnvVar::new("/srv/app/.env", "VERSION", format!("1.{s}"))),
            2 => PlannedStep::new(Symlink::new(
                "/srv/app/current",
                "/srv/app/releases/${release}",
            )),
            _ => PlannedStep::new(WriteFile::new(
                format!("/srv/app/conf/{s}.ini"),
                "[app]\nkey = value\n",
            )),
        };
        let step = if s % 1_000 == 999 {
            step.barrier()
        } else {
            step
        };
        builder = builder.step(step.roles([role]));
    }
    builder.build().expect("the bench plan is valid")
}

/// Serializes every event to JSON and drops it (what `deploy run --json` costs).
struct JsonToVoid;

impl EventSink for JsonToVoid {
    fn event(&self, event: &Event) {
        let _ = std::hint::black_box(serde_json::to_vec(event));
    }
}

struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
    runs: usize,
}

fn measure(runs: usize, mut f: impl FnMut() -> Duration) -> Stats {
    let mut times: Vec<Duration> = (0..runs).map(|_| f()).collect();
    times.sort();
    Stats {
        median: times[runs / 2],
        min: times[0],
        max: times[runs - 1],
        runs,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn report(name: &str, stats: &Stats, per_100_steps: bool) {
    let mut line = format!(
        "{name:<44} median {:>8.2} ms   min {:>8.2}   max {:>8.2}   ({} runs)",
        ms(stats.median),
        ms(stats.min),
        ms(stats.max),
        stats.runs
    );
    if per_100_steps {
        line.push_str(&format!(
            "   = {:.3} ms per 100 steps",
            ms(stats.median) / (STEPS as f64 / 100.0)
        ));
    }
    println!("{line}");
}

fn targets() -> Targets {
    (0..HOSTS)
        .map(|h| {
            let name = format!("host-{h:04}");
            let target: Arc<dyn Target> = Arc::new(FakeTarget::new(name.clone()));
            (name, target)
        })
        .collect()
}

fn main() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "plan: {STEPS} steps over {HOSTS} hosts; {} cores; load average at start: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let build = measure(10, || {
        let t = Instant::now();
        std::hint::black_box(build_plan());
        t.elapsed()
    });
    report("build the plan (builder + checks)", &build, false);

    let plan = build_plan();
    let text = measure(30, || {
        let t = Instant::now();
        std::hint::black_box(render::text(&plan));
        t.elapsed()
    });
    report("render text", &text, false);
    let json = measure(30, || {
        let t = Instant::now();
        std::hint::black_box(render::json(&plan));
        t.elapsed()
    });
    report("render JSON", &json, false);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (label, concurrency) in [
        ("executor, null sink, concurrency 64", 64),
        ("executor, null sink, concurrency 1000", 1_000),
    ] {
        let stats = measure(10, || {
            let targets = targets();
            let local: Arc<dyn Target> = Arc::new(FakeTarget::new("local"));
            let executor = Executor::new(local, RunValues::new("r1")).concurrency(concurrency);
            runtime.block_on(async {
                let t = Instant::now();
                let report = executor.run(&plan, &targets, &NullSink).await;
                let elapsed = t.elapsed();
                assert!(report.succeeded(), "the bench run must succeed");
                elapsed
            })
        });
        report(label, &stats, true);
    }
    let stats = measure(10, || {
        let targets = targets();
        let local: Arc<dyn Target> = Arc::new(FakeTarget::new("local"));
        let executor = Executor::new(local, RunValues::new("r1"));
        runtime.block_on(async {
            let t = Instant::now();
            let report = executor.run(&plan, &targets, &JsonToVoid).await;
            assert!(report.succeeded());
            t.elapsed()
        })
    });
    report("executor, JSON events, concurrency 64", &stats, true);
}
