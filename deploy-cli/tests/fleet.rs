//! Several hosts that are separate machines: three containers of a Debian
//! base (debootstrap, made once per machine) on a private network, each
//! its own sshd, address, filesystem and host key (known beforehand, so
//! host keys are checked strictly). A `deploy run` over SSH writes on
//! each what only that host has, and a release lands on all three.
//!
//! Run: `cargo test -p deploy-cli --test fleet`

use std::path::Path;

use assert_cmd::Command;

#[test]
fn three_hosts_with_their_own_filesystems() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(deploy_docker::testing::engine()) else {
        return;
    };
    let test = format!("fleet-{}", std::process::id());
    let dir = tempfile::tempdir().expect("tempdir");
    let key = deploy_ssh::testing::new_key();
    let key_path = dir.path().join("id_fleet");
    deploy_ssh::testing::write_key(&key_path, &key);
    let public = key.public_key().to_openssh().expect("public key");
    let fleet = runtime.block_on(deploy_docker::testing::Fleet::start(
        &engine, &test, 3, &public,
    ));
    let hosts: Vec<String> = fleet.hosts.iter().map(|h| h.address.clone()).collect();
    std::fs::write(dir.path().join("known_hosts"), fleet.known_hosts()).expect("known_hosts");
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            r#"[ssh]
user = "root"
identity_files = ["{key}"]
known_hosts = "{known}"

[environments.fleet]
hosts = [{hosts}]

[tasks.deploy]
steps = [
  {{ write-file = {{ path = "/srv/app/releases/${{release}}/HOST", content = "${{host}}" }} }},
  {{ symlink = {{ link = "/srv/app/current", to = "/srv/app/releases/${{release}}" }} }},
]
"#,
            key = key_path.display(),
            known = dir.path().join("known_hosts").display(),
            hosts = hosts
                .iter()
                .map(|h| format!("\"{h}\""))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    )
    .expect("config");
    let out = deploy(dir.path(), &["run", "fleet", "deploy"]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("3 hosts: 2 done"), "{said}");
    for (i, host) in fleet.hosts.iter().enumerate() {
        let read = runtime.block_on(fleet.sh(&engine, i, "cat /srv/app/current/HOST"));
        assert_eq!(read, host.address, "each host its own file");
    }
    let releases = deploy(dir.path(), &["releases", "fleet", "--json"]);
    let line: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&releases.stdout)
            .lines()
            .next()
            .expect("a release"),
    )
    .expect("JSON");
    assert_eq!(
        line["records"].as_array().map(Vec::len),
        Some(3),
        "a record on each host"
    );
    runtime.block_on(fleet.stop(&engine));
}

fn deploy(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("deploy")
        .expect("deploy binary")
        .current_dir(dir)
        .env_remove("DEPLOY_CONFIG")
        .env("DEPLOY_STATE_DIR", "~/.local/state/deploy-fleet-test")
        .args(args)
        .output()
        .expect("runs")
}
