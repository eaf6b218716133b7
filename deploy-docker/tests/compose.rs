//! A compose file deployed end to end on the real engine, then upgraded:
//! `.env` substitution, dependency order, a container compose itself had
//! made taken over (not duplicated), an unchanged service left alone.
//!
//! Run: `cargo test -p deploy-docker --test compose`.

use deploy_core::LocalTarget;
use deploy_core::Step;
use deploy_core::testing::{RecordingOutput, TestContext, free_port};
use deploy_docker::ContainerSpec;
use deploy_docker::compose::{NUMBER_LABEL, PROJECT_LABEL, SERVICE_LABEL};
use deploy_docker::steps::{ComposeUp, ExecInContainer};
use deploy_docker::testing::{self, APP_PORT, TEST_LABEL};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compose_file_deployed_then_upgraded() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let test = "a_compose_file_deployed_then_upgraded";
    testing::clean_up(&engine, test).await;
    testing::app_image(&engine, "v1", true).await;
    testing::app_image(&engine, "v2", true).await;
    let busybox = testing::busybox_image(&engine).await;
    let project = format!("deploytest{}", std::process::id());
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("docker-compose.yml");
    std::fs::write(
        &file,
        format!(
            r#"version: "3.8"
services:
  web:
    image: deploy-test-app:${{VERSION}}
    ports: ["127.0.0.1:{port}:{APP_PORT}"]
    depends_on: [worker]
    healthcheck:
      test: ["CMD", "/app", "--check", "--port", "{APP_PORT}"]
      interval: 1s
    labels: {{ {TEST_LABEL}: {test} }}
    logging: {{ driver: json-file }}
  worker:
    image: {busybox}
    command: sleep 300
    labels: {{ {TEST_LABEL}: {test} }}
"#
        ),
    )
    .expect("compose file");
    std::fs::write(dir.path().join(".env"), "VERSION=v1\n").expect(".env");

    // The worker as docker-compose (v1) had made it: its name and labels.
    let made_by_compose = format!("{project}_worker_1");
    let mut spec = ContainerSpec::new(&made_by_compose, &busybox)
        .label(PROJECT_LABEL, &project)
        .label(SERVICE_LABEL, "worker")
        .label(NUMBER_LABEL, "1")
        .label(TEST_LABEL, test);
    spec.command = Some(vec!["sleep".into(), "300".into()]);
    engine.run(&spec).await.expect("compose's container");

    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();
    let step = || -> ComposeUp {
        toml::from_str(&format!(
            "file = {:?}\nproject = \"{project}\"\nwait = \"30s\"\nstop_grace = \"1s\"",
            file
        ))
        .expect("compose step")
    };
    let first = step();
    assert!(
        first
            .describe()
            .fields
            .iter()
            .any(|(k, v)| k == "not applied" && v.contains("services.web.logging")),
        "ignored keys are listed"
    );
    assert!(!first.is_satisfied(&ctx).await.expect("check"));
    first.apply(&ctx).await.expect("compose up");
    assert!(
        first.is_satisfied(&ctx).await.expect("check"),
        "up to date after"
    );
    assert!(testing::get(port, "/").await.contains("version v1"));

    let workers = engine
        .list(&[(PROJECT_LABEL, project.as_str()), (SERVICE_LABEL, "worker")])
        .await
        .expect("list");
    assert_eq!(
        workers.len(),
        1,
        "compose's worker taken over, not duplicated"
    );
    assert_eq!(workers[0].name, made_by_compose);
    assert!(
        workers[0].labels.contains_key("deploy.spec-digest"),
        "now deploy's"
    );
    let worker_id = workers[0].id.clone();

    // Exec by compose service (as `docker-compose exec web …`), and the
    // logs of every service of the project, prefixed by container.
    ExecInContainer::new_in_service(
        "web",
        Some(&project),
        ["/app", "--check", "--port", &APP_PORT.to_string()],
    )
    .apply(&ctx)
    .await
    .expect("exec in the web service");
    let logs = RecordingOutput::default();
    let request = deploy_docker::container::LogRequest {
        tail: Some(5),
        ..Default::default()
    };
    let containers = engine
        .logs_of(&[(PROJECT_LABEL, project.as_str())], &request, &logs)
        .await
        .expect("logs");
    assert_eq!(containers, 2);
    let lines = logs.all();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("{project}-web-1 | demo-app v1"))),
        "{lines:?}"
    );

    // The same through the docker.ps and docker.logs steps.
    let here_shown = TestContext::new(LocalTarget::new("localhost"));
    let report_ctx = here_shown.ctx();
    let shown = here_shown.output();
    let ps: deploy_docker::steps::ListContainers =
        toml::from_str(&format!("project = \"{project}\"")).expect("ps");
    ps.apply(&report_ctx).await.expect("ps");
    let logs_step: deploy_docker::steps::ShowLogs = toml::from_str(&format!(
        "project = \"{project}\"\nservice = \"web\"\ntail = 5"
    ))
    .expect("logs");
    logs_step.apply(&report_ctx).await.expect("logs");
    let shown = shown.all();
    assert!(
        shown.iter().any(|l| l.starts_with(&format!(
            "{project}-web-1 deploy-test-app:v1 running health=healthy"
        ))),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|l| l.starts_with(&format!("{project}-web-1 | demo-app v1"))),
        "{shown:?}"
    );

    // Upgrade through .env: web is replaced, the unchanged worker is not.
    std::fs::write(dir.path().join(".env"), "VERSION=v2\n").expect(".env");
    let upgrade = step();
    assert!(!upgrade.is_satisfied(&ctx).await.expect("check"));
    upgrade.apply(&ctx).await.expect("upgrade");
    assert!(upgrade.is_satisfied(&ctx).await.expect("check"));
    assert!(testing::get(port, "/").await.contains("version v2"));
    let workers = engine
        .list(&[(PROJECT_LABEL, project.as_str()), (SERVICE_LABEL, "worker")])
        .await
        .expect("list");
    assert_eq!(
        workers.iter().map(|w| w.id.clone()).collect::<Vec<_>>(),
        [worker_id]
    );

    testing::clean_up(&engine, test).await;
    engine
        .remove_network(&format!("{project}_default"))
        .await
        .expect("network");
}
