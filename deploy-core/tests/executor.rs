//! Integration tests of the [`Executor`] against fake targets: order within a
//! host, overlap across hosts, rollout batches, failure policies, roll back,
//! barriers, `once` and `needs`, steps on the deploying machine, timeouts,
//! retries, interrupts, approval gates, secret masking and idempotency.
//!
//! Order and overlap are read from a [`Journal`] shared by every fake and from
//! the recorded events, never from clocks. Delays are real but short: tokio's
//! `test-util` feature (needed for `start_paused`) is not enabled for this
//! crate's tests, and every assertion here holds whatever the machine's speed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use deploy_core::event::{Event, LOCAL_LANE, RecordingSink};
use deploy_core::plan::{Condition, PlanBuilder};
use deploy_core::report::{Outcome, RollbackStatus, RunReport, StepReport, StepStatus};
use deploy_core::step::Unattended;
use deploy_core::steps::{Approve, Exec, Service, ServiceAction, ServiceManager, Symlink};
use deploy_core::target::DiscardOutput;
use deploy_core::testing::{Call, Failure, FakeTarget, Journal, Rule};
use deploy_core::{
    Command, Executor, FailurePolicy, Plan, PlannedStep, Rollout, RunValues, Secret, Target,
    Targets, Text,
};
use tokio_util::sync::CancellationToken;

/// How long any run may take before a test calls it hung.
const HUNG: Duration = Duration::from_secs(30);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A step running the command `name`, with `name` as its id.
fn exec(name: &str) -> PlannedStep {
    PlannedStep::new(Exec::argv([name])).id(name)
}

/// A plan for `hosts` (all with the role `web`); add steps and policies.
fn plan(hosts: &[&str]) -> PlanBuilder {
    hosts
        .iter()
        .fold(Plan::builder("staging", "deploy"), |b, h| {
            b.host(*h, ["web"])
        })
}

/// Fake hosts and a fake deploying machine, all writing to one journal.
struct Fleet {
    journal: Arc<Journal>,
    local: Arc<FakeTarget>,
    hosts: BTreeMap<String, Arc<FakeTarget>>,
}

impl Fleet {
    fn new(names: &[&str]) -> Self {
        let journal = Journal::shared();
        let fake = |name: &str| Arc::new(FakeTarget::new(name).with_journal(journal.clone()));
        Fleet {
            local: fake("local"),
            hosts: names.iter().map(|n| (n.to_string(), fake(n))).collect(),
            journal,
        }
    }

    fn host(&self, name: &str) -> &FakeTarget {
        self.hosts.get(name).expect("a host of the fleet")
    }

    /// Adds `rule` to every host.
    fn rule_all(&self, rule: Rule) {
        for host in self.hosts.values() {
            host.rule(rule.clone());
        }
    }

    fn targets(&self) -> Targets {
        self.hosts
            .iter()
            .map(|(name, t)| (name.clone(), t.clone() as Arc<dyn Target>))
            .collect()
    }

    fn executor(&self) -> Executor {
        Executor::new(self.local.clone(), RunValues::new("r1"))
    }

    async fn run(&self, plan: &Plan) -> (RunReport, Vec<Event>) {
        self.run_with(&self.executor(), plan).await
    }

    async fn run_with(&self, executor: &Executor, plan: &Plan) -> (RunReport, Vec<Event>) {
        run_on(executor, plan, &self.targets(), HUNG)
            .await
            .expect("the run ends")
    }

    /// The commands `host` started, as argv lines, in order.
    fn commands_on(&self, host: &str) -> Vec<String> {
        self.journal
            .entries()
            .into_iter()
            .filter_map(|(h, call)| match call {
                Call::RunStarted(argv) if h == host => Some(argv.join(" ")),
                _ => None,
            })
            .collect()
    }

    /// Where in the journal `host` first made a call matching `want`.
    fn index(&self, host: &str, want: impl Fn(&Call) -> bool) -> usize {
        self.journal
            .entries()
            .iter()
            .position(|(h, call)| h == host && want(call))
            .unwrap_or_else(|| panic!("no such call on {host}: {:#?}", self.journal.entries()))
    }

    /// Where `host` started `program`.
    fn started(&self, host: &str, program: &str) -> usize {
        self.index(
            host,
            |c| matches!(c, Call::RunStarted(a) if a[0] == program),
        )
    }

    /// Where `host` finished `program`.
    fn ended(&self, host: &str, program: &str) -> usize {
        self.index(host, |c| matches!(c, Call::RunEnded(a) if a[0] == program))
    }

    /// The commands started anywhere after journal position `index`.
    fn starts_after(&self, index: usize) -> Vec<(String, Call)> {
        self.journal
            .entries()
            .into_iter()
            .skip(index + 1)
            .filter(|(_, c)| matches!(c, Call::RunStarted(_)))
            .collect()
    }
}

/// Runs `plan`, or gives `None` when it takes longer than `limit`.
async fn run_on(
    executor: &Executor,
    plan: &Plan,
    targets: &Targets,
    limit: Duration,
) -> Option<(RunReport, Vec<Event>)> {
    let sink = RecordingSink::default();
    let report = tokio::time::timeout(limit, executor.run(plan, targets, &sink))
        .await
        .ok()?;
    Some((report, sink.events()))
}

/// The report of step `id` on `lane`.
fn step<'a>(report: &'a RunReport, lane: &str, id: &str) -> &'a StepReport {
    report
        .host(lane)
        .and_then(|h| h.steps.iter().find(|s| s.step == id))
        .unwrap_or_else(|| panic!("no step {id} on {lane} in {report:#?}"))
}

/// The status of every step on `lane`, in plan order.
fn statuses(report: &RunReport, lane: &str) -> Vec<(String, StepStatus)> {
    report
        .host(lane)
        .unwrap_or_else(|| panic!("no lane {lane} in {report:#?}"))
        .steps
        .iter()
        .map(|s| (s.step.clone(), s.status))
        .collect()
}

