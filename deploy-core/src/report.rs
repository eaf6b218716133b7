//! What a run did, per host and per step: the executor's result.

use std::fmt::Write as _;

/// How a run ended.
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
/// use deploy_core::report::Outcome;
///
/// let step = PlannedStep::new(Exec::argv(["false"]));
/// let plan = Plan::builder("local", "fail").host("localhost", ["app"]).step(step).build().unwrap();
/// let report = Executor::new(local, RunValues::new("r1")).run(&plan, &targets, &NullSink).await;
/// assert_eq!(report.outcome, Outcome::Failed);
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every step finished or was already done.
    Succeeded,
    /// A step failed.
    Failed,
    /// A step failed and completed steps were undone.
    RolledBack,
    /// The run was interrupted.
    Interrupted,
    /// An approval gate was refused (or no one was there to approve): the
    /// run stopped there; nothing failed. Under `rollback`, what completed
    /// before it was undone (the steps say so).
    NotApproved,
}

/// What became of one step on one host.
///
/// # Examples
///
/// After a failure, later steps on the host do not run:
///
/// ```
/// # use std::sync::Arc;
/// # use deploy_core::{Executor, LocalTarget, Plan, PlannedStep, RunValues, Target, Targets, steps::Exec};
/// # use deploy_core::event::NullSink;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let local: Arc<dyn Target> = Arc::new(LocalTarget::new("localhost"));
/// # let targets: Targets = [("localhost".to_string(), local.clone())].into_iter().collect();
/// use deploy_core::report::StepStatus;
///
/// let plan = Plan::builder("local", "fail")
///     .host("localhost", ["app"])
///     .step(PlannedStep::new(Exec::argv(["true"])))
///     .step(PlannedStep::new(Exec::argv(["false"])))
///     .step(PlannedStep::new(Exec::argv(["true"])))
///     .build()
///     .unwrap();
/// let report = Executor::new(local, RunValues::new("r1")).run(&plan, &targets, &NullSink).await;
/// let statuses: Vec<StepStatus> = report.hosts[0].steps.iter().map(|s| s.status).collect();
/// assert_eq!(statuses, [StepStatus::Done, StepStatus::Failed, StepStatus::NotRun]);
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// It ran and finished.
    Done,
    /// Its work was already done; it did not run.
    Skipped,
    /// It failed.
    Failed,
    /// It failed, and was allowed to (`allow_failure`): the host went on.
    FailedAllowed,
    /// It is an approval gate, and it was refused: the run stopped.
    NotApproved,
    /// Its condition (`when`) did not hold on the host: it did not run
    /// there, and the host went on.
    ConditionNotMet,
    /// It was running when the run was interrupted.
    Interrupted,
    /// It never started.
    NotRun,
}

/// What roll back did to one step.
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
/// use deploy_core::{FailurePolicy, report::{Outcome, RollbackStatus}};
///
/// let plan = Plan::builder("local", "deploy")
///     .host("localhost", ["app"])
///     .on_failure(FailurePolicy::Rollback)
///     .step(PlannedStep::new(Exec::argv(["true"]).undo(["true"])))
///     .step(PlannedStep::new(Exec::argv(["false"])))
///     .build()
///     .unwrap();
/// let report = Executor::new(local, RunValues::new("r1")).run(&plan, &targets, &NullSink).await;
/// assert_eq!(report.outcome, Outcome::RolledBack);
/// assert_eq!(report.hosts[0].steps[0].rollback, Some(RollbackStatus::Undone));
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackStatus {
    /// Undone.
    Undone,
    /// Undo was tried and failed.
    UndoFailed(String),
    /// The step cannot be undone.
    NotUndoable,
}

/// One step on one host.
///
/// # Examples
///
/// ```
/// use deploy_core::report::{StepReport, StepStatus};
///
/// let step = StepReport {
///     step: "deploy.2".into(), kind: "exec".into(), status: StepStatus::Failed,
///     attempts: 3, elapsed_ms: 40, error: Some("`make` failed with exit code 2".into()),
///     rollback: None,
/// };
/// let json = serde_json::to_value(&step).unwrap();
/// assert_eq!((json["status"].as_str(), json["attempts"].as_u64()), (Some("failed"), Some(3)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StepReport {
    /// Step id.
    pub step: String,
    /// Step kind.
    pub kind: String,
    /// What became of it.
    pub status: StepStatus,
    /// Tries made.
    pub attempts: u32,
    /// Time taken, all tries included.
    pub elapsed_ms: u64,
    /// The last error (masked).
    pub error: Option<String>,
    /// What roll back did, if it ran.
    pub rollback: Option<RollbackStatus>,
}

