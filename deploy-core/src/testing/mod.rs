//! A scriptable, recording [`Target`] for tests (feature `testing`).
//!
//! It keeps files in memory, records every call in a [`Journal`] that several
//! fakes can share (so a test can see that two hosts' steps overlapped, by
//! order of events rather than by timing), and answers commands from rules:
//! exit codes, output, delays, and injected failures. Beside it, the other
//! test doubles every crate's tests share: [`RecordingOutput`] (an output
//! sink that keeps the lines), [`TestContext`] (a [`StepContext`] with
//! everything it borrows owned) and [`free_port`].
//!
//! The real servers tests start on this machine are in [`server`], which
//! stops them so that nothing of them is left.

mod context;
pub mod postgres;
pub mod server;
pub mod supervisor;

pub use context::{RecordingOutput, TestContext, free_port};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::command::Command;
use crate::target::{
    BoxedStream, Endpoint, ExitStatus, OutputSink, OutputStream, SyncOptions, SyncReport, Target,
    TargetError,
};

/// One thing a fake target was asked to do.
///
/// # Examples
///
/// ```
/// use deploy_core::{Command, Target, target::DiscardOutput};
/// use deploy_core::testing::{Call, FakeTarget};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let web1 = FakeTarget::new("web1");
/// web1.read_file("/srv/app/.env").await.unwrap();
/// web1.run(&Command::new(["uptime"]), &DiscardOutput).await.unwrap();
/// assert_eq!(web1.journal().entries(), [
///     ("web1".to_string(), Call::Read("/srv/app/.env".into())),
///     ("web1".to_string(), Call::RunStarted(vec!["uptime".into()])),
///     ("web1".to_string(), Call::RunEnded(vec!["uptime".into()])),
/// ]);
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// A command began (its argv, unwrapped).
    RunStarted(Vec<String>),
    /// A command ended.
    RunEnded(Vec<String>),
    /// A running command was dropped (a timeout or interrupt stopped it).
    RunKilled(Vec<String>),
    /// A file was read.
    Read(String),
    /// A file was written.
    Write(String),
    /// A tree was synced to this path.
    Sync(String),
    /// A stream was opened.
    Connect(String),
}

/// Calls from one or more fakes, in the order they happened.
///
/// # Examples
///
/// Two hosts recording into one journal, so a test sees their order:
///
/// ```
/// use deploy_core::{Command, Target, target::DiscardOutput};
/// use deploy_core::testing::{FakeTarget, Journal};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let journal = Journal::shared();
/// let web1 = FakeTarget::new("web1").with_journal(journal.clone());
/// let web2 = FakeTarget::new("web2").with_journal(journal.clone());
/// web2.run(&Command::new(["uptime"]), &DiscardOutput).await.unwrap();
/// web1.run(&Command::new(["uptime"]), &DiscardOutput).await.unwrap();
/// assert_eq!(journal.commands(), ["web2: uptime", "web1: uptime"]);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct Journal {
    entries: Mutex<Vec<(String, Call)>>,
}

impl Journal {
    /// A shared, empty journal.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::testing::{FakeTarget, Journal};
    ///
    /// let journal = Journal::shared();
    /// assert!(journal.entries().is_empty());
    /// let web1 = FakeTarget::new("web1").with_journal(journal.clone());
    /// assert!(std::sync::Arc::ptr_eq(web1.journal(), &journal));
    /// ```
    pub fn shared() -> Arc<Journal> {
        Arc::new(Journal::default())
    }

    fn push(&self, host: &str, call: Call) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.push((host.to_owned(), call));
        }
    }

    /// Every `(host, call)`, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Target;
    /// use deploy_core::testing::{Call, FakeTarget};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// web1.write_file("/etc/motd", b"hello\n", None).await.unwrap();
    /// assert_eq!(web1.journal().entries(), [("web1".to_string(), Call::Write("/etc/motd".into()))]);
    /// # });
    /// ```
    pub fn entries(&self) -> Vec<(String, Call)> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The commands that ran, as `host: argv…` lines, in start order.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Command, Target, target::DiscardOutput};
    /// use deploy_core::testing::FakeTarget;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// web1.run(&Command::new(["git", "pull"]), &DiscardOutput).await.unwrap();
    /// web1.read_file("/srv/app/.env").await.unwrap();
    /// assert_eq!(web1.journal().commands(), ["web1: git pull"]);
    /// # });
    /// ```
    pub fn commands(&self) -> Vec<String> {
        self.entries()
            .into_iter()
            .filter_map(|(host, call)| match call {
                Call::RunStarted(argv) => Some(format!("{host}: {}", argv.join(" "))),
                _ => None,
            })
            .collect()
    }
}