/// `(id, status)` pairs, for comparing with [`statuses`].
fn expect(pairs: &[(&str, StepStatus)]) -> Vec<(String, StepStatus)> {
    pairs.iter().map(|(id, s)| (id.to_string(), *s)).collect()
}

/// Where the first event matching `want` is.
fn event_index(events: &[Event], want: impl Fn(&Event) -> bool) -> usize {
    events
        .iter()
        .position(want)
        .unwrap_or_else(|| panic!("no such event in {events:#?}"))
}

/// The `StepFailed` events of `step`, as `(attempt, will_retry)`.
fn failures(events: &[Event], id: &str) -> Vec<(u32, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StepFailed {
                step,
                attempt,
                will_retry,
                ..
            } if step == id => Some((*attempt, *will_retry)),
            _ => None,
        })
        .collect()
}

/// Steps run in plan order on each host, each after the previous one ended.
#[tokio::test]
async fn steps_run_in_plan_order_on_each_host() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.host("web1").rule(Rule::new(["a"]).delay(ms(40)));
    fleet.host("web2").rule(Rule::new(["b"]).delay(ms(40)));
    let plan = plan(&["web1", "web2"])
        .step(exec("a"))
        .step(exec("b"))
        .step(exec("c"))
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    for host in ["web1", "web2"] {
        assert_eq!(fleet.commands_on(host), ["a", "b", "c"]);
        assert!(fleet.ended(host, "a") < fleet.started(host, "b"));
        assert!(fleet.ended(host, "b") < fleet.started(host, "c"));
        let done = StepStatus::Done;
        assert_eq!(
            statuses(&report, host),
            expect(&[("a", done), ("b", done), ("c", done)])
        );
        let started: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::StepStarted { host: h, step, .. } if h == host => Some(step.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(started, ["a", "b", "c"]);
    }
}

/// With `AllAtOnce`, both hosts start their first command before either ends.
#[tokio::test]
async fn hosts_overlap_when_rolled_out_all_at_once() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.rule_all(Rule::new(["deploy"]).delay(ms(100)));
    let plan = plan(&["web1", "web2"])
        .step(exec("deploy"))
        .rollout(Rollout::AllAtOnce)
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    let last_start = fleet
        .started("web1", "deploy")
        .max(fleet.started("web2", "deploy"));
    let first_end = fleet
        .ended("web1", "deploy")
        .min(fleet.ended("web2", "deploy"));
    assert!(
        last_start < first_end,
        "no overlap: {:#?}",
        fleet.journal.entries()
    );
}

/// With `Batches(1)`, the second host starts nothing before the first finished all its steps.
#[tokio::test]
async fn one_host_at_a_time_with_batches_of_one() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.rule_all(Rule::new(["a"]).delay(ms(30)));
    fleet.rule_all(Rule::new(["b"]).delay(ms(30)));
    let plan = plan(&["web1", "web2"])
        .step(exec("a"))
        .step(exec("b"))
        .rollout(Rollout::Batches(1))
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    assert!(fleet.ended("web1", "b") < fleet.started("web2", "a"));
    assert_eq!(fleet.commands_on("web2"), ["a", "b"]);
    let batches: Vec<(usize, Vec<String>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::BatchStarted { batch, hosts } => Some((*batch, hosts.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        batches,
        [(1, vec!["web1".to_string()]), (2, vec!["web2".to_string()])]
    );
}

/// With `Batches(2)` and four hosts, hosts of a batch overlap and the second batch waits for the first.
#[tokio::test]
async fn batches_of_two_overlap_inside_and_follow_each_other() {
    let hosts = ["web1", "web2", "web3", "web4"];
    let fleet = Fleet::new(&hosts);
    fleet.rule_all(Rule::new(["a"]).delay(ms(40)));
    fleet.rule_all(Rule::new(["b"]).delay(ms(40)));
    let plan = plan(&hosts)
        .step(exec("a"))
        .step(exec("b"))
        .rollout(Rollout::Batches(2))
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    assert!(fleet.started("web2", "a") < fleet.ended("web1", "a"));
    assert!(fleet.started("web4", "a") < fleet.ended("web3", "a"));
    let first_batch_end = fleet.ended("web1", "b").max(fleet.ended("web2", "b"));
    let second_batch_start = fleet.started("web3", "a").min(fleet.started("web4", "a"));
    assert!(first_batch_end < second_batch_start);
    let batches = events
        .iter()
        .filter(|e| matches!(e, Event::BatchStarted { .. }))
        .count();
    assert_eq!(batches, 2);
    for host in hosts {
        assert_eq!(fleet.commands_on(host), ["a", "b"]);
    }
}

/// `Stop`: a failing step ends the run as Failed; no step starts anywhere afterwards and the error carries the stderr tail.
#[tokio::test]
async fn stop_policy_starts_nothing_after_a_failure() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.host("web1").rule(
        Rule::new(["fetch"])
            .delay(ms(50))
            .stderr("fetching r1")
            .stderr("disk full")
            .exit(1),
    );
    fleet.host("web2").rule(Rule::new(["fetch"]).delay(ms(250)));
    let plan = plan(&["web1", "web2"])
        .step(exec("fetch"))
        .step(exec("restart"))
        .step(exec("notify"))
        .on_failure(FailurePolicy::Stop)
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    let failed = step(&report, "web1", "fetch");
    assert_eq!(failed.status, StepStatus::Failed);
    let error = failed.error.as_deref().expect("an error");
    assert!(error.contains("disk full"), "{error}");
    assert!(error.contains("exit code 1"), "{error}");
    let not_run = StepStatus::NotRun;
    assert_eq!(
        statuses(&report, "web1"),
        expect(&[
            ("fetch", StepStatus::Failed),
            ("restart", not_run),
            ("notify", not_run)
        ])
    );
    // web2 was already running its step: it finishes, then goes no further.
    assert_eq!(
        statuses(&report, "web2"),
        expect(&[
            ("fetch", StepStatus::Done),
            ("restart", not_run),
            ("notify", not_run)
        ])
    );
    let failure = fleet.ended("web1", "fetch");
    assert!(fleet.ended("web2", "fetch") > failure);
    assert_eq!(fleet.starts_after(failure), []);
    assert_eq!(failures(&events, "fetch"), [(1, false)]);
}

