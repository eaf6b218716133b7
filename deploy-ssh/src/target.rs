//! [`SshTarget`]: one host over SSH, as a [`Target`].
//!
//! One connection per host, opened on first use and shared by every command
//! (each command is a channel on it). sshd starts every command as the
//! leader of a new session, so the login shell's `$$` is the process group
//! id: each command first reports it on stderr, so that a timeout or
//! interrupt can end the whole remote process group (closing a channel
//! without a pty does not). Commands are POSIX shell lines, as with `ssh`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use deploy_core::Command;
use deploy_core::command::{SUDO_PASSWORD_ON_STDIN, quote};
use deploy_core::target::{
    BoxedStream, Cause, Endpoint, ExitStatus, OutputSink, OutputStream, SyncOptions, SyncReport,
    Target, TargetError,
};
use russh::ChannelMsg;
use russh::client::{self, Handle};
use russh::keys::PrivateKeyWithHashAlg;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;

use crate::budget::{Open, Slot};
use crate::handler::Checker;
use crate::options::SshOptions;

/// The stderr line a wrapped command starts with: its process group id.
const PGID_MARK: &str = "@@deploy-pgid ";

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

/// What a command reads on stdin.
pub(crate) enum Input<'a> {
    /// Nothing (stdin is closed at once).
    Nothing,
    /// These bytes.
    Bytes(&'a [u8]),
    /// Chunks as a producer makes them (sent while it still works).
    Chunks(tokio::sync::mpsc::Receiver<Vec<u8>>),
}

impl<'a> From<Option<&'a [u8]>> for Input<'a> {
    fn from(bytes: Option<&'a [u8]>) -> Self {
        bytes.map_or(Input::Nothing, Input::Bytes)
    }
}

/// What a command printed and how it ended, as bytes.
struct RawOutput {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Splits a byte stream into lines for an [`OutputSink`].
#[derive(Default)]
struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    fn feed(&mut self, bytes: &[u8], mut emit: impl FnMut(&str)) {
        self.pending.extend_from_slice(bytes);
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.pending.drain(..=pos).collect();
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            emit(&String::from_utf8_lossy(&line));
        }
    }

    fn finish(&mut self, mut emit: impl FnMut(&str)) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            emit(String::from_utf8_lossy(&line).trim_end_matches('\r'));
        }
    }
}

/// Kills a remote process group if its command is dropped while running.
struct RemoteKiller {
    handle: Arc<Handle<Checker>>,
    pgid: Arc<Mutex<Option<u32>>>,
    armed: bool,
}

impl Drop for RemoteKiller {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Some(pgid) = self.pgid.lock().ok().and_then(|p| *p) else {
            return;
        };
        let handle = Arc::clone(&self.handle);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Ok(channel) = handle.channel_open_session().await {
                    let _ = channel
                        .exec(true, format!("kill -KILL -- -{pgid} 2>/dev/null"))
                        .await;
                    let _ = channel.eof().await;
                }
            });
        }
    }
}

/// A random pause of up to `most` ms, so that hosts reset together do not
/// retry together (std's hasher keys are random per instance).
fn jitter_ms(most: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish() % most.max(1)
}

