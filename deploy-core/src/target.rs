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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Receives a running command's output, one line at a time.
pub trait OutputSink: Send + Sync {
    /// One line, without its line ending.
    fn line(&self, stream: OutputStream, line: &str);
}

/// An [`OutputSink`] that drops everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardOutput;

impl OutputSink for DiscardOutput {
    fn line(&self, _: OutputStream, _: &str) {}
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ExitStatus {
    /// The exit code, when the command exited.
    pub code: Option<i32>,
    /// The signal's name, when a signal ended it.
    pub signal: Option<String>,
}

impl ExitStatus {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// An exit with this code.
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
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

/// A boxed [`ByteStream`].
pub type BoxedStream = Box<dyn ByteStream>;

/// How [`Target::sync_dir`] copies a tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyncOptions {
    /// Remove files on the target that the source no longer has.
    pub delete: bool,
    /// Gitignore-style patterns to leave out (besides `.gitignore` and
    /// `.deployignore` files in the tree, which are always honoured).
    pub exclude: Vec<String>,
}

/// What a [`Target::sync_dir`] did.
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

/// What a Target could not do.
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
    #[error("connection to {host} lost{}: {detail}", if *.started { " while a command ran" } else { "" })]
    ConnectionLost {
        /// The host.
        host: String,
        /// Whether a command had already started (then it is not safe to retry
        /// blindly).
        started: bool,
        /// What happened.
        detail: String,
    },
    /// Connecting to an endpoint on the target's side failed.
    #[error("cannot connect to {endpoint}: {detail}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        detail: String,
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
///     fn roles(&self) -> &[String] { &[] }
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
///         Err(TargetError::Connect { endpoint: e.to_string(), detail: "no network".into() })
///     }
/// }
/// ```
#[async_trait]
pub trait Target: Send + Sync {
    /// The host's name as the plan knows it.
    fn name(&self) -> &str;

    /// The roles this host has (`web`, `worker`, ...).
    fn roles(&self) -> &[String];

    /// Runs a command to completion, streaming its output lines to `output`.
    /// A non-zero exit is an `Ok` status, not an error; an error means the
    /// command could not be run or its end could not be seen. Dropping the
    /// future must stop the command (its whole process group).
    async fn run(&self, cmd: &Command, output: &dyn OutputSink) -> Result<ExitStatus, TargetError>;

    /// A file's contents, or `None` when it does not exist.
    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, TargetError>;

    /// Writes a file atomically (a temporary file beside it, then a rename):
    /// readers see the old contents or the new, never a part. Parent
    /// directories are created. `mode` None keeps an existing file's mode
    /// (0644 for a new one).
    async fn write_file(
        &self,
        path: &str,
        contents: &[u8],
        mode: Option<u32>,
    ) -> Result<(), TargetError>;

    /// Copies a local directory tree to `dest` on the target, sending only
    /// files that are new or changed (by size and modification time), keeping
    /// modes, honouring `.gitignore` and `.deployignore`.
    async fn sync_dir(
        &self,
        local: &Path,
        dest: &str,
        options: &SyncOptions,
    ) -> Result<SyncReport, TargetError>;

    /// Opens a byte stream to a socket on the target's side.
    async fn connect(&self, endpoint: &Endpoint) -> Result<BoxedStream, TargetError>;
}
