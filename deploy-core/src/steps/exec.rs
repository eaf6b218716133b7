//! `exec`: run a command on the target (argv, or an explicit `shell` script).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;

use crate::command::{Command, quote};
use crate::step::{Applied, Description, Kind, Step, StepContext, StepError, Undo};
use crate::text::Text;

/// Runs a command on the target.
///
/// From `deploy.toml`:
/// `{ exec = { cmd = ["python", "manage.py", "migrate"], cwd = "app" } }` or
/// `{ exec = { shell = "ls -1t | tail -n +6" } }`.
///
/// # Examples
///
/// ```
/// use deploy_core::steps::Exec;
/// use deploy_core::Step;
///
/// let step = Exec::argv(["python", "manage.py", "migrate"])
///     .cwd("/srv/pixel")
///     .unless(["test", "-e", "/srv/pixel/.migrated"])
///     .undo(["python", "manage.py", "migrate", "app", "0041"]);
/// assert_eq!(step.describe().summary, "$ python manage.py migrate");
/// assert!(step.undoable().is_some());
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawExec")]
pub struct Exec {
    program: Program,
    cwd: Option<Text>,
    env: BTreeMap<String, Text>,
    sudo: bool,
    stdin: Option<Text>,
    unless: Option<Vec<Text>>,
    undo: Option<Vec<Text>>,
    show_output: bool,
}

#[derive(Clone, Debug)]
enum Program {
    Argv(Vec<Text>),
    Shell(Text),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExec {
    cmd: Option<Vec<Text>>,
    shell: Option<Text>,
    cwd: Option<Text>,
    #[serde(default)]
    env: BTreeMap<String, Text>,
    #[serde(default)]
    sudo: bool,
    stdin: Option<Text>,
    unless: Option<Vec<Text>>,
    undo: Option<Vec<Text>>,
    /// Showing the output is the point (`supervisorctl status`).
    #[serde(default)]
    output: bool,
}

impl TryFrom<RawExec> for Exec {
    type Error = String;

