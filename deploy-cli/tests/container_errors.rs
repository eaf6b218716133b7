//! Malformed `docker.*` container settings are refused before anything
//! runs: `deploy plan` and `deploy run` exit 2 at `deploy.toml:LINE:COLUMN`
//! naming the field. A reference to a container no `[containers]` entry
//! defines is refused when the file loads, whichever task is chosen.

use assert_cmd::Command;

/// `deploy plan e t` and `deploy run e t` on `config` both exit 2 with
/// `deploy.toml:{at}: {message}` on stderr and print no plan.
fn refused(config: &str, at: &str, message: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deploy.toml"), config).expect("write config");
    for sub in ["plan", "run"] {
        let out = Command::cargo_bin("deploy")
            .expect("deploy binary")
            .current_dir(dir.path())
            .env_remove("DEPLOY_CONFIG")
            .args([sub, "e", "t"])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sub}: {err}");
        let want = format!("deploy.toml:{at}: {message}");
        assert!(err.contains(&want), "{sub}: expected\n  {want}\nin\n{err}");
        assert!(out.stdout.is_empty(), "{sub}: printed a plan");
    }
}

const ENV: &str = "[environments.e]\nhosts = [\"web1\"]\n";

#[test]
fn a_one_off_needs_an_image_or_a_service() {
    refused(
        &format!("{ENV}[tasks.t]\nsteps = [{{ docker.run = {{ command = [\"pytest\"] }} }}]\n"),
        "4:12",
        "invalid `docker.run` step: name the `image` to run (or a compose `service` with its `compose` file)",
    );
    refused(
        &format!(
            "{ENV}[tasks.t]\nsteps = [{{ docker.run = {{ service = \"db\", command = [\"backup\"] }} }}]\n"
        ),
        "4:12",
        "invalid `docker.run` step: `service` needs `compose`",
    );
    refused(
        &format!(
            "{ENV}[tasks.t]\nsteps = [{{ docker.run = {{ image = \"shop/web:1\", rm = \"yes\" }} }}]\n"
        ),
        "4:54",
        "invalid `docker.run` step: rm: invalid type: string \"yes\", expected a boolean",
    );
}
