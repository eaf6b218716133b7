//! `LocalTarget::run`: streaming output, exit codes and signals, stdin,
//! env and cwd, base directories, and killing the process group.
//!
//! Run: `cargo test -p deploy-core --test local_target run::`.

use super::*;

// ---------------------------------------------------------------------------
// LocalTarget::run
// ---------------------------------------------------------------------------

/// stdout and stderr lines reach the sink separately, without line endings, including a last line with no newline.
#[tokio::test]
async fn run_streams_stdout_and_stderr_lines() {
    let (status, out) = run(&Command::shell(
        "echo out1; echo err1 >&2; printf 'out2\\r\\nout3'; echo err2 >&2",
    ))
    .await;
    assert!(status.success());
    assert_eq!(out.stdout(), ["out1", "out2", "out3"]);
    assert_eq!(out.stderr(), ["err1", "err2"]);
}

/// Exit codes come back as an Ok status: 0 is success, 3 is code 3.
#[tokio::test]
async fn run_reports_exit_codes() {
    let (ok, _) = run(&Command::new(["true"])).await;
    assert_eq!(ok, ExitStatus::code(0));
    assert!(ok.success());
    let (three, _) = run(&Command::shell("exit 3")).await;
    assert_eq!(three, ExitStatus::code(3));
    assert!(!three.success());
    assert_eq!(three.to_string(), "exit code 3");
}

/// `Command::stdin` bytes reach the program (`cat` echoes them back).
#[tokio::test]
async fn run_feeds_stdin() {
    let (status, out) = run(&Command::new(["cat"]).stdin("hello\nworld\n")).await;
    assert!(status.success());
    assert_eq!(out.stdout(), ["hello", "world"]);
}

/// A MiB through `cat` arrives whole: stdin is written while output is read.
#[tokio::test]
async fn run_pipes_a_large_stdin_through_cat() {
    let line = "x".repeat(63);
    let input = format!("{line}\n").repeat(16 * 1024);
    let (status, out) = run(&Command::new(["cat"]).stdin(input.clone())).await;
    assert!(status.success());
    let lines = out.stdout();
    assert_eq!(lines.len(), 16 * 1024);
    assert!(lines.iter().all(|l| *l == line));
}