/// True when the server closed the connection before the SSH handshake
/// finished and no host key was refused: sshd's MaxStartups drop.
fn reset_before_handshake(e: &russh::Error, refusal: &Mutex<Option<String>>) -> bool {
    let refused = refusal.lock().map(|r| r.is_some()).unwrap_or(true);
    let reset = match e {
        russh::Error::IO(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
        ),
        russh::Error::Disconnect | russh::Error::HUP => true,
        _ => false,
    };
    reset && !refused
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

    /// The shared connection, opened (or reopened) when needed.
    async fn handle(&self) -> Result<Arc<Handle<Checker>>, TargetError> {
        let mut slot = self.connection.lock().await;
        if let Some(open) = slot.as_ref().filter(|o| !o.handle.is_closed()) {
            return Ok(Arc::clone(&open.handle));
        }
        // A closed connection gives its place back before we ask for one.
        *slot = None;
        // The jump host first, outside our handshake slot: targets behind one
        // jump host must not hold every slot while waiting for it. Its
        // connection is held for as long as ours is open.
        let via = match &self.via {
            Some(jump) => Some(Box::pin(jump.handle()).await?),
            None => None,
        };
        // A place among the open connections, then a handshake slot; the
        // connect timeout starts once both are ours.
        let place = self.options.connections.reserve(&self.connection).await;
        let _handshaking =
            self.options
                .handshakes
                .acquire()
                .await
                .map_err(|e| TargetError::Connect {
                    endpoint: self.who(),
                    source: e.into(),
                })?;
        let handle = Arc::new(
            tokio::time::timeout(
                self.options.connect_timeout,
                self.connect_and_authenticate(via.as_ref()),
            )
            .await
            .map_err(|_| TargetError::Connect {
                endpoint: self.who(),
                source: format!(
                    "no SSH session within the connect timeout ({}s)",
                    self.options.connect_timeout.as_secs_f32()
                )
                .into(),
            })??,
        );
        *slot = Some(Open::new(Arc::clone(&handle), place, via));
        Ok(handle)
    }

    async fn connect_and_authenticate(
        &self,
        via: Option<&Arc<Handle<Checker>>>,
    ) -> Result<Handle<Checker>, TargetError> {
        let options = &self.options;
        let refusal = Arc::new(Mutex::new(None));
        let checker = Checker {
            host: self.address.clone(),
            port: options.port,
            known_hosts: options.known_hosts.clone(),
            policy: options.host_keys,
            refusal: Arc::clone(&refusal),
        };
        let mut config = client::Config {
            nodelay: true,
            keepalive_interval: options.keepalive,
            ..client::Config::default()
        };
        if let Ok(known) = crate::known_hosts::KnownHosts::load(&options.known_hosts) {
            let mut preferred: Vec<_> = known.algorithms_for(&self.address, options.port);
            for algorithm in config.preferred.key.iter() {
                if !preferred.contains(algorithm) {
                    preferred.push(algorithm.clone());
                }
            }
            config.preferred.key = preferred.into();
        }
        let failed = |source: Cause| TargetError::Connect {
            endpoint: self.who(),
            source,
        };
        let refused = |e: russh::Error| {
            let refused = refusal.lock().ok().and_then(|r| r.clone());
            match refused {
                Some(refusal) => failed(refusal.into()),
                None => failed(e.into()),
            }
        };
        let config = Arc::new(config);
        let mut handle = match via {
            None => {
                // sshd resets connections past its MaxStartups before the
                // banner: nothing ran, so try again after a short pause.
                let mut attempt = 0u32;
                loop {
                    let checker = Checker {
                        refusal: Arc::clone(&refusal),
                        ..checker.clone()
                    };
                    match client::connect(
                        Arc::clone(&config),
                        (self.address.as_str(), options.port),
                        checker,
                    )
                    .await
                    {
                        Ok(handle) => break handle,
                        Err(e) if attempt < 4 && reset_before_handshake(&e, &refusal) => {
                            attempt += 1;
                            let jitter = jitter_ms(40);
                            tokio::time::sleep(std::time::Duration::from_millis(
                                (50 << attempt) + jitter,
                            ))
                            .await;
                        }
                        Err(e) => return Err(refused(e)),
                    }
                }
            }
            Some(jump_handle) => {
                let jump = self
                    .via
                    .as_ref()
                    .map_or("the jump host", |j| j.name.as_str());
                let tunnel = jump_handle
                    .channel_open_direct_tcpip(
                        self.address.clone(),
                        u32::from(options.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| failed(format!("through {jump}: {e}").into()))?;
                client::connect_stream(config, tunnel.into_stream(), checker)
                    .await
                    .map_err(refused)?
            }
        };
        let mut tried = Vec::new();
        if let Some(socket) = &options.agent
            && self
                .authenticate_with_agent(&mut handle, socket, &mut tried)
                .await?
        {
            return Ok(handle);
        }
        for path in &options.identity_files {
            let key = match russh::keys::load_secret_key(
                path,
                options.passphrase.as_ref().map(|p| p.expose()),
            ) {
                Ok(key) => key,
                Err(e) => {
                    tried.push(format!("key {} (unreadable: {e})", path.display()));
                    continue;
                }
            };
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| failed(e.into()))?
                .flatten();
            let result = handle
                .authenticate_publickey(
                    options.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
                .map_err(|e| failed(e.into()))?;
            if result.success() {
                return Ok(handle);
            }
            tried.push(format!("key {}", path.display()));
        }
        if let Some(password) = &options.password {
            let result = handle
                .authenticate_password(options.user.clone(), password.expose())
                .await
                .map_err(|e| failed(e.into()))?;
            if result.success() {
                return Ok(handle);
            }
            tried.push("password".to_owned());
        }
        Err(failed(
            format!(
                "authentication refused for {}@{} (tried: {})",
                options.user,
                self.address,
                if tried.is_empty() {
                    "nothing: no identity file or password configured".to_owned()
                } else {
                    tried.join(", ")
                }
            )
            .into(),
        ))
    }

    /// Offers each of the agent's keys; true when one was accepted.
    async fn authenticate_with_agent(
        &self,
        handle: &mut Handle<Checker>,
        socket: &Path,
        tried: &mut Vec<String>,
    ) -> Result<bool, TargetError> {
        let mut agent = match AgentClient::connect_uds(socket).await {
            Ok(agent) => agent,
            Err(e) => {
                tried.push(format!("agent {} (unreachable: {e})", socket.display()));
                return Ok(false);
            }
        };
        let identities = agent.request_identities().await.unwrap_or_default();
        if identities.is_empty() {
            tried.push(format!("agent {} (no keys)", socket.display()));
        }
        for identity in identities {
            let AgentIdentity::PublicKey { key, comment } = identity else {
                continue;
            };
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten();
            match handle
                .authenticate_publickey_with(self.options.user.clone(), key, hash, &mut agent)
                .await
            {
                Ok(result) if result.success() => return Ok(true),
                Ok(_) => tried.push(format!("agent key {comment}")),
                Err(e) => tried.push(format!("agent key {comment} ({e:?})")),
            }
        }
        Ok(false)
    }

    /// Runs a shell line, streaming output to `output` (when given) and
    /// collecting it; the command's process group dies with the future.
    async fn exec(
        &self,
        line: &str,
        stdin: Input<'_>,
        output: Option<&dyn OutputSink>,
    ) -> Result<RawOutput, TargetError> {
        let lost = |started: bool, source: Cause| TargetError::ConnectionLost {
            host: self.name.clone(),
            started,
            source,
        };
        let handle = self.handle().await?;
        let mut channel = handle
            .channel_open_session()
            .await
            .map_err(|e| lost(false, e.into()))?;
        // No wrapper process: sshd already made the shell a session leader.
        let script = format!("printf '{PGID_MARK}%s\\n' \"$$\" >&2; {line}");
        channel
            .exec(true, script)
            .await
            .map_err(|e| lost(false, e.into()))?;
        let pgid = Arc::new(Mutex::new(None));
        let mut killer = RemoteKiller {
            handle: Arc::clone(&handle),
            pgid: Arc::clone(&pgid),
            armed: true,
        };
        match stdin {
            Input::Nothing => {}
            Input::Bytes(bytes) => channel
                .data(bytes)
                .await
                .map_err(|e| lost(true, e.into()))?,
            Input::Chunks(mut chunks) => {
                while let Some(chunk) = chunks.recv().await {
                    channel
                        .data(&chunk[..])
                        .await
                        .map_err(|e| lost(true, e.into()))?;
                }
            }
        }
        channel.eof().await.map_err(|e| lost(true, e.into()))?;

        let mut raw = RawOutput {
            status: ExitStatus {
                code: None,
                signal: None,
            },
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        let (mut out_lines, mut err_lines) = (LineSplitter::default(), LineSplitter::default());
        let mut ended = false;
        let mut marked = false;
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::Data { data } => {
                    raw.stdout.extend_from_slice(&data);
                    if let Some(sink) = output {
                        out_lines.feed(&data, |l| sink.line(OutputStream::Stdout, l));
                    }
                }
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    let mut rest: &[u8] = &data;
                    if !marked {
                        // The first stderr line is the process group id.
                        if let Some(pos) = data.iter().position(|b| *b == b'\n') {
                            let first = String::from_utf8_lossy(&data[..pos]);
                            if let Some(id) = first.strip_prefix(PGID_MARK) {
                                if let Ok(mut slot) = pgid.lock() {
                                    *slot = id.trim().parse().ok();
                                }
                                rest = &data[pos + 1..];
                            }
                            marked = true;
                        }
                    }
                    raw.stderr.extend_from_slice(rest);
                    if let Some(sink) = output {
                        err_lines.feed(rest, |l| sink.line(OutputStream::Stderr, l));
                    }
                }
                ChannelMsg::ExitStatus { exit_status } => {
                    raw.status.code = i32::try_from(exit_status).ok();
                    ended = true;
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    raw.status.signal = Some(format!("SIG{signal_name:?}").to_uppercase());
                    ended = true;
                }
                _ => {}
            }
        }
        killer.armed = false;
        if let Some(sink) = output {
            out_lines.finish(|l| sink.line(OutputStream::Stdout, l));
            err_lines.finish(|l| sink.line(OutputStream::Stderr, l));
        }
        if !ended {
            return Err(lost(
                true,
                "the channel closed before the command's exit status arrived".into(),
            ));
        }
        Ok(raw)
    }

    async fn exec_checked(
        &self,
        what: &'static str,
        path: &str,
        line: &str,
        stdin: Input<'_>,
    ) -> Result<RawOutput, TargetError> {
        let raw = self.exec(line, stdin, None).await?;
        if raw.status.success() {
            Ok(raw)
        } else {
            Err(self.remote_failure(what, path, &raw))
        }
    }
}

