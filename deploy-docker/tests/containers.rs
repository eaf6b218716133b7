//! `[containers]` entries against the real engine: a `deploy.toml` that
//! defines a container once, a deploy task that recreates it from the entry
//! and a restart task that restarts it in place, keeping its env and
//! volumes (the plan's steps applied as `deploy run` would apply them).
//!
//! Run: `cargo test -p deploy-docker --test containers`.

use std::sync::Arc;

use deploy_core::target::OutputStream;
use deploy_core::testing::{RecordingOutput, TestContext};
use deploy_core::{Config, LocalTarget, Step, StepContext, StepRegistry};
use deploy_docker::steps::RestartContainer;
use deploy_docker::testing::{self, TEST_LABEL};
use deploy_docker::{Engine, testing::busybox_image};

fn registry() -> StepRegistry {
    let mut registry = StepRegistry::with_builtins();
    deploy_docker::register(&mut registry);
    registry
}

/// Applies every step of `task` (with `args`) in order.
async fn run(config: &Config, task: &str, args: &[(&str, &str)], ctx: &StepContext<'_>) {
    let args: Vec<(String, String)> = args
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let plan = config
        .plan(None, Some(task), &args, &registry())
        .unwrap_or_else(|e| panic!("plan {task}: {e}"));
    for planned in plan.steps() {
        planned
            .step
            .apply(ctx)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", planned.step.describe().summary));
    }
}

