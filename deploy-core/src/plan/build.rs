//! [`PlanBuilder`]: adding hosts, steps and policies, then checking the plan
//! and computing its order and placements (Kahn's algorithm, role index).

use std::collections::{BTreeMap, BTreeSet};

use super::{
    FailurePolicy, Host, Plan, PlanBuilder, PlanError, PlanErrorKind, PlannedStep, Rollout,
    Selector,
};
use crate::location::Location;
use crate::text::Text;

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

    /// Marks a task that only looks or maintains (status, logs, backups, a
    /// restart): its runs get an audit line but no release record.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Plan;
    ///
    /// let plan = Plan::builder("production", "status").host("web1", ["web"]).ships(false).build().unwrap();
    /// assert!(!plan.ships());
    /// assert!(Plan::builder("production", "deploy").host("web1", ["web"]).build().unwrap().ships());
    /// ```
    pub fn ships(mut self, ships: bool) -> Self {
        self.plan.ships = ships;
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
            let mut argv_fields: Vec<String> = step
                .step
                .secrets_in_argv()
                .into_iter()
                .map(|field| format!("{}.{field}", step.step.kind()))
                .collect();
            if step
                .condition
                .as_ref()
                .is_some_and(|c| c.argv.iter().any(Text::has_secret))
            {
                argv_fields.push("when".to_owned());
            }
            if let Some(field) = argv_fields.into_iter().next() {
                return Err(err(
                    PlanErrorKind::SecretInArgv {
                        step: step.id.clone(),
                        field,
                    },
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
pub(super) fn place(hosts: &[Host], steps: &[PlannedStep]) -> Vec<Vec<usize>> {
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
