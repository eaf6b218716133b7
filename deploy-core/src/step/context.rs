//! [`StepContext`]: what a step works with (its target, the run's values,
//! output, approver, masker), and its helpers for running commands.

use std::sync::Arc;

use super::{Approver, StepError};
use crate::command::{Command, quote_argv};
use crate::release::RunLog;
use crate::secret::Masker;
use crate::target::{ExitStatus, OutputSink, OutputStream, Target};
use crate::text::{RunValues, Text};

/// Everything a step may use while it applies itself.
///
/// The two targets are owned handles: a step may clone one into a spawned
/// task or hand it to something that outlives the call (an engine client
/// opening its own streams), as it would any `Arc`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use deploy_core::{LocalTarget, RunValues, StepContext, Target, Text};
/// use deploy_core::{secret::Masker, step::Unattended, target::DiscardOutput};
///
/// let host: Arc<dyn Target> = Arc::new(LocalTarget::new("web1"));
/// let values = RunValues::new("r7");
/// let ctx = StepContext {
///     target: host.clone(), local: host, values: &values, output: &DiscardOutput,
///     approver: &Unattended::default(), masker: &Masker::default(), log: &(),
/// };
/// assert_eq!(ctx.resolve(&Text::from("/srv/${host}/${release}")).unwrap(), "/srv/web1/r7");
/// ```
///
/// Tests build one with [`testing::TestContext`](crate::testing::TestContext).
pub struct StepContext<'a> {
    /// The host the step runs on.
    pub target: Arc<dyn Target>,
    /// The deploying machine (for work done from here, like an HTTP check).
    pub local: Arc<dyn Target>,
    /// Run-time values (release id, secrets).
    pub values: &'a RunValues,
    /// Where command output goes.
    pub output: &'a dyn OutputSink,
    /// Who approves gated steps.
    pub approver: &'a dyn Approver,
    /// Hides secret values in what the step reports.
    pub masker: &'a Masker,
    /// Where the step says what it left on the host for the release
    /// record: images started, links pointed, backups written.
    pub log: &'a dyn RunLog,
}

/// What a finished command printed.
///
/// # Examples
///
/// With `ctx` a [`StepContext`] on this machine:
///
/// ```
/// # use deploy_core::{Command, LocalTarget, testing::TestContext};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let test = TestContext::new(LocalTarget::new("web1")).release("r1");
/// # let ctx = test.ctx();
/// let out: deploy_core::step::CommandOutput = ctx.capture(&Command::new(["echo", "v1.4.2"])).await.unwrap();
/// assert_eq!(out.stdout, ["v1.4.2"]);
/// assert!(out.status.unwrap().success());
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct CommandOutput {
    /// Its standard output lines.
    pub stdout: Vec<String>,
    /// How it ended.
    pub status: Option<ExitStatus>,
}

/// How many of each stream's last lines a failed command's error shows.
const TAIL_LINES: usize = 5;

type Tail = std::sync::Mutex<std::collections::VecDeque<String>>;

struct Capture<'a> {
    inner: &'a dyn OutputSink,
    masker: &'a Masker,
    capture_stdout: bool,
    stdout: std::sync::Mutex<Vec<String>>,
    stdout_tail: Tail,
    stderr_tail: Tail,
}

impl OutputSink for Capture<'_> {
    fn line(&self, stream: OutputStream, line: &str) {
        let masked = self.masker.mask(line);
        if stream == OutputStream::Stdout
            && self.capture_stdout
            && let Ok(mut lines) = self.stdout.lock()
        {
            lines.push(line.to_owned());
        }
        let tail = match stream {
            OutputStream::Stderr => &self.stderr_tail,
            _ => &self.stdout_tail,
        };
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(masked.clone());
        }
        self.inner.line(stream, &masked);
    }
}

fn take(tail: Tail) -> Vec<String> {
    tail.into_inner().map(Vec::from).unwrap_or_default()
}

