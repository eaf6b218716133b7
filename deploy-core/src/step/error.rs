//! [`StepError`]: why a step failed, and whether retrying it is safe.

use std::time::Duration;

use crate::target::{ExitStatus, TargetError};
use crate::text::TextError;

/// Why a step failed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use deploy_core::{StepError, target::ExitStatus};
///
/// let failed = StepError::CommandFailed {
///     command: "make".into(),
///     status: ExitStatus::code(2),
///     stdout_tail: vec![],
///     stderr_tail: vec!["make: *** No rule to make target".into()],
/// };
/// assert_eq!(failed.to_string(), "`make` failed with exit code 2: make: *** No rule to make target");
/// let tests = StepError::CommandFailed {
///     command: "./runtests".into(),
///     status: ExitStatus::code(1),
///     stdout_tail: vec!["FAILED (failures=2)".into()],
///     stderr_tail: vec![],
/// };
/// assert_eq!(tests.to_string(), "`./runtests` failed with exit code 1; its output ended: FAILED (failures=2)");
/// assert_eq!(StepError::TimedOut(Duration::from_secs(90)).to_string(), "timed out after 90s");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The target could not do what was asked.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A command ran and failed.
    #[error("`{command}` failed with {status}{}", output_suffix(.stdout_tail, .stderr_tail))]
    CommandFailed {
        /// The command as a shell line (secrets redacted).
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines it wrote to stdout (a test runner's "FAILED").
        stdout_tail: Vec<String>,
        /// The last lines it wrote to stderr.
        stderr_tail: Vec<String>,
    },
    /// A placeholder could not be filled.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The step ran out of time.
    #[error("timed out after {}", crate::duration::format(*.0))]
    TimedOut(Duration),
    /// An approval gate was refused.
    #[error("not approved: {0}")]
    NotApproved(String),
    /// The step cannot be undone.
    #[error("this step cannot be undone")]
    NotUndoable,
    /// Anything else the step found wrong.
    #[error("{0}")]
    Failed(String),
    /// An error from a crate the step uses (an engine client's, say), kept
    /// whole so its cause chain reaches the user.
    #[error(transparent)]
    Source(Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// What a failed command printed last: its stderr, then its stdout (a
/// test runner says "FAILED" there), or that it printed nothing.
fn output_suffix(stdout: &[String], stderr: &[String]) -> String {
    let mut out = String::new();
    if !stderr.is_empty() {
        out.push_str(&format!(": {}", stderr.join(" / ")));
    }
    if !stdout.is_empty() {
        out.push_str(&format!("; its output ended: {}", stdout.join(" / ")));
    }
    if out.is_empty() {
        out.push_str(" (it printed nothing)");
    }
    out
}

impl StepError {
    /// The error and its causes, one per line ([`cause::chain`](crate::cause::chain)).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::StepError;
    ///
    /// let io = std::io::Error::other("connection refused");
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("cannot reach the engine")]
    /// struct Engine(#[source] std::io::Error);
    /// let e = StepError::Source(Box::new(Engine(io)));
    /// assert_eq!(e.chain(), "cannot reach the engine\ncaused by: connection refused");
    /// assert_eq!(StepError::Failed("bad".into()).chain(), "bad");
    /// ```
    pub fn chain(&self) -> String {
        crate::cause::chain(self)
    }

    /// True when retrying cannot repeat work already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{StepError, target::TargetError};
    ///
    /// let lost = TargetError::ConnectionLost { host: "web1".into(), started: false, source: "refused".into() };
    /// assert!(StepError::from(lost).is_safe_to_retry());
    /// assert!(!StepError::Failed("bad config".into()).is_safe_to_retry());
    /// ```
    pub fn is_safe_to_retry(&self) -> bool {
        matches!(self, StepError::Target(e) if e.is_safe_to_retry())
    }
}
