//! Running a command in a running container, its output streamed.

use std::collections::BTreeMap;
use std::time::Duration;

use deploy_core::target::OutputSink;
use futures_util::StreamExt;

use super::stream::Lines;
use crate::engine::Engine;
use crate::error::DockerError;

/// What an exec in a container ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// Its exit code.
    pub exit_code: i64,
    /// The last lines of its stdout (for errors).
    pub stdout_tail: Vec<String>,
    /// The last lines of its stderr (for errors).
    pub stderr_tail: Vec<String>,
}

impl Engine {
    /// Runs a command in a running container, streaming its output; returns
    /// its exit code.
    pub async fn exec(
        &self,
        container: &str,
        command: &[String],
        env: &BTreeMap<String, String>,
        output: &dyn OutputSink,
    ) -> Result<ExecOutcome, DockerError> {
        let what = format!("exec `{}` in {container}", command.join(" "));
        let config = bollard::models::ExecConfig {
            cmd: Some(command.to_vec()),
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self
            .api()
            .create_exec(container, config)
            .await
            .map_err(|e| self.error(&what, e))?;
        let started = self
            .api()
            .start_exec(&created.id, None)
            .await
            .map_err(|e| self.error(&what, e))?;
        let mut lines = Lines::default();
        if let bollard::exec::StartExecResults::Attached {
            output: mut stream, ..
        } = started
        {
            while let Some(item) = stream.next().await {
                let chunk = item.map_err(|e| self.error(&what, e))?;
                lines.feed(chunk, output);
            }
            lines.finish(output);
        }
        let (stdout_tail, stderr_tail) = lines.tails();
        Ok(ExecOutcome {
            exit_code: self.exit_code(&created.id, &what).await?,
            stdout_tail,
            stderr_tail,
        })
    }
}

/// What an exec whose stdout is data (a `pg_dump` archive) ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecBytes {
    /// Its exit code.
    pub exit_code: i64,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// The last lines of its stderr (for errors).
    pub stderr_tail: Vec<String>,
}

impl Engine {
    /// Runs a command in a running container, `stdin` fed to it (then
    /// closed), its stdout kept as bytes and its stderr lines passed to
    /// `output`; returns its exit code.
    pub async fn exec_bytes(
        &self,
        container: &str,
        command: &[String],
        env: &BTreeMap<String, String>,
        stdin: Option<&[u8]>,
        output: &dyn OutputSink,
    ) -> Result<ExecBytes, DockerError> {
        use tokio::io::AsyncWriteExt;
        let what = format!("exec `{}` in {container}", command.join(" "));
        let config = bollard::models::ExecConfig {
            cmd: Some(command.to_vec()),
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            attach_stdin: Some(stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self
            .api()
            .create_exec(container, config)
            .await
            .map_err(|e| self.error(&what, e))?;
        let started = self
            .api()
            .start_exec(&created.id, None)
            .await
            .map_err(|e| self.error(&what, e))?;
        let mut stdout = Vec::new();
        let mut lines = Lines::default();
        if let bollard::exec::StartExecResults::Attached {
            output: mut stream,
            mut input,
        } = started
        {
            let feed = async {
                if let Some(bytes) = stdin {
                    // A command that stops reading early ends the feed:
                    // its exit code says why.
                    let _ = input.write_all(bytes).await;
                }
                let _ = input.shutdown().await;
            };
            let read = async {
                while let Some(item) = stream.next().await {
                    match item.map_err(|e| self.error(&what, e))? {
                        bollard::container::LogOutput::StdOut { message }
                        | bollard::container::LogOutput::Console { message } => {
                            stdout.extend_from_slice(&message);
                        }
                        other => lines.feed(other, output),
                    }
                }
                lines.finish(output);
                Ok::<(), DockerError>(())
            };
            let ((), read) = tokio::join!(feed, read);
            read?;
        }
        let (_, stderr_tail) = lines.tails();
        Ok(ExecBytes {
            exit_code: self.exit_code(&created.id, &what).await?,
            stdout,
            stderr_tail,
        })
    }
}

impl Engine {
    /// The exit code of exec `id` once the engine has recorded it (its
    /// output ends a moment before); -1 when it never says.
    pub(crate) async fn exit_code(&self, id: &str, what: &str) -> Result<i64, DockerError> {
        let mut inspect = self
            .api()
            .inspect_exec(id)
            .await
            .map_err(|e| self.error(what, e))?;
        for _ in 0..50 {
            if inspect.running != Some(true) && inspect.exit_code.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            inspect = self
                .api()
                .inspect_exec(id)
                .await
                .map_err(|e| self.error(what, e))?;
        }
        Ok(inspect.exit_code.unwrap_or(-1))
    }
}
