//! The Allume guide (seeds/004, `examples/allume`) end to end on two real
//! hosts (web and worker roles, each its own sshd and `deploy` login in the
//! docker group, reaching the machine's Docker engine through the SSH
//! connection as on a server): images pushed to a registry as CI would,
//! `deploy ci` on develop (a first deploy, then an upgrade), logstash left
//! alone once it runs, the `docker_tag` override with its slash removed,
//! rollback by digest, an unhealthy image refused while the old web keeps
//! serving, and which environment master and the `uat` tag pick.
//!
//! Run: `cargo test -p deploy-cli --test allume`

mod example;

use deploy_docker::testing::{self, FleetOptions, Registry, get, publish};
use example::{Example, docker_group, texts, user_setup};

const CONTAINERS: [&str; 6] = [
    "allume-web",
    "allume-web-previous",
    "allume-worker",
    "allume-worker-previous",
    "allume-logstash",
    "allume-logstash-previous",
];

#[test]
fn allume_stage_by_branch() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(testing::engine()) else {
        return;
    };
    let registry = Registry::start();
    let repo = format!("{}/allume", registry.address);
    let image = |tag: &str| format!("{repo}/shopping-tool:{tag}");
    let (v1, v2, v3, broken) = runtime.block_on(async {
        (
            testing::app_image(&engine, "v1", true).await,
            testing::app_image(&engine, "v2", true).await,
            testing::app_image(&engine, "v3", true).await,
            testing::app_image(&engine, "v4", false).await,
        )
    });
    runtime.block_on(async {
        publish(&engine, &v1, &image("develop")).await;
        publish(&engine, &v1, &format!("{repo}/logstash:5")).await;
    });
    let options = FleetOptions {
        docker_socket: true,
        setup: format!("{} {}", user_setup("deploy"), docker_group("deploy")),
        ..FleetOptions::default()
    };
    let (example, fleet) = runtime.block_on(Example::start(
        &engine,
        "allume",
        &["stage-web.allume.example", "stage-worker.allume.example"],
        "deploy",
        &options,
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let params = [
        format!("registry={repo}"),
        format!("web_port={port}"),
        "check_host=127.0.0.1".to_owned(),
    ];
    let ci = |extra: &[&str]| {
        let mut args = vec!["ci", "--branch", "develop", "--sha", "0123abc"];
        args.extend(extra);
        args.extend(params.iter().map(String::as_str));
        example.deploy(&args)
    };
    let page = || runtime.block_on(get(port, "/"));
    let container_id = |name: &str| {
        runtime
            .block_on(engine.inspect(name))
            .expect("inspect")
            .map(|c| c.id)
    };

    // develop → stage: a first deploy, then an upgrade.
    let out = ci(&[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    assert!(page().contains("v1"), "{}", page());
    let logstash = container_id("allume-logstash").expect("logstash runs");
    assert!(container_id("allume-worker").is_some(), "the worker runs");
    runtime.block_on(publish(&engine, &v2, &image("develop")));
    let out = ci(&[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", texts(&out));
    assert!(page().contains("v2"), "{}", page());
    assert_eq!(
        container_id("allume-logstash"),
        Some(logstash),
        "logstash not deployed again while it runs"
    );
    assert!(
        container_id("allume-web-previous").is_some(),
        "the old web kept, stopped"
    );

    // The guide's override: `fab qa deploy docker_tag=feature/rotate-collage`.
    runtime.block_on(publish(&engine, &v3, &image("featurerotate-collage")));
    let mut args = vec![
        "run",
        "stage",
        "deploy",
        "docker_tag=feature/rotate-collage",
    ];
    args.extend(params.iter().map(String::as_str));
    example.ok(&args);
    assert!(page().contains("v3"), "{}", page());

    // Rollback: what the release before ran, by digest.
    example.ok(&["rollback", "stage", "--yes"]);
    assert!(page().contains("v2"), "{}", page());

    // An image that never becomes healthy: refused, the old web serves.
    runtime.block_on(publish(&engine, &broken, &image("develop")));
    let out = ci(&[]);
    let (stdout, stderr) = texts(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("allume-web") && stderr.contains("health"),
        "says which container and why:\n{stderr}"
    );
    assert!(page().contains("v2"), "{}", page());

    // Which environment the other builds pick.
    for (flag, name, environment) in [
        ("--branch", "master", "production"),
        ("--tag", "uat", "uat"),
    ] {
        let mut args = vec!["ci", "--explain", flag, name];
        args.extend(params.iter().map(String::as_str));
        let (stdout, _) = example.ok(&args);
        assert!(
            stdout.contains(&format!("plan: {environment} / deploy")),
            "{name} → {environment}:\n{stdout}"
        );
    }

    runtime.block_on(async {
        for name in CONTAINERS {
            let _ = engine.remove(name).await;
        }
        for tag in ["develop", "featurerotate-collage"] {
            let _ = engine.remove_image(&image(tag)).await;
        }
        let _ = engine.remove_image(&format!("{repo}/logstash:5")).await;
        fleet.stop(&engine).await;
    });
}
