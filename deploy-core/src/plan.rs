//! [`Plan`]: steps bound to hosts, with order, dependencies and policies.
//!
//! A plan is pure data, built without touching any network: which steps run
//! on which hosts, in what order, what waits for what, how hosts are rolled
//! out, and what happens when something fails. The executor walks it; the
//! renderer prints it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::location::Location;
use crate::step::Step;

/// A host the plan deploys to.
///
/// # Examples
///
/// ```
/// use deploy_core::{Host, Plan};
///
/// let plan = Plan::builder("production", "deploy").host("web1", ["web", "edge"]).build().unwrap();
/// assert_eq!(plan.hosts(), [Host { name: "web1".into(), roles: vec!["web".into(), "edge".into()] }]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Host {
    /// Its name (what the transport connects to).
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
}

/// Which hosts a step runs on.
///
/// # Examples
///
/// ```
/// use deploy_core::{PlannedStep, Selector, steps::Exec};
///
/// let step = PlannedStep::new(Exec::argv(["nginx", "-s", "reload"]));
/// assert_eq!(step.on, Selector::All);
/// assert_eq!(step.roles(["web"]).on, Selector::Roles(vec!["web".into()]));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selector {
    /// Every host of the plan.
    #[default]
    All,
    /// Hosts having any of these roles.
    Roles(Vec<String>),
    /// These hosts, by name.
    Hosts(Vec<String>),
    /// The deploying machine itself, once per run (a build, a `git archive`).
    Local,
}

impl Selector {
    /// True when `host` is selected (the deploying machine is never a host).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Host, Selector};
    ///
    /// let web1 = Host { name: "web1".into(), roles: vec!["web".into()] };
    /// assert!(Selector::All.matches(&web1));
    /// assert!(Selector::Roles(vec!["db".into(), "web".into()]).matches(&web1));
    /// assert!(!Selector::Hosts(vec!["web2".into()]).matches(&web1));
    /// assert!(!Selector::Local.matches(&web1));
    /// ```
    pub fn matches(&self, host: &Host) -> bool {
        match self {
            Selector::All => true,
            Selector::Roles(roles) => host.roles.iter().any(|r| roles.contains(r)),
            Selector::Hosts(names) => names.contains(&host.name),
            Selector::Local => false,
        }
    }
}

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
/// assert!(render::text(&plan).contains("on failure: continue on other hosts"));
/// assert_eq!(FailurePolicy::default(), FailurePolicy::Stop);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailurePolicy {
    /// No new step starts anywhere; running ones finish.
    #[default]
    Stop,
    /// That host stops; the others go on.
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

/// A step bound into a plan: which hosts, what it waits for, its limits.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use deploy_core::{PlannedStep, steps::Exec};
///
/// let migrate = PlannedStep::new(Exec::argv(["./manage.py", "migrate"]))
///     .id("migrate")
///     .roles(["web"])
///     .once()
///     .barrier()
///     .timeout(Duration::from_secs(300));
/// assert!(migrate.once && migrate.barrier);
/// ```
#[derive(Clone, Debug)]
pub struct PlannedStep {
    /// Unique within the plan (given, or `task.N`).
    pub id: String,
    /// The task it came from.
    pub task: String,
    /// The step.
    pub step: Arc<dyn Step>,
    /// Which hosts it runs on.
    pub on: Selector,
    /// Runs on the first selected host only (migrations).
    pub once: bool,
    /// Waits until every earlier step finished on every host of the batch.
    pub barrier: bool,
    /// Waits until these steps finished on every host of the batch.
    pub needs: Vec<String>,
    /// Gives up after this long.
    pub timeout: Option<Duration>,
    /// When to try again.
    pub retry: Retry,
    /// Where it was written, when it came from a file.
    pub origin: Option<Location>,
}

impl PlannedStep {
    /// Binds a step to all hosts, with no limits.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{PlannedStep, Selector, steps::Exec};
    ///
    /// let step = PlannedStep::new(Exec::argv(["uptime"]));
    /// assert_eq!(step.on, Selector::All);
    /// assert!(step.id.is_empty() && step.timeout.is_none() && !step.once);
    /// ```
    pub fn new(step: impl Step + 'static) -> Self {
        PlannedStep::from_arc(Arc::new(step))
    }

