//! Running one command on a channel of the shared connection: stdin,
//! output split into lines as it arrives, the exit status, and the remote
//! process group killed when the command is dropped.

use std::sync::{Arc, Mutex};

use deploy_core::target::{Cause, ExitStatus, OutputSink, OutputStream, TargetError};
use russh::ChannelMsg;
use russh::client::Handle;

use crate::handler::Checker;

use super::SshTarget;

/// The stderr line a wrapped command starts with: its process group id.
pub(super) const PGID_MARK: &str = "@@deploy-pgid ";
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
pub(super) struct RawOutput {
    pub(super) status: ExitStatus,
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
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
impl SshTarget {
    /// Runs a shell line, streaming output to `output` (when given) and
    /// collecting it; the command's process group dies with the future.
    pub(super) async fn exec(
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

    pub(super) async fn exec_checked(
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

    /// A file operation's remote script failed: its status and stderr.
    pub(super) fn remote_failure(
        &self,
        op: &'static str,
        path: &str,
        raw: &RawOutput,
    ) -> TargetError {
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
