//! [`Plan`]: steps bound to hosts, with order, dependencies and policies.
//!
//! A plan is pure data, built without touching any network: which steps run
//! on which hosts, in what order, what waits for what, how hosts are rolled
//! out, and what happens when something fails. The executor walks it; the
//! renderer prints it.

use std::collections::BTreeMap;

mod build;
mod condition;
mod error;
mod hosts;
mod limit;
mod pinned;
mod planned_step;
mod policy;

pub use condition::Condition;
pub use error::{PlanError, PlanErrorKind, secret_in_argv_advice};
pub use hosts::{Host, Selector};
pub use limit::Limit;
pub use planned_step::PlannedStep;
pub use policy::{FailurePolicy, Retry, Rollout};

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
    /// The hosts the run is limited to (`-H`/`-R`), when it is.
    limit: Option<Limit>,
    /// What a rollback or promotion pins the plan to, when it is one.
    pinning: Option<crate::release::Pinning>,
    /// False for a task that only looks or maintains: no release record.
    ships: bool,
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
                limit: None,
                pinning: None,
                ships: true,
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

    /// False for a task that only looks or maintains (`ships = false`):
    /// its runs record no release.
    ///
    /// # Examples
    ///
    /// See [`PlanBuilder::ships`].
    pub fn ships(&self) -> bool {
        self.ships
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