    fn try_from(raw: RawExec) -> Result<Self, String> {
        let program = match (raw.cmd, raw.shell) {
            (Some(argv), None) if !argv.is_empty() => Program::Argv(argv),
            (Some(_), None) => return Err("`cmd` is empty".into()),
            (None, Some(script)) => Program::Shell(script),
            (Some(_), Some(_)) => {
                return Err("give either `cmd` (argv) or `shell` (a script), not both".into());
            }
            (None, None) => return Err("missing `cmd` (argv) or `shell` (a script)".into()),
        };
        if raw.undo.as_ref().is_some_and(Vec::is_empty) {
            return Err("`undo` is empty".into());
        }
        Ok(Exec {
            program,
            cwd: raw.cwd,
            env: raw.env,
            sudo: raw.sudo,
            stdin: raw.stdin,
            unless: raw.unless.filter(|u| !u.is_empty()),
            undo: raw.undo,
            show_output: raw.output,
        })
    }
}

fn texts<I, S>(argv: I) -> Vec<Text>
where
    I: IntoIterator<Item = S>,
    S: Into<Text>,
{
    argv.into_iter().map(Into::into).collect()
}

fn render_argv(argv: &[Text]) -> String {
    argv.iter()
        .map(|t| quote(&t.to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Exec {
    /// Runs `argv` (no shell involved).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Exec};
    ///
    /// let step = Exec::argv(["grep", "-c", "two words", "/var/log/app.log"]);
    /// assert_eq!(step.describe().summary, "$ grep -c 'two words' /var/log/app.log");
    /// ```
    pub fn argv<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Text>,
    {
        Exec {
            program: Program::Argv(texts(argv)),
            cwd: None,
            env: BTreeMap::new(),
            sudo: false,
            stdin: None,
            unless: None,
            undo: None,
            show_output: false,
        }
    }

    /// Runs a script with `sh -c`, for pipes and redirections.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Exec};
    ///
    /// let step = Exec::shell("ls -1t releases | tail -n +6");
    /// assert_eq!(step.describe().summary, "$ sh -c 'ls -1t releases | tail -n +6'");
    /// let long = Exec::shell("set -e\nmake\nmake install\n").describe();
    /// assert_eq!(long.summary, "$ sh -c SCRIPT");
    /// assert_eq!(long.fields[0], ("script".to_string(), "set -e\nmake\nmake install".to_string()));
    /// ```
    pub fn shell(script: impl Into<Text>) -> Self {
        Exec {
            program: Program::Shell(script.into()),
            ..Exec::argv(Vec::<Text>::new())
        }
    }

    /// Sets the working directory.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Exec};
    ///
    /// let step = Exec::argv(["make"]).cwd("/srv/app/releases/${release}");
    /// assert_eq!(step.describe().fields, [("cwd".to_string(), "/srv/app/releases/{release}".to_string())]);
    /// ```
    pub fn cwd(mut self, dir: impl Into<Text>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Adds an environment variable.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Exec};
    ///
    /// let step = Exec::argv(["rake", "db:migrate"]).env("RAILS_ENV", "production").env("DB_PASSWORD", "${secret.db}");
    /// let env = step.describe().fields[0].clone();
    /// assert_eq!(env, ("env".to_string(), "DB_PASSWORD='[REDACTED]' RAILS_ENV=production".to_string()));
    /// ```
    pub fn env(mut self, key: impl Into<String>, value: impl Into<Text>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Its output is what it is for (`supervisorctl status`): a run prints
    /// its stdout without `-v`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Exec};
    ///
    /// assert!(Exec::argv(["supervisorctl", "status"]).show_output().describe().shows_output);
    /// ```
    pub fn show_output(mut self) -> Self {
        self.show_output = true;
        self
    }

    /// Runs through `sudo -n`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Exec};
    ///
    /// let step = Exec::argv(["systemctl", "restart", "nginx"]).sudo();
    /// assert_eq!(step.describe().fields, [("sudo".to_string(), "yes (sudo -n)".to_string())]);
    /// ```
    pub fn sudo(mut self) -> Self {
        self.sudo = true;
        self
    }

    /// Feeds this text to standard input.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Exec};
    ///
    /// let step = Exec::argv(["docker", "login", "--password-stdin"]).stdin("${secret.registry}");
    /// assert_eq!(step.describe().fields, [("stdin".to_string(), "[REDACTED]".to_string())]);
    /// ```
    pub fn stdin(mut self, input: impl Into<Text>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Skips the step when this command succeeds (the idempotency check).
    ///
    /// # Examples
    ///
    /// With `ctx` a [`StepContext`](crate::StepContext) on a fake host `web1`, where `test` succeeds:
    ///
    /// ```
    /// # use deploy_core::testing::{FakeTarget, TestContext};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let test = TestContext::new(FakeTarget::new("web1"));
    /// # let ctx = test.ctx();
    /// use deploy_core::{Step, steps::Exec};
    ///
    /// let seed = Exec::argv(["./seed-db"]).unless(["test", "-e", "/srv/app/.seeded"]);
    /// assert_eq!(seed.describe().fields[0].1, "$ test -e /srv/app/.seeded");
    /// assert!(seed.is_satisfied(&ctx).await.unwrap());
    /// # });
    /// ```
    pub fn unless<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Text>,
    {
        self.unless = Some(texts(argv));
        self
    }

    /// The command that undoes this one, for roll back.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Exec};
    ///
    /// let step = Exec::argv(["./manage.py", "migrate", "app", "0042"]);
    /// assert!(step.undoable().is_none());
    /// let step = step.undo(["./manage.py", "migrate", "app", "0041"]);
    /// assert_eq!(step.undoable().unwrap().summary(), "$ ./manage.py migrate app 0041");
    /// ```
    pub fn undo<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Text>,
    {
        self.undo = Some(texts(argv));
        self
    }

    fn command(&self, ctx: &StepContext<'_>, argv: &[Text]) -> Result<Command, StepError> {
        let argv = argv
            .iter()
            .map(|t| ctx.resolve(t))
            .collect::<Result<Vec<_>, _>>()?;
        self.dress(ctx, Command::new(argv))
    }

    fn dress(&self, ctx: &StepContext<'_>, mut cmd: Command) -> Result<Command, StepError> {
        if let Some(dir) = &self.cwd {
            cmd = cmd.cwd(ctx.resolve(dir)?);
        }
        for (key, value) in &self.env {
            cmd = cmd.env(key.clone(), ctx.resolve(value)?);
        }
        Ok(cmd.sudo(self.sudo))
    }
}

impl Kind for Exec {
    const KIND: &'static str = "exec";
}

#[async_trait]
impl Step for Exec {
    fn describe(&self) -> Description {
        let script = match &self.program {
            Program::Shell(script) => Some(script.to_string()),
            Program::Argv(_) => None,
        };
        let summary = match (&self.program, &script) {
            (Program::Argv(argv), _) => format!("$ {}", render_argv(argv)),
            (_, Some(script)) if !script.trim().contains('\n') => {
                format!("$ sh -c {}", quote(script.trim()))
            }
            _ => "$ sh -c SCRIPT".to_owned(),
        };
        let script = script.filter(|s| s.trim().contains('\n'));
        let env = (!self.env.is_empty()).then(|| {
            self.env
                .iter()
                .map(|(k, v)| format!("{k}={}", quote(&v.to_string())))
                .collect::<Vec<_>>()
                .join(" ")
        });
        let description = Description::new(summary)
            .field_opt("script", script.map(|s| s.trim().to_owned()))
            .field_opt("cwd", self.cwd.as_ref())
            .field_opt("env", env)
            .field_opt("sudo", self.sudo.then_some("yes (sudo -n)"))
            .field_opt("stdin", self.stdin.as_ref())
            .field_opt(
                "unless",
                self.unless
                    .as_ref()
                    .map(|u| format!("$ {}", render_argv(u))),
            );
        if self.show_output {
            description.shows_output()
        } else {
            description
        }
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let Some(unless) = &self.unless else {
            return Ok(false);
        };
        let cmd = self.command(ctx, unless)?;
        let probe = ctx.probe(&cmd).await?;
        Ok(probe.status.is_some_and(|s| s.success()))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let mut cmd = match &self.program {
            Program::Argv(argv) => self.command(ctx, argv)?,
            Program::Shell(script) => self.dress(ctx, Command::shell(ctx.resolve(script)?))?,
        };
        if let Some(stdin) = &self.stdin {
            cmd = cmd.stdin(ctx.resolve(stdin)?.into_bytes());
        }
        ctx.run(&cmd).await?;
        Ok(Applied::done())
    }

    fn undoable(&self) -> Option<&dyn Undo> {
        self.undo.is_some().then_some(self as &dyn Undo)
    }

    /// `cmd`, `unless` and `undo` are argv; a `shell` script is the argv of
    /// `sh -c` on the host, so a secret in it is as visible.
    fn secrets_in_argv(&self) -> Vec<&'static str> {
        let any = |argv: &Option<Vec<Text>>| argv.iter().flatten().any(Text::has_secret);
        let mut fields = Vec::new();
        match &self.program {
            Program::Argv(argv) if argv.iter().any(Text::has_secret) => fields.push("cmd"),
            Program::Shell(script) if script.has_secret() => fields.push("shell"),
            _ => {}
        }
        if any(&self.unless) {
            fields.push("unless");
        }
        if any(&self.undo) {
            fields.push("undo");
        }
        fields
    }
}

#[async_trait]
impl Undo for Exec {
    fn summary(&self) -> String {
        match &self.undo {
            Some(undo) => format!("$ {}", render_argv(undo)),
            None => String::new(),
        }
    }

    async fn revert(&self, ctx: &StepContext<'_>, _: &Applied) -> Result<(), StepError> {
        let Some(undo) = &self.undo else {
            return Err(StepError::NotUndoable);
        };
        let cmd = self.command(ctx, undo)?;
        ctx.run(&cmd).await?;
        Ok(())
    }
}
