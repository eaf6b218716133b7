//! deploy-docker against the real engine on this machine (and, through a
//! real sshd, as a remote engine): images built here, a private registry,
//! everything labelled, uniquely named and removed.
//!
//! Run: `cargo test -p deploy-docker` (scripts/test runs it with the rest).

use deploy_core::testing::{RecordingOutput, TestContext, free_port};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use deploy_core::target::{DiscardOutput, Endpoint, OutputStream};
use deploy_core::{LocalTarget, Step, StepContext};
use deploy_docker::container::LogRequest;
use deploy_docker::steps::{
    BuildImage, ContainerConfig, EnsureNetwork, EnsureRunning, ExecInContainer, PullImage,
    PushImage, RecreateContainer,
};
use deploy_docker::testing::{self, APP_PORT, Registry, TEST_LABEL, get};
use deploy_docker::{ContainerSpec, Credentials, DockerError, Engine, ImageRef};

/// Applies a step unless it is satisfied; returns whether it applied.
async fn converge(step: &dyn Step, ctx: &StepContext<'_>) -> bool {
    if step.is_satisfied(ctx).await.expect("check") {
        return false;
    }
    step.apply(ctx).await.expect("apply");
    assert!(
        step.is_satisfied(ctx).await.expect("check"),
        "`{}` is not satisfied right after it applied",
        step.describe().summary
    );
    true
}

