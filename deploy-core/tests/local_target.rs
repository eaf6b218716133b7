//! Integration tests for [`LocalTarget`] and the built-in steps against this
//! machine: real processes, real files in temporary directories, real sockets.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deploy_core::command::quote;
use deploy_core::event::{Event, RecordingSink};
use deploy_core::report::{Outcome, RollbackStatus, RunReport, StepReport, StepStatus};
use deploy_core::step::{Approver, Unattended};
use deploy_core::steps::{
    Approve, Exec, HttpCheck, KeepReleases, RollbackRelease, SetEnvVar, Symlink, Sync, WriteFile,
};
use deploy_core::target::{
    DiscardOutput, Endpoint, ExitStatus, OutputSink, OutputStream, SyncOptions, TargetError,
};
use deploy_core::{
    Command, Executor, FailurePolicy, LocalTarget, Plan, PlannedStep, RunValues, Secret, Target,
    Targets,
};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// An [`OutputSink`] that keeps every line with its stream.
#[derive(Default)]
struct Recorder {
    lines: Mutex<Vec<(OutputStream, String)>>,
}

impl OutputSink for Recorder {
    fn line(&self, stream: OutputStream, line: &str) {
        self.lines
            .lock()
            .expect("recorder lock")
            .push((stream, line.to_owned()));
    }
}

impl Recorder {
    fn lines_of(&self, which: OutputStream) -> Vec<String> {
        self.lines
            .lock()
            .expect("recorder lock")
            .iter()
            .filter(|(stream, _)| *stream == which)
            .map(|(_, line)| line.clone())
            .collect()
    }

    fn stdout(&self) -> Vec<String> {
        self.lines_of(OutputStream::Stdout)
    }

    fn stderr(&self) -> Vec<String> {
        self.lines_of(OutputStream::Stderr)
    }
}

fn local() -> LocalTarget {
    LocalTarget::new("localhost")
}

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

/// A path as the `&str` the Target API takes.
fn s(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// Runs a command on a fresh LocalTarget, recording its output.
async fn run(cmd: &Command) -> (ExitStatus, Recorder) {
    let out = Recorder::default();
    let status = local().run(cmd, &out).await.expect("the command runs");
    (status, out)
}

fn write(path: &Path, contents: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent directories");
    }
    std::fs::write(path, contents).expect("write a fixture file");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read a file")
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777
}

