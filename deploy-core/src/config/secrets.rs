//! Secrets when a run starts: read from where `[secrets]` says, only those
//! the selected task (and the tasks it runs) use.

use std::collections::{BTreeMap, BTreeSet};

use super::Config;
use super::entry::included_task;
use super::error::{ConfigError, ConfigErrorKind};
use super::interpolate::{Git, Variables};
use super::{check, interpolate};
use crate::plan::Plan;
use crate::secret::Secret;

impl Config {
    /// Reads every declared secret from the process environment (at run
    /// time; a plan never needs them). A run needs only those its plan
    /// uses: see [`Config::load_secrets_for`].
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let toml = "[secrets.search_path]\nenv = \"PATH\"\n";
    /// let secrets = Config::parse("deploy.toml", ".", toml).unwrap().load_secrets().unwrap();
    /// assert_eq!(secrets["search_path"].expose(), std::env::var("PATH").unwrap());
    ///
    /// let unset = "[secrets.db]\nenv = \"DEPLOY_DOCTEST_UNSET_VARIABLE\"\n";
    /// assert!(Config::parse("deploy.toml", ".", unset).unwrap().load_secrets().is_err());
    /// ```
    pub fn load_secrets(&self) -> Result<BTreeMap<String, Secret>, ConfigError> {
        self.load_secrets_named(|_| true)
    }

    fn load_secrets_named(
        &self,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Secret>, ConfigError> {
        let mut secrets = BTreeMap::new();
        for (name, source) in self.raw.secrets.iter().filter(|(n, _)| wanted(n)) {
            let var = &source.get_ref().env;
            match std::env::var(var) {
                Ok(value) => {
                    secrets.insert(name.clone(), Secret::new(value));
                }
                Err(_) => {
                    return Err(self.error_at(
                        source.span().start,
                        ConfigErrorKind::MissingSecret {
                            name: name.clone(),
                            env: var.clone(),
                        },
                    ));
                }
            }
        }
        Ok(secrets)
    }

    /// Reads from the process environment only the secrets `plan`'s steps
    /// use (its task's and those of the tasks it runs, directly or through
    /// a variable), so `deploy run build` does not demand a key only
    /// `deploy` needs.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Config, StepRegistry};
    ///
    /// let toml = r#"
    /// [secrets.search_path]
    /// env = "PATH"
    /// [secrets.aws_key]
    /// env = "DEPLOY_DOCTEST_UNSET_VARIABLE"
    /// [vars]
    /// upload = "aws --key ${secret.aws_key} s3 cp dist s3://bucket/"
    /// [environments.ci]
    /// hosts = ["runner"]
    /// [tasks.build]
    /// steps = [{ exec = { cmd = ["make"], env = { PATH = "${secret.search_path}" } } }]
    /// [tasks.deploy]
    /// steps = [{ task = "build" }, { exec = { shell = "${upload}" } }]
    /// "#;
    /// let config = Config::parse("deploy.toml", ".", toml).unwrap();
    /// let registry = StepRegistry::with_builtins();
    /// let build = config.plan(Some("ci"), Some("build"), &[], &registry).unwrap();
    /// let secrets = config.load_secrets_for(&build).unwrap();
    /// assert_eq!(secrets.keys().collect::<Vec<_>>(), ["search_path"]);
    ///
    /// let deploy = config.plan(Some("ci"), Some("deploy"), &[], &registry).unwrap();
    /// let err = config.load_secrets_for(&deploy).unwrap_err();
    /// assert!(err.to_string().contains("secret `aws_key` needs the environment variable"));
    /// ```
    pub fn load_secrets_for(&self, plan: &Plan) -> Result<BTreeMap<String, Secret>, ConfigError> {
        let used = self.secrets_used(plan)?;
        self.load_secrets_named(|name| used.contains(name))
    }

    /// The secrets the steps of `plan`'s task (and the tasks it runs) use,
    /// once their variables are filled in.
    fn secrets_used(&self, plan: &Plan) -> Result<BTreeSet<String>, ConfigError> {
        let (env_name, task_name) = (plan.environment(), plan.task());
        let Some(env) = self.raw.environments.get(env_name) else {
            return Err(ConfigError::new(self.unknown_environment(env_name)));
        };
        if !self.raw.tasks.contains_key(task_name) {
            return Err(ConfigError::new(self.unknown_task(task_name)));
        }
        let mut reachable = Vec::new();
        self.reachable_tasks(task_name, &mut Vec::new(), &mut reachable)?;
        let args: Vec<(String, String)> = plan
            .params()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let git = Git::new(&self.dir);
        let values = self.variables(env_name, task_name, env.get_ref(), &reachable, &args, &git)?;
        let secrets = self.secret_names();
        let vars = Variables {
            values: &values,
            secrets: &secrets,
            git: &git,
            pending: None,
        };
        let mut used = BTreeSet::new();
        for task in &reachable {
            for entry in &self.raw.tasks[task].get_ref().steps {
                if included_task(entry.get_ref()).is_some() {
                    continue;
                }
                for value in entry.get_ref().values() {
                    let mut filled = value.get_ref().clone();
                    vars.fill_value(&mut filled)
                        .map_err(|e| self.interpolation_error(e, value.span().start, &values))?;
                    check::each_string(&filled, &mut |text| {
                        interpolate::secrets_in(text, &mut used);
                        Ok::<(), ConfigError>(())
                    })?;
                }
            }
        }
        Ok(used)
    }
}
