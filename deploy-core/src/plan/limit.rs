//! [`Limit`]: a run limited to some of an environment's hosts (`deploy run
//! -H web1,web2` / `-R web`). The plan keeps only the selected hosts, so
//! `once` steps and barriers apply within the selection, and its header says
//! the run is limited.

use super::{Plan, PlanError, PlanErrorKind};

/// Which hosts a run is limited to: those named, and those having one of
/// the roles (both given: a host must be named *and* have one of the roles).
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, plan::Limit};
///
/// let plan = Plan::builder("production", "deploy")
///     .host("web1", ["web"]).host("web2", ["web"]).host("db1", ["db"])
///     .build()
///     .unwrap();
/// let web = plan.clone().limited(&Limit::roles(["web"])).unwrap();
/// assert_eq!(web.hosts().len(), 2);
/// assert_eq!(web.limit().unwrap().describe(), "roles web (2 of 3 hosts)");
/// let err = plan.limited(&Limit::hosts(["web9"])).unwrap_err();
/// assert_eq!(err.to_string(), "-H/--hosts: unknown host `web9` (did you mean `web2`?) (hosts here: web1, web2, db1)");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Limit {
    /// Host names (empty: any).
    pub hosts: Vec<String>,
    /// Roles (empty: any).
    pub roles: Vec<String>,
    /// How many hosts the environment has (set when the plan is limited).
    pub of: usize,
    /// How many are selected (set when the plan is limited).
    pub selected: usize,
}

impl Limit {
    /// A limit to these hosts.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(deploy_core::plan::Limit::hosts(["web1"]).hosts, ["web1"]);
    /// ```
    pub fn hosts<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        Limit {
            hosts: names.into_iter().map(Into::into).collect(),
            ..Limit::default()
        }
    }

    /// A limit to hosts with any of these roles.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(deploy_core::plan::Limit::roles(["web"]).roles, ["web"]);
    /// ```
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(roles: I) -> Self {
        Limit {
            roles: roles.into_iter().map(Into::into).collect(),
            ..Limit::default()
        }
    }

    /// True when it limits nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(deploy_core::plan::Limit::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.roles.is_empty()
    }

    /// How the plan header shows it.
    ///
    /// # Examples
    ///
    /// See [`Limit`].
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.hosts.is_empty() {
            parts.push(format!("hosts {}", self.hosts.join(", ")));
        }
        if !self.roles.is_empty() {
            parts.push(format!("roles {}", self.roles.join(", ")));
        }
        format!(
            "{} ({} of {} hosts)",
            parts.join(" and "),
            self.selected,
            self.of
        )
    }
}

impl Plan {
    /// This plan limited to the hosts `limit` selects (an empty limit
    /// changes nothing). Names and roles must exist in the plan; the
    /// steps' placements are computed again, so `once` runs on the first
    /// selected host.
    ///
    /// # Examples
    ///
    /// See [`Limit`].
    pub fn limited(mut self, limit: &Limit) -> Result<Plan, PlanError> {
        if limit.is_empty() {
            return Ok(self);
        }
        let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        let mut roles: Vec<&str> = self
            .hosts
            .iter()
            .flat_map(|h| h.roles.iter().map(String::as_str))
            .collect();
        roles.sort_unstable();
        roles.dedup();
        let unknown = |flag: &str, what: &str, name: &str, known: &[&str]| PlanError {
            location: None,
            kind: PlanErrorKind::Invalid(format!(
                "{flag}: unknown {what} `{name}`{} ({what}s here: {})",
                crate::suggest::did_you_mean(name, known.iter().copied()),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )),
        };
        if let Some(name) = limit.hosts.iter().find(|h| !names.contains(&h.as_str())) {
            return Err(unknown("-H/--hosts", "host", name, &names));
        }
        if let Some(role) = limit.roles.iter().find(|r| !roles.contains(&r.as_str())) {
            return Err(unknown("-R/--roles", "role", role, &roles));
        }
        let of = self.hosts.len();
        self.hosts.retain(|host| {
            (limit.hosts.is_empty() || limit.hosts.contains(&host.name))
                && (limit.roles.is_empty() || host.roles.iter().any(|r| limit.roles.contains(r)))
        });
        let mut applied = limit.clone();
        applied.of = of;
        applied.selected = self.hosts.len();
        if self.hosts.is_empty() {
            return Err(PlanError {
                location: None,
                kind: PlanErrorKind::Invalid(format!(
                    "no host is both named by -H/--hosts and has a role of -R/--roles: {}",
                    applied.describe()
                )),
            });
        }
        self.placements = super::build::place(&self.hosts, &self.steps);
        self.limit = Some(applied);
        Ok(self)
    }

    /// The limit this plan was built with, if any.
    ///
    /// # Examples
    ///
    /// See [`Limit`].
    pub fn limit(&self) -> Option<&Limit> {
        self.limit.as_ref()
    }
}
