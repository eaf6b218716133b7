//! The RandoPony guide (seeds/003, `examples/randopony`) end to end on a
//! real host: a fleet host with its own sshd, a `randopony` login and
//! supervisor, named `randopony.example` in `~/.ssh/config` as a user
//! would name it. Deployed, upgraded, rolled back, broken (a new version
//! failing its health check is rolled back and the old one answers),
//! stopped and started, its log tailed, and promoted to production twice
//! (production keeps its own database). Checked from outside: HTTP to the
//! host's address, files read through the engine.
//!
//! Run: `cargo test -p deploy-cli --test randopony`

mod example;

use deploy_docker::testing::{FleetOptions, get_at};
use example::{Example, texts, user_setup};

const APP: &str = "/home/randopony/webapps/randopony-staging";
const PROD: &str = "/home/randopony/webapps/randopony-production";

#[test]
fn randopony_staging_to_production() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(deploy_docker::testing::engine()) else {
        return;
    };
    let options = FleetOptions {
        setup: user_setup("randopony"),
        ..FleetOptions::default()
    };
    let (example, fleet) = runtime.block_on(Example::start(
        &engine,
        "randopony",
        &["randopony.example"],
        "randopony",
        &options,
    ));
    let example = example.env("RANDOPONY_ADMIN_PASSWORD", "s3cret-pony");
    let address = fleet.hosts[0].address.clone();
    let page = |port: u16| runtime.block_on(get_at(&address, port, "/"));
    let sh = |script: &str| runtime.block_on(fleet.sh(&engine, 0, script));
    let as_user = |script: &str| sh(&format!("runuser -u randopony -- sh -c '{script}'"));
    let add_rider = |db: &str, name: &str| {
        as_user(&format!(
            "python3 -c \"import sqlite3; c = sqlite3.connect(\\\"{db}\\\"); c.execute(\\\"INSERT INTO riders VALUES (?)\\\", (\\\"{name}\\\",)); c.commit()\""
        ))
    };

    // The task list and the default task, as `fab -l` and `fab`.
    let (tasks, _) = example.ok(&["tasks"]);
    for task in [
        "deploy *",
        "rsync_code",
        "install_app",
        "init_db",
        "restart_app",
        "stop_app",
    ] {
        assert!(tasks.contains(task), "{task} in\n{tasks}");
    }
    example.ok(&["run"]);
    assert_eq!(page(6543), "randopony 1.0 (staging) riders=0\n");
    assert_eq!(
        sh(&format!(
            "stat -c '%a %U' {APP}/shared/private-credentials.ini"
        )),
        "400 randopony\n",
        "credentials readable by the owner only"
    );
    assert!(sh(&format!("cat {APP}/bin/start")).contains(&format!("{APP}/staging.ini")));
    assert!(
        !sh("ps -eo args").contains("s3cret-pony"),
        "the secret on no command line"
    );
    add_rider(&format!("{APP}/shared/RandoPony-staging.sqlite"), "Ada");
    add_rider(&format!("{APP}/shared/RandoPony-staging.sqlite"), "Bea");

    // An upgrade: a new release directory, the database kept.
    example.change("randopony/VERSION", "1.1\n", "1.1");
    example.ok(&["run"]);
    assert_eq!(page(6543), "randopony 1.1 (staging) riders=2\n");
    assert_eq!(sh(&format!("ls {APP}/releases | wc -l")), "2\n");

    // Rollback: the release before, its code and its start again.
    example.ok(&["rollback", "--yes"]);
    assert_eq!(page(6543), "randopony 1.0 (staging) riders=2\n");

    // A version failing its health check: the run fails saying why, is
    // rolled back, and the version that ran before answers again.
    let app = example.read("randopony/randopony.py");
    example.change(
        "randopony/randopony.py",
        &app.replace("HEALTHY = True", "HEALTHY = False"),
        "1.1, broken",
    );
    let out = example.deploy(&["run"]);
    let (stdout, stderr) = texts(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let said = format!("{stdout}\n{stderr}");
    assert!(said.contains("500"), "says the check got 500:\n{said}");
    assert!(
        said.contains("rolling back") && said.contains("RolledBack"),
        "says it rolled back:\n{said}"
    );
    assert_eq!(page(6543), "randopony 1.0 (staging) riders=2\n");
    example.change("randopony/randopony.py", &app, "1.1, mended");
    example.ok(&["run"]);
    assert_eq!(page(6543), "randopony 1.1 (staging) riders=2\n");

    // stop_app, start_app, the app's log (fab tail_app_log).
    example.ok(&["run", "staging", "stop_app"]);
    assert!(
        std::net::TcpStream::connect((address.as_str(), 6543)).is_err(),
        "stopped"
    );
    example.ok(&["run", "staging", "start_app"]);
    assert_eq!(page(6543), "randopony 1.1 (staging) riders=2\n");
    let (logs, _) = example.ok(&["logs", "staging", "app", "-n", "20"]);
    assert!(
        logs.contains("randopony 1.1 (staging) on port 6543"),
        "the app's log:\n{logs}"
    );

    // Promotion, after confirmation: production runs staging's release
    // with its own ini and database.
    example.ok(&["promote", "staging", "production", "--yes"]);
    assert_eq!(page(6544), "randopony 1.1 (production) riders=0\n");
    add_rider(&format!("{PROD}/shared/RandoPony-production.sqlite"), "Cyd");
    example.change("randopony/VERSION", "1.2\n", "1.2");
    example.ok(&["run"]);
    example.ok(&["promote", "staging", "production", "--yes"]);
    assert_eq!(
        page(6544),
        "randopony 1.2 (production) riders=1\n",
        "production kept its rows"
    );
    assert_eq!(page(6543), "randopony 1.2 (staging) riders=2\n");
    assert!(
        sh(&format!("ls {APP}/releases | wc -l")).trim() == "3",
        "three releases kept"
    );
    runtime.block_on(fleet.stop(&engine));
}
