//! The [`Target`] trait: the only thing in deploy that touches the world.
//!
//! Steps describe work; a Target does it on one host: runs a command, reads
//! and writes files, copies a directory tree, opens a byte stream to a socket
//! on its side. [`LocalTarget`](crate::LocalTarget) does this on this machine;
//! `deploy-ssh` does it over SSH; `deploy-docker` reaches an engine through
//! [`Target::connect`] on any of them.

use std::path::Path;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::command::Command;

/// Which stream an output line came from.
///
/// # Examples
///
/// ```
/// use deploy_core::target::OutputStream;
///
/// assert_ne!(OutputStream::Stdout, OutputStream::Stderr);
/// assert_eq!(serde_json::to_string(&OutputStream::Stderr).unwrap(), "\"stderr\"");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Receives a running command's output, one line at a time.
///
/// # Examples
///
/// A sink that keeps stderr lines only:
///
/// ```
/// use std::sync::Mutex;
/// use deploy_core::target::{OutputSink, OutputStream};
///
/// struct Errors(Mutex<Vec<String>>);
/// impl OutputSink for Errors {
///     fn line(&self, stream: OutputStream, line: &str) {
///         if stream == OutputStream::Stderr { self.0.lock().unwrap().push(line.into()) }
///     }
/// }
/// let sink = Errors(Mutex::new(Vec::new()));
/// sink.line(OutputStream::Stdout, "compiling");
/// sink.line(OutputStream::Stderr, "warning: unused");
/// assert_eq!(*sink.0.lock().unwrap(), ["warning: unused"]);
/// ```
pub trait OutputSink: Send + Sync {
    /// One line, without its line ending.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use deploy_core::{Command, LocalTarget, Target};
    /// use deploy_core::target::{OutputSink, OutputStream};
    ///
    /// struct Lines(Mutex<Vec<String>>);
    /// impl OutputSink for Lines {
    ///     fn line(&self, _: OutputStream, line: &str) { self.0.lock().unwrap().push(line.into()) }
    /// }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let lines = Lines(Mutex::new(Vec::new()));
    /// LocalTarget::new("localhost").run(&Command::shell("echo one; echo two"), &lines).await.unwrap();
    /// assert_eq!(*lines.0.lock().unwrap(), ["one", "two"]);
    /// # });
    /// ```
    fn line(&self, stream: OutputStream, line: &str);
}

/// An [`OutputSink`] that drops everything.
///
/// # Examples
///
/// ```
/// use deploy_core::{Command, LocalTarget, Target};
/// use deploy_core::target::DiscardOutput;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let local = LocalTarget::new("localhost");
/// let status = local.run(&Command::new(["echo", "nobody reads this"]), &DiscardOutput).await;
/// assert!(status.unwrap().success());
/// # });
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardOutput;

impl OutputSink for DiscardOutput {
    fn line(&self, _: OutputStream, _: &str) {}
}

/// How a command ended.
///
/// # Examples
///
/// ```
/// use deploy_core::target::ExitStatus;
///
/// let killed = ExitStatus { code: None, signal: Some("SIGKILL".into()) };
/// assert!(!killed.success());
/// assert_eq!(killed.to_string(), "killed by signal SIGKILL");
/// assert_eq!(ExitStatus::code(3).to_string(), "exit code 3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExitStatus {
    /// The exit code, when the command exited.
    pub code: Option<i32>,
    /// The signal's name, when a signal ended it.
    pub signal: Option<String>,
}

impl ExitStatus {
    /// Exit code 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::target::ExitStatus;
    ///
    /// assert!(ExitStatus::code(0).success());
    /// assert!(!ExitStatus::code(1).success());
    /// ```
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// An exit with this code.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::target::ExitStatus;
    ///
    /// assert_eq!(ExitStatus::code(2), ExitStatus { code: Some(2), signal: None });
    /// ```
    pub fn code(code: i32) -> Self {
        ExitStatus {
            code: Some(code),
            signal: None,
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.code, &self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(signal)) => write!(f, "killed by signal {signal}"),
            (None, None) => f.write_str("no exit status"),
        }
    }
}

/// Something to connect to on the target's side.
///
/// # Examples
///
/// ```
/// use deploy_core::target::Endpoint;
///
/// let docker = Endpoint::Unix("/var/run/docker.sock".into());
/// assert_eq!(docker.to_string(), "unix:/var/run/docker.sock");
/// let api = Endpoint::Tcp { host: "127.0.0.1".into(), port: 2375 };
/// assert_eq!(api.to_string(), "127.0.0.1:2375");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Endpoint {
    /// A unix socket path, like `/var/run/docker.sock`.
    Unix(String),
    /// A TCP host and port, as the target resolves them.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix:{path}"),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// A byte stream opened by [`Target::connect`].
