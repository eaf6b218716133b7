//! One step on one lane: its tries, timeout, backoff and the grace period
//! after an interrupt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Run;
use crate::event::Event;
use crate::plan::PlannedStep;
use crate::step::{Applied, StepError};
use crate::target::Target;

pub(super) enum Attempted {
    Done(Applied),
    Skipped,
    /// Its `when` did not hold on the host.
    ConditionNotMet,
    Failed(String),
    /// An approval gate was refused.
    Refused(String),
    Interrupted,
}

impl Run<'_> {
    /// Whether `step`'s condition holds on `target` (true without one).
    /// Each probe command is asked once per host: `known` keeps this lane's
    /// answers, so the steps of one guarded branch all run or none do, and
    /// a `succeeds` and a `fails` of the same command are exclusive.
    pub(super) async fn condition_holds(
        &self,
        step: &PlannedStep,
        target: &Arc<dyn Target>,
        lane: &str,
        known: &mut std::collections::BTreeMap<Vec<String>, bool>,
    ) -> Result<bool, String> {
        let Some(condition) = &step.condition else {
            return Ok(true);
        };
        let output = self.output(lane, step);
        let ctx = self.context(target, &output);
        let argv = condition
            .argv
            .iter()
            .map(|t| ctx.resolve(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.masker.mask(&e.chain()))?;
        let succeeded = match known.get(&argv) {
            Some(succeeded) => *succeeded,
            None => {
                let probe = ctx
                    .probe(&crate::Command::new(argv.clone()))
                    .await
                    .map_err(|e| self.masker.mask(&format!("checking `when`: {}", e.chain())))?;
                let succeeded = probe.status.is_some_and(|s| s.success());
                known.insert(argv, succeeded);
                succeeded
            }
        };
        Ok(condition.runs_when(succeeded))
    }

    /// Runs one step with its timeout and retries; returns the outcome and
    /// the number of tries.
    pub(super) async fn attempt(
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
                // A followed log never finishes: it gets no grace.
                if !step.step.runs_until_interrupted() {
                    tokio::time::sleep(self.executor.grace).await;
                }
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
                        allowed: step.allow_failure && !will_retry,
                    });
                    if !will_retry {
                        if matches!(error, StepError::NotApproved(_)) {
                            return (Attempted::Refused(message), tries);
                        }
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
}

/// Runs `work` within `limit`, if there is one.
pub(super) async fn within<T>(
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
