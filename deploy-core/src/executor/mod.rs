//! The executor: walks a [`Plan`] against real [`Target`]s.
//!
//! Hosts run in parallel (bounded by a concurrency limit on running steps),
//! steps run in order within a host, barriers and `needs` wait across hosts
//! of a batch, batches run one after another. Every happening is an
//! [`Event`]; the result is a [`RunReport`]. On Ctrl-C (the cancellation
//! token) no new step starts and running ones get a grace period.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::event::{Event, EventSink, LOCAL_LANE};
use crate::plan::{FailurePolicy, Plan};
use crate::report::{HostReport, Outcome, RunReport, StepReport};
use crate::secret::Masker;
use crate::step::{Applied, Approver, Unattended};
use crate::target::Target;
use crate::text::RunValues;

mod attempt;
mod lane;
mod rollback;
mod sink;

use lane::lanes;
use sink::MaskingSink;

/// The targets of a run, by host name.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use deploy_core::{LocalTarget, Target, Targets};
///
/// let mut targets = Targets::new();
/// targets.insert("web1".into(), Arc::new(LocalTarget::new("web1")));
/// assert_eq!(targets["web1"].name(), "web1");
/// ```
pub type Targets = BTreeMap<String, Arc<dyn Target>>;

/// Runs plans.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, steps::Exec};
/// use deploy_core::event::RecordingSink;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let plan = Plan::builder("local", "hello")
///     .host("localhost", Vec::<String>::new())
///     .step(PlannedStep::new(Exec::argv(["echo", "hello"])))
///     .build()
///     .unwrap();
/// let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
/// let targets = [("localhost".to_string(), local.clone())].into_iter().collect();
/// let sink = RecordingSink::default();
/// let report = Executor::new(local, RunValues::new("r1")).run(&plan, &targets, &sink).await;
/// assert!(report.succeeded());
/// # });
/// ```
pub struct Executor {
    local: Arc<dyn Target>,
    values: RunValues,
    approver: Arc<dyn Approver>,
    concurrency: usize,
    grace: Duration,
    connection_retries: u32,
    cancel: CancellationToken,
}

impl Executor {
    /// An executor whose deploying machine is `local`, with run-time values
    /// `values`, unattended (approval gates refuse), 64 steps at once, a 10 s
    /// grace period on interrupt.
    ///
    /// # Examples
    ///
    /// Unattended by default, so an approval gate refuses:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, Targets, steps::Exec};
    /// # use deploy_core::event::NullSink;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
    /// # let targets: Targets = [("localhost".to_string(), local.clone())].into_iter().collect();
    /// use deploy_core::steps::Approve;
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("localhost", ["app"])
    ///     .step(PlannedStep::new(Approve::new("Ship it?")).local())
    ///     .build()
    ///     .unwrap();
    /// let report = Executor::new(local, RunValues::new("r1")).run(&plan, &targets, &NullSink).await;
    /// assert!(report.hosts[0].steps[0].error.as_deref().unwrap().starts_with("not approved"));
    /// # });
    /// ```
    pub fn new(local: Arc<dyn Target>, values: RunValues) -> Self {
        Executor {
            local,
            values,
            approver: Arc::new(Unattended::default()),
            concurrency: 64,
            grace: Duration::from_secs(10),
            connection_retries: 2,
            cancel: CancellationToken::new(),
        }
    }

    /// Who approves gated steps.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, Targets, steps::Exec};
    /// # use deploy_core::event::NullSink;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
    /// # let targets: Targets = [("localhost".to_string(), local.clone())].into_iter().collect();
    /// use deploy_core::{step::Unattended, steps::Approve};
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("localhost", ["app"])
    ///     .step(PlannedStep::new(Approve::new("Ship it?")).local())
    ///     .build()
    ///     .unwrap();
    /// let yes = Arc::new(Unattended { pre_approved: true });
    /// let report = Executor::new(local, RunValues::new("r1")).approver(yes).run(&plan, &targets, &NullSink).await;
    /// assert!(report.succeeded());
    /// # });
    /// ```
    pub fn approver(mut self, approver: Arc<dyn Approver>) -> Self {
        self.approver = approver;
        self
    }