    /// Binds an already shared step.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use deploy_core::{PlannedStep, Step, steps::Exec};
    ///
    /// let shared: Arc<dyn Step> = Arc::new(Exec::argv(["uptime"]));
    /// let on_web = PlannedStep::from_arc(Arc::clone(&shared)).roles(["web"]);
    /// let on_db = PlannedStep::from_arc(Arc::clone(&shared)).roles(["db"]);
    /// assert_eq!(Arc::strong_count(&shared), 3);
    /// assert_eq!(on_web.step.kind(), on_db.step.kind());
    /// ```
    pub fn from_arc(step: Arc<dyn Step>) -> Self {
        PlannedStep {
            id: String::new(),
            task: String::new(),
            step,
            on: Selector::All,
            once: false,
            barrier: false,
            needs: Vec::new(),
            timeout: None,
            retry: Retry::default(),
            origin: None,
        }
    }

    /// Names the step (for `needs` and reports).
    ///
    /// # Examples
    ///
    /// A given id is kept; others are numbered per task:
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, steps::Exec};
    ///
    /// let plan = Plan::builder("staging", "deploy")
    ///     .host("web1", ["web"])
    ///     .step(PlannedStep::new(Exec::argv(["./migrate"])).id("migrate"))
    ///     .step(PlannedStep::new(Exec::argv(["./restart"])))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(plan.steps()[0].id, "migrate");
    /// assert_eq!(plan.steps()[1].id, "deploy.2");
    /// ```
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// Runs only on hosts with any of these roles.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{PlannedStep, Selector, steps::Exec};
    ///
    /// let step = PlannedStep::new(Exec::argv(["./worker", "restart"])).roles(["worker", "cron"]);
    /// assert_eq!(step.on, Selector::Roles(vec!["worker".into(), "cron".into()]));
    /// ```
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.on = Selector::Roles(roles.into_iter().map(Into::into).collect());
        self
    }

    /// Runs only on these hosts.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{PlannedStep, Selector, steps::Exec};
    ///
    /// let step = PlannedStep::new(Exec::argv(["./warm-cache"])).hosts(["web1"]);
    /// assert_eq!(step.on, Selector::Hosts(vec!["web1".into()]));
    /// ```
    pub fn hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.on = Selector::Hosts(hosts.into_iter().map(Into::into).collect());
        self
    }

    /// Runs on the deploying machine, once.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{PlannedStep, Selector, steps::Exec};
    ///
    /// let build = PlannedStep::new(Exec::argv(["npm", "run", "build"])).local();
    /// assert_eq!(build.on, Selector::Local);
    /// assert!(build.runs_once());
    /// ```
    pub fn local(mut self) -> Self {
        self.on = Selector::Local;
        self
    }

    /// Runs on the first selected host only.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, steps::Exec};
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .host("web2", ["web"])
    ///     .step(PlannedStep::new(Exec::argv(["./manage.py", "migrate"])).once())
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(plan.hosts_for(0).len(), 1);
    /// assert_eq!(plan.hosts_for(0)[0].name, "web1");
    /// ```
    pub fn once(mut self) -> Self {
        self.once = true;
        self
    }

    /// Waits for every earlier step on every host of the batch.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, render, steps::Exec};
    ///
    /// let step = PlannedStep::new(Exec::argv(["./switch-traffic"])).barrier();
    /// assert!(step.barrier);
    /// let plan = Plan::builder("production", "deploy").host("web1", ["web"]).step(step).build().unwrap();
    /// assert!(render::text(&plan).contains("waits for: every earlier step, on every host of the batch"));
    /// ```
    pub fn barrier(mut self) -> Self {
        self.barrier = true;
        self
    }

    /// Waits for this step on every host of the batch.
    ///
    /// # Examples
    ///
    /// A step that needs another runs after it, whatever the written order:
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, steps::Exec};
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .step(PlannedStep::new(Exec::argv(["./restart"])).id("restart").needs("migrate"))
    ///     .step(PlannedStep::new(Exec::argv(["./migrate"])).id("migrate"))
    ///     .build()
    ///     .unwrap();
    /// let order: Vec<&str> = plan.steps().iter().map(|s| s.id.as_str()).collect();
    /// assert_eq!(order, ["migrate", "restart"]);
    /// ```
    pub fn needs(mut self, id: impl Into<String>) -> Self {
        self.needs.push(id.into());
        self
    }

    /// Gives up after `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use deploy_core::{PlannedStep, steps::Exec};
    ///
    /// let step = PlannedStep::new(Exec::argv(["./manage.py", "migrate"])).timeout(Duration::from_secs(300));
    /// assert_eq!(step.timeout, Some(Duration::from_secs(300)));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Tries again up to `retries` times, waiting `backoff`, doubling.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use deploy_core::{PlannedStep, steps::Exec};
    ///
    /// let step = PlannedStep::new(Exec::argv(["apt-get", "update"])).retries(2, Duration::from_millis(500));
    /// assert_eq!(step.retry.retries, 2);
    /// assert_eq!(step.retry.backoff, Duration::from_millis(500));
    /// ```
    pub fn retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.retry = Retry { retries, backoff };
        self
    }

    /// Records which task the step came from.
    ///
    /// # Examples
    ///
    /// Steps are numbered per task; a step without one belongs to the plan's task:
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, steps::Exec};
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .step(PlannedStep::new(Exec::argv(["./migrate"])).task("db"))
    ///     .step(PlannedStep::new(Exec::argv(["./restart"])))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!((plan.steps()[0].id.as_str(), plan.steps()[0].task.as_str()), ("db.1", "db"));
    /// assert_eq!(plan.steps()[1].id, "deploy.1");
    /// ```
    pub fn task(mut self, task: impl Into<String>) -> Self {
        self.task = task.into();
        self
    }

    /// Records where the step was written.
    ///
    /// # Examples
    ///
    /// Plan errors about the step then point at where it was written:
    ///
    /// ```
    /// use deploy_core::{Location, Plan, PlannedStep, steps::Exec};
    ///
    /// let at = Location { file: "deploy.toml".into(), line: 12, column: 3 };
    /// let err = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .step(PlannedStep::new(Exec::argv(["./a"])).id("x"))
    ///     .step(PlannedStep::new(Exec::argv(["./b"])).id("x").origin(at))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "deploy.toml:12:3: step id `x` is used twice");
    /// ```
    pub fn origin(mut self, origin: Location) -> Self {
        self.origin = Some(origin);
        self
    }

    /// True when this step runs once per run rather than once per host.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{PlannedStep, steps::Exec};
    ///
    /// let step = || PlannedStep::new(Exec::argv(["./migrate"]));
    /// assert!(!step().runs_once());
    /// assert!(step().once().runs_once());
    /// assert!(step().local().runs_once());
    /// ```
    pub fn runs_once(&self) -> bool {
        self.once || self.on == Selector::Local
    }
}

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
    /// A step that runs once per host cannot need a step it must wait for.
    #[error("{0}")]
    Invalid(String),
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