/// Asserts a file's permission bits, printing them in octal.
fn assert_mode(path: &Path, want: u32) {
    let got = mode_of(path);
    assert!(
        got == want,
        "{}: mode {got:04o}, expected {want:04o}",
        path.display()
    );
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn symlink(to: impl AsRef<Path>, link: &Path) {
    std::os::unix::fs::symlink(to, link).expect("create a symlink");
}

fn link_of(link: &Path) -> PathBuf {
    std::fs::read_link(link).expect("a symlink")
}

/// The names in a directory, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list a directory")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Every file and symlink under `root` (relative, sorted); directories are
/// walked, not listed, and symlinks are not followed.
fn files_under(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("list a directory") {
            let entry = entry.expect("a directory entry");
            let path = entry.path();
            if entry.file_type().expect("file type").is_dir() {
                walk(root, &path, out);
            } else {
                out.push(s(path.strip_prefix(root).expect("under root")));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Whether a process runs. A zombie counts as gone: PID 1 in a container may
/// never reap the orphans a killed shell leaves.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z' | 'X') | None
        ),
        Err(_) => false,
    }
}

/// Polls /proc for up to 2 s until the process is gone; true if it is.
async fn gone(pid: i32) -> bool {
    for _ in 0..100 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !alive(pid)
}

/// Waits (up to 10 s) until a shell wrote a pid into `path`.
async fn pid_in(path: &Path) -> i32 {
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no pid was written to {}", path.display());
}

/// A port nothing listens on: bound (so no other test can take it) but
/// never listening, so a connection is refused. Keep the socket while the
/// port is in use.
async fn closed_port() -> (u16, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let port = socket.local_addr().expect("local address").port();
    (port, socket)
}

/// A tiny HTTP/1.1 server: the first `failures` requests get a 503, the rest
/// a 200 with `body`. It keeps each request's first line.
struct HttpServer {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    async fn start(addr: &str, failures: usize, body: &'static str) -> HttpServer {
        let listener = TcpListener::bind(addr).await.expect("bind the test server");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let first = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let number = {
                        let mut seen = seen.lock().expect("server lock");
                        seen.push(first);
                        seen.len()
                    };
                    let (status, text) = if number <= failures {
                        ("503 Service Unavailable", "starting up")
                    } else {
                        ("200 OK", body)
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        HttpServer { port, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("server lock").clone()
    }
}

/// A plan for the host `localhost` with these steps and failure policy.
fn plan(on_failure: FailurePolicy, steps: impl IntoIterator<Item = PlannedStep>) -> Plan {
    steps
        .into_iter()
        .fold(
            Plan::builder("test", "t")
                .host("localhost", Vec::<String>::new())
                .on_failure(on_failure),
            |builder, step| builder.step(step),
        )
        .build()
        .expect("a valid plan")
}

/// A run's report and events.
struct Ran {
    report: RunReport,
    events: Vec<Event>,
}

impl Ran {
    fn steps(&self) -> &[StepReport] {
        &self
            .report
            .host("localhost")
            .expect("a report for localhost")
            .steps
    }

    fn statuses(&self) -> Vec<StepStatus> {
        self.steps().iter().map(|s| s.status).collect()
    }

    fn error(&self, index: usize) -> &str {
        self.steps()[index]
            .error
            .as_deref()
            .expect("the step has an error")
    }

    fn output(&self, which: OutputStream) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Output { stream, line, .. } if *stream == which => Some(line.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Runs a plan on LocalTargets with these run values and approver.
async fn execute_with(plan: &Plan, values: RunValues, approver: Arc<dyn Approver>) -> Ran {
    let mut targets = Targets::new();
    targets.insert(
        "localhost".to_owned(),
        Arc::new(LocalTarget::new("localhost")) as Arc<dyn Target>,
    );
    let sink = RecordingSink::default();
    let report = Executor::new(Arc::new(LocalTarget::new("local")), values)
        .approver(approver)
        .run(plan, &targets, &sink)
        .await;
    Ran {
        report,
        events: sink.events(),
    }
}

/// Runs a plan on LocalTargets for release `release`, unattended.
async fn execute(plan: &Plan, release: &str) -> Ran {
    execute_with(
        plan,
        RunValues::new(release),
        Arc::new(Unattended::default()),
    )
    .await
}

/// A step that always fails, to trigger the failure policy.
fn failing() -> PlannedStep {
    PlannedStep::new(Exec::argv(["false"]))
}

/// A Capistrano layout: `releases/<name>` for each name (oldest first).
fn releases(names: &[&str]) -> TempDir {
    let dir = tempdir();
    for name in names {
        std::fs::create_dir_all(dir.path().join("releases").join(name))
            .expect("create a release directory");
    }
    dir
}

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

// ---------------------------------------------------------------------------
// LocalTarget::write_file / read_file
// ---------------------------------------------------------------------------

/// write_file creates missing parent directories and applies the mode given.
#[tokio::test]
async fn write_file_creates_parents_and_applies_mode() {
    let dir = tempdir();
    let path = dir.path().join("a/b/app.conf");
    local()
        .write_file(&s(&path), b"x = 1\n", Some(0o640))
        .await
        .expect("write");
    assert_eq!(read(&path), "x = 1\n");
    assert_mode(&path, 0o640);
    assert_eq!(names_in(&dir.path().join("a/b")), ["app.conf"]);
}

/// A new file written without a mode gets 0644.
#[tokio::test]
async fn write_file_new_file_defaults_to_0644() {
    let dir = tempdir();
    let path = dir.path().join("new.txt");
    local()
        .write_file(&s(&path), b"new", None)
        .await
        .expect("write");
    assert_mode(&path, 0o644);
}

/// Without a mode, an existing file keeps its mode (0600) and gets the new contents; nothing is left beside it.
#[tokio::test]
async fn write_file_without_mode_keeps_existing_mode() {
    let dir = tempdir();
    let path = dir.path().join("secret.env");
    write(&path, "OLD=1\n");
    set_mode(&path, 0o600);
    local()
        .write_file(&s(&path), b"NEW=2\n", None)
        .await
        .expect("write");
    assert_eq!(read(&path), "NEW=2\n");
    assert_mode(&path, 0o600);
    assert_eq!(names_in(dir.path()), ["secret.env"]);
}

/// A mode given replaces an existing file's mode.
#[tokio::test]
async fn write_file_with_mode_replaces_existing_mode() {
    let dir = tempdir();
    let path = dir.path().join("run.sh");
    write(&path, "old");
    set_mode(&path, 0o600);
    local()
        .write_file(&s(&path), b"#!/bin/sh\n", Some(0o755))
        .await
        .expect("write");
    assert_mode(&path, 0o755);
    assert_eq!(read(&path), "#!/bin/sh\n");
}

/// Many concurrent writes to one path all succeed, one of them wins whole, and no temporary file is left.
#[tokio::test]
async fn write_file_concurrent_writes_leave_one_whole_file() {
    let dir = tempdir();
    let path = s(&dir.path().join("race.txt"));
    let target = Arc::new(local());
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let (target, path) = (target.clone(), path.clone());
            tokio::spawn(async move {
                let body = format!("writer {i}\n").repeat(1000);
                target.write_file(&path, body.as_bytes(), None).await
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("join").expect("write");
    }
    let text = read(Path::new(&path));
    let first = text.lines().next().expect("a line").to_owned();
    assert_eq!(text, format!("{first}\n").repeat(1000));
    assert_eq!(names_in(dir.path()), ["race.txt"]);
}

/// A write that fails (the path is an existing directory) is an error and leaves the directory, its files and its neighbours intact, with no temporary file.
#[tokio::test]
async fn write_file_failure_leaves_everything_intact() {
    let dir = tempdir();
    let target_dir = dir.path().join("target");
    write(&target_dir.join("keep.txt"), "keep\n");
    write(&dir.path().join("other.txt"), "other\n");
    let err = local()
        .write_file(&s(&target_dir), b"clobber", None)
        .await
        .expect_err("cannot replace a directory with a file");
    assert!(matches!(err, TargetError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(&s(&target_dir)), "{err}");
    assert!(target_dir.is_dir());
    assert_eq!(names_in(&target_dir), ["keep.txt"]);
    assert_eq!(read(&target_dir.join("keep.txt")), "keep\n");
    assert_eq!(read(&dir.path().join("other.txt")), "other\n");
    assert_eq!(names_in(dir.path()), ["other.txt", "target"]);
}

/// read_file: a missing file is Ok(None), a file its bytes, a directory an error.
#[tokio::test]
async fn read_file_missing_present_and_directory() {
    let dir = tempdir();
    let target = local();
    assert_eq!(
        target
            .read_file(&s(&dir.path().join("missing")))
            .await
            .expect("read"),
        None
    );
    write(&dir.path().join("bytes.bin"), [0u8, 159, 146, 150, b'\n']);
    assert_eq!(
        target
            .read_file(&s(&dir.path().join("bytes.bin")))
            .await
            .expect("read"),
        Some(vec![0u8, 159, 146, 150, b'\n'])
    );
    let err = target
        .read_file(&s(dir.path()))
        .await
        .expect_err("a directory is not a file");
    assert!(matches!(err, TargetError::Io { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------
// LocalTarget::sync_dir
// ---------------------------------------------------------------------------

/// What `source_tree` ships with `options(..)`: files and links, not directories.
const SHIPPED: [&str; 7] = [
    ".deployignore",
    ".gitignore",
    "app.txt",
    "link",
    "private.conf",
    "run.sh",
    "sub/nested.txt",
];

/// A source tree with an executable, a private file, a symlink, a
/// subdirectory, and things that must not ship: gitignored, deployignored,
/// excluded by option, and `.git` directories.
fn source_tree() -> TempDir {
    let dir = tempdir();
    let root = dir.path();
    write(&root.join("app.txt"), "hello\n");
    write(&root.join("run.sh"), "#!/bin/sh\necho run\n");
    set_mode(&root.join("run.sh"), 0o755);
    write(&root.join("private.conf"), "key = value\n");
    set_mode(&root.join("private.conf"), 0o600);
    write(&root.join("sub/nested.txt"), "nested\n");
    symlink("app.txt", &root.join("link"));
    write(&root.join(".gitignore"), "*.log\nbuild/\n");
    write(&root.join(".deployignore"), "secret.txt\n");
    write(&root.join("debug.log"), "log\n");
    write(&root.join("sub/deep.log"), "log\n");
    write(&root.join("build/out.bin"), "binary");
    write(&root.join("secret.txt"), "hunter2\n");
    write(&root.join("scratch.tmp"), "tmp\n");
    write(&root.join(".git/HEAD"), "ref: refs/heads/main\n");
    write(&root.join("sub/.git/config"), "[core]\n");
    dir
}

/// Sync options that also exclude `*.tmp`.
fn options(delete: bool) -> SyncOptions {
    SyncOptions {
        delete,
        exclude: vec!["*.tmp".to_owned()],
    }
}

/// Sums the sizes of the regular files among `SHIPPED`.
fn shipped_bytes(root: &Path) -> u64 {
    SHIPPED
        .iter()
        .map(|p| std::fs::symlink_metadata(root.join(p)).expect("stat"))
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// A first sync copies every file (contents, modes incl. the executable bit, mtimes) and the symlink as a link, into a destination it creates.
#[tokio::test]
async fn sync_dir_first_copy() {
    let src = source_tree();
    let out = tempdir();
    let dest = out.path().join("deep/app");
    let report = local()
        .sync_dir(src.path(), &s(&dest), &options(false))
        .await
        .expect("sync");
    assert_eq!(report.copied, SHIPPED.len());
    assert_eq!(report.unchanged, 0);
    assert_eq!(report.deleted, 0);
    assert_eq!(report.bytes, shipped_bytes(src.path()));
    assert_eq!(files_under(&dest), SHIPPED);
    for path in SHIPPED.iter().filter(|p| **p != "link") {
        let (from, to) = (src.path().join(path), dest.join(path));
        assert_eq!(read(&to), read(&from), "{path}");
        assert_eq!(mode_of(&to), mode_of(&from), "{path}");
        let modified = |p: &Path| {
            std::fs::metadata(p)
                .expect("stat")
                .modified()
                .expect("mtime")
        };
        assert_eq!(modified(&to), modified(&from), "{path}");
    }
    assert_mode(&dest.join("run.sh"), 0o755);
    assert_mode(&dest.join("private.conf"), 0o600);
    assert!(
        std::fs::symlink_metadata(dest.join("link"))
            .expect("stat")
            .file_type()
            .is_symlink()
    );
    assert_eq!(link_of(&dest.join("link")), PathBuf::from("app.txt"));
}

/// `.gitignore`, `.deployignore` and `exclude` patterns are honoured and `.git/` is never copied, at any depth.
#[tokio::test]
async fn sync_dir_honours_ignore_rules_and_skips_git() {
    let src = source_tree();
    let out = tempdir();
    local()
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("sync");
    for left_out in [
        "debug.log",
        "sub/deep.log",
        "build",
        "secret.txt",
        "scratch.tmp",
        ".git",
        "sub/.git",
    ] {
        assert!(
            std::fs::symlink_metadata(out.path().join(left_out)).is_err(),
            "{left_out} should not have been copied"
        );
    }
    // Without the exclude option, the `*.tmp` file ships: the option is what left it out.
    let out = tempdir();
    let report = local()
        .sync_dir(src.path(), &s(out.path()), &SyncOptions::default())
        .await
        .expect("sync");
    assert_eq!(report.copied, SHIPPED.len() + 1);
    assert_eq!(read(&out.path().join("scratch.tmp")), "tmp\n");
    assert!(!out.path().join(".git").exists());
}

/// A second sync with no change copies nothing; changing one file (or only its mode) copies just that file.
#[tokio::test]
async fn sync_dir_copies_only_what_changed() {
    let src = source_tree();
    let out = tempdir();
    let target = local();
    target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("first sync");
    let again = target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("second sync");
    assert_eq!(
        (again.copied, again.unchanged, again.deleted, again.bytes),
        (0, SHIPPED.len(), 0, 0)
    );

    write(&src.path().join("app.txt"), "hello, world\n");
    let changed = target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("third sync");
    assert_eq!(
        (changed.copied, changed.unchanged, changed.bytes),
        (1, SHIPPED.len() - 1, 13)
    );
    assert_eq!(read(&out.path().join("app.txt")), "hello, world\n");

    set_mode(&src.path().join("app.txt"), 0o640);
    let chmodded = target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("fourth sync");
    assert_eq!(
        (chmodded.copied, chmodded.unchanged),
        (1, SHIPPED.len() - 1)
    );
    assert_mode(&out.path().join("app.txt"), 0o640);
}

/// A symlink whose target changed at the source is re-pointed at the destination.
#[tokio::test]
async fn sync_dir_repoints_a_changed_symlink() {
    let src = source_tree();
    let out = tempdir();
    let target = local();
    target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("first sync");
    std::fs::remove_file(src.path().join("link")).expect("rm link");
    symlink("run.sh", &src.path().join("link"));
    let report = target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("second sync");
    assert_eq!(report.copied, 1);
    assert_eq!(link_of(&out.path().join("link")), PathBuf::from("run.sh"));
    assert_eq!(files_under(out.path()), SHIPPED);
}

/// A file removed at the source stays at the destination without `delete` and is removed with it (as are destination-only files).
#[tokio::test]
async fn sync_dir_delete_removes_what_the_source_lost() {
    let src = source_tree();
    let out = tempdir();
    let target = local();
    target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("first sync");
    std::fs::remove_file(src.path().join("sub/nested.txt")).expect("rm");
    write(&out.path().join("stray.txt"), "only here\n");

    let kept = target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("sync without delete");
    assert_eq!(kept.deleted, 0);
    assert!(out.path().join("sub/nested.txt").exists());
    assert!(out.path().join("stray.txt").exists());

    let deleted = target
        .sync_dir(src.path(), &s(out.path()), &options(true))
        .await
        .expect("sync with delete");
    assert_eq!(deleted.deleted, 2);
    assert_eq!(deleted.copied, 0);
    assert!(!out.path().join("sub/nested.txt").exists());
    assert!(!out.path().join("stray.txt").exists());
    assert!(out.path().join("sub").is_dir(), "the source still has sub/");
    let mut expected: Vec<&str> = SHIPPED.to_vec();
    expected.retain(|p| *p != "sub/nested.txt");
    assert_eq!(files_under(out.path()), expected);
}

/// With `delete`, a destination file that the source's ignore rules leave out (a server-only `.env`) is protected, as `rsync --delete --exclude` protects it.
#[tokio::test]
async fn sync_dir_delete_keeps_ignored_destination_files() {
    let src = source_tree();
    write(&src.path().join(".gitignore"), "*.log\nbuild/\n.env\n");
    let out = tempdir();
    write(&out.path().join(".env"), "DATABASE_URL=postgres://prod\n");
    write(&out.path().join("debug.log"), "server log\n");
    local()
        .sync_dir(src.path(), &s(out.path()), &options(true))
        .await
        .expect("sync");
    for kept in [".env", "debug.log"] {
        assert!(
            out.path().join(kept).exists(),
            "{kept} (ignored at the source) was deleted at the destination"
        );
    }
    assert_eq!(
        read(&out.path().join(".env")),
        "DATABASE_URL=postgres://prod\n"
    );
}

// ---------------------------------------------------------------------------
// LocalTarget::connect
// ---------------------------------------------------------------------------

/// Reads what the peer sends up to EOF, then answers it reversed.
async fn reverse_echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.expect("server read");
    buf.reverse();
    stream.write_all(&buf).await.expect("server write");
    stream.shutdown().await.expect("server shutdown");
}

/// Sends bytes through a connected stream, half-closes, and returns the answer.
async fn round_trip(mut stream: deploy_core::target::BoxedStream, bytes: &[u8]) -> Vec<u8> {
    stream.write_all(bytes).await.expect("client write");
    stream.shutdown().await.expect("client shutdown");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("client read");
    answer
}

/// connect to a unix socket (absolute, and relative to a base dir) round-trips bytes.
#[tokio::test]
async fn connect_unix_socket_round_trips() {
    let dir = tempdir();
    let path = dir.path().join("app.sock");
    let listener = UnixListener::bind(&path).expect("bind a unix socket");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(reverse_echo(stream));
        }
    });
    let stream = local()
        .connect(&Endpoint::Unix(s(&path)))
        .await
        .expect("connect");
    assert_eq!(round_trip(stream, b"ping").await, b"gnip");
    let based = LocalTarget::new("based").with_base_dir(dir.path());
    let stream = based
        .connect(&Endpoint::Unix("app.sock".to_owned()))
        .await
        .expect("connect relative");
    assert_eq!(round_trip(stream, b"abc").await, b"cba");
}

/// connect to a TCP listener on 127.0.0.1 round-trips bytes.
#[tokio::test]
async fn connect_tcp_round_trips() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(reverse_echo(stream));
        }
    });
    let endpoint = Endpoint::Tcp {
        host: "127.0.0.1".to_owned(),
        port,
    };
    let stream = local().connect(&endpoint).await.expect("connect");
    assert_eq!(round_trip(stream, b"hello").await, b"olleh");
}

/// Connecting to a closed port or a missing socket is TargetError::Connect naming the endpoint.
#[tokio::test]
async fn connect_failures_are_connect_errors() {
    let (port, _held) = closed_port().await;
    let err = match local()
        .connect(&Endpoint::Tcp {
            host: "127.0.0.1".to_owned(),
            port,
        })
        .await
    {
        Ok(_) => panic!("nothing listens on port {port}"),
        Err(err) => err,
    };
    match &err {
        TargetError::Connect { endpoint, .. } => assert_eq!(*endpoint, format!("127.0.0.1:{port}")),
        other => panic!("expected a Connect error, got {other:?}"),
    }
    let dir = tempdir();
    let missing = s(&dir.path().join("none.sock"));
    let err = match local().connect(&Endpoint::Unix(missing.clone())).await {
        Ok(_) => panic!("no socket at {missing}"),
        Err(err) => err,
    };
    match &err {
        TargetError::Connect { endpoint, .. } => assert_eq!(*endpoint, format!("unix:{missing}")),
        other => panic!("expected a Connect error, got {other:?}"),
    }
}

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

// ---------------------------------------------------------------------------
// HttpCheck
// ---------------------------------------------------------------------------

/// An HttpCheck on a fast interval.
fn check(url: &str) -> HttpCheck {
    HttpCheck::new(url).interval(Duration::from_millis(50))
}

/// HttpCheck succeeds against a healthy server, with the body check, sending the path and reporting the try.
#[tokio::test]
async fn http_check_succeeds() {
    let server = HttpServer::start("127.0.0.1:0", 0, "demo version 1.2.3 ok").await;
    let url = format!("http://127.0.0.1:{}/health?full=1", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(
                check(&url).body_contains("version ${release} "),
            )],
        ),
        "1.2.3",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(server.requests(), ["GET /health?full=1 HTTP/1.1"]);
    assert!(
        ran.output(OutputStream::Stdout)
            .contains(&format!("GET {url}: 200 (try 1)")),
        "{:?}",
        ran.output(OutputStream::Stdout)
    );
}

/// HttpCheck waits through 503s until the server turns healthy.
#[tokio::test]
async fn http_check_waits_for_health() {
    let server = HttpServer::start("127.0.0.1:0", 2, "ok").await;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(check(&url).attempts(10))],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(server.requests().len(), 3);
    let stderr = ran.output(OutputStream::Stderr);
    assert!(
        stderr.contains(&format!("GET {url}: answered 503 (try 1)")),
        "{stderr:?}"
    );
}

/// HttpCheck fails, naming the URL, when the body lacks the expected text.
#[tokio::test]
async fn http_check_body_mismatch_fails() {
    let server = HttpServer::start("127.0.0.1:0", 0, "maintenance page").await;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(
                check(&url).body_contains("version 9").attempts(2),
            )],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Failed]);
    let error = ran.error(0);
    assert!(error.contains(&url), "{error}");
    assert!(error.contains("without \"version 9\""), "{error}");
    assert_eq!(server.requests().len(), 2);
}

