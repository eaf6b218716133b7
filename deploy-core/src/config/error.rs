//! Configuration errors: what is wrong, and where in `deploy.toml`.

use std::fmt;

use crate::location::Location;

/// What is wrong with a configuration.
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, StepRegistry, config::ConfigErrorKind};
///
/// let config = Config::parse("deploy.toml", ".", "[tasks.deploy]\n").unwrap();
/// let err = config.plan(None, None, &[], &StepRegistry::new()).unwrap_err();
/// assert!(matches!(*err.kind, ConfigErrorKind::NoEnvironment { .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// TOML syntax, a wrong type, or an unknown field.
    #[error("{0}")]
    Invalid(String),
    /// No such environment.
    #[error("unknown environment `{name}`{suggestion} (environments: {known})")]
    UnknownEnvironment {
        /// The name asked for.
        name: String,
        /// A suggestion, or empty.
        suggestion: String,
        /// The environments.
        known: String,
    },
    /// No environment given and no default.
    #[error(
        "no environment given and deploy.toml names no `default_environment` (environments: {known})"
    )]
    NoEnvironment {
        /// The environments.
        known: String,
    },
    /// No such task.
    #[error("unknown task `{name}`{suggestion} (tasks: {known})")]
    UnknownTask {
        /// The name asked for.
        name: String,
        /// A suggestion, or empty.
        suggestion: String,
        /// The tasks.
        known: String,
    },
    /// No task given and no default.
    #[error("no task given and no task has `default = true` (tasks: {known})")]
    NoTask {
        /// The tasks.
        known: String,
    },
    /// A task argument that no task takes.
    #[error("unknown parameter `{name}`{suggestion} for task `{task}` (parameters: {known})")]
    UnknownParam {
        /// The parameter.
        name: String,
        /// The task.
        task: String,
        /// A suggestion, or empty.
        suggestion: String,
        /// Its parameters.
        known: String,
    },
    /// A required parameter the run does not give.
    #[error("task `{task}` needs the parameter `{name}`{description}: give it as {name}=VALUE")]
    MissingParam {
        /// The parameter.
        name: String,
        /// The task declaring it.
        task: String,
        /// ` (its description)`, or empty.
        description: String,
    },
    /// A `${name}` with no value.
    #[error("undefined variable `{name}`{suggestion}")]
    UndefinedVariable {
        /// The name.
        name: String,
        /// A suggestion, or empty.
        suggestion: String,
    },
    /// A `${…}` that does not parse: an unknown transform, bad arguments, a
    /// transform on a run-time value or secret.
    #[error(
        "{expression}: {message} (transforms: {})",
        crate::config::interpolate::TRANSFORMS
    )]
    Expression {
        /// The `${…}` as written.
        expression: String,
        /// What is wrong.
        message: String,
    },
    /// A variable used where it has no value: a git built-in outside a
    /// repository, `${git_branch}` on a detached HEAD, or a variable made
    /// from one.
    #[error(
        "`${{{name}}}` has no value here: {}{why} (give the value as a parameter, or write `${{{name} | default(\"...\")}}`)",
        if name == builtin { String::new() } else { format!("it uses `${{{builtin}}}`, and ") }
    )]
    Unavailable {
        /// The variable used.
        name: String,
        /// The built-in that has no value.
        builtin: String,
        /// Why.
        why: String,
    },
    /// A `vars` or `params` name that is a built-in's.
    #[error("`{name}` is a built-in variable ({what}); a variable or parameter cannot take its name (built-ins: {})", crate::config::interpolate::BUILTINS.join(", "))]
    ShadowsBuiltin {
        /// The name.
        name: String,
        /// What the built-in is.
        what: String,
    },
    /// A `${secret.NAME}` with no `[secrets.NAME]`.
    #[error(
        "secret `{0}` is not declared (add [secrets.{0}] with env = \"VARIABLE\", file, dotenv or command)"
    )]
    UndeclaredSecret(String),
    /// Tasks include each other in a circle.
    #[error("task cycle: {}", .0.join(" -> "))]
    TaskCycle(Vec<String>),
    /// A step names a role that no environment gives to any host.
    #[error(
        "unknown role `{role}`{suggestion}: no environment gives it to a host (roles: {known})"
    )]
    UndefinedRole {
        /// The role.
        role: String,
        /// A suggestion, or empty.
        suggestion: String,
        /// The roles some environment defines, or `none`.
        known: String,
    },
    /// A step names a container no `[containers]` entry defines.
    #[error(
        "unknown container `{name}`{suggestion}: no [containers] entry defines it (containers: {known})"
    )]
    UndefinedContainer {
        /// The name.
        name: String,
        /// A suggestion, or empty.
        suggestion: String,
        /// The entries, or `none`.
        known: String,
    },
    /// A step entry is malformed, or its kind refused it.
    #[error("{0}")]
    Step(String),
    /// The plan the config describes is invalid.
    #[error(transparent)]
    Plan(crate::plan::PlanErrorKind),
    /// A `[secrets.NAME]` entry with no source, or more than one.
    #[error(
        "secret `{name}` {}: give exactly one of `env = \"VARIABLE\"`, `file = \"path\"`, `dotenv = {{ file = \"path\", key = \"KEY\" }}`, `command = [\"program\", \"arg\"]`",
        if found.is_empty() { "has no source".to_owned() } else { format!("has {} sources ({})", found.len(), found.join(", ")) }
    )]
    SecretSources {
        /// The secret.
        name: String,
        /// The sources it gives (`env`, `file`, …), empty for none.
        found: Vec<String>,
    },
    /// A secret's source could not give its value at run time: a file that
    /// cannot be read, a dotenv file without the key. Never the value.
    #[error("secret `{name}`: {problem}")]
    SecretUnavailable {
        /// The secret.
        name: String,
        /// What went wrong (a path and why).
        problem: String,
    },
    /// A secret's `command` could not start (no such program, not
    /// executable).
    #[error("secret `{name}`: cannot start `{command}`: {reason}")]
    SecretCommandStart {
        /// The secret.
        name: String,
        /// The command, quoted as a shell would read it.
        command: String,
        /// Why.
        reason: String,
    },
    /// A secret's `command` failed: its status and stderr, never its stdout.
    #[error("secret `{name}`: `{command}` failed ({status}){}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    SecretCommandFailed {
        /// The secret.
        name: String,
        /// The command, quoted as a shell would read it.
        command: String,
        /// `exit status 1`, `killed by signal 9`.
        status: String,
        /// Its standard error, trimmed (known secret values masked).
        stderr: String,
    },
    /// A secret's environment variable is not set at run time.
    #[error("secret `{name}` needs the environment variable {env}, which is not set")]
    MissingSecret {
        /// The secret.
        name: String,
        /// Its variable.
        env: String,
    },
}

