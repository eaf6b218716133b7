//! What `deploy.toml` is checked for when it loads, before any environment
//! or task is chosen: the default names exist, host entries parse as the
//! transport will read them, and every role a step names is a role some
//! environment gives a host; no variable or parameter takes a built-in's
//! name; every `${…}` parses (its transforms exist and take what they are
//! given). (Typed settings such as `[ssh]` check
//! themselves as serde reads them; step bodies are checked when a plan is
//! built, after `${…}` is filled in.)

use std::collections::BTreeSet;

use toml::Spanned;

use super::address::{self, HostAddress};
use super::entry::as_strings;
use super::error::{ConfigError, ConfigErrorKind};
use super::interpolate;
use super::raw::{RawEnvironment, Scalar};
use super::secrets::{SecretSource, secret_source};
use super::{Config, Transport, parse_rollout};
use crate::suggest::did_you_mean;

impl Config {
    /// Checks what can be checked without choosing an environment or task.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if let Some(default) = &self.raw.default_environment
            && !self.raw.environments.contains_key(default.get_ref())
        {
            return Err(self.error_at(
                default.span().start,
                self.unknown_environment(default.get_ref()),
            ));
        }
        let defaults: Vec<&String> = self
            .raw
            .tasks
            .iter()
            .filter(|(_, t)| t.get_ref().default)
            .map(|(name, _)| name)
            .collect();
        if defaults.len() > 1 {
            let second = &self.raw.tasks[defaults[1]];
            return Err(self.error_at(
                second.span().start,
                ConfigErrorKind::Invalid(format!(
                    "tasks `{}` and `{}` are both `default = true`",
                    defaults[0], defaults[1]
                )),
            ));
        }
        for (name, env) in &self.raw.environments {
            if let Some(rollout) = &env.get_ref().rollout {
                parse_rollout(rollout.get_ref()).map_err(|message| {
                    self.error_at(
                        rollout.span().start,
                        ConfigErrorKind::Invalid(format!("environment `{name}`: {message}")),
                    )
                })?;
            }
            self.check_hosts(name, env.get_ref())?;
            self.check_lock_host(name, env.get_ref())?;
            self.check_backup_host(name, env.get_ref())?;
        }
        self.check_secrets()?;
        self.check_containers()?;
        self.check_ci()?;
        self.check_roles()?;
        self.check_task_calls()?;
        self.check_whens()?;
        self.check_names()?;
        self.check_expressions()
    }

    /// Every `[secrets.NAME]` entry gives exactly one source, and a
    /// `command` source names a program.
    fn check_secrets(&self) -> Result<(), ConfigError> {
        for (name, raw) in &self.raw.secrets {
            let kind = match secret_source(raw.get_ref()) {
                Err(found) => ConfigErrorKind::SecretSources {
                    name: name.clone(),
                    found,
                },
                Ok(SecretSource::Command(argv))
                    if argv.first().is_none_or(|p| p.trim().is_empty()) =>
                {
                    ConfigErrorKind::Invalid(format!(
                        "secret `{name}`: `command` names no program (expected the program and its arguments, e.g. [\"pass\", \"show\", \"pixel/db\"])"
                    ))
                }
                Ok(_) => continue,
            };
            return Err(self.error_at(raw.span().start, kind));
        }
        Ok(())
    }

    /// No `vars` or `params` entry is named like a built-in: `${release}`
    /// must mean this run's release, not a variable that silently won.
    fn check_names(&self) -> Result<(), ConfigError> {
        let vars = self
            .raw
            .vars
            .iter()
            .chain(
                self.raw
                    .environments
                    .values()
                    .flat_map(|e| e.get_ref().vars.iter()),
            )
            .map(|(name, value)| (name, value.span().start));
        let params = self
            .raw
            .tasks
            .values()
            .flat_map(|t| t.get_ref().params.iter())
            .map(|(name, value)| (name, value.span().start));
        for (name, value_start) in vars.chain(params) {
            if let Some(what) = builtin_meaning(name) {
                // Point at the name, written before its value.
                let at = self.source[..value_start]
                    .rfind(name.as_str())
                    .unwrap_or(value_start);
                return Err(self.error_at(
                    at,
                    ConfigErrorKind::ShadowsBuiltin {
                        name: name.clone(),
                        what: what.to_owned(),
                    },
                ));
            }
        }
        Ok(())
    }

    /// Every `${…}` in variables, parameter defaults and step entries
    /// parses, so an unknown transform is refused whichever task runs.
    fn check_expressions(&self) -> Result<(), ConfigError> {
        let no_values = std::collections::BTreeMap::new();
        let check = |text: &str, at: usize| {
            interpolate::check(text).map_err(|e| self.interpolation_error(e, at, &no_values))
        };
        let vars = self.raw.vars.values().chain(
            self.raw
                .environments
                .values()
                .flat_map(|e| e.get_ref().vars.values()),
        );
        for value in vars {
            if let Scalar::Text(text) = value.get_ref() {
                check(text, value.span().start)?;
            }
        }
        for task in self.raw.tasks.values() {
            for value in task.get_ref().params.values() {
                if let Some(Scalar::Text(text)) = &value.get_ref().default {
                    check(text, value.span().start)?;
                }
            }
            for entry in &task.get_ref().steps {
                for value in entry.get_ref().values() {
                    each_string(value.get_ref(), &mut |text| check(text, value.span().start))?;
                }
            }
        }
        Ok(())
    }

    /// Every host entry of an environment: never empty, and for SSH one
    /// [`HostAddress::parse`] reads (the transport splits it the same way).
    /// Under `transport = "local"` a name is only a label.
    /// `lock_host` names one of the environment's hosts.
    fn check_lock_host(&self, env_name: &str, env: &RawEnvironment) -> Result<(), ConfigError> {
        let Some(lock_host) = &env.lock_host else {
            return Ok(());
        };
        let hosts: Vec<String> = super::hosts_of(env).into_iter().map(|h| h.name).collect();
        if hosts.iter().any(|h| h == lock_host.get_ref()) {
            return Ok(());
        }
        Err(self.error_at(
            lock_host.span().start,
            ConfigErrorKind::Invalid(format!(
                "[environments.{env_name}] lock_host: `{}` is not one of its hosts{} (hosts: {})",
                lock_host.get_ref(),
                crate::suggest::did_you_mean(lock_host.get_ref(), hosts.iter().map(String::as_str)),
                hosts.join(", ")
            )),
        ))
    }

    /// `backup = { on = "HOST", … }` names one of the environment's hosts
    /// (its other fields are checked when `deploy backup` builds the step).
    fn check_backup_host(&self, env_name: &str, env: &RawEnvironment) -> Result<(), ConfigError> {
        let Some(backup) = &env.backup else {
            return Ok(());
        };
        let on = match backup.get_ref().get("on") {
            None => return Ok(()),
            Some(toml::Value::String(on)) if on.contains("${") => return Ok(()),
            Some(toml::Value::String(on)) => on.clone(),
            Some(_) => {
                return Err(self.error_at(
                    backup.span().start,
                    ConfigErrorKind::Invalid(format!(
                        "[environments.{env_name}] backup: `on` must be a host name"
                    )),
                ));
            }
        };
        let hosts: Vec<String> = super::hosts_of(env).into_iter().map(|h| h.name).collect();
        if hosts.contains(&on) {
            return Ok(());
        }
        Err(self.error_at(
            backup.span().start,
            ConfigErrorKind::Invalid(format!(
                "[environments.{env_name}] backup: `on = \"{on}\"` is not one of its hosts{} (hosts: {})",
                crate::suggest::did_you_mean(&on, hosts.iter().map(String::as_str)),
                hosts.join(", ")
            )),
        ))
    }

    fn check_hosts(&self, env_name: &str, env: &RawEnvironment) -> Result<(), ConfigError> {
        let lists = std::iter::once(("hosts".to_owned(), &env.hosts)).chain(
            env.roles
                .iter()
                .map(|(role, members)| (format!("roles.{role}"), members)),
        );
        for (key, entries) in lists {
            for entry in entries {
                let problem = match (HostAddress::parse(entry.get_ref()), env.transport) {
                    (Ok(_), _) => None,
                    (Err(_), Transport::Local) if !entry.get_ref().trim().is_empty() => None,
                    (Err(why), _) => Some(why),
                };
                if let Some(why) = problem {
                    return Err(self.host_error(env_name, &key, entry, &why));
                }
            }
        }
        Ok(())
    }

    fn host_error(
        &self,
        env_name: &str,
        key: &str,
        entry: &Spanned<String>,
        why: &str,
    ) -> ConfigError {
        self.error_at(
            entry.span().start,
            ConfigErrorKind::Invalid(format!(
                "[environments.{env_name}] {key}: {:?} is not a host: {why} ({})",
                entry.get_ref(),
                address::EXPECTED
            )),
        )
    }

    /// Every role a step names (`roles = ["db"]`) is given to a host by
    /// some environment; the error points at the step.
    fn check_roles(&self) -> Result<(), ConfigError> {
        let defined: BTreeSet<&str> = self
            .raw
            .environments
            .values()
            .flat_map(|env| env.get_ref().roles.iter())
            .filter(|(_, members)| !members.is_empty())
            .map(|(role, _)| role.as_str())
            .collect();
        for task in self.raw.tasks.values() {
            for entry in &task.get_ref().steps {
                let named = entry
                    .get_ref()
                    .iter()
                    .find(|(key, _)| key.get_ref() == "roles")
                    .and_then(|(_, value)| as_strings(value.get_ref()));
                for role in named.into_iter().flatten() {
                    if !defined.contains(role.as_str()) {
                        return Err(self.error_at(
                            entry.span().start,
                            ConfigErrorKind::UndefinedRole {
                                suggestion: did_you_mean(&role, defined.iter().copied()),
                                known: if defined.is_empty() {
                                    "none".to_owned()
                                } else {
                                    defined.iter().copied().collect::<Vec<_>>().join(", ")
                                },
                                role,
                            },
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// What a built-in variable is, for a name that is one.
pub(super) fn builtin_meaning(name: &str) -> Option<&'static str> {
    Some(match name {
        "release" => "this run's release id, filled in at run time",
        "host" => "the host a step runs on, filled in at run time",
        "environment" => "the environment the run is for",
        "task" => "the task that runs",
        "config_dir" => "the directory holding deploy.toml",
        "ci.branch" | "ci.ref_tag" | "ci.sha" | "ci.tag" => "the CI build's, set by `deploy ci`",
        "git_branch" | "git_branch_tag" | "git_commit" | "git_short_commit" | "git_tag" => {
            "from git, where deploy.toml lives"
        }
        _ => return None,
    })
}

/// Calls `f` on every string inside `value`.
pub(super) fn each_string<E>(
    value: &toml::Value,
    f: &mut impl FnMut(&str) -> Result<(), E>,
) -> Result<(), E> {
    match value {
        toml::Value::String(s) => f(s),
        toml::Value::Array(items) => items.iter().try_for_each(|item| each_string(item, f)),
        toml::Value::Table(table) => table.values().try_for_each(|item| each_string(item, f)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn error(source: &str) -> String {
        Config::parse("deploy.toml", ".", source)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn every_built_in_says_what_it_is() {
        for name in super::interpolate::BUILTINS {
            assert!(super::builtin_meaning(name).is_some(), "{name}");
        }
        assert_eq!(super::builtin_meaning("version"), None);
    }

    #[test]
    fn host_entries_parse_as_the_transport_reads_them() {
        assert_eq!(
            error("[environments.prod]\nhosts = [\"web1\", \"web1:notaport\"]\n"),
            "deploy.toml:2:18: [environments.prod] hosts: \"web1:notaport\" is not a host: the port \"notaport\" is not a number (expected \"name\", \"name:port\" or \"user@name:port\", with a port from 1 to 65535)"
        );
        assert!(
            error("[environments.prod]\nroles = { web = [\"web1:70000\"] }\n").starts_with(
                "deploy.toml:2:18: [environments.prod] roles.web: \"web1:70000\" is not a host: the port 70000 is out of range"
            )
        );
        assert!(error("[environments.prod]\nhosts = [\"\"]\n").starts_with(
            "deploy.toml:2:10: [environments.prod] hosts: \"\" is not a host: the name is empty"
        ));
    }

    #[test]
    fn local_host_names_are_labels_but_not_empty() {
        let local = "[environments.here]\ntransport = \"local\"\nhosts = [\"box:one\"]\n";
        assert!(Config::parse("deploy.toml", ".", local).is_ok());
        let empty = "[environments.here]\ntransport = \"local\"\nhosts = [\" \"]\n";
        assert!(
            error(empty).starts_with("deploy.toml:3:10: "),
            "{}",
            error(empty)
        );
    }

    #[test]
    fn a_role_no_environment_defines_points_at_the_step() {
        let source = "[environments.a]\nroles = { web = [\"w1\"], db = [] }\n[environments.b]\nroles = { worker = [\"j1\"] }\n[tasks.t]\nsteps = [\n  { exec = { cmd = [\"true\"] }, roles = [\"worker\", \"webb\"] },\n]\n";
        assert_eq!(
            error(source),
            "deploy.toml:7:3: unknown role `webb` (did you mean `web`?): no environment gives it to a host (roles: web, worker)"
        );
        let defined = source.replace("\"webb\"", "\"web\"");
        assert!(Config::parse("deploy.toml", ".", &defined).is_ok());
        let empty = source.replace("\"webb\"", "\"db\"");
        assert!(error(&empty).starts_with("deploy.toml:7:3: unknown role `db`: no environment"));
    }
}