/// A deployment, as data: hosts, ordered steps, policies.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, PlannedStep, FailurePolicy, Rollout, steps::{Exec, Symlink}};
///
/// let plan = Plan::builder("staging", "deploy")
///     .host("web1", ["web"])
///     .host("web2", ["web"])
///     .step(PlannedStep::new(Symlink::new("/srv/app/current", "/srv/app/releases/${release}")))
///     .step(PlannedStep::new(Exec::argv(["./manage.py", "migrate"])).once().barrier())
///     .rollout(Rollout::Batches(1))
///     .on_failure(FailurePolicy::Rollback)
///     .build()
///     .unwrap();
/// assert_eq!(plan.steps().len(), 2);
/// assert_eq!(plan.steps()[1].id, "deploy.2");
/// ```
#[derive(Clone, Debug)]
pub struct Plan {
    environment: String,
    task: String,
    hosts: Vec<Host>,
    steps: Vec<PlannedStep>,
    rollout: Rollout,
    on_failure: FailurePolicy,
    params: BTreeMap<String, String>,
    /// Per step, the indices of the hosts it runs on (computed by `build`).
    placements: Vec<Vec<usize>>,
}

/// Builds a [`Plan`]; [`PlanBuilder::build`] checks it.
///
/// # Examples
///
/// ```
/// use deploy_core::plan::{Plan, PlanBuilder};
///
/// let builder: PlanBuilder = Plan::builder("staging", "deploy").host("web1", ["web"]);
/// let plan = builder.param("version", "1.4.2").build().unwrap();
/// assert_eq!(plan.params()["version"], "1.4.2");
/// ```
#[derive(Debug)]
pub struct PlanBuilder {
    plan: Plan,
}

