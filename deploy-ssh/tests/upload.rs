//! The core `upload` step on this machine (LocalTarget) and on a real sshd
//! host: read here, written there atomically with a mode and an owner,
//! "already done" when it matches, undone back to what was there.
//!
//! Run: `cargo test -p deploy-ssh --test upload`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use deploy_core::steps::Upload;
use deploy_core::testing::TestContext;
use deploy_core::{LocalTarget, Step, StepContext, Target};
use deploy_ssh::SshTarget;
use deploy_ssh::testing::Sshd;

fn upload(from: &Path, to: &Path) -> Upload {
    Upload::new(
        from.display().to_string().as_str(),
        to.display().to_string().as_str(),
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

/// What both targets must do.
async fn scenario(ctx: &StepContext<'_>, host: &str) {
    let here = tempfile::tempdir().expect("tempdir");
    let there = tempfile::tempdir().expect("tempdir");
    let from = here.path().join("docker-compose.staging.yml");
    std::fs::write(&from, "services:\n  web:\n    image: pixel:staging\n").expect("write");
    let to = there.path().join("staging/docker-compose.yml");

    // A new file: written with its mode, then done; undo removes it.
    let step = upload(&from, &to).mode(0o640);
    assert!(!step.is_satisfied(ctx).await.expect("check"), "{host}");
    let applied = step.apply(ctx).await.expect("apply");
    assert!(step.is_satisfied(ctx).await.expect("check"), "{host}");
    assert_eq!(
        std::fs::read(&to).expect("read"),
        std::fs::read(&from).expect("read")
    );
    assert_eq!(mode(&to), 0o640, "{host}");
    step.undoable()
        .expect("undoable")
        .revert(ctx, &applied)
        .await
        .expect("undo");
    assert!(
        !to.exists(),
        "{host}: undo removes a file that was not there"
    );

    // Over an existing file: a different mode or content is not done;
    // undo restores the old bytes and mode.
    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    std::fs::write(&to, "old\n").expect("write");
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(!step.is_satisfied(ctx).await.expect("check"));
    let applied = step.apply(ctx).await.expect("apply");
    assert!(step.is_satisfied(ctx).await.expect("check"));
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert!(
        !step.is_satisfied(ctx).await.expect("check"),
        "mode differs"
    );
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    std::fs::write(&from, "services: {}\n").expect("write");
    assert!(
        !step.is_satisfied(ctx).await.expect("check"),
        "content differs"
    );
    step.undoable()
        .expect("undoable")
        .revert(ctx, &applied)
        .await
        .expect("undo");
    assert_eq!(std::fs::read_to_string(&to).expect("read"), "old\n");
    assert_eq!(mode(&to), 0o600, "{host}: the old mode is back");

    // An owner (these tests run as root, so chown may give it away).
    if rustix_uid() == 0 {
        let owned = upload(&from, &to).owner("nobody:nogroup");
        assert!(!owned.is_satisfied(ctx).await.expect("check"));
        let applied = owned.apply(ctx).await.expect("apply");
        assert!(owned.is_satisfied(ctx).await.expect("check"));
        assert_eq!(std::fs::metadata(&to).expect("stat").uid(), 65534);
        owned
            .undoable()
            .expect("undoable")
            .revert(ctx, &applied)
            .await
            .expect("undo");
        assert_eq!(std::fs::metadata(&to).expect("stat").uid(), 0, "owner back");
    }

    // A missing source is named.
    let missing = upload(&here.path().join("nope.yml"), &to);
    let err = missing.apply(ctx).await.expect_err("no source");
    assert!(err.to_string().contains("nope.yml: no such file"), "{err}");
}

fn rustix_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(1, |m| m.uid())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_on_this_machine() {
    let test = TestContext::new(LocalTarget::new("localhost"));
    scenario(&test.ctx(), "localhost").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_to_an_sshd_host() {
    let Some(sshd) = Sshd::start() else {
        return;
    };
    let here: Arc<dyn Target> = Arc::new(LocalTarget::new("here"));
    let test = TestContext::new(SshTarget::new("127.0.0.1", sshd.options())).local(here);
    scenario(&test.ctx(), "127.0.0.1").await;
}
