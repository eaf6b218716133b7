//! `deploy exec -i`: one host's command on a pseudo-terminal, this
//! terminal in raw mode (so Ctrl-C, arrows and the rest go to the command,
//! not to `deploy`), window size changes passed on, the command's exit
//! status kept as `deploy`'s. On this machine (`transport = "local"`) the
//! command simply gets this terminal.

use std::io::{IsTerminal, Write};

use deploy_core::audit::AuditEntry;
use deploy_core::config::Config;
use deploy_core::target::{Terminal, TerminalInput};
use deploy_core::{Command, Plan, Target};
use tokio::io::AsyncReadExt;

use crate::args::ExecArgs;
use crate::exit;

/// Runs the exec plan's command interactively on its one host.
pub(crate) async fn run(config: &Config, plan: &Plan, args: &ExecArgs) -> Result<u8, String> {
    let hosts: Vec<String> = plan.hosts_for(0).iter().map(|h| h.name.clone()).collect();
    let host = match hosts.as_slice() {
        [one] => one.clone(),
        [] => return Err("no host selected".to_owned()),
        many => {
            return Err(format!(
                "-i runs on one host: choose it with -H HOST or --once (selected: {})",
                many.join(", ")
            ));
        }
    };
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err("-i needs a terminal (stdin and stdout)".to_owned());
    }
    let env = config
        .environment(Some(plan.environment()))
        .map_err(|e| e.with_snippet())?;
    let targets = crate::targets::for_environment(&env, &config.ssh(), config.dir())?;
    let target = targets
        .get(&host)
        .cloned()
        .ok_or_else(|| format!("no target for {host}"))?;
    let cmd = Command::new(args.command.clone());
    let status = match &args.service {
        Some(service) => {
            let name = config.container_name(service).unwrap_or(service.clone());
            in_a_container(target, &name, &args.command).await?
        }
        None if target.is_this_machine() => on_this_terminal(&cmd).await?,
        None => {
            let cmd = &cmd;
            let target = target.as_ref();
            with_raw_terminal(|terminal| async move {
                target
                    .interactive(cmd, terminal)
                    .await
                    .map_err(|e| deploy_core::cause::chain(&e))
            })
            .await?
        }
    };
    let outcome = if status.success() {
        "succeeded".to_owned()
    } else {
        status.to_string()
    };
    let mut entry = AuditEntry::for_plan("exec -i", plan, "", &outcome);
    entry.release = None;
    crate::locking::audit(&env, &targets, &entry).await;
    Ok(match (status.code, status.signal.as_deref()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(exit::FAILURE),
        // Killed by a signal: 128 + its number, as a shell says it.
        (None, Some(signal)) => match signal.trim_start_matches("SIG") {
            "HUP" | "1" => 129,
            "INT" | "2" => exit::INTERRUPTED,
            "QUIT" | "3" => 131,
            "KILL" | "9" => 137,
            "TERM" | "15" => 143,
            _ => exit::FAILURE,
        },
        (None, None) => exit::FAILURE,
    })
}

/// This machine: the command gets this terminal as it is; `deploy` waits
/// (a Ctrl-C is the command's to handle).
async fn on_this_terminal(cmd: &Command) -> Result<deploy_core::target::ExitStatus, String> {
    let Some((program, rest)) = cmd.argv.split_first() else {
        return Err("empty command".to_owned());
    };
    // Ctrl-C reaches the command (the terminal's foreground group); deploy
    // only has to outlive it.
    let ignore = tokio::spawn(async { while tokio::signal::ctrl_c().await.is_ok() {} });
    let status = tokio::process::Command::new(program)
        .args(rest)
        .status()
        .await
        .map_err(|e| format!("cannot start `{program}`: {e}"));
    ignore.abort();
    let status = status?;
    Ok(deploy_core::target::ExitStatus {
        code: status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&status).map(|s| s.to_string()),
    })
}

/// In `service`'s container on the host: the engine's TTY, this
/// terminal raw meanwhile.
async fn in_a_container(
    target: std::sync::Arc<dyn Target>,
    service: &str,
    command: &[String],
) -> Result<deploy_core::target::ExitStatus, String> {
    let chain = |e: deploy_docker::DockerError| deploy_core::cause::chain(&e);
    let endpoint = deploy_docker::engine::default_endpoint(target.as_ref()).map_err(chain)?;
    let engine = deploy_docker::Engine::new(target, endpoint)
        .negotiate()
        .await
        .map_err(chain)?;
    let container = engine
        .service_container(service, None)
        .await
        .map_err(chain)?;
    let engine = &engine;
    with_raw_terminal(|terminal| async move {
        let code = engine
            .exec_interactive(&container, command, terminal)
            .await
            .map_err(chain)?;
        Ok(deploy_core::target::ExitStatus {
            code: i32::try_from(code).ok(),
            signal: None,
        })
    })
    .await
}

/// Runs `session` on a terminal of its own, this terminal raw meanwhile:
/// keystrokes and window sizes to it, its bytes to this screen.
async fn with_raw_terminal<F, Session>(
    session: F,
) -> Result<deploy_core::target::ExitStatus, String>
where
    F: FnOnce(Terminal) -> Session,
    Session: std::future::Future<Output = Result<deploy_core::target::ExitStatus, String>>,
{
    let (rows, cols) = console::Term::stdout().size();
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".to_owned());
    let (terminal, input, mut output) = Terminal::channels(&term, cols, rows);
    let raw = RawMode::enter()?;
    let keys = {
        let input = input.clone();
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut buffer = vec![0u8; 4096];
            while let Ok(n) = stdin.read(&mut buffer).await {
                if n == 0
                    || input
                        .send(TerminalInput::Data(buffer[..n].to_vec()))
                        .await
                        .is_err()
                {
                    break;
                }
            }
        })
    };
    let resizes = tokio::spawn(async move {
        let Ok(mut changes) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while changes.recv().await.is_some() {
            let (rows, cols) = console::Term::stdout().size();
            if input
                .send(TerminalInput::Resize { cols, rows })
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let screen = tokio::spawn(async move {
        while let Some(bytes) = output.recv().await {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&bytes);
            let _ = out.flush();
        }
    });
    let status = session(terminal).await;
    keys.abort();
    resizes.abort();
    let _ = screen.await;
    drop(raw);
    status
}

/// This terminal in raw mode until dropped (then as it was).
struct RawMode {
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    fn enter() -> Result<RawMode, String> {
        use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved =
            tcgetattr(&stdin).map_err(|e| format!("cannot read the terminal's mode: {e}"))?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw)
            .map_err(|e| format!("cannot set the terminal raw: {e}"))?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.saved,
        );
    }
}