///
/// # Examples
///
/// Anything that reads and writes asynchronously is one, an in-memory pipe included:
///
/// ```
/// use deploy_core::target::ByteStream;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// async fn greet(stream: &mut dyn ByteStream) -> std::io::Result<()> {
///     stream.write_all(b"hello").await
/// }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (mut ours, mut theirs) = tokio::io::duplex(64);
/// greet(&mut ours).await.unwrap();
/// let mut buf = [0; 5];
/// theirs.read_exact(&mut buf).await.unwrap();
/// assert_eq!(&buf, b"hello");
/// # });
/// ```
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

/// A boxed [`ByteStream`].
///
/// # Examples
///
/// ```
/// use deploy_core::target::BoxedStream;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (ours, mut theirs) = tokio::net::UnixStream::pair().unwrap();
/// let mut stream: BoxedStream = Box::new(ours);
/// stream.write_all(b"ping").await.unwrap();
/// let mut buf = [0; 4];
/// theirs.read_exact(&mut buf).await.unwrap();
/// assert_eq!(&buf, b"ping");
/// # });
/// ```
pub type BoxedStream = Box<dyn ByteStream>;

/// How [`Target::sync_dir`] copies a tree.
///
/// # Examples
///
/// ```
/// use deploy_core::target::SyncOptions;
///
/// let mirror = SyncOptions { delete: true, exclude: vec!["*.log".into(), "tmp/".into()] };
/// assert!(mirror.delete);
/// assert_eq!(SyncOptions::default(), SyncOptions { delete: false, exclude: vec![] });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncOptions {
    /// Remove files on the target that the source no longer has.
    pub delete: bool,
    /// Gitignore-style patterns to leave out (besides `.gitignore` and
    /// `.deployignore` files in the tree, which are always honoured).
    pub exclude: Vec<String>,
}

/// What a [`Target::sync_dir`] did.
///
/// # Examples
///
/// A second sync of an unchanged tree copies nothing:
///
/// ```
/// use deploy_core::{LocalTarget, Target};
/// use deploy_core::target::{SyncOptions, SyncReport};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let (src, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
/// std::fs::write(src.path().join("index.html"), "hi").unwrap();
/// let (local, to) = (LocalTarget::new("localhost"), dest.path().to_str().unwrap());
/// let first = local.sync_dir(src.path(), to, &SyncOptions::default()).await.unwrap();
/// assert_eq!(first, SyncReport { copied: 1, unchanged: 0, deleted: 0, bytes: 2 });
/// let again = local.sync_dir(src.path(), to, &SyncOptions::default()).await.unwrap();
/// assert_eq!((again.copied, again.unchanged), (0, 1));
/// # });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncReport {
    /// Files copied because they were new or changed.
    pub copied: usize,
    /// Files left alone because they were already the same.
    pub unchanged: usize,
    /// Files removed (with `delete`).
    pub deleted: usize,
    /// Bytes copied.
    pub bytes: u64,
}

/// What went wrong underneath a [`TargetError`]: the transport's own error
/// (russh's, an I/O error) kept whole, so its cause chain reaches the user,
/// or a message where there is nothing more to keep.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a Target could not do.
///
/// # Examples
///
/// ```
/// use deploy_core::target::TargetError;
///
/// let lost = TargetError::ConnectionLost {
///     host: "web1".into(),
///     started: true,
///     source: "connection reset".into(),
/// };
/// assert_eq!(lost.to_string(), "connection to web1 lost while a command ran: connection reset");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`write`, `read`, `rename`, ...).
        op: &'static str,
        /// The path it was done to.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A command could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The connection to the host failed or was lost.
    #[error("connection to {host} lost{}: {source}", if *.started { " while a command ran" } else { "" })]
    ConnectionLost {
        /// The host.
        host: String,
        /// Whether a command had already started (then it is not safe to retry
        /// blindly).
        started: bool,
        /// What happened.
        #[source]
        source: Cause,
    },
    /// Connecting to an endpoint on the target's side failed.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        #[source]
        source: Cause,
    },
    /// The target cannot do this at all.
    #[error("{0}")]
    Unsupported(String),
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}

