//! The policies a plan carries: how hosts are rolled out, what a failure
//! does, and when a step is tried again.

use std::time::Duration;

/// How hosts are rolled out.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, Rollout};
///
/// let plan = Plan::builder("production", "deploy")
///     .host("web1", ["web"]).host("web2", ["web"]).host("web3", ["web"])
///     .rollout(Rollout::Batches(2))
///     .build()
///     .unwrap();
/// assert_eq!(plan.batches().iter().map(|b| b.len()).collect::<Vec<_>>(), [2, 1]);
/// assert_eq!(Rollout::default(), Rollout::AllAtOnce);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rollout {
    /// Every host at once (bounded by the executor's concurrency).
    #[default]
    AllAtOnce,
    /// Batches of this many hosts; a batch finishes before the next starts.
    /// `Batches(1)` is one host at a time.
    Batches(usize),
}

/// What happens when a step fails on a host.
///
/// # Examples
///
/// ```
/// use deploy_core::{FailurePolicy, Plan, render};
///
/// let plan = Plan::builder("production", "deploy")
///     .host("web1", ["web"])
///     .on_failure(FailurePolicy::Continue)
///     .build()
///     .unwrap();
/// assert!(render::text(&plan).contains("on failure: continue (the failing host stops; the other hosts, and later batches, go on)"));
/// assert_eq!(FailurePolicy::default(), FailurePolicy::Stop);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailurePolicy {
    /// No new step starts anywhere; running ones finish.
    #[default]
    Stop,
    /// The failing host stops (its later steps do not run); the other
    /// hosts of its batch, and later batches, go on. The run still fails.
    Continue,
    /// Stop, then undo what completed, on every host, in reverse order.
    Rollback,
}

/// When a step is tried again.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use deploy_core::{PlannedStep, plan::Retry, steps::HttpCheck};
///
/// let check = PlannedStep::new(HttpCheck::new("http://localhost/")).retries(3, Duration::from_secs(2));
/// assert_eq!(check.retry, Retry { retries: 3, backoff: Duration::from_secs(2) });
/// assert_eq!(Retry::default(), Retry { retries: 0, backoff: Duration::from_secs(1) });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Retry {
    /// Extra tries after the first failure.
    pub retries: u32,
    /// Wait before the first retry; doubled for each one after.
    #[serde(with = "duration_ms")]
    pub backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            retries: 0,
            backoff: Duration::from_secs(1),
        }
    }
}

mod duration_ms {
    pub(super) fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}
