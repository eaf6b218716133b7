//! The real `deploy` binary, run as a user would: dry runs, bad configs,
//! secrets, exit codes, config discovery, and the demo deploy end to end.

use deploy_core::testing::free_port;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// A temporary project directory holding a `deploy.toml`.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("deploy.toml"), config).expect("write config");
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn deploy(&self) -> Command {
        let mut cmd = Command::cargo_bin("deploy").expect("deploy binary");
        cmd.current_dir(self.path())
            .env_remove("DEPLOY_CONFIG")
            .env("DEPLOY_STATE_DIR", self.path().join(".state"));
        cmd
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A config whose steps would leave marks in the project directory.
const MARKING: &str = r#"
default_environment = "here"

[environments.here]
transport = "local"
hosts = ["localhost"]

[tasks.mark]
default = true
params = { what = "marked" }
steps = [
  { write-file = { path = "${config_dir}/mark.txt", content = "${what}\n" } },
  { exec = { cmd = ["touch", "${config_dir}/touched"] } },
]
"#;

/// `deploy plan` prints every step and changes nothing on the target.
#[test]
fn plan_prints_and_changes_nothing() {
    let project = Project::new(MARKING);
    let out = project
        .deploy()
        .args(["plan", "what=x"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("plan: here / mark"), "{text}");
    assert!(text.contains("/mark.txt"), "{text}");
    assert!(text.contains("$ touch"), "{text}");
    assert!(!project.path().join("mark.txt").exists());
    assert!(!project.path().join("touched").exists());
}

/// `deploy run --dry-run` is exactly `deploy plan`, text and JSON.
#[test]
fn dry_run_is_plan() {
    let project = Project::new(MARKING);
    for json in [false, true] {
        let mut plan = project.deploy();
        plan.arg("plan");
        let mut dry = project.deploy();
        dry.args(["run", "--dry-run"]);
        if json {
            plan.arg("--json");
            dry.arg("--json");
        }
        let (a, b) = (plan.output().expect("plan"), dry.output().expect("dry run"));
        assert_eq!(a.status.code(), Some(0));
        assert_eq!(stdout(&a), stdout(&b));
    }
    assert!(!project.path().join("mark.txt").exists());
}

/// `deploy run` does the work, and running it again skips what is done.
#[test]
fn run_applies_then_skips_what_is_done() {
    let project = Project::new(MARKING);
    let out = project
        .deploy()
        .args(["run", "here", "mark", "what=hello"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(project.path().join("mark.txt")).expect("written"),
        "hello\n"
    );
    assert!(project.path().join("touched").exists());
    let again = project
        .deploy()
        .args(["run", "--json", "what=hello"])
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(0));
    let events: Vec<serde_json::Value> = stdout(&again)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "step-skipped" && e["step"] == "mark.1")
    );
    assert_eq!(
        events.last().map(|e| e["outcome"].clone()),
        Some("succeeded".into())
    );
}

/// `deploy tasks` lists tasks with descriptions, parameters and the default.
#[test]
fn tasks_are_listed() {
    let project = Project::new(
        r#"
[environments.here]
transport = "local"
hosts = ["localhost"]

[tasks.deploy]
description = "Ship it"
default = true
params = { version = "latest" }
steps = [{ task = "smoke" }]

[tasks.smoke]
description = "Check key pages"
steps = [{ exec = { cmd = ["true"] } }]
"#,
    );
    let out = project.deploy().arg("tasks").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("deploy *"), "{text}");
    assert!(text.contains("Ship it"), "{text}");
    assert!(text.contains("params: version=latest"), "{text}");
    assert!(text.contains("runs: smoke"), "{text}");
    assert!(text.contains("Check key pages"), "{text}");
}

