//! The release layout through the executor: Symlink (create, skip, roll
//! back), KeepReleases and RollbackRelease.
//!
//! Run: `cargo test -p deploy-core --test local_target releases::`.

use super::*;

// ---------------------------------------------------------------------------
// Steps through the executor: Symlink
// ---------------------------------------------------------------------------

/// A Symlink step pointing `current` at `releases/${release}`.
fn current_link(base: &Path) -> PlannedStep {
    PlannedStep::new(Symlink::new(
        s(&base.join("current")),
        format!("{}/releases/${{release}}", s(base)),
    ))
}

/// Symlink: the first run creates the link at the run's release, the second is skipped, a rolled-back switch points it back.
#[tokio::test]
async fn symlink_creates_skips_and_rolls_back() {
    let dir = releases(&["r1", "r2"]);
    let base = dir.path();
    let link = base.join("current");

    let first = execute(&plan(FailurePolicy::Stop, [current_link(base)]), "r1").await;
    assert_eq!(first.report.outcome, Outcome::Succeeded);
    assert_eq!(first.statuses(), [StepStatus::Done]);
    assert_eq!(link_of(&link), base.join("releases/r1"));

    let second = execute(&plan(FailurePolicy::Stop, [current_link(base)]), "r1").await;
    assert_eq!(second.statuses(), [StepStatus::Skipped]);
    assert_eq!(link_of(&link), base.join("releases/r1"));

    let switch = plan(FailurePolicy::Rollback, [current_link(base), failing()]);
    let third = execute(&switch, "r2").await;
    assert_eq!(third.report.outcome, Outcome::RolledBack);
    assert_eq!(third.statuses(), [StepStatus::Done, StepStatus::Failed]);
    assert_eq!(third.steps()[0].rollback, Some(RollbackStatus::Undone));
    assert_eq!(link_of(&link), base.join("releases/r1"));
    assert_eq!(names_in(base), ["current", "releases"]);
}

/// Symlink: rolling back a link that did not exist before removes it.
#[tokio::test]
async fn symlink_rollback_removes_a_new_link() {
    let dir = releases(&["r1"]);
    let base = dir.path();
    let ran = execute(
        &plan(FailurePolicy::Rollback, [current_link(base), failing()]),
        "r1",
    )
    .await;
    assert_eq!(ran.report.outcome, Outcome::RolledBack);
    assert_eq!(ran.steps()[0].rollback, Some(RollbackStatus::Undone));
    assert!(std::fs::symlink_metadata(base.join("current")).is_err());
    assert_eq!(names_in(base), ["releases"]);
}

// ---------------------------------------------------------------------------
// KeepReleases / RollbackRelease
// ---------------------------------------------------------------------------

/// KeepReleases keep=2 with `current` at the oldest of four: only the second is removed (the oldest is current, the newest two are kept).
#[tokio::test]
async fn keep_releases_never_removes_current() {
    let dir = releases(&["r1", "r2", "r3", "r4"]);
    let base = dir.path();
    symlink("releases/r1", &base.join("current"));
    let step = || {
        PlannedStep::new(
            KeepReleases::new(s(&base.join("releases")), 2).current(s(&base.join("current"))),
        )
    };
    let ran = execute(&plan(FailurePolicy::Stop, [step()]), "r5").await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(names_in(&base.join("releases")), ["r1", "r3", "r4"]);
    assert_eq!(link_of(&base.join("current")), PathBuf::from("releases/r1"));
    // Three releases are more than two, so it runs again, and removes nothing more.
    let again = execute(&plan(FailurePolicy::Stop, [step()]), "r5").await;
    assert_eq!(again.statuses(), [StepStatus::Done]);
    assert_eq!(names_in(&base.join("releases")), ["r1", "r3", "r4"]);
}

