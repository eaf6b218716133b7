//! The WriteFile step: content and mode, fixing a wrong mode, and rollback
//! of both.
//!
//! Run: `cargo test -p deploy-core --test local_target write_file_step::`.

use super::*;

// ---------------------------------------------------------------------------
// WriteFile
// ---------------------------------------------------------------------------

/// WriteFile with mode 0o400: content (placeholders filled) and mode are right, and a second run is skipped.
#[tokio::test]
async fn write_file_step_writes_content_and_mode() {
    let dir = tempdir();
    let path = dir.path().join("app/credentials.ini");
    let step =
        || PlannedStep::new(WriteFile::new(s(&path), "[db]\nrelease = ${release}\n").mode(0o400));
    let first = execute(&plan(FailurePolicy::Stop, [step()]), "r7").await;
    assert_eq!(first.statuses(), [StepStatus::Done]);
    assert_eq!(read(&path), "[db]\nrelease = r7\n");
    assert_mode(&path, 0o400);
    assert_eq!(names_in(&dir.path().join("app")), ["credentials.ini"]);

    let second = execute(&plan(FailurePolicy::Stop, [step()]), "r7").await;
    assert_eq!(second.statuses(), [StepStatus::Skipped]);
}

/// WriteFile is not satisfied when only the mode differs, and fixes the mode.
#[tokio::test]
async fn write_file_step_fixes_a_wrong_mode() {
    let dir = tempdir();
    let path = dir.path().join("credentials.ini");
    write(&path, "same\n");
    set_mode(&path, 0o644);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(
                WriteFile::new(s(&path), "same\n").mode(0o400),
            )],
        ),
        "r1",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_mode(&path, 0o400);
}

/// WriteFile rollback restores the previous content, and removes a file that did not exist before.
#[tokio::test]
async fn write_file_step_rollback_restores_content() {
    let dir = tempdir();
    let existing = dir.path().join("app.ini");
    write(&existing, "old\n");
    let fresh = dir.path().join("new.ini");
    let ran = execute(
        &plan(
            FailurePolicy::Rollback,
            [
                PlannedStep::new(WriteFile::new(s(&existing), "new\n").mode(0o400)),
                PlannedStep::new(WriteFile::new(s(&fresh), "fresh\n")),
                failing(),
            ],
        ),
        "r1",
    )
    .await;
    assert_eq!(ran.report.outcome, Outcome::RolledBack);
    assert_eq!(ran.steps()[0].rollback, Some(RollbackStatus::Undone));
    assert_eq!(ran.steps()[1].rollback, Some(RollbackStatus::Undone));
    assert_eq!(read(&existing), "old\n");
    assert!(!fresh.exists());
    assert_eq!(names_in(dir.path()), ["app.ini"]);
}

/// WriteFile rollback also restores the previous mode: a 0600 secret must not stay world-readable after rolling back a 0644 write.
#[tokio::test]
async fn write_file_step_rollback_restores_mode() {
    let dir = tempdir();
    let path = dir.path().join("secret.ini");
    write(&path, "password = hunter2\n");
    set_mode(&path, 0o600);
    let ran = execute(
        &plan(
            FailurePolicy::Rollback,
            [
                PlannedStep::new(WriteFile::new(s(&path), "public = yes\n").mode(0o644)),
                failing(),
            ],
        ),
        "r1",
    )
    .await;
    assert_eq!(ran.steps()[0].rollback, Some(RollbackStatus::Undone));
    assert_eq!(read(&path), "password = hunter2\n");
    assert_mode(&path, 0o600);
}
