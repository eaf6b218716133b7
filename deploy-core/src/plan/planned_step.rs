//! [`PlannedStep`]: a step bound into a plan, with the builder methods that
//! say where it runs, what it waits for and its limits.

use std::sync::Arc;
use std::time::Duration;

use super::{Condition, Retry, Selector};
use crate::location::Location;
use crate::step::Step;

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
    /// A failure is reported (as failed, allowed) and the host goes on:
    /// for diagnostics that exit non-zero.
    pub allow_failure: bool,
    /// Runs only when this probe says so, on each host (each probe command
    /// is asked once per host per run).
    pub condition: Option<Arc<Condition>>,
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
            allow_failure: false,
            condition: None,
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

    /// Lets the step fail: the failure is reported as allowed and the host
    /// goes on with its next step (`supervisorctl status`, which exits
    /// non-zero when a program is down).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Plan, PlannedStep, render, steps::Exec};
    ///
    /// let step = PlannedStep::new(Exec::argv(["supervisorctl", "status"])).allow_failure();
    /// assert!(step.allow_failure);
    /// let plan = Plan::builder("production", "status").host("web1", ["web"]).step(step).build().unwrap();
    /// assert!(render::text(&plan).contains("on failure: allowed (reported, the host goes on)"));
    /// ```
    pub fn allow_failure(mut self) -> Self {
        self.allow_failure = true;
        self
    }

    /// Runs only when `condition` holds on the host (its probe is asked
    /// when the first step using that command is reached, once per host);
    /// otherwise the step is skipped there and the host goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use deploy_core::{Plan, PlannedStep, render, plan::Condition, steps::Exec};
    ///
    /// let promote = PlannedStep::new(Exec::argv(["./promote"]))
    ///     .when(Arc::new(Condition::succeeds(["test", "-d", "/srv/app/prod"])));
    /// let plan = Plan::builder("production", "promote").host("web1", ["web"]).step(promote).build().unwrap();
    /// assert!(render::text(&plan).contains("when: $ test -d /srv/app/prod succeeds"));
    /// ```
    pub fn when(mut self, condition: Arc<Condition>) -> Self {
        self.condition = Some(condition);
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
