//! Tasks that run other tasks: `{ task = "stop_app", params = { … },
//! roles = [...], hosts = [...], once = true }`. What a reference may say is
//! checked when the file loads; its parameters fill the called task's
//! variables, and its `roles`, `hosts` and `once` apply to every step it
//! brings in (refused where a step chooses its own hosts, never ignored).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Config;
use super::entry::{as_strings, included_task};
use super::error::{ConfigError, ConfigErrorKind};
use super::interpolate::{Value, Variables};
use super::raw::{RawEntry, RawTask};
use super::when::When;
use crate::plan::{PlannedStep, Selector};
use crate::registry::StepRegistry;
use crate::suggest::did_you_mean;

/// The keys a task reference may have.
pub(super) const CALL_KEYS: &[&str] = &["task", "params", "roles", "hosts", "once", "when"];

/// A task reference, read.
struct Call {
    callee: String,
    /// Each parameter given: its name, value and where it is written.
    params: Vec<(String, toml::Value, usize)>,
    /// `roles` or `hosts`, and where the key is written.
    on: Option<(Selector, usize)>,
    once: bool,
}

impl Config {
    /// Checks every task reference: only [`CALL_KEYS`], parameters the
    /// called task declares, well-formed `roles`/`hosts`/`once`.
    pub(super) fn check_task_calls(&self) -> Result<(), ConfigError> {
        for task in self.raw.tasks.values() {
            for entry in &task.get_ref().steps {
                if included_task(entry.get_ref()).is_some() {
                    self.call(entry.get_ref())?;
                }
            }
        }
        Ok(())
    }

    /// Appends the steps of `task_name` (and the tasks it runs).
    pub(super) fn expand(
        &self,
        task_name: &str,
        vars: &Variables<'_>,
        registry: &StepRegistry,
        out: &mut Vec<PlannedStep>,
    ) -> Result<(), ConfigError> {
        let task: &RawTask = self.raw.tasks[task_name].get_ref();
        for entry in &task.steps {
            let when = entry
                .get_ref()
                .iter()
                .find(|(k, _)| k.get_ref() == "when")
                .map(|(_, v)| v);
            let condition = match self.when(when, vars)? {
                When::Never => continue,
                When::Always => None,
                When::Probe(condition) => Some(condition),
            };
            if included_task(entry.get_ref()).is_none() {
                let mut step = self.step(task_name, entry, vars, registry)?;
                step.condition = condition;
                out.push(step);
                continue;
            }
            let call = self.call(entry.get_ref())?;
            let first = out.len();
            if call.params.is_empty() {
                self.expand(&call.callee, vars, registry, out)?;
            } else {
                let values = self.call_values(&call, vars)?;
                let callee_vars = Variables {
                    values: &values,
                    ..*vars
                };
                self.expand(&call.callee, &callee_vars, registry, out)?;
            }
            for step in &mut out[first..] {
                self.apply_call(&call, step)?;
                if let Some(condition) = &condition {
                    if step.condition.is_some() {
                        let at = when.map_or(0, |w| w.span().start);
                        return Err(self.error_at(
                            at,
                            ConfigErrorKind::Invalid(format!(
                                "the reference to task `{}` has a `when`, and so does a step it runs:                                  put both in one",
                                call.callee
                            )),
                        ));
                    }
                    step.condition = Some(Arc::clone(condition));
                }
            }
        }
        Ok(())
    }

    /// True when every reference to `callee` among `tasks` gives parameter
    /// `name` (then a run need not).
    pub(super) fn given_by_every_call(&self, tasks: &[String], callee: &str, name: &str) -> bool {
        let mut calls = tasks
            .iter()
            .flat_map(|t| self.raw.tasks[t].get_ref().steps.iter())
            .filter(|e| included_task(e.get_ref()).is_some_and(|(n, _)| n == callee))
            .peekable();
        calls.peek().is_some()
            && calls.all(|entry| {
                self.call(entry.get_ref())
                    .is_ok_and(|call| call.params.iter().any(|(k, _, _)| k == name))
            })
    }

    /// Every task `name` runs (itself first), checking for cycles.
    pub(super) fn reachable_tasks(
        &self,
        name: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), ConfigError> {
        stack.push(name.to_owned());
        if !out.iter().any(|t| t == name) {
            out.push(name.to_owned());
        }
        let task = self.raw.tasks[name].get_ref();
        for entry in &task.steps {
            let Some((included, span)) = included_task(entry.get_ref()) else {
                continue;
            };
            if !self.raw.tasks.contains_key(&included) {
                return Err(self.error_at(span, self.unknown_task(&included)));
            }
            if stack.contains(&included) {
                let mut cycle: Vec<String> = stack
                    .iter()
                    .skip_while(|t| **t != included)
                    .cloned()
                    .collect();
                cycle.push(included);
                return Err(self.error_at(span, ConfigErrorKind::TaskCycle(cycle)));
            }
            self.reachable_tasks(&included, stack, out)?;
        }
        stack.pop();
        Ok(())
    }