/// A failure a rule injects instead of running the command.
///
/// # Examples
///
/// ```
/// use deploy_core::{Command, Target, target::DiscardOutput};
/// use deploy_core::testing::{Failure, FakeTarget, Rule};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let web1 = FakeTarget::new("web1");
/// web1.rule(Rule::new(["migrate"]).fail(Failure::ConnectionLost { started: true }));
/// let err = web1.run(&Command::new(["migrate"]), &DiscardOutput).await.unwrap_err();
/// assert!(!err.is_safe_to_retry());
/// assert_eq!(err.to_string(), "connection to web1 lost while a command ran: injected while the command ran");
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The connection drops; `started` says whether the command had begun.
    ConnectionLost {
        /// Whether the command had begun.
        started: bool,
    },
    /// Any other target error.
    Other(String),
}

/// How a fake answers commands whose argv starts with `prefix`.
///
/// # Examples
///
/// A rule matches argv by prefix (and `sh -c` scripts by their start):
///
/// ```
/// use deploy_core::{Command, Target, target::DiscardOutput};
/// use deploy_core::testing::{FakeTarget, Rule};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let web1 = FakeTarget::new("web1");
/// web1.rule(Rule::new(["git", "pull"]).exit(128));
/// for (cmd, code) in [
///     (Command::new(["git", "pull", "--ff-only"]), 128),
///     (Command::shell("git pull && make"), 128),
///     (Command::new(["git", "fetch"]), 0),
/// ] {
///     assert_eq!(web1.run(&cmd, &DiscardOutput).await.unwrap().code, Some(code));
/// }
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct Rule {
    prefix: Vec<String>,
    exit: i32,
    stdout: Vec<String>,
    stderr: Vec<String>,
    delay: Duration,
    failure: Option<Failure>,
    times: Option<usize>,
}

impl Rule {
    /// A rule for commands starting with `prefix` (exit 0, no output).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Command, Target, target::DiscardOutput};
    /// use deploy_core::testing::{FakeTarget, Rule};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// web1.rule(Rule::new(["test", "-e"]));
    /// let status = web1.run(&Command::new(["test", "-e", "/srv/app"]), &DiscardOutput).await.unwrap();
    /// assert!(status.success());
    /// # });
    /// ```
    pub fn new<I, S>(prefix: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Rule {
            prefix: prefix.into_iter().map(Into::into).collect(),
            ..Rule::default()
        }
    }

    /// Exits with this code.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Command, Target, target::DiscardOutput};
    /// use deploy_core::testing::{FakeTarget, Rule};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// web1.rule(Rule::new(["readlink"]).exit(1));
    /// let status = web1.run(&Command::new(["readlink", "--", "/srv/app/current"]), &DiscardOutput).await;
    /// assert_eq!(status.unwrap().code, Some(1));
    /// # });
    /// ```
    pub fn exit(mut self, code: i32) -> Self {
        self.exit = code;
        self
    }

    /// Prints this line to stdout.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Command, Target};
    /// use deploy_core::testing::{FakeTarget, Rule};
    /// # use std::sync::Mutex;
    /// # use deploy_core::target::{OutputSink, OutputStream};
    /// # #[derive(Default)]
    /// # struct Lines(Mutex<Vec<String>>);
    /// # impl OutputSink for Lines {
    /// #     fn line(&self, _: OutputStream, line: &str) { self.0.lock().unwrap().push(line.into()) }
    /// # }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// web1.rule(Rule::new(["ls"]).stdout("20261120T100000.000Z").stdout("20261121T100000.000Z"));
    /// let lines = Lines::default();
    /// web1.run(&Command::new(["ls", "-1", "releases"]), &lines).await.unwrap();
    /// assert_eq!(*lines.0.lock().unwrap(), ["20261120T100000.000Z", "20261121T100000.000Z"]);
    /// # });
    /// ```
    pub fn stdout(mut self, line: impl Into<String>) -> Self {
        self.stdout.push(line.into());
        self
    }

    /// Prints this line to stderr.
    ///
    /// # Examples
    ///
    /// What a failing command printed to stderr ends up in the step's error:
    ///
    /// ```
    /// use deploy_core::{Command, StepError};
    /// use deploy_core::testing::{FakeTarget, Rule, TestContext};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let test = TestContext::new(FakeTarget::new("web1"));
    /// test.target().rule(Rule::new(["make"]).exit(2).stderr("no rule to make target"));
    /// let ctx = test.ctx();
    /// let err = ctx.run(&Command::new(["make"])).await.unwrap_err();
    /// assert!(matches!(err, StepError::CommandFailed { stderr_tail, .. } if stderr_tail == ["no rule to make target"]));
    /// # });
    /// ```
    pub fn stderr(mut self, line: impl Into<String>) -> Self {
        self.stderr.push(line.into());
        self
    }

