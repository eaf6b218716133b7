//! The deploy lock across real `deploy` processes on this machine
//! (`transport = "local"`, so the lock file is on this machine): two runs
//! started together, one waits with `--lock-wait`; a holder killed with
//! SIGKILL is taken over after the expiry; a run whose lock is taken over
//! stops before its next step; `deploy lock status|acquire|release`; the
//! audit lines each of these leaves.
//!
//! Run: `cargo test -p deploy-cli --test lock`

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(expiry: &str, steps: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!(
            "[environments.e]\nhosts = [\"localhost\"]\ntransport = \"local\"\nlock_expiry = \"{expiry}\"\n\n\
             [tasks.t]\nsteps = [{steps}]\n"
        )
        .replace("DIR", &dir.path().display().to_string());
        std::fs::write(dir.path().join("deploy.toml"), config).expect("config");
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn lock_file(&self) -> std::path::PathBuf {
        self.path().join(".state/e/lock.json")
    }

    fn deploy(&self) -> Command {
        let mut cmd = Command::cargo_bin("deploy").expect("deploy binary");
        cmd.current_dir(self.path())
            .env_remove("DEPLOY_CONFIG")
            .env("DEPLOY_STATE_DIR", self.path().join(".state"));
        cmd
    }

    /// `deploy run e t ARGS` started in the background, in a process group
    /// of its own (so a kill takes its commands too).
    fn spawn(&self, args: &[&str]) -> Child {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(assert_cmd::cargo::cargo_bin("deploy"))
            .current_dir(self.path())
            .env_remove("DEPLOY_CONFIG")
            .env("DEPLOY_STATE_DIR", self.path().join(".state"))
            .args(["run", "e", "t"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("deploy starts")
    }

    fn wait_for(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "{what} never happened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Two runs at once: the second fails at once naming the holder (exit 4);
/// a third with `--lock-wait` runs once the first is done.
#[test]
fn one_run_at_a_time_and_lock_wait() {
    let project = Project::new(
        "10m",
        "{ exec = { cmd = [\"sleep\", \"2\"] } }, { exec = { shell = \"echo $$ >> DIR/ran\" } }",
    );
    let mut first = project.spawn(&["-m", "release 1.4"]);
    project.wait_for("the first run's lock", || project.lock_file().exists());

    let second = project
        .deploy()
        .args(["run", "e", "t"])
        .output()
        .expect("runs");
    assert_eq!(second.status.code(), Some(4), "{}", stderr(&second));
    let err = stderr(&second);
    assert!(
        err.contains("e is locked by") && err.contains("task t") && err.contains("\"release 1.4\""),
        "{err}"
    );
    assert!(err.contains("--lock-wait"), "says how to wait: {err}");

    let status = project
        .deploy()
        .args(["lock", "status", "-e", "e"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&status.stdout).contains("e is locked by"));

    let third = project
        .deploy()
        .args(["run", "e", "t", "--lock-wait", "60s"])
        .output()
        .expect("runs");
    assert_eq!(third.status.code(), Some(0), "{}", stderr(&third));
    assert!(first.wait().expect("first ends").success());
    let ran = std::fs::read_to_string(project.path().join("ran")).expect("ran");
    assert_eq!(
        ran.lines().count(),
        2,
        "the first and the waiting run: {ran}"
    );
    assert!(!project.lock_file().exists(), "released at the end");
}

/// A holder killed with SIGKILL leaves its lock; after the expiry the next
/// run takes it over.
#[test]
fn a_killed_holders_lock_is_taken_over_after_the_expiry() {
    let project = Project::new("1s", "{ exec = { cmd = [\"sleep\", \"30\"] } }");
    let mut holder = project.spawn(&[]);
    project.wait_for("the holder's lock", || project.lock_file().exists());
    let group = nix::unistd::Pid::from_raw(i32::try_from(holder.id()).expect("pid"));
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).expect("kill");
    let _ = holder.wait();
    assert!(project.lock_file().exists(), "a killed run leaves its lock");

    std::fs::write(
        project.path().join("deploy.toml"),
        "[environments.e]\nhosts = [\"localhost\"]\ntransport = \"local\"\nlock_expiry = \"1s\"\n\n[tasks.t]\nsteps = [{ exec = { cmd = [\"true\"] } }]\n",
    )
    .expect("config");
    let next = project
        .deploy()
        .args(["run", "e", "t", "--lock-wait", "30s"])
        .output()
        .expect("runs");
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    assert!(!project.lock_file().exists());
}

/// A run whose lock is taken over (here: released by force and acquired by
/// someone else) stops before its next step and exits 4.
#[test]
fn a_run_whose_lock_is_taken_over_stops() {
    let project = Project::new(
        "1s",
        "{ exec = { cmd = [\"sleep\", \"2\"] } }, { exec = { shell = \"touch DIR/after\" } }",
    );
    let run = project.spawn(&[]);
    project.wait_for("the run's lock", || project.lock_file().exists());
    let forced = project
        .deploy()
        .args(["lock", "release", "--force", "-e", "e"])
        .output()
        .expect("runs");
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    let taken = project
        .deploy()
        .args(["lock", "acquire", "-e", "e", "-m", "maintenance"])
        .output()
        .expect("runs");
    assert_eq!(taken.status.code(), Some(0), "{}", stderr(&taken));

    let out = run.wait_with_output().expect("the run ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("was taken over by"), "{err}");
    assert!(
        !project.path().join("after").exists(),
        "no step after the loss"
    );

    // The maintenance lock refuses runs until released.
    let refused = project
        .deploy()
        .args(["run", "e", "t"])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(4));
    assert!(
        stderr(&refused).contains("\"maintenance\""),
        "{}",
        stderr(&refused)
    );
    let released = project
        .deploy()
        .args(["lock", "release", "-e", "e"])
        .output()
        .expect("runs");
    assert_eq!(released.status.code(), Some(0), "{}", stderr(&released));
    assert!(!project.lock_file().exists());
}

/// Every run and lock change appends an audit line (JSON) beside the lock:
/// who, what, parameters with secrets redacted, the plan's digest, how it
/// ended. `deploy audit` shows them; no secret value is in the file.
#[test]
fn runs_and_lock_changes_are_audited_without_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("deploy.toml"),
        "[environments.e]\nhosts = [\"localhost\"]\ntransport = \"local\"\n\n\
         [tasks.t]\nparams = { password = { prompt = \"Password\", secret = true }, version = \"1.0\" }\n\
         steps = [{ exec = { shell = \"test -n \\\"$PW\\\"\", env = { PW = \"${password}\" } } }]\n",
    )
    .expect("config");
    let project = Project { dir };
    let run = project
        .deploy()
        .args(["run", "e", "t", "password=hunter2", "version=1.4"])
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    for args in [["lock", "acquire"], ["lock", "release"]] {
        let out = project
            .deploy()
            .args(args)
            .args(["-e", "e"])
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let out = project
        .deploy()
        .args(["audit", "e", "--json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let commands: Vec<&str> = lines
        .iter()
        .map(|l| l["command"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(commands, ["run", "lock acquire", "lock release"]);
    assert_eq!(lines[0]["outcome"], "succeeded");
    assert_eq!(lines[0]["params"]["version"], "1.4");
    assert_eq!(lines[0]["params"]["password"], "[REDACTED]");
    assert_eq!(lines[0]["plan_digest"].as_str().map(str::len), Some(64));
    let log = std::fs::read_to_string(project.path().join(".state/e/audit.log")).expect("log");
    assert!(!log.contains("hunter2"), "a secret in the audit log: {log}");
    let text = project
        .deploy()
        .args(["audit", "e", "-n", "1"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&text.stdout).contains("lock release"));
}
