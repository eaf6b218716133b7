//! The audit log: one JSON line per run (and per lock change) appended to
//! `audit.log` in the environment's state directory on its lock host: who
//! did what, when, with which parameters (secret ones only by name), which
//! plan (a digest of its rendered text) and how it ended. Each line is one
//! `O_APPEND` write, so concurrent writers never interleave within a line.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::plan::Plan;
use crate::target::{Target, TargetError};

/// One line of the audit log.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, audit::AuditEntry};
///
/// let plan = Plan::builder("production", "deploy").host("web1", ["web"]).param("password", "[REDACTED]").build().unwrap();
/// let entry = AuditEntry::for_plan("run", &plan, "r42", "succeeded");
/// assert_eq!((entry.environment.as_str(), entry.task.as_str(), entry.outcome.as_str()), ("production", "deploy", "succeeded"));
/// assert_eq!(entry.params["password"], "[REDACTED]");
/// assert_eq!(entry.plan_digest.as_deref().unwrap().len(), 64);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// When, in UTC (`20261203T134000.123Z`, as release ids are written).
    pub time: String,
    /// `user@machine`.
    pub who: String,
    /// `run`, `lock acquire`, `lock release`, ...
    pub command: String,
    /// The environment.
    pub environment: String,
    /// The task, when there is one.
    pub task: String,
    /// The run's parameters (a secret one as `[REDACTED]`).
    pub params: BTreeMap<String, String>,
    /// The release id, for a run.
    pub release: Option<String>,
    /// SHA-256 of the rendered plan, for a run.
    pub plan_digest: Option<String>,
    /// How it ended.
    pub outcome: String,
}

impl AuditEntry {
    /// The line for `command` running `plan` as `release`, ended `outcome`.
    ///
    /// # Examples
    ///
    /// See [`AuditEntry`].
    pub fn for_plan(command: &str, plan: &Plan, release: &str, outcome: &str) -> AuditEntry {
        AuditEntry {
            time: crate::RunValues::release_now(),
            who: crate::lock::who(),
            command: command.to_owned(),
            environment: plan.environment().to_owned(),
            task: plan.task().to_owned(),
            params: plan.params().clone(),
            release: Some(release.to_owned()),
            plan_digest: Some(plan_digest(plan)),
            outcome: outcome.to_owned(),
        }
    }

    /// A line for something that is not a run (a lock change).
    ///
    /// # Examples
    ///
    /// ```
    /// let entry = deploy_core::audit::AuditEntry::other("lock release", "staging", "ok");
    /// assert!(entry.release.is_none() && entry.plan_digest.is_none());
    /// ```
    pub fn other(command: &str, environment: &str, outcome: &str) -> AuditEntry {
        AuditEntry {
            time: crate::RunValues::release_now(),
            who: crate::lock::who(),
            command: command.to_owned(),
            environment: environment.to_owned(),
            task: String::new(),
            params: BTreeMap::new(),
            release: None,
            plan_digest: None,
            outcome: outcome.to_owned(),
        }
    }
}

/// SHA-256 (hex) of the plan as `deploy plan` prints it.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, audit::plan_digest};
///
/// let plan = Plan::builder("staging", "deploy").host("web1", ["web"]).build().unwrap();
/// assert_eq!(plan_digest(&plan), plan_digest(&plan.clone()));
/// ```
pub fn plan_digest(plan: &Plan) -> String {
    let digest = Sha256::digest(crate::render::text(plan).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The audit log in state directory `dir` on `target`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use deploy_core::{LocalTarget, audit::{AuditEntry, AuditLog}};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let log = AuditLog::new(Arc::new(LocalTarget::new("localhost")), dir.path().display().to_string());
/// log.append(&AuditEntry::other("lock acquire", "staging", "ok")).await.unwrap();
/// log.append(&AuditEntry::other("lock release", "staging", "ok")).await.unwrap();
/// let last = log.last(1).await.unwrap();
/// assert_eq!(last.len(), 1);
/// assert_eq!(last[0].command, "lock release");
/// # });
/// ```
pub struct AuditLog {
    target: std::sync::Arc<dyn Target>,
    dir: String,
}

impl AuditLog {
    /// The log in `dir` (`~/` is the host's `$HOME`) on `target`.
    pub fn new(target: std::sync::Arc<dyn Target>, dir: impl Into<String>) -> AuditLog {
        AuditLog {
            target,
            dir: dir.into(),
        }
    }

    fn dir_word(&self) -> String {
        crate::lock::dir_word(&self.dir)
    }

    /// Appends one line.
    pub async fn append(&self, entry: &AuditEntry) -> Result<(), TargetError> {
        let mut line = serde_json::to_string(entry).unwrap_or_default();
        line.push('\n');
        let d = self.dir_word();
        let script = format!("set -e; mkdir -p {d}; cat >> {d}/audit.log");
        self.script(&script, line.as_bytes()).await.map(|_| ())
    }

    /// The last `n` lines, oldest first (lines that are not entries are
    /// left out).
    pub async fn last(&self, n: usize) -> Result<Vec<AuditEntry>, TargetError> {
        let d = self.dir_word();
        let script = format!("if [ -e {d}/audit.log ]; then tail -n {n} {d}/audit.log; fi");
        let lines = self.script(&script, b"").await?;
        Ok(lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    async fn script(&self, script: &str, stdin: &[u8]) -> Result<Vec<String>, TargetError> {
        let what = format!("audit log {}/audit.log", self.dir);
        crate::lock::state_lines(self.target.as_ref(), &what, script, stdin).await
    }
}