    fn call(&self, entry: &RawEntry) -> Result<Call, ConfigError> {
        let (callee, _) = included_task(entry).unwrap_or_default();
        let mut call = Call {
            callee,
            params: Vec::new(),
            on: None,
            once: false,
        };
        for (key, value) in entry {
            let at = key.span().start;
            let invalid = |what: &str| {
                self.error_at(
                    value.span().start,
                    ConfigErrorKind::Invalid(format!(
                        "`{}` of a task reference must be {what}",
                        key.get_ref()
                    )),
                )
            };
            match key.get_ref().as_str() {
                "task" => {}
                "params" => {
                    let Some(table) = value.get_ref().as_table() else {
                        return Err(invalid("a table of parameters"));
                    };
                    call.params = self.call_params(&call.callee, table, value.span().start)?;
                }
                "roles" | "hosts" => {
                    let names =
                        as_strings(value.get_ref()).ok_or_else(|| invalid("a list of names"))?;
                    if call.on.is_some() {
                        return Err(self.error_at(
                            at,
                            ConfigErrorKind::Invalid(
                                "a task reference takes `roles` or `hosts`, not both".into(),
                            ),
                        ));
                    }
                    let selector = if key.get_ref() == "roles" {
                        Selector::Roles(names)
                    } else {
                        Selector::Hosts(names)
                    };
                    call.on = Some((selector, at));
                }
                "when" => {}
                "once" => {
                    call.once = value
                        .get_ref()
                        .as_bool()
                        .ok_or_else(|| invalid("true or false"))?;
                }
                other => {
                    return Err(self.error_at(
                        at,
                        ConfigErrorKind::Invalid(format!(
                            "a task reference takes {}, not `{other}`{}",
                            CALL_KEYS.join(", "),
                            did_you_mean(other, CALL_KEYS.iter().copied())
                        )),
                    ));
                }
            }
        }
        Ok(call)
    }

    /// The `params` of a reference to `callee` (written at `at`), each one
    /// `callee` declares.
    fn call_params(
        &self,
        callee: &str,
        params: &toml::Table,
        at: usize,
    ) -> Result<Vec<(String, toml::Value, usize)>, ConfigError> {
        let declared = &self.raw.tasks[callee].get_ref().params;
        let mut out = Vec::new();
        for (name, value) in params {
            let written = self.find_from(at, name);
            if !declared.contains_key(name) {
                let known: Vec<&str> = declared.keys().map(String::as_str).collect();
                return Err(self.error_at(
                    written,
                    ConfigErrorKind::UnknownParam {
                        name: name.clone(),
                        task: callee.to_owned(),
                        suggestion: did_you_mean(name, known.iter().copied()),
                        known: if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        },
                    },
                ));
            }
            out.push((name.clone(), value.clone(), written));
        }
        Ok(out)
    }

    /// The caller's variables with the reference's parameters filled in.
    fn call_values(
        &self,
        call: &Call,
        vars: &Variables<'_>,
    ) -> Result<BTreeMap<String, Value>, ConfigError> {
        let mut values = vars.values.clone();
        for (name, value, at) in &call.params {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let filled = vars
                .fill(&text)
                .map_err(|e| self.interpolation_error(e, *at, vars.values))?;
            values.insert(name.clone(), Ok(filled));
        }
        Ok(values)
    }

    /// The reference's `roles`/`hosts`/`once` on one step it brought in.
    fn apply_call(&self, call: &Call, step: &mut PlannedStep) -> Result<(), ConfigError> {
        if let Some((selector, at)) = &call.on {
            let own = match &step.on {
                Selector::All => None,
                Selector::Local => Some("runs on the deploying machine".to_owned()),
                Selector::Roles(roles) => Some(format!("has its own roles ({})", roles.join(", "))),
                Selector::Hosts(hosts) => Some(format!("has its own hosts ({})", hosts.join(", "))),
            };
            match own {
                None => step.on = selector.clone(),
                Some(own) => {
                    let written = step
                        .origin
                        .as_ref()
                        .map(|o| format!(" (line {})", o.line))
                        .unwrap_or_default();
                    return Err(self.error_at(
                        *at,
                        ConfigErrorKind::Invalid(format!(
                            "the reference to task `{}` chooses hosts for every step it runs, \
                             but one of them{written} {own}: choose on the reference or on the step",
                            call.callee
                        )),
                    ));
                }
            }
        }
        if call.once && step.on != Selector::Local {
            step.once = true;
        }
        Ok(())
    }
}
