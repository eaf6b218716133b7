//! A scriptable, recording [`Target`] for tests (feature `testing`).
//!
//! It keeps files in memory, records every call in a [`Journal`] that several
//! fakes can share (so a test can see that two hosts' steps overlapped, by
//! order of events rather than by timing), and answers commands from rules:
//! exit codes, output, delays, and injected failures.

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
#[derive(Debug, Default)]
pub struct Journal {
    entries: Mutex<Vec<(String, Call)>>,
}

impl Journal {
    /// A shared, empty journal.
    pub fn shared() -> Arc<Journal> {
        Arc::new(Journal::default())
    }

    fn push(&self, host: &str, call: Call) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.push((host.to_owned(), call));
        }
    }

    /// Every `(host, call)`, in order.
    pub fn entries(&self) -> Vec<(String, Call)> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The commands that ran, as `host: argv…` lines, in start order.
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
    pub fn exit(mut self, code: i32) -> Self {
        self.exit = code;
        self
    }

    /// Prints this line to stdout.
    pub fn stdout(mut self, line: impl Into<String>) -> Self {
        self.stdout.push(line.into());
        self
    }

    /// Prints this line to stderr.
    pub fn stderr(mut self, line: impl Into<String>) -> Self {
        self.stderr.push(line.into());
        self
    }

    /// Takes this long.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Fails this way instead of running.
    pub fn fail(mut self, failure: Failure) -> Self {
        self.failure = Some(failure);
        self
    }

    /// Applies only to the next `n` matching commands.
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
    roles: Vec<String>,
    journal: Arc<Journal>,
    rules: Mutex<Vec<Rule>>,
    files: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl FakeTarget {
    /// A fake host with its own journal.
    pub fn new(name: impl Into<String>) -> Self {
        FakeTarget {
            name: name.into(),
            roles: Vec::new(),
            journal: Journal::shared(),
            rules: Mutex::new(Vec::new()),
            files: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records into a shared journal.
    pub fn with_journal(mut self, journal: Arc<Journal>) -> Self {
        self.journal = journal;
        self
    }

    /// Gives the fake roles.
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a rule (later rules win).
    pub fn rule(&self, rule: Rule) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(rule);
        }
    }

    /// Puts a file in place.
    pub fn put_file(&self, path: impl Into<String>, contents: impl Into<Vec<u8>>) {
        if let Ok(mut files) = self.files.lock() {
            files.insert(path.into(), contents.into());
        }
    }

    /// A file's contents.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.files.lock().ok().and_then(|f| f.get(path).cloned())
    }

    /// The journal.
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

    fn roles(&self) -> &[String] {
        &self.roles
    }

    async fn run(&self, cmd: &Command, output: &dyn OutputSink) -> Result<ExitStatus, TargetError> {
        let argv = cmd.argv.clone();
        let rule = self.take_rule(&argv).unwrap_or_default();
        if let Some(Failure::ConnectionLost { started: false }) = &rule.failure {
            return Err(TargetError::ConnectionLost {
                host: self.name.clone(),
                started: false,
                detail: "injected before the command started".into(),
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
                detail: "injected while the command ran".into(),
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
            detail: "a fake target has no network".into(),
        })
    }
}
