//! Docker steps whose files live on the host, through a real sshd and the
//! real engine: a compose file (and its `.env`) on the host read when the
//! step runs, a `.env` written by `set-env` in the same run.
//!
//! Run: `cargo test -p deploy-docker --test on_host`.

use std::sync::Arc;

use deploy_core::event::NullSink;
use deploy_core::{Config, Executor, LocalTarget, RunValues, StepRegistry, Target, Targets};
use deploy_docker::compose::{PROJECT_LABEL, SERVICE_LABEL};
use deploy_docker::testing::{self, APP_PORT, TEST_LABEL};

/// The sshd host as the only host of a plan.
fn targets(sshd: &deploy_ssh::testing::Sshd) -> Targets {
    let host: Arc<dyn Target> = Arc::new(deploy_ssh::SshTarget::new("127.0.0.1", sshd.options()));
    [("127.0.0.1".to_owned(), host)].into_iter().collect()
}

/// Plans `task` of `config` with `args` and runs it on `targets`.
async fn run(config: &str, task: &str, args: &[(&str, &str)], targets: &Targets) {
    let config = Config::parse("deploy.toml", ".", config).expect("config");
    let mut registry = StepRegistry::with_builtins();
    deploy_docker::register(&mut registry);
    let args: Vec<(String, String)> = args
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let plan = config
        .plan(None, Some(task), &args, &registry)
        .expect("plan");
    let report = Executor::new(Arc::new(LocalTarget::new("here")), RunValues::new("r1"))
        .run(&plan, targets, &NullSink)
        .await;
    assert!(report.succeeded(), "{}", report.render());
}

/// The Pixel guide's production, the failure found: the compose file and
/// its `.env` on the server, `set-env` writing VERSION into that `.env` in
/// the same run. The tagged image must be the one deployed (it was `:latest`,
/// from a `.env` read on the deploying machine when the plan was built).
/// Then `env = { VERSION = … }` wins over the `.env`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compose_file_on_the_host_with_a_dotenv_written_by_set_env_deploys_the_tag() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let test = "a_compose_file_on_the_host_with_a_dotenv_written_by_set_env_deploys_the_tag";
    testing::clean_up(&engine, test).await;
    testing::app_image(&engine, "v1", true).await;
    testing::app_image(&engine, "v2", true).await;
    let project = format!("deploytesthost{}", std::process::id());
    let port = deploy_core::testing::free_port();
    let server = tempfile::tempdir().expect("tempdir");
    let production = server.path().join("production");
    std::fs::create_dir(&production).expect("mkdir");
    let file = production.join("docker-compose.yml");
    std::fs::write(
        &file,
        format!(
            r#"services:
  web:
    image: deploy-test-app:${{VERSION}}
    ports: ["127.0.0.1:{port}:{APP_PORT}"]
    healthcheck:
      test: ["CMD", "/app", "--check", "--port", "{APP_PORT}"]
      interval: 1s
    labels: {{ {TEST_LABEL}: {test} }}
"#
        ),
    )
    .expect("compose file");
    // What the previous deploy left there.
    std::fs::write(production.join(".env"), "VERSION=v1\n").expect(".env");
    let config = format!(
        r#"
default_environment = "production"
[environments.production]
hosts = ["127.0.0.1"]

[tasks.deploy]
params = {{ version = "latest" }}
steps = [
  {{ set-env = {{ file = "{env}", key = "VERSION", value = "${{version}}" }} }},
  {{ docker.compose = {{ file = {{ host = "{file}" }}, project = "{project}", wait = "30s", stop_grace = "1s" }} }},
]

[tasks.pinned]
params = {{ version = "latest" }}
steps = [
  {{ docker.compose = {{ file = {{ host = "{file}" }}, project = "{project}", env = {{ VERSION = "${{version}}" }}, wait = "30s", stop_grace = "1s" }} }},
]
"#,
        env = production.join(".env").display(),
        file = file.display(),
    );
    let targets = targets(&sshd);

    run(&config, "deploy", &[("version", "v2")], &targets).await;
    assert_eq!(
        std::fs::read_to_string(production.join(".env")).expect(".env"),
        "VERSION=v2\n"
    );
    let web = engine
        .list(&[(PROJECT_LABEL, project.as_str()), (SERVICE_LABEL, "web")])
        .await
        .expect("list");
    assert_eq!(web.len(), 1);
    assert_eq!(
        engine
            .inspect(&web[0].name)
            .await
            .expect("inspect")
            .map(|c| c.image)
            .as_deref(),
        Some("deploy-test-app:v2")
    );
    assert!(testing::get(port, "/").await.contains("version v2"));

    // `env` wins over the host's `.env` (which still says v2).
    run(&config, "pinned", &[("version", "v1")], &targets).await;
    assert!(testing::get(port, "/").await.contains("version v1"));
    assert_eq!(
        std::fs::read_to_string(production.join(".env")).expect(".env"),
        "VERSION=v2\n"
    );

    testing::clean_up(&engine, test).await;
    engine
        .remove_network(&format!("{project}_default"))
        .await
        .expect("network");
}

