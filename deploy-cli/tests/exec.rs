//! `deploy exec` against a real sshd on three addresses (two `web`, one
//! `db`): a command on every selected host with its output streamed under
//! each host's name, `-R` / `-H` / `--once`, each host's own exit status,
//! an unknown host refused, an audit line; and `-i` on a pseudo-terminal
//! (driven through `script`): the command sees a tty and its size, reads
//! what is typed, and its exit status is deploy's.
//!
//! Run: `cargo test -p deploy-cli --test exec`

use std::io::{Read, Write};
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

struct Fleet {
    // Declared first: the project (and its sshd) go in this order.
    dir: tempfile::TempDir,
    sshd: deploy_ssh::testing::Sshd,
}

impl Fleet {
    fn start() -> Option<Fleet> {
        let sshd = deploy_ssh::testing::Sshd::start()?;
        let port = sshd.port;
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            r#"[ssh]
user = "{user}"
identity_files = ["{key}"]
known_hosts = "{known_hosts}"
host_keys = "accept-new"

[environments.prod]
roles = {{ web = ["127.0.0.2:{port}", "127.0.0.3:{port}"], db = ["127.0.0.4:{port}"] }}
"#,
            user = deploy_ssh::testing::user(),
            key = sshd.user_key_path.display(),
            known_hosts = dir.path().join("known_hosts").display(),
        );
        std::fs::write(dir.path().join("deploy.toml"), config).expect("config");
        Some(Fleet { dir, sshd })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn host(&self, n: u8) -> String {
        format!("127.0.0.{n}:{}", self.sshd.port)
    }

