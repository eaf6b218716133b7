//! The [`Step`] trait: one typed unit of intent.
//!
//! A step knows what it will do before anything runs ([`Step::describe`]),
//! whether it is already done ([`Step::is_satisfied`]), how to do it through a
//! [`Target`] ([`Step::apply`]) and, where that makes sense, how to take it
//! back ([`Step::undoable`], [`Undo`]). Steps never do I/O except through the
//! [`StepContext`] they are handed.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::command::{Command, quote_argv};
use crate::secret::Masker;
use crate::target::{ExitStatus, OutputSink, OutputStream, Target, TargetError};
use crate::text::{RunValues, Text, TextError};

/// How a step describes itself in a rendered plan: a summary line and named
/// fields, in a fixed order. Same step, same bytes.
///
/// # Examples
///
/// ```
/// use deploy_core::Description;
///
/// let d = Description::new("set VERSION in .env").field("file", ".env");
/// assert_eq!(d.summary, "set VERSION in .env");
/// assert_eq!(d.fields, vec![("file".to_string(), ".env".to_string())]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Description {
    /// One line saying what the step does.
    pub summary: String,
    /// Named details, in the order the step gives them.
    pub fields: Vec<(String, String)>,
}

impl Description {
    /// A description with a summary and no fields.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Description;
    ///
    /// let d = Description::new("restart nginx");
    /// assert_eq!(d.summary, "restart nginx");
    /// assert!(d.fields.is_empty());
    /// ```
    pub fn new(summary: impl Into<String>) -> Self {
        Description {
            summary: summary.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a field.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Description;
    ///
    /// let d = Description::new("write /etc/motd").field("mode", "0644").field("size", 42);
    /// assert_eq!(d.fields[1], ("size".to_string(), "42".to_string()));
    /// ```
    pub fn field(mut self, name: impl Into<String>, value: impl fmt::Display) -> Self {
        self.fields.push((name.into(), value.to_string()));
        self
    }

    /// Adds a field when there is a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Description;
    ///
    /// let cwd: Option<&str> = Some("/srv/app");
    /// let d = Description::new("$ make").field_opt("cwd", cwd).field_opt("user", None::<&str>);
    /// assert_eq!(d.fields, [("cwd".to_string(), "/srv/app".to_string())]);
    /// ```
    pub fn field_opt<T: fmt::Display>(self, name: impl Into<String>, value: Option<T>) -> Self {
        match value {
            Some(value) => self.field(name, value),
            None => self,
        }
    }
}

/// What [`Step::apply`] leaves behind for [`Undo::revert`]: the step's own memo
/// of the state it replaced (the previous link target, the old file).
///
/// # Examples
///
/// ```
/// use deploy_core::Applied;
///
/// let applied = Applied::with_memo(String::from("releases/1"));
/// assert_eq!(applied.memo::<String>().map(String::as_str), Some("releases/1"));
/// assert!(Applied::done().memo::<String>().is_none());
/// ```
#[derive(Default)]
pub struct Applied {
    memo: Option<Box<dyn Any + Send + Sync>>,
}

impl Applied {
    /// Applied, nothing to remember.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Applied;
    ///
    /// assert!(Applied::done().memo::<()>().is_none());
    /// assert_eq!(format!("{:?}", Applied::done()), "Applied");
    /// ```
    pub fn done() -> Self {
        Applied::default()
    }

    /// Applied, remembering `memo` for undo.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Applied;
    ///
    /// let applied = Applied::with_memo(Some(b"old contents".to_vec()));
    /// assert!(applied.memo::<Option<Vec<u8>>>().is_some());
    /// assert_eq!(format!("{applied:?}"), "Applied(memo)");
    /// ```
    pub fn with_memo<T: Any + Send + Sync>(memo: T) -> Self {
        Applied {
            memo: Some(Box::new(memo)),
        }
    }

    /// The memo, if it is a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Applied;
    ///
    /// let applied = Applied::with_memo(7u32);
    /// assert_eq!(applied.memo::<u32>(), Some(&7));
    /// assert_eq!(applied.memo::<u64>(), None);
    /// ```
    pub fn memo<T: Any>(&self) -> Option<&T> {
        self.memo.as_ref().and_then(|m| m.downcast_ref::<T>())
    }
}

impl fmt::Debug for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.memo.is_some() {
            "Applied(memo)"
        } else {
            "Applied"
        })
    }
}

