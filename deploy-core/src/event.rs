//! Typed events the executor streams while a plan runs, and sinks for them.
//!
//! The CLI turns events into progress bars or JSON lines; tests record them
//! and assert on order. Every event is already masked: no secret value
//! reaches a sink.

use std::sync::Mutex;

use crate::report::Outcome;
use crate::target::OutputStream;

/// The lane name of steps that run on the deploying machine.
///
/// # Examples
///
/// Steps on the deploying machine are reported on this lane:
///
/// ```
/// # use std::sync::Arc;
/// # use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, Targets, steps::Exec};
/// # use deploy_core::event::NullSink;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
/// # let targets: Targets = [("localhost".to_string(), local.clone())].into_iter().collect();
/// use deploy_core::event::LOCAL_LANE;
///
/// let plan = Plan::builder("production", "build")
///     .host("localhost", ["app"])
///     .step(PlannedStep::new(Exec::argv(["true"])).local())
///     .build()
///     .unwrap();
/// let report = Executor::new(local, RunValues::new("r1")).run(&plan, &targets, &NullSink).await;
/// assert_eq!(report.hosts[0].host, LOCAL_LANE);
/// # });
/// ```
pub const LOCAL_LANE: &str = "(local)";

/// Something that happened during a run.
///
/// # Examples
///
/// ```
/// use deploy_core::event::Event;
///
/// let skipped = Event::StepSkipped { host: "web1".into(), step: "deploy.1".into() };
/// assert_eq!(
///     serde_json::to_string(&skipped).unwrap(),
///     r#"{"event":"step-skipped","host":"web1","step":"deploy.1"}"#
/// );
/// ```
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
        /// Release id (empty for a task that does not ship).
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
        /// Showing output is the step's purpose (see
        /// [`Description::shows_output`](crate::Description::shows_output)):
        /// print its stdout, not only with `-v`.
        shown: bool,
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
        /// The step may fail (`allow_failure`): the host goes on. Only on
        /// the last try.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        allowed: bool,
    },
    /// A step's condition did not hold on the host: it was skipped there.
    ConditionNotMet {
        /// Host.
        host: String,
        /// Step id.
        step: String,
        /// The condition, as the plan shows it.
        condition: String,
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
///
/// # Examples
///
/// A sink that counts roll backs:
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
/// use deploy_core::event::{Event, EventSink};
///
/// struct Rollbacks(AtomicUsize);
/// impl EventSink for Rollbacks {
///     fn event(&self, event: &Event) {
///         if *event == Event::RollbackStarted { self.0.fetch_add(1, Relaxed); }
///     }
/// }
/// let sink = Rollbacks(AtomicUsize::new(0));
/// sink.event(&Event::RollbackStarted);
/// sink.event(&Event::StepSkipped { host: "web1".into(), step: "deploy.1".into() });
/// assert_eq!(sink.0.load(Relaxed), 1);
/// ```
pub trait EventSink: Send + Sync {
    /// One event.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::event::{Event, EventSink, RecordingSink};
    ///
    /// let sink = RecordingSink::default();
    /// sink.event(&Event::BatchStarted { batch: 1, hosts: vec!["web1".into(), "web2".into()] });
    /// assert!(matches!(&sink.events()[0], Event::BatchStarted { batch: 1, .. }));
    /// ```
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
    ///
    /// # Examples
    ///
    /// A run starts and finishes with an event:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, Targets, steps::Exec};
    /// # use deploy_core::event::NullSink;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
    /// # let targets: Targets = [("localhost".to_string(), local.clone())].into_iter().collect();
    /// use deploy_core::event::{Event, RecordingSink};
    ///
    /// let plan = Plan::builder("local", "hello")
    ///     .host("localhost", ["app"])
    ///     .step(PlannedStep::new(Exec::argv(["echo", "hello"])))
    ///     .build()
    ///     .unwrap();
    /// let sink = RecordingSink::default();
    /// Executor::new(local, RunValues::new("r1")).run(&plan, &targets, &sink).await;
    /// let events = sink.events();
    /// assert!(matches!(events.first(), Some(Event::RunStarted { hosts: 1, steps: 1, .. })));
    /// assert!(matches!(events.last(), Some(Event::RunFinished { .. })));
    /// # });
    /// ```
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
///
/// # Examples
///
/// For runs whose report is all that matters:
///
/// ```
/// # use std::sync::Arc;
/// # use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, Targets, steps::Exec};
/// # use deploy_core::event::NullSink;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
/// # let targets: Targets = [("localhost".to_string(), local.clone())].into_iter().collect();
/// let step = PlannedStep::new(Exec::argv(["true"]));
/// let plan = Plan::builder("local", "hello").host("localhost", ["app"]).step(step).build().unwrap();
/// let report = Executor::new(local, RunValues::new("r1")).run(&plan, &targets, &NullSink).await;
/// assert!(report.succeeded());
/// # });
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl EventSink for NullSink {
    fn event(&self, _: &Event) {}
}