/// Much more output than a pipe buffer on both streams at once arrives complete and in order per stream.
#[tokio::test]
async fn run_drains_both_streams_at_once() {
    let script = "i=0; while [ $i -lt 20000 ]; do echo o$i; echo e$i >&2; i=$((i+1)); done";
    let (status, out) = run(&Command::shell(script)).await;
    assert!(status.success());
    let expect = |prefix: &str| {
        (0..20000)
            .map(|i| format!("{prefix}{i}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(out.stdout(), expect("o"));
    assert_eq!(out.stderr(), expect("e"));
}

/// A command without stdin gets /dev/null, so `cat` ends at once.
#[tokio::test]
async fn run_without_stdin_reads_nothing() {
    let (status, out) = run(&Command::new(["cat"])).await;
    assert!(status.success());
    assert!(out.stdout().is_empty());
}

/// `env` and `cwd` apply to the process.
#[tokio::test]
async fn run_applies_env_and_cwd() {
    let dir = tempdir();
    let cmd = Command::shell("pwd -P; echo \"$DEPLOY_TEST_VALUE\"")
        .env("DEPLOY_TEST_VALUE", "two words")
        .cwd(s(dir.path()));
    let (status, out) = run(&cmd).await;
    assert!(status.success());
    let real = std::fs::canonicalize(dir.path()).expect("canonical path");
    assert_eq!(out.stdout(), [s(&real), "two words".to_owned()]);
}

/// With a base directory, relative cwd, reads and writes resolve against it.
#[tokio::test]
async fn base_dir_resolves_relative_paths() {
    let dir = tempdir();
    let target = LocalTarget::new("based").with_base_dir(dir.path());
    target
        .write_file("sub/file.txt", b"based\n", None)
        .await
        .expect("write");
    assert_eq!(read(&dir.path().join("sub/file.txt")), "based\n");
    assert_eq!(
        target.read_file("sub/file.txt").await.expect("read"),
        Some(b"based\n".to_vec())
    );
    let real = std::fs::canonicalize(dir.path()).expect("canonical path");
    let out = Recorder::default();
    target
        .run(&Command::shell("pwd -P; cat file.txt").cwd("sub"), &out)
        .await
        .expect("run");
    assert_eq!(out.stdout(), [s(&real.join("sub")), "based".to_owned()]);
    let out = Recorder::default();
    target
        .run(&Command::new(["pwd", "-P"]), &out)
        .await
        .expect("run");
    assert_eq!(out.stdout(), [s(&real)]);
}

/// A program that does not exist is a Spawn error naming it.
#[tokio::test]
async fn run_missing_program_is_a_spawn_error() {
    let err = local()
        .run(
            &Command::new(["deploy-test-no-such-program", "--flag"]),
            &DiscardOutput,
        )
        .await
        .expect_err("cannot start");
    match &err {
        TargetError::Spawn { program, .. } => assert_eq!(program, "deploy-test-no-such-program"),
        other => panic!("expected a Spawn error, got {other:?}"),
    }
    assert!(err.to_string().contains("deploy-test-no-such-program"));
}

/// An empty argv is an error, not a panic.
#[tokio::test]
async fn run_empty_command_is_an_error() {
    let err = local()
        .run(&Command::new(Vec::<String>::new()), &DiscardOutput)
        .await
        .expect_err("nothing to run");
    assert!(matches!(err, TargetError::Other(_)), "{err:?}");
}

/// A command killed by a signal reports the signal's name and no exit code.
#[tokio::test]
async fn run_reports_the_killing_signal() {
    let (killed, _) = run(&Command::shell("kill -KILL $$")).await;
    assert_eq!(killed.code, None);
    assert_eq!(killed.signal.as_deref(), Some("SIGKILL"));
    assert_eq!(killed.to_string(), "killed by signal SIGKILL");
    let (terminated, _) = run(&Command::shell("kill -TERM $$")).await;
    assert_eq!(terminated.code, None);
    assert_eq!(terminated.signal.as_deref(), Some("SIGTERM"));
}

/// Dropping a running command's future kills its whole process group, background children included.
#[tokio::test]
async fn dropping_run_kills_the_process_group() {
    let dir = tempdir();
    let (shell_pid, sleep_pid) = (dir.path().join("sh.pid"), dir.path().join("sleep.pid"));
    let cmd = Command::shell(format!(
        "echo $$ > {}; sleep 30 & echo $! > {}; wait",
        quote(&s(&shell_pid)),
        quote(&s(&sleep_pid))
    ));
    let target = local();
    let mut running = target.run(&cmd, &DiscardOutput);
    let sleep = tokio::select! {
        result = &mut running => panic!("the command ended early: {result:?}"),
        pid = pid_in(&sleep_pid) => pid,
    };
    let shell = pid_in(&shell_pid).await;
    let result = tokio::time::timeout(Duration::from_millis(300), &mut running).await;
    assert!(result.is_err(), "the command should still run: {result:?}");
    drop(running);
    assert!(gone(sleep).await, "background sleep {sleep} survived");
    assert!(gone(shell).await, "shell {shell} survived");
}

/// A cwd that does not exist gives an error that names the directory, not a "cannot start `sh`" that blames the program.
#[tokio::test]
async fn run_missing_cwd_names_the_directory() {
    let dir = tempdir();
    let missing = dir.path().join("no-such-dir");
    let err = local()
        .run(&Command::new(["true"]).cwd(s(&missing)), &DiscardOutput)
        .await
        .expect_err("the directory is missing");
    assert!(
        err.to_string().contains(&s(&missing)),
        "the error should name {}: {err}",
        missing.display()
    );
}