/// Why a step failed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use deploy_core::{StepError, target::ExitStatus};
///
/// let failed = StepError::CommandFailed {
///     command: "make".into(),
///     status: ExitStatus::code(2),
///     stderr_tail: vec!["make: *** No rule to make target".into()],
/// };
/// assert_eq!(failed.to_string(), "`make` failed with exit code 2: make: *** No rule to make target");
/// assert_eq!(StepError::TimedOut(Duration::from_secs(90)).to_string(), "timed out after 90s");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The target could not do what was asked.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A command ran and failed.
    #[error("`{command}` failed with {status}{}", stderr_suffix(.stderr_tail))]
    CommandFailed {
        /// The command as a shell line (secrets redacted).
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// The last lines it wrote to stderr.
        stderr_tail: Vec<String>,
    },
    /// A placeholder could not be filled.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The step ran out of time.
    #[error("timed out after {}", crate::duration::format(*.0))]
    TimedOut(Duration),
    /// An approval gate was refused.
    #[error("not approved: {0}")]
    NotApproved(String),
    /// The step cannot be undone.
    #[error("this step cannot be undone")]
    NotUndoable,
    /// Anything else the step found wrong.
    #[error("{0}")]
    Failed(String),
    /// An error from a crate the step uses (an engine client's, say), kept
    /// whole so its cause chain reaches the user.
    #[error(transparent)]
    Source(Box<dyn std::error::Error + Send + Sync + 'static>),
}

fn stderr_suffix(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {}", tail.join(" / "))
    }
}

impl StepError {
    /// The error and its causes, one per line ([`cause::chain`](crate::cause::chain)).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::StepError;
    ///
    /// let io = std::io::Error::other("connection refused");
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("cannot reach the engine")]
    /// struct Engine(#[source] std::io::Error);
    /// let e = StepError::Source(Box::new(Engine(io)));
    /// assert_eq!(e.chain(), "cannot reach the engine\ncaused by: connection refused");
    /// assert_eq!(StepError::Failed("bad".into()).chain(), "bad");
    /// ```
    pub fn chain(&self) -> String {
        crate::cause::chain(self)
    }

    /// True when retrying cannot repeat work already done.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{StepError, target::TargetError};
    ///
    /// let lost = TargetError::ConnectionLost { host: "web1".into(), started: false, source: "refused".into() };
    /// assert!(StepError::from(lost).is_safe_to_retry());
    /// assert!(!StepError::Failed("bad config".into()).is_safe_to_retry());
    /// ```
    pub fn is_safe_to_retry(&self) -> bool {
        matches!(self, StepError::Target(e) if e.is_safe_to_retry())
    }
}

/// Asks a person whether a gated step may go ahead.
///
/// # Examples
///
/// ```
/// use async_trait::async_trait;
/// use deploy_core::step::Approver;
///
/// struct OnlyStaging;
///
/// #[async_trait]
/// impl Approver for OnlyStaging {
///     async fn approve(&self, prompt: &str) -> Result<(), String> {
///         if prompt.contains("staging") { Ok(()) } else { Err("staging only".into()) }
///     }
/// }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// assert!(OnlyStaging.approve("Run task `deploy` on staging?").await.is_ok());
/// assert!(OnlyStaging.approve("Run task `deploy` on production?").await.is_err());
/// # });
/// ```
#[async_trait]
pub trait Approver: Send + Sync {
    /// Returns `Ok(())` to go ahead, or the reason it may not.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::step::{Approver, Unattended};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let refusal = Unattended::default().approve("Ship 1.4.2?").await.unwrap_err();
    /// assert!(refusal.starts_with("Ship 1.4.2? needs approval and this run is unattended"));
    /// # });
    /// ```
    async fn approve(&self, prompt: &str) -> Result<(), String>;
}

/// An [`Approver`] for unattended runs: refuses, unless the run was approved
/// in advance (`deploy run --yes`).
///
/// # Examples
///
/// ```
/// use deploy_core::step::{Approver, Unattended};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// assert!(Unattended { pre_approved: true }.approve("ship?").await.is_ok());
/// assert!(Unattended { pre_approved: false }.approve("ship?").await.is_err());
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Unattended {
    /// Approved in advance.
    pub pre_approved: bool,
}

#[async_trait]
impl Approver for Unattended {
    async fn approve(&self, prompt: &str) -> Result<(), String> {
        if self.pre_approved {
            Ok(())
        } else {
            Err(format!(
                "{prompt} needs approval and this run is unattended (pass --yes to approve in advance)"
            ))
        }
    }
}

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
///     approver: &Unattended::default(), masker: &Masker::default(),
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

const STDERR_TAIL_LINES: usize = 5;

struct Capture<'a> {
    inner: &'a dyn OutputSink,
    masker: &'a Masker,
    capture_stdout: bool,
    stdout: std::sync::Mutex<Vec<String>>,
    stderr_tail: std::sync::Mutex<std::collections::VecDeque<String>>,
}