impl Plan {
    /// Starts a plan for `task` in `environment`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Plan;
    ///
    /// let plan = Plan::builder("staging", "deploy").host("web1", ["web"]).build().unwrap();
    /// assert_eq!((plan.environment(), plan.task()), ("staging", "deploy"));
    /// assert!(plan.steps().is_empty());
    /// ```
    pub fn builder(environment: impl Into<String>, task: impl Into<String>) -> PlanBuilder {
        PlanBuilder {
            plan: Plan {
                environment: environment.into(),
                task: task.into(),
                hosts: Vec::new(),
                steps: Vec::new(),
                rollout: Rollout::default(),
                on_failure: FailurePolicy::default(),
                params: BTreeMap::new(),
                placements: Vec::new(),
            },
        }
    }

    /// The environment's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Plan;
    ///
    /// let plan = Plan::builder("staging", "deploy").host("web1", ["web"]).build().unwrap();
    /// assert_eq!(plan.environment(), "staging");
    /// ```
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// The task's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Plan;
    ///
    /// let plan = Plan::builder("staging", "rollback").host("web1", ["web"]).build().unwrap();
    /// assert_eq!(plan.task(), "rollback");
    /// ```
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The hosts, in rollout order.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Plan;
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web2", ["web"])
    ///     .host("web1", ["web"])
    ///     .build()
    ///     .unwrap();
    /// let names: Vec<&str> = plan.hosts().iter().map(|h| h.name.as_str()).collect();
    /// assert_eq!(names, ["web2", "web1"]);
    /// ```
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The steps, in execution order.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, steps::Exec};
    ///
    /// let plan = Plan::builder("staging", "deploy")
    ///     .host("web1", ["web"])
    ///     .step(PlannedStep::new(Exec::argv(["git", "pull"])))
    ///     .step(PlannedStep::new(Exec::argv(["make"])))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(plan.steps().len(), 2);
    /// assert_eq!(plan.steps()[1].step.describe().summary, "$ make");
    /// ```
    pub fn steps(&self) -> &[PlannedStep] {
        &self.steps
    }

    /// How hosts are rolled out.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, Rollout};
    ///
    /// let plan = Plan::builder("production", "deploy").host("web1", ["web"]);
    /// assert_eq!(plan.build().unwrap().rollout(), Rollout::AllAtOnce);
    /// let serial = Plan::builder("production", "deploy").host("web1", ["web"]).rollout(Rollout::Batches(1));
    /// assert_eq!(serial.build().unwrap().rollout(), Rollout::Batches(1));
    /// ```
    pub fn rollout(&self) -> Rollout {
        self.rollout
    }

    /// What happens on failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{FailurePolicy, Plan};
    ///
    /// let plan = Plan::builder("production", "deploy").host("web1", ["web"]).build().unwrap();
    /// assert_eq!(plan.on_failure(), FailurePolicy::Stop);
    /// ```
    pub fn on_failure(&self) -> FailurePolicy {
        self.on_failure
    }

    /// The task parameters the plan was built with.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Plan;
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .param("version", "1.4.2")
    ///     .param("branch", "main")
    ///     .build()
    ///     .unwrap();
    /// let keys: Vec<&str> = plan.params().keys().map(String::as_str).collect();
    /// assert_eq!(keys, ["branch", "version"]);
    /// ```
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// The hosts the step at `index` runs on (the first of them only for a
    /// `once` step; none for a step on the deploying machine).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, steps::Exec};
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .host("db1", ["db"])
    ///     .step(PlannedStep::new(Exec::argv(["./backup"])).roles(["db"]))
    ///     .step(PlannedStep::new(Exec::argv(["./build"])).local())
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(plan.hosts_for(0)[0].name, "db1");
    /// assert!(plan.hosts_for(1).is_empty());
    /// ```
    pub fn hosts_for(&self, index: usize) -> Vec<&Host> {
        self.placements
            .get(index)
            .map(|hosts| hosts.iter().map(|&h| &self.hosts[h]).collect())
            .unwrap_or_default()
    }

    /// For each host (by index), the indices of the steps it runs, in order
    /// (steps on the deploying machine not included).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, steps::Exec};
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .host("db1", ["db"])
    ///     .step(PlannedStep::new(Exec::argv(["git", "pull"])))
    ///     .step(PlannedStep::new(Exec::argv(["./restart"])).roles(["web"]))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(plan.steps_by_host(), [vec![0, 1], vec![0]]);
    /// ```
    pub fn steps_by_host(&self) -> Vec<Vec<usize>> {
        let mut by_host = vec![Vec::new(); self.hosts.len()];
        for (step, hosts) in self.placements.iter().enumerate() {
            for &h in hosts {
                by_host[h].push(step);
            }
        }
        by_host
    }

    /// For each step (by index), the steps that must be complete in its batch
    /// before it starts: its `needs`, and every earlier step on the deploying
    /// machine (a local build comes before what ships it). Barriers come on
    /// top of this.
    ///
    /// # Examples
    ///
    /// A local build comes before what ships it:
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, steps::{Exec, Sync}};
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .step(PlannedStep::new(Exec::argv(["npm", "run", "build"])).local())
    ///     .step(PlannedStep::new(Sync::new("dist", "/srv/app").unwrap()))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(plan.dependencies(), [vec![], vec![0]]);
    /// ```
    pub fn dependencies(&self) -> Vec<Vec<usize>> {
        let index: BTreeMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let mut locals: Vec<usize> = Vec::new();
        self.steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let mut deps: Vec<usize> = step
                    .needs
                    .iter()
                    .filter_map(|n| index.get(n.as_str()).copied())
                    .collect();
                deps.extend(locals.iter().copied());
                if step.on == Selector::Local {
                    locals.push(i);
                }
                deps.sort_unstable();
                deps.dedup();
                deps
            })
            .collect()
    }

    /// The hosts in rollout batches.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, Rollout};
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .host("web2", ["web"])
    ///     .rollout(Rollout::Batches(1))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(plan.batches().len(), 2);
    /// assert_eq!(plan.batches()[1][0].name, "web2");
    /// ```
    pub fn batches(&self) -> Vec<&[Host]> {
        match self.rollout {
            Rollout::AllAtOnce => vec![&self.hosts[..]],
            Rollout::Batches(n) => self.hosts.chunks(n.max(1)).collect(),
        }
    }
}