/// HttpCheck gives up after `attempts(3)` against a server that never becomes healthy.
#[tokio::test]
async fn http_check_gives_up_after_attempts() {
    let server = HttpServer::start("127.0.0.1:0", usize::MAX, "never").await;
    let url = format!("http://127.0.0.1:{}/health", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(check(&url).attempts(3))],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Failed]);
    let error = ran.error(0);
    assert!(error.contains(&url), "{error}");
    assert!(error.contains("after 3 tries"), "{error}");
    assert!(error.contains("answered 503"), "{error}");
    assert_eq!(server.requests().len(), 3);
}

/// HttpCheck to a closed port fails with the connection error.
#[tokio::test]
async fn http_check_closed_port_fails() {
    let (port, _held) = closed_port().await;
    let url = format!("http://127.0.0.1:{port}/");
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(check(&url).attempts(2))],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Failed]);
    let error = ran.error(0);
    assert!(error.contains(&url), "{error}");
    assert!(
        error.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{error}"
    );
}

/// HttpCheck `from_target()` goes through the LocalTarget's connect and succeeds.
#[tokio::test]
async fn http_check_from_target() {
    let server = HttpServer::start("127.0.0.1:0", 1, "ok").await;
    let url = format!("http://127.0.0.1:{}/", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(check(&url).attempts(5).from_target())],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(server.requests().len(), 2);
}

