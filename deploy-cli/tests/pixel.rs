//! The Pixel guide (seeds/000, `examples/pixel`) end to end on a real
//! server: a fleet host with its own sshd and a `pixel` account whose only
//! right is `sudo bin/deploy`, the `deploy` binary installed on it, its
//! Docker engine behind its socket; `~/staging` and `~/production` laid out
//! as the guide's "Server settings" say. CI's side runs `deploy ci` from a
//! checkout: master → staging (twice: a first deploy, an upgrade; the
//! database keeps its rows and is never recreated; collectstatic and both
//! migrations ran), rollback by digest, a broken image refused while the
//! old web serves, a tag → production only with approval, then rolled back.
//!
//! Run: `cargo test -p deploy-cli --test pixel`

mod example;

use std::path::Path;

use deploy_docker::testing::{self, DEBIAN, FleetOptions, Registry, get, publish};
use deploy_docker::{BuildSpec, Engine};
use example::{Example, docker_group, texts, user_setup};

const PROJECTS: [&str; 2] = ["pixel-staging", "pixel-production"];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Builds the example's web image as CI would (`docker build`), FROM the
/// Debian base (no registry to pull python:3.11-slim from).
async fn web_image(engine: &Engine, version: &str, broken: bool) -> String {
    let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pixel/app");
    let tag = format!("deploy-test-pixel:{version}");
    let mut spec = BuildSpec::new(&app, &tag);
    spec.args.insert("BASE".into(), DEBIAN.into());
    spec.args.insert("VERSION".into(), version.into());
    spec.args
        .insert("BROKEN".into(), u8::from(broken).to_string());
    testing::debian_image(engine).await;
    engine
        .build(&spec, &deploy_core::target::DiscardOutput)
        .await
        .unwrap_or_else(|e| panic!("building {tag}: {e}"));
    tag
}