async fn env_of(engine: &Engine, name: &str) -> Vec<String> {
    let output = RecordingOutput::default();
    engine
        .exec(name, &["env".to_owned()], &Default::default(), &output)
        .await
        .expect("exec env");
    output.of(OutputStream::Stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_is_recreated_by_one_task_and_restarted_in_place_by_another() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let test = "an_entry_is_recreated_by_one_task_and_restarted_in_place_by_another";
    testing::clean_up(&engine, test).await;
    let busybox = busybox_image(&engine).await;
    let name = testing::unique("defined");
    let dir = tempfile::tempdir().expect("tempdir");
    let source = format!(
        r#"default_environment = "here"
[environments.here]
hosts = ["localhost"]
transport = "local"

[containers.app]
name = "{name}"
image = "{busybox}"
command = ["sh", "-c", "echo started >> /data/starts; exec sleep 300"]
env = {{ GREETING = "${{greeting}}" }}
volumes = ["{dir}:/data"]
labels = {{ "{TEST_LABEL}" = "{test}" }}
init = true
stop_grace = "1s"
wait = "20s"

[tasks.deploy]
params = {{ greeting = "hello" }}
steps = [{{ docker.recreate = {{ container = "app" }} }}]

[tasks.restart]
params = {{ greeting = "hello" }}
steps = [{{ docker.restart = {{ container = "app" }} }}]
"#,
        dir = dir.path().display()
    );
    let config = Config::parse("deploy.toml", ".", &source).expect("config");
    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();

    run(&config, "deploy", &[], &ctx).await;
    let created = engine
        .inspect(&name)
        .await
        .expect("inspect")
        .expect("created from the entry");
    assert!(
        env_of(&engine, &name)
            .await
            .contains(&"GREETING=hello".to_owned())
    );
    let starts = || std::fs::read_to_string(dir.path().join("starts")).unwrap_or_default();
    assert_eq!(starts(), "started\n");

    run(&config, "restart", &[], &ctx).await;
    let restarted = engine
        .inspect(&name)
        .await
        .expect("inspect")
        .expect("still there");
    assert_eq!(
        restarted.id, created.id,
        "restarted in place, not recreated"
    );
    assert!(restarted.running());
    assert_ne!(restarted.started_at, created.started_at, "it did restart");
    assert_eq!(starts(), "started\nstarted\n", "same volume");
    assert!(
        env_of(&engine, &name)
            .await
            .contains(&"GREETING=hello".to_owned()),
        "same env"
    );
    assert!(
        here.output().of(OutputStream::Stderr).is_empty(),
        "no warning: the container is the entry's"
    );

    // The entry changed since the container was made: restarted as it is,
    // and said so.
    run(&config, "restart", &[("greeting", "changed")], &ctx).await;
    assert!(
        here.output()
            .of(OutputStream::Stderr)
            .iter()
            .any(|l| l.contains("was not created from its [containers] entry")),
        "{:?}",
        here.output().of(OutputStream::Stderr)
    );
    assert!(
        env_of(&engine, &name)
            .await
            .contains(&"GREETING=hello".to_owned())
    );

    // A container that does not exist is named, with what creates it.
    let missing = RestartContainer::new(&testing::unique("missing"));
    let err = missing.apply(&ctx).await.expect_err("no such container");
    assert!(
        err.to_string().contains("no such container")
            && err.to_string().contains("docker.recreate"),
        "{err}"
    );
    testing::clean_up(&engine, test).await;
}

fn replicated(kind: &str, name: &str, image: &str, replicas: usize, test: &str) -> Arc<dyn Step> {
    let table: toml::Value = toml::from_str::<toml::Table>(&format!(
        "name = \"{name}\"\nimage = \"{image}\"\ncommand = [\"sleep\", \"300\"]\ninit = true\n\
         replicas = {replicas}\nlabels = {{ \"{TEST_LABEL}\" = \"{test}\" }}\n\
         stop_grace = \"1s\"\nwait = \"20s\"\n"
    ))
    .expect("toml")
    .into();
    registry().parse(kind, table).expect("step")
}

/// Which of `names` run, in order.
async fn running(engine: &Engine, names: &[String]) -> Vec<bool> {
    let mut out = Vec::new();
    for name in names {
        let info = engine.inspect(name).await.expect("inspect");
        out.push(info.is_some_and(|i| i.running()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_scale_up_and_down_and_undo_puts_back_what_ran() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let test = "replicas_scale_up_and_down_and_undo_puts_back_what_ran";
    testing::clean_up(&engine, test).await;
    let busybox = busybox_image(&engine).await;
    let name = testing::unique("redis");
    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();
    let all: Vec<String> = std::iter::once(name.clone())
        .chain((1..=3).map(|n| format!("{name}-{n}")))
        .collect();

    // One replica keeps the plain name.
    let one = replicated("docker.ensure-running", &name, &busybox, 1, test);
    one.apply(&ctx).await.expect("one");
    assert_eq!(running(&engine, &all).await, [true, false, false, false]);

    // Two: NAME-1 and NAME-2; the plain one is stopped and kept for undo.
    let two = replicated("docker.ensure-running", &name, &busybox, 2, test);
    assert!(!two.is_satisfied(&ctx).await.expect("check"));
    let applied = two.apply(&ctx).await.expect("two");
    assert!(
        two.is_satisfied(&ctx).await.expect("check"),
        "satisfied after"
    );
    assert_eq!(running(&engine, &all).await, [false, true, true, false]);
    assert!(
        engine
            .inspect(&format!("{name}-previous"))
            .await
            .expect("inspect")
            .is_some()
    );
    assert!(
        !one.is_satisfied(&ctx).await.expect("check"),
        "two replicas are not one"
    );

    // Undo: the replicas go, the plain one runs again.
    two.undoable()
        .expect("undoable")
        .revert(&ctx, &applied)
        .await
        .expect("undo");
    assert_eq!(running(&engine, &all).await, [true, false, false, false]);
    assert!(one.is_satisfied(&ctx).await.expect("check"));

    // Recreate ×3, then ×2: NAME-3 is set aside; undo brings it back.
    let three = replicated("docker.recreate", &name, &busybox, 3, test);
    three.apply(&ctx).await.expect("three");
    assert_eq!(running(&engine, &all).await, [false, true, true, true]);
    let first = engine
        .inspect(&all[1])
        .await
        .expect("inspect")
        .expect("runs");
    let down = replicated("docker.recreate", &name, &busybox, 2, test);
    assert!(!down.is_satisfied(&ctx).await.expect("check"));
    let applied = down.apply(&ctx).await.expect("down to two");
    assert_eq!(running(&engine, &all).await, [false, true, true, false]);
    let unchanged = engine
        .inspect(&all[1])
        .await
        .expect("inspect")
        .expect("runs");
    assert_eq!(unchanged.id, first.id, "an unchanged replica is left alone");
    down.undoable()
        .expect("undoable")
        .revert(&ctx, &applied)
        .await
        .expect("undo");
    assert_eq!(running(&engine, &all).await, [false, true, true, true]);

    // docker.restart restarts each replica in place.
    let before = engine
        .inspect(&all[3])
        .await
        .expect("inspect")
        .expect("runs");
    let restart = registry()
        .parse(
            "docker.restart",
            toml::from_str::<toml::Table>(&format!(
                "name = \"{name}\"\nreplicas = 3\nstop_grace = \"1s\"\n"
            ))
            .expect("toml")
            .into(),
        )
        .expect("restart step");
    restart.apply(&ctx).await.expect("restarted");
    let after = engine
        .inspect(&all[3])
        .await
        .expect("inspect")
        .expect("runs");
    assert_eq!(after.id, before.id);
    assert_ne!(after.started_at, before.started_at);
    assert_eq!(running(&engine, &all).await, [false, true, true, true]);

    // Several replicas cannot publish one host port.
    let err = registry()
        .parse(
            "docker.recreate",
            toml::from_str::<toml::Table>(
                "name = \"web\"\nimage = \"shop/web:1\"\nreplicas = 2\nports = [\"127.0.0.1:8000:8000\"]\n",
            )
            .expect("toml")
            .into(),
        )
        .expect_err("refused")
        .to_string();
    assert!(err.contains("cannot bind one host port"), "{err}");
    testing::clean_up(&engine, test).await;
}