    /// Takes this long.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use deploy_core::{Command, Target, target::DiscardOutput};
    /// use deploy_core::testing::{FakeTarget, Rule};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// web1.rule(Rule::new(["apt-get"]).delay(Duration::from_millis(50)));
    /// let started = Instant::now();
    /// web1.run(&Command::new(["apt-get", "update"]), &DiscardOutput).await.unwrap();
    /// assert!(started.elapsed() >= Duration::from_millis(50));
    /// # });
    /// ```
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Fails this way instead of running.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Command, Target, target::{DiscardOutput, TargetError}};
    /// use deploy_core::testing::{Failure, FakeTarget, Rule};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// web1.rule(Rule::new(["df"]).fail(Failure::Other("disk full".into())));
    /// let err = web1.run(&Command::new(["df", "-h"]), &DiscardOutput).await.unwrap_err();
    /// assert!(matches!(err, TargetError::Other(message) if message == "disk full"));
    /// # });
    /// ```
    pub fn fail(mut self, failure: Failure) -> Self {
        self.failure = Some(failure);
        self
    }

    /// Applies only to the next `n` matching commands.
    ///
    /// # Examples
    ///
    /// A command that fails once, then works:
    ///
    /// ```
    /// use deploy_core::{Command, Target, target::DiscardOutput};
    /// use deploy_core::testing::{FakeTarget, Rule};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// web1.rule(Rule::new(["curl"]).exit(7).times(1));
    /// let curl = Command::new(["curl", "-f", "http://localhost/"]);
    /// assert_eq!(web1.run(&curl, &DiscardOutput).await.unwrap().code, Some(7));
    /// assert_eq!(web1.run(&curl, &DiscardOutput).await.unwrap().code, Some(0));
    /// # });
    /// ```
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, argv: &[String]) -> bool {
        argv.len() >= self.prefix.len() && argv[..self.prefix.len()] == self.prefix[..]
            || (argv.len() == 3
                && argv[0] == "sh"
                && argv[1] == "-c"
                && !self.prefix.is_empty()
                && argv[2].starts_with(&self.prefix.join(" ")))
    }
}

/// A target that records calls and answers from rules.
///
/// # Examples
///
/// ```
/// use deploy_core::testing::{FakeTarget, Rule};
/// use deploy_core::{Command, Target};
/// use deploy_core::target::DiscardOutput;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let fake = FakeTarget::new("web1");
/// fake.rule(Rule::new(["migrate"]).exit(1).stderr("no database"));
/// let status = fake.run(&Command::new(["migrate"]), &DiscardOutput).await.unwrap();
/// assert_eq!(status.code, Some(1));
/// assert_eq!(fake.journal().commands(), vec!["web1: migrate"]);
/// # });
/// ```
#[derive(Debug)]
pub struct FakeTarget {
    name: String,
    journal: Arc<Journal>,
    rules: Mutex<Vec<Rule>>,
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl FakeTarget {
    /// A fake host with its own journal.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Target, testing::FakeTarget};
    ///
    /// let web1 = FakeTarget::new("web1");
    /// assert_eq!(web1.name(), "web1");
    /// assert!(web1.journal().entries().is_empty());
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        FakeTarget {
            name: name.into(),
            journal: Journal::shared(),
            rules: Mutex::new(Vec::new()),
            files: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records into a shared journal.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Target;
    /// use deploy_core::testing::{FakeTarget, Journal};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let journal = Journal::shared();
    /// let web1 = FakeTarget::new("web1").with_journal(journal.clone());
    /// web1.read_file("/etc/hostname").await.unwrap();
    /// assert_eq!(journal.entries().len(), 1);
    /// # });
    /// ```
    pub fn with_journal(mut self, journal: Arc<Journal>) -> Self {
        self.journal = journal;
        self
    }

    /// Adds a rule (later rules win).
    ///
    /// # Examples
    ///
    /// Later rules win:
    ///
    /// ```
    /// use deploy_core::{Command, Target, target::DiscardOutput};
    /// use deploy_core::testing::{FakeTarget, Rule};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// web1.rule(Rule::new(["systemctl"]).exit(1));
    /// web1.rule(Rule::new(["systemctl", "restart"]).exit(0));
    /// let restart = Command::new(["systemctl", "restart", "app"]);
    /// assert!(web1.run(&restart, &DiscardOutput).await.unwrap().success());
    /// assert!(!web1.run(&Command::new(["systemctl", "stop", "app"]), &DiscardOutput).await.unwrap().success());
    /// # });
    /// ```
    pub fn rule(&self, rule: Rule) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(rule);
        }
    }