fn app_config(name: &str, image: &str, port: u16, test: &str) -> ContainerConfig {
    let text = format!(
        "name = \"{name}\"\nimage = \"{image}\"\nports = [\"127.0.0.1:{port}:{APP_PORT}\"]\n\
         labels = {{ \"{TEST_LABEL}\" = \"{test}\" }}\nwait = \"20s\"\nstop_grace = \"1s\"\n"
    );
    toml::from_str(&text).expect("container config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_answers_and_a_missing_socket_is_named() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let version = engine.api().version().await.expect("version");
    assert!(version.api_version.is_some());
    assert_eq!(engine.host(), "localhost");

    let nowhere = Endpoint::Unix("/nonexistent/docker.sock".into());
    let err = Engine::new(Arc::new(LocalTarget::new("web9")), nowhere)
        .negotiate()
        .await
        .expect_err("no engine there");
    assert!(
        matches!(&err, DockerError::Unreachable { host, address, .. }
            if host == "web9" && address == "unix:/nonexistent/docker.sock"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_push_and_pull_through_a_registry_with_digests() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let registry = Registry::start();
    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();
    let output = here.output();

    // Build from a context (idempotent: the same context is not rebuilt).
    let context = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM deploy-test-busybox:1\nARG GREETING\nRUN echo \"$GREETING\" > /greeting\n",
    )
    .expect("Dockerfile");
    std::fs::write(context.path().join(".dockerignore"), "*.log\n").expect("ignore");
    std::fs::write(context.path().join("debug.log"), "not sent\n").expect("log");
    testing::busybox_image(&engine).await;
    let image = format!(
        "{}/deploy-test/greeter:{}",
        registry.address,
        std::process::id()
    );
    let build: BuildImage = toml::from_str(&format!(
        "context = \"{}\"\ntag = \"{image}\"\nargs = {{ GREETING = \"hello\" }}\n",
        context.path().display()
    ))
    .expect("build config");
    assert!(converge(&build, &ctx).await, "first build applies");
    assert!(
        !converge(&build, &ctx).await,
        "unchanged context is not rebuilt"
    );
    assert!(
        output
            .of(OutputStream::Stdout)
            .iter()
            .any(|l| l.contains("RUN echo")),
        "build output streamed: {:?}",
        output.of(OutputStream::Stdout)
    );

    // Push (done once), drop the local copy, pull it back (done once).
    let push = PushImage::new(&image);
    assert!(converge(&push, &ctx).await, "first push applies");
    assert!(
        !converge(&push, &ctx).await,
        "pushed image is not pushed again"
    );
    let pushed = engine.repo_digests(&image).await.expect("digests");
    assert!(!pushed.is_empty(), "a pushed image has a registry digest");
    engine.remove_image(&image).await.expect("remove local");
    let pull = PullImage::new(&image);
    assert!(
        converge(&pull, &ctx).await,
        "pull applies when the image is missing"
    );
    assert!(
        !converge(&pull, &ctx).await,
        "present image is not pulled again"
    );
    assert_eq!(engine.repo_digests(&image).await.expect("digests"), pushed);

    // A promotion pulls by digest: exactly the bytes that were pushed.
    let pinned = pushed[0].clone();
    assert!(pinned.contains("@sha256:"), "{pinned}");
    engine.remove_image(&image).await.expect("remove local");
    let by_digest = PullImage::new(&pinned);
    assert!(converge(&by_digest, &ctx).await, "pull by digest applies");
    assert!(!converge(&by_digest, &ctx).await, "and is then done");
    assert!(engine.image_id(&pinned).await.expect("inspect").is_some());

    // A missing tag, and a bad tag, are named.
    let missing =
        ImageRef::parse(&format!("{}/deploy-test/greeter:nope", registry.address)).expect("ref");
    let err = engine
        .pull(&missing, &Credentials::default(), &DiscardOutput)
        .await
        .expect_err("no such tag");
    assert!(err.to_string().contains("greeter:nope"), "{err}");
    assert!(ImageRef::parse("web:feature/x").is_err());

    // A failing build is an error with the builder's message.
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM deploy-test-busybox:1\nRUN false\n",
    )
    .expect("Dockerfile");
    let err = BuildImage::new(
        &context.path().display().to_string(),
        "deploy-test/broken:1",
    )
    .apply(&ctx)
    .await
    .expect_err("RUN false fails");
    assert!(
        err.to_string().contains("returned a non-zero code"),
        "{err}"
    );
    let _ = engine.remove_image(&image).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_run_exec_logs_and_stop() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let test = "containers_run_exec_logs_and_stop";
    testing::clean_up(&engine, test).await;
    let image = testing::busybox_image(&engine).await;
    let name = testing::unique("shell");
    let mut spec = ContainerSpec::new(&name, &image).label(TEST_LABEL, test);
    spec.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "echo started; echo oops >&2; trap 'exit 0' TERM; sleep 300 & wait".into(),
    ]);
    spec.version = Some("v7".into());
    engine.run(&spec).await.expect("run");
    let info = engine
        .inspect(&name)
        .await
        .expect("inspect")
        .expect("exists");
    assert!(info.running());
    assert_eq!(info.version(), Some("v7"));
    assert_eq!(info.health, "none");

    let output = RecordingOutput::default();
    let outcome = engine
        .exec(
            &name,
            &[
                "sh".into(),
                "-c".into(),
                "echo out $GREETING; echo err >&2; exit 3".into(),
            ],
            &BTreeMap::from([("GREETING".to_owned(), "hi".to_owned())]),
            &output,
        )
        .await
        .expect("exec");
    assert_eq!(outcome.exit_code, 3);
    assert_eq!(output.of(OutputStream::Stdout), ["out hi"]);
    assert_eq!(output.of(OutputStream::Stderr), ["err"]);

    let logs = RecordingOutput::default();
    let request = LogRequest {
        tail: Some(10),
        ..Default::default()
    };
    engine.logs(&name, &request, &logs).await.expect("logs");
    assert_eq!(logs.of(OutputStream::Stdout), ["started"]);
    assert_eq!(logs.of(OutputStream::Stderr), ["oops"]);

    let listed = engine.list(&[(TEST_LABEL, test)]).await.expect("list");
    assert_eq!(
        listed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        [name.as_str()]
    );
    assert!(listed[0].uptime.is_some());

    engine
        .stop(&name, Duration::from_secs(1))
        .await
        .expect("stop");
    let stopped = engine
        .inspect(&name)
        .await
        .expect("inspect")
        .expect("exists");
    assert_eq!(stopped.state, "exited");
    engine
        .stop(&name, Duration::from_secs(1))
        .await
        .expect("stopping twice is fine");
    engine.remove(&name).await.expect("remove");
    assert!(engine.inspect(&name).await.expect("inspect").is_none());

    // A container from a missing image is a named error.
    let err = engine
        .run(&ContainerSpec::new(
            testing::unique("ghost"),
            "deploy-test/none:1",
        ))
        .await
        .expect_err("no such image");
    assert!(err.to_string().contains("deploy-test/none:1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_running_recreate_and_exec_steps_are_idempotent() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let test = "ensure_running_recreate_and_exec_steps_are_idempotent";
    testing::clean_up(&engine, test).await;
    let v1 = testing::app_image(&engine, "v1", true).await;
    let v2 = testing::app_image(&engine, "v2", true).await;
    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();
    let (name, port) = (testing::unique("app"), free_port());

    let network_name = testing::unique("net");
    let network = EnsureNetwork::new(&network_name);
    assert!(converge(&network, &ctx).await);
    assert!(!converge(&network, &ctx).await);

    let ensure = EnsureRunning::new(app_config(&name, &v1, port, test));
    assert!(converge(&ensure, &ctx).await, "starts the container");
    assert!(
        !converge(&ensure, &ctx).await,
        "already running v1: left alone"
    );
    assert!(get(port, "/").await.contains("v1"));
    let first = engine
        .inspect(&name)
        .await
        .expect("inspect")
        .expect("exists");
    assert_eq!(first.health, "healthy", "ensure-running waited for health");

    // Recreate: nothing changed → left alone; a new image → replaced.
    assert!(
        !converge(
            &RecreateContainer::new(app_config(&name, &v1, port, test)),
            &ctx
        )
        .await
    );
    let upgrade = RecreateContainer::new(app_config(&name, &v2, port, test));
    assert!(converge(&upgrade, &ctx).await, "a new image is a change");
    assert!(get(port, "/").await.contains("v2"));
    let forced = RecreateContainer::new(app_config(&name, &v2, port, test)).force();
    assert!(
        !forced.is_satisfied(&ctx).await.expect("check"),
        "force is never satisfied"
    );
    forced
        .apply(&ctx)
        .await
        .expect("force recreates even when nothing changed");
    let forced = engine
        .inspect(&name)
        .await
        .expect("inspect")
        .expect("exists");
    assert_ne!(forced.id, first.id);

    // Undo puts back the container a recreate replaced (kept, stopped).
    let back = RecreateContainer::new(app_config(&name, &v1, port, test));
    let applied = back.apply(&ctx).await.expect("back to v1");
    assert!(get(port, "/").await.contains("v1"));
    back.undoable()
        .expect("undoable")
        .revert(&ctx, &applied)
        .await
        .expect("undo");
    assert!(
        get(port, "/").await.contains("v2"),
        "the replaced v2 runs again"
    );
    assert_eq!(
        engine
            .inspect(&name)
            .await
            .expect("inspect")
            .expect("runs")
            .image,
        v2
    );

    // Exec with `unless`: applies once, then the marker satisfies it.
    let busybox = testing::busybox_image(&engine).await;
    let shell = testing::unique("shell");
    let mut spec = ContainerSpec::new(&shell, &busybox).label(TEST_LABEL, test);
    spec.command = Some(vec!["sleep".into(), "300".into()]);
    engine.run(&spec).await.expect("run");
    let mut migrate = ExecInContainer::new(&shell, ["sh", "-c", "echo migrated > /migrated"]);
    migrate = toml::from_str::<ExecInContainer>(&format!(
        "container = \"{shell}\"\ncmd = [\"sh\", \"-c\", \"echo migrated > /migrated\"]\n\
         unless = [\"test\", \"-f\", \"/migrated\"]\n"
    ))
    .unwrap_or(migrate);
    assert!(converge(&migrate, &ctx).await);
    assert!(!converge(&migrate, &ctx).await);
    let failing =
        ExecInContainer::new(&shell, ["sh", "-c", "echo no migrations table >&2; exit 2"]);
    let err = failing.apply(&ctx).await.expect_err("exit 2");
    let text = err.to_string();
    assert!(
        text.contains("exit code 2") && text.contains("no migrations table"),
        "{text}"
    );

    testing::clean_up(&engine, test).await;
    engine
        .remove_network(&network_name)
        .await
        .expect("remove network");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_that_never_gets_healthy_leaves_the_old_one_serving() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let test = "a_replacement_that_never_gets_healthy_leaves_the_old_one_serving";
    testing::clean_up(&engine, test).await;
    let v1 = testing::app_image(&engine, "v1", true).await;
    let broken = testing::app_image(&engine, "v2", false).await;
    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();
    let (name, port) = (testing::unique("app"), free_port());

    assert!(
        converge(
            &RecreateContainer::new(app_config(&name, &v1, port, test)),
            &ctx
        )
        .await
    );
    let mut config = app_config(&name, &broken, port, test);
    config = toml::from_str::<ContainerConfig>(&format!(
        "name = \"{name}\"\nimage = \"{broken}\"\nports = [\"127.0.0.1:{port}:{APP_PORT}\"]\n\
         labels = {{ \"{TEST_LABEL}\" = \"{test}\" }}\nwait = \"6s\"\nstop_grace = \"1s\"\n"
    ))
    .unwrap_or(config);
    let err = RecreateContainer::new(config)
        .apply(&ctx)
        .await
        .expect_err("never healthy");
    assert!(err.to_string().contains("did not become healthy"), "{err}");
    let info = engine
        .inspect(&name)
        .await
        .expect("inspect")
        .expect("old one back");
    assert!(info.running());
    assert_eq!(info.image, v1);
    assert!(
        get(port, "/").await.contains("v1"),
        "the old version serves again"
    );
    assert!(
        engine
            .inspect(&format!("{name}-replaced"))
            .await
            .expect("inspect")
            .is_none(),
        "nothing is left aside"
    );
    testing::clean_up(&engine, test).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_engine_through_sshd() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let test = "a_remote_engine_through_sshd";
    testing::clean_up(&engine, test).await;
    let busybox = testing::busybox_image(&engine).await;
    let web1 = deploy_ssh::SshTarget::new("127.0.0.1", sshd.options());
    let remote = Engine::new(
        Arc::new(deploy_ssh::SshTarget::new("127.0.0.1", sshd.options())),
        Endpoint::Unix("/var/run/docker.sock".into()),
    )
    .negotiate()
    .await
    .expect("the engine through an SSH channel");
    assert_eq!(remote.host(), "127.0.0.1");
    assert!(
        remote
            .api()
            .version()
            .await
            .expect("version")
            .version
            .is_some()
    );

    // Steps on an SSH host reach that host's engine: run, then exec (an
    // upgraded connection) over the forwarded socket.
    let on_web1 = TestContext::new(web1).local(Arc::new(LocalTarget::new("here")));
    let (ctx, output) = (on_web1.ctx(), on_web1.output());
    let name = testing::unique("remote");
    let config: ContainerConfig = toml::from_str(&format!(
        "name = \"{name}\"\nimage = \"{busybox}\"\ncommand = [\"sleep\", \"300\"]\n\
         labels = {{ \"{TEST_LABEL}\" = \"{test}\" }}\nstop_grace = \"1s\"\n"
    ))
    .expect("config");
    assert!(converge(&EnsureRunning::new(config), &ctx).await);
    ExecInContainer::new(&name, ["echo", "over ssh"])
        .apply(&ctx)
        .await
        .expect("exec over ssh");
    assert_eq!(output.of(OutputStream::Stdout), ["over ssh"]);
    testing::clean_up(&engine, test).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_named_and_nothing_is_left_behind() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let test = "a_port_in_use_is_named_and_nothing_is_left_behind";
    testing::clean_up(&engine, test).await;
    let image = testing::busybox_image(&engine).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let name = testing::unique("busy-port");
    let mut spec = ContainerSpec::new(&name, &image)
        .label(TEST_LABEL, test)
        .port(&format!("127.0.0.1:{port}:80"))
        .expect("port");
    spec.command = Some(vec!["sleep".into(), "300".into()]);
    let err = engine.run(&spec).await.expect_err("the port is taken");
    let text = err.to_string();
    assert!(
        text.starts_with("localhost: start container ") && text.contains(&name),
        "names the host and the container: {text}"
    );
    assert!(
        text.contains("address already in use") || text.contains("already allocated"),
        "{text}"
    );
    assert!(
        engine.inspect(&name).await.expect("inspect").is_none(),
        "the container that could not start was removed"
    );
    // Positive control: the same spec on a free port runs.
    drop(taken);
    engine.run(&spec).await.expect("runs once the port is free");
    testing::clean_up(&engine, test).await;
}

/// A remote user who may not open the engine's socket (not in the `docker`
/// group) gets an error naming the host and socket, and the cause; root on
/// the same sshd reaches the engine (the positive control is
/// `a_remote_engine_through_sshd`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_user_without_socket_access_is_told_so() {
    let Some(_engine) = testing::engine().await else {
        return;
    };
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let mut options = sshd.options();
    options.user = "deploy-nopw".into();
    let err = Engine::new(
        Arc::new(deploy_ssh::SshTarget::new("127.0.0.1", options)),
        Endpoint::Unix("/var/run/docker.sock".into()),
    )
    .negotiate()
    .await
    .expect_err("deploy-nopw is not in the docker group");
    let text = err.to_string();
    assert!(
        matches!(
            err,
            DockerError::Unreachable { .. } | DockerError::PermissionDenied { .. }
        ),
        "{text}"
    );
    assert!(
        text.starts_with("127.0.0.1: ") && text.contains("unix:/var/run/docker.sock"),
        "{text}"
    );
    assert!(text.contains("docker` group"), "says what to do: {text}");
}

