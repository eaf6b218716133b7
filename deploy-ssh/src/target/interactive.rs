//! An interactive session on a pseudo-terminal of the host
//! ([`Target::interactive`](deploy_core::Target::interactive)): `pty-req`
//! with the caller's terminal type and size, the command, then keystrokes
//! and window changes one way and the terminal's bytes the other, until
//! the command's exit status arrives.

use deploy_core::Command;
use deploy_core::command::{SUDO_NON_INTERACTIVE, quote, quote_argv};
use deploy_core::target::{Cause, ExitStatus, TargetError, Terminal, TerminalInput};
use russh::ChannelMsg;

use super::SshTarget;

impl SshTarget {
    pub(super) async fn interactive_session(
        &self,
        cmd: &Command,
        mut terminal: Terminal,
    ) -> Result<ExitStatus, TargetError> {
        if !cmd.env.is_empty() || cmd.stdin.is_some() {
            // On a terminal, stdin is the keyboard: values sent there
            // would be echoed.
            return Err(TargetError::Unsupported(
                "an interactive command takes no env or stdin (its stdin is the terminal)".into(),
            ));
        }
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
        channel
            .request_pty(
                true,
                &terminal.term,
                u32::from(terminal.cols),
                u32::from(terminal.rows),
                0,
                0,
                &[],
            )
            .await
            .map_err(|e| lost(false, e.into()))?;
        let mut argv = Vec::new();
        if cmd.sudo {
            argv.extend(SUDO_NON_INTERACTIVE.iter().map(|s| (*s).to_owned()));
        }
        argv.extend(cmd.argv.iter().cloned());
        let line = match &cmd.cwd {
            Some(dir) => format!("cd {} && exec {}", quote(dir), quote_argv(&argv)),
            None => format!("exec {}", quote_argv(&argv)),
        };
        channel
            .exec(true, line)
            .await
            .map_err(|e| lost(false, e.into()))?;
        let mut status = ExitStatus {
            code: None,
            signal: None,
        };
        let mut ended = false;
        let mut input_open = true;
        loop {
            tokio::select! {
                input = terminal.input.recv(), if input_open => match input {
                    Some(TerminalInput::Data(bytes)) => channel
                        .data(&bytes[..])
                        .await
                        .map_err(|e| lost(true, e.into()))?,
                    Some(TerminalInput::Resize { cols, rows }) => channel
                        .window_change(u32::from(cols), u32::from(rows), 0, 0)
                        .await
                        .map_err(|e| lost(true, e.into()))?,
                    None => {
                        input_open = false;
                        let _ = channel.eof().await;
                    }
                },
                message = channel.wait() => match message {
                    Some(ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. }) => {
                        // The caller gone is not the command's failure.
                        let _ = terminal.output.send(data.to_vec()).await;
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        status.code = i32::try_from(exit_status).ok();
                        ended = true;
                    }
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                        status.signal = Some(format!("SIG{signal_name:?}").to_uppercase());
                        ended = true;
                    }
                    Some(_) => {}
                    None => break,
                },
            }
        }
        if ended {
            Ok(status)
        } else {
            Err(lost(
                true,
                "the session closed before the command's exit status arrived".into(),
            ))
        }
    }
}
