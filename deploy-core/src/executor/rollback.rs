//! Rollback: undoing, lane by lane, what a failed run completed.

use std::collections::BTreeMap;

use super::attempt::within;
use super::{Record, Run};
use crate::event::{Event, LOCAL_LANE};
use crate::report::RollbackStatus;
use crate::step::StepError;

impl Run<'_> {
    /// Undoes, on every lane, the steps that completed, newest first (those
    /// whose undo comes [after the rest](crate::Undo::after_the_rest) last);
    /// lanes in parallel.
    pub(super) async fn roll_back(&self, records: &mut [Record]) {
        self.sink.event(&Event::RollbackStarted);
        let mut by_lane: BTreeMap<String, Vec<&mut Record>> = BTreeMap::new();
        for record in records.iter_mut() {
            if record.applied.is_some() {
                by_lane.entry(record.lane.clone()).or_default().push(record);
            }
        }
        let undo_lanes = by_lane.into_iter().map(|(lane, mut done)| async move {
            let last = |index: usize| {
                self.plan.steps()[index]
                    .step
                    .undoable()
                    .is_some_and(|undo| undo.after_the_rest())
            };
            done.sort_by_key(|r| (last(r.index), std::cmp::Reverse(r.index)));
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
