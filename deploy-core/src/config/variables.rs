//! The variables of a run, layer by layer, and where an interpolation error
//! points.

use std::collections::{BTreeMap, BTreeSet};

use toml::Spanned;

use super::Config;
use super::error::{ConfigError, ConfigErrorKind};
use super::interpolate::{BUILTINS, Git, InterpolateError, Value, Variables};
use super::raw::{self, RawEnvironment};
use crate::suggest::did_you_mean;

impl Config {
    /// The variables of a run: built-ins, then top-level `vars`, then the
    /// environment's, then task parameters (arguments replacing defaults).
    /// A value may use any variable of an earlier layer or of its own.
    pub(super) fn variables(
        &self,
        env_name: &str,
        task_name: &str,
        env: &RawEnvironment,
        tasks: &[String],
        args: &[(String, String)],
        git: &Git<'_>,
    ) -> Result<BTreeMap<String, Value>, ConfigError> {
        // The git built-ins are not here: `git` asks for them when used.
        let mut values: BTreeMap<String, Value> = BTreeMap::from([
            ("environment".to_owned(), Ok(env_name.to_owned())),
            ("task".to_owned(), Ok(task_name.to_owned())),
            (
                "config_dir".to_owned(),
                Ok(self.dir.display().to_string().replace("${", "$${")),
            ),
        ]);
        values.extend(self.ci_values());
        // Each parameter: its value (None while a required one is not
        // given), where it is declared, and by which task.
        let mut params: BTreeMap<String, (Option<String>, usize, &str)> = BTreeMap::new();
        for task in tasks {
            for (key, value) in &self.raw.tasks[task].get_ref().params {
                params.entry(key.clone()).or_insert((
                    value.get_ref().default.as_ref().map(raw::Scalar::text),
                    value.span().start,
                    task,
                ));
            }
        }
        // Under `deploy ci`, the matched rule's variables: one named like a
        // parameter gives it (as its default would: `${…}` is filled in, and
        // the command line still wins); the others are a layer of their own,
        // after the environment's.
        let mut rule_vars = self.ci_rule_vars();
        for (key, param) in params.iter_mut() {
            if let Some((text, at)) = rule_vars.remove(key) {
                param.0 = Some(text);
                param.1 = at;
            }
        }
        for (key, value) in args {
            match params.get_mut(key) {
                Some(param) => param.0 = Some(value.replace("${", "$${")),
                None => {
                    let known: Vec<&str> = params.keys().map(String::as_str).collect();
                    return Err(ConfigError::new(ConfigErrorKind::UnknownParam {
                        name: key.clone(),
                        task: task_name.to_owned(),
                        suggestion: did_you_mean(key, known.iter().copied()),
                        known: if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        },
                    }));
                }
            }
        }
        // A required parameter of a task that others run is given when
        // every reference to that task gives it.
        let missing = params.iter().find(|(name, (value, _, task))| {
            value.is_none() && (*task == task_name || !self.given_by_every_call(tasks, task, name))
        });
        if let Some((name, (_, at, task))) = missing {
            let description = self.raw.tasks[*task].get_ref().params[name]
                .get_ref()
                .description
                .clone();
            return Err(self.error_at(
                *at,
                ConfigErrorKind::MissingParam {
                    name: name.clone(),
                    task: (*task).to_owned(),
                    description: description.map(|d| format!(" ({d})")).unwrap_or_default(),
                },
            ));
        }
        // A secret parameter's value is the run's secret of that name: steps
        // carry `${secret.NAME}`, never the value.
        let secret = self.secret_params();
        let params = params
            .into_iter()
            .map(|(key, (value, at, _))| {
                let value = if secret.contains(&key) {
                    format!("${{secret.{key}}}")
                } else {
                    value.unwrap_or_default()
                };
                (key, (value, at))
            })
            .collect();
        let layer =
            |vars: &BTreeMap<String, Spanned<raw::Scalar>>| -> BTreeMap<String, (String, usize)> {
                vars.iter()
                    .map(|(k, v)| (k.clone(), (v.get_ref().text(), v.span().start)))
                    .collect()
            };
        for pending in [layer(&self.raw.vars), layer(&env.vars), rule_vars, params] {
            self.fill_layer(pending, &mut values, git)?;
        }
        Ok(values)
    }

    /// Fills one layer of variables into `values`, in as many passes as
    /// their references to each other need. A variable that uses a
    /// built-in with no value here (git outside a repository) is kept as
    /// having none: it is an error only where a step uses it.
    fn fill_layer(
        &self,
        mut pending: BTreeMap<String, (String, usize)>,
        values: &mut BTreeMap<String, Value>,
        git: &Git<'_>,
    ) -> Result<(), ConfigError> {
        let secrets = self.secret_names();
        while !pending.is_empty() {
            let mut filled = Vec::new();
            let mut first_error = None;
            for (key, (raw, at)) in &pending {
                let others: BTreeSet<String> =
                    pending.keys().filter(|k| *k != key).cloned().collect();
                let vars = Variables {
                    values,
                    secrets: &secrets,
                    git,
                    pending: Some(&others),
                };
                match vars.fill(raw) {
                    Ok(text) => filled.push((key.clone(), Ok(text))),
                    Err(InterpolateError::Unavailable { unavailable, .. }) => {
                        filled.push((key.clone(), Err(unavailable)));
                    }
                    Err(InterpolateError::Undefined { name, .. }) if others.contains(&name) => {}
                    Err(e) => {
                        first_error.get_or_insert((e, *at));
                    }
                }
            }
            if filled.is_empty() {
                return Err(match first_error {
                    Some((error, at)) => self.interpolation_error(error, at, values),
                    None => {
                        let at = pending.values().map(|(_, at)| *at).min().unwrap_or(0);
                        let names: Vec<&str> = pending.keys().map(String::as_str).collect();
                        self.error_at(
                            at,
                            ConfigErrorKind::Invalid(format!(
                                "variables {} refer to each other in a circle",
                                names.join(", ")
                            )),
                        )
                    }
                });
            }
            for (key, value) in filled {
                pending.remove(&key);
                values.insert(key, value);
            }
        }
        Ok(())
    }

    /// Locates an interpolation error: the `${` inside the value when the
    /// value is written plainly at `value_start`, else the value itself.
    pub(super) fn interpolation_error(
        &self,
        error: InterpolateError,
        value_start: usize,
        values: &BTreeMap<String, Value>,
    ) -> ConfigError {
        let (kind, needle) = match error {
            InterpolateError::Undefined { name, .. } => (
                ConfigErrorKind::UndefinedVariable {
                    suggestion: did_you_mean(
                        &name,
                        values
                            .keys()
                            .map(String::as_str)
                            .chain(BUILTINS.iter().copied()),
                    ),
                    name: name.clone(),
                },
                format!("${{{name}"),
            ),
            InterpolateError::UndeclaredSecret { name, .. } => (
                ConfigErrorKind::UndeclaredSecret(name.clone()),
                format!("${{secret.{name}"),
            ),
            InterpolateError::Unclosed { .. } => (
                ConfigErrorKind::Invalid("unclosed `${` (write `$${` for a literal `${`)".into()),
                "${".to_owned(),
            ),
            InterpolateError::Transform {
                expression,
                message,
                ..
            } => (
                ConfigErrorKind::Expression {
                    expression: expression.clone(),
                    message,
                },
                expression,
            ),
            InterpolateError::Unavailable {
                name, unavailable, ..
            } => (
                ConfigErrorKind::Unavailable {
                    name: name.clone(),
                    builtin: unavailable.builtin,
                    why: unavailable.why,
                },
                format!("${{{name}"),
            ),
        };
        self.error_at(self.find_from(value_start, &needle), kind)
    }

    /// The offset of `needle` at or after `from` within the same entry, or
    /// `from` when it cannot be found.
    pub(super) fn find_from(&self, from: usize, needle: &str) -> usize {
        self.source
            .get(from..)
            .and_then(|rest| rest.find(needle))
            .map(|i| from + i)
            .unwrap_or(from)
    }
}
