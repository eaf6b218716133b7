//! What a run's end looks like: a failed step's error with its causes,
//! once (the `FAILED` line, then a `caused by:` line under it with its
//! host; the summary names the step and the headline only); a refused
//! approval's own exit code; an allowed failure; a task's `on_failure`
//! replacing the environment's. Nothing here needs a peer: the hosts are
//! this machine (`transport = "local"`) and the engine socket is missing on
//! purpose.

use assert_cmd::Command;

/// Runs `deploy run e t` on `config` in a fresh directory; the exit code
/// and stderr.
fn run(config: &str, args: &[&str]) -> (Option<i32>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config.replace("DIR", &dir.path().display().to_string());
    std::fs::write(dir.path().join("deploy.toml"), config).expect("write config");
    let out = Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(dir.path())
        .env("DEPLOY_STATE_DIR", dir.path().join(".state"))
        .env_remove("DEPLOY_CONFIG")
        .args(["run", "e", "t"])
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
    )
}

const LOCAL: &str = "[environments.e]\nhosts = [\"localhost\"]\ntransport = \"local\"\n";

/// An approval refused (here: no terminal and no `--yes`) exits 3, not 1.
#[test]
fn a_refused_approval_exits_3_and_runs_nothing_after_it() {
    let config = format!(
        "{LOCAL}approval = \"required\"\n[tasks.t]\nsteps = [{{ write-file = {{ path = \"DIR/after\", content = \"x\" }} }}]\n"
    );
    let (code, err, dir) = run(&config, &[]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("not approved"), "{err}");
    assert!(!dir.path().join("after").exists());
    let (code, err, dir) = run(&config, &["--yes"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(dir.path().join("after").exists());
}

/// `allow_failure`: the run goes on and succeeds; the step is reported as
/// failed (allowed).
#[test]
fn an_allowed_failure_is_reported_and_the_run_succeeds() {
    let config = format!(
        "{LOCAL}[tasks.t]\nsteps = [\n  {{ exec = {{ cmd = [\"sh\", \"-c\", \"echo web STOPPED; exit 3\"] }}, allow_failure = true }},\n  {{ write-file = {{ path = \"DIR/after\", content = \"x\" }} }},\n]\n"
    );
    let (code, err, dir) = run(&config, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("FAILED t.1 (allowed: the host goes on)"),
        "{err}"
    );
    assert!(err.contains("1 failed (allowed)"), "{err}");
    assert!(dir.path().join("after").exists());
}

/// A task's `on_failure = "stop"` wins over the environment's `rollback`:
/// nothing is rolled back and the file written before the failure stays.
#[test]
fn a_tasks_on_failure_replaces_the_environments() {
    let config = format!(
        "{LOCAL}on_failure = \"rollback\"\n[tasks.t]\non_failure = \"stop\"\nsteps = [\n  {{ write-file = {{ path = \"DIR/built\", content = \"x\" }} }},\n  {{ exec = {{ cmd = [\"false\"] }} }},\n]\n"
    );
    let (code, err, dir) = run(&config, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(!err.contains("rolling back"), "{err}");
    assert!(dir.path().join("built").exists());
}

#[test]
fn a_failed_step_prints_its_cause_chain_once() {
    let config = format!(
        "{LOCAL}[tasks.t]\nsteps = [{{ docker.pull = {{ image = \"nginx:1\", engine = \"unix://DIR/no-engine.sock\" }} }}]\n"
    );
    let (code, err, _dir) = run(&config, &[]);
    assert_eq!(code, Some(1), "{err}");
    let failed = err
        .lines()
        .position(|l| {
            l.starts_with("[localhost] FAILED t.1: ")
                && l.contains("cannot reach the Docker engine")
        })
        .unwrap_or_else(|| panic!("no FAILED line in\n{err}"));
    let cause = err.lines().nth(failed + 1).unwrap_or_default();
    assert!(
        cause.starts_with("[localhost]   caused by: cannot connect to unix:"),
        "the cause is not under the FAILED line:\n{err}"
    );
    assert_eq!(
        err.matches("caused by:").count(),
        1,
        "the chain is printed once:\n{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.trim_start().starts_with("t.1 Failed: ")
                && l.contains("cannot reach the Docker engine")),
        "the summary names the step:\n{err}"
    );
}

/// A failing command's report shows the end of its stdout as well as its
/// stderr: a test runner prints "FAILED" on stdout.
#[test]
fn a_failed_command_shows_the_tail_of_stdout_and_stderr() {
    let config = format!(
        "{LOCAL}[tasks.t]\nsteps = [{{ exec = {{ cmd = [\"sh\", \"-c\", \"echo 'Ran 12 tests'; echo 'FAILED (failures=2)'; echo 'settings: DEBUG' >&2; exit 1\"] }} }}]\n"
    );
    let (code, err, _dir) = run(&config, &[]);
    assert_eq!(code, Some(1), "{err}");
    let summary = err
        .lines()
        .find(|l| l.trim_start().starts_with("t.1 Failed: "))
        .unwrap_or_else(|| panic!("no summary line in\n{err}"));
    assert!(
        summary.ends_with(
            "failed with exit code 1: settings: DEBUG; its output ended: Ran 12 tests / FAILED (failures=2)"
        ),
        "{summary}"
    );
}

/// An `exec` with `output = true` prints its stdout without `-v`, prefixed
/// by host; a plain one does not.
#[test]
fn a_step_that_shows_output_prints_it_without_verbose() {
    let config = format!(
        "{LOCAL}[tasks.t]\nsteps = [\n  {{ exec = {{ cmd = [\"echo\", \"web RUNNING pid 42\"], output = true }} }},\n  {{ exec = {{ cmd = [\"echo\", \"quiet line\"] }} }},\n]\n"
    );
    let (code, err, _dir) = run(&config, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("[localhost] | web RUNNING pid 42"), "{err}");
    assert!(!err.contains("| quiet line"), "{err}");
}

/// `approval` on a task replaces the environment's: a read-only task of a
/// gated environment runs unattended; a gated task of an open one does not.
#[test]
fn a_tasks_approval_replaces_the_environments() {
    let gated = format!(
        "{LOCAL}approval = \"required\"\n[tasks.t]\napproval = \"none\"\nsteps = [{{ write-file = {{ path = \"DIR/status\", content = \"x\" }} }}]\n"
    );
    let (code, err, dir) = run(&gated, &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(dir.path().join("status").exists());
    let open = format!(
        "{LOCAL}[tasks.t]\napproval = \"required\"\nsteps = [{{ write-file = {{ path = \"DIR/dropped\", content = \"x\" }} }}]\n"
    );
    let (code, err, dir) = run(&open, &[]);
    assert_eq!(code, Some(3), "{err}");
    assert!(!dir.path().join("dropped").exists());
}

/// A task run by others with `params` gets them: its required parameter
/// is given by every reference, so the run need not give it.
#[test]
fn a_task_reference_passes_parameters() {
    let config = format!(
        "{LOCAL}[tasks.stop]\nparams = {{ instance = {{ required = true }} }}\nsteps = [{{ exec = {{ shell = \"echo ${{instance}} >> DIR/stopped\" }} }}]\n\
         [tasks.t]\nsteps = [{{ task = \"stop\", params = {{ instance = \"staging\" }} }}, {{ task = \"stop\", params = {{ instance = \"production\" }} }}]\n"
    );
    let (code, err, dir) = run(&config, &[]);
    assert_eq!(code, Some(0), "{err}");
    let stopped = std::fs::read_to_string(dir.path().join("stopped")).expect("written");
    assert_eq!(stopped, "staging\nproduction\n");
}

/// `when`: a probe picks one of two branches (asked once: the first
/// branch's own work does not start the second), and a comparison decided
/// when the plan is built leaves a step out.
#[test]
fn when_picks_one_branch_and_a_comparison_leaves_a_step_out() {
    let config = format!(
        "{LOCAL}[tasks.first]\nsteps = [{{ exec = {{ cmd = [\"mkdir\", \"DIR/prod\"] }} }}, {{ exec = {{ shell = \"echo first >> DIR/log\" }} }}]\n\
         [tasks.switch]\nsteps = [{{ exec = {{ shell = \"echo switch >> DIR/log\" }} }}]\n\
         [tasks.t]\nparams = {{ release_name = \"\" }}\nsteps = [\n\
           {{ task = \"first\", when = {{ fails = [\"test\", \"-d\", \"DIR/prod\"] }} }},\n\
           {{ task = \"switch\", when = {{ succeeds = [\"test\", \"-d\", \"DIR/prod\"] }} }},\n\
           {{ exec = {{ shell = \"echo named >> DIR/log\" }}, when = \"${{release_name}} != ''\" }},\n]\n"
    );
    let (code, err, dir) = run(&config, &[]);
    assert_eq!(code, Some(0), "{err}");
    let log = std::fs::read_to_string(dir.path().join("log")).expect("log");
    assert_eq!(log, "first\n", "{err}");
    assert!(err.contains("skipped: `when` did not hold"), "{err}");
    assert!(err.contains("skipped (condition not met)"), "{err}");

    // Again, in the same directory: now the second branch, and the named step.
    std::fs::write(
        dir.path().join("deploy.toml"),
        config.replace("DIR", &dir.path().display().to_string()),
    )
    .expect("config");
    let out = Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(dir.path())
        .env("DEPLOY_STATE_DIR", dir.path().join(".state"))
        .args(["run", "e", "t", "release_name=r42"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let log = std::fs::read_to_string(dir.path().join("log")).expect("log");
    assert_eq!(log, "first\nswitch\nnamed\n");
}

/// A parameter with a `prompt` is asked on a terminal; unattended and not
/// given, the run is refused naming it (exit 2, nothing run). A secret one
/// given on the command line never shows: not in the plan, not in output.
#[test]
fn a_prompted_secret_parameter() {
    let config = format!(
        "{LOCAL}[tasks.t]\nparams = {{ password = {{ prompt = \"Webfaction password\", secret = true }} }}\n\
         steps = [{{ exec = {{ shell = \"echo using $PASSWORD; touch DIR/ran\", env = {{ PASSWORD = \"${{password}}\" }}, output = true }} }}]\n"
    );
    let (code, err, dir) = run(&config, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("parameter `password` (\"Webfaction password\") is not given and no one is at a terminal to ask (pass password=VALUE)"),
        "{err}"
    );
    assert!(!dir.path().join("ran").exists());

    let (code, err, dir) = run(&config, &["password=hunter2"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(dir.path().join("ran").exists());
    assert!(!err.contains("hunter2"), "the secret leaked: {err}");
    assert!(err.contains("using [REDACTED]"), "{err}");

    let out = Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(dir.path())
        .env("DEPLOY_STATE_DIR", dir.path().join(".state"))
        .args(["plan", "e", "t", "password=hunter2"])
        .output()
        .expect("runs");
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("params: password=[REDACTED]"), "{plan}");
    assert!(!plan.contains("hunter2"), "{plan}");
}

/// Runs `deploy ARGS` in `dir`; the exit code, stdout and stderr.
fn deploy_in(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(dir)
        .env_remove("DEPLOY_CONFIG")
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `file`, `dotenv` and `command` secrets: a run reads each (the command
/// once, however many steps use it), the steps get the values, and no
/// value appears in the plan, the output, events or the summary.
#[test]
fn a_run_reads_file_dotenv_and_command_secrets_and_never_shows_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("keys")).expect("mkdir");
    std::fs::write(dir.path().join("keys/api"), "file-v4lue-1\n").expect("write");
    std::fs::write(
        dir.path().join("prod.env"),
        "DEBUG=0\nexport DB_PASSWORD='dotenv-v4lue-2' # rotated\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("store"), "command-v4lue-3\n").expect("write");
    let config = format!(
        "[secrets]\n\
         api = {{ file = \"keys/api\" }}\n\
         db = {{ dotenv = {{ file = \"prod.env\", key = \"DB_PASSWORD\" }} }}\n\
         token = {{ command = [\"sh\", \"-c\", \"echo asked >> asked.log; cat store\"] }}\n\
         {LOCAL}[tasks.t]\nsteps = [\n\
         {{ exec = {{ shell = \"printf '%s %s %s' \\\"$A\\\" \\\"$B\\\" \\\"$C\\\" > got; echo \\\"values: $A $B $C\\\"\", env = {{ A = \"${{secret.api}}\", B = \"${{secret.db}}\", C = \"${{secret.token}}\" }}, output = true }} }},\n\
         {{ write-file = {{ path = \"token.txt\", content = \"${{secret.token}}\" }} }},\n\
         ]\n"
    );
    std::fs::write(dir.path().join("deploy.toml"), config).expect("write config");
    let values = ["file-v4lue-1", "dotenv-v4lue-2", "command-v4lue-3"];
    let mut seen = String::new();
    for args in [
        &["plan", "e", "t"][..],
        &["run", "e", "t", "-v"],
        &["run", "e", "t", "--json"],
    ] {
        let (code, out, err) = deploy_in(dir.path(), args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        seen.push_str(&out);
        seen.push_str(&err);
    }
    for value in values {
        assert!(!seen.contains(value), "{value} leaked:\n{seen}");
    }
    assert!(
        seen.contains("values: [REDACTED] [REDACTED] [REDACTED]"),
        "{seen}"
    );
    let got = std::fs::read_to_string(dir.path().join("got")).expect("the step ran");
    assert_eq!(got, values.join(" "));
    let token = std::fs::read_to_string(dir.path().join("token.txt")).expect("written");
    assert_eq!(token, "command-v4lue-3");
    // Two runs, each asking the command once; the plan asks nothing.
    let asked = std::fs::read_to_string(dir.path().join("asked.log")).expect("asked");
    assert_eq!(asked, "asked\nasked\n");
}

/// A secret command that fails stops the run before anything runs (exit
/// 2): the error names the secret, the command and its stderr, never what
/// it printed on stdout. One that cannot start says so.
#[test]
fn a_failing_secret_command_stops_the_run_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "[secrets]\n\
         token = {{ command = [\"sh\", \"-c\", \"echo half-a-v4lue; echo 'pixel/db is not in the password store' >&2; exit 1\"] }}\n\
         {LOCAL}[tasks.t]\nsteps = [\n\
         {{ write-file = {{ path = \"ran\", content = \"x\" }} }},\n\
         {{ exec = {{ cmd = [\"true\"], env = {{ T = \"${{secret.token}}\" }} }} }},\n\
         ]\n"
    );
    std::fs::write(dir.path().join("deploy.toml"), &config).expect("write config");
    let (code, out, err) = deploy_in(dir.path(), &["run", "e", "t"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("deploy.toml:2:9: secret `token`: `sh -c \"echo half-a-v4lue; echo 'pixel/db is not in the password store' >&2; exit 1\"` failed (exit status 1): pixel/db is not in the password store"),
        "{err}"
    );
    assert!(
        !out.contains("half-a-v4lue")
            && !err
                .replace("echo half-a-v4lue", "")
                .contains("half-a-v4lue"),
        "{err}"
    );
    assert!(!dir.path().join("ran").exists(), "a step ran");

    let missing = config.replace("[\"sh\", \"-c\", ", "[\"deploy-test-no-such-program\", ");
    std::fs::write(dir.path().join("deploy.toml"), missing).expect("write config");
    let (code, _, err) = deploy_in(dir.path(), &["run", "e", "t"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("secret `token`: cannot start `deploy-test-no-such-program ")
            && err.contains("No such file or directory"),
        "{err}"
    );
    assert!(!dir.path().join("ran").exists(), "a step ran");
}
