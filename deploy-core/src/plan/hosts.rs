//! The hosts a plan deploys to, and [`Selector`]: which of them a step
//! runs on.

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
