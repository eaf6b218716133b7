//! The doubles a step's test needs besides a target: [`TestContext`] (a
//! [`StepContext`] with everything it borrows owned), [`RecordingOutput`]
//! (an output sink that keeps the lines) and [`free_port`].

use std::sync::{Arc, Mutex};

use crate::secret::{Masker, Secret};
use crate::step::{Approver, StepContext, Unattended};
use crate::target::{OutputSink, OutputStream, Target};
use crate::text::RunValues;

/// Collects every output line with its stream: the recording
/// [`OutputSink`] tests hand to targets and steps.
///
/// # Examples
///
/// ```
/// use deploy_core::{Command, Target};
/// use deploy_core::target::OutputStream;
/// use deploy_core::testing::{FakeTarget, RecordingOutput, Rule};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let web1 = FakeTarget::new("web1");
/// web1.rule(Rule::new(["make"]).stdout("built").stderr("warning: old cache"));
/// let output = RecordingOutput::default();
/// web1.run(&Command::new(["make"]), &output).await.unwrap();
/// assert_eq!(output.of(OutputStream::Stdout), ["built"]);
/// assert_eq!(output.all(), ["built", "warning: old cache"]);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct RecordingOutput {
    lines: Mutex<Vec<(OutputStream, String)>>,
}

impl OutputSink for RecordingOutput {
    fn line(&self, stream: OutputStream, line: &str) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push((stream, line.to_owned()));
        }
    }
}

impl RecordingOutput {
    /// Every line with its stream, in the order they came.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::target::{OutputSink, OutputStream};
    /// use deploy_core::testing::RecordingOutput;
    ///
    /// let output = RecordingOutput::default();
    /// output.line(OutputStream::Stderr, "oops");
    /// assert_eq!(output.lines(), [(OutputStream::Stderr, "oops".to_string())]);
    /// ```
    pub fn lines(&self) -> Vec<(OutputStream, String)> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The lines of one stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::target::{OutputSink, OutputStream};
    /// use deploy_core::testing::RecordingOutput;
    ///
    /// let output = RecordingOutput::default();
    /// output.line(OutputStream::Stdout, "a");
    /// output.line(OutputStream::Stderr, "b");
    /// assert_eq!(output.of(OutputStream::Stderr), ["b"]);
    /// ```
    pub fn of(&self, stream: OutputStream) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, line)| line)
            .collect()
    }

    /// Every line, whichever stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::target::{OutputSink, OutputStream};
    /// use deploy_core::testing::RecordingOutput;
    ///
    /// let output = RecordingOutput::default();
    /// output.line(OutputStream::Stdout, "a");
    /// output.line(OutputStream::Stderr, "b");
    /// assert_eq!(output.all(), ["a", "b"]);
    /// ```
    pub fn all(&self) -> Vec<String> {
        self.lines().into_iter().map(|(_, line)| line).collect()
    }
}

/// Owns what a [`StepContext`] borrows, so a test gets one in two lines:
/// the host (any [`Target`]), release `r1`, no secrets, unattended
/// approvals, output recorded. The deploying machine is the host itself
/// unless [`TestContext::local`] names another.
///
/// # Examples
///
/// ```
/// use deploy_core::{Step, steps::SetEnvVar};
/// use deploy_core::testing::{FakeTarget, TestContext};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let test = TestContext::new(FakeTarget::new("web1")).release("r7");
/// let step = SetEnvVar::new("/srv/app/.env", "RELEASE", "${release}");
/// step.apply(&test.ctx()).await.unwrap();
/// assert_eq!(test.target().file("/srv/app/.env").unwrap(), b"RELEASE=r7\n");
/// # });
/// ```
pub struct TestContext<T> {
    target: Arc<T>,
    local: Option<Arc<dyn Target>>,
    values: RunValues,
    output: RecordingOutput,
    approver: Box<dyn Approver>,
    masker: Masker,
    notes: std::sync::Mutex<crate::release::HostNotes>,
}