/// HttpCheck handles a bracketed IPv6 URL (`http://[::1]:PORT/`).
#[tokio::test]
async fn http_check_ipv6_loopback() {
    let server = HttpServer::start("[::1]:0", 0, "ok").await;
    let url = format!("http://[::1]:{}/", server.port);
    let ran = execute(
        &plan(
            FailurePolicy::Stop,
            [PlannedStep::new(check(&url).attempts(2))],
        ),
        "r",
    )
    .await;
    assert_eq!(ran.statuses(), [StepStatus::Done], "{:?}", ran.steps());
    assert_eq!(server.requests().len(), 1);
}

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

/// A failing Exec's error masks secret values from its command line and stderr.
#[tokio::test]
async fn exec_failure_masks_secrets() {
    let mut values = RunValues::new("r");
    values
        .secrets
        .insert("token".to_owned(), Secret::new("s3cr3t-t0ken"));
    let step = Exec::shell("echo \"bad token ${secret.token}\" >&2; exit 1");
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

/// The Sync step copies a local tree into `releases/${release}`; a missing source fails.
#[tokio::test]
async fn sync_step_ships_a_release() {
    let src = source_tree();
    let out = tempdir();
    let to = format!("{}/releases/${{release}}", s(out.path()));
    let step = Sync::new(&s(src.path()), &to)
        .expect("a valid sync")
        .exclude("*.tmp");
    let ran = execute(&plan(FailurePolicy::Stop, [PlannedStep::new(step)]), "r3").await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(files_under(&out.path().join("releases/r3")), SHIPPED);
    let stdout = ran.output(OutputStream::Stdout);
    assert!(
        stdout
            .iter()
            .any(|l| l.contains(&format!("{} copied", SHIPPED.len()))),
        "{stdout:?}"
    );

    let missing = s(&out.path().join("no-such-source"));
    let step = Sync::new(&missing, &to).expect("a valid sync");
    let ran = execute(&plan(FailurePolicy::Stop, [PlannedStep::new(step)]), "r4").await;
    assert_eq!(ran.statuses(), [StepStatus::Failed]);
    assert!(
        ran.error(0).contains("is not a directory"),
        "{}",
        ran.error(0)
    );
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
    assert_eq!(refused.statuses(), [StepStatus::Failed, StepStatus::NotRun]);
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

/// A read-only file and a read-only directory sync with their modes and mtimes kept.
#[tokio::test]
async fn sync_dir_keeps_read_only_files_and_directories() {
    let src = tempdir();
    let dest = tempdir();
    std::fs::create_dir(src.path().join("locked")).expect("mkdir");
    write(&src.path().join("locked/secret.ini"), "k = v\n");
    set_mode(&src.path().join("locked/secret.ini"), 0o444);
    set_mode(&src.path().join("locked"), 0o555);
    let to = dest.path().join("out");
    let report = local()
        .sync_dir(src.path(), &s(&to), &SyncOptions::default())
        .await
        .expect("syncs");
    assert_eq!(report.copied, 1);
    assert_mode(&to.join("locked/secret.ini"), 0o444);
    assert_mode(&to.join("locked"), 0o555);
    let again = local()
        .sync_dir(src.path(), &s(&to), &SyncOptions::default())
        .await
        .expect("syncs again");
    assert_eq!((again.copied, again.unchanged), (0, 1));
    set_mode(&src.path().join("locked"), 0o755);
    set_mode(&to.join("locked"), 0o755);
}

/// A FIFO in the source tree is left out instead of hanging the sync.
#[tokio::test]
async fn sync_dir_skips_fifos() {
    let src = tempdir();
    let dest = tempdir();
    write(&src.path().join("app.txt"), "app");
    let fifo = src.path().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let report = tokio::time::timeout(
        Duration::from_secs(10),
        local().sync_dir(src.path(), &s(dest.path()), &SyncOptions::default()),
    )
    .await
    .expect("the sync does not hang")
    .expect("syncs");
    assert_eq!(report.copied, 1);
    assert!(!dest.path().join("pipe").exists());
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
