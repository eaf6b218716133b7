//! Integration tests for [`LocalTarget`] and the built-in steps against this
//! machine: real processes, real files in temporary directories, real sockets.
//!
//! One test binary; this file holds the shared fixtures, each module one area.
//! Run: `cargo test -p deploy-core --test local_target` (all), or add a
//! module's path to run one area, e.g. `... --test local_target sync::`.

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

mod connect;
mod exec_and_approve;
mod files;
mod http_check;
mod releases;
mod run;
mod set_env;
mod sync;
mod write_file_step;

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
