//! What a run did, per host and per step: the executor's result.

use std::fmt::Write as _;

/// How a run ended.
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
}

/// What became of one step on one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    /// It ran and finished.
    Done,
    /// Its work was already done; it did not run.
    Skipped,
    /// It failed.
    Failed,
    /// It was running when the run was interrupted.
    Interrupted,
    /// It never started.
    NotRun,
}

/// What roll back did to one step.
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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HostReport {
    /// Host (or the local lane).
    pub host: String,
    /// Its steps, in plan order.
    pub steps: Vec<StepReport>,
}

impl HostReport {
    /// True when no step failed or was interrupted.
    pub fn ok(&self) -> bool {
        self.steps
            .iter()
            .all(|s| !matches!(s.status, StepStatus::Failed | StepStatus::Interrupted))
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    /// Environment.
    pub environment: String,
    /// Task.
    pub task: String,
    /// Release id.
    pub release: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Per host, in plan order.
    pub hosts: Vec<HostReport>,
    /// Wall time.
    pub elapsed_ms: u64,
}

impl RunReport {
    /// True when the run succeeded.
    pub fn succeeded(&self) -> bool {
        self.outcome == Outcome::Succeeded
    }

    /// The report for one host.
    pub fn host(&self, name: &str) -> Option<&HostReport> {
        self.hosts.iter().find(|h| h.host == name)
    }

    /// A human summary: one line per host, then one per step that did not
    /// simply finish.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::report::*;
    ///
    /// let report = RunReport {
    ///     environment: "staging".into(), task: "deploy".into(), release: "r1".into(),
    ///     outcome: Outcome::Succeeded, elapsed_ms: 1200,
    ///     hosts: vec![HostReport { host: "web1".into(), steps: vec![StepReport {
    ///         step: "deploy.1".into(), kind: "exec".into(), status: StepStatus::Done,
    ///         attempts: 1, elapsed_ms: 5, error: None, rollback: None }] }],
    /// };
    /// assert!(report.render().contains("web1: 1 done"));
    /// ```
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {} (release {}): {:?} in {:.1}s",
            self.environment,
            self.task,
            self.release,
            self.outcome,
            self.elapsed_ms as f64 / 1000.0
        );
        for host in &self.hosts {
            let count = |status| host.steps.iter().filter(|s| s.status == status).count();
            let mut parts = Vec::new();
            for (status, label) in [
                (StepStatus::Done, "done"),
                (StepStatus::Skipped, "already done"),
                (StepStatus::Failed, "failed"),
                (StepStatus::Interrupted, "interrupted"),
                (StepStatus::NotRun, "not run"),
            ] {
                let n = count(status);
                if n > 0 {
                    parts.push(format!("{n} {label}"));
                }
            }
            let undone = host
                .steps
                .iter()
                .filter(|s| s.rollback == Some(RollbackStatus::Undone))
                .count();
            if undone > 0 {
                parts.push(format!("{undone} undone"));
            }
            let _ = writeln!(out, "  {}: {}", host.host, parts.join(", "));
            for step in &host.steps {
                if let Some(error) = &step.error {
                    let _ = writeln!(out, "    {} {:?}: {error}", step.step, step.status);
                }
                match &step.rollback {
                    Some(RollbackStatus::UndoFailed(e)) => {
                        let _ = writeln!(out, "    {} undo failed: {e}", step.step);
                    }
                    Some(RollbackStatus::NotUndoable) => {
                        let _ = writeln!(out, "    {} could not be undone", step.step);
                    }
                    _ => {}
                }
            }
        }
        out
    }
}