/// `Stop`: a host waiting at a barrier when another host fails gives up instead of waiting forever.
#[tokio::test]
async fn stop_policy_releases_hosts_waiting_at_a_barrier() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet
        .host("web1")
        .rule(Rule::new(["fetch"]).delay(ms(60)).exit(1));
    let plan = plan(&["web1", "web2"])
        .step(exec("fetch"))
        .step(exec("restart").barrier())
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(
        statuses(&report, "web2"),
        expect(&[("fetch", StepStatus::Done), ("restart", StepStatus::NotRun)])
    );
    assert!(fleet.ended("web2", "fetch") < fleet.ended("web1", "fetch"));
    assert_eq!(fleet.commands_on("web2"), ["fetch"]);
}

/// `Stop` with batches: after a failure in the first batch the next batch does not start.
#[tokio::test]
async fn stop_policy_skips_later_batches() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.host("web1").rule(Rule::new(["b"]).exit(1));
    let plan = plan(&["web1", "web2"])
        .step(exec("a"))
        .step(exec("b"))
        .rollout(Rollout::Batches(1))
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(
        statuses(&report, "web2"),
        expect(&[("a", StepStatus::NotRun), ("b", StepStatus::NotRun)])
    );
    assert!(fleet.commands_on("web2").is_empty());
    let batches = events
        .iter()
        .filter(|e| matches!(e, Event::BatchStarted { .. }))
        .count();
    assert_eq!(batches, 1);
}

/// `Continue`: the failed host stops, every other host finishes all its steps.
#[tokio::test]
async fn continue_policy_lets_other_hosts_finish() {
    let fleet = Fleet::new(&["web1", "web2", "web3"]);
    fleet
        .host("web1")
        .rule(Rule::new(["fetch"]).stderr("no space").exit(1));
    fleet
        .host("web2")
        .rule(Rule::new(["restart"]).delay(ms(50)));
    let plan = plan(&["web1", "web2", "web3"])
        .step(exec("fetch"))
        .step(exec("restart"))
        .step(exec("notify"))
        .on_failure(FailurePolicy::Continue)
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(
        statuses(&report, "web1"),
        expect(&[
            ("fetch", StepStatus::Failed),
            ("restart", StepStatus::NotRun),
            ("notify", StepStatus::NotRun)
        ])
    );
    for host in ["web2", "web3"] {
        let done = StepStatus::Done;
        assert_eq!(
            statuses(&report, host),
            expect(&[("fetch", done), ("restart", done), ("notify", done)])
        );
        assert_eq!(fleet.commands_on(host), ["fetch", "restart", "notify"]);
    }
    assert_eq!(fleet.commands_on("web1"), ["fetch"]);
}

/// `Rollback`: a restart is undone by restarting again after the other
/// undos (Capistrano's rollback: point `current` back, then restart), so
/// the service runs what they put back.
#[tokio::test]
async fn rollback_restarts_a_service_after_the_rest_is_put_back() {
    let fleet = Fleet::new(&["web1"]);
    fleet.rule_all(Rule::new(["readlink"]).stdout("/srv/app/releases/r0"));
    fleet.rule_all(
        Rule::new(["supervisorctl", "status"]).stdout("app  RUNNING  pid 7, uptime 0:00:01"),
    );
    fleet.rule_all(Rule::new(["check"]).stderr("unhealthy").exit(1));
    let plan = plan(&["web1"])
        .step(
            PlannedStep::new(Symlink::new(
                "/srv/app/current",
                "/srv/app/releases/${release}",
            ))
            .id("link"),
        )
        .step(
            PlannedStep::new(Service::new(
                "app",
                ServiceManager::Supervisor,
                ServiceAction::Restart,
            ))
            .id("restart"),
        )
        .step(exec("check"))
        .on_failure(FailurePolicy::Rollback)
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::RolledBack);
    let changes: Vec<String> = fleet
        .commands_on("web1")
        .into_iter()
        .filter(|c| c.starts_with("mv") || c.starts_with("supervisorctl restart"))
        .collect();
    assert_eq!(
        changes,
        [
            "mv -T -f -- /srv/app/current.deploy-tmp /srv/app/current",
            "supervisorctl restart app",
            "mv -T -f -- /srv/app/current.deploy-tmp /srv/app/current",
            "supervisorctl restart app",
        ]
    );
    assert_eq!(
        step(&report, "web1", "restart").rollback,
        Some(RollbackStatus::Undone)
    );
}