impl TargetError {
    /// True when the work provably did not start, so trying again is safe:
    /// a connection lost before the command began.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::target::TargetError;
    ///
    /// let lost = |started| TargetError::ConnectionLost {
    ///     host: "web1".into(),
    ///     started,
    ///     source: "reset".into(),
    /// };
    /// assert!(lost(false).is_safe_to_retry());
    /// assert!(!lost(true).is_safe_to_retry());
    /// assert!(!TargetError::Other("disk full".into()).is_safe_to_retry());
    /// ```
    pub fn is_safe_to_retry(&self) -> bool {
        matches!(self, TargetError::ConnectionLost { started: false, .. })
    }

    pub(crate) fn io(op: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        TargetError::Io {
            op,
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// One host that steps run on.
///
/// Implementations must be cheap to share (`Arc<dyn Target>`) and safe to call
/// concurrently; the executor runs one step at a time per target, but other
/// crates may open streams while a command runs.
///
/// # Examples
///
/// A target that only answers `echo`, to show the contract:
///
/// ```
/// use async_trait::async_trait;
/// use deploy_core::target::*;
/// use deploy_core::Command;
/// use std::path::Path;
///
/// struct EchoTarget;
///
/// #[async_trait]
/// impl Target for EchoTarget {
///     fn name(&self) -> &str { "echo-host" }
///     async fn run(&self, cmd: &Command, out: &dyn OutputSink) -> Result<ExitStatus, TargetError> {
///         if cmd.argv.first().map(String::as_str) != Some("echo") {
///             return Err(TargetError::Unsupported("only echo".into()));
///         }
///         out.line(OutputStream::Stdout, &cmd.argv[1..].join(" "));
///         Ok(ExitStatus::code(0))
///     }
///     async fn read_file(&self, _: &str) -> Result<Option<Vec<u8>>, TargetError> { Ok(None) }
///     async fn write_file(&self, _: &str, _: &[u8], _: Option<u32>) -> Result<(), TargetError> {
///         Err(TargetError::Unsupported("read-only".into()))
///     }
///     async fn sync_dir(&self, _: &Path, _: &str, _: &SyncOptions) -> Result<SyncReport, TargetError> {
///         Err(TargetError::Unsupported("read-only".into()))
///     }
///     async fn connect(&self, e: &Endpoint) -> Result<BoxedStream, TargetError> {
///         Err(TargetError::Connect { endpoint: e.to_string(), source: "no network".into() })
///     }
/// }
/// ```
#[async_trait]
pub trait Target: Send + Sync {
    /// The host's name as the plan knows it.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, Target};
    ///
    /// assert_eq!(LocalTarget::new("web1").name(), "web1");
    /// ```
    fn name(&self) -> &str;

    /// Runs a command to completion, streaming its output lines to `output`.
    /// A non-zero exit is an `Ok` status, not an error; an error means the
    /// command could not be run or its end could not be seen. Dropping the
    /// future must stop the command (its whole process group).
    ///
    /// # Examples
    ///
    /// A non-zero exit is an answer, not an error:
    ///
    /// ```
    /// use deploy_core::{Command, LocalTarget, Target};
    /// use deploy_core::target::DiscardOutput;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let local = LocalTarget::new("localhost");
    /// let status = local.run(&Command::shell("exit 3"), &DiscardOutput).await.unwrap();
    /// assert_eq!(status.code, Some(3));
    /// assert!(local.run(&Command::new(["no-such-program-here"]), &DiscardOutput).await.is_err());
    /// # });
    /// ```
    async fn run(&self, cmd: &Command, output: &dyn OutputSink) -> Result<ExitStatus, TargetError>;

    /// A file's contents, or `None` when it does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, Target};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join("VERSION"), "1.4.2\n").unwrap();
    /// let local = LocalTarget::new("localhost").with_base_dir(dir.path());
    /// assert_eq!(local.read_file("VERSION").await.unwrap(), Some(b"1.4.2\n".to_vec()));
    /// assert_eq!(local.read_file("missing").await.unwrap(), None);
    /// # });
    /// ```
    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, TargetError>;

    /// Writes a file atomically (a temporary file beside it, then a rename):
    /// readers see the old contents or the new, never a part. Parent
    /// directories are created. `mode` None keeps an existing file's mode
    /// (0644 for a new one).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// use deploy_core::{LocalTarget, Target};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let local = LocalTarget::new("localhost").with_base_dir(dir.path());
    /// local.write_file("conf/app.ini", b"debug = false\n", Some(0o600)).await.unwrap();
    /// let meta = std::fs::metadata(dir.path().join("conf/app.ini")).unwrap();
    /// assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    /// # });
    /// ```
    async fn write_file(
        &self,
        path: &str,
        contents: &[u8],
        mode: Option<u32>,
    ) -> Result<(), TargetError>;

    /// Copies a local directory tree to `dest` on the target, sending only
    /// files that are new or changed (by size and modification time), keeping
    /// modes, honouring `.gitignore` and `.deployignore`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, Target};
    /// use deploy_core::target::SyncOptions;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (src, dest) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    /// std::fs::write(src.path().join("app.js"), "run()").unwrap();
    /// std::fs::write(src.path().join("debug.log"), "noise").unwrap();
    /// let options = SyncOptions { delete: false, exclude: vec!["*.log".into()] };
    /// let to = dest.path().to_str().unwrap();
    /// let report = LocalTarget::new("localhost").sync_dir(src.path(), to, &options).await.unwrap();
    /// assert_eq!(report.copied, 1);
    /// assert!(!dest.path().join("debug.log").exists());
    /// # });
    /// ```
    async fn sync_dir(
        &self,
        local: &Path,
        dest: &str,
        options: &SyncOptions,
    ) -> Result<SyncReport, TargetError>;

    /// Opens a byte stream to a socket on the target's side.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, Target};
    /// use deploy_core::target::Endpoint;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let socket = dir.path().join("app.sock");
    /// let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    /// let local = LocalTarget::new("localhost");
    /// assert!(local.connect(&Endpoint::Unix(socket.display().to_string())).await.is_ok());
    /// assert!(listener.accept().await.is_ok());
    /// # });
    /// ```
    async fn connect(&self, endpoint: &Endpoint) -> Result<BoxedStream, TargetError>;

    /// True when the target is the deploying machine itself, so that what
    /// this machine's environment says (`DOCKER_HOST`, say) applies to it.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, Target};
    ///
    /// assert!(LocalTarget::new("localhost").is_this_machine());
    /// ```
    fn is_this_machine(&self) -> bool {
        false
    }

    /// Runs `cmd` on a pseudo-terminal (`./manage.py shell`, `psql`): what
    /// `terminal.input` brings goes to it (keystrokes, Ctrl-C as a byte,
    /// window sizes), what it prints goes to `terminal.output`; returns its
    /// exit status. The default: this transport has no terminals.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Command, Target, target::Terminal, testing::FakeTarget};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (terminal, _input, _output) = Terminal::channels("xterm", 80, 24);
    /// let err = FakeTarget::new("web1").interactive(&Command::new(["psql"]), terminal).await.unwrap_err();
    /// assert!(err.to_string().contains("no interactive sessions"));
    /// # });
    /// ```
    async fn interactive(
        &self,
        cmd: &Command,
        terminal: Terminal,
    ) -> Result<ExitStatus, TargetError> {
        let _ = (cmd, terminal);
        Err(TargetError::Unsupported(format!(
            "{} has no interactive sessions",
            self.name()
        )))
    }
}

/// What goes to an interactive session's command.
///
/// # Examples
///
/// ```
/// let resize = deploy_core::target::TerminalInput::Resize { cols: 120, rows: 40 };
/// assert!(matches!(resize, deploy_core::target::TerminalInput::Resize { cols: 120, .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TerminalInput {
    /// Bytes typed (in raw mode: Ctrl-C is byte 3).
    Data(Vec<u8>),
    /// The window's new size.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
}

/// The two ends of an interactive session, for [`Target::interactive`]:
/// its terminal type and first size, what to send it, where its output
/// goes. Input ending (the sender dropped) ends its stdin.
pub struct Terminal {
    /// `$TERM` (`xterm-256color`).
    pub term: String,
    /// Columns at the start.
    pub cols: u16,
    /// Rows at the start.
    pub rows: u16,
    /// Keystrokes and resizes.
    pub input: tokio::sync::mpsc::Receiver<TerminalInput>,
    /// What the command prints (stdout and stderr, as a terminal shows them).
    pub output: tokio::sync::mpsc::Sender<Vec<u8>>,
}

impl Terminal {
    /// A terminal and the caller's ends of its channels: the input sender
    /// and the output receiver.
    ///
    /// # Examples
    ///
    /// ```
    /// let (terminal, input, _output) = deploy_core::target::Terminal::channels("xterm", 80, 24);
    /// assert_eq!((terminal.cols, terminal.rows), (80, 24));
    /// drop(input); // the command's stdin ends
    /// ```
    pub fn channels(
        term: &str,
        cols: u16,
        rows: u16,
    ) -> (
        Terminal,
        tokio::sync::mpsc::Sender<TerminalInput>,
        tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) {
        let (input_tx, input) = tokio::sync::mpsc::channel(64);
        let (output, output_rx) = tokio::sync::mpsc::channel(64);
        (
            Terminal {
                term: term.to_owned(),
                cols,
                rows,
                input,
                output,
            },
            input_tx,
            output_rx,
        )
    }
}
