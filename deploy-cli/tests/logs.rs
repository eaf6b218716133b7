//! `deploy logs` through the real binary: a container deploy manages on
//! this machine's engine and a log file the environment names, each line
//! as `host service |`, one service alone, an unknown one refused; over a
//! real sshd, `-f` follows a file, reports the host dropping, reconnects
//! and goes on from the next line.
//!
//! Run: `cargo test -p deploy-cli --test logs`

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

fn deploy(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(dir)
        .env_remove("DEPLOY_CONFIG")
        .env("DEPLOY_STATE_DIR", dir.join(".state"))
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn containers_and_files_with_their_host_and_service() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(deploy_docker::testing::engine()) else {
        return;
    };
    let busybox = runtime.block_on(deploy_docker::testing::busybox_image(&engine));
    let pid = std::process::id();
    let (container, test) = (format!("deploy-test-logs-{pid}"), format!("logs-{pid}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    std::fs::write(&log, "booted\nserving\n").expect("log");
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            r#"default_environment = "e"

[environments.e]
hosts = ["localhost"]
transport = "local"
logs = {{ app = "{log}" }}

[tasks.up]
steps = [{{ docker.ensure-running = {{ name = "{container}", image = "{busybox}", command = ["sh", "-c", "echo first; sleep 1; echo second >&2; exec sleep 300"], labels = {{ "deploy.test" = "{test}" }}, stop_grace = "1s", wait = "20s" }} }}]
"#,
            log = log.display()
        ),
    )
    .expect("config");
    let up = deploy(dir.path(), &["run", "e", "up"]);
    assert_eq!(
        up.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    let all = deploy(dir.path(), &["logs", "e"]);
    let out = String::from_utf8_lossy(&all.stdout).into_owned();
    assert_eq!(
        all.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&all.stderr)
    );
    for line in [
        format!("localhost {container} | first"),
        format!("localhost {container} | second"),
        "localhost app | booted".to_owned(),
        "localhost app | serving".to_owned(),
    ] {
        assert!(out.contains(&line), "{line:?} in {out}");
    }
    let first = out.find(&format!("{container} | first")).expect("first");
    let second = out.find(&format!("{container} | second")).expect("second");
    assert!(first < second, "in time order: {out}");

    let one = deploy(dir.path(), &["logs", "app", "-n", "1"]);
    let out = String::from_utf8_lossy(&one.stdout).into_owned();
    assert_eq!(
        out, "localhost app | serving\n",
        "one service, the last line"
    );

    let unknown = deploy(dir.path(), &["logs", "e", "nosuch"]);
    let said = String::from_utf8_lossy(&unknown.stderr).into_owned();
    assert_eq!(unknown.status.code(), Some(2), "{said}");
    assert!(
        said.contains("no service `nosuch`") && said.contains("app"),
        "{said}"
    );
    runtime.block_on(deploy_docker::testing::clean_up(&engine, &test));
}

#[test]
fn follow_reconnects_after_the_host_drops() {
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    std::fs::write(&log, "old\n").expect("log");
    let host = format!("127.0.0.2:{}", sshd.port);
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            r#"[ssh]
user = "{user}"
identity_files = ["{key}"]
known_hosts = "{known}"
host_keys = "accept-new"

[environments.prod]
hosts = ["{host}"]
logs = {{ app = "{log}" }}
"#,
            user = deploy_ssh::testing::user(),
            key = sshd.user_key_path.display(),
            known = dir.path().join("known_hosts").display(),
            log = log.display(),
        ),
    )
    .expect("config");
    let mut follower = std::process::Command::new(assert_cmd::cargo::cargo_bin("deploy"))
        .current_dir(dir.path())
        .env_remove("DEPLOY_CONFIG")
        .env("DEPLOY_STATE_DIR", dir.path().join(".state"))
        .args(["logs", "prod", "-f", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deploy starts");
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    for stream in [
        Box::new(follower.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(follower.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    let mut wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !seen.iter().any(|l: &String| l.contains(what)) {
            assert!(Instant::now() < deadline, "never saw {what:?}: {seen:?}");
            if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
                seen.push(line);
            }
        }
    };
    let append = |line: &str| {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open");
        writeln!(file, "{line}").expect("append");
    };
    wait_for(&format!("{host} app | old"));
    append("one");
    wait_for(&format!("{host} app | one"));
    sshd.drop_connections();
    wait_for("reconnecting");
    append("two");
    wait_for(&format!("{host} app | two"));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(follower.id()).expect("pid")),
        nix::sys::signal::Signal::SIGINT,
    );
    let status = follower.wait().expect("waits");
    assert_eq!(status.code(), Some(0), "Ctrl-C ends a follow: {seen:?}");
    let ones = seen.iter().filter(|l| l.ends_with("| one")).count();
    assert_eq!(ones, 1, "nothing repeated after the reconnect: {seen:?}");
}

/// `-f` across two hosts (each its own sshd) while one is killed: its
/// loss is said and retried, and the other's lines keep coming.
#[test]
fn follow_two_hosts_while_one_is_killed() {
    let (Some(first), Some(second)) = (
        deploy_ssh::testing::Sshd::start(),
        deploy_ssh::testing::Sshd::start(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    std::fs::write(&log, "old\n").expect("log");
    let (web1, web2) = (
        format!("127.0.0.2:{}", first.port),
        format!("127.0.0.3:{}", second.port),
    );
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            r#"[ssh]
user = "{user}"
identity_files = ["{key1}", "{key2}"]
known_hosts = "{known}"
host_keys = "accept-new"

[environments.prod]
hosts = ["{web1}", "{web2}"]
logs = {{ app = "{log}" }}
"#,
            user = deploy_ssh::testing::user(),
            key1 = first.user_key_path.display(),
            key2 = second.user_key_path.display(),
            known = dir.path().join("known_hosts").display(),
            log = log.display(),
        ),
    )
    .expect("config");
    let mut follower = std::process::Command::new(assert_cmd::cargo::cargo_bin("deploy"))
        .current_dir(dir.path())
        .env_remove("DEPLOY_CONFIG")
        .env("DEPLOY_STATE_DIR", dir.path().join(".state"))
        .args(["logs", "prod", "-f", "-n", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deploy starts");
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    for stream in [
        Box::new(follower.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(follower.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    let mut wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !seen.iter().any(|l: &String| l.contains(what)) {
            assert!(Instant::now() < deadline, "never saw {what:?}: {seen:?}");
            if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
                seen.push(line);
            }
        }
    };
    let append = |line: &str| {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open");
        writeln!(file, "{line}").expect("append");
    };
    wait_for(&format!("{web1} app | old"));
    wait_for(&format!("{web2} app | old"));
    drop(second); // web2's sshd is gone, its connections with it
    wait_for(&format!("{web2} app | (lost"));
    append("still here");
    wait_for(&format!("{web1} app | still here"));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(follower.id()).expect("pid")),
        nix::sys::signal::Signal::SIGINT,
    );
    let status = follower.wait().expect("waits");
    assert_eq!(status.code(), Some(0), "{seen:?}");
}