/// `Rollback`: completed undoable steps are undone on every host, newest first; the others are reported not undoable.
#[tokio::test]
async fn rollback_policy_undoes_completed_steps_in_reverse_order() {
    let hosts = ["web1", "web2"];
    let fleet = Fleet::new(&hosts);
    fleet.rule_all(Rule::new(["readlink"]).stdout("/srv/app/releases/r0"));
    fleet.host("web2").rule(
        Rule::new(["check"])
            .delay(ms(50))
            .stderr("unhealthy")
            .exit(1),
    );
    let plan = plan(&hosts)
        .step(PlannedStep::new(Exec::argv(["prepare"]).undo(["unprepare"])).id("prepare"))
        .step(
            PlannedStep::new(Symlink::new(
                "/srv/app/current",
                "/srv/app/releases/${release}",
            ))
            .id("link"),
        )
        .step(exec("notify"))
        .step(exec("check"))
        .step(exec("restart").barrier())
        .on_failure(FailurePolicy::Rollback)
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::RolledBack);
    let forward = [
        "prepare",
        "readlink -- /srv/app/current",
        "readlink -- /srv/app/current",
        "ln -sfn -- /srv/app/releases/r1 /srv/app/current.deploy-tmp",
        "mv -T -f -- /srv/app/current.deploy-tmp /srv/app/current",
        "notify",
        "check",
    ];
    let backward = [
        "ln -sfn -- /srv/app/releases/r0 /srv/app/current.deploy-tmp",
        "mv -T -f -- /srv/app/current.deploy-tmp /srv/app/current",
        "unprepare",
    ];
    for host in hosts {
        let expected: Vec<&str> = forward.iter().chain(&backward).copied().collect();
        assert_eq!(fleet.commands_on(host), expected, "on {host}");
        assert_eq!(
            step(&report, host, "prepare").rollback,
            Some(RollbackStatus::Undone)
        );
        assert_eq!(
            step(&report, host, "link").rollback,
            Some(RollbackStatus::Undone)
        );
        assert_eq!(
            step(&report, host, "notify").rollback,
            Some(RollbackStatus::NotUndoable)
        );
        assert_eq!(step(&report, host, "restart").status, StepStatus::NotRun);
        assert_eq!(step(&report, host, "restart").rollback, None);
    }
    assert_eq!(
        step(&report, "web1", "check").rollback,
        Some(RollbackStatus::NotUndoable)
    );
    let failed = step(&report, "web2", "check");
    assert_eq!(failed.status, StepStatus::Failed);
    assert_eq!(failed.rollback, None);

    let rollback = event_index(&events, |e| matches!(e, Event::RollbackStarted));
    let failure = event_index(&events, |e| matches!(e, Event::StepFailed { .. }));
    assert!(failure < rollback);
    for host in hosts {
        let rolled_back = |id: &str| {
            event_index(
                &events,
                |e| matches!(e, Event::RolledBack { host: h, step } if h == host && step == id),
            )
        };
        assert!(rollback < rolled_back("link"));
        assert!(rolled_back("link") < rolled_back("prepare"));
        assert!(events.iter().any(
            |e| matches!(e, Event::NotUndoable { host: h, step } if h == host && step == "notify")
        ));
    }
    assert!(matches!(
        events.last(),
        Some(Event::RunFinished {
            outcome: Outcome::RolledBack,
            ..
        })
    ));
}

/// A barrier step starts on no host before every earlier step finished on every host; other steps do not wait.
#[tokio::test]
async fn barrier_waits_for_every_earlier_step_on_every_host() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.host("web2").rule(Rule::new(["a"]).delay(ms(80)));
    let plan = plan(&["web1", "web2"])
        .step(exec("a"))
        .step(exec("b"))
        .step(exec("c").barrier())
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    // Without a barrier, web1 goes ahead while web2 is still busy...
    assert!(fleet.started("web1", "b") < fleet.ended("web2", "a"));
    // ...but the barrier step waits for every earlier step on both hosts.
    let earlier_done = fleet.ended("web2", "b").max(fleet.ended("web1", "b"));
    assert!(earlier_done < fleet.started("web1", "c"));
    assert!(earlier_done < fleet.started("web2", "c"));
}

/// A `once` step runs on the first host only, and a step that `needs` it waits for it on other hosts.
#[tokio::test]
async fn once_runs_on_the_first_host_and_needs_waits_for_it() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.rule_all(Rule::new(["migrate"]).delay(ms(80)));
    let plan = plan(&["web1", "web2"])
        .step(exec("migrate").once())
        .step(exec("restart").needs("migrate"))
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(fleet.commands_on("web1"), ["migrate", "restart"]);
    assert_eq!(fleet.commands_on("web2"), ["restart"]);
    assert!(fleet.ended("web1", "migrate") < fleet.started("web2", "restart"));
    assert_eq!(
        statuses(&report, "web2"),
        expect(&[("restart", StepStatus::Done)])
    );
    assert_eq!(step(&report, "web1", "migrate").status, StepStatus::Done);
}

/// `needs` makes a step wait for the step it names on every host, but not for other steps.
#[tokio::test]
async fn needs_waits_for_the_named_step_on_all_hosts() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.host("web2").rule(Rule::new(["upload"]).delay(ms(80)));
    let plan = plan(&["web1", "web2"])
        .step(exec("upload"))
        .step(exec("unpack"))
        .step(exec("switch").needs("upload"))
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    assert!(fleet.started("web1", "unpack") < fleet.ended("web2", "upload"));
    assert!(fleet.ended("web2", "upload") < fleet.started("web1", "switch"));
    assert_eq!(fleet.commands_on("web1"), ["upload", "unpack", "switch"]);
}

/// A local step runs once on the deploying machine, in its own lane, and every later step on every host waits for it.
#[tokio::test]
async fn local_steps_run_once_and_later_steps_wait_for_them() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.local.rule(Rule::new(["build"]).delay(ms(80)));
    let plan = plan(&["web1", "web2"])
        .step(exec("prepare"))
        .step(exec("build").local())
        .step(exec("ship"))
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(fleet.commands_on("local"), ["build"]);
    let built = fleet.ended("local", "build");
    for host in ["web1", "web2"] {
        assert_eq!(fleet.commands_on(host), ["prepare", "ship"]);
        assert!(built < fleet.started(host, "ship"));
        assert_eq!(
            statuses(&report, host),
            expect(&[("prepare", StepStatus::Done), ("ship", StepStatus::Done)])
        );
    }
    // Earlier steps do not wait for the build.
    assert!(fleet.started("web2", "prepare") < built);
    let lanes: Vec<&str> = report.hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(lanes, [LOCAL_LANE, "web1", "web2"]);
    assert_eq!(
        statuses(&report, LOCAL_LANE),
        expect(&[("build", StepStatus::Done)])
    );
    assert!(events.iter().any(
        |e| matches!(e, Event::StepStarted { host, step, .. } if host == LOCAL_LANE && step == "build")
    ));
}

/// A step over its timeout fails with "timed out", its command is killed and later steps do not run.
#[tokio::test]
async fn timeout_fails_the_step_and_kills_its_command() {
    let fleet = Fleet::new(&["web1"]);
    fleet
        .host("web1")
        .rule(Rule::new(["migrate"]).delay(Duration::from_secs(10)));
    let plan = plan(&["web1"])
        .step(exec("migrate").timeout(ms(100)))
        .step(exec("restart"))
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    let migrate = step(&report, "web1", "migrate");
    assert_eq!(migrate.status, StepStatus::Failed);
    let error = migrate.error.as_deref().expect("an error");
    assert!(error.contains("timed out"), "{error}");
    assert!(fleet.journal.entries().contains(&(
        "web1".to_string(),
        Call::RunKilled(vec!["migrate".to_string()])
    )));
    assert_eq!(step(&report, "web1", "restart").status, StepStatus::NotRun);
    assert_eq!(fleet.commands_on("web1"), ["migrate"]);
}