    /// How many steps may run at once across hosts.
    ///
    /// # Examples
    ///
    /// One step at a time, across two hosts:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, Targets, steps::Exec};
    /// # use deploy_core::event::NullSink;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
    /// # let targets: Targets = [("localhost".to_string(), local.clone())].into_iter().collect();
    /// let targets: Targets = ["a", "b"].map(|h| {
    ///     (h.to_string(), Arc::new(LocalTarget::new(h)) as Arc<dyn Target>)
    /// }).into_iter().collect();
    /// let plan = Plan::builder("local", "hello")
    ///     .host("a", ["app"]).host("b", ["app"])
    ///     .step(PlannedStep::new(Exec::argv(["true"])))
    ///     .build()
    ///     .unwrap();
    /// let report = Executor::new(local, RunValues::new("r1")).concurrency(1).run(&plan, &targets, &NullSink).await;
    /// assert!(report.succeeded() && report.hosts.len() == 2);
    /// # });
    /// ```
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How long running steps get after an interrupt.
    ///
    /// # Examples
    ///
    /// With no grace period, an interrupt stops a running step at once:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, Targets, steps::Exec};
    /// # use deploy_core::event::NullSink;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
    /// # let targets: Targets = [("localhost".to_string(), local.clone())].into_iter().collect();
    /// use std::time::Duration;
    /// use deploy_core::report::{Outcome, StepStatus};
    /// use tokio_util::sync::CancellationToken;
    ///
    /// let plan = Plan::builder("local", "slow")
    ///     .host("localhost", ["app"])
    ///     .step(PlannedStep::new(Exec::argv(["sleep", "30"])))
    ///     .build()
    ///     .unwrap();
    /// let token = CancellationToken::new();
    /// let ctrl_c = token.clone();
    /// tokio::spawn(async move { tokio::time::sleep(Duration::from_millis(100)).await; ctrl_c.cancel() });
    /// let executor = Executor::new(local, RunValues::new("r1")).cancel_token(token).grace(Duration::ZERO);
    /// let report = executor.run(&plan, &targets, &NullSink).await;
    /// assert_eq!(report.outcome, Outcome::Interrupted);
    /// assert_eq!(report.hosts[0].steps[0].status, StepStatus::Interrupted);
    /// # });
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How often a step is tried again when the connection was lost before
    /// it started (always safe).
    ///
    /// # Examples
    ///
    /// A connection lost before the command started is retried, without using up the step's own retries:
    ///
    /// ```
    /// use std::{sync::Arc, time::Duration};
    /// use deploy_core::{Executor, Plan, PlannedStep, RunValues, Target, Targets, steps::Exec};
    /// use deploy_core::{event::NullSink, testing::{Failure, FakeTarget, Rule}};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    ///
    /// let web1 = Arc::new(FakeTarget::new("web1"));
    /// web1.rule(Rule::new(["uptime"]).fail(Failure::ConnectionLost { started: false }).times(1));
    /// let targets: Targets = [("web1".to_string(), web1.clone() as Arc<dyn Target>)].into();
    /// let step = PlannedStep::new(Exec::argv(["uptime"])).retries(0, Duration::ZERO);
    /// let plan = Plan::builder("production", "check").host("web1", ["web"]).step(step).build().unwrap();
    /// let executor = Executor::new(web1.clone(), RunValues::new("r1")).connection_retries(1);
    /// let report = executor.run(&plan, &targets, &NullSink).await;
    /// assert!(report.succeeded());
    /// assert_eq!(report.hosts[0].steps[0].attempts, 2);
    /// # });
    /// ```
    pub fn connection_retries(mut self, n: u32) -> Self {
        self.connection_retries = n;
        self
    }

