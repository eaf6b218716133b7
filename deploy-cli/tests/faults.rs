//! Faults on three real hosts, injected while `deploy run` runs (at the
//! event it streams, so each lands where it is meant to): a host killed
//! mid-step (`docker kill`), a host cut off the network mid-step, a host
//! whose target directory cannot be written, and every sshd process of
//! the lock host killed between two steps. Each: a clear error naming the
//! host, the other hosts finish or roll back as the task's `on_failure`
//! says, the lock is released, and the same deploy run again converges.
//!
//! Run: `cargo test -p deploy-cli --test faults`

mod example;

use deploy_docker::testing::{Fleet, FleetOptions};
use example::{Example, texts, user_setup};

const CONFIG: &str = r#"
[environments.fleet]
hosts = ["web1", "web2", "web3"]

[tasks.ship]
steps = [
  { write-file = { path = "/srv/app/releases/${release}/HOST", content = "${host}" }, id = "write" },
  { exec = { cmd = ["sleep", "1"] }, local = true, id = "gate" },
  { exec = { cmd = ["sleep", "3"] }, id = "work" },
  { symlink = { link = "/srv/app/current", to = "/srv/app/releases/${release}" }, id = "switch" },
]

[tasks.ship-continue]
on_failure = "continue"
steps = [{ task = "ship" }]

[tasks.ship-rollback]
on_failure = "rollback"
steps = [{ task = "ship" }]
"#;

const HOSTS: [&str; 3] = ["web1", "web2", "web3"];

struct Faults {
    runtime: tokio::runtime::Runtime,
    engine: deploy_docker::Engine,
    example: Example,
    fleet: Fleet,
}

impl Faults {
    /// Where each host's `current` points.
    fn current(&self) -> Vec<String> {
        (0..3)
            .map(|i| {
                self.runtime
                    .block_on(
                        self.fleet
                            .sh(&self.engine, i, "readlink /srv/app/current || true"),
                    )
                    .trim()
                    .to_owned()
            })
            .collect()
    }

    /// Runs `task`, calling `fault` once at the first event `at` matches;
    /// the events and stderr.
    fn run_with(
        &self,
        task: &str,
        at: impl Fn(&serde_json::Value) -> bool,
        fault: impl FnOnce(&Faults),
    ) -> (Vec<serde_json::Value>, String, Option<i32>) {
        let mut fault = Some(fault);
        let mut hit = false;
        let out = self.example.watch(&["run", "fleet", task], |event| {
            if !hit && at(event) {
                hit = true;
                if let Some(fault) = fault.take() {
                    fault(self);
                }
            }
        });
        assert!(hit, "the fault's moment never came");
        let (stdout, stderr) = texts(&out);
        let events = stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (events, stderr, out.status.code())
    }

    /// The lock is free, the same run converges: every host's `current`
    /// at the new release, holding its own name.
    fn converges(&self, task: &str) {
        let (status, _) = self.example.ok(&["lock", "status", "-e", "fleet"]);
        assert!(
            status.contains("is not locked"),
            "the lock was released: {status}"
        );
        let (_, said) = self.example.ok(&["run", "fleet", task]);
        assert!(said.contains("Succeeded"), "{said}");
        let current = self.current();
        assert!(
            current.iter().all(|c| c == &current[0]),
            "one release: {current:?}"
        );
        for (i, name) in HOSTS.iter().enumerate() {
            let host =
                self.runtime
                    .block_on(self.fleet.sh(&self.engine, i, "cat /srv/app/current/HOST"));
            assert_eq!(host, *name);
        }
    }
}

fn failed_on<'a>(events: &'a [serde_json::Value], host: &str) -> Vec<&'a str> {
    events
        .iter()
        .filter(|e| e["event"] == "step-failed" && e["host"] == host)
        .filter_map(|e| e["error"].as_str())
        .collect()
}

fn finished_on(events: &[serde_json::Value], host: &str, step: &str) -> bool {
    events
        .iter()
        .any(|e| e["event"] == "step-finished" && e["host"] == host && e["step"] == step)
}