/// With retries, a step that fails twice then succeeds ends Done after three tries.
#[tokio::test]
async fn retries_try_a_failing_step_again() {
    let fleet = Fleet::new(&["web1"]);
    fleet
        .host("web1")
        .rule(Rule::new(["flaky"]).stderr("try later").exit(1).times(2));
    let plan = plan(&["web1"])
        .step(exec("flaky").retries(2, ms(5)))
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    let flaky = step(&report, "web1", "flaky");
    assert_eq!(flaky.status, StepStatus::Done);
    assert_eq!(flaky.attempts, 3);
    assert_eq!(failures(&events, "flaky"), [(1, true), (2, true)]);
    assert_eq!(fleet.commands_on("web1"), ["flaky", "flaky", "flaky"]);
}

/// Without retries, the same flaky step fails on its first try.
#[tokio::test]
async fn without_retries_a_failing_step_fails_at_once() {
    let fleet = Fleet::new(&["web1"]);
    fleet
        .host("web1")
        .rule(Rule::new(["flaky"]).stderr("try later").exit(1).times(2));
    let plan = plan(&["web1"]).step(exec("flaky")).build().expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    let flaky = step(&report, "web1", "flaky");
    assert_eq!(flaky.status, StepStatus::Failed);
    assert_eq!(flaky.attempts, 1);
    assert!(
        flaky
            .error
            .as_deref()
            .is_some_and(|e| e.contains("try later"))
    );
    assert_eq!(failures(&events, "flaky"), [(1, false)]);
}

/// A connection lost before the command started is retried even with no retries configured.
#[tokio::test]
async fn connection_lost_before_start_is_retried() {
    let fleet = Fleet::new(&["web1"]);
    fleet.host("web1").rule(
        Rule::new(["deploy"])
            .fail(Failure::ConnectionLost { started: false })
            .times(1),
    );
    let plan = plan(&["web1"])
        // No retries; a short backoff keeps the test quick.
        .step(exec("deploy").retries(0, ms(5)))
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    let deploy = step(&report, "web1", "deploy");
    assert_eq!(deploy.status, StepStatus::Done);
    assert_eq!(deploy.attempts, 2);
    assert_eq!(failures(&events, "deploy"), [(1, true)]);
    assert_eq!(fleet.commands_on("web1"), ["deploy"]);
}

/// Connection retries are bounded by the executor's `connection_retries`.
#[tokio::test]
async fn connection_retries_are_bounded() {
    let fleet = Fleet::new(&["web1"]);
    fleet
        .host("web1")
        .rule(Rule::new(["deploy"]).fail(Failure::ConnectionLost { started: false }));
    let plan = plan(&["web1"])
        .step(exec("deploy").retries(0, ms(5)))
        .build()
        .expect("plan");

    let executor = fleet.executor().connection_retries(2);
    let (report, events) = fleet.run_with(&executor, &plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    let deploy = step(&report, "web1", "deploy");
    assert_eq!(deploy.status, StepStatus::Failed);
    assert_eq!(deploy.attempts, 3);
    assert!(deploy.error.as_deref().is_some_and(|e| e.contains("lost")));
    assert_eq!(
        failures(&events, "deploy"),
        [(1, true), (2, true), (3, false)]
    );
    assert!(fleet.commands_on("web1").is_empty());
}

/// A connection lost while the command ran is not retried: the work may have happened.
#[tokio::test]
async fn connection_lost_after_start_is_not_retried() {
    let fleet = Fleet::new(&["web1"]);
    fleet.host("web1").rule(
        Rule::new(["deploy"])
            .fail(Failure::ConnectionLost { started: true })
            .times(1),
    );
    let plan = plan(&["web1"])
        .step(exec("deploy").retries(0, ms(5)))
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    let deploy = step(&report, "web1", "deploy");
    assert_eq!(deploy.status, StepStatus::Failed);
    assert_eq!(deploy.attempts, 1);
    assert!(
        deploy
            .error
            .as_deref()
            .is_some_and(|e| e.contains("while a command ran"))
    );
    assert_eq!(failures(&events, "deploy"), [(1, false)]);
    assert_eq!(fleet.commands_on("web1"), ["deploy"]);
}

/// Cancels `token` after `after`, first writing an `operator: ctrl-c` mark in the journal.
fn press_ctrl_c(fleet: &Fleet, token: &CancellationToken, after: Duration) {
    let operator = Arc::new(FakeTarget::new("operator").with_journal(fleet.journal.clone()));
    let token = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        operator
            .run(&Command::new(["ctrl-c"]), &DiscardOutput)
            .await
            .expect("the fake records the mark");
        token.cancel();
    });
}

/// A step that only ends when stopped (a followed log).
#[derive(Debug)]
struct Follow;

impl deploy_core::Kind for Follow {
    const KIND: &'static str = "follow";
}

#[async_trait::async_trait]
impl deploy_core::Step for Follow {
    fn describe(&self) -> deploy_core::Description {
        deploy_core::Description::new("follow the logs").shows_output()
    }

    async fn apply(
        &self,
        ctx: &deploy_core::StepContext<'_>,
    ) -> Result<deploy_core::Applied, deploy_core::StepError> {
        ctx.run(&Command::new(["tail", "-f", "app.log"])).await?;
        Ok(deploy_core::Applied::done())
    }

    fn runs_until_interrupted(&self) -> bool {
        true
    }
}

