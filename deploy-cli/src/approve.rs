//! Approval gates on a terminal: ask, and refuse when no one can answer.

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