    /// The token that interrupts the run (Ctrl-C cancels it).
    ///
    /// # Examples
    ///
    /// A run interrupted before it began starts nothing:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, Targets, steps::Exec};
    /// # use deploy_core::event::NullSink;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
    /// # let targets: Targets = [("localhost".to_string(), local.clone())].into_iter().collect();
    /// use deploy_core::report::{Outcome, StepStatus};
    /// use tokio_util::sync::CancellationToken;
    ///
    /// let plan = Plan::builder("local", "hello")
    ///     .host("localhost", ["app"])
    ///     .step(PlannedStep::new(Exec::argv(["true"])))
    ///     .build()
    ///     .unwrap();
    /// let token = CancellationToken::new();
    /// token.cancel();
    /// let executor = Executor::new(local, RunValues::new("r1")).cancel_token(token);
    /// let report = executor.run(&plan, &targets, &NullSink).await;
    /// assert_eq!(report.outcome, Outcome::Interrupted);
    /// assert_eq!(report.hosts[0].steps[0].status, StepStatus::NotRun);
    /// # });
    /// ```
    pub fn cancel_token(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// Runs the plan. Never panics on step or target failures: everything
    /// ends up in the report.
    ///
    /// # Examples
    ///
    /// A host without a target is a failed step in the report, not a panic:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, Targets, steps::Exec};
    /// # use deploy_core::event::NullSink;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
    /// # let targets: Targets = [("localhost".to_string(), local.clone())].into_iter().collect();
    /// use deploy_core::report::Outcome;
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .step(PlannedStep::new(Exec::argv(["uptime"])))
    ///     .build()
    ///     .unwrap();
    /// let report = Executor::new(local, RunValues::new("r1")).run(&plan, &Targets::new(), &NullSink).await;
    /// assert_eq!(report.outcome, Outcome::Failed);
    /// assert_eq!(report.hosts[0].steps[0].error.as_deref(), Some("no target for host web1"));
    /// # });
    /// ```
    pub async fn run(&self, plan: &Plan, targets: &Targets, sink: &dyn EventSink) -> RunReport {
        let started = Instant::now();
        let masker = Masker::new(self.values.secrets.values().cloned());
        let sink = MaskingSink {
            inner: sink,
            masker: &masker,
        };
        // A task that does not ship shows no release id (its steps still
        // have `${release}`).
        let shown_release = if plan.ships() {
            self.values.release.clone()
        } else {
            String::new()
        };
        sink.event(&Event::RunStarted {
            environment: plan.environment().to_owned(),
            task: plan.task().to_owned(),
            release: shown_release.clone(),
            hosts: plan.hosts().len(),
            steps: plan.steps().len(),
        });
        let run = Run {
            executor: self,
            plan,
            targets,
            sink: &sink,
            masker: &masker,
            deps: plan.dependencies(),
            lanes: lanes(plan),
            permits: Semaphore::new(self.concurrency),
            stopped: Mutex::new(false),
            failed: Mutex::new(false),
            refused: Mutex::new(false),
            notes: Mutex::default(),
        };
        let mut records: Vec<Record> = Vec::new();
        for (number, batch) in plan.batches().into_iter().enumerate() {
            if run.should_stop() {
                records.extend(run.not_started(batch));
                continue;
            }
            sink.event(&Event::BatchStarted {
                batch: number + 1,
                hosts: batch.iter().map(|h| h.name.clone()).collect(),
            });
            records.extend(run.batch(batch).await);
        }
        let failed = run.failed();
        let refused = run.refused();
        let interrupted = self.cancel.is_cancelled();
        // Roll back only what there is to undo: a run that failed before
        // anything completed has nothing to roll back, and says nothing of it.
        let roll_back = (failed || refused)
            && plan.on_failure() == FailurePolicy::Rollback
            && records.iter().any(|r| r.applied.is_some());
        if roll_back {
            run.roll_back(&mut records).await;
        }
        let outcome = if failed && roll_back {
            Outcome::RolledBack
        } else if interrupted {
            Outcome::Interrupted
        } else if failed {
            Outcome::Failed
        } else if refused {
            Outcome::NotApproved
        } else {
            Outcome::Succeeded
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        sink.event(&Event::RunFinished {
            outcome,
            elapsed_ms,
        });
        RunReport {
            environment: plan.environment().to_owned(),
            task: plan.task().to_owned(),
            release: shown_release,
            outcome,
            hosts: assemble(plan, records),
            elapsed_ms,
            notes: run
                .notes
                .into_inner()
                .unwrap_or_default()
                .into_iter()
                .map(|(host, notes)| (host, notes.into_inner().unwrap_or_default()))
                .collect(),
        }
    }
}

/// One step's result on one lane, with what undo needs.
struct Record {
    lane: String,
    index: usize,
    report: StepReport,
    applied: Option<Applied>,
}

struct Run<'a> {
    executor: &'a Executor,
    plan: &'a Plan,
    targets: &'a Targets,
    sink: &'a dyn EventSink,
    masker: &'a Masker,
    deps: Vec<Vec<usize>>,
    lanes: BTreeMap<String, Vec<usize>>,
    permits: Semaphore,
    stopped: Mutex<bool>,
    failed: Mutex<bool>,
    refused: Mutex<bool>,
    /// Per host, what its steps left there (images, links, backups,
    /// services).
    notes: Mutex<BTreeMap<String, Mutex<crate::release::HostNotes>>>,
}

impl Run<'_> {
    fn should_stop(&self) -> bool {
        self.executor.cancel.is_cancelled() || self.stopped.lock().map(|s| *s).unwrap_or(true)
    }

    fn failed(&self) -> bool {
        self.failed.lock().map(|f| *f).unwrap_or(true)
    }

    fn refused(&self) -> bool {
        self.refused.lock().map(|r| *r).unwrap_or(true)
    }

    /// An approval was refused: the run stops everywhere.
    fn refuse(&self) {
        if let Ok(mut r) = self.refused.lock() {
            *r = true;
        }
        self.stop();
    }

    fn stop(&self) {
        if let Ok(mut s) = self.stopped.lock() {
            *s = true;
        }
    }
}

/// Groups records into per-lane reports: the local lane first, then hosts in
/// plan order; steps in plan order.
fn assemble(plan: &Plan, records: Vec<Record>) -> Vec<HostReport> {
    let mut lanes: BTreeMap<String, Vec<(usize, StepReport)>> = BTreeMap::new();
    for record in records {
        lanes
            .entry(record.lane)
            .or_default()
            .push((record.index, record.report));
    }
    let mut order: Vec<String> = Vec::new();
    if lanes.contains_key(LOCAL_LANE) {
        order.push(LOCAL_LANE.to_owned());
    }
    order.extend(plan.hosts().iter().map(|h| h.name.clone()));
    order
        .into_iter()
        .filter_map(|lane| {
            let mut steps = lanes.remove(&lane)?;
            steps.sort_by_key(|(i, _)| *i);
            Some(HostReport {
                host: lane,
                steps: steps.into_iter().map(|(_, r)| r).collect(),
            })
        })
        .collect()
}
