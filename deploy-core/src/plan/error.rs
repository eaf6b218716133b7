//! What can be wrong with a plan ([`PlanError`]), kept apart from the
//! checks in `build` that produce it.

use std::fmt;

use crate::location::Location;

/// What is wrong with a plan.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, plan::PlanErrorKind};
///
/// let err = Plan::builder("production", "deploy").build().unwrap_err();
/// assert_eq!(err.kind, PlanErrorKind::NoHosts);
/// let twice = Plan::builder("production", "deploy").host("web1", ["web"]).host("web1", ["db"]);
/// assert_eq!(twice.build().unwrap_err().kind, PlanErrorKind::DuplicateHost("web1".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanErrorKind {
    /// The plan has no hosts.
    #[error("the plan has no hosts")]
    NoHosts,
    /// Two hosts share a name.
    #[error("host `{0}` is listed twice")]
    DuplicateHost(String),
    /// A step names a role no host has.
    #[error("unknown role `{role}`{suggestion} (roles here: {known})")]
    UnknownRole {
        /// The role.
        role: String,
        /// A suggestion, or empty.
        suggestion: String,
        /// The roles the hosts have.
        known: String,
    },
    /// A step names a host the plan does not have.
    #[error("unknown host `{host}`{suggestion}")]
    UnknownHost {
        /// The host.
        host: String,
        /// A suggestion, or empty.
        suggestion: String,
    },
    /// Two steps share an id.
    #[error("step id `{0}` is used twice")]
    DuplicateId(String),
    /// A step needs a step the plan does not have.
    #[error("step `{step}` needs `{need}`, which is not a step of this plan{suggestion}")]
    UnknownNeed {
        /// The step.
        step: String,
        /// What it needs.
        need: String,
        /// A suggestion, or empty.
        suggestion: String,
    },
    /// Steps need each other in a circle.
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// A step puts a secret on a command line (see
    /// [`Step::secrets_in_argv`](crate::Step::secrets_in_argv)).
    #[error("step `{step}`: {}", secret_in_argv_advice(field))]
    SecretInArgv {
        /// The step's id.
        step: String,
        /// The field, with the step's kind: `exec.cmd`, `when`.
        field: String,
    },
    /// A step that runs once per host cannot need a step it must wait for.
    #[error("{0}")]
    Invalid(String),
}

/// What is said of a secret on a command line: the field, why, and the way
/// that does not show it.
///
/// # Examples
///
/// ```
/// use deploy_core::plan::secret_in_argv_advice;
///
/// assert_eq!(
///     secret_in_argv_advice("exec.cmd"),
///     "a secret in `exec.cmd` is on the command line, where anyone on the host can read it (ps): pass it through `env` (\"$NAME\" in a script) or `stdin` instead"
/// );
/// ```
pub fn secret_in_argv_advice(field: &str) -> String {
    format!(
        "a secret in `{field}` is on the command line, where anyone on the host can read it (ps): pass it through `env` (\"$NAME\" in a script) or `stdin` instead"
    )
}

/// A plan error, with where it was written when known.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, PlannedStep, steps::Exec};
///
/// let err = Plan::builder("production", "deploy")
///     .host("web1", ["web"])
///     .step(PlannedStep::new(Exec::argv(["uptime"])).roles(["webs"]))
///     .build()
///     .unwrap_err();
/// assert!(err.location.is_none());
/// assert_eq!(err.to_string(), "unknown role `webs` (did you mean `web`?) (roles here: web)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    /// Where.
    pub location: Option<Location>,
    /// What.
    pub kind: PlanErrorKind,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(at) => write!(f, "{at}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for PlanError {}
