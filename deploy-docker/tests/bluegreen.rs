//! Blue/green replacement against the real engine behind a real nginx and a
//! real Caddy (host processes started here): load through the proxy sees no
//! failed request and versions only move forward; a new version that never
//! gets healthy leaves the old one serving; undo switches back.
//!
//! Run: `cargo test -p deploy-docker --test bluegreen`.

use deploy_core::LocalTarget;
use deploy_core::testing::TestContext;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use deploy_core::Step;
use deploy_docker::steps::ReplaceBlueGreen;
use deploy_docker::testing::{self, APP_PORT, Caddy, Nginx, TEST_LABEL};

/// Both replicas per batch: the proxy switches from all-old to all-new, so
/// each client sees old, then new. (With `batch = 1` old and new replicas
/// serve side by side for a while, as a rolling update does.)
fn step(
    service: &str,
    image: &str,
    network: &str,
    test: &str,
    proxy: &str,
    wait: &str,
) -> ReplaceBlueGreen {
    let batch = 2;
    toml::from_str(&format!(
        "name = \"{service}\"\nimage = \"{image}\"\nnetworks = [\"{network}\"]\nport = {APP_PORT}\n\
         replicas = 2\nbatch = {batch}\ndrain = \"1s\"\nwait = \"{wait}\"\nstop_grace = \"2s\"\n\
         labels = {{ \"{TEST_LABEL}\" = \"{test}\" }}\nproxy = {proxy}\n"
    ))
    .expect("blue-green config")
}

/// Deploys v1, then v2 under load, undoes v2, deploys v2 again, then a
/// broken v3. With nginx no request may fail (its listening socket stays
/// open across a reload), but old and new workers both accept for a moment,
/// so a client can see v1 again right after v2. With Caddy (`strict`) every
/// client sees v1, then v2, never back: it swaps its config in one step.
async fn replace_under_load(test: &str, proxy: &str, port: u16, strict: bool) {
    let Some(engine) = testing::engine().await else {
        return;
    };
    testing::clean_up(&engine, test).await;
    let v1 = testing::app_image(&engine, "v1", true).await;
    let v2 = testing::app_image(&engine, "v2", true).await;
    let broken = testing::app_image(&engine, "v3", false).await;
    let network = testing::unique("net");
    engine
        .ensure_network(&network, "bridge")
        .await
        .expect("network");
    let service = testing::unique("web");
    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();

    let first = step(&service, &v1, &network, test, proxy, "30s");
    first.apply(&ctx).await.expect("first deploy");
    assert!(
        first.is_satisfied(&ctx).await.expect("check"),
        "v1 runs: satisfied"
    );
    assert!(testing::get(port, "/").await.contains("version v1"));

    // v2 under load from 4 clients.
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(testing::load(port, 4, false, Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let upgrade = step(&service, &v2, &network, test, proxy, "30s");
    let applied = upgrade.apply(&ctx).await.expect("upgrade");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let report = load.await.expect("load");
    let summary: Vec<Vec<String>> = report
        .versions
        .iter()
        .map(|v| v.iter().take(6).cloned().collect())
        .collect();
    if strict {
        // Caddy 2.6 applies an admin-API change by reloading its whole
        // config, which can reset a connection that arrives during the
        // listener handoff: counted in docs/benchmarks.md, reported here.
        eprintln!(
            "{test}: {} ok, {} failed: {:?}",
            report.ok, report.failed, report.errors
        );
    } else {
        assert_eq!(
            report.failed, 0,
            "no request failed during the switch ({} ok): {:?}",
            report.ok, report.errors
        );
    }
    assert!(report.ok > 50, "load ran: {} requests", report.ok);
    for seen in &report.versions {
        assert!(
            !strict
                || matches!(seen.as_slice(), [_] | [_, _])
                    && seen.first().map(String::as_str) == Some("v1"),
            "versions move forward only: {summary:?}"
        );
        assert_eq!(
            seen.last().map(String::as_str),
            Some("v2"),
            "every client ends on v2: {summary:?}"
        );
    }
    assert!(testing::get(port, "/").await.contains("version v2"));

    // Undo switches back to v1; deploying v2 again switches forward.
    upgrade
        .undoable()
        .expect("undoable")
        .revert(&ctx, &applied)
        .await
        .expect("undo");
    assert!(
        testing::get(port, "/").await.contains("version v1"),
        "switched back to v1"
    );
    upgrade.apply(&ctx).await.expect("v2 again");
    assert!(testing::get(port, "/").await.contains("version v2"));

    // A version that never gets healthy: removed, v2 keeps serving.
    let err = step(&service, &broken, &network, test, proxy, "5s")
        .apply(&ctx)
        .await
        .expect_err("v3 is never healthy");
    assert!(err.to_string().contains("did not become healthy"), "{err}");
    assert!(
        testing::get(port, "/").await.contains("version v2"),
        "v2 still serves"
    );
    let running: Vec<String> = engine
        .list(&[(TEST_LABEL, test)])
        .await
        .expect("list")
        .into_iter()
        .filter(|c| c.running())
        .map(|c| c.image)
        .collect();
    assert_eq!(running, [v2.clone(), v2.clone()], "only v2 runs");

    testing::clean_up(&engine, test).await;
    engine
        .remove_network(&network)
        .await
        .expect("remove network");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_behind_nginx() {
    let nginx = Nginx::start();
    let proxy = format!(
        "{{ nginx = {{ upstream_file = \"{}\", upstream = \"app\", command = {:?} }} }}",
        nginx.upstream_file().display(),
        nginx.command()
    );
    replace_under_load("blue_green_behind_nginx", &proxy, nginx.port, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_behind_caddy() {
    let caddy = Caddy::start();
    let proxy = format!(
        "{{ caddy = {{ admin = \"{}\", id = \"app\" }} }}",
        caddy.admin
    );
    replace_under_load("blue_green_behind_caddy", &proxy, caddy.port, true).await;
}
