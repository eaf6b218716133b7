//! Zero downtime, measured: keep-alive clients send requests through a proxy
//! while the service is replaced, with no client-side retries; every
//! connection error and non-200 answer is a failed request, and every
//! answer names the version that served it.
//!
//! Run: `cargo bench -p deploy-docker --bench zero_downtime` (needs the
//! engine, nginx and Caddy: `scripts/install-peers`; about 2 minutes).
//!
//! Cases, each run 3 times, 4 keep-alive clients:
//! - `docker.blue-green` behind nginx, and behind Caddy (2 replicas, both
//!   replaced at once, 1 s drain);
//! - `docker.recreate` of one container publishing the port the clients use;
//! - Debian's `docker-compose up -d --force-recreate` of the same service.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use deploy_core::LocalTarget;
use deploy_core::target::DiscardOutput;
use deploy_docker::bluegreen::BlueGreen;
use deploy_docker::container::Healthcheck;
use deploy_docker::proxy::Proxy;
use deploy_docker::testing::{self, APP_PORT, Caddy, LoadReport, Nginx, TEST_LABEL};
use deploy_docker::{ContainerSpec, Engine};

const RUNS: usize = 3;
const CLIENTS: usize = 4;
const TEST: &str = "zero-downtime-bench";

/// One measured replacement.
struct Measured {
    report: LoadReport,
    /// Requests answered by the new version only after it was healthy.
    healthy_to_switched: Option<Duration>,
    wall: Duration,
}

/// Counts how often a client went back to an older version.
fn back_steps(versions: &[String]) -> usize {
    versions.windows(2).filter(|w| w[1] < w[0]).count()
}

fn sequence(report: &LoadReport) -> String {
    let mut shapes: Vec<String> = report
        .versions
        .iter()
        .map(|v| {
            if v.len() <= 4 {
                v.join("→")
            } else {
                format!("{}→…({} changes)…→{}", v[0], v.len() - 1, v[v.len() - 1])
            }
        })
        .collect();
    shapes.sort();
    shapes.dedup();
    shapes.join("; ")
}

