//! `deploy status` through the real binary: a container deploy on this
//! machine's engine (`transport = "local"`) shows the live release and the
//! container as it runs, then what differs once it is stopped or removed
//! by hand (exit 1); over SSH, hosts are asked at once, each within
//! `--timeout`: a host that never answers (a socket that accepts and says
//! nothing) and one that refuses are reported without holding up the host
//! that answers.
//!
//! Run: `cargo test -p deploy-cli --test status`

use std::path::Path;
use std::process::Output;

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

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The status line of `host`, as JSON.
fn host_line(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().next().expect("a line per host")).expect("JSON")
}

#[test]
fn a_container_deploy_and_what_differs_from_it() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(deploy_docker::testing::engine()) else {
        return;
    };
    let image = runtime.block_on(deploy_docker::testing::app_image(&engine, "1", true));
    let pid = std::process::id();
    let (container, test) = (format!("deploy-test-status-{pid}"), format!("status-{pid}"));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            r#"[environments.e]
hosts = ["localhost"]
transport = "local"

[tasks.deploy]
steps = [{{ docker.recreate = {{ name = "{container}", image = "{image}", version = "1.0", labels = {{ "deploy.test" = "{test}" }}, stop_grace = "1s", wait = "30s" }} }}]
"#
        ),
    )
    .expect("config");
    let run = deploy(dir.path(), &["run", "e", "deploy"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));

    let out = deploy(dir.path(), &["status", "e", "--json"]);
    let line = host_line(&out);
    let ours: Vec<&serde_json::Value> = line["containers"]["Ok"]
        .as_array()
        .expect("containers")
        .iter()
        .filter(|c| c["name"] == container.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{line}");
    assert_eq!(ours[0]["state"], "running");
    assert_eq!(ours[0]["version"], "1.0");
    assert_eq!(ours[0]["restarts"], 0);
    assert!(line["live"]["id"].is_string(), "{line}");
    assert_eq!(line["differs"], serde_json::json!([]), "{line}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = deploy(dir.path(), &["status", "e"]);
    let said = text(&shown);
    assert!(
        said.contains("live release") && said.contains(&container) && said.contains("version 1.0"),
        "{said}"
    );

    // Replaced by hand with another image: the status says so.
    let other = runtime.block_on(deploy_docker::testing::app_image(&engine, "2", true));
    runtime.block_on(async {
        engine
            .stop(&container, std::time::Duration::from_secs(1))
            .await
            .expect("stop");
        engine.remove(&container).await.expect("remove");
        let mut spec = deploy_docker::ContainerSpec::new(container.clone(), other.clone());
        spec.labels
            .insert(deploy_docker::testing::TEST_LABEL.to_owned(), test.clone());
        engine
            .run(&spec)
            .await
            .expect("a hand-made replacement runs");
    });
    let replaced = deploy(dir.path(), &["status", "e"]);
    assert_eq!(replaced.status.code(), Some(1));
    assert!(
        text(&replaced).contains(&format!(
            "differs from the release: {container} runs {other}"
        )),
        "{}",
        text(&replaced)
    );
    runtime.block_on(async {
        engine
            .stop(&container, std::time::Duration::from_secs(1))
            .await
            .expect("stop");
    });
    let stopped = deploy(dir.path(), &["status", "e"]);
    assert_eq!(stopped.status.code(), Some(1));
    assert!(
        text(&stopped).contains(&format!("differs from the release: {container} is exited")),
        "{}",
        text(&stopped)
    );

    runtime.block_on(async {
        engine.remove(&container).await.expect("remove");
    });
    let gone = deploy(dir.path(), &["status", "e"]);
    assert!(
        text(&gone).contains(&format!("{container} is not there")),
        "{}",
        text(&gone)
    );
    runtime.block_on(deploy_docker::testing::clean_up(&engine, &test));
}

#[test]
fn a_silent_host_does_not_hold_up_the_others() {
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    // Accepts connections and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let refusing = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            r#"[ssh]
user = "{user}"
identity_files = ["{key}"]
known_hosts = "{known}"
host_keys = "accept-new"

[environments.prod]
hosts = ["127.0.0.1:{silent_port}", "127.0.0.2:{port}", "127.0.0.1:{refusing}"]
"#,
            user = deploy_ssh::testing::user(),
            key = sshd.user_key_path.display(),
            known = dir.path().join("known_hosts").display(),
            port = sshd.port,
        ),
    )
    .expect("config");
    let out = deploy(dir.path(), &["status", "prod", "--timeout", "3s"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    let answered = said
        .find(&format!("127.0.0.2:{}:", sshd.port))
        .expect("the answering host's lines");
    let silent_line = said
        .find(&format!(
            "127.0.0.1:{silent_port}: unreachable: no answer within 3s"
        ))
        .expect("the silent host's line");
    assert!(answered < silent_line, "the answering host first: {said}");
    assert!(said.contains("no live release recorded here"), "{said}");
    assert!(
        said.contains(&format!("127.0.0.1:{refusing}: unreachable")),
        "{said}"
    );
    drop(silent);
}

/// A service a release manages under a private supervisord: shown as its
/// manager says it, and a difference once it is stopped by hand.
#[test]
fn a_supervised_service_and_its_state() {
    let Some(supervisord) = deploy_core::testing::supervisor::Supervisord::start(
        "[program:app]\ncommand=sleep 300\nautostart=false\nstartsecs=1\nstopwaitsecs=2\n",
    ) else {
        return;
    };
    let conf = supervisord.conf();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("deploy.toml"),
        format!(
            r#"[environments.e]
hosts = ["localhost"]
transport = "local"

[tasks.start]
steps = [{{ service = {{ name = "app", manager = "supervisor", action = "start", conf = "{}" }} }}]
"#,
            conf.display()
        ),
    )
    .expect("config");
    let run = deploy(dir.path(), &["run", "e", "start"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let out = deploy(dir.path(), &["status", "e"]);
    let said = text(&out);
    assert!(
        said.contains("service app (supervisor): app RUNNING"),
        "{said}"
    );
    assert!(!said.contains("differs"), "{said}");

    let stop = std::process::Command::new("supervisorctl")
        .arg("-c")
        .arg(&conf)
        .args(["stop", "app"])
        .output()
        .expect("supervisorctl");
    assert!(stop.status.success());
    let out = deploy(dir.path(), &["status", "e"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("differs from the release: service app is not running (app STOPPED"),
        "{said}"
    );
}