    /// Puts a file in place.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Target, testing::FakeTarget};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// web1.put_file("/srv/app/.env", "VERSION=1.4.1\n");
    /// assert_eq!(web1.read_file("/srv/app/.env").await.unwrap(), Some(b"VERSION=1.4.1\n".to_vec()));
    /// # });
    /// ```
    pub fn put_file(&self, path: impl Into<String>, contents: impl Into<Vec<u8>>) {
        if let Ok(mut files) = self.files.lock() {
            files.insert(path.into(), contents.into());
        }
    }

    /// A file's contents.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Target, testing::FakeTarget};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// assert_eq!(web1.file("/etc/motd"), None);
    /// web1.write_file("/etc/motd", b"welcome\n", Some(0o644)).await.unwrap();
    /// assert_eq!(web1.file("/etc/motd"), Some(b"welcome\n".to_vec()));
    /// # });
    /// ```
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.files.lock().ok().and_then(|f| f.get(path).cloned())
    }

    /// The journal.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Command, Target, target::DiscardOutput};
    /// use deploy_core::testing::FakeTarget;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let web1 = FakeTarget::new("web1");
    /// web1.run(&Command::new(["nginx", "-s", "reload"]), &DiscardOutput).await.unwrap();
    /// assert_eq!(web1.journal().commands(), ["web1: nginx -s reload"]);
    /// # });
    /// ```
    pub fn journal(&self) -> &Arc<Journal> {
        &self.journal
    }

    fn take_rule(&self, argv: &[String]) -> Option<Rule> {
        let mut rules = self.rules.lock().ok()?;
        let index = rules.iter().rposition(|r| r.matches(argv))?;
        let rule = rules[index].clone();
        if let Some(times) = &mut rules[index].times {
            *times = times.saturating_sub(1);
            if *times == 0 {
                rules.remove(index);
            }
        }
        Some(rule)
    }
}

/// Records `RunKilled` if a command's future is dropped before it ends.
struct KillWatch<'a> {
    target: &'a FakeTarget,
    argv: Vec<String>,
    done: bool,
}

impl Drop for KillWatch<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.target
                .journal
                .push(&self.target.name, Call::RunKilled(self.argv.clone()));
        }
    }
}

#[async_trait]
impl Target for FakeTarget {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cmd: &Command, output: &dyn OutputSink) -> Result<ExitStatus, TargetError> {
        let argv = cmd.argv.clone();
        let rule = self.take_rule(&argv).unwrap_or_default();
        if let Some(Failure::ConnectionLost { started: false }) = &rule.failure {
            return Err(TargetError::ConnectionLost {
                host: self.name.clone(),
                started: false,
                source: "injected before the command started".into(),
            });
        }
        self.journal
            .push(&self.name, Call::RunStarted(argv.clone()));
        let mut watch = KillWatch {
            target: self,
            argv: argv.clone(),
            done: false,
        };
        if !rule.delay.is_zero() {
            tokio::time::sleep(rule.delay).await;
        }
        for line in &rule.stdout {
            output.line(OutputStream::Stdout, line);
        }
        for line in &rule.stderr {
            output.line(OutputStream::Stderr, line);
        }
        watch.done = true;
        self.journal.push(&self.name, Call::RunEnded(argv));
        match rule.failure {
            Some(Failure::ConnectionLost { .. }) => Err(TargetError::ConnectionLost {
                host: self.name.clone(),
                started: true,
                source: "injected while the command ran".into(),
            }),
            Some(Failure::Other(message)) => Err(TargetError::Other(message)),
            None => Ok(ExitStatus::code(rule.exit)),
        }
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, TargetError> {
        self.journal.push(&self.name, Call::Read(path.to_owned()));
        Ok(self.file(path))
    }

    async fn write_file(
        &self,
        path: &str,
        contents: &[u8],
        _mode: Option<u32>,
    ) -> Result<(), TargetError> {
        self.journal.push(&self.name, Call::Write(path.to_owned()));
        self.put_file(path, contents);
        Ok(())
    }

    async fn sync_dir(
        &self,
        _local: &Path,
        dest: &str,
        _options: &SyncOptions,
    ) -> Result<SyncReport, TargetError> {
        self.journal.push(&self.name, Call::Sync(dest.to_owned()));
        Ok(SyncReport::default())
    }

    async fn connect(&self, endpoint: &Endpoint) -> Result<BoxedStream, TargetError> {
        self.journal
            .push(&self.name, Call::Connect(endpoint.to_string()));
        Err(TargetError::Connect {
            endpoint: endpoint.to_string(),
            source: "a fake target has no network".into(),
        })
    }
}
