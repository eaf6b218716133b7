//! The ICEkit guide (seeds/001, `examples/icekit`) end to end on a real
//! host (its own sshd, a `deploy` login in the docker group, the machine's
//! engine behind its socket): build, run the tests in the image, push,
//! back up the database, two django containers one after the other behind
//! a proxy, migrate, key pages checked; an upgrade keeps the rows; a commit
//! whose tests fail stops before anything ships; rollback puts back the
//! image by digest and the database as the backup before the upgrade had
//! it; an image whose health check fails is refused while the proxy keeps
//! answering every request.
//!
//! Run: `cargo test -p deploy-cli --test icekit`

mod example;

use deploy_docker::testing::{self, DEBIAN, FleetOptions, Registry, get, load};
use example::{Example, docker_group, texts, user_setup};

const CONTAINERS: [&str; 7] = [
    "icekit-django-1",
    "icekit-django-2",
    "icekit-django-1-previous",
    "icekit-django-2-previous",
    "icekit-db",
    "icekit-redis",
    "icekit-proxy",
];

#[test]
fn icekit_build_test_push_deploy_roll_back() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(testing::engine()) else {
        return;
    };
    let clean = |engine: &deploy_docker::Engine| {
        runtime.block_on(async {
            for name in CONTAINERS {
                let _ = engine.remove(name).await;
            }
            let _ = engine.remove_network("icekit").await;
            testing::remove_volume(engine, "icekit-db").await;
        })
    };
    clean(&engine);
    let registry = Registry::start();
    let (postgres, redis, nginx) = runtime.block_on(async {
        testing::debian_image(&engine).await;
        (
            testing::postgres_server_image(&engine).await,
            testing::redis_image(&engine).await,
            testing::nginx_image(&engine).await,
        )
    });
    let shared = tempfile::tempdir().expect("tempdir");
    let app_dir = shared.path().join("icekit").display().to_string();
    let options = FleetOptions {
        docker_socket: true,
        volumes: vec![format!("{0}:{0}", shared.path().display())],
        setup: format!(
            "{} {} mkdir -p {app_dir}; chown deploy: {app_dir};",
            user_setup("deploy"),
            docker_group("deploy")
        ),
    };
    let (example, fleet) = runtime.block_on(Example::start(
        &engine,
        "icekit",
        &["icekit.example"],
        "deploy",
        &options,
    ));
    let example = example.env("ICEKIT_SECRET_KEY", "not-so-secret-key");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let params = [
        format!("registry={}/acme", registry.address),
        format!("app_dir={app_dir}"),
        format!("web_port={port}"),
        "check_host=127.0.0.1".to_owned(),
        format!("postgres_image={postgres}"),
        format!("redis_image={redis}"),
        format!("nginx_image={nginx}"),
        format!("base_image={DEBIAN}"),
    ];
    let run = || {
        let mut args = vec!["run"];
        args.extend(params.iter().map(String::as_str));
        example.deploy(&args)
    };
    let page = |path: &str| runtime.block_on(get(port, path));
    let sql = |query: &str| {
        runtime.block_on(testing::sh(
            &engine,
            "icekit-db",
            &format!("psql -U icekit -d icekit -tAc \"{query}\""),
        ))
    };
    let commit = || example.git(&["rev-parse", "--short", "HEAD"]);

    // A first deploy: built, tested, pushed, backed up, deployed, checked.
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    let first = commit();
    assert_eq!(page("/"), format!("icekit {first} articles=0\n"));
    assert!(page("/about/").contains("About this site (www.mydomain.com.au)"));
    sql("INSERT INTO articles (title) VALUES ('one'), ('two')");

    // An upgrade with a migration: both containers replaced, rows kept.
    std::fs::write(
        example
            .project
            .join("app/migrations/0002_article_summary.sql"),
        "ALTER TABLE articles ADD COLUMN summary text NOT NULL DEFAULT '';\n",
    )
    .expect("a migration");
    example.git(&["add", "-A"]);
    example.git(&["commit", "-q", "-m", "summaries"]);
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    let second = commit();
    assert_eq!(page("/"), format!("icekit {second} articles=2\n"));
    assert_eq!(
        sql("SELECT count(*) FROM articles WHERE summary = ''"),
        "2\n"
    );
    for replica in ["icekit-django-1", "icekit-django-2"] {
        let image = runtime
            .block_on(engine.inspect(replica))
            .expect("inspect")
            .expect("runs")
            .image;
        assert!(image.ends_with(&second), "{replica} runs {image}");
    }
    sql("INSERT INTO articles (title) VALUES ('three')");

    // Tests that fail inside the image: nothing is pushed or deployed.
    let tests = example.read("app/tests.py");
    example.change(
        "app/tests.py",
        &tests.replace("self.assertIn(page, source)", "self.assertIn(page, '')"),
        "a failing test",
    );
    let out = run();
    let (stdout, stderr) = texts(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("deploy.2") && stderr.contains("FAILED"),
        "the tests step failed:\n{stderr}"
    );
    assert_eq!(page("/"), format!("icekit {second} articles=3\n"));
    example.change("app/tests.py", &tests, "tests mended");

    // Rollback with data: the first image by digest, the database as the
    // backup taken before the upgrade had it (no summary column, 2 rows).
    let (_, said) = example.ok(&["rollback", "--yes", "--with-data"]);
    assert_eq!(page("/"), format!("icekit {first} articles=2\n"), "{said}");
    assert_eq!(
        sql(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'articles' AND column_name = 'summary'"
        ),
        "0\n"
    );

    // An image whose health check fails: refused on the first container;
    // the proxy answers every request meanwhile.
    std::fs::write(example.project.join("app/unhealthy"), "").expect("mark");
    example.git(&["add", "-A"]);
    example.git(&["commit", "-q", "-m", "broken health"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let under_load = runtime.spawn(load(port, 4, true, stop.clone()));
    let out = run();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let report = runtime.block_on(under_load).expect("load");
    let (stdout, stderr) = texts(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("icekit-django-1") && stderr.contains("healthy"),
        "says why:\n{stderr}"
    );
    assert!(
        page("/").starts_with(&format!("icekit {first} ")),
        "{}",
        page("/")
    );
    assert_eq!(
        report.failed, 0,
        "requests lost behind the proxy: {report:?}"
    );
    assert!(report.ok > 0, "{report:?}");

    clean(&engine);
    runtime.block_on(async {
        let _ = engine.remove_network("icekit").await;
        fleet.stop(&engine).await;
    });
}