#[test]
fn pixel_staging_and_production() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(testing::engine()) else {
        return;
    };
    // What a failed earlier run left (its asserts stop before clean-up).
    runtime.block_on(async {
        for project in PROJECTS {
            testing::remove_project(&engine, project).await;
        }
    });
    let registry = Registry::start();
    let repo = format!("{}/candihub/pixel", registry.address);
    let (postgres, nginx, v1, v2, broken) = runtime.block_on(async {
        (
            testing::postgres_server_image(&engine).await,
            testing::nginx_image(&engine).await,
            web_image(&engine, "1.0.0", false).await,
            web_image(&engine, "1.1.0", false).await,
            web_image(&engine, "1.2.0", true).await,
        )
    });
    runtime.block_on(async {
        publish(&engine, &v1, &format!("{repo}:latest")).await;
        publish(&engine, &v1, &format!("{repo}:1.0.0")).await;
        publish(&engine, &v2, &format!("{repo}:1.1.0")).await;
    });

    // The server: pixel's home where this machine's engine sees it too
    // (compose binds ~/staging/docker/… through the socket).
    let shared = tempfile::tempdir().expect("tempdir");
    let home = shared.path().join("pixel");
    let home = home.display().to_string();
    let deploy_binary = assert_cmd::cargo::cargo_bin("deploy");
    let options = FleetOptions {
        docker_socket: true,
        volumes: vec![
            format!("{0}:{0}", shared.path().display()),
            format!("{}:/usr/local/bin/deploy:ro", deploy_binary.display()),
        ],
        setup: format!(
            "id -u pixel >/dev/null 2>&1 || useradd -m -d {home} -s /bin/bash pixel; {} \
             printf 'pixel ALL=(root) NOPASSWD: {home}/staging/bin/deploy, {home}/production/bin/deploy\\n' > /etc/sudoers.d/pixel; \
             chmod 440 /etc/sudoers.d/pixel;",
            user_setup("pixel")
        ),
    };
    let _ = docker_group; // pixel is not in the docker group: only root (bin/deploy) reaches the engine
    let (example, fleet) = runtime.block_on(Example::start(
        &engine,
        "pixel",
        &["pixel.example"],
        "pixel",
        &options,
    ));
    let ports = [("staging", free_port()), ("production", free_port())];
    for (env, port) in ports {
        let dir = Path::new(&home).join(env);
        let source = example.project.clone();
        for (from, to) in [
            ("deploy.toml".to_owned(), "deploy.toml"),
            (format!("docker-compose.{env}.yml"), "docker-compose.yml"),
            ("bin/deploy".to_owned(), "bin/deploy"),
            (
                "docker/etc/nginx/conf.d/pixel.conf".to_owned(),
                "docker/etc/nginx/conf.d/pixel.conf",
            ),
        ] {
            let to = dir.join(to);
            std::fs::create_dir_all(to.parent().expect("a parent")).expect("mkdir");
            std::fs::copy(source.join(&from), &to).expect("copy");
        }
        let version = if env == "staging" { "latest" } else { "1.0.0" };
        std::fs::write(
            dir.join(".env"),
            format!(
                "VERSION={version}\nPIXEL_IMAGE={repo}\nPOSTGRES_IMAGE={postgres}\nNGINX_IMAGE={nginx}\nHTTP_PORT={port}\nPOSTGRES_PASSWORD=not-used-by-trust\n"
            ),
        )
        .expect(".env");
    }
    let page = |port: u16, path: &str| runtime.block_on(get(port, path));
    let db = |env: &str, sql: &str| {
        runtime.block_on(testing::sh(
            &engine,
            &format!("pixel-{env}-db-1"),
            &format!("psql -U pixel -d pixel -tAc \"{sql}\""),
        ))
    };
    let staging = ports[0].1;
    let production = ports[1].1;
    let ci = |args: &[&str]| {
        let mut all = vec!["ci", "--sha", "0123abc"];
        all.extend(args);
        example.deploy(&all)
    };

    // The account: nothing but sudo bin/deploy.
    let refused = runtime.block_on(fleet.sh(
        &engine,
        0,
        "runuser -u pixel -- sudo -n true; echo $?; runuser -u pixel -- touch ~pixel/staging/x 2>/dev/null; echo $?",
    ));
    assert_eq!(
        refused, "1\n1\n",
        "pixel may not sudo anything else, nor write ~/staging"
    );

    // master → staging: a first deploy, then an upgrade.
    let out = ci(&["--branch", "master"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    assert_eq!(page(staging, "/"), "pixel 1.0.0 pixels=0\n");
    assert_eq!(
        page(staging, "/static/version.txt"),
        "1.0.0\n",
        "collectstatic ran"
    );
    db(
        "staging",
        "INSERT INTO pixels (x, y, color) VALUES (1, 2, 'red'), (3, 4, 'blue')",
    );
    let database = runtime
        .block_on(engine.inspect("pixel-staging-db-1"))
        .expect("inspect")
        .map(|c| c.id);
    runtime.block_on(publish(&engine, &v2, &format!("{repo}:latest")));
    let out = ci(&["--branch", "master"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    assert_eq!(
        page(staging, "/"),
        "pixel 1.1.0 pixels=2\n",
        "the database kept its rows"
    );
    assert_eq!(
        runtime
            .block_on(engine.inspect("pixel-staging-db-1"))
            .expect("inspect")
            .map(|c| c.id),
        database,
        "the database was not recreated"
    );
    assert_eq!(
        db("staging", "SELECT count(*) FROM django_migrations"),
        "2\n"
    );

    // Rollback on the server (sudo bin/deploy rollback): by digest.
    example.ok(&["run", "staging", "rollback"]);
    assert_eq!(page(staging, "/"), "pixel 1.0.0 pixels=2\n");

    // A broken image as latest: refused, the old web serves.
    runtime.block_on(publish(&engine, &broken, &format!("{repo}:latest")));
    let out = ci(&["--branch", "master"]);
    let (stdout, stderr) = texts(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("bin/deploy") && stderr.contains("healthy"),
        "says why:\n{stderr}"
    );
    assert_eq!(page(staging, "/"), "pixel 1.0.0 pixels=2\n");

    // A tag → production: refused without approval, shipped with it.
    let out = ci(&["--tag", "1.0.0"]);
    assert_eq!(out.status.code(), Some(3), "{:?}", texts(&out));
    let out = ci(&["--tag", "1.0.0", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    assert_eq!(page(production, "/"), "pixel 1.0.0 pixels=0\n");
    let out = ci(&["--tag", "1.1.0", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    assert_eq!(page(production, "/"), "pixel 1.1.0 pixels=0\n");
    assert!(
        std::fs::read_to_string(Path::new(&home).join("production/.env"))
            .expect(".env")
            .contains("VERSION=1.1.0\n")
    );
    let (_, said) = example.ok(&["rollback", "production", "--yes"]);
    assert_eq!(page(production, "/"), "pixel 1.0.0 pixels=0\n", "{said}");
    assert_eq!(
        page(staging, "/"),
        "pixel 1.0.0 pixels=2\n",
        "staging untouched"
    );

    runtime.block_on(async {
        for project in PROJECTS {
            testing::remove_project(&engine, project).await;
        }
        for tag in ["latest", "1.0.0", "1.1.0"] {
            let _ = engine.remove_image(&format!("{repo}:{tag}")).await;
        }
        fleet.stop(&engine).await;
    });
}