/// Each bad config exits 2 with a message at the right file:line:column.
#[test]
fn bad_configs_point_at_file_line_column() {
    let env = "[environments.e]\ntransport = \"local\"\nhosts = [\"h\"]\n";
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "syntax error",
            format!("{env}[tasks.t]\nsteps = [\n  {{ exec = {{ cmd = [\"true\" }} }},\n]\n"),
            "deploy.toml:6:",
            "",
        ),
        (
            "unknown field",
            format!("{env}[tasks.t]\nstepz = []\n"),
            "deploy.toml:5:1",
            "unknown field `stepz`",
        ),
        (
            "unknown step kind",
            format!("{env}[tasks.t]\nsteps = [\n  {{ exce = {{ cmd = [\"true\"] }} }},\n]\n"),
            "deploy.toml:6:5",
            "unknown step kind `exce` (did you mean `exec`?)",
        ),
        (
            "unknown role",
            format!(
                "{env}[tasks.t]\nsteps = [\n  {{ exec = {{ cmd = [\"true\"] }}, roles = [\"db\"] }},\n]\n"
            ),
            "deploy.toml:6:3",
            "unknown role `db`",
        ),
        (
            "undefined variable",
            format!(
                "{env}[tasks.t]\nsteps = [\n  {{ exec = {{ cmd = [\"echo\", \"${{nope}}\"] }} }},\n]\n"
            ),
            "deploy.toml:6:30",
            "undefined variable `nope`",
        ),
        (
            "task cycle",
            format!(
                "{env}[tasks.t]\nsteps = [{{ task = \"u\" }}]\n[tasks.u]\nsteps = [{{ task = \"t\" }}]\n"
            ),
            "deploy.toml:7:19",
            "task cycle: t -> u -> t",
        ),
        (
            "needs cycle",
            format!(
                "{env}[tasks.t]\nsteps = [\n  {{ id = \"a\", exec = {{ cmd = [\"true\"] }}, needs = [\"b\"] }},\n  {{ id = \"b\", exec = {{ cmd = [\"true\"] }}, needs = [\"a\"] }},\n]\n"
            ),
            "deploy.toml:6:3",
            "dependency cycle: a -> b -> a",
        ),
    ];
    for (name, config, location, message) in cases {
        let project = Project::new(&config);
        for sub in ["plan", "run"] {
            let out = project
                .deploy()
                .args([sub, "e", "t"])
                .output()
                .expect("runs");
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{name} ({sub}): {err}");
            assert!(err.starts_with("error: "), "{name}: {err}");
            assert!(
                err.contains(location),
                "{name}: expected {location} in {err}"
            );
            assert!(
                err.contains(message),
                "{name}: expected {message:?} in {err}"
            );
            assert!(!err.contains("panicked"), "{name}: {err}");
        }
    }
}

