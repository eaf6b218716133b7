//! `docker.run` against the real engine: a one-off container from an image
//! and from a compose service's definition, its output streamed, its exit
//! status checked (the tail of stdout and stderr in the error), removed
//! afterwards unless `rm = false`.
//!
//! Run: `cargo test -p deploy-docker --test run`.

use deploy_core::target::OutputStream;
use deploy_core::testing::TestContext;
use deploy_core::{LocalTarget, Step};
use deploy_docker::steps::RunContainer;
use deploy_docker::testing;

fn step(toml: &str) -> RunContainer {
    toml::from_str(toml).unwrap_or_else(|e| panic!("docker.run config: {e}\n{toml}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_off_from_an_image_streams_fails_and_is_removed() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let busybox = testing::busybox_image(&engine).await;
    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();
    let output = here.output();

    // Succeeds: output streamed as the step's, env/workdir/user applied,
    // container gone afterwards.
    let name = testing::unique("run-ok");
    let ok = step(&format!(
        "image = \"{busybox}\"\nname = \"{name}\"\nworkdir = \"/tmp\"\nuser = \"1234\"\n\
         env = {{ GREETING = \"hello from the image\" }}\n\
         command = [\"sh\", \"-c\", \"echo $GREETING; echo in $PWD; cat /proc/self/status; echo to-stderr >&2\"]\n"
    ));
    assert!(
        !ok.is_satisfied(&ctx).await.expect("check"),
        "a one-off always runs"
    );
    ok.apply(&ctx).await.expect("exit 0");
    let stdout = output.of(OutputStream::Stdout);
    assert!(
        stdout.iter().any(|l| l == "hello from the image"),
        "{stdout:?}"
    );
    assert!(stdout.iter().any(|l| l == "in /tmp"), "{stdout:?}");
    assert!(
        stdout
            .iter()
            .any(|l| l.starts_with("Uid:") && l.contains("1234")),
        "{stdout:?}"
    );
    assert!(
        output
            .of(OutputStream::Stderr)
            .iter()
            .any(|l| l == "to-stderr")
    );
    assert!(
        engine.inspect(&name).await.expect("inspect").is_none(),
        "removed"
    );

    // Fails: exit status and both tails in the error, container removed.
    let name = testing::unique("run-fail");
    let failing = step(&format!(
        "image = \"{busybox}\"\nname = \"{name}\"\n\
         command = [\"sh\", \"-c\", \"echo 3 passed; echo test_checkout FAILED; echo Traceback >&2; exit 3\"]\n"
    ));
    let err = failing.apply(&ctx).await.expect_err("exit 3").to_string();
    assert!(err.contains("exited with code 3"), "{err}");
    assert!(
        err.contains("stdout: 3 passed / test_checkout FAILED"),
        "{err}"
    );
    assert!(err.contains("stderr: Traceback"), "{err}");
    assert!(
        engine.inspect(&name).await.expect("inspect").is_none(),
        "removed after a failure too"
    );

    // rm = false keeps it, stopped; a bind volume is written through.
    let dir = tempfile::tempdir().expect("tempdir");
    let name = testing::unique("run-kept");
    let kept = step(&format!(
        "image = \"{busybox}\"\nname = \"{name}\"\nrm = false\nvolumes = [\"{}:/out\"]\n\
         command = [\"sh\", \"-c\", \"echo backed up > /out/dump.sql\"]\n",
        dir.path().display()
    ));
    kept.apply(&ctx).await.expect("exit 0");
    let info = engine
        .inspect(&name)
        .await
        .expect("inspect")
        .expect("kept with rm = false");
    assert!(!info.running());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("dump.sql")).expect("written through the volume"),
        "backed up\n"
    );
    // Run again under the same name: the stopped one-off is replaced.
    kept.apply(&ctx)
        .await
        .expect("a leftover one-off is replaced");
    engine.remove(&name).await.expect("remove");

    // A run cut short (a step timeout, Ctrl-C drops the future) still
    // removes its container.
    let name = testing::unique("run-cut");
    let long = step(&format!(
        "image = \"{busybox}\"\nname = \"{name}\"\ncommand = [\"sleep\", \"300\"]\n"
    ));
    let cut = tokio::time::timeout(std::time::Duration::from_secs(3), long.apply(&ctx)).await;
    assert!(cut.is_err(), "still running after 3s");
    let mut gone = false;
    for _ in 0..40 {
        if engine.inspect(&name).await.expect("inspect").is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(gone, "a dropped run removes its container");

    // A missing image is named.
    let missing = step("image = \"deploy-test-missing:never\"\ncommand = [\"true\"]\n");
    let err = missing.apply(&ctx).await.expect_err("no image").to_string();
    assert!(err.contains("deploy-test-missing:never"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_off_from_a_compose_service_gets_its_env_volumes_and_network() {
    let Some(engine) = testing::engine().await else {
        return;
    };
    let busybox = testing::busybox_image(&engine).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("backups")).expect("mkdir");
    let file = dir.path().join("docker-compose.yml");
    std::fs::write(
        &file,
        format!(
            "services:\n  postgres:\n    image: {busybox}\n    environment:\n      PGDATABASE: shop\n    \
             volumes:\n      - ./backups:/backups\n    ports:\n      - \"127.0.0.1:1:5432\"\n    \
             restart: always\n    command: [\"sleep\", \"300\"]\n"
        ),
    )
    .expect("compose file");
    let project = testing::unique("proj");
    let here = TestContext::new(LocalTarget::new("localhost"));
    let ctx = here.ctx();
    let output = here.output();
    let backup = step(&format!(
        "service = \"postgres\"\ncompose = \"{}\"\nproject = \"{project}\"\n\
         command = [\"sh\", \"-c\", \"echo dump of $PGDATABASE > /backups/$PGDATABASE.sql; echo backup done\"]\n",
        file.display()
    ));
    assert_eq!(
        backup.describe().summary,
        format!(
            "run `sh -c echo dump of $PGDATABASE > /backups/$PGDATABASE.sql; echo backup done` \
             in a one-off container of compose service postgres ({project})"
        )
    );
    // The project's network is made if missing (the port 1 the service
    // publishes is not: a one-off publishes nothing).
    let outcome = backup.apply(&ctx).await;
    let network = format!("{project}_default");
    let exists = engine
        .network_exists(&network)
        .await
        .expect("inspect network");
    let _ = engine.remove_network(&network).await;
    outcome.expect("backup ran");
    assert!(exists, "the project's network was created");
    assert!(
        output
            .of(OutputStream::Stdout)
            .iter()
            .any(|l| l == "backup done")
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("backups/shop.sql")).expect("backup written"),
        "dump of shop\n"
    );
    let left = engine
        .list(&[("com.docker.compose.project", project.as_str())])
        .await
        .expect("list");
    assert!(left.is_empty(), "the one-off was removed: {left:?}");
}