impl<T: Target + 'static> TestContext<T> {
    /// A context on `target`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, Target, testing::TestContext};
    ///
    /// let test = TestContext::new(LocalTarget::new("web1"));
    /// assert_eq!(test.ctx().target.name(), "web1");
    /// assert_eq!(test.ctx().values.release, "r1");
    /// ```
    pub fn new(target: T) -> Self {
        TestContext::shared(Arc::new(target))
    }

    /// A context on a target the test also holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use deploy_core::testing::{FakeTarget, TestContext};
    ///
    /// let web1 = Arc::new(FakeTarget::new("web1"));
    /// let test = TestContext::shared(web1.clone());
    /// assert!(Arc::ptr_eq(test.shared_target(), &web1));
    /// ```
    pub fn shared(target: Arc<T>) -> Self {
        TestContext {
            target,
            local: None,
            values: RunValues::new("r1"),
            output: RecordingOutput::default(),
            approver: Box::new(Unattended::default()),
            masker: Masker::default(),
            notes: std::sync::Mutex::default(),
        }
    }

    /// Sets the release id.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, Text, testing::TestContext};
    ///
    /// let test = TestContext::new(LocalTarget::new("web1")).release("r7");
    /// assert_eq!(test.ctx().resolve(&Text::from("releases/${release}")).unwrap(), "releases/r7");
    /// ```
    #[must_use]
    pub fn release(mut self, id: impl Into<String>) -> Self {
        self.values.release = id.into();
        self
    }

    /// Adds a secret (masked in what steps report, as in a run).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, Text, testing::TestContext};
    ///
    /// let test = TestContext::new(LocalTarget::new("web1")).secret("db", "hunter2");
    /// assert_eq!(test.ctx().resolve(&Text::secret("db")).unwrap(), "hunter2");
    /// assert_eq!(test.ctx().masker.mask("pw=hunter2"), "pw=[REDACTED]");
    /// ```
    #[must_use]
    pub fn secret(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.values
            .secrets
            .insert(name.into(), Secret::new(value.into()));
        self.masker = Masker::new(self.values.secrets.values().cloned());
        self
    }

    /// Names the deploying machine (else the host itself).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use deploy_core::{LocalTarget, Target, testing::{FakeTarget, TestContext}};
    ///
    /// let test = TestContext::new(FakeTarget::new("web1")).local(Arc::new(LocalTarget::new("laptop")));
    /// assert_eq!(test.ctx().local.name(), "laptop");
    /// ```
    #[must_use]
    pub fn local(mut self, local: Arc<dyn Target>) -> Self {
        self.local = Some(local);
        self
    }

    /// Who approves gated steps (else: refused, as an unattended run).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, Step, step::Unattended, steps::Approve, testing::TestContext};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let yes = TestContext::new(LocalTarget::new("web1")).approver(Unattended { pre_approved: true });
    /// assert!(Approve::new("Ship it?").apply(&yes.ctx()).await.is_ok());
    /// # });
    /// ```
    #[must_use]
    pub fn approver(mut self, approver: impl Approver + 'static) -> Self {
        self.approver = Box::new(approver);
        self
    }

    /// The context to hand to a step.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Command, LocalTarget, testing::TestContext};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let test = TestContext::new(LocalTarget::new("web1"));
    /// let out = test.ctx().capture(&Command::new(["echo", "hi"])).await.unwrap();
    /// assert_eq!(out.stdout, ["hi"]);
    /// # });
    /// ```
    pub fn ctx(&self) -> StepContext<'_> {
        let target: Arc<dyn Target> = self.target.clone();
        StepContext {
            local: self.local.clone().unwrap_or_else(|| target.clone()),
            target,
            values: &self.values,
            output: &self.output,
            approver: self.approver.as_ref(),
            masker: &self.masker,
            log: &self.notes,
        }
    }

    /// The images steps said they started, in order (one per container).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, testing::TestContext};
    ///
    /// assert!(TestContext::new(LocalTarget::new("web1")).started_images().is_empty());
    /// ```
    pub fn started_images(&self) -> Vec<crate::release::ImageRecord> {
        self.notes
            .lock()
            .map(|n| n.images.clone())
            .unwrap_or_default()
    }

    /// The backups steps said they wrote, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, testing::TestContext};
    ///
    /// let test = TestContext::new(LocalTarget::new("db1"));
    /// test.ctx().log.backed_up("app-r1.dump");
    /// assert_eq!(test.backups(), ["app-r1.dump"]);
    /// ```
    pub fn backups(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|n| n.backups.clone())
            .unwrap_or_default()
    }

    /// The host, to set up or inspect.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::testing::{FakeTarget, TestContext};
    ///
    /// let test = TestContext::new(FakeTarget::new("web1"));
    /// test.target().put_file("/etc/motd", "hi");
    /// assert_eq!(test.target().file("/etc/motd").unwrap(), b"hi");
    /// ```
    pub fn target(&self) -> &T {
        &self.target
    }

    /// The host as the shared handle the context holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Target, testing::{FakeTarget, TestContext}};
    ///
    /// let test = TestContext::new(FakeTarget::new("web1"));
    /// assert_eq!(test.shared_target().name(), "web1");
    /// ```
    pub fn shared_target(&self) -> &Arc<T> {
        &self.target
    }

    /// What the steps printed.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Command, LocalTarget, target::OutputStream, testing::TestContext};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let test = TestContext::new(LocalTarget::new("web1"));
    /// test.ctx().run(&Command::shell("echo done >&2")).await.unwrap();
    /// assert_eq!(test.output().of(OutputStream::Stderr), ["done"]);
    /// # });
    /// ```
    pub fn output(&self) -> &RecordingOutput {
        &self.output
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released), for a server a
/// test starts.
///
/// # Examples
///
/// ```
/// let port = deploy_core::testing::free_port();
/// assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
/// ```
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}
