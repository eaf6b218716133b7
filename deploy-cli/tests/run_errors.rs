//! A failed step's error reaches the user with its causes, once: the
//! `FAILED` line, then a `caused by:` line under it with its host; the
//! summary names the step and the headline only. Nothing here needs a peer:
//! the engine socket is missing on purpose.

use assert_cmd::Command;

#[test]
fn a_failed_step_prints_its_cause_chain_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("no-engine.sock");
    let config = format!(
        "[environments.e]\nhosts = [\"localhost\"]\ntransport = \"local\"\n\n[tasks.t]\nsteps = [{{ docker.pull = {{ image = \"nginx:1\", engine = \"unix://{}\" }} }}]\n",
        socket.display()
    );
    std::fs::write(dir.path().join("deploy.toml"), config).expect("write config");
    let out = Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(dir.path())
        .env_remove("DEPLOY_CONFIG")
        .args(["run", "e", "t"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
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