    fn exec(&self, args: &[&str]) -> Output {
        Command::cargo_bin("deploy")
            .expect("deploy binary")
            .current_dir(self.path())
            .env_remove("DEPLOY_CONFIG")
            .env("DEPLOY_STATE_DIR", self.path().join(".state"))
            .arg("exec")
            .args(args)
            .output()
            .expect("runs")
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_command_on_each_selected_host() {
    let Some(fleet) = Fleet::start() else {
        return;
    };
    let (web1, web2, db1) = (fleet.host(2), fleet.host(3), fleet.host(4));

    let out = fleet.exec(&["prod", "-R", "web", "--", "echo", "hello ${host}"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for host in [&web1, &web2] {
        assert!(
            err.contains(&format!("[{host}] | hello ${{host}}")),
            "as typed, under each host: {err}"
        );
    }
    assert!(
        !err.contains(&format!("[{db1}]")),
        "-R web leaves db1 out: {err}"
    );
    assert!(err.contains("2 hosts: 1 done"), "{err}");

    // The first host in the environment's order (roles sorted: db first).
    let once = fleet.exec(&["prod", "--once", "--", "echo", "migrated"]);
    let err = stderr(&once);
    assert!(err.contains(&format!("[{db1}] | migrated")), "{err}");
    assert_eq!(err.matches("| migrated").count(), 1, "{err}");

    // Each host's own status: one fails, the others run and succeed.
    let script =
        "case \"$SSH_CONNECTION\" in *' 127.0.0.3 '*) echo broken >&2; exit 3;; esac; echo fine";
    let mixed = fleet.exec(&["prod", "--", "sh", "-c", script]);
    let err = stderr(&mixed);
    assert_eq!(mixed.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("[{web1}] | fine")) && err.contains(&format!("[{db1}] | fine")),
        "{err}"
    );
    assert!(err.contains("2 hosts: 1 done"), "{err}");
    assert!(
        err.contains(&format!("{web2}: 1 failed")) && err.contains("exit code 3"),
        "{err}"
    );

    let unknown = fleet.exec(&["prod", "-H", "web9", "--", "true"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("unknown host `web9`"));

    let nothing = fleet.exec(&["prod"]);
    assert_eq!(nothing.status.code(), Some(2));
    assert!(stderr(&nothing).contains("give the command after `--`"));

    let audit = Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(fleet.path())
        .env("DEPLOY_STATE_DIR", fleet.path().join(".state"))
        .args(["audit", "prod", "--json"])
        .output()
        .expect("runs");
    let lines = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert_eq!(lines.lines().count(), 3, "{lines}");
    assert!(
        lines.contains("\"command\":\"exec\"") && lines.contains("echo migrated"),
        "{lines}"
    );
    assert!(
        !fleet.path().join(".state/prod/releases").exists(),
        "exec ships nothing"
    );
}

/// Runs `deploy ARGS` on a terminal of its own (`script`, 91×33), types
/// each of `typed` a second apart (after 3 s: the session is up by then);
/// returns the exit code and the screen.
fn on_a_terminal(dir: &Path, args: &str, typed: &[&[u8]]) -> (Option<i32>, String) {
    use std::process::Stdio;
    let command = format!(
        "stty cols 91 rows 33; {} {args}",
        assert_cmd::cargo::cargo_bin("deploy").display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir)
        .env_remove("DEPLOY_CONFIG")
        .env("DEPLOY_STATE_DIR", dir.join(".state"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut screen = Vec::new();
        let _ = stdout.read_to_end(&mut screen);
        String::from_utf8_lossy(&screen).into_owned()
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    for keys in typed {
        stdin.write_all(keys).expect("type");
        stdin.flush().expect("flush");
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    let status = child.wait().expect("waits");
    drop(stdin);
    (status.code(), reader.join().expect("reader"))
}

/// `-i`: the command runs on a pseudo-terminal of the host, of this
/// terminal's size; what is typed reaches it; its exit status is deploy's.
#[test]
fn interactive_on_a_pseudo_terminal() {
    let Some(fleet) = Fleet::start() else {
        return;
    };
    let web1 = fleet.host(2);
    let (code, screen) = on_a_terminal(
        fleet.path(),
        &format!(
            "exec prod -i -H {web1} -- sh -c 'tty; stty size; read line; echo got-$line; exit 7'"
        ),
        &[b"typed\r"],
    );
    assert!(
        screen.contains("/dev/pts/"),
        "a terminal on the host: {screen}"
    );
    assert!(
        screen.contains("33 91"),
        "its size is this terminal's: {screen}"
    );
    assert!(
        screen.contains("got-typed"),
        "what was typed reached it: {screen}"
    );
    assert_eq!(code, Some(7), "its exit status is deploy's: {screen}");
}

/// Typing into `cat` on the host echoes back; Ctrl-C goes to the command
/// (not to deploy), which dies of it: deploy says 130, as a shell would.
#[test]
fn ctrl_c_goes_to_the_interactive_command() {
    let Some(fleet) = Fleet::start() else {
        return;
    };
    let web1 = fleet.host(2);
    let (code, screen) = on_a_terminal(
        fleet.path(),
        &format!("exec prod -i -H {web1} -- cat"),
        &[b"hello cat\r", b"\x03"],
    );
    assert!(
        screen.matches("hello cat").count() >= 2,
        "typed, then cat's copy: {screen}"
    );
    assert_eq!(code, Some(130), "{screen}");
}

/// `-i --service`: the command runs on a TTY of the engine's in the
/// service's container; what is typed reaches it and its exit code is
/// deploy's.
#[test]
fn interactive_in_a_container() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(deploy_docker::testing::engine()) else {
        return;
    };
    let busybox = runtime.block_on(deploy_docker::testing::busybox_image(&engine));
    let pid = std::process::id();
    let (container, test) = (
        format!("deploy-test-exec-it-{pid}"),
        format!("exec-it-{pid}"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            r#"[environments.e]
hosts = ["localhost"]
transport = "local"

[containers.web]
name = "{container}"
image = "{busybox}"
command = ["sleep", "300"]
labels = {{ "deploy.test" = "{test}" }}
stop_grace = "1s"

[tasks.up]
steps = [{{ docker.ensure-running = {{ container = "web" }} }}]
"#
        ),
    )
    .expect("config");
    let up = Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(dir.path())
        .env("DEPLOY_STATE_DIR", dir.path().join(".state"))
        .args(["run", "e", "up"])
        .output()
        .expect("runs");
    assert_eq!(up.status.code(), Some(0), "{}", stderr(&up));
    // Without -i: in the container, output under the host's name.
    let inside = Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(dir.path())
        .env("DEPLOY_STATE_DIR", dir.path().join(".state"))
        .args([
            "exec",
            "e",
            "--service",
            "web",
            "--",
            "sh",
            "-c",
            "echo inside; test -t 0 || echo no-tty",
        ])
        .output()
        .expect("runs");
    let said = stderr(&inside);
    assert_eq!(inside.status.code(), Some(0), "{said}");
    assert!(
        said.contains("[localhost] | inside") && said.contains("[localhost] | no-tty"),
        "{said}"
    );
    let (code, screen) = on_a_terminal(
        dir.path(),
        "exec e -i --service web -- sh -c 'test -t 0 && echo on-a-tty; read line; echo got-$line; exit 5'",
        &[b"typed\r"],
    );
    assert!(screen.contains("on-a-tty"), "{screen}");
    assert!(screen.contains("got-typed"), "{screen}");
    assert_eq!(code, Some(5), "{screen}");
    runtime.block_on(deploy_docker::testing::clean_up(&engine, &test));
}