/// A step that runs until interrupted gets no grace: an interrupt ends it
/// at once (the grace here is an hour), and its command is killed.
#[tokio::test]
async fn interrupt_ends_a_step_that_runs_until_interrupted_at_once() {
    let fleet = Fleet::new(&["web1"]);
    fleet.rule_all(Rule::new(["tail"]).delay(Duration::from_secs(3600)));
    let plan = plan(&["web1"])
        .step(PlannedStep::new(Follow).id("logs"))
        .build()
        .expect("plan");
    let token = CancellationToken::new();
    let executor = fleet
        .executor()
        .cancel_token(token.clone())
        .grace(Duration::from_secs(3600));
    press_ctrl_c(&fleet, &token, ms(50));

    let (report, _) = fleet.run_with(&executor, &plan).await;

    assert_eq!(report.outcome, Outcome::Interrupted);
    assert_eq!(
        step(&report, "web1", "logs").status,
        StepStatus::Interrupted
    );
    fleet.index(
        "web1",
        |c| matches!(c, Call::RunKilled(a) if a[0] == "tail"),
    );
}

/// An interrupt with a grace shorter than the running step interrupts it; nothing starts afterwards.
#[tokio::test]
async fn interrupt_stops_running_steps_after_the_grace_period() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.rule_all(Rule::new(["deploy"]).delay(Duration::from_secs(10)));
    let plan = plan(&["web1", "web2"])
        .step(exec("deploy"))
        .step(exec("restart"))
        .build()
        .expect("plan");
    let token = CancellationToken::new();
    let executor = fleet.executor().cancel_token(token.clone()).grace(ms(50));
    press_ctrl_c(&fleet, &token, ms(100));

    let (report, events) = fleet.run_with(&executor, &plan).await;

    assert_eq!(report.outcome, Outcome::Interrupted);
    let mark = fleet.started("operator", "ctrl-c");
    assert_eq!(fleet.starts_after(mark), []);
    for host in ["web1", "web2"] {
        assert_eq!(
            statuses(&report, host),
            expect(&[
                ("deploy", StepStatus::Interrupted),
                ("restart", StepStatus::NotRun)
            ])
        );
        let killed = fleet.index(
            host,
            |c| matches!(c, Call::RunKilled(a) if a[0] == "deploy"),
        );
        assert!(mark < killed);
        assert!(events.iter().any(
            |e| matches!(e, Event::StepInterrupted { host: h, step } if h == host && step == "deploy")
        ));
    }
}

/// An interrupt with a grace longer than the running step lets it finish, but the next step does not start.
#[tokio::test]
async fn interrupt_lets_running_steps_finish_within_the_grace_period() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.rule_all(Rule::new(["deploy"]).delay(ms(300)));
    let plan = plan(&["web1", "web2"])
        .step(exec("deploy"))
        .step(exec("restart"))
        .build()
        .expect("plan");
    let token = CancellationToken::new();
    let executor = fleet
        .executor()
        .cancel_token(token.clone())
        .grace(Duration::from_secs(10));
    press_ctrl_c(&fleet, &token, ms(100));

    let (report, events) = fleet.run_with(&executor, &plan).await;

    assert_eq!(report.outcome, Outcome::Interrupted);
    let mark = fleet.started("operator", "ctrl-c");
    assert_eq!(fleet.starts_after(mark), []);
    for host in ["web1", "web2"] {
        assert!(fleet.started(host, "deploy") < mark);
        assert!(mark < fleet.ended(host, "deploy"));
        assert_eq!(
            statuses(&report, host),
            expect(&[
                ("deploy", StepStatus::Done),
                ("restart", StepStatus::NotRun)
            ])
        );
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::StepInterrupted { .. }))
    );
}

/// An unattended run refuses an approval gate (without retrying it) and goes no further.
#[tokio::test]
async fn unattended_runs_refuse_approval_gates() {
    let fleet = Fleet::new(&["web1"]);
    let plan = plan(&["web1"])
        .step(
            PlannedStep::new(Approve::new("Ship r1 to production?"))
                .id("gate")
                .retries(2, ms(5)),
        )
        .step(exec("deploy"))
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::NotApproved);
    let gate = step(&report, "web1", "gate");
    assert_eq!(gate.status, StepStatus::NotApproved);
    assert_eq!(gate.attempts, 1);
    let error = gate.error.as_deref().expect("an error");
    assert!(error.contains("not approved"), "{error}");
    assert_eq!(step(&report, "web1", "deploy").status, StepStatus::NotRun);
    assert!(fleet.commands_on("web1").is_empty());
}

/// A refused gate stops every host, whatever the failure policy: a
/// refusal is a decision about the run, not one host's failure. Under
/// rollback, what completed before it is undone; the outcome stays
/// "not approved".
#[tokio::test]
async fn a_refused_gate_stops_every_host_and_is_not_a_failure() {
    let fleet = Fleet::new(&["web1", "web2"]);
    let plan = plan(&["web1", "web2"])
        .step(exec("fetch"))
        .step(
            PlannedStep::new(Approve::new("Switch traffic?"))
                .id("gate")
                .once()
                .barrier(),
        )
        .step(exec("switch").barrier())
        .on_failure(FailurePolicy::Continue)
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::NotApproved);
    assert_eq!(
        step(&report, "web1", "gate").status,
        StepStatus::NotApproved
    );
    for host in ["web1", "web2"] {
        assert_eq!(step(&report, host, "switch").status, StepStatus::NotRun);
        assert_eq!(fleet.commands_on(host), ["fetch"]);
    }
}

/// `allow_failure`: the failure is reported as allowed, the host goes on,
/// and the run succeeds.
#[tokio::test]
async fn an_allowed_failure_is_reported_and_the_host_goes_on() {
    let fleet = Fleet::new(&["web1"]);
    fleet
        .host("web1")
        .rule(Rule::new(["status"]).stdout("web STOPPED").exit(3));
    let plan = plan(&["web1"])
        .step(exec("status").allow_failure())
        .step(exec("notify"))
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(
        statuses(&report, "web1"),
        expect(&[
            ("status", StepStatus::FailedAllowed),
            ("notify", StepStatus::Done)
        ])
    );
    assert!(step(&report, "web1", "status").error.is_some());
    assert!(
        events.iter().any(
            |e| matches!(e, Event::StepFailed { step, allowed: true, .. } if step == "status")
        )
    );
    assert_eq!(fleet.commands_on("web1"), ["status", "notify"]);
}

