//! The `service` step against a real supervisord of its own (Debian's
//! `supervisor`), driven through `supervisorctl -c`: start (already done
//! when it runs), restart (a new process), reload (SIGHUP, still
//! running), stop (already done when stopped), and a program that cannot
//! start: the step fails with supervisor's words and the program's last
//! stderr lines.
//!
//! Run: `cargo test -p deploy-core --test service`

use deploy_core::steps::{Service, ServiceAction, ServiceManager};
use deploy_core::testing::TestContext;
use deploy_core::testing::supervisor::Supervisord;
use deploy_core::{LocalTarget, Step, StepError};

const PROGRAMS: &str = "[program:app]\ncommand=sleep 300\nautostart=false\nstartsecs=1\nstopwaitsecs=2\n\n\
    [program:broken]\ncommand=sh -c 'echo \"cannot read /etc/app.ini\" >&2; exit 1'\nautostart=false\n\
    startsecs=1\nstartretries=0\n";

fn step(supervisord: &Supervisord, name: &str, action: ServiceAction) -> Service {
    Service::new(name, ServiceManager::Supervisor, action)
        .conf(supervisord.conf().display().to_string())
}

fn pid(supervisord: &Supervisord) -> String {
    let out = std::process::Command::new("supervisorctl")
        .arg("-c")
        .arg(supervisord.conf())
        .args(["pid", "app"])
        .output()
        .expect("supervisorctl");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn start_restart_reload_stop_under_supervisor() {
    let Some(supervisord) = Supervisord::start(PROGRAMS) else {
        return;
    };
    let test = TestContext::new(LocalTarget::new("app1"));
    let ctx = test.ctx();

    let start = step(&supervisord, "app", ServiceAction::Start);
    assert!(!start.is_satisfied(&ctx).await.expect("status"));
    start.apply(&ctx).await.expect("starts");
    assert!(
        start.is_satisfied(&ctx).await.expect("status"),
        "a running app is started"
    );
    let first = pid(&supervisord);

    let restart = step(&supervisord, "app", ServiceAction::Restart);
    assert!(!restart.is_satisfied(&ctx).await.expect("status"));
    restart.apply(&ctx).await.expect("restarts");
    let second = pid(&supervisord);
    assert_ne!(first, second, "a new process");

    step(&supervisord, "app", ServiceAction::Reload)
        .apply(&ctx)
        .await
        .expect("reloads");
    assert!(start.is_satisfied(&ctx).await.expect("status"));

    let stop = step(&supervisord, "app", ServiceAction::Stop);
    assert!(!stop.is_satisfied(&ctx).await.expect("status"));
    stop.apply(&ctx).await.expect("stops");
    assert!(
        stop.is_satisfied(&ctx).await.expect("status"),
        "a stopped app is stopped"
    );
}

#[tokio::test]
async fn a_program_that_cannot_start_fails_with_supervisors_words() {
    let Some(supervisord) = Supervisord::start(PROGRAMS) else {
        return;
    };
    let test = TestContext::new(LocalTarget::new("app1"));
    let err = step(&supervisord, "broken", ServiceAction::Start)
        .apply(&test.ctx())
        .await
        .expect_err("cannot start");
    let StepError::Failed(said) = &err else {
        panic!("unexpected: {err:?}");
    };
    assert!(said.contains("broken"), "{said}");
    assert!(said.contains("ERROR") || said.contains("FATAL"), "{said}");
    assert!(
        said.contains("cannot read /etc/app.ini"),
        "the program's stderr: {said}"
    );

    let unknown = step(&supervisord, "nosuch", ServiceAction::Start)
        .apply(&test.ctx())
        .await
        .expect_err("no such program");
    assert!(unknown.to_string().contains("no such process"), "{unknown}");
}

/// systemd does not run as PID 1 here: the commands a systemd-managed
/// service gets are checked on a fake host (`systemctl start`, then
/// `is-active` until it says `active`), and a unit that
/// fails shows `systemctl status`.
#[tokio::test]
async fn systemd_gets_systemctl() {
    use deploy_core::testing::{FakeTarget, Rule};
    let web1 = FakeTarget::new("web1");
    // The newest rule that matches wins: `inactive` twice, then `active`.
    web1.rule(Rule::new(["systemctl", "is-active"]).stdout("active"));
    web1.rule(
        Rule::new(["systemctl", "is-active"])
            .stdout("inactive")
            .exit(3)
            .times(2),
    );
    let test = TestContext::new(web1);
    let start = Service::new("app", ServiceManager::Systemd, ServiceAction::Start).sudo();
    assert!(!start.is_satisfied(&test.ctx()).await.expect("is-active"));
    start.apply(&test.ctx()).await.expect("starts");
    let commands = test.target().journal().commands();
    assert_eq!(
        commands,
        [
            "web1: systemctl is-active app",
            "web1: systemctl start app",
            "web1: systemctl is-active app",
            "web1: systemctl is-active app",
        ]
    );

    let web2 = FakeTarget::new("web2");
    web2.rule(
        Rule::new(["systemctl", "is-active"])
            .stdout("failed")
            .exit(3),
    );
    web2.rule(
        Rule::new(["systemctl", "status"])
            .stdout("app.service: Main process exited, code=exited, status=1/FAILURE"),
    );
    let test = TestContext::new(web2);
    let err = Service::new("app", ServiceManager::Systemd, ServiceAction::Restart)
        .apply(&test.ctx())
        .await
        .expect_err("fails");
    let said = err.to_string();
    assert!(
        said.contains("systemctl is-active app: failed") && said.contains("status=1/FAILURE"),
        "{said}"
    );
}
