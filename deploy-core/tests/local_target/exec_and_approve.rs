//! Exec through the executor (`unless`, shell, env and stdin, failure
//! reports, secret masking, timeouts) and the Approve gate.
//!
//! Run: `cargo test -p deploy-core --test local_target exec_and_approve::`.

use super::*;

// ---------------------------------------------------------------------------
// Exec, Sync, Approve, timeouts
// ---------------------------------------------------------------------------

/// Exec with `unless` is skipped when the check succeeds (the file exists) and runs when it fails.
#[tokio::test]
async fn exec_unless_skips_when_satisfied() {
    let dir = tempdir();
    let (marker, touched) = (dir.path().join("marker"), dir.path().join("touched"));
    let step = || {
        PlannedStep::new(Exec::argv(["touch", s(&touched).as_str()]).unless([
            "test",
            "-e",
            s(&marker).as_str(),
        ]))
    };
    let ran = execute(&plan(FailurePolicy::Stop, [step()]), "r").await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert!(touched.exists());

    std::fs::remove_file(&touched).expect("rm");
    write(&marker, "");
    let ran = execute(&plan(FailurePolicy::Stop, [step()]), "r").await;
    assert_eq!(ran.statuses(), [StepStatus::Skipped]);
    assert!(!touched.exists());
}

/// Exec `shell` runs pipes and redirections in its cwd.
#[tokio::test]
async fn exec_shell_pipes_and_redirects() {
    let dir = tempdir();
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(
                Exec::shell("echo a | tr a b > out").cwd(s(dir.path())),
            )],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(read(&dir.path().join("out")), "b\n");
}

/// Exec's env and stdin (placeholders filled) reach the command.
#[tokio::test]
async fn exec_env_and_stdin() {
    let dir = tempdir();
    let step = Exec::shell("cat > out; echo \"$TAG\" >> out")
        .cwd(s(dir.path()))
        .env("TAG", "tag-${release}")
        .stdin("input-${release}\n");
    let ran = execute(&plan(FailurePolicy::Stop, [PlannedStep::new(step)]), "r9").await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(read(&dir.path().join("out")), "input-r9\ntag-r9\n");
}

/// A failing Exec's report error holds the command, its status and the last five stderr lines.
#[tokio::test]
async fn exec_failure_reports_command_and_stderr_tail() {
    let script = "for i in 1 2 3 4 5 6 7; do echo line$i >&2; done; exit 4";
    let ran = execute(
        &plan(FailurePolicy::Stop, [PlannedStep::new(Exec::shell(script))]),
        "r",
    )
    .await;
    assert_eq!(ran.report.outcome, Outcome::Failed);
    let error = ran.error(0);
    assert!(error.contains(script), "{error}");
    assert!(error.contains("exit code 4"), "{error}");
    assert!(
        error.ends_with(": line3 / line4 / line5 / line6 / line7"),
        "{error}"
    );

    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(Exec::argv([
                "ls",
                "/deploy-test-no-such-dir",
            ]))],
        ),
        "r",
    )
    .await;
    let error = ran.error(0);
    assert!(error.contains("`ls /deploy-test-no-such-dir`"), "{error}");
    assert!(error.contains("exit code 2"), "{error}");
    assert!(error.contains("/deploy-test-no-such-dir"), "{error}");
}

/// A failing Exec's error masks secret values from its stderr (the secret
/// comes through `env`: on a command line it is refused).
#[tokio::test]
async fn exec_failure_masks_secrets() {
    let mut values = RunValues::new("r");
    values
        .secrets
        .insert("token".to_owned(), Secret::new("s3cr3t-t0ken"));
    let step = Exec::shell("echo \"bad token $TOKEN\" >&2; exit 1").env("TOKEN", "${secret.token}");
    let ran = execute_with(
        &plan(FailurePolicy::Stop, [PlannedStep::new(step)]),
        values,
        Arc::new(Unattended::default()),
    )
    .await;
    let error = ran.error(0);
    assert!(!error.contains("s3cr3t-t0ken"), "{error}");
    assert!(error.contains("bad token [REDACTED]"), "{error}");
    assert!(
        ran.output(OutputStream::Stderr)
            .iter()
            .all(|l| !l.contains("s3cr3t-t0ken"))
    );
}

/// A step timeout fails the step and kills the command's process group.
#[tokio::test]
async fn exec_timeout_kills_the_process_group() {
    let dir = tempdir();
    let pidfile = dir.path().join("sleep.pid");
    let step = Exec::shell(format!(
        "sleep 30 & echo $! > {}; wait",
        quote(&s(&pidfile))
    ));
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(step).timeout(Duration::from_secs(1))],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Failed]);
    assert!(ran.error(0).contains("timed out"), "{}", ran.error(0));
    let sleep = pid_in(&pidfile).await;
    assert!(gone(sleep).await, "background sleep {sleep} survived");
}

/// An Approve gate stops an unattended run before later steps, and lets a pre-approved one through.
#[tokio::test]
async fn approve_gates_later_steps() {
    let dir = tempdir();
    let touched = dir.path().join("touched");
    let gated = plan(
        FailurePolicy::Stop,
        [
            PlannedStep::new(Approve::new("ship ${release}?")),
            PlannedStep::new(Exec::argv(["touch", s(&touched).as_str()])),
        ],
    );
    let refused = execute(&gated, "r1").await;
    assert_eq!(
        refused.statuses(),
        [StepStatus::NotApproved, StepStatus::NotRun]
    );
    assert!(
        refused.error(0).contains("ship r1?"),
        "{}",
        refused.error(0)
    );
    assert!(!touched.exists());

    let approved = execute_with(
        &gated,
        RunValues::new("r1"),
        Arc::new(Unattended { pre_approved: true }),
    )
    .await;
    assert_eq!(approved.statuses(), [StepStatus::Done, StepStatus::Done]);
    assert!(touched.exists());
}