/// A configuration error, with where it was written when known.
///
/// # Examples
///
/// ```
/// use deploy_core::{Config, config::ConfigErrorKind};
///
/// let source = "default_environment = \"prod\"\n[environments.production]\n";
/// let err = Config::parse("deploy.toml", ".", source).unwrap_err();
/// assert!(matches!(*err.kind, ConfigErrorKind::UnknownEnvironment { .. }));
/// assert_eq!(err.location.as_ref().map(|at| (at.line, at.column)), Some((1, 23)));
/// assert_eq!(err.source_line.as_deref(), Some("default_environment = \"prod\""));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where.
    pub location: Option<Location>,
    /// What (boxed: errors stay small on the happy path).
    pub kind: Box<ConfigErrorKind>,
    /// The source line at the location, for showing under the message.
    pub source_line: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(at) => write!(f, "{at}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(super) fn new(kind: ConfigErrorKind) -> Self {
        ConfigError {
            location: None,
            kind: Box::new(kind),
            source_line: None,
        }
    }

    /// The error with its source line and a caret under the column, for
    /// terminals.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Config;
    ///
    /// let err = Config::parse("deploy.toml", ".", "rollout = 3\n").unwrap_err();
    /// let snippet = err.with_snippet();
    /// let lines: Vec<&str> = snippet.lines().collect();
    /// assert!(lines[0].starts_with("deploy.toml:1:1: "));
    /// assert_eq!(lines[1..], ["  |", "1 | rollout = 3", "  | ^"]);
    /// ```
    pub fn with_snippet(&self) -> String {
        let mut out = self.to_string();
        if let (Some(at), Some(line)) = (&self.location, &self.source_line) {
            let gutter = at.line.to_string().len();
            out.push_str(&format!(
                "\n{:gutter$} |\n{} | {line}\n{:gutter$} | {:>col$}",
                "",
                at.line,
                "",
                "^",
                col = at.column
            ));
        }
        out
    }
}

pub(super) fn locate(
    file: &str,
    source: &str,
    offset: usize,
    kind: ConfigErrorKind,
) -> ConfigError {
    let location = Location::from_offset(file, source, offset);
    let source_line = source.lines().nth(location.line - 1).map(str::to_owned);
    ConfigError {
        location: Some(location),
        kind: Box::new(kind),
        source_line,
    }
}