/// Runs `replace` while the clients load `port`; load starts 1 s before and
/// stops 1 s after.
async fn under_load<F, Fut>(port: u16, replace: F) -> Measured
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Option<Duration>>,
{
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(testing::load(port, CLIENTS, true, Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let healthy_to_switched = replace().await;
    let wall = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let report = load.await.unwrap_or_default();
    Measured {
        report,
        healthy_to_switched,
        wall,
    }
}

fn app_spec(image: &str, network: &str) -> ContainerSpec {
    let mut spec = ContainerSpec::new("unused", image)
        .label(TEST_LABEL, TEST)
        .network(network);
    // Docker's init forwards SIGTERM to the app, as a real app's own
    // handler would: a stop takes milliseconds, not the whole grace.
    spec.init = true;
    spec.healthcheck = Some(Healthcheck::command([
        "CMD".to_owned(),
        "/app".to_owned(),
        "--check".to_owned(),
        "--port".to_owned(),
        APP_PORT.to_string(),
    ]));
    if let Some(check) = spec.healthcheck.as_mut() {
        check.interval = Duration::from_millis(500);
    }
    spec
}

async fn blue_green(
    engine: &Engine,
    proxy: Proxy,
    port: u16,
    network: &str,
    run: usize,
) -> Measured {
    let host = LocalTarget::new("localhost");
    let service = format!("zd-{}-{run}", std::process::id());
    let plan = |image: &str| BlueGreen {
        service: service.clone(),
        spec: app_spec(image, network),
        port: APP_PORT,
        replicas: 2,
        batch: 2,
        proxy: proxy.clone(),
        health_wait: Duration::from_secs(30),
        drain: Duration::from_secs(1),
        stop_grace: Duration::from_secs(5),
    };
    let v1 = plan("deploy-test-app:v1");
    engine
        .blue_green(&host, &v1, &DiscardOutput)
        .await
        .expect("v1 deploys");
    let v2 = plan("deploy-test-app:v2");
    let measured = under_load(port, || async {
        let switched = engine
            .blue_green(&host, &v2, &DiscardOutput)
            .await
            .expect("v2 deploys");
        Some(switched.healthy_to_switched)
    })
    .await;
    testing::clean_up(engine, TEST).await;
    measured
}

async fn recreate(engine: &Engine, network: &str, run: usize) -> Measured {
    let port = deploy_core::testing::free_port();
    let name = format!("zd-recreate-{}-{run}", std::process::id());
    let spec = |image: &str| {
        let mut spec = app_spec(image, network);
        spec.name.clone_from(&name);
        spec.port(&format!("127.0.0.1:{port}:{APP_PORT}"))
            .expect("port")
    };
    engine
        .replace(
            &spec("deploy-test-app:v1"),
            Duration::from_secs(5),
            Some(Duration::from_secs(30)),
        )
        .await
        .expect("v1 runs");
    let measured = under_load(port, || async {
        engine
            .replace(
                &spec("deploy-test-app:v2"),
                Duration::from_secs(5),
                Some(Duration::from_secs(30)),
            )
            .await
            .expect("v2 runs");
        None
    })
    .await;
    testing::clean_up(engine, TEST).await;
    measured
}

/// Debian's docker-compose (1.29), the same service; `None` if it cannot run.
async fn compose(run: usize) -> Option<Measured> {
    let dir = tempfile::tempdir().ok()?;
    let port = deploy_core::testing::free_port();
    let project = format!("zd{}x{run}", std::process::id());
    let file = dir.path().join("docker-compose.yml");
    let write = |image: &str| {
        std::fs::write(
            &file,
            format!(
                "version: \"3\"\nservices:\n  app:\n    image: {image}\n    init: true\n    ports: [\"127.0.0.1:{port}:{APP_PORT}\"]\n    labels:\n      {TEST_LABEL}: {TEST}\n"
            ),
        )
    };
    let up = {
        let (project, file) = (project.clone(), file.clone());
        move |extra: &[&str]| {
            std::process::Command::new("docker-compose")
                .args(["-p", &project, "-f"])
                .arg(&file)
                .args(["up", "-d"])
                .args(extra)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        }
    };
    write("deploy-test-app:v1").ok()?;
    if !up(&[]) {
        return None;
    }
    // Wait until v1 answers.
    let _ = testing::load_once(port).await;
    write("deploy-test-app:v2").ok()?;
    let measured = under_load(port, || async {
        let up = up.clone();
        let ok = tokio::task::spawn_blocking(move || up(&["--force-recreate"]))
            .await
            .unwrap_or(false);
        assert!(ok, "docker-compose up --force-recreate failed");
        None
    })
    .await;
    let _ = std::process::Command::new("docker-compose")
        .args(["-p", &project, "-f"])
        .arg(&file)
        .args(["down"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    Some(measured)
}

fn print_row(case: &str, run: usize, m: &Measured) {
    let total = m.report.ok + m.report.failed;
    let backs: usize = m.report.versions.iter().map(|v| back_steps(v)).sum();
    println!(
        "| {case} | {} | {total} | {} | {} ms | {} | {} | {} | {:.2} |",
        run + 1,
        m.report.failed,
        m.report.longest_gap.as_millis(),
        backs,
        sequence(&m.report),
        m.healthy_to_switched
            .map_or("—".to_owned(), |d| format!("{} ms", d.as_millis())),
        m.wall.as_secs_f64()
    );
    for error in m.report.errors.iter().take(3) {
        eprintln!("  {case} run {}: {error}", run + 1);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(engine) = testing::engine().await else {
        eprintln!("no Docker engine: nothing measured");
        return;
    };
    testing::clean_up(&engine, TEST).await;
    testing::app_image(&engine, "v1", true).await;
    testing::app_image(&engine, "v2", true).await;
    let network = format!("zd-net-{}", std::process::id());
    engine
        .ensure_network(&network, "bridge")
        .await
        .expect("network");
    let version = engine.api().version().await.ok();
    println!("# Zero downtime (cargo bench -p deploy-docker --bench zero_downtime)\n");
    println!(
        "- engine: Docker {} (API {}); {CLIENTS} keep-alive clients (HTTP/1.1, one connection each, \
         reopened only when the server closed it between requests; no request retried); load from \
         1 s before the replacement to 1 s after; the app: deploy-test-app (static demo app, \
         Docker health check every 0.5 s)",
        version
            .as_ref()
            .and_then(|v| v.version.clone())
            .unwrap_or_default(),
        version
            .as_ref()
            .and_then(|v| v.api_version.clone())
            .unwrap_or_default(),
    );
    println!(
        "- columns: requests = all sent; failed = connection errors and non-200 answers; longest gap = \
         the longest time one client went without a successful answer; back \
         = times a client saw an older version after a newer one; versions = what the clients \
         saw, in order; healthy→switched = from the new replicas healthy to the proxy switched; \
         wall = the replacement itself\n"
    );
    println!(
        "| case | run | requests | failed | longest gap | back | versions | healthy→switched | wall s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for run in 0..RUNS {
        let nginx = Nginx::start();
        let proxy = Proxy::Nginx {
            upstream_file: nginx.upstream_file().display().to_string(),
            upstream: "app".to_owned(),
            command: nginx.command(),
            container: None,
        };
        let m = blue_green(&engine, proxy, nginx.port, &network, run).await;
        print_row("docker.blue-green, nginx 1.22", run, &m);
    }
    for run in 0..RUNS {
        let caddy = Caddy::start();
        let proxy = Proxy::Caddy {
            admin: caddy.admin.clone(),
            id: "app".to_owned(),
        };
        let m = blue_green(&engine, proxy, caddy.port, &network, run).await;
        print_row("docker.blue-green, Caddy 2.6", run, &m);
    }
    for run in 0..RUNS {
        let m = recreate(&engine, &network, run).await;
        print_row("docker.recreate (port published)", run, &m);
    }
    for run in 0..RUNS {
        match compose(run).await {
            Some(m) => print_row("docker-compose 1.29 up -d --force-recreate", run, &m),
            None => println!(
                "| docker-compose 1.29 up -d --force-recreate | {} | — | — | — | did not run on this engine | — | — |",
                run + 1
            ),
        }
    }
    engine.remove_network(&network).await.ok();
}