impl OutputSink for Capture<'_> {
    fn line(&self, stream: OutputStream, line: &str) {
        let masked = self.masker.mask(line);
        match stream {
            OutputStream::Stdout if self.capture_stdout => {
                if let Ok(mut lines) = self.stdout.lock() {
                    lines.push(line.to_owned());
                }
            }
            OutputStream::Stderr => {
                if let Ok(mut tail) = self.stderr_tail.lock() {
                    if tail.len() == STDERR_TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(masked.clone());
                }
            }
            OutputStream::Stdout => {}
        }
        self.inner.line(stream, &masked);
    }
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
        match self.run_on(cmd, true).await {
            Err(StepError::CommandFailed { status, .. }) => Ok(CommandOutput {
                stdout: Vec::new(),
                status: Some(status),
            }),
            other => other,
        }
    }

    async fn run_on(
        &self,
        cmd: &Command,
        capture_stdout: bool,
    ) -> Result<CommandOutput, StepError> {
        let capture = Capture {
            inner: self.output,
            masker: self.masker,
            capture_stdout,
            stdout: Default::default(),
            stderr_tail: Default::default(),
        };
        let status = self.target.run(cmd, &capture).await?;
        let stdout = capture.stdout.into_inner().unwrap_or_default();
        if status.success() {
            return Ok(CommandOutput {
                stdout,
                status: Some(status),
            });
        }
        let mut shown = cmd.clone();
        shown.env = shown
            .env
            .into_iter()
            .map(|(k, v)| (k, self.masker.mask(&v)))
            .collect();
        Err(StepError::CommandFailed {
            command: self.masker.mask(&render_command_line(&shown)),
            status,
            stderr_tail: capture
                .stderr_tail
                .into_inner()
                .map(Vec::from)
                .unwrap_or_default(),
        })
    }
}

fn render_command_line(cmd: &Command) -> String {
    if cmd.argv.len() == 3 && cmd.argv[0] == "sh" && cmd.argv[1] == "-c" {
        cmd.argv[2].clone()
    } else {
        quote_argv(&cmd.argv)
    }
}

/// The name a step kind is registered and reported under (`exec`,
/// `set-env`, `docker.pull`): written once, on the type.
/// [`StepRegistry::register_serde`](crate::StepRegistry::register_serde)
/// registers the type under it and [`Step::kind`] reports it, so the two
/// cannot disagree.
///
/// # Examples
///
/// ```
/// use deploy_core::step::Kind;
/// use deploy_core::steps::{Exec, SetEnvVar};
///
/// assert_eq!(Exec::KIND, "exec");
/// assert_eq!(SetEnvVar::KIND, "set-env");
/// ```
pub trait Kind {
    /// The kind's name.
    const KIND: &'static str;
}

/// [`Kind::KIND`] for a step behind `dyn Step`; implemented for every
/// [`Kind`], never by hand.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use deploy_core::{Step, steps::Symlink};
///
/// let step: Arc<dyn Step> = Arc::new(Symlink::new("current", "releases/2"));
/// assert_eq!(step.kind(), "symlink");
/// ```
pub trait KindName {
    /// The kind's name.
    fn kind(&self) -> &'static str;
}

impl<T: Kind> KindName for T {
    fn kind(&self) -> &'static str {
        T::KIND
    }
}

/// One typed unit of intent. Its name comes from its [`Kind`].
///
/// # Examples
///
/// A step that appends a line to a log file on the target:
///
/// ```
/// use async_trait::async_trait;
/// use deploy_core::{Applied, Description, Step, StepContext, StepError, Text, step::Kind};
///
/// #[derive(Debug)]
/// struct Note { file: Text, line: Text }
///
/// impl Kind for Note { const KIND: &'static str = "note"; }
///
/// #[async_trait]
/// impl Step for Note {
///     fn describe(&self) -> Description {
///         Description::new(format!("append a line to {}", self.file)).field("line", &self.line)
///     }
///     async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
///         let file = ctx.resolve(&self.file)?;
///         let mut text = ctx.target.read_file(&file).await?.unwrap_or_default();
///         text.extend_from_slice(ctx.resolve(&self.line)?.as_bytes());
///         text.push(b'\n');
///         ctx.target.write_file(&file, &text, None).await?;
///         Ok(Applied::done())
///     }
/// }
/// ```
#[async_trait]
pub trait Step: KindName + Send + Sync + fmt::Debug {
    /// What the step will do, deterministically, without I/O. Run-time values
    /// appear as `{name}` placeholders and secrets as `[REDACTED]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::WriteFile};
    ///
    /// let step = WriteFile::new("/srv/app/db.ini", "password = ${secret.db}");
    /// let d = step.describe();
    /// assert_eq!(d.summary, "write /srv/app/db.ini");
    /// assert_eq!(d.fields, [("content".to_string(), "password = [REDACTED]".to_string())]);
    /// ```
    fn describe(&self) -> Description;

