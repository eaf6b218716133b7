//! The djangopackages guide (seeds/002, `examples/djangopackages`) end to
//! end on a real server: its own sshd, a `deploy` login in the docker
//! group, Caddy run by supervisord on it (the guide's provisioning), the
//! machine's engine behind its socket. The code is put on the server and
//! built there; postgres and redis start once; two django containers go
//! blue/green behind Caddy under load with no failed request; backup, list,
//! restore; status, ps and logs of all services and of one; an unhealthy
//! image refused while the old pair serves; rollback.
//!
//! Run: `cargo test -p deploy-cli --test djangopackages`

mod example;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deploy_docker::testing::{self, DEBIAN, FleetOptions, get_at, load_at};
use example::{Example, docker_group, texts, user_setup};

#[test]
fn djangopackages_blue_green_behind_caddy() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(testing::engine()) else {
        return;
    };
    let clean = |engine: &deploy_docker::Engine| {
        runtime.block_on(async {
            for label in [("deploy.service", "django")] {
                if let Ok(containers) = engine.list(&[label]).await {
                    for container in containers {
                        let _ = engine.remove(&container.name).await;
                    }
                }
            }
            for name in ["djangopackages-postgres", "djangopackages-redis"] {
                let _ = engine.remove(name).await;
            }
            testing::remove_volume(engine, "djangopackages-postgres").await;
        })
    };
    clean(&engine);
    let (postgres, redis) = runtime.block_on(async {
        (
            testing::postgres_server_image(&engine).await,
            testing::redis_image(&engine).await,
        )
    });
    let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/djangopackages/server");
    let read = |name: &str| std::fs::read_to_string(server.join(name)).expect("a server file");
    let options = FleetOptions {
        docker_socket: true,
        setup: format!(
            "{} {}\nmkdir -p /etc/caddy /var/lib/caddy /code /data/djangopackages/backups; \
             chown deploy: /code /data/djangopackages/backups\n\
             cat > /etc/caddy/djangopackages.json <<'JSON'\n{}JSON\n\
             cat > /etc/supervisor/conf.d/caddy.conf <<'CONF'\n{}CONF\n\
             supervisord -c /etc/supervisor/supervisord.conf\n",
            user_setup("deploy"),
            docker_group("deploy"),
            read("caddy.json"),
            read("caddy.conf"),
        ),
        ..FleetOptions::default()
    };
    let (example, fleet) = runtime.block_on(Example::start(
        &engine,
        "djangopackages",
        &["djangopackages.example"],
        "deploy",
        &options,
    ));
    let address = fleet.hosts[0].address.clone();
    let params = [
        format!("network={}", fleet.network),
        format!("postgres_image={postgres}"),
        format!("redis_image={redis}"),
        format!("base_image={DEBIAN}"),
    ];
    let run = || {
        let mut args = vec!["run"];
        args.extend(params.iter().map(String::as_str));
        example.deploy(&args)
    };
    let page = || runtime.block_on(get_at(&address, 80, "/"));
    let sql = |query: &str| {
        runtime.block_on(testing::sh(
            &engine,
            "djangopackages-postgres",
            &format!("psql -U djangopackages -d djangopackages -tAc \"{query}\""),
        ))
    };
    // Runs `deploy run` while 4 kept-alive clients load Caddy.
    let run_under_load = || {
        let stop = Arc::new(AtomicBool::new(false));
        let (at, until) = (address.clone(), stop.clone());
        let under_load = runtime.spawn(async move { load_at(&at, 80, 4, true, until).await });
        let out = run();
        stop.store(true, Ordering::SeqCst);
        (out, runtime.block_on(under_load).expect("load"))
    };

    // A first deploy.
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    let first = page();
    assert!(
        first.starts_with("djangopackages ") && first.ends_with("packages=0\n"),
        "{first}"
    );
    sql("INSERT INTO packages (name) VALUES ('django-debug-toolbar'), ('django-extensions')");

    // fab deploy again, under load: blue/green, no request lost.
    let (out, report) = run_under_load();
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    let second = page();
    assert_ne!(second, first);
    assert!(second.ends_with("packages=2\n"), "{second}");
    assert_eq!(report.failed, 0, "requests lost: {report:?}");
    assert!(report.ok > 0, "{report:?}");

    // Backups: take one, list it, lose a row, restore it.
    example.ok(&["backup"]);
    let (listed, _) = example.ok(&["backups", "--json"]);
    let id = serde_json::from_str::<serde_json::Value>(listed.lines().next().expect("a backup"))
        .expect("JSON")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    sql("DELETE FROM packages");
    example.ok(&["restore", &id, "--yes"]);
    assert_eq!(sql("SELECT count(*) FROM packages"), "2\n");

    // When things go wrong: status, ps, logs of all services and of one.
    let (status, _) = example.ok(&["status"]);
    assert!(status.contains("django"), "{status}");
    let (stdout, stderr) = example.ok(&["run", "production", "ps"]);
    let ps = format!("{stdout}{stderr}");
    for service in ["django", "djangopackages-postgres", "djangopackages-redis"] {
        assert!(ps.contains(service), "{service} in\n{ps}");
    }
    let (all, _) = example.ok(&["logs", "-n", "20"]);
    let served = "\"GET / HTTP/1.1\" 200";
    assert!(all.contains("caddy |") && all.contains(served), "{all}");
    assert!(all.contains("djangopackages-postgres |"), "{all}");
    let (one, _) = example.ok(&["logs", "caddy", "-n", "20"]);
    assert!(one.contains("caddy |") && !one.contains(served), "{one}");

    // An image that never becomes healthy: refused, the old pair serves,
    // no request lost.
    std::fs::write(example.project.join("app/unhealthy"), "").expect("mark");
    example.git(&["add", "-A"]);
    example.git(&["commit", "-q", "-m", "broken health"]);
    let (out, report) = run_under_load();
    let (stdout, stderr) = texts(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("healthy"), "says why:\n{stderr}");
    assert_eq!(page(), second);
    assert_eq!(report.failed, 0, "requests lost: {report:?}");

    // Rollback: the release before answers again.
    example.ok(&["rollback", "--yes"]);
    assert_eq!(page(), first.replace("packages=0", "packages=2"));

    clean(&engine);
    runtime.block_on(fleet.stop(&engine));
}