/// `docker.prune` keeps the newest N tags of a repository, never one a
/// container still uses, and is then done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_the_newest_images() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let test = "prune_keeps_the_newest_images";
    testing::clean_up(&engine, test).await;
    let busybox = testing::busybox_image(&engine).await;
    let repository = format!("deploy-test/prune-{}", std::process::id());
    // Four versions, each its own image (built one after the other, so
    // their creation times order them).
    for n in 1..=4 {
        let context = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            context.path().join("Dockerfile"),
            format!("FROM {busybox}\nLABEL version={n}\nRUN echo {n} > /version\n"),
        )
        .expect("Dockerfile");
        engine
            .build(
                &deploy_docker::BuildSpec::new(context.path(), format!("{repository}:{n}")),
                &DiscardOutput,
            )
            .await
            .expect("build");
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    // The oldest is still in use by a container: it must stay.
    let name = testing::unique("uses-old");
    let mut spec = ContainerSpec::new(&name, format!("{repository}:1")).label(TEST_LABEL, test);
    spec.command = Some(vec!["sleep".into(), "300".into()]);
    engine.run(&spec).await.expect("run");

    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();
    let prune = deploy_docker::steps::PruneImages::new(&repository, 2);
    assert!(!prune.is_satisfied(&ctx).await.expect("check"));
    prune.apply(&ctx).await.expect("prune");
    let tags: Vec<String> = engine
        .images_of(&repository)
        .await
        .expect("list")
        .into_iter()
        .map(|(tag, _)| tag)
        .collect();
    assert_eq!(
        tags,
        [
            format!("{repository}:4"),
            format!("{repository}:3"),
            format!("{repository}:1")
        ],
        "the newest two stay, and the one in use"
    );
    testing::clean_up(&engine, test).await;
    prune.apply(&ctx).await.expect("prune again");
    assert!(
        prune.is_satisfied(&ctx).await.expect("check"),
        "done once nothing uses the old one"
    );
    for n in 3..=4 {
        engine
            .remove_image(&format!("{repository}:{n}"))
            .await
            .expect("remove");
    }
}

