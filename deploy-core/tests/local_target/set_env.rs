//! The SetEnvVar step: changing only the value, creating a missing file,
//! binary files, rollback, symlinked `.env` files.
//!
//! Run: `cargo test -p deploy-core --test local_target set_env::`.

use super::*;

// ---------------------------------------------------------------------------
// SetEnvVar
// ---------------------------------------------------------------------------

/// A real-world dotenv: comments, `export`, quotes, CRLF, no final newline.
const DOTENV: &str = "# Pixel production settings\r\nexport DATABASE_URL=\"postgres://u:p@db/pixel\"\r\nexport VERSION=\"1.4.1\" # pinned\r\nSECRET_KEY='a#b c'   # rotate yearly\r\n\r\nDEBUG=0";

/// SetEnvVar changes only the value, byte for byte, keeps the file's mode, and a second run is skipped.
#[tokio::test]
async fn set_env_changes_only_the_value() {
    let dir = tempdir();
    let file = dir.path().join(".env");
    write(&file, DOTENV);
    set_mode(&file, 0o600);
    let step = || PlannedStep::new(SetEnvVar::new(s(&file), "VERSION", "${release}"));

    let first = execute(&plan(FailurePolicy::Stop, [step()]), "1.4.2").await;
    assert_eq!(first.statuses(), [StepStatus::Done]);
    let expected = DOTENV.replace("\"1.4.1\"", "\"1.4.2\"");
    assert_eq!(std::fs::read(&file).expect("read"), expected.as_bytes());
    assert_mode(&file, 0o600);
    assert_eq!(names_in(dir.path()), [".env"]);

    let second = execute(&plan(FailurePolicy::Stop, [step()]), "1.4.2").await;
    assert_eq!(second.statuses(), [StepStatus::Skipped]);
    assert_eq!(std::fs::read(&file).expect("read"), expected.as_bytes());
}

/// SetEnvVar on a file that does not exist (nor its directory) creates it; running again is skipped.
#[tokio::test]
async fn set_env_creates_a_missing_file() {
    let dir = tempdir();
    let file = dir.path().join("shared/.env");
    let step = || PlannedStep::new(SetEnvVar::new(s(&file), "VERSION", "${release}"));
    let first = execute(&plan(FailurePolicy::Stop, [step()]), "r1").await;
    assert_eq!(first.statuses(), [StepStatus::Done]);
    assert_eq!(read(&file), "VERSION=r1\n");
    let second = execute(&plan(FailurePolicy::Stop, [step()]), "r1").await;
    assert_eq!(second.statuses(), [StepStatus::Skipped]);
}

/// SetEnvVar refuses a file that is not UTF-8 and leaves it unchanged.
#[tokio::test]
async fn set_env_leaves_a_binary_file_alone() {
    let dir = tempdir();
    let file = dir.path().join(".env");
    let bytes = [b'A', b'=', 0xff, 0xfe, b'\n'];
    write(&file, bytes);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(SetEnvVar::new(s(&file), "VERSION", "1"))],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Failed]);
    assert!(ran.error(0).contains("not UTF-8"), "{}", ran.error(0));
    assert_eq!(std::fs::read(&file).expect("read"), bytes);
}

/// SetEnvVar rollback restores the old bytes exactly, and removes a file it created.
#[tokio::test]
async fn set_env_rollback_restores_the_old_bytes() {
    let dir = tempdir();
    let file = dir.path().join(".env");
    write(&file, DOTENV);
    let changed = plan(
        FailurePolicy::Rollback,
        [
            PlannedStep::new(SetEnvVar::new(s(&file), "VERSION", "9.9.9")),
            PlannedStep::new(SetEnvVar::new(s(&file), "DEBUG", "1")),
            failing(),
        ],
    );
    let ran = execute(&changed, "r1").await;
    assert_eq!(ran.report.outcome, Outcome::RolledBack);
    assert_eq!(
        ran.statuses(),
        [StepStatus::Done, StepStatus::Done, StepStatus::Failed]
    );
    assert_eq!(ran.steps()[0].rollback, Some(RollbackStatus::Undone));
    assert_eq!(ran.steps()[1].rollback, Some(RollbackStatus::Undone));
    assert_eq!(std::fs::read(&file).expect("read"), DOTENV.as_bytes());

    let fresh = dir.path().join("fresh.env");
    let created = plan(
        FailurePolicy::Rollback,
        [
            PlannedStep::new(SetEnvVar::new(s(&fresh), "VERSION", "1")),
            failing(),
        ],
    );
    let ran = execute(&created, "r1").await;
    assert_eq!(ran.steps()[0].rollback, Some(RollbackStatus::Undone));
    assert!(!fresh.exists());
}

/// `set-env` on a symlinked `.env` (Capistrano's shared file) writes through the link.
#[tokio::test]
async fn set_env_writes_through_a_symlink() {
    let dir = tempdir();
    std::fs::create_dir(dir.path().join("shared")).expect("mkdir");
    write(&dir.path().join("shared/.env"), "VERSION=1\nDEBUG=0\n");
    let link = dir.path().join(".env");
    symlink(dir.path().join("shared/.env"), &link);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(SetEnvVar::new(s(&link), "VERSION", "2"))],
        ),
        "r1",
    )
    .await;
    assert_eq!(ran.statuses(), vec![StepStatus::Done]);
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("exists")
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        read(&dir.path().join("shared/.env")),
        "VERSION=2\nDEBUG=0\n"
    );
}