/// Under `rollback`, a run that failed before anything completed has
/// nothing to undo: no roll back starts and the outcome is "failed".
#[tokio::test]
async fn rollback_with_nothing_completed_does_not_roll_back() {
    let fleet = Fleet::new(&["web1"]);
    fleet.host("web1").rule(Rule::new(["build"]).exit(2));
    let plan = plan(&["web1"])
        .step(exec("build"))
        .step(exec("push"))
        .on_failure(FailurePolicy::Rollback)
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    assert!(
        !events.iter().any(|e| matches!(e, Event::RollbackStarted)),
        "{events:#?}"
    );
}

/// `continue` with batches: the failing host stops, the rest of its batch
/// and every later batch go on.
#[tokio::test]
async fn continue_policy_runs_later_batches() {
    let fleet = Fleet::new(&["web1", "web2", "web3"]);
    fleet.host("web1").rule(Rule::new(["fetch"]).exit(1));
    let plan = plan(&["web1", "web2", "web3"])
        .step(exec("fetch"))
        .step(exec("restart"))
        .rollout(Rollout::Batches(1))
        .on_failure(FailurePolicy::Continue)
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(fleet.commands_on("web1"), ["fetch"]);
    for host in ["web2", "web3"] {
        assert_eq!(fleet.commands_on(host), ["fetch", "restart"]);
    }
}

/// A run approved in advance passes the approval gate.
#[tokio::test]
async fn pre_approved_runs_pass_approval_gates() {
    let fleet = Fleet::new(&["web1"]);
    let plan = plan(&["web1"])
        .step(PlannedStep::new(Approve::new("Ship r1 to production?")).id("gate"))
        .step(exec("deploy"))
        .build()
        .expect("plan");

    let executor = fleet
        .executor()
        .approver(Arc::new(Unattended { pre_approved: true }));
    let (report, _) = fleet.run_with(&executor, &plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(
        statuses(&report, "web1"),
        expect(&[("gate", StepStatus::Done), ("deploy", StepStatus::Done)])
    );
    assert_eq!(fleet.commands_on("web1"), ["deploy"]);
}

/// A secret a command receives and echoes back appears in no event and no report, only as `[REDACTED]`.
#[tokio::test]
async fn secrets_never_reach_events_or_reports() {
    const SECRET: &str = "hunter2-s3cr3t";
    let fleet = Fleet::new(&["web1"]);
    fleet.host("web1").rule(
        Rule::new(["db-migrate"])
            .stdout(format!("connecting with {SECRET}"))
            .stderr(format!("authentication failed for {SECRET}"))
            .exit(1),
    );
    let password = Text::parse("${secret.db}").expect("a secret placeholder");
    let plan = plan(&["web1"])
        .step(
            PlannedStep::new(Exec::argv(["db-migrate"]).env("DB_PASSWORD", password)).id("migrate"),
        )
        .build()
        .expect("plan");
    let mut values = RunValues::new("r1");
    values.secrets.insert("db".into(), Secret::new(SECRET));
    let executor = Executor::new(fleet.local.clone(), values);

    let (report, events) = fleet.run_with(&executor, &plan).await;

    // The value goes in the command's environment, never its argv.
    assert_eq!(fleet.commands_on("web1"), ["db-migrate"]);
    assert_eq!(report.outcome, Outcome::Failed);
    let events_json: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).expect("events serialize"))
        .collect();
    for json in &events_json {
        assert!(!json.contains(SECRET), "leaked in an event: {json}");
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Output { line, .. } if line.contains("[REDACTED]")))
    );
    let error = step(&report, "web1", "migrate")
        .error
        .as_deref()
        .expect("an error");
    assert!(error.contains("[REDACTED]"), "{error}");
    assert!(!error.contains(SECRET), "{error}");
    let report_json = serde_json::to_string(&report).expect("reports serialize");
    assert!(!report_json.contains(SECRET), "{report_json}");
    assert!(!report.render().contains(SECRET));
}

/// A secret on a command line (argv, a shell script, an `unless` or
/// `undo`, a `when` probe) is refused when the plan is built, naming the
/// step and the field; in `env` or `stdin` it is fine.
#[test]
fn a_secret_in_argv_is_refused_when_the_plan_is_built() {
    let refused = |step: PlannedStep| {
        plan(&["web1"])
            .step(step.id("migrate"))
            .build()
            .expect_err("refused")
            .to_string()
    };
    let advice = "is on the command line, where anyone on the host can read it (ps): pass it through `env` (\"$NAME\" in a script) or `stdin` instead";
    for (step, field) in [
        (
            Exec::argv(["db-migrate", "--password", "${secret.db}"]),
            "exec.cmd",
        ),
        (Exec::shell("PGPASSWORD=${secret.db} psql"), "exec.shell"),
        (
            Exec::argv(["migrate"]).unless(["check", "${secret.db}"]),
            "exec.unless",
        ),
        (
            Exec::argv(["migrate"]).undo(["unmigrate", "${secret.db}"]),
            "exec.undo",
        ),
    ] {
        assert_eq!(
            refused(PlannedStep::new(step)),
            format!("step `migrate`: a secret in `{field}` {advice}")
        );
    }
    let probe = PlannedStep::new(Exec::argv(["migrate"]))
        .when(Arc::new(Condition::succeeds(["check", "${secret.db}"])));
    assert_eq!(
        refused(probe),
        format!("step `migrate`: a secret in `when` {advice}")
    );
    let fine = Exec::argv(["migrate"])
        .env("DB_PASSWORD", "${secret.db}")
        .stdin("${secret.db}");
    assert!(plan(&["web1"]).step(PlannedStep::new(fine)).build().is_ok());
}