fn started(host: &'static str, step: &'static str) -> impl Fn(&serde_json::Value) -> bool {
    move |e| e["event"] == "step-started" && e["host"] == host && e["step"] == step
}

#[test]
fn faults_on_three_hosts() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(engine) = runtime.block_on(deploy_docker::testing::engine()) else {
        return;
    };
    let options = FleetOptions {
        setup: format!(
            "{} mkdir -p /srv/app/releases; chown -R deploy: /srv/app;",
            user_setup("deploy")
        ),
        ..FleetOptions::default()
    };
    let (example, fleet) = runtime.block_on(Example::with_config(
        &engine, "faults", CONFIG, &HOSTS, "deploy", &options,
    ));
    let mut faults = Faults {
        runtime,
        engine,
        example,
        fleet,
    };
    faults.example.ok(&["run", "fleet", "ship"]);

    // Killed mid-step, under `continue`: the others finish.
    let (events, _, code) = faults.run_with("ship-continue", started("web2", "work"), |f| {
        f.runtime.block_on(f.fleet.kill(&f.engine, 1));
    });
    assert_ne!(code, Some(0));
    assert!(
        failed_on(&events, "web2")
            .iter()
            .any(|e| e.contains("connection to web2 lost")),
        "web2 failed, saying why: {events:?}"
    );
    assert!(finished_on(&events, "web1", "switch") && finished_on(&events, "web3", "switch"));
    let again = faults
        .runtime
        .block_on(faults.fleet.start_again(&faults.engine, 1));
    if again {
        faults.example.repoint(&faults.fleet);
    }
    faults.converges("ship-continue");

    // Cut off the network mid-step, under `rollback`: the others undo.
    let before = faults.current();
    let (events, _, code) = faults.run_with("ship-rollback", started("web3", "work"), |f| {
        f.runtime.block_on(f.fleet.cut(&f.engine, 2));
    });
    assert_ne!(code, Some(0));
    let errors = failed_on(&events, "web3");
    assert!(
        errors.iter().any(|e| e.contains("connection to web3 lost")),
        "web3 failed, saying why: {events:?}"
    );
    let changed = faults
        .runtime
        .block_on(faults.fleet.reconnect(&faults.engine, 2));
    if changed {
        faults.example.repoint(&faults.fleet);
    }
    assert_eq!(
        faults.current()[..2],
        before[..2],
        "web1 and web2 rolled back"
    );
    faults.converges("ship-rollback");

    // A target directory that cannot be written, under `stop`.
    faults.runtime.block_on(
        faults
            .fleet
            .sh(&faults.engine, 1, "chmod 555 /srv/app/releases"),
    );
    let before = faults.current();
    let out = faults.example.deploy(&["run", "fleet", "ship"]);
    let (stdout, stderr) = texts(&out);
    assert_ne!(out.status.code(), Some(0));
    let said = format!("{stdout}{stderr}");
    assert!(
        said.contains("web2") && said.contains("Permission denied"),
        "names the host and the cause:\n{said}"
    );
    assert_eq!(faults.current(), before, "no host switched");
    faults.runtime.block_on(
        faults
            .fleet
            .sh(&faults.engine, 1, "chmod 755 /srv/app/releases"),
    );
    faults.converges("ship");

    // Every sshd process of the lock host killed between two steps: its
    // connection is made again and the run goes on.
    let (events, stderr, code) = faults.run_with("ship", started("(local)", "gate"), |f| {
        f.runtime.block_on(f.fleet.restart_sshd(&f.engine, 0));
    });
    assert_eq!(code, Some(0), "{stderr}\n{events:?}");
    assert!(HOSTS.iter().all(|h| finished_on(&events, h, "switch")));
    faults.converges("ship");

    let Faults {
        runtime,
        engine,
        fleet,
        ..
    } = faults;
    runtime.block_on(fleet.stop(&engine));
}
