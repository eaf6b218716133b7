//! Batches and lanes: each host's steps in order, waiting on barriers and
//! `needs` across the batch, and what a failure does to the rest.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::watch;

use super::attempt::Attempted;
use super::{Record, Run};
use crate::event::{Event, LOCAL_LANE};
use crate::plan::{FailurePolicy, Host, Plan, PlannedStep, Selector};
use crate::report::{StepReport, StepStatus};

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

enum Ready {
    Go,
    /// The run is stopping.
    Abort,
    /// A step this one needs failed everywhere it ran (a failed `once`
    /// migration, say): under `continue` the host cannot go on either.
    Blocked(usize),
}

impl Run<'_> {
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

    /// The rest of `host`'s lane, `rest`, did not run: a not-run record for
    /// each step of it.
    fn rest_not_run(&self, host: &Host, rest: &[usize]) -> impl Iterator<Item = Record> {
        rest.iter().map(move |&i| self.record_not_run(host, i))
    }

    pub(super) fn not_started(&self, batch: &[Host]) -> Vec<Record> {
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

    pub(super) async fn batch(&self, batch: &[Host]) -> Vec<Record> {
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
        let mut conditions = BTreeMap::new();
        for (position, &index) in steps.iter().enumerate() {
            let step = &self.plan.steps()[index];
            match self.wait_ready(index, progress, &mut watcher).await {
                Ready::Go => {}
                Ready::Abort => {
                    records.extend(self.rest_not_run(host, &steps[position..]));
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
                    self.failed_before_start(&lane, step, &error);
                    let mut record = self.record_not_run(host, index);
                    record.report.status = StepStatus::Failed;
                    record.report.error = Some(error);
                    records.push(record);
                    self.after_failure(index, step, &steps[position + 1..], progress, changed);
                    records.extend(self.rest_not_run(host, &steps[position + 1..]));
                    break;
                }
            };
            let started = Instant::now();
            let (outcome, attempts) = match self
                .condition_holds(step, target, &lane, &mut conditions)
                .await
            {
                Ok(true) => self.attempt(step, target, &lane).await,
                Ok(false) => {
                    if let Some(condition) = &step.condition {
                        self.sink.event(&Event::ConditionNotMet {
                            host: lane.clone(),
                            step: step.id.clone(),
                            condition: condition.describe(),
                        });
                    }
                    (Attempted::ConditionNotMet, 0)
                }
                Err(error) => {
                    self.failed_before_start(&lane, step, &error);
                    (Attempted::Failed(error), 1)
                }
            };
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
                Attempted::ConditionNotMet => {
                    report.status = StepStatus::ConditionNotMet;
                    true
                }
                Attempted::Failed(error) if step.allow_failure => {
                    report.status = StepStatus::FailedAllowed;
                    report.error = Some(error);
                    true
                }
                Attempted::Failed(error) => {
                    report.status = StepStatus::Failed;
                    report.error = Some(error);
                    false
                }
                Attempted::Refused(error) => {
                    report.status = StepStatus::NotApproved;
                    report.error = Some(error);
                    // A refusal is a decision about the whole run.
                    self.refuse();
                    changed.send_modify(|n| *n += 1);
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
                records.extend(self.rest_not_run(host, &steps[position + 1..]));
                break;
            }
        }
        records
    }

    /// Says that `step` failed on `lane` before it could start (no target,
    /// a `when` probe that could not be asked): its one, final try.
    fn failed_before_start(&self, lane: &str, step: &PlannedStep, error: &str) {
        self.sink.event(&Event::StepFailed {
            host: lane.to_owned(),
            step: step.id.clone(),
            attempt: 1,
            error: error.to_owned(),
            will_retry: false,
            allowed: false,
        });
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
}

/// Each host's steps in order; the first host also carries the steps on the
/// deploying machine.
pub(super) fn lanes(plan: &Plan) -> BTreeMap<String, Vec<usize>> {
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