    /// Whether the target is already in the state this step would produce;
    /// the executor then skips it. The default: never.
    ///
    /// # Examples
    ///
    /// With `ctx` a [`StepContext`] on a fake host `web1`:
    ///
    /// ```
    /// # use deploy_core::testing::{FakeTarget, TestContext};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let test = TestContext::new(FakeTarget::new("web1"));
    /// # let (ctx, web1) = (test.ctx(), test.target());
    /// use deploy_core::{Step, steps::SetEnvVar};
    ///
    /// let step = SetEnvVar::new("/srv/app/.env", "VERSION", "1.4.2");
    /// assert!(!step.is_satisfied(&ctx).await.unwrap());
    /// web1.put_file("/srv/app/.env", "VERSION=1.4.2\n");
    /// assert!(step.is_satisfied(&ctx).await.unwrap());
    /// # });
    /// ```
    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let _ = ctx;
        Ok(false)
    }

    /// Does the work.
    ///
    /// # Examples
    ///
    /// With `ctx` a [`StepContext`] on a fake host `web1`:
    ///
    /// ```
    /// # use deploy_core::testing::{FakeTarget, TestContext};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let test = TestContext::new(FakeTarget::new("web1"));
    /// # let (ctx, web1) = (test.ctx(), test.target());
    /// use deploy_core::{Step, steps::SetEnvVar};
    ///
    /// web1.put_file("/srv/app/.env", "DEBUG=0\nVERSION=1.4.1\n");
    /// SetEnvVar::new("/srv/app/.env", "VERSION", "1.4.2").apply(&ctx).await.unwrap();
    /// assert_eq!(web1.file("/srv/app/.env").unwrap(), b"DEBUG=0\nVERSION=1.4.2\n");
    /// # });
    /// ```
    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError>;

    /// How this step is taken back, or `None` when it cannot be: the one
    /// answer both the rendered plan and the executor's rollback read.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::{Exec, Symlink}};
    ///
    /// let link = Symlink::new("/srv/app/current", "/srv/app/releases/2");
    /// assert_eq!(link.undoable().unwrap().summary(), "point /srv/app/current back where it pointed before");
    /// assert!(Exec::argv(["./notify-slack"]).undoable().is_none());
    /// ```
    fn undoable(&self) -> Option<&dyn Undo> {
        None
    }
}

/// How a step is taken back: what the plan shows, and the work. A step that
/// can be undone implements this and returns itself from [`Step::undoable`];
/// having both methods in one trait means neither half can be left out.
///
/// # Examples
///
/// With `ctx` a [`StepContext`] on a fake host `web1`:
///
/// ```
/// # use deploy_core::testing::{FakeTarget, TestContext};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let test = TestContext::new(FakeTarget::new("web1"));
/// # let (ctx, web1) = (test.ctx(), test.target());
/// use deploy_core::{Step, steps::SetEnvVar};
///
/// web1.put_file("/srv/app/.env", "VERSION=1.4.1\n");
/// let step = SetEnvVar::new("/srv/app/.env", "VERSION", "1.4.2");
/// let applied = step.apply(&ctx).await.unwrap();
/// let undo = step.undoable().unwrap();
/// assert_eq!(undo.summary(), "restore the previous /srv/app/.env");
/// undo.revert(&ctx, &applied).await.unwrap();
/// assert_eq!(web1.file("/srv/app/.env").unwrap(), b"VERSION=1.4.1\n");
/// # });
/// ```
#[async_trait]
pub trait Undo: Send + Sync {
    /// How the undo reads in the rendered plan.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Symlink};
    ///
    /// let link = Symlink::new("current", "releases/2");
    /// assert_eq!(link.undoable().unwrap().summary(), "point current back where it pointed before");
    /// ```
    fn summary(&self) -> String;

    /// Takes back what [`Step::apply`] did, given what it returned.
    /// [`StepError::NotUndoable`] when this run left nothing to take back.
    ///
    /// # Examples
    ///
    /// With `ctx` a [`StepContext`] on a fake host `web1`:
    ///
    /// ```
    /// # use deploy_core::testing::{FakeTarget, TestContext};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let test = TestContext::new(FakeTarget::new("web1"));
    /// # let (ctx, web1) = (test.ctx(), test.target());
    /// use deploy_core::{Step, steps::WriteFile};
    ///
    /// web1.put_file("/etc/motd", "welcome");
    /// let step = WriteFile::new("/etc/motd", "hello");
    /// let applied = step.apply(&ctx).await.unwrap();
    /// step.undoable().unwrap().revert(&ctx, &applied).await.unwrap();
    /// assert_eq!(web1.file("/etc/motd").unwrap(), b"welcome");
    /// # });
    /// ```
    async fn revert(&self, ctx: &StepContext<'_>, applied: &Applied) -> Result<(), StepError>;
}
