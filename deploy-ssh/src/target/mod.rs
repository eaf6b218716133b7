//! [`SshTarget`]: one host over SSH, as a [`Target`].
//!
//! One connection per host, opened on first use and shared by every command
//! (each command is a channel on it). sshd starts every command as the
//! leader of a new session, so the login shell's `$$` is the process group
//! id: each command first reports it on stderr, so that a timeout or
//! interrupt can end the whole remote process group (closing a channel
//! without a pty does not). Commands are POSIX shell lines, as with `ssh`.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use deploy_core::Command;
use deploy_core::command::{SUDO_PASSWORD_ON_STDIN, quote};
use deploy_core::target::{
    BoxedStream, Endpoint, ExitStatus, OutputSink, SyncOptions, SyncReport, Target, TargetError,
};
use russh::client::Handle;

use crate::budget::Slot;
use crate::handler::Checker;
use crate::options::SshOptions;

mod connect;
mod exec;
mod interactive;

pub(crate) use exec::Input;

/// A host reached over SSH.
///
/// # Examples
///
/// ```no_run
/// use deploy_core::{Command, Target};
/// use deploy_core::target::DiscardOutput;
/// use deploy_ssh::{SshOptions, SshTarget};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let web1 = SshTarget::new("web1.example", SshOptions::new("deploy"));
/// let status = web1.run(&Command::new(["uptime"]), &DiscardOutput).await.unwrap();
/// assert!(status.success());
/// # });
/// ```
pub struct SshTarget {
    name: String,
    address: String,
    options: Arc<SshOptions>,
    /// The jump host this one is reached through (`ProxyJump`), if any.
    via: Option<Arc<SshTarget>>,
    /// The open connection (and its place in the options' budget).
    connection: Arc<Slot>,
}

impl std::fmt::Debug for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshTarget")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("user", &self.options.user)
            .field("port", &self.options.port)
            .finish()
    }
}
impl SshTarget {
    /// A target named `name` (also its address) with these options.
    pub fn new(name: impl Into<String>, options: SshOptions) -> Self {
        let name = name.into();
        SshTarget {
            address: name.clone(),
            name,
            options: Arc::new(options),
            via: None,
            connection: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Connects to `address` instead of the name (an IP, a resolved alias).
    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.address = address.into();
        self
    }

    /// Reaches this host through `jump` (ssh's `ProxyJump`): a
    /// `direct-tcpip` channel on the jump host's connection carries this
    /// one. The jump host's key is checked the same way; hops chain.
    pub fn via(mut self, jump: Arc<SshTarget>) -> Self {
        self.via = Some(jump);
        self
    }

    fn who(&self) -> String {
        format!(
            "{}@{}:{}",
            self.options.user, self.address, self.options.port
        )
    }
}

/// Exit code the read script uses for "no such file".
const MISSING: i32 = 44;

#[async_trait]
impl Target for SshTarget {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cmd: &Command, output: &dyn OutputSink) -> Result<ExitStatus, TargetError> {
        let raw = match (&self.options.sudo_password, cmd.sudo) {
            (Some(password), true) => {
                let (line, input) = cmd.to_shell_line_with_sudo(SUDO_PASSWORD_ON_STDIN);
                let mut stdin = format!("{}\n", password.expose()).into_bytes();
                stdin.extend_from_slice(input.as_deref().unwrap_or_default());
                self.exec(&line, Input::Bytes(&stdin), Some(output)).await?
            }
            _ => {
                let (line, input) = cmd.to_shell_line();
                self.exec(&line, input.as_deref().into(), Some(output))
                    .await?
            }
        };
        Ok(raw.status)
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, TargetError> {
        let p = quote(path);
        let raw = self
            .exec(
                &format!("if [ -e {p} ]; then exec cat -- {p}; else exit {MISSING}; fi"),
                Input::Nothing,
                None,
            )
            .await?;
        match raw.status.code {
            Some(0) => Ok(Some(raw.stdout)),
            Some(MISSING) => Ok(None),
            _ => Err(self.remote_failure("read", path, &raw)),
        }
    }

    async fn write_file(
        &self,
        path: &str,
        contents: &[u8],
        mode: Option<u32>,
    ) -> Result<(), TargetError> {
        let p = quote(path);
        let chmod = match mode {
            Some(mode) => format!("chmod {mode:o} \"$tmp\""),
            None => "if [ -e \"$dest\" ]; then chmod --reference=\"$dest\" \"$tmp\"; else chmod 644 \"$tmp\"; fi"
                .to_owned(),
        };
        // Written through a symlink (the file it points at is replaced), to a
        // temporary file beside it, then renamed: readers see old or new.
        let script = format!(
            "set -e; dest={p}; if [ -L \"$dest\" ]; then dest=$(readlink -f -- \"$dest\"); fi; \
             mkdir -p -- \"$(dirname -- \"$dest\")\"; \
             tmp=\"$(dirname -- \"$dest\")/.$(basename -- \"$dest\").deploy-tmp-$$\"; \
             trap 'rm -f -- \"$tmp\"' EXIT; cat > \"$tmp\"; {chmod}; mv -f -- \"$tmp\" \"$dest\"; trap - EXIT"
        );
        self.exec_checked("write", path, &script, Input::Bytes(contents))
            .await
            .map(|_| ())
    }

    async fn sync_dir(
        &self,
        local: &Path,
        dest: &str,
        options: &SyncOptions,
    ) -> Result<SyncReport, TargetError> {
        crate::sync::sync_dir(self, local, dest, options).await
    }

    async fn connect(&self, endpoint: &Endpoint) -> Result<BoxedStream, TargetError> {
        let handle = self.handle().await?;
        let failed = |e: russh::Error| TargetError::Connect {
            endpoint: format!("{endpoint} on {}", self.name),
            source: e.into(),
        };
        let channel = match endpoint {
            Endpoint::Unix(path) => handle
                .channel_open_direct_streamlocal(path.clone())
                .await
                .map_err(failed)?,
            Endpoint::Tcp { host, port } => handle
                .channel_open_direct_tcpip(host.clone(), u32::from(*port), "127.0.0.1", 0)
                .await
                .map_err(failed)?,
        };
        Ok(Box::new(Held {
            stream: channel.into_stream(),
            _connection: handle,
        }))
    }

    async fn interactive(
        &self,
        cmd: &Command,
        terminal: deploy_core::target::Terminal,
    ) -> Result<ExitStatus, TargetError> {
        self.interactive_session(cmd, terminal).await
    }
}

/// A forwarded stream that holds its connection: while it is open the
/// connection is not idle, so the budget never closes it underneath.
struct Held<S> {
    stream: S,
    _connection: Arc<Handle<Checker>>,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Held<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Held<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
