//! A swarm service on a one-node swarm this test creates (and leaves, when
//! it made it): created, rolled out to a new version start-first, and a
//! version that never gets healthy rolled back automatically; and a service
//! given an overlay network, a volume, a bind, a tmpfs and a swarm secret.
//! The tests take turns (one may leave the swarm the other uses).
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

/// One test at a time on the swarm.
static SWARM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_service_rolls_out_and_rolls_back() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let _turn = SWARM.lock().await;
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

/// Makes this engine a one-node swarm unless it is a manager; true when
/// this made it.
async fn join_swarm(engine: &deploy_docker::Engine) -> bool {
    if engine.swarm_manager().await.expect("info") {
        return false;
    }
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
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_service_gets_networks_mounts_and_secrets() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let _turn = SWARM.lock().await;
    let busybox = testing::busybox_image(&engine).await;
    let made_swarm = join_swarm(&engine).await;
    let (name, network, secret, volume) = (
        testing::unique("svc"),
        testing::unique("overlay"),
        testing::unique("secret"),
        testing::unique("vol"),
    );
    let network_id = engine
        .api()
        .create_network(bollard::models::NetworkCreateRequest {
            name: network.clone(),
            driver: Some("overlay".into()),
            attachable: Some(true),
            ..Default::default()
        })
        .await
        .expect("overlay network")
        .id;
    use base64ct::Encoding;
    let secret_id = engine
        .api()
        .create_secret(bollard::models::SecretSpec {
            name: Some(secret.clone()),
            data: Some(base64ct::Base64::encode_string(b"s3cret-value")),
            ..Default::default()
        })
        .await
        .expect("secret")
        .id;
    let out = tempfile::tempdir().expect("tempdir");
    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();
    let outcome = async {
        let step: DeploySwarmService = toml::from_str(&format!(
            r#"name = "{name}"
image = "{busybox}"
command = ["sh", "-c", "cat /run/secrets/db > /out/secret; echo kept > /data/marker; cat /data/marker > /out/volume; touch /scratch/x && echo tmpfs > /out/tmpfs; sleep 300"]
labels = {{ "deploy.test" = "swarm" }}
networks = ["{network}"]
volumes = ["{}:/out", "{volume}:/data"]
mounts = [{{ type = "tmpfs", target = "/scratch" }}]
secrets = [{{ source = "{secret}", target = "db" }}]
wait = "120s"
"#,
            out.path().display()
        ))
        .expect("service config");
        let described = step.describe();
        assert!(
            described
                .fields
                .iter()
                .any(|(k, v)| k == "secrets" && v == &format!("{secret} → /run/secrets/db")),
            "{described:?}"
        );
        step.apply(&ctx).await.expect("created");
        assert!(step.is_satisfied(&ctx).await.expect("check"));
        let read = |file: &str| std::fs::read_to_string(out.path().join(file)).unwrap_or_default();
        for _ in 0..120 {
            if !read("tmpfs").is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        assert_eq!(read("secret"), "s3cret-value", "the secret as a file");
        assert_eq!(read("volume"), "kept\n", "the named volume");
        assert_eq!(read("tmpfs"), "tmpfs\n", "the tmpfs");
        let inspected = engine
            .api()
            .inspect_service(&name, None::<bollard::query_parameters::InspectServiceOptions>)
            .await
            .expect("inspect service");
        let networks: Vec<String> = inspected
            .spec
            .and_then(|s| s.task_template)
            .and_then(|t| t.networks)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| n.target)
            .collect();
        assert!(
            networks.contains(&network) || networks.contains(&network_id),
            "{networks:?}"
        );

        let missing: DeploySwarmService = toml::from_str(&format!(
            "name = \"{name}-nosecret\"\nimage = \"{busybox}\"\nsecrets = [\"deploy-test-no-such-secret\"]\n"
        ))
        .expect("service config");
        let err = missing.apply(&ctx).await.expect_err("no such secret").to_string();
        assert!(
            err.contains("no such swarm secret `deploy-test-no-such-secret`"),
            "{err}"
        );
    }
    .await;
    engine.remove_service(&name).await.expect("remove service");
    for _ in 0..40 {
        if engine
            .service_tasks(&name)
            .await
            .map_or(true, |t| t.is_empty())
            && engine.api().delete_secret(&secret_id).await.is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    for _ in 0..40 {
        if engine.remove_network(&network).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    for _ in 0..40 {
        let removed = engine
            .api()
            .remove_volume(
                &volume,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await;
        if removed.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
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
