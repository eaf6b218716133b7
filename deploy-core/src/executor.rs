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

use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::event::{Event, EventSink, LOCAL_LANE};
use crate::plan::{FailurePolicy, Host, Plan, PlannedStep, Selector};
use crate::report::{HostReport, Outcome, RollbackStatus, RunReport, StepReport, StepStatus};
use crate::secret::Masker;
use crate::step::{Applied, Approver, StepContext, StepError, Unattended};
use crate::target::{OutputSink, OutputStream, Target};
use crate::text::RunValues;

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
        sink.event(&Event::RunStarted {
            environment: plan.environment().to_owned(),
            task: plan.task().to_owned(),
            release: self.values.release.clone(),
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
        let interrupted = self.cancel.is_cancelled();
        let outcome = if failed && plan.on_failure() == FailurePolicy::Rollback {
            run.roll_back(&mut records).await;
            Outcome::RolledBack
        } else if interrupted {
            Outcome::Interrupted
        } else if failed {
            Outcome::Failed
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
            release: self.values.release.clone(),
            outcome,
            hosts: assemble(plan, records),
            elapsed_ms,
        }
    }
}

/// Masks every event before it reaches the real sink.
struct MaskingSink<'a> {
    inner: &'a dyn EventSink,
    masker: &'a Masker,
}

impl EventSink for MaskingSink<'_> {
    fn event(&self, event: &Event) {
        match event {
            Event::Output {
                host,
                step,
                stream,
                line,
            } => self.inner.event(&Event::Output {
                host: host.clone(),
                step: step.clone(),
                stream: *stream,
                line: self.masker.mask(line),
            }),
            other => self.inner.event(other),
        }
    }
}

/// Streams a step's output lines as events.
struct StepOutput<'a> {
    sink: &'a dyn EventSink,
    host: &'a str,
    step: &'a str,
}

impl OutputSink for StepOutput<'_> {
    fn line(&self, stream: OutputStream, line: &str) {
        self.sink.event(&Event::Output {
            host: self.host.to_owned(),
            step: self.step.to_owned(),
            stream,
            line: line.to_owned(),
        });
    }
}

/// One step's result on one lane, with what undo needs.
struct Record {
    lane: String,
    index: usize,
    report: StepReport,
    applied: Option<Applied>,
}

/// Progress counters for one batch.
struct Progress {
    /// Per step: how many lanes of the batch will still run it.
    expected: Vec<usize>,
    /// Per step: how many have finished it (done or already done).
    finished: Vec<usize>,
    /// Per step: how many lanes failed it.
    failed: Vec<usize>,
    /// Every step before this index is complete.
    complete_prefix: usize,
}

impl Progress {
    fn complete(&self, i: usize) -> bool {
        self.finished[i] >= self.expected[i]
    }

    /// It was to run, failed wherever it ran, and will run nowhere else.
    fn dead(&self, i: usize) -> bool {
        self.failed[i] > 0 && self.finished[i] == 0 && self.expected[i] == 0
    }

    fn prefix_complete(&mut self, upto: usize) -> bool {
        while self.complete_prefix < upto && self.complete(self.complete_prefix) {
            self.complete_prefix += 1;
        }
        self.complete_prefix >= upto
    }
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
}

enum Ready {
    Go,
    /// The run is stopping.
    Abort,
    /// A step this one needs failed everywhere it ran (a failed `once`
    /// migration, say): under `continue` the host cannot go on either.
    Blocked(usize),
}

enum Attempted {
    Done(Applied),
    Skipped,
    Failed(String),
    Interrupted,
}