/// KeepReleases keep=2 with `current` at the newest (or no `current`) removes the two oldest.
#[tokio::test]
async fn keep_releases_removes_the_oldest() {
    let dir = releases(&["r1", "r2", "r3", "r4"]);
    let base = dir.path();
    symlink(base.join("releases/r4"), &base.join("current"));
    let step = KeepReleases::new(s(&base.join("releases")), 2).current(s(&base.join("current")));
    let ran = execute(&plan(FailurePolicy::Stop, [PlannedStep::new(step)]), "r").await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(names_in(&base.join("releases")), ["r3", "r4"]);

    let dir = releases(&["a", "b", "c", "d"]);
    let step = KeepReleases::new(s(&dir.path().join("releases")), 2);
    execute(&plan(FailurePolicy::Stop, [PlannedStep::new(step)]), "r").await;
    assert_eq!(names_in(&dir.path().join("releases")), ["c", "d"]);
}

/// KeepReleases is skipped when there are no more releases than it keeps.
#[tokio::test]
async fn keep_releases_skips_when_few() {
    let dir = releases(&["r1", "r2"]);
    let step = KeepReleases::new(s(&dir.path().join("releases")), 2);
    let ran = execute(&plan(FailurePolicy::Stop, [PlannedStep::new(step)]), "r").await;
    assert_eq!(ran.statuses(), [StepStatus::Skipped]);
    assert_eq!(names_in(&dir.path().join("releases")), ["r1", "r2"]);
}

/// A RollbackRelease step for `base`.
fn rollback_release(base: &Path) -> PlannedStep {
    PlannedStep::new(RollbackRelease::new(
        s(&base.join("releases")),
        s(&base.join("current")),
    ))
}

/// RollbackRelease points current at the previous release each run, and fails (link unchanged) at the oldest.
#[tokio::test]
async fn rollback_release_steps_back_until_the_oldest() {
    let dir = releases(&["r1", "r2", "r3"]);
    let base = dir.path();
    let link = base.join("current");
    symlink(base.join("releases/r3"), &link);
    let releases_dir = s(&base.join("releases"));

    let first = execute(&plan(FailurePolicy::Stop, [rollback_release(base)]), "x").await;
    assert_eq!(first.statuses(), [StepStatus::Done]);
    assert_eq!(link_of(&link), PathBuf::from(format!("{releases_dir}/r2")));

    let second = execute(&plan(FailurePolicy::Stop, [rollback_release(base)]), "x").await;
    assert_eq!(second.statuses(), [StepStatus::Done]);
    assert_eq!(link_of(&link), PathBuf::from(format!("{releases_dir}/r1")));

    let third = execute(&plan(FailurePolicy::Stop, [rollback_release(base)]), "x").await;
    assert_eq!(third.report.outcome, Outcome::Failed);
    assert_eq!(third.statuses(), [StepStatus::Failed]);
    let error = third.error(0);
    assert!(error.contains("r1 is the oldest release"), "{error}");
    assert!(error.contains("nothing to roll back to"), "{error}");
    assert_eq!(link_of(&link), PathBuf::from(format!("{releases_dir}/r1")));
}

/// RollbackRelease fails when current is not a link, and is undone by a run's rollback.
#[tokio::test]
async fn rollback_release_errors_and_undo() {
    let dir = releases(&["r1", "r2"]);
    let base = dir.path();
    let ran = execute(&plan(FailurePolicy::Stop, [rollback_release(base)]), "x").await;
    assert_eq!(ran.statuses(), [StepStatus::Failed]);
    assert!(ran.error(0).contains("is not a link"), "{}", ran.error(0));

    symlink(base.join("releases/r2"), &base.join("current"));
    let ran = execute(
        &plan(FailurePolicy::Rollback, [rollback_release(base), failing()]),
        "x",
    )
    .await;
    assert_eq!(ran.report.outcome, Outcome::RolledBack);
    assert_eq!(ran.steps()[0].rollback, Some(RollbackStatus::Undone));
    assert_eq!(link_of(&base.join("current")), base.join("releases/r2"));
}