impl StepContext<'_> {
    /// Fills a [`Text`]'s placeholders for this host.
    ///
    /// # Examples
    ///
    /// With `ctx` a [`StepContext`] for host `web1` and release `r1`:
    ///
    /// ```
    /// # use deploy_core::{Command, LocalTarget, testing::TestContext};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let test = TestContext::new(LocalTarget::new("web1")).release("r1");
    /// # let ctx = test.ctx();
    /// use deploy_core::{StepError, Text};
    ///
    /// assert_eq!(ctx.resolve(&Text::from("releases/${release}")).unwrap(), "releases/r1");
    /// let missing = ctx.resolve(&Text::secret("db_password"));
    /// assert!(matches!(missing, Err(StepError::Text(_))));
    /// # });
    /// ```
    pub fn resolve(&self, text: &Text) -> Result<String, StepError> {
        Ok(text.resolve(self.values, self.target.name())?)
    }

    /// Runs a command on the target, streaming its output; a non-zero exit is
    /// a [`StepError::CommandFailed`] carrying the stderr tail.
    ///
    /// # Examples
    ///
    /// With `ctx` a [`StepContext`] on this machine:
    ///
    /// ```
    /// # use deploy_core::{Command, LocalTarget, testing::TestContext};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let test = TestContext::new(LocalTarget::new("web1")).release("r1");
    /// # let ctx = test.ctx();
    /// use deploy_core::StepError;
    ///
    /// assert!(ctx.run(&Command::new(["true"])).await.is_ok());
    /// match ctx.run(&Command::shell("echo 'disk full' >&2; exit 1")).await {
    ///     Err(StepError::CommandFailed { stderr_tail, .. }) => assert_eq!(stderr_tail, ["disk full"]),
    ///     other => panic!("unexpected: {other:?}"),
    /// }
    /// # });
    /// ```
    pub async fn run(&self, cmd: &Command) -> Result<CommandOutput, StepError> {
        self.run_on(cmd, false).await
    }

    /// Runs a command and also returns its stdout lines (for checks that read
    /// state, like `readlink`). Output still streams to the sink.
    ///
    /// # Examples
    ///
    /// With `ctx` a [`StepContext`] on this machine:
    ///
    /// ```
    /// # use deploy_core::{Command, LocalTarget, testing::TestContext};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let test = TestContext::new(LocalTarget::new("web1")).release("r1");
    /// # let ctx = test.ctx();
    /// let out = ctx.capture(&Command::shell("echo a; echo b")).await.unwrap();
    /// assert_eq!(out.stdout, ["a", "b"]);
    /// assert!(ctx.capture(&Command::new(["false"])).await.is_err());
    /// # });
    /// ```
    pub async fn capture(&self, cmd: &Command) -> Result<CommandOutput, StepError> {
        self.run_on(cmd, true).await
    }

    /// Runs a command and returns its output and status whatever the exit
    /// code (for checks where failure is an answer, like `test -e`).
    ///
    /// # Examples
    ///
    /// With `ctx` a [`StepContext`] on this machine:
    ///
    /// ```
    /// # use deploy_core::{Command, LocalTarget, testing::TestContext};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let test = TestContext::new(LocalTarget::new("web1")).release("r1");
    /// # let ctx = test.ctx();
    /// let out = ctx.probe(&Command::new(["test", "-e", "/no/such/file"])).await.unwrap();
    /// assert_eq!(out.status.map(|s| s.success()), Some(false));
    /// # });
    /// ```
    pub async fn probe(&self, cmd: &Command) -> Result<CommandOutput, StepError> {
        Ok(self.execute(cmd, true).await?.0)
    }

    /// A path on the step's host with a leading `~/` (or a lone `~`) made
    /// the host user's home directory (`$HOME` there), as a shell would; any
    /// other path is returned as it is. Paths in `deploy.toml` that name a
    /// file on the host (`upload`'s `to`, a compose file `{ host = … }`)
    /// go through this.
    ///
    /// # Examples
    ///
    /// ```
    /// # use deploy_core::{LocalTarget, testing::TestContext};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let test = TestContext::new(LocalTarget::new("web1"));
    /// # let ctx = test.ctx();
    /// let home = std::env::var("HOME").unwrap();
    /// assert_eq!(ctx.host_path("~/production/.env").await.unwrap(), format!("{home}/production/.env"));
    /// assert_eq!(ctx.host_path("/srv/app").await.unwrap(), "/srv/app");
    /// # });
    /// ```
    pub async fn host_path(&self, path: &str) -> Result<String, StepError> {
        let rest = match path.strip_prefix("~/") {
            Some(rest) => rest,
            None if path == "~" => "",
            None => return Ok(path.to_owned()),
        };
        let lines = Lines::default();
        let cmd = Command::shell("printf '%s\\n' \"$HOME\"");
        let status = self.target.run(&cmd, &lines).await?;
        let home = lines.0.into_inner().unwrap_or_default().concat();
        if !status.success() || !home.starts_with('/') {
            return Err(StepError::Failed(format!(
                "cannot expand `~` in {path}: $HOME on {} is {home:?}",
                self.target.name()
            )));
        }
        let home = home.trim_end_matches('/');
        Ok(if rest.is_empty() {
            home.to_owned()
        } else {
            format!("{home}/{rest}")
        })
    }

    async fn run_on(
        &self,
        cmd: &Command,
        capture_stdout: bool,
    ) -> Result<CommandOutput, StepError> {
        match self.execute(cmd, capture_stdout).await? {
            (output, None) => Ok(output),
            (_, Some(failed)) => Err(failed),
        }
    }

    /// Runs `cmd`: what it printed and how it ended, and, when it failed,
    /// the [`StepError::CommandFailed`] that says so.
    async fn execute(
        &self,
        cmd: &Command,
        capture_stdout: bool,
    ) -> Result<(CommandOutput, Option<StepError>), StepError> {
        let capture = Capture {
            inner: self.output,
            masker: self.masker,
            capture_stdout,
            stdout: Default::default(),
            stdout_tail: Default::default(),
            stderr_tail: Default::default(),
        };
        let status = self.target.run(cmd, &capture).await?;
        let output = CommandOutput {
            stdout: capture.stdout.into_inner().unwrap_or_default(),
            status: Some(status.clone()),
        };
        if status.success() {
            return Ok((output, None));
        }
        let mut shown = cmd.clone();
        shown.env = shown
            .env
            .into_iter()
            .map(|(k, v)| (k, self.masker.mask(&v)))
            .collect();
        let failed = StepError::CommandFailed {
            command: self.masker.mask(&render_command_line(&shown)),
            status,
            stdout_tail: take(capture.stdout_tail),
            stderr_tail: take(capture.stderr_tail),
        };
        Ok((output, Some(failed)))
    }
}

/// Stdout lines kept, stderr dropped (for a value read from the host).
#[derive(Default)]
struct Lines(std::sync::Mutex<Vec<String>>);

impl OutputSink for Lines {
    fn line(&self, stream: OutputStream, line: &str) {
        if stream == OutputStream::Stdout
            && let Ok(mut lines) = self.0.lock()
        {
            lines.push(line.to_owned());
        }
    }
}

fn render_command_line(cmd: &Command) -> String {
    if cmd.argv.len() == 3 && cmd.argv[0] == "sh" && cmd.argv[1] == "-c" {
        cmd.argv[2].clone()
    } else {
        quote_argv(&cmd.argv)
    }
}