impl SshTarget {
    /// A file operation's remote script failed: its status and stderr.
    fn remote_failure(&self, op: &'static str, path: &str, raw: &RawOutput) -> TargetError {
        TargetError::Io {
            op,
            path: path.to_owned(),
            source: std::io::Error::other(format!(
                "{} on {}: {}",
                raw.status,
                self.name,
                String::from_utf8_lossy(&raw.stderr).trim()
            )),
        }
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
                let mut stdin = format!("{}\n", password.expose()).into_bytes();
                stdin.extend_from_slice(cmd.stdin.as_deref().unwrap_or_default());
                let line = cmd.to_shell_line_with_sudo(SUDO_PASSWORD_ON_STDIN);
                self.exec(&line, Input::Bytes(&stdin), Some(output)).await?
            }
            _ => {
                self.exec(
                    &cmd.to_shell_line(),
                    cmd.stdin.as_deref().into(),
                    Some(output),
                )
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

impl SshTarget {
    /// Runs a shell line and returns its output (for the sync module).
    pub(crate) async fn exec_script(
        &self,
        what: &'static str,
        path: &str,
        line: &str,
        stdin: Input<'_>,
    ) -> Result<Vec<u8>, TargetError> {
        Ok(self.exec_checked(what, path, line, stdin).await?.stdout)
    }
}