/// A new container without a health check that dies right after it starts
/// is a failure, and the old one comes back; a replacement interrupted
/// earlier (the old one still set aside) is recovered first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_keeps_the_old_container_through_crashes_and_interruptions() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let test = "replace_keeps_the_old_container_through_crashes_and_interruptions";
    testing::clean_up(&engine, test).await;
    let busybox = testing::busybox_image(&engine).await;
    let name = testing::unique("keeper");
    let spec = |script: &str| {
        let mut spec = ContainerSpec::new(&name, &busybox).label(TEST_LABEL, test);
        spec.command = Some(vec!["sh".into(), "-c".into(), script.into()]);
        spec
    };
    let good = spec("trap 'exit 0' TERM; sleep 300 & wait");
    engine.run(&good).await.expect("the old one");
    let err = engine
        .replace(
            &spec("sleep 0.3; exit 1"),
            Duration::from_secs(1),
            Some(Duration::from_secs(10)),
        )
        .await
        .expect_err("a container that dies at start is not up");
    assert!(err.to_string().contains("did not become healthy"), "{err}");
    let info = engine
        .inspect(&name)
        .await
        .expect("inspect")
        .expect("the old one is back");
    assert!(info.running());
    assert_eq!(info.labels.get("deploy.spec-digest"), Some(&good.digest()));

    // A spec the engine would refuse is refused before the old one stops.
    let mut refused = good.clone();
    refused.restart = Some("always:3".to_owned());
    let err = engine
        .replace(&refused, Duration::from_secs(1), None)
        .await
        .expect_err("a retry count with always");
    assert!(err.to_string().contains("only on-failure"), "{err}");
    let still = engine.inspect(&name).await.expect("inspect").expect("kept");
    assert!(still.running());
    assert_eq!(still.started_at, info.started_at, "never stopped");

    // As if a run had stopped after setting the old one aside: the broken
    // new one under the name, the good one stopped under `-replaced`.
    engine
        .stop(&name, Duration::from_secs(1))
        .await
        .expect("stop");
    engine
        .rename(&name, &format!("{name}-replaced"))
        .await
        .expect("aside");
    engine.run(&spec("exit 1")).await.expect("the broken one");
    tokio::time::sleep(Duration::from_millis(500)).await;
    engine
        .replace(&good, Duration::from_secs(1), Some(Duration::from_secs(10)))
        .await
        .expect("recovered, then replaced");
    let info = engine.inspect(&name).await.expect("inspect").expect("runs");
    assert!(info.running());
    assert!(
        engine
            .inspect(&format!("{name}-replaced"))
            .await
            .expect("inspect")
            .is_none()
    );
    testing::clean_up(&engine, test).await;
}