impl PlanBuilder {
    /// Adds a host.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Plan;
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web", "cron"])
    ///     .host("db1", Vec::<String>::new())
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(plan.hosts()[0].roles, ["web", "cron"]);
    /// assert!(plan.hosts()[1].roles.is_empty());
    /// ```
    pub fn host<I, S>(mut self, name: impl Into<String>, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.plan.hosts.push(Host {
            name: name.into(),
            roles: roles.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Adds a step.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, steps::Exec};
    ///
    /// let step = PlannedStep::new(Exec::argv(["uptime"]));
    /// let plan = Plan::builder("staging", "deploy").host("web1", ["web"]).step(step).build().unwrap();
    /// assert_eq!(plan.steps()[0].step.kind(), "exec");
    /// ```
    pub fn step(mut self, step: PlannedStep) -> Self {
        self.plan.steps.push(step);
        self
    }

    /// Sets the rollout policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, Rollout, render};
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .rollout(Rollout::Batches(1))
    ///     .build()
    ///     .unwrap();
    /// assert!(render::text(&plan).contains("rollout: one host at a time"));
    /// ```
    pub fn rollout(mut self, rollout: Rollout) -> Self {
        self.plan.rollout = rollout;
        self
    }

    /// Sets the failure policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{FailurePolicy, Plan};
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .on_failure(FailurePolicy::Rollback)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(plan.on_failure(), FailurePolicy::Rollback);
    /// ```
    pub fn on_failure(mut self, policy: FailurePolicy) -> Self {
        self.plan.on_failure = policy;
        self
    }

    /// Records a task parameter (shown in the rendered plan).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, render};
    ///
    /// let plan = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .param("version", "1.4.2")
    ///     .build()
    ///     .unwrap();
    /// assert!(render::text(&plan).contains("params: version=1.4.2"));
    /// ```
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.plan.params.insert(key.into(), value.into());
        self
    }

    /// Checks the plan (hosts, roles, ids, needs, cycles) and orders its steps.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, plan::PlanErrorKind, steps::Exec};
    ///
    /// let err = Plan::builder("production", "deploy")
    ///     .host("web1", ["web"])
    ///     .step(PlannedStep::new(Exec::argv(["./a"])).id("a").needs("b"))
    ///     .step(PlannedStep::new(Exec::argv(["./b"])).id("b").needs("a"))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.kind, PlanErrorKind::Cycle(vec!["a".into(), "b".into(), "a".into()]));
    /// assert_eq!(err.to_string(), "dependency cycle: a -> b -> a");
    /// ```
    pub fn build(self) -> Result<Plan, PlanError> {
        let mut plan = self.plan;
        let err = |kind, location: Option<&Location>| PlanError {
            location: location.cloned(),
            kind,
        };
        if plan.hosts.is_empty() {
            return Err(err(PlanErrorKind::NoHosts, None));
        }
        let mut names = BTreeSet::new();
        for host in &plan.hosts {
            if !names.insert(host.name.as_str()) {
                return Err(err(PlanErrorKind::DuplicateHost(host.name.clone()), None));
            }
        }
        let roles: BTreeSet<&str> = plan
            .hosts
            .iter()
            .flat_map(|h| h.roles.iter().map(String::as_str))
            .collect();
        let mut per_task: BTreeMap<String, usize> = BTreeMap::new();
        for step in &mut plan.steps {
            if step.task.is_empty() {
                step.task = plan.task.clone();
            }
            let n = per_task.entry(step.task.clone()).or_default();
            *n += 1;
            if step.id.is_empty() {
                step.id = format!("{}.{n}", step.task);
            }
        }
        let mut ids = BTreeSet::new();
        for step in &plan.steps {
            if !ids.insert(step.id.as_str()) {
                return Err(err(
                    PlanErrorKind::DuplicateId(step.id.clone()),
                    step.origin.as_ref(),
                ));
            }
            match &step.on {
                Selector::Roles(wanted) => {
                    for role in wanted {
                        if !roles.contains(role.as_str()) {
                            return Err(err(
                                PlanErrorKind::UnknownRole {
                                    role: role.clone(),
                                    suggestion: crate::suggest::did_you_mean(
                                        role,
                                        roles.iter().copied(),
                                    ),
                                    known: if roles.is_empty() {
                                        "none".to_owned()
                                    } else {
                                        roles.iter().copied().collect::<Vec<_>>().join(", ")
                                    },
                                },
                                step.origin.as_ref(),
                            ));
                        }
                    }
                }
                Selector::Hosts(wanted) => {
                    for host in wanted {
                        if !names.contains(host.as_str()) {
                            return Err(err(
                                PlanErrorKind::UnknownHost {
                                    host: host.clone(),
                                    suggestion: crate::suggest::did_you_mean(
                                        host,
                                        names.iter().copied(),
                                    ),
                                },
                                step.origin.as_ref(),
                            ));
                        }
                    }
                }
                Selector::All | Selector::Local => {}
            }
        }
        for step in &plan.steps {
            for need in &step.needs {
                if !ids.contains(need.as_str()) {
                    return Err(err(
                        PlanErrorKind::UnknownNeed {
                            step: step.id.clone(),
                            need: need.clone(),
                            suggestion: crate::suggest::did_you_mean(need, ids.iter().copied()),
                        },
                        step.origin.as_ref(),
                    ));
                }
            }
        }
        plan.steps = order_by_needs(std::mem::take(&mut plan.steps))?;
        plan.placements = place(&plan.hosts, &plan.steps);
        Ok(plan)
    }
}

/// Which hosts (by index) each step runs on, through a role index so a plan
/// of many steps and hosts is placed in time proportional to its size.
fn place(hosts: &[Host], steps: &[PlannedStep]) -> Vec<Vec<usize>> {
    let mut by_role: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, host) in hosts.iter().enumerate() {
        by_name.insert(&host.name, i);
        for role in &host.roles {
            by_role.entry(role).or_default().push(i);
        }
    }
    steps
        .iter()
        .map(|step| {
            let mut chosen: Vec<usize> = match &step.on {
                Selector::All => (0..hosts.len()).collect(),
                Selector::Local => Vec::new(),
                Selector::Roles(roles) => roles
                    .iter()
                    .flat_map(|r| by_role.get(r.as_str()).into_iter().flatten().copied())
                    .collect(),
                Selector::Hosts(names) => names
                    .iter()
                    .filter_map(|n| by_name.get(n.as_str()).copied())
                    .collect(),
            };
            chosen.sort_unstable();
            chosen.dedup();
            if step.once {
                chosen.truncate(1);
            }
            chosen
        })
        .collect()
}

