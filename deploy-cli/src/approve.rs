//! Asking a person on a terminal: approval gates, and parameters with a
//! `prompt`; refused when no one can answer.

use std::io::{BufRead, IsTerminal, Write};

use async_trait::async_trait;
use deploy_core::step::Approver;
use indicatif::MultiProgress;

pub(crate) struct TerminalApprover {
    pub(crate) pre_approved: bool,
    pub(crate) bars: Option<MultiProgress>,
}

#[async_trait]
impl Approver for TerminalApprover {
    async fn approve(&self, prompt: &str) -> Result<(), String> {
        if self.pre_approved {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return Err(format!(
                "{prompt} needs approval and no one is at a terminal (pass --yes to approve in advance)"
            ));
        }
        let prompt = prompt.to_owned();
        let bars = self.bars.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let ask = || {
                eprint!("{prompt} [y/N] ");
                let _ = std::io::stderr().flush();
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map(|_| line)
            };
            match bars {
                Some(bars) => bars.suspend(ask),
                None => ask(),
            }
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            Ok(())
        } else {
            Err("refused at the prompt".to_owned())
        }
    }
}

/// Asks for a parameter with a `prompt` (without echo when it is a
/// secret); an error naming it when no one is at a terminal.
pub(crate) fn ask_param(ask: &deploy_core::config::ParamPrompt) -> Result<String, String> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(format!(
            "parameter `{}` ({:?}) is not given and no one is at a terminal to ask (pass {}=VALUE)",
            ask.name, ask.prompt, ask.name
        ));
    }
    let prompt = format!("{}: ", ask.prompt);
    if ask.secret {
        return rpassword::prompt_password(prompt)
            .map_err(|e| format!("cannot read `{}`: {e}", ask.name));
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read `{}`: {e}", ask.name))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}