impl Run<'_> {
    /// Where a step's output lines go on `lane`.
    fn output<'s>(&'s self, lane: &'s str, step: &'s PlannedStep) -> StepOutput<'s> {
        StepOutput {
            sink: self.sink,
            host: lane,
            step: &step.id,
        }
    }

    /// What a step gets to work with on `target`.
    fn context<'s>(
        &'s self,
        target: &Arc<dyn Target>,
        output: &'s StepOutput<'s>,
    ) -> StepContext<'s> {
        StepContext {
            target: target.clone(),
            local: self.executor.local.clone(),
            values: &self.executor.values,
            output,
            approver: self.executor.approver.as_ref(),
            masker: self.masker,
        }
    }

    fn should_stop(&self) -> bool {
        self.executor.cancel.is_cancelled() || self.stopped.lock().map(|s| *s).unwrap_or(true)
    }

    fn failed(&self) -> bool {
        self.failed.lock().map(|f| *f).unwrap_or(true)
    }

    fn stop(&self) {
        if let Ok(mut s) = self.stopped.lock() {
            *s = true;
        }
    }

    /// The steps `host` carries, in order: its own and (for the plan's first
    /// host) those on the deploying machine.
    fn lane_steps(&self, host: &Host) -> Vec<usize> {
        self.lanes.get(&host.name).cloned().unwrap_or_default()
    }

    fn lane_of(&self, host: &Host, step: &PlannedStep) -> String {
        if step.on == Selector::Local {
            LOCAL_LANE.to_owned()
        } else {
            host.name.clone()
        }
    }

    fn record_not_run(&self, host: &Host, index: usize) -> Record {
        let step = &self.plan.steps()[index];
        Record {
            lane: self.lane_of(host, step),
            index,
            report: StepReport {
                step: step.id.clone(),
                kind: step.step.kind().to_owned(),
                status: StepStatus::NotRun,
                attempts: 0,
                elapsed_ms: 0,
                error: None,
                rollback: None,
            },
            applied: None,
        }
    }

    fn not_started(&self, batch: &[Host]) -> Vec<Record> {
        batch
            .iter()
            .flat_map(|host| {
                self.lane_steps(host)
                    .into_iter()
                    .map(|i| self.record_not_run(host, i))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    async fn batch(&self, batch: &[Host]) -> Vec<Record> {
        let lanes: Vec<(&Host, Vec<usize>)> =
            batch.iter().map(|h| (h, self.lane_steps(h))).collect();
        let mut expected = vec![0usize; self.plan.steps().len()];
        for (_, steps) in &lanes {
            for &i in steps {
                expected[i] += 1;
            }
        }
        let progress = Mutex::new(Progress {
            finished: vec![0; expected.len()],
            failed: vec![0; expected.len()],
            expected,
            complete_prefix: 0,
        });
        let (changed, watcher) = watch::channel(0u64);
        let lane_runs = lanes
            .iter()
            .map(|(host, steps)| self.lane(host, steps, &progress, &changed, watcher.clone()));
        futures_util::future::join_all(lane_runs)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn wait_ready(
        &self,
        index: usize,
        progress: &Mutex<Progress>,
        watcher: &mut watch::Receiver<u64>,
    ) -> Ready {
        let step = &self.plan.steps()[index];
        loop {
            watcher.borrow_and_update();
            if self.should_stop() {
                return Ready::Abort;
            }
            let ready = match progress.lock() {
                Ok(mut p) => {
                    if let Some(&dead) = self.deps[index].iter().find(|&&d| p.dead(d)) {
                        return Ready::Blocked(dead);
                    }
                    (!step.barrier || p.prefix_complete(index))
                        && self.deps[index].iter().all(|&d| p.complete(d))
                }
                Err(_) => return Ready::Abort,
            };
            if ready {
                return Ready::Go;
            }
            tokio::select! {
                changed = watcher.changed() => if changed.is_err() { return Ready::Abort },
                _ = self.executor.cancel.cancelled() => return Ready::Abort,
            }
        }
    }

    async fn lane(
        &self,
        host: &Host,
        steps: &[usize],
        progress: &Mutex<Progress>,
        changed: &watch::Sender<u64>,
        mut watcher: watch::Receiver<u64>,
    ) -> Vec<Record> {
        let mut records = Vec::with_capacity(steps.len());
        let target = self.targets.get(&host.name);
        for (position, &index) in steps.iter().enumerate() {
            let step = &self.plan.steps()[index];
            match self.wait_ready(index, progress, &mut watcher).await {
                Ready::Go => {}
                Ready::Abort => {
                    records.extend(
                        steps[position..]
                            .iter()
                            .map(|&i| self.record_not_run(host, i)),
                    );
                    break;
                }
                Ready::Blocked(dead) => {
                    let reason = format!(
                        "not run: it needs {}, which failed",
                        self.plan.steps()[dead].id
                    );
                    self.leave_batch(&steps[position..], progress, changed);
                    records.extend(steps[position..].iter().map(|&i| {
                        let mut record = self.record_not_run(host, i);
                        record.report.error = Some(reason.clone());
                        record
                    }));
                    break;
                }
            }
            let lane = self.lane_of(host, step);
            let target = match (&step.on, target) {
                (Selector::Local, _) => &self.executor.local,
                (_, Some(t)) => t,
                (_, None) => {
                    let error = format!("no target for host {}", host.name);
                    self.sink.event(&Event::StepFailed {
                        host: lane.clone(),
                        step: step.id.clone(),
                        attempt: 1,
                        error: error.clone(),
                        will_retry: false,
                    });
                    let mut record = self.record_not_run(host, index);
                    record.report.status = StepStatus::Failed;
                    record.report.error = Some(error);
                    records.push(record);
                    self.after_failure(index, step, &steps[position + 1..], progress, changed);
                    records.extend(
                        steps[position + 1..]
                            .iter()
                            .map(|&i| self.record_not_run(host, i)),
                    );
                    break;
                }
            };
            let started = Instant::now();
            let (outcome, attempts) = self.attempt(step, target, &lane).await;
            let mut report = StepReport {
                step: step.id.clone(),
                kind: step.step.kind().to_owned(),
                status: StepStatus::Done,
                attempts,
                elapsed_ms: started.elapsed().as_millis() as u64,
                error: None,
                rollback: None,
            };
            let mut applied = None;
            let go_on = match outcome {
                Attempted::Done(a) => {
                    applied = Some(a);
                    true
                }
                Attempted::Skipped => {
                    report.status = StepStatus::Skipped;
                    true
                }
                Attempted::Failed(error) => {
                    report.status = StepStatus::Failed;
                    report.error = Some(error);
                    false
                }
                Attempted::Interrupted => {
                    report.status = StepStatus::Interrupted;
                    false
                }
            };
            records.push(Record {
                lane,
                index,
                report,
                applied,
            });
            if go_on {
                if let Ok(mut p) = progress.lock() {
                    p.finished[index] += 1;
                }
                changed.send_modify(|n| *n += 1);
            } else {
                if records
                    .last()
                    .is_some_and(|r| r.report.status == StepStatus::Failed)
                {
                    self.after_failure(index, step, &steps[position + 1..], progress, changed);
                }
                records.extend(
                    steps[position + 1..]
                        .iter()
                        .map(|&i| self.record_not_run(host, i)),
                );
                break;
            }
        }
        records
    }

    /// Applies the failure policy after `step` (at `index`) failed on a host.
    fn after_failure(
        &self,
        index: usize,
        step: &PlannedStep,
        remaining: &[usize],
        progress: &Mutex<Progress>,
        changed: &watch::Sender<u64>,
    ) {
        if let Ok(mut f) = self.failed.lock() {
            *f = true;
        }
        // The host leaving the run carries the deploying machine's later
        // steps: without them nobody may go on.
        let carries_local = remaining
            .iter()
            .any(|&i| self.plan.steps()[i].on == Selector::Local);
        let stop_all = self.plan.on_failure() != FailurePolicy::Continue
            || step.on == Selector::Local
            || carries_local;
        if stop_all {
            self.stop();
            changed.send_modify(|n| *n += 1);
        } else {
            if let Ok(mut p) = progress.lock() {
                p.failed[index] += 1;
            }
            // The host leaves the batch: barriers and `needs` stop counting
            // it for the failed step and for the steps it will not run.
            self.leave_batch(&[&[index], remaining].concat(), progress, changed);
        }
    }

    /// A lane will not run `steps`: others stop waiting for it there.
    fn leave_batch(
        &self,
        steps: &[usize],
        progress: &Mutex<Progress>,
        changed: &watch::Sender<u64>,
    ) {
        if let Ok(mut p) = progress.lock() {
            for &i in steps {
                p.expected[i] = p.expected[i].saturating_sub(1);
            }
        }
        changed.send_modify(|n| *n += 1);
    }

    /// Runs one step with its timeout and retries; returns the outcome and
    /// the number of tries.
    async fn attempt(
        &self,
        step: &PlannedStep,
        target: &Arc<dyn Target>,
        lane: &str,
    ) -> (Attempted, u32) {
        let output = self.output(lane, step);
        let ctx = self.context(target, &output);
        let mut tries = 0u32;
        let mut connection_retries = 0u32;
        loop {
            tries += 1;
            if tries > 1 && self.executor.cancel.is_cancelled() {
                return (Attempted::Interrupted, tries - 1);
            }
            let Ok(_permit) = self.permits.acquire().await else {
                return (Attempted::Interrupted, tries - 1);
            };
            self.sink.event(&Event::StepStarted {
                host: lane.to_owned(),
                step: step.id.clone(),
                summary: step.step.describe().summary,
                attempt: tries,
            });
            let started = Instant::now();
            let work = async {
                if step.step.is_satisfied(&ctx).await? {
                    return Ok(None);
                }
                step.step.apply(&ctx).await.map(Some)
            };
            let timed = within(step.timeout, work);
            let grace = async {
                self.executor.cancel.cancelled().await;
                tokio::time::sleep(self.executor.grace).await;
            };
            let result = tokio::select! {
                result = timed => result,
                _ = grace => {
                    self.sink.event(&Event::StepInterrupted {
                        host: lane.to_owned(),
                        step: step.id.clone(),
                    });
                    return (Attempted::Interrupted, tries);
                }
            };
            match result {
                Ok(None) => {
                    self.sink.event(&Event::StepSkipped {
                        host: lane.to_owned(),
                        step: step.id.clone(),
                    });
                    return (Attempted::Skipped, tries);
                }
                Ok(Some(applied)) => {
                    self.sink.event(&Event::StepFinished {
                        host: lane.to_owned(),
                        step: step.id.clone(),
                        elapsed_ms: started.elapsed().as_millis() as u64,
                    });
                    return (Attempted::Done(applied), tries);
                }
                Err(error) => {
                    let message = self.masker.mask(&error.chain());
                    let connection_retry = error.is_safe_to_retry()
                        && connection_retries < self.executor.connection_retries;
                    let step_retry = tries - connection_retries <= step.retry.retries
                        && !matches!(error, StepError::NotApproved(_));
                    let will_retry =
                        (connection_retry || step_retry) && !self.executor.cancel.is_cancelled();
                    self.sink.event(&Event::StepFailed {
                        host: lane.to_owned(),
                        step: step.id.clone(),
                        attempt: tries,
                        error: message.clone(),
                        will_retry,
                    });
                    if !will_retry {
                        return (Attempted::Failed(message), tries);
                    }
                    if connection_retry {
                        connection_retries += 1;
                    }
                    let backoff = step.retry.backoff.saturating_mul(1 << (tries - 1).min(16));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.executor.cancel.cancelled() => return (Attempted::Failed(message), tries),
                    }
                }
            }
        }
    }

    /// Undoes, on every lane, the steps that completed, newest first; lanes
    /// in parallel.
    async fn roll_back(&self, records: &mut [Record]) {
        self.sink.event(&Event::RollbackStarted);
        let mut by_lane: BTreeMap<String, Vec<&mut Record>> = BTreeMap::new();
        for record in records.iter_mut() {
            if record.applied.is_some() {
                by_lane.entry(record.lane.clone()).or_default().push(record);
            }
        }
        let undo_lanes = by_lane.into_iter().map(|(lane, mut done)| async move {
            done.sort_by_key(|r| std::cmp::Reverse(r.index));
            for record in done {
                let step = &self.plan.steps()[record.index];
                let target = if lane == LOCAL_LANE {
                    Some(&self.executor.local)
                } else {
                    self.targets.get(&lane)
                };
                let (Some(target), Some(applied)) = (target, record.applied.as_ref()) else {
                    continue;
                };
                let Some(undo) = step.step.undoable() else {
                    record.report.rollback = Some(RollbackStatus::NotUndoable);
                    self.sink.event(&Event::NotUndoable {
                        host: lane.clone(),
                        step: step.id.clone(),
                    });
                    continue;
                };
                let output = self.output(&lane, step);
                let ctx = self.context(target, &output);
                let result = within(step.timeout, undo.revert(&ctx, applied)).await;
                match result {
                    Ok(()) => {
                        record.report.rollback = Some(RollbackStatus::Undone);
                        self.sink.event(&Event::RolledBack {
                            host: lane.clone(),
                            step: step.id.clone(),
                        });
                    }
                    Err(StepError::NotUndoable) => {
                        record.report.rollback = Some(RollbackStatus::NotUndoable);
                        self.sink.event(&Event::NotUndoable {
                            host: lane.clone(),
                            step: step.id.clone(),
                        });
                    }
                    Err(e) => {
                        let error = self.masker.mask(&e.chain());
                        record.report.rollback = Some(RollbackStatus::UndoFailed(error.clone()));
                        self.sink.event(&Event::UndoFailed {
                            host: lane.clone(),
                            step: step.id.clone(),
                            error,
                        });
                    }
                }
            }
        });
        futures_util::future::join_all(undo_lanes).await;
    }
}

/// Runs `work` within `limit`, if there is one.
async fn within<T>(
    limit: Option<Duration>,
    work: impl std::future::Future<Output = Result<T, StepError>>,
) -> Result<T, StepError> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, work)
            .await
            .unwrap_or(Err(StepError::TimedOut(limit))),
        None => work.await,
    }
}

/// Each host's steps in order; the first host also carries the steps on the
/// deploying machine.
fn lanes(plan: &Plan) -> BTreeMap<String, Vec<usize>> {
    let locals: Vec<usize> = plan
        .steps()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.on == Selector::Local)
        .map(|(i, _)| i)
        .collect();
    plan.steps_by_host()
        .into_iter()
        .zip(plan.hosts())
        .enumerate()
        .map(|(h, (mut steps, host))| {
            if h == 0 && !locals.is_empty() {
                steps.extend(&locals);
                steps.sort_unstable();
            }
            (host.name.clone(), steps)
        })
        .collect()
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