/// Orders steps so each comes after what it needs, keeping the written order
/// otherwise (Kahn's algorithm, always taking the earliest ready step).
fn order_by_needs(steps: Vec<PlannedStep>) -> Result<Vec<PlannedStep>, PlanError> {
    if steps.iter().all(|s| s.needs.is_empty()) {
        return Ok(steps);
    }
    let index: BTreeMap<String, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.clone(), i))
        .collect();
    let mut waiting: Vec<usize> = steps.iter().map(|s| s.needs.len()).collect();
    let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, step) in steps.iter().enumerate() {
        for need in &step.needs {
            needed_by[index[need.as_str()]].push(i);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..steps.len())
        .filter(|&i| waiting[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut placed = vec![false; steps.len()];
    let mut order = Vec::with_capacity(steps.len());
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        placed[i] = true;
        order.push(i);
        for &next in &needed_by[i] {
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.push(std::cmp::Reverse(next));
            }
        }
    }
    if order.len() < steps.len() {
        let start = (0..steps.len()).find(|&i| !placed[i]).unwrap_or(0);
        let cycle = find_cycle(&steps, &index, &placed, start);
        let at = steps[index[cycle[0].as_str()]].origin.clone();
        return Err(PlanError {
            location: at,
            kind: PlanErrorKind::Cycle(cycle),
        });
    }
    let mut slots: Vec<Option<PlannedStep>> = steps.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// Follows unplaced needs from `start` until a step repeats; returns the loop.
fn find_cycle(
    steps: &[PlannedStep],
    index: &BTreeMap<String, usize>,
    placed: &[bool],
    start: usize,
) -> Vec<String> {
    let mut path: Vec<usize> = Vec::new();
    let mut at = start;
    loop {
        if let Some(pos) = path.iter().position(|&p| p == at) {
            let mut cycle: Vec<String> = path[pos..].iter().map(|&i| steps[i].id.clone()).collect();
            cycle.push(steps[at].id.clone());
            return cycle;
        }
        path.push(at);
        match steps[at]
            .needs
            .iter()
            .map(|n| index[n.as_str()])
            .find(|&i| !placed[i])
        {
            Some(next) => at = next,
            None => return path.iter().map(|&i| steps[i].id.clone()).collect(),
        }
    }
}