/// A followed `docker.logs` runs until the run is interrupted, and then
/// ends at once (the grace here is an hour), having shown the lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_log_ends_at_once_when_the_run_is_interrupted() {
    use deploy_core::event::{Event, RecordingSink};
    use deploy_core::report::{Outcome, StepStatus};
    use deploy_core::{Executor, Plan, PlannedStep, RunValues, Target, Targets};
    use deploy_docker::compose::{PROJECT_LABEL, SERVICE_LABEL};

    let Some(engine) = testing::engine().await else {
        return;
    };
    let test = testing::unique("follow");
    let busybox = testing::busybox_image(&engine).await;
    let mut spec = ContainerSpec::new(&test, &busybox)
        .label(TEST_LABEL, &test)
        .label(PROJECT_LABEL, &test)
        .label(SERVICE_LABEL, "ticker");
    spec.command = Some(
        ["sh", "-c", "while true; do echo tick; sleep 0.1; done"]
            .map(String::from)
            .to_vec(),
    );
    engine.run(&spec).await.expect("the ticker runs");

    let step: deploy_docker::steps::ShowLogs = toml::from_str(&format!(
        "project = \"{test}\"\nservice = \"ticker\"\nfollow = true"
    ))
    .expect("logs step");
    let plan = Plan::builder("local", "logs")
        .host("localhost", Vec::<String>::new())
        .step(PlannedStep::new(step).id("logs"))
        .build()
        .expect("plan");
    let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
    let targets: Targets = [("localhost".to_owned(), local.clone())]
        .into_iter()
        .collect();
    let token = tokio_util::sync::CancellationToken::new();
    let executor = Executor::new(local, RunValues::new("r1"))
        .cancel_token(token.clone())
        .grace(Duration::from_secs(3600));
    let sink = Arc::new(RecordingSink::default());
    let watcher = {
        let (sink, token) = (sink.clone(), token.clone());
        tokio::spawn(async move {
            // Interrupt once a tick has been shown.
            while !sink.events().iter().any(
                |e| matches!(e, Event::Output { line, shown: true, .. } if line.ends_with("tick")),
            ) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            token.cancel();
        })
    };
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        executor.run(&plan, &targets, &*sink),
    )
    .await
    .expect("the run ends once interrupted");
    watcher.await.expect("watcher");

    assert_eq!(report.outcome, Outcome::Interrupted);
    assert_eq!(report.hosts[0].steps[0].status, StepStatus::Interrupted);
    testing::clean_up(&engine, &test).await;
}

/// A health check that fails without printing anything is reported as
/// such, not as "its health check failed: " with nothing after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_failing_health_check_says_it_printed_nothing() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let test = testing::unique("silent-health");
    let busybox = testing::busybox_image(&engine).await;
    let mut spec = ContainerSpec::new(&test, &busybox).label(TEST_LABEL, &test);
    spec.command = Some(vec!["sleep".into(), "300".into()]);
    let mut check = deploy_docker::container::Healthcheck::command(["CMD", "false"]);
    check.interval = Duration::from_millis(200);
    check.retries = 1;
    spec.healthcheck = Some(check);
    engine.run(&spec).await.expect("the container runs");

    let err = engine
        .wait_healthy(&test, Duration::from_secs(30))
        .await
        .expect_err("never healthy");
    let message = err.to_string();
    testing::clean_up(&engine, &test).await;
    assert!(
        message.ends_with("its health check failed and printed nothing"),
        "{message}"
    );
}
