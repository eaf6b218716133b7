//! An environment's `backup` setting: the database `deploy backup`,
//! `deploy backups`, `deploy restore` and `deploy rollback --with-data`
//! work on — the fields of a `postgres.backup` step, and `on`, the host
//! of the environment whose backup directory (and database, or its
//! container) it is:
//!
//! ```toml
//! [environments.production]
//! hosts = ["web1", "db1"]
//! backup = { on = "db1", database = "app", user = "app", service = "db", backup_dir = "/srv/backups", password = "${secret.db_password}" }
//! ```

use std::collections::BTreeSet;

use super::Config;
use super::error::{ConfigError, ConfigErrorKind};
use super::interpolate::{self, Variables};
use super::{check, hosts_of};

/// The task name of the plans `deploy backup` runs (no task of the config:
/// a name no `[tasks.…]` table is likely to have).
pub const BACKUP_TASK: &str = "postgres.backup";

/// The task name of the plans `deploy restore` runs.
pub const RESTORE_TASK: &str = "postgres.restore";

/// An environment's `backup` setting, its `${…}` filled in.
///
/// # Examples
///
/// ```
/// use deploy_core::Config;
///
/// let toml = r#"
/// [secrets]
/// db_password = { env = "DB_PASSWORD" }
/// [vars]
/// dir = "/srv/backups"
/// [environments.production]
/// hosts = ["web1", "db1"]
/// backup = { on = "db1", database = "app", user = "app", backup_dir = "${dir}", password = "${secret.db_password}" }
/// [environments.staging]
/// hosts = ["staging1"]
/// "#;
/// let config = Config::parse("deploy.toml", ".", toml).unwrap();
/// let backup = config.backup(Some("production")).unwrap();
/// assert_eq!(backup.host, "db1");
/// assert_eq!(backup.step["backup_dir"].as_str(), Some("/srv/backups"));
/// assert!(backup.step.get("on").is_none());
/// assert_eq!(backup.secrets, ["db_password"]);
/// let none = config.backup(Some("staging")).unwrap_err().to_string();
/// assert!(none.contains("staging has no `backup`"), "{none}");
/// ```
#[derive(Clone, Debug)]
pub struct BackupSettings {
    /// The environment.
    pub environment: String,
    /// The host it is on (`on`; default: the environment's first host).
    pub host: String,
    /// The `postgres.backup` step's fields (all but `on`).
    pub step: toml::Value,
    /// The secrets they use.
    pub secrets: Vec<String>,
}

impl Config {
    /// The `backup` setting of `environment` (default: the default one).
    ///
    /// # Examples
    ///
    /// See [`BackupSettings`].
    pub fn backup(&self, environment: Option<&str>) -> Result<BackupSettings, ConfigError> {
        let env_name = self.resolve_environment(environment)?;
        let spanned = &self.raw.environments[&env_name];
        let env = spanned.get_ref();
        let Some(table) = &env.backup else {
            return Err(self.error_at(
                spanned.span().start,
                ConfigErrorKind::Invalid(format!(
                    "environment {env_name} has no `backup` (add `backup = {{ on = \"HOST\", database = \"…\", user = \"…\", backup_dir = \"…\" }}` to [environments.{env_name}])"
                )),
            ));
        };
        let at = table.span().start;
        let git = self.git();
        let values = self.variables(&env_name, BACKUP_TASK, env, &[], &[], &git)?;
        let secret_names = self.secret_names();
        let vars = Variables {
            values: &values,
            secrets: &secret_names,
            git: &git,
            pending: None,
        };
        let mut value = toml::Value::Table(table.get_ref().clone());
        vars.fill_value(&mut value)
            .map_err(|e| self.interpolation_error(e, at, vars.values))?;
        let toml::Value::Table(mut fields) = value else {
            return Err(self.error_at(
                at,
                ConfigErrorKind::Invalid("`backup` must be a table".into()),
            ));
        };
        let hosts = hosts_of(env);
        let host = match fields.remove("on") {
            Some(toml::Value::String(host)) => host,
            Some(_) => {
                return Err(self.error_at(
                    at,
                    ConfigErrorKind::Invalid("backup: `on` must be a host name".into()),
                ));
            }
            None => match hosts.first() {
                Some(first) => first.name.clone(),
                None => {
                    return Err(self.error_at(
                        at,
                        ConfigErrorKind::Invalid(format!("environment {env_name} has no hosts")),
                    ));
                }
            },
        };
        if !hosts.iter().any(|h| h.name == host) {
            let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            return Err(self.error_at(
                at,
                ConfigErrorKind::Invalid(format!(
                    "backup: `on = \"{host}\"` is not a host of {env_name} (its hosts: {})",
                    names.join(", ")
                )),
            ));
        }
        let step = toml::Value::Table(fields);
        let mut secrets = BTreeSet::new();
        check::each_string(&step, &mut |text| {
            interpolate::secrets_in(text, &mut secrets);
            Ok::<(), ConfigError>(())
        })?;
        Ok(BackupSettings {
            environment: env_name,
            host,
            step,
            secrets: secrets.into_iter().collect(),
        })
    }
}