/// The djangopackages guide: the code is pulled on the server and built
/// there. The context is tarred on the sshd host (`.dockerignore`
/// honoured), sent to the engine, and not rebuilt while it is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_context_on_the_host_is_tarred_there_and_built() {
    use deploy_core::Step;
    use deploy_core::testing::TestContext;
    use deploy_docker::steps::BuildImage;

    let Some(engine) = testing::engine().await else {
        return;
    };
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    testing::busybox_image(&engine).await;
    let code = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        code.path().join("Dockerfile"),
        "FROM deploy-test-busybox:1\nCOPY . /code/\nRUN test -f /code/app.py && test ! -e /code/debug.log\n",
    )
    .expect("Dockerfile");
    std::fs::write(code.path().join(".dockerignore"), "*.log\n").expect("ignore");
    std::fs::write(code.path().join("app.py"), "print('hi')\n").expect("app");
    std::fs::write(code.path().join("debug.log"), "not sent\n").expect("log");
    let tag = format!("deploy-test-hostbuild:{}", std::process::id());
    let step: BuildImage = toml::from_str(&format!(
        "context = {{ host = \"{}\" }}\ntag = \"{tag}\"\n",
        code.path().display()
    ))
    .expect("build step");
    assert_eq!(
        step.describe().summary,
        format!(
            "build image {tag} from {} on the host",
            code.path().display()
        )
    );
    let web1 = TestContext::new(deploy_ssh::SshTarget::new("127.0.0.1", sshd.options()))
        .local(Arc::new(LocalTarget::new("here")));
    let ctx = web1.ctx();
    assert!(!step.is_satisfied(&ctx).await.expect("check"));
    step.apply(&ctx).await.expect("build on the host");
    assert!(engine.image_id(&tag).await.expect("inspect").is_some());
    assert!(
        step.is_satisfied(&ctx).await.expect("check"),
        "an unchanged context is not rebuilt"
    );
    std::fs::write(code.path().join("debug.log"), "ignored change\n").expect("log");
    assert!(
        step.is_satisfied(&ctx).await.expect("check"),
        "ignored file"
    );
    std::fs::write(code.path().join("app.py"), "print('changed')\n").expect("app");
    assert!(
        !step.is_satisfied(&ctx).await.expect("check"),
        "changed code"
    );

    let missing: BuildImage = toml::from_str(&format!(
        "context = {{ host = \"{}/nowhere\" }}\ntag = \"{tag}\"\n",
        code.path().display()
    ))
    .expect("build step");
    let err = missing.apply(&ctx).await.expect_err("no such directory");
    assert!(
        err.to_string().contains("cannot tar the build context"),
        "{err}"
    );
    engine.remove_image(&tag).await.expect("remove");
}