/// Unknown environments and tasks suggest the closest name; bad arguments exit 2.
#[test]
fn unknown_names_suggest_and_exit_2() {
    let project = Project::new(MARKING);
    let out = project
        .deploy()
        .args(["plan", "here", "makr"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown task `makr` (did you mean `mark`?)"),
        "{}",
        stderr(&out)
    );
    let out = project
        .deploy()
        .args(["plan", "heer", "mark"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `here`?"),
        "{}",
        stderr(&out)
    );
    let out = project
        .deploy()
        .args(["plan", "wat=1"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown parameter `wat` (did you mean `what`?)"),
        "{}",
        stderr(&out)
    );
    let out = project
        .deploy()
        .args(["frobnicate"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

/// A failing step exits 1 and the report names host, step and stderr.
#[test]
fn failing_step_exits_1_with_host_step_and_stderr() {
    let project = Project::new(
        r#"
[environments.here]
transport = "local"
hosts = ["localhost"]

[tasks.fail]
steps = [
  { exec = { shell = "echo 'database is locked' >&2; exit 3" } },
  { exec = { cmd = ["touch", "${config_dir}/after"] } },
]
"#,
    );
    let out = project
        .deploy()
        .args(["run", "here", "fail"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("[localhost] FAILED fail.1"), "{err}");
    assert!(err.contains("exit code 3"), "{err}");
    assert!(err.contains("database is locked"), "{err}");
    assert!(!project.path().join("after").exists());
}

/// A secret's value appears in no plan, event, report or error.
#[test]
fn secrets_never_leak() {
    let value = "hunter2-very-secret";
    let project = Project::new(
        r#"
[secrets]
token = { env = "DEPLOY_TEST_TOKEN" }

[environments.here]
transport = "local"
hosts = ["localhost"]

[tasks.leak]
steps = [
  { write-file = { path = "${config_dir}/token.txt", content = "${secret.token}", mode = "0400" } },
  { exec = { cmd = ["sh", "-c", "echo \"the token is $TOKEN\""], env = { TOKEN = "${secret.token}" } } },
  { exec = { shell = "echo \"$TOKEN\" >&2; exit 1", env = { TOKEN = "${secret.token}" } } },
]
"#,
    );
    let mut seen = String::new();
    for args in [
        vec!["plan", "here", "leak"],
        vec!["plan", "here", "leak", "--json"],
        vec!["run", "here", "leak", "--json"],
        vec!["run", "here", "leak", "-v"],
    ] {
        let out = project
            .deploy()
            .args(&args)
            .env("DEPLOY_TEST_TOKEN", value)
            .output()
            .expect("runs");
        seen.push_str(&stdout(&out));
        seen.push_str(&stderr(&out));
    }
    assert!(!seen.contains(value), "secret leaked:\n{seen}");
    assert!(seen.contains("[REDACTED]"));
    assert_eq!(
        std::fs::read_to_string(project.path().join("token.txt")).expect("written"),
        value,
        "the target still gets the real value"
    );
    let missing = project
        .deploy()
        .args(["run", "here", "leak"])
        .env_remove("DEPLOY_TEST_TOKEN")
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("DEPLOY_TEST_TOKEN"),
        "{}",
        stderr(&missing)
    );
}

/// Approval gates refuse unattended runs unless `--yes` approves in advance.
#[test]
fn approval_needs_yes_when_unattended() {
    let project = Project::new(
        r#"
[environments.prod]
transport = "local"
hosts = ["localhost"]
approval = "required"

[tasks.ship]
steps = [{ exec = { cmd = ["touch", "${config_dir}/shipped"] } }]
"#,
    );
    let out = project
        .deploy()
        .args(["run", "prod", "ship"])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(3),
        "a refusal has its own exit code"
    );
    assert!(stderr(&out).contains("needs approval"), "{}", stderr(&out));
    assert!(!project.path().join("shipped").exists());
    let out = project
        .deploy()
        .args(["run", "prod", "ship", "--yes"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(project.path().join("shipped").exists());
}

/// Config discovery: the nearest deploy.toml upward, then DEPLOY_CONFIG, then --config.
#[test]
fn config_is_discovered() {
    let project = Project::new(MARKING);
    let sub = project.path().join("a/b");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let out = project
        .deploy()
        .current_dir(&sub)
        .args(["-v", "plan"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("deploy.toml"), "-v names the file");

    let other = Project::new(&MARKING.replace("[tasks.mark]", "[tasks.other]"));
    let via_env = project
        .deploy()
        .env("DEPLOY_CONFIG", other.path().join("deploy.toml"))
        .arg("tasks")
        .output()
        .expect("runs");
    assert!(stdout(&via_env).contains("other"), "{}", stdout(&via_env));
    let via_flag = project
        .deploy()
        .env("DEPLOY_CONFIG", other.path().join("deploy.toml"))
        .args(["--config", "deploy.toml", "tasks"])
        .output()
        .expect("runs");
    assert!(stdout(&via_flag).contains("mark"), "{}", stdout(&via_flag));

    let empty = tempfile::tempdir().expect("tempdir");
    let out = project
        .deploy()
        .current_dir(empty.path())
        .arg("plan")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no deploy.toml"), "{}", stderr(&out));
}

/// Ctrl-C (SIGINT): no new step starts, the report says what ran, exit 130.
#[test]
fn interrupt_exits_130_and_starts_nothing_new() {
    let project = Project::new(
        r#"
[environments.here]
transport = "local"
hosts = ["localhost"]

[tasks.slow]
steps = [
  { exec = { shell = "touch started; sleep 30" } , id = "slow" },
  { exec = { cmd = ["touch", "${config_dir}/next"] } },
]
"#,
    );
    let bin = assert_cmd::cargo::cargo_bin("deploy");
    let child = std::process::Command::new(bin)
        .current_dir(project.path())
        .args(["run", "here", "slow", "--grace", "200ms"])
        .env_remove("DEPLOY_CONFIG")
        .env("PWD", project.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let started = project.path().join("started");
    // The step's shell runs in the project directory (the local target's working directory).
    for _ in 0..200 {
        if started.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(started.exists(), "the slow step started");
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let out = child.wait_with_output().expect("waits");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("Interrupted"), "{err}");
    assert!(!project.path().join("next").exists());
}

fn get(port: u16, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    response
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Runs a closure when dropped (when the test ends, passing or not).
struct OnDrop<F: Fn()>(F);

impl<F: Fn()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// The README's demo: deploy, upgrade, roll back, on this machine.
#[test]
fn demo_deploys_upgrades_and_rolls_back() {
    let deploy_to = tempfile::tempdir().expect("tempdir");
    let port = free_port().to_string();
    let config = repo_root().join("deploy.toml");
    let run = |args: &[&str]| {
        let mut cmd = Command::cargo_bin("deploy").expect("deploy binary");
        cmd.arg("--config")
            .arg(&config)
            .env("DEPLOY_STATE_DIR", deploy_to.path().join(".state"))
            .arg("run")
            .args(args);
        let out = cmd.output().expect("runs");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        out
    };
    let dir = format!("deploy_to={}", deploy_to.path().display());
    let port_arg = format!("port={port}");
    // The app runs in a session of its own: however the test ends, it stops.
    let _stops_the_app = OnDrop(|| {
        if let Ok(mut cmd) = Command::cargo_bin("deploy") {
            let _ = cmd
                .env("DEPLOY_STATE_DIR", deploy_to.path().join(".state"))
                .arg("--config")
                .arg(&config)
                .args(["run", "stop", &dir])
                .output();
        }
    });
    run(&["deploy", "version=1.0.0", &dir, &port_arg]);
    let port: u16 = port.parse().expect("port");
    assert!(get(port, "/").contains("version 1.0.0"));
    run(&["deploy", "version=1.1.0", &dir, &port_arg]);
    assert!(get(port, "/").contains("version 1.1.0"));
    let releases = std::fs::read_dir(deploy_to.path().join("releases"))
        .expect("releases")
        .count();
    assert_eq!(releases, 2);
    run(&["rollback", &dir, &port_arg]);
    assert!(get(port, "/").contains("version 1.0.0"));
    let stop_dir = format!("deploy_to={}", deploy_to.path().display());
    run(&["stop", &stop_dir]);
}

/// `deploy run` over SSH to two hosts (127.0.0.2 and .3 on one real sshd),
/// learning their keys with accept-new, then strict.
#[test]
fn run_over_ssh_to_two_hosts() {
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let out_dir = sshd.dir.path().join("out");
    let known_hosts = sshd.dir.path().join("cli_known_hosts");
    let config = |policy: &str| {
        format!(
            r#"
[ssh]
user = "{user}"
identity_files = ["{key}"]
known_hosts = "{known_hosts}"
host_keys = "{policy}"
handshakes = 2
max_connections = 1    # two hosts take turns on one connection

[environments.prod]
hosts = ["127.0.0.2:{port}", "127.0.0.3:{port}"]

[tasks.ship]
steps = [
  {{ write-file = {{ path = "{out}/${{host}}/VERSION", content = "1.0\n" }} }},
  {{ exec = {{ shell = "hostname > /dev/null && echo shipped-to-${{host}}" }} }},
]
"#,
            user = deploy_ssh::testing::user(),
            key = sshd.user_key_path.display(),
            known_hosts = known_hosts.display(),
            port = sshd.port,
            out = out_dir.display(),
        )
    };
    let project = Project::new(&config("accept-new"));
    let path = path_without_ssh_tools(sshd.dir.path());
    let out = project
        .deploy()
        .args(["run", "prod", "ship", "-v"])
        .env("PATH", &path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for host in ["127.0.0.2", "127.0.0.3"] {
        let version = out_dir
            .join(format!("{host}:{}", sshd.port))
            .join("VERSION");
        assert_eq!(std::fs::read_to_string(&version).expect("written"), "1.0\n");
    }
    assert!(
        stderr(&out).contains("shipped-to-127.0.0.3"),
        "{}",
        stderr(&out)
    );
    let learned = std::fs::read_to_string(&known_hosts).expect("known_hosts");
    assert_eq!(learned.lines().count(), 2, "{learned}");

    let strict = Project::new(&config("strict"));
    let out = strict
        .deploy()
        .args(["run", "prod", "ship"])
        .env("PATH", &path)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// A PATH holding every program of this one except OpenSSH's and rsync:
/// the deploying side must not need them.
fn path_without_ssh_tools(scratch: &Path) -> PathBuf {
    path_without(
        scratch,
        "bin-without-ssh",
        &[
            "ssh",
            "scp",
            "sftp",
            "rsync",
            "ssh-keygen",
            "ssh-agent",
            "ssh-add",
        ],
    )
}

/// A directory of links to every program on PATH but `forbidden`.
fn path_without(scratch: &Path, name: &str, forbidden: &[&str]) -> PathBuf {
    let dir = scratch.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = std::env::var_os("PATH").expect("PATH");
    for entry in std::env::split_paths(&path) {
        let Ok(programs) = std::fs::read_dir(&entry) else {
            continue;
        };
        for program in programs.flatten() {
            let name = program.file_name();
            let link = dir.join(&name);
            if forbidden.iter().any(|f| name == *f) || link.exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(program.path(), link);
        }
    }
    for tool in forbidden {
        assert!(!dir.join(tool).exists());
    }
    dir
}

/// Hosts resolve through an ssh_config (Include, tokens, HostName, Port,
/// User, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking, ProxyJump
/// through a second sshd); keys not applied are reported.
#[test]
fn hosts_resolve_through_ssh_config_with_proxy_jump() {
    let Some(bastion) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let Some(inner) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let dir = bastion.dir.path();
    std::fs::create_dir_all(dir.join("conf.d")).expect("mkdir");
    std::fs::write(
        dir.join("conf.d/inner.conf"),
        format!(
            "Host db\n  HostName 127.0.0.1\n  Port {}\n  IdentityFile {}\n  ProxyJump bastion\n",
            inner.port,
            inner.user_key_path.display()
        ),
    )
    .expect("write");
    let known_hosts = dir.join("ssh_config_known_hosts");
    std::fs::write(
        dir.join("config"),
        format!(
            "Include {dir}/conf.d/*.conf\n\nHost bastion\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {key}\n\nHost *\n  User {user}\n  UserKnownHostsFile {kh}\n  StrictHostKeyChecking accept-new\n  ForwardAgent yes\n",
            dir = dir.display(),
            port = bastion.port,
            key = bastion.user_key_path.display(),
            user = deploy_ssh::testing::user(),
            kh = known_hosts.display(),
        ),
    )
    .expect("write");
    let out_file = inner.dir.path().join("ran-on-db");
    let project = Project::new(&format!(
        r#"
[ssh]
config = "{config}"

[environments.prod]
hosts = ["db"]

[tasks.touch]
steps = [{{ exec = {{ shell = "echo $SSH_CONNECTION > {out}" }} }}]
"#,
        config = dir.join("config").display(),
        out = out_file.display(),
    ));
    let out = project
        .deploy()
        .args(["run", "prod", "touch"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let connection = std::fs::read_to_string(&out_file).expect("ran on the inner sshd");
    assert!(
        connection.trim().ends_with(&inner.port.to_string()),
        "{connection}"
    );
    assert!(
        stderr(&out).contains("forwardagent yes (not applied)"),
        "{}",
        stderr(&out)
    );
    let learned = std::fs::read_to_string(&known_hosts).expect("known_hosts");
    assert_eq!(
        learned.lines().count(),
        2,
        "bastion and db were both learned: {learned}"
    );
}

/// `StrictHostKeyChecking no` in ssh_config counts as host_keys = "off", with
/// the warning; deploy.toml's `host_keys` wins over it.
#[test]
fn ssh_config_strict_host_key_checking_no_is_off_and_warned() {
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let dir = sshd.dir.path();
    std::fs::write(
        dir.join("config_no_check"),
        format!(
            "Host db\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}/empty_known_hosts\n  StrictHostKeyChecking no\n",
            sshd.port,
            deploy_ssh::testing::user(),
            sshd.user_key_path.display(),
            dir.display()
        ),
    )
    .expect("write");
    let config = |extra: &str| {
        format!(
            "[ssh]\nconfig = \"{}\"\n{extra}\n[environments.prod]\nhosts = [\"db\"]\n\n[tasks.t]\nsteps = [{{ exec = {{ cmd = [\"true\"] }} }}]\n",
            dir.join("config_no_check").display()
        )
    };
    let project = Project::new(&config(""));
    let out = project
        .deploy()
        .args(["run", "prod", "t"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("host keys are not checked"),
        "{}",
        stderr(&out)
    );

    let strict = Project::new(&config("host_keys = \"strict\""));
    let out = strict
        .deploy()
        .args(["run", "prod", "t"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not in"), "{}", stderr(&out));
}

/// Runs `deploy ARGS` on a terminal (a pty from util-linux `script`), typing
/// `typed` once the passphrase prompt shows; returns the exit code and what
/// the terminal showed.
fn on_a_terminal(project: &Project, args: &str, typed: &str) -> (Option<i32>, String) {
    use std::process::Stdio;
    let deploy = assert_cmd::cargo::cargo_bin("deploy");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{} {args}", deploy.display()), "/dev/null"])
        .current_dir(project.path())
        .env_remove("DEPLOY_SSH_PASSPHRASE")
        .env_remove("DEPLOY_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let (sender, shown) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !String::from_utf8_lossy(&screen).contains("Passphrase for") {
        assert!(
            std::time::Instant::now() < deadline,
            "no prompt: {}",
            String::from_utf8_lossy(&screen)
        );
        if let Ok(chunk) = shown.recv_timeout(std::time::Duration::from_millis(100)) {
            screen.extend(chunk);
        }
    }
    // rpassword prints the prompt, then puts the terminal in raw mode: type
    // once that has surely happened, as a person would.
    std::thread::sleep(std::time::Duration::from_millis(500));
    stdin.write_all(typed.as_bytes()).expect("type");
    stdin.flush().expect("flush");
    let status = child.wait().expect("waits");
    drop(stdin);
    let _ = reader.join();
    while let Ok(chunk) = shown.try_recv() {
        screen.extend(chunk);
    }
    (status.code(), String::from_utf8_lossy(&screen).into_owned())
}

/// An encrypted key with no passphrase in the environment: `deploy` asks
/// for it once on the terminal (never echoing it); a wrong one is refused
/// and nothing runs, the right one logs in.
#[test]
fn an_encrypted_key_asks_for_its_passphrase_on_the_terminal() {
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let key = russh::keys::load_secret_key(&sshd.user_key_path, None).expect("key");
    let encrypted = key
        .encrypt(&mut getrandom::SysRng, "right horse battery")
        .expect("encrypts");
    let key_path = sshd.dir.path().join("terminal_key");
    std::fs::write(
        &key_path,
        encrypted
            .to_openssh(russh::keys::ssh_key::LineEnding::LF)
            .expect("encode")
            .as_bytes(),
    )
    .expect("write key");
    let marker = sshd.dir.path().join("ran");
    let project = Project::new(&format!(
        r#"
[ssh]
user = "{user}"
identity_files = ["{key}"]
known_hosts = "{known_hosts}"
host_keys = "accept-new"

[environments.prod]
hosts = ["127.0.0.2:{port}"]

[tasks.hi]
steps = [{{ exec = {{ shell = "touch {marker} && echo logged-in-with-the-key" }} }}]
"#,
        user = deploy_ssh::testing::user(),
        key = key_path.display(),
        known_hosts = sshd.dir.path().join("terminal_known_hosts").display(),
        port = sshd.port,
        marker = marker.display(),
    ));

    let (code, screen) = on_a_terminal(&project, "run prod hi", "wrong horse\n");
    assert_ne!(code, Some(0), "{screen}");
    assert!(
        screen.contains("terminal_key"),
        "the error names the key: {screen}"
    );
    assert!(!marker.exists(), "nothing ran with a wrong passphrase");
    assert!(
        !screen.contains("wrong horse"),
        "the passphrase is not echoed: {screen}"
    );

    let (code, screen) = on_a_terminal(&project, "run prod hi", "right horse battery\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("Succeeded"), "{screen}");
    assert!(
        !screen.contains("right horse battery"),
        "not echoed: {screen}"
    );
    assert!(marker.exists(), "the step ran over the decrypted key");
}

/// docker.* steps through the real `deploy` binary with no `docker` (nor
/// docker-compose) on PATH: a network, a container, an exec in it; run twice,
/// the second run finds everything done.
#[test]
fn docker_steps_run_without_the_docker_cli() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(deploy_docker::testing::engine()) else {
        return;
    };
    let busybox = runtime.block_on(deploy_docker::testing::busybox_image(&engine));
    let id = std::process::id();
    let (network, name) = (
        format!("deploy-cli-net-{id}"),
        format!("deploy-cli-box-{id}"),
    );
    let project = Project::new(&format!(
        r#"
[environments.here]
transport = "local"
hosts = ["localhost"]

[tasks.up]
steps = [
  {{ docker.network = {{ name = "{network}" }} }},
  {{ docker.ensure-running = {{ name = "{name}", image = "{busybox}", command = ["sleep", "300"], networks = ["{network}"], labels = {{ "deploy.test" = "cli-{id}" }}, stop_grace = "1s" }} }},
  {{ docker.exec = {{ container = "{name}", cmd = ["sh", "-c", "echo inside-$HOSTNAME > /ran"], unless = ["test", "-f", "/ran"] }} }},
]
"#
    ));
    let scratch = tempfile::tempdir().expect("tempdir");
    let path = path_without(
        scratch.path(),
        "bin-without-docker",
        &["docker", "docker-compose"],
    );
    let run = || {
        project
            .deploy()
            .args(["run", "here", "up", "--json"])
            .env("PATH", &path)
            .output()
            .expect("runs")
    };
    let first = run();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = run();
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let events = stdout(&second);
    assert_eq!(
        events.matches("\"event\":\"step-skipped\"").count(),
        3,
        "every step was already done the second time: {events}"
    );
    runtime.block_on(async {
        deploy_docker::testing::clean_up(&engine, &format!("cli-{id}")).await;
        engine.remove_network(&network).await.expect("network");
    });
}

/// Issue 9's task features over SSH, on two hosts of a real sshd: a probe
/// (`when`) picks a branch per host, a task reference passes a parameter,
/// and a diagnostic that exits non-zero is allowed to fail and shows its
/// output without `-v`.
#[test]
fn conditions_task_params_and_allowed_failures_over_ssh() {
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let out_dir = sshd.dir.path().join("branches");
    let port = sshd.port;
    let config = format!(
        r#"
[ssh]
user = "{user}"
identity_files = ["{key}"]
known_hosts = "{known_hosts}"
host_keys = "accept-new"

[environments.prod]
hosts = ["127.0.0.2:{port}", "127.0.0.3:{port}"]

[tasks.first]
steps = [{{ exec = {{ shell = "mkdir -p {out}/${{host}}/prod && echo first >> {out}/${{host}}/log" }} }}]

[tasks.switch]
steps = [{{ exec = {{ shell = "echo switch >> {out}/${{host}}/log" }} }}]

[tasks.status]
params = {{ instance = {{ required = true }} }}
steps = [{{ exec = {{ shell = "echo status-${{instance}}; exit 3", output = true }}, allow_failure = true }}]

[tasks.promote]
steps = [
  {{ task = "first", when = {{ fails = ["test", "-d", "{out}/${{host}}/prod"] }} }},
  {{ task = "switch", when = {{ succeeds = ["test", "-d", "{out}/${{host}}/prod"] }} }},
  {{ task = "status", params = {{ instance = "production" }} }},
]
"#,
        user = deploy_ssh::testing::user(),
        key = sshd.user_key_path.display(),
        known_hosts = sshd.dir.path().join("branches_known_hosts").display(),
        out = out_dir.display(),
    );
    // The second host already has a production release.
    std::fs::create_dir_all(out_dir.join(format!("127.0.0.3:{port}/prod"))).expect("prod dir");
    let project = Project::new(&config);
    let out = project
        .deploy()
        .args(["run", "prod", "promote"])
        .output()
        .expect("runs");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let log = |host: &str| {
        std::fs::read_to_string(out_dir.join(format!("{host}:{port}/log"))).unwrap_or_default()
    };
    assert_eq!(log("127.0.0.2"), "first\n", "{err}");
    assert_eq!(log("127.0.0.3"), "switch\n", "{err}");
    for host in ["127.0.0.2", "127.0.0.3"] {
        assert!(
            err.contains(&format!("[{host}:{port}] | status-production")),
            "{err}"
        );
    }
    assert!(err.contains("failed (allowed)"), "{err}");
}

/// `-H` / `-R` limit a run to some hosts of a real sshd's addresses: only
/// those run, `once` runs on the first selected host, the plan header says
/// the run is limited, and an unknown name is refused with the names known.
#[test]
fn hosts_and_roles_limit_a_run() {
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    let out_dir = sshd.dir.path().join("limited");
    let port = sshd.port;
    let config = format!(
        r#"
[ssh]
user = "{user}"
identity_files = ["{key}"]
known_hosts = "{known_hosts}"
host_keys = "accept-new"

[environments.prod]
roles = {{ web = ["127.0.0.2:{port}", "127.0.0.3:{port}"], db = ["127.0.0.4:{port}"] }}

[tasks.ship]
steps = [
  {{ exec = {{ shell = "mkdir -p {out} && echo ${{host}} >> {out}/ran" }} }},
  {{ exec = {{ shell = "echo ${{host}} >> {out}/migrated" }}, once = true }},
]
"#,
        user = deploy_ssh::testing::user(),
        key = sshd.user_key_path.display(),
        known_hosts = sshd.dir.path().join("limited_known_hosts").display(),
        out = out_dir.display(),
    );
    let project = Project::new(&config);
    let read = |file: &str| std::fs::read_to_string(out_dir.join(file)).unwrap_or_default();

    let plan = project
        .deploy()
        .args(["plan", "prod", "ship", "-R", "web"])
        .output()
        .expect("runs");
    assert!(
        stdout(&plan).contains("limited to: roles web (2 of 3 hosts)"),
        "{}",
        stdout(&plan)
    );
    let out = project
        .deploy()
        .args(["run", "prod", "ship", "--roles", "web"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut ran: Vec<String> = read("ran").lines().map(str::to_owned).collect();
    ran.sort();
    assert_eq!(
        ran,
        [format!("127.0.0.2:{port}"), format!("127.0.0.3:{port}")]
    );
    assert_eq!(read("migrated"), format!("127.0.0.2:{port}\n"));

    let out = project
        .deploy()
        .args(["run", "prod", "ship", "-H", &format!("127.0.0.4:{port}")])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(read("ran").contains("127.0.0.4"), "only the db host ran");
    assert_eq!(
        read("migrated"),
        format!("127.0.0.2:{port}\n127.0.0.4:{port}\n"),
        "once runs on the first selected host"
    );

    let out = project
        .deploy()
        .args(["run", "prod", "ship", "-R", "webb"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "-R/--roles: unknown role `webb` (did you mean `web`?) (roles here: db, web)"
        ),
        "{}",
        stderr(&out)
    );
}
