//! Typed events the executor streams while a plan runs, and sinks for them.
//!
//! The CLI turns events into progress bars or JSON lines; tests record them
//! and assert on order. Every event is already masked: no secret value
//! reaches a sink.

use std::sync::Mutex;

use crate::report::Outcome;
use crate::target::OutputStream;

/// The lane name of steps that run on the deploying machine.
pub const LOCAL_LANE: &str = "(local)";

/// Something that happened during a run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Event {
    /// The run began.
    RunStarted {
        /// Environment.
        environment: String,
        /// Task.
        task: String,
        /// Release id.
        release: String,
        /// Number of hosts.
        hosts: usize,
        /// Number of planned steps.
        steps: usize,
    },
    /// A rollout batch began.
    BatchStarted {
        /// Batch number, from 1.
        batch: usize,
        /// Its hosts.
        hosts: Vec<String>,
    },
    /// A step began on a host (again, for a retry).
    StepStarted {
        /// Host (or [`LOCAL_LANE`]).
        host: String,
        /// Step id.
        step: String,
        /// The step's summary line.
        summary: String,
        /// Try number, from 1.
        attempt: u32,
    },
    /// A line of command output.
    Output {
        /// Host.
        host: String,
        /// Step id.
        step: String,
        /// stdout or stderr.
        stream: OutputStream,
        /// The line.
        line: String,
    },
    /// A step was skipped because its work was already done.
    StepSkipped {
        /// Host.
        host: String,
        /// Step id.
        step: String,
    },
    /// A step finished.
    StepFinished {
        /// Host.
        host: String,
        /// Step id.
        step: String,
        /// How long it took.
        elapsed_ms: u64,
    },
    /// A step failed (and may be tried again).
    StepFailed {
        /// Host.
        host: String,
        /// Step id.
        step: String,
        /// Which try failed.
        attempt: u32,
        /// Why.
        error: String,
        /// Whether it will be tried again.
        will_retry: bool,
    },
    /// A running step was stopped because the run was interrupted.
    StepInterrupted {
        /// Host.
        host: String,
        /// Step id.
        step: String,
    },
    /// Roll back began.
    RollbackStarted,
    /// A completed step was undone.
    RolledBack {
        /// Host.
        host: String,
        /// Step id.
        step: String,
    },
    /// Undoing a step failed.
    UndoFailed {
        /// Host.
        host: String,
        /// Step id.
        step: String,
        /// Why.
        error: String,
    },
    /// A completed step cannot be undone.
    NotUndoable {
        /// Host.
        host: String,
        /// Step id.
        step: String,
    },
    /// The run ended.
    RunFinished {
        /// How.
        outcome: Outcome,
        /// How long it took.
        elapsed_ms: u64,
    },
}

/// Receives events; called from many hosts' work at once.
pub trait EventSink: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
}

/// Keeps every event, in order, for tests and reports.
///
/// # Examples
///
/// ```
/// use deploy_core::event::{Event, EventSink, RecordingSink};
///
/// let sink = RecordingSink::default();
/// sink.event(&Event::RollbackStarted);
/// assert_eq!(sink.events(), vec![Event::RollbackStarted]);
/// ```
#[derive(Debug, Default)]
pub struct RecordingSink {
    events: Mutex<Vec<Event>>,
}

impl RecordingSink {
    /// A copy of the events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl EventSink for RecordingSink {
    fn event(&self, event: &Event) {
        if let Ok(mut events) = self.events.lock() {
            events.push(event.clone());
        }
    }
}

/// Drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl EventSink for NullSink {
    fn event(&self, _: &Event) {}
}