/// One host's steps.
///
/// # Examples
///
/// ```
/// use deploy_core::report::{HostReport, StepReport, StepStatus};
///
/// let step = |status| StepReport {
///     step: "deploy.1".into(), kind: "exec".into(), status,
///     attempts: 1, elapsed_ms: 5, error: None, rollback: None,
/// };
/// let web1 = HostReport { host: "web1".into(), steps: vec![step(StepStatus::Done)] };
/// assert_eq!(web1.steps.len(), 1);
/// assert!(web1.ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HostReport {
    /// Host (or the local lane).
    pub host: String,
    /// Its steps, in plan order.
    pub steps: Vec<StepReport>,
}

impl HostReport {
    /// True when no step failed or was interrupted.
    ///
    /// # Examples
    ///
    /// Steps that did not run do not make a host fail; a failed or interrupted one does:
    ///
    /// ```
    /// use deploy_core::report::{HostReport, StepReport, StepStatus};
    ///
    /// let step = |status| StepReport {
    ///     step: "deploy.1".into(), kind: "exec".into(), status,
    ///     attempts: 1, elapsed_ms: 5, error: None, rollback: None,
    /// };
    /// let host = |steps| HostReport { host: "web1".into(), steps };
    /// assert!(host(vec![step(StepStatus::Skipped), step(StepStatus::NotRun)]).ok());
    /// assert!(!host(vec![step(StepStatus::Done), step(StepStatus::Interrupted)]).ok());
    /// ```
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| {
            !matches!(
                s.status,
                StepStatus::Failed | StepStatus::Interrupted | StepStatus::NotApproved
            )
        })
    }
}

/// What a run did.
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
/// let step = PlannedStep::new(Exec::argv(["echo", "hello"]));
/// let plan = Plan::builder("local", "hello").host("localhost", ["app"]).step(step).build().unwrap();
/// let report = Executor::new(local, RunValues::new("r1")).run(&plan, &targets, &NullSink).await;
/// assert_eq!((report.environment.as_str(), report.release.as_str()), ("local", "r1"));
/// assert_eq!(report.host("localhost").unwrap().steps[0].attempts, 1);
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    /// Environment.
    pub environment: String,
    /// Task.
    pub task: String,
    /// Release id (empty for a task that does not ship: the report shows none).
    pub release: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Per host, in plan order.
    pub hosts: Vec<HostReport>,
    /// Wall time.
    pub elapsed_ms: u64,
    /// Per host, what its steps left there (for the release record).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub notes: std::collections::BTreeMap<String, crate::release::HostNotes>,
}

/// `web1, web2, web3`, or `web1 … web198` for more than four.
fn name_list(names: &[&str]) -> String {
    match names {
        [first, .., last] if names.len() > 4 => format!("{first} … {last}"),
        _ => names.join(", "),
    }
}

impl HostReport {
    /// `3 done, 1 failed, 2 not run, 1 undone`.
    fn counts(&self) -> String {
        let count = |status| self.steps.iter().filter(|s| s.status == status).count();
        let mut parts = Vec::new();
        for (status, label) in [
            (StepStatus::Done, "done"),
            (StepStatus::Skipped, "already done"),
            (StepStatus::Failed, "failed"),
            (StepStatus::FailedAllowed, "failed (allowed)"),
            (StepStatus::NotApproved, "not approved"),
            (StepStatus::ConditionNotMet, "skipped (condition not met)"),
            (StepStatus::Interrupted, "interrupted"),
            (StepStatus::NotRun, "not run"),
        ] {
            let n = count(status);
            if n > 0 {
                parts.push(format!("{n} {label}"));
            }
        }
        let undone = self
            .steps
            .iter()
            .filter(|s| s.rollback == Some(RollbackStatus::Undone))
            .count();
        if undone > 0 {
            parts.push(format!("{undone} undone"));
        }
        parts.join(", ")
    }

    /// True when a step has an error or was rolled back: the host is
    /// listed on its own, with them.
    fn exceptional(&self) -> bool {
        self.steps
            .iter()
            .any(|s| s.error.is_some() || s.rollback.is_some())
    }

    /// Each error's headline and each undo that did not happen.
    fn render_exceptions(&self, out: &mut String) {
        for step in &self.steps {
            // The headline: the causes under it were shown when the step
            // failed, and are in `error`.
            if let Some(error) = &step.error {
                let headline = error.lines().next().unwrap_or_default();
                let _ = writeln!(out, "    {} {:?}: {headline}", step.step, step.status);
            }
            match &step.rollback {
                Some(RollbackStatus::UndoFailed(e)) => {
                    let headline = e.lines().next().unwrap_or_default();
                    let _ = writeln!(out, "    {} undo failed: {headline}", step.step);
                }
                Some(RollbackStatus::NotUndoable) => {
                    let _ = writeln!(out, "    {} could not be undone", step.step);
                }
                _ => {}
            }
        }
    }
}

