//! Parameters a person gives when a run starts: `password = { prompt =
//! "Webfaction password", secret = true }` is asked on a terminal when the
//! run does not give it (unattended, the run is refused naming it), and a
//! secret one never reaches a rendered plan, argv, logs or events: steps
//! carry it as `${secret.NAME}`.

use std::collections::{BTreeMap, BTreeSet};

use super::Config;
use super::error::ConfigError;
use crate::secret::Secret;

/// A parameter to ask for before the plan is built.
///
/// # Examples
///
/// ```
/// use deploy_core::Config;
///
/// let toml = r#"
/// [environments.webfaction]
/// hosts = ["web1"]
/// [tasks.deploy]
/// params = { password = { prompt = "Webfaction password", secret = true }, version = "latest" }
/// "#;
/// let config = Config::parse("deploy.toml", ".", toml).unwrap();
/// let asks = config.prompts(Some("webfaction"), Some("deploy"), &[]).unwrap();
/// assert_eq!(asks.len(), 1);
/// assert_eq!((asks[0].name.as_str(), asks[0].prompt.as_str(), asks[0].secret), ("password", "Webfaction password", true));
/// let given = [("password".to_owned(), "hunter2".to_owned())];
/// assert!(config.prompts(Some("webfaction"), Some("deploy"), &given).unwrap().is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamPrompt {
    /// The parameter.
    pub name: String,
    /// What to ask.
    pub prompt: String,
    /// Ask without echo; the value is a secret.
    pub secret: bool,
}

impl Config {
    /// The parameters with a `prompt` that a run of `task` (and the tasks
    /// it runs) needs and `args` does not give.
    ///
    /// # Examples
    ///
    /// See [`ParamPrompt`].
    pub fn prompts(
        &self,
        environment: Option<&str>,
        task: Option<&str>,
        args: &[(String, String)],
    ) -> Result<Vec<ParamPrompt>, ConfigError> {
        // The environment must exist even though prompts do not depend on it.
        self.resolve_environment(environment)?;
        let task_name = self.resolve_task(task)?;
        let mut reachable = Vec::new();
        self.reachable_tasks(&task_name, &mut Vec::new(), &mut reachable)?;
        let mut asks: Vec<ParamPrompt> = Vec::new();
        // Under `deploy ci`, the matched rule's variables give parameters.
        let by_rule = self.ci_rule_vars();
        for task in &reachable {
            for (name, param) in &self.raw.tasks[task].get_ref().params {
                let Some(prompt) = &param.get_ref().prompt else {
                    continue;
                };
                let given = args.iter().any(|(k, _)| k == name)
                    || by_rule.contains_key(name)
                    || (*task != task_name && self.given_by_every_call(&reachable, task, name));
                if !given && !asks.iter().any(|a| a.name == *name) {
                    asks.push(ParamPrompt {
                        name: name.clone(),
                        prompt: prompt.clone(),
                        secret: param.get_ref().secret,
                    });
                }
            }
        }
        Ok(asks)
    }

    /// The values `args` gives to secret parameters, as secrets for the
    /// run (steps refer to them as `${secret.NAME}`).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let toml = "[tasks.deploy]\nparams = { password = { prompt = \"Password\", secret = true } }\n";
    /// let config = Config::parse("deploy.toml", ".", toml).unwrap();
    /// let args = [("password".to_owned(), "hunter2".to_owned())];
    /// assert_eq!(config.param_secrets(&args)["password"].expose(), "hunter2");
    /// ```
    pub fn param_secrets(&self, args: &[(String, String)]) -> BTreeMap<String, Secret> {
        let secret = self.secret_params();
        args.iter()
            .filter(|(k, _)| secret.contains(k))
            .map(|(k, v)| (k.clone(), Secret::new(v.clone())))
            .collect()
    }

    /// The names of the secret parameters of every task.
    pub(super) fn secret_params(&self) -> BTreeSet<String> {
        self.raw
            .tasks
            .values()
            .flat_map(|t| t.get_ref().params.iter())
            .filter(|(_, p)| p.get_ref().secret)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Every name `${secret.NAME}` may use: `[secrets]` and secret
    /// parameters.
    pub(super) fn secret_names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.raw.secrets.keys().cloned().collect();
        names.extend(self.secret_params());
        names
    }
}
