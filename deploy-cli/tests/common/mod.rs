//! What the CLI tests of bad input share: running `deploy plan` and
//! `deploy run` on a config that must be refused.

use assert_cmd::Command;

/// Runs `deploy plan e t` and `deploy run e t` on `config` in a fresh
/// directory; both must exit 2 with `deploy.toml:{at}: {message}` on stderr
/// and print no plan. Returns each command's name and stderr.
pub(crate) fn refused_by_both(
    config: &str,
    at: &str,
    message: &str,
) -> Vec<(&'static str, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deploy.toml"), config).expect("write config");
    ["plan", "run"]
        .into_iter()
        .map(|sub| {
            let out = Command::cargo_bin("deploy")
                .expect("deploy binary")
                .current_dir(dir.path())
                .env_remove("DEPLOY_CONFIG")
                .args([sub, "e", "t"])
                .output()
                .expect("runs");
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(out.status.code(), Some(2), "{sub}: {err}");
            let want = format!("deploy.toml:{at}: {message}");
            assert!(err.contains(&want), "{sub}: expected\n  {want}\nin\n{err}");
            assert!(out.stdout.is_empty(), "{sub}: printed a plan");
            (sub, err)
        })
        .collect()
}