/// A step whose `unless` check succeeds is skipped: its command never runs.
#[tokio::test]
async fn unless_check_skips_work_already_done() {
    let fleet = Fleet::new(&["web1"]);
    let plan = plan(&["web1"])
        .step(
            PlannedStep::new(Exec::argv(["migrate"]).unless(["test", "-e", "/srv/.migrated"]))
                .id("migrate"),
        )
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(step(&report, "web1", "migrate").status, StepStatus::Skipped);
    assert_eq!(fleet.commands_on("web1"), ["test -e /srv/.migrated"]);
    assert!(events.iter().any(
        |e| matches!(e, Event::StepSkipped { host, step } if host == "web1" && step == "migrate")
    ));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::StepFinished { .. }))
    );
}

/// A step whose `unless` check fails runs its command.
#[tokio::test]
async fn failing_unless_check_runs_the_step() {
    let fleet = Fleet::new(&["web1"]);
    fleet.host("web1").rule(Rule::new(["test"]).exit(1));
    let plan = plan(&["web1"])
        .step(
            PlannedStep::new(Exec::argv(["migrate"]).unless(["test", "-e", "/srv/.migrated"]))
                .id("migrate"),
        )
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Succeeded);
    assert_eq!(step(&report, "web1", "migrate").status, StepStatus::Done);
    assert_eq!(
        fleet.commands_on("web1"),
        ["test -e /srv/.migrated", "migrate"]
    );
}

/// A host with no target fails with a clear error instead of panicking; the other hosts carry on under `Continue`.
#[tokio::test]
async fn host_without_a_target_fails_cleanly() {
    let fleet = Fleet::new(&["web1"]);
    let plan = plan(&["web1", "web2"])
        .step(exec("deploy"))
        .step(exec("restart"))
        .on_failure(FailurePolicy::Continue)
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    let deploy = step(&report, "web2", "deploy");
    assert_eq!(deploy.status, StepStatus::Failed);
    let error = deploy.error.as_deref().expect("an error");
    assert!(error.contains("no target for host web2"), "{error}");
    assert_eq!(step(&report, "web2", "restart").status, StepStatus::NotRun);
    assert_eq!(
        statuses(&report, "web1"),
        expect(&[("deploy", StepStatus::Done), ("restart", StepStatus::Done)])
    );
    assert!(events.iter().any(
        |e| matches!(e, Event::StepFailed { host, error, .. } if host == "web2" && error.contains("no target"))
    ));
}

/// `Continue`: a barrier after a host failed lets the remaining hosts through instead of waiting forever.
#[tokio::test]
async fn continue_policy_does_not_hang_at_a_barrier() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.host("web1").rule(Rule::new(["fetch"]).exit(1));
    let plan = plan(&["web1", "web2"])
        .step(exec("fetch"))
        .step(exec("restart").barrier())
        .on_failure(FailurePolicy::Continue)
        .build()
        .expect("plan");

    let (report, _) = run_on(&fleet.executor(), &plan, &fleet.targets(), ms(2000))
        .await
        .expect("the run ends instead of waiting at the barrier forever");

    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(
        statuses(&report, "web1"),
        expect(&[
            ("fetch", StepStatus::Failed),
            ("restart", StepStatus::NotRun)
        ])
    );
    assert_eq!(
        statuses(&report, "web2"),
        expect(&[("fetch", StepStatus::Done), ("restart", StepStatus::Done)])
    );
}

/// `Continue`: when the host carrying the local steps fails first, no host ships what the local step never built.
#[tokio::test]
async fn continue_policy_never_skips_a_local_step_silently() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.host("web1").rule(Rule::new(["check"]).exit(1));
    let plan = plan(&["web1", "web2"])
        .step(exec("check"))
        .step(exec("build").local())
        .step(exec("ship"))
        .on_failure(FailurePolicy::Continue)
        .build()
        .expect("plan");

    let (report, _) = fleet.run(&plan).await;

    assert_eq!(report.outcome, Outcome::Failed);
    let build = step(&report, LOCAL_LANE, "build").status;
    let ship = step(&report, "web2", "ship").status;
    assert!(
        ship == StepStatus::NotRun || build == StepStatus::Done,
        "web2 shipped ({ship:?}) though the local build did not run ({build:?}); journal: {:?}",
        fleet.journal.commands()
    );
}

/// A connection retry does not use up the retries a step was given for its own failures.
#[tokio::test]
async fn connection_retries_do_not_use_up_step_retries() {
    let fleet = Fleet::new(&["web1"]);
    let web1 = fleet.host("web1");
    // Later rules answer first: the connection drops, then the command fails once, then it works.
    web1.rule(Rule::new(["deploy"]).exit(1).times(1));
    web1.rule(
        Rule::new(["deploy"])
            .fail(Failure::ConnectionLost { started: false })
            .times(1),
    );
    let plan = plan(&["web1"])
        .step(exec("deploy").retries(1, ms(5)))
        .build()
        .expect("plan");

    let (report, events) = fleet.run(&plan).await;

    assert_eq!(failures(&events, "deploy"), [(1, true), (2, true)]);
    let deploy = step(&report, "web1", "deploy");
    assert_eq!(deploy.status, StepStatus::Done);
    assert_eq!(deploy.attempts, 3);
}

/// `Continue`: when a `once` step fails, steps that need it run nowhere and say why.
#[tokio::test]
async fn continue_policy_does_not_run_what_needs_a_failed_once_step() {
    let fleet = Fleet::new(&["web1", "web2"]);
    fleet.host("web1").rule(Rule::new(["migrate"]).exit(1));
    let plan = plan(&["web1", "web2"])
        .step(exec("pull"))
        .step(exec("migrate").once())
        .step(exec("restart").needs("migrate"))
        .on_failure(FailurePolicy::Continue)
        .build()
        .expect("plan");

    let (report, _) = run_on(&fleet.executor(), &plan, &fleet.targets(), ms(2000))
        .await
        .expect("the run ends");

    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(
        statuses(&report, "web2"),
        expect(&[("pull", StepStatus::Done), ("restart", StepStatus::NotRun)])
    );
    let restart = step(&report, "web2", "restart");
    assert!(
        restart
            .error
            .as_deref()
            .is_some_and(|e| e.contains("needs migrate")),
        "{restart:?}"
    );
    assert!(!fleet.commands_on("web2").contains(&"restart".to_string()));
}
