//! Secrets when a run starts: read from where `[secrets]` says, only those
//! the selected task (and the tasks it runs) use.

use std::collections::{BTreeMap, BTreeSet};

use std::process::Stdio;

use super::Config;
use super::entry::included_task;
use super::error::{ConfigError, ConfigErrorKind};
use super::interpolate::Variables;
use super::raw::RawSecret;
use super::{check, interpolate};
use crate::command::quote_argv;
use crate::plan::Plan;
use crate::secret::{Masker, Secret};

/// Where one secret's value comes from.
pub(super) enum SecretSource<'a> {
    Env(&'a str),
    File(&'a str),
    Dotenv { file: &'a str, key: &'a str },
    Command(&'a [String]),
}

/// The one source of a `[secrets.NAME]` entry, or the names of those it
/// gives when that is not exactly one (empty for none).
pub(super) fn secret_source(raw: &RawSecret) -> Result<SecretSource<'_>, Vec<String>> {
    let mut sources = Vec::new();
    if let Some(var) = &raw.env {
        sources.push(("env", SecretSource::Env(var)));
    }
    if let Some(path) = &raw.file {
        sources.push(("file", SecretSource::File(path)));
    }
    if let Some(dotenv) = &raw.dotenv {
        let source = SecretSource::Dotenv {
            file: &dotenv.file,
            key: &dotenv.key,
        };
        sources.push(("dotenv", source));
    }
    if let Some(argv) = &raw.command {
        sources.push(("command", SecretSource::Command(argv)));
    }
    if sources.len() == 1
        && let Some((_, source)) = sources.pop()
    {
        return Ok(source);
    }
    Err(sources.iter().map(|(n, _)| format!("`{n}`")).collect())
}

#[cfg(unix)]
fn exit_signal(status: &std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(status)
}

#[cfg(not(unix))]
fn exit_signal(_: &std::process::ExitStatus) -> Option<i32> {
    None
}

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
            let masker = Masker::new(secrets.values().cloned());
            let value = self
                .read_secret(name, source.get_ref(), &masker)
                .map_err(|kind| self.error_at(source.span().start, kind))?;
            secrets.insert(name.clone(), value);
        }
        Ok(secrets)
    }

    /// One secret's value, from its one source (the check at load made sure
    /// there is exactly one). Errors name the secret and the source, never
    /// the value; `masker` hides the secrets read before it in a failing
    /// command's stderr.
    fn read_secret(
        &self,
        name: &str,
        raw: &RawSecret,
        masker: &Masker,
    ) -> Result<Secret, ConfigErrorKind> {
        let unavailable = |problem: String| ConfigErrorKind::SecretUnavailable {
            name: name.to_owned(),
            problem,
        };
        match secret_source(raw) {
            Ok(SecretSource::Env(var)) => {
                std::env::var(var)
                    .map(Secret::new)
                    .map_err(|_| ConfigErrorKind::MissingSecret {
                        name: name.to_owned(),
                        env: var.to_owned(),
                    })
            }
            Ok(SecretSource::File(path)) => {
                let path = self.dir.join(path);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| unavailable(format!("cannot read {}: {e}", path.display())))?;
                Ok(Secret::new(text.trim()))
            }
            Ok(SecretSource::Dotenv { file, key }) => {
                let path = self.dir.join(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| unavailable(format!("cannot read {}: {e}", path.display())))?;
                // The last assignment wins, as a shell sourcing the file sees it.
                match crate::dotenv::get(&text, key).pop() {
                    Some(value) => Ok(Secret::new(value.trim())),
                    None => Err(unavailable(format!("{} has no key {key}", path.display()))),
                }
            }
            Ok(SecretSource::Command(argv)) => self.run_secret_command(name, argv, masker),
            Err(found) => Err(ConfigErrorKind::SecretSources {
                name: name.to_owned(),
                found,
            }),
        }
    }

    /// Runs a secret's `command` on this machine (no shell, in the config's
    /// directory, empty stdin) and takes its stdout, trimmed.
    fn run_secret_command(
        &self,
        name: &str,
        argv: &[String],
        masker: &Masker,
    ) -> Result<Secret, ConfigErrorKind> {
        let command = quote_argv(argv);
        let Some((program, args)) = argv.split_first() else {
            return Err(ConfigErrorKind::SecretUnavailable {
                name: name.to_owned(),
                problem: "`command` names no program".to_owned(),
            });
        };
        let output = std::process::Command::new(program)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| ConfigErrorKind::SecretCommandStart {
                name: name.to_owned(),
                command: command.clone(),
                reason: e.to_string(),
            })?;
        if !output.status.success() {
            let status = match (output.status.code(), exit_signal(&output.status)) {
                (Some(code), _) => format!("exit status {code}"),
                (None, Some(signal)) => format!("killed by signal {signal}"),
                (None, None) => output.status.to_string(),
            };
            return Err(ConfigErrorKind::SecretCommandFailed {
                name: name.to_owned(),
                command,
                status,
                stderr: masker.mask(String::from_utf8_lossy(&output.stderr).trim()),
            });
        }
        match String::from_utf8(output.stdout) {
            Ok(value) => Ok(Secret::new(value.trim())),
            Err(_) => Err(ConfigErrorKind::SecretUnavailable {
                name: name.to_owned(),
                problem: format!("`{command}` printed something that is not UTF-8 text"),
            }),
        }
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
    /// upload_key = "${secret.aws_key}"
    /// [environments.ci]
    /// hosts = ["runner"]
    /// [tasks.build]
    /// steps = [{ exec = { cmd = ["make"], env = { PATH = "${secret.search_path}" } } }]
    /// [tasks.deploy]
    /// steps = [
    ///   { task = "build" },
    ///   { exec = { cmd = ["aws", "s3", "cp", "dist", "s3://bucket/"], env = { AWS_SECRET_ACCESS_KEY = "${upload_key}" } } },
    /// ]
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
        if !self.raw.tasks.contains_key(task_name)
            && [super::BACKUP_TASK, super::RESTORE_TASK].contains(&task_name)
        {
            // `deploy backup` and `deploy restore`: the environment's
            // `backup` setting's.
            return Ok(self.backup(Some(env_name))?.secrets.into_iter().collect());
        }
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
        let git = self.git();
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Config;

    fn config(dir: &Path, secrets: &str) -> Config {
        Config::parse("deploy.toml", dir, secrets).expect("parses")
    }

    fn value(dir: &Path, secrets: &str) -> String {
        let secrets = config(dir, secrets).load_secrets().expect("loads");
        secrets["db"].expose().to_owned()
    }

    fn error(dir: &Path, secrets: &str) -> String {
        config(dir, secrets)
            .load_secrets()
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn a_file_gives_its_content_trimmed_relative_to_the_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("keys")).expect("mkdir");
        std::fs::write(dir.path().join("keys/db"), "  s3cret\n\n").expect("write");
        assert_eq!(
            value(dir.path(), "[secrets.db]\nfile = \"keys/db\"\n"),
            "s3cret"
        );
        let absolute = dir.path().join("keys/db");
        let toml = format!("[secrets]\ndb = {{ file = {:?} }}\n", absolute.display());
        assert_eq!(value(Path::new("/nonexistent"), &toml), "s3cret");

        let missing = error(dir.path(), "[secrets.db]\nfile = \"keys/gone\"\n");
        assert!(
            missing.starts_with("deploy.toml:1:1: secret `db`: cannot read ")
                && missing.contains("keys/gone"),
            "{missing}"
        );
    }

    #[test]
    fn a_dotenv_file_gives_the_value_of_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = "# app\nexport DB_PASSWORD=\"s3cret\" # rotated\nDEBUG=0\n";
        std::fs::write(dir.path().join(".env"), env).expect("write");
        let toml = "[secrets]\ndb = { dotenv = { file = \".env\", key = \"DB_PASSWORD\" } }\n";
        assert_eq!(value(dir.path(), toml), "s3cret");

        let no_key = error(dir.path(), &toml.replace("DB_PASSWORD", "DB_PASS"));
        assert!(
            no_key.starts_with("deploy.toml:2:6: secret `db`: ")
                && no_key.ends_with(".env has no key DB_PASS"),
            "{no_key}"
        );
        assert!(!no_key.contains("s3cret"));
        let no_file = error(dir.path(), &toml.replace(".env", "prod.env"));
        assert!(no_file.contains("cannot read ") && no_file.contains("prod.env"));
    }

    #[test]
    fn a_command_gives_its_stdout_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let toml = "[secrets.db]\ncommand = [\"sh\", \"-c\", \"echo s3cret; echo noise >&2\"]\n";
        assert_eq!(value(dir.path(), toml), "s3cret");
        // It runs in the config's directory.
        std::fs::write(dir.path().join("pw"), "from-dir\n").expect("write");
        let cat = "[secrets.db]\ncommand = [\"cat\", \"pw\"]\n";
        assert_eq!(value(dir.path(), cat), "from-dir");
    }

    #[test]
    fn a_failing_command_names_the_secret_the_command_and_its_stderr_not_the_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pw"), "s3cret\n").expect("write");
        let toml = "[secrets.db]\ncommand = [\"sh\", \"-c\", \"cat pw; echo 'pixel/db is not in the password store' >&2; exit 3\"]\n";
        let err = error(dir.path(), toml);
        assert_eq!(
            err,
            "deploy.toml:1:1: secret `db`: `sh -c \"cat pw; echo 'pixel/db is not in the password store' >&2; exit 3\"` failed (exit status 3): pixel/db is not in the password store"
        );
        assert!(!err.contains("s3cret"));
        let killed = "[secrets.db]\ncommand = [\"sh\", \"-c\", \"kill -9 $$\"]\n";
        assert!(error(dir.path(), killed).ends_with("failed (killed by signal 9)"));
    }

    #[test]
    fn a_command_that_cannot_start_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let toml = "[secrets.db]\ncommand = [\"deploy-test-no-such-program\", \"show\"]\n";
        let err = error(dir.path(), toml);
        assert!(
            err.starts_with(
                "deploy.toml:1:1: secret `db`: cannot start `deploy-test-no-such-program show`: "
            ),
            "{err}"
        );
    }

    #[test]
    fn a_command_stderr_hides_secrets_read_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a"), "first-s3cret").expect("write");
        let toml = "[secrets]\na = { file = \"a\" }\nb = { command = [\"sh\", \"-c\", \"echo first-s3cret >&2; exit 1\"] }\n";
        let err = config(dir.path(), toml)
            .load_secrets()
            .expect_err("refused")
            .to_string();
        assert!(err.ends_with("failed (exit status 1): [REDACTED]"), "{err}");
    }

    #[test]
    fn exactly_one_source_is_checked_when_the_file_loads() {
        let two = "[vars]\nx = 1\n\n[secrets.db]\nenv = \"DB\"\nfile = \"db.txt\"\n";
        let err = Config::parse("deploy.toml", ".", two).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "deploy.toml:4:1: secret `db` has 2 sources (`env`, `file`): give exactly one of `env = \"VARIABLE\"`, `file = \"path\"`, `dotenv = { file = \"path\", key = \"KEY\" }`, `command = [\"program\", \"arg\"]`"
        );
        let none = "[secrets]\ndb = {}\n";
        let err = Config::parse("deploy.toml", ".", none).expect_err("refused");
        assert!(
            err.to_string()
                .starts_with("deploy.toml:2:6: secret `db` has no source: give exactly one of"),
            "{err}"
        );
        let empty = "[secrets]\ndb = { command = [] }\n";
        let err = Config::parse("deploy.toml", ".", empty).expect_err("refused");
        assert!(
            err.to_string()
                .starts_with("deploy.toml:2:6: secret `db`: `command` names no program"),
            "{err}"
        );
        let unknown = "[secrets]\ndb = { vault = \"x\" }\n";
        let err = Config::parse("deploy.toml", ".", unknown).expect_err("refused");
        assert!(err.to_string().contains("unknown field `vault`"), "{err}");
    }
}
