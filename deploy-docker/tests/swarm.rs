//! A swarm service on a one-node swarm this test creates (and leaves, when
//! it made it): created, rolled out to a new version start-first, and a
//! version that never gets healthy rolled back automatically.
//!
//! Run: `cargo test -p deploy-docker --test swarm`.

use deploy_core::LocalTarget;
use deploy_core::Step;
use deploy_core::testing::TestContext;
use deploy_docker::steps::DeploySwarmService;
use deploy_docker::swarm::Rollout;
use deploy_docker::testing::{self, APP_PORT};

fn service(name: &str, image: &str) -> DeploySwarmService {
    toml::from_str(&format!(
        r#"name = "{name}"
image = "{image}"
replicas = 2
labels = {{ "deploy.test" = "swarm" }}
healthcheck = {{ test = ["CMD", "/app", "--check", "--port", "{APP_PORT}"], interval = "1s", retries = 2 }}
update = {{ parallelism = 1, delay = "1s", order = "start-first", failure_action = "rollback", monitor = "4s" }}
wait = "120s"
"#
    ))
    .expect("service config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_service_rolls_out_and_rolls_back() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let v1 = testing::app_image(&engine, "v1", true).await;
    let v2 = testing::app_image(&engine, "v2", true).await;
    let broken = testing::app_image(&engine, "v3", false).await;
    let made_swarm = !engine.swarm_manager().await.expect("info");
    if made_swarm {
        let request = bollard::models::SwarmInitRequest {
            listen_addr: Some("127.0.0.1:2377".into()),
            advertise_addr: Some("127.0.0.1".into()),
            ..Default::default()
        };
        engine
            .api()
            .init_swarm(request)
            .await
            .expect("a one-node swarm");
    }
    let name = testing::unique("svc");
    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();
    let outcome = async {
        let first = service(&name, &v1);
        assert!(!first.is_satisfied(&ctx).await.expect("check"));
        first.apply(&ctx).await.expect("created");
        assert!(first.is_satisfied(&ctx).await.expect("check"));
        let images: Vec<String> = engine
            .service_tasks(&name)
            .await
            .expect("tasks")
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(images, [v1.clone(), v1.clone()]);

        let upgrade = service(&name, &v2);
        assert!(!upgrade.is_satisfied(&ctx).await.expect("check"));
        upgrade.apply(&ctx).await.expect("rolled out");
        assert!(upgrade.is_satisfied(&ctx).await.expect("check"));
        let tasks = engine.service_tasks(&name).await.expect("tasks");
        assert!(
            tasks
                .iter()
                .all(|(image, state)| image == &v2 && state == "running"),
            "{tasks:?}"
        );

        let err = service(&name, &broken)
            .apply(&ctx)
            .await
            .expect_err("never healthy: rolled back");
        assert!(err.to_string().contains("rolled it back"), "{err}");
        let (_, rollout) = engine
            .service_state(&name)
            .await
            .expect("state")
            .expect("exists");
        assert!(matches!(rollout, Rollout::RolledBack(_)), "{rollout:?}");
        let tasks = engine.service_tasks(&name).await.expect("tasks");
        assert!(
            tasks
                .iter()
                .filter(|(_, s)| s == "running")
                .all(|(image, _)| image == &v2),
            "v2 runs again: {tasks:?}"
        );
    }
    .await;
    engine.remove_service(&name).await.expect("remove service");
    if made_swarm {
        let options = bollard::query_parameters::LeaveSwarmOptions { force: true };
        engine
            .api()
            .leave_swarm(Some(options))
            .await
            .expect("leave the swarm");
    }
    outcome
}