impl RunReport {
    fn is_exception(&self, host: &str) -> bool {
        self.host(host).is_some_and(HostReport::exceptional)
    }

    /// True when the run succeeded.
    ///
    /// # Examples
    ///
    /// With `report` a [`RunReport`] of an interrupted run:
    ///
    /// ```
    /// # use deploy_core::report::*;
    /// # let report = RunReport {
    /// #     environment: "staging".into(), task: "deploy".into(), release: "r1".into(),
    /// #     outcome: Outcome::Interrupted, elapsed_ms: 1200, notes: Default::default(),
    /// #     hosts: vec![HostReport { host: "web1".into(), steps: vec![] }],
    /// # };
    /// assert_eq!(report.outcome, Outcome::Interrupted);
    /// assert!(!report.succeeded());
    /// ```
    pub fn succeeded(&self) -> bool {
        self.outcome == Outcome::Succeeded
    }

    /// The report for one host.
    ///
    /// # Examples
    ///
    /// With `report` a [`RunReport`] of a run on `web1`:
    ///
    /// ```
    /// # use deploy_core::report::*;
    /// # let report = RunReport {
    /// #     environment: "staging".into(), task: "deploy".into(), release: "r1".into(),
    /// #     outcome: Outcome::Interrupted, elapsed_ms: 1200, notes: Default::default(),
    /// #     hosts: vec![HostReport { host: "web1".into(), steps: vec![] }],
    /// # };
    /// assert_eq!(report.host("web1").map(|h| h.host.as_str()), Some("web1"));
    /// assert!(report.host("web9").is_none());
    /// ```
    pub fn host(&self, name: &str) -> Option<&HostReport> {
        self.hosts.iter().find(|h| h.host == name)
    }

    /// A human summary: one line per group of hosts that ended alike
    /// (`198 hosts: 10 done (web1 … web198)`), and each host with an error
    /// or a rollback on its own line, its errors under it.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::report::*;
    ///
    /// let step = |status, error: Option<&str>| StepReport {
    ///     step: "deploy.1".into(), kind: "exec".into(), status,
    ///     attempts: 1, elapsed_ms: 5, error: error.map(Into::into), rollback: None,
    /// };
    /// let host = |name: &str, status, error| HostReport { host: name.into(), steps: vec![step(status, error)] };
    /// let mut hosts: Vec<HostReport> = (1..=198).map(|n| host(&format!("web{n}"), StepStatus::Done, None)).collect();
    /// hosts.push(host("web199", StepStatus::Failed, Some("`make` failed with exit code 2")));
    /// let report = RunReport {
    ///     environment: "production".into(), task: "deploy".into(), release: "r1".into(),
    ///     outcome: Outcome::Failed, elapsed_ms: 1200, notes: Default::default(), hosts,
    /// };
    /// assert_eq!(report.render(), "production deploy (release r1): Failed in 1.2s
    ///   198 hosts: 1 done (web1 … web198)
    ///   web199: 1 failed
    ///     deploy.1 Failed: `make` failed with exit code 2
    /// ");
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::new();
        let release = if self.release.is_empty() {
            String::new()
        } else {
            format!(" (release {})", self.release)
        };
        let _ = writeln!(
            out,
            "{} {}{release}: {:?} in {:.1}s",
            self.environment,
            self.task,
            self.outcome,
            self.elapsed_ms as f64 / 1000.0
        );
        // Hosts that ended alike share a line; a host with an error or
        // whose steps were rolled back is listed in full.
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        let mut exceptions: Vec<(usize, &HostReport)> = Vec::new();
        for host in &self.hosts {
            let line = host.counts();
            if host.exceptional() {
                exceptions.push((groups.len(), host));
                groups.push((line, vec![host.host.as_str()]));
            } else if let Some((_, names)) = groups
                .iter_mut()
                .find(|(l, names)| *l == line && !self.is_exception(names[0]))
            {
                names.push(&host.host);
            } else {
                groups.push((line, vec![host.host.as_str()]));
            }
        }
        for (index, (line, names)) in groups.iter().enumerate() {
            match names.as_slice() {
                [one] => {
                    let _ = writeln!(out, "  {one}: {line}");
                }
                many => {
                    let _ = writeln!(out, "  {} hosts: {line} ({})", many.len(), name_list(many));
                }
            }
            if let Some((_, host)) = exceptions.iter().find(|(i, _)| *i == index) {
                host.render_exceptions(&mut out);
            }
        }
        out
    }
}
