//! A command in a running container on a pseudo-terminal (`deploy exec -i
//! --service web -- ./manage.py shell`): the engine's exec with a TTY,
//! keystrokes in, the terminal's bytes out, resized with the caller's
//! window, its exit code at the end. And which container a service names.

use deploy_core::target::{Terminal, TerminalInput};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::engine::Engine;
use crate::error::DockerError;

impl Engine {
    /// The running container of compose service `service` (of `project`
    /// when given); without a project, a running container of that very
    /// name will do (a `[containers]` deploy).
    pub async fn service_container(
        &self,
        service: &str,
        project: Option<&str>,
    ) -> Result<String, DockerError> {
        let mut labels = vec![(crate::compose::SERVICE_LABEL, service)];
        if let Some(project) = project {
            labels.push((crate::compose::PROJECT_LABEL, project));
        }
        let labelled = self
            .list(&labels)
            .await?
            .into_iter()
            .find(crate::container::ContainerInfo::running)
            .map(|c| c.name);
        let named = match (&labelled, project) {
            (None, None) => self
                .inspect(service)
                .await?
                .filter(crate::container::ContainerInfo::running)
                .map(|c| c.name),
            _ => None,
        };
        labelled.or(named).ok_or_else(|| DockerError::NotFound {
            host: self.host().to_owned(),
            what: format!("running container of service {service}"),
        })
    }

    /// Runs `command` in `container` on a TTY of the engine's, fed by
    /// `terminal`; returns its exit code.
    pub async fn exec_interactive(
        &self,
        container: &str,
        command: &[String],
        mut terminal: Terminal,
    ) -> Result<i64, DockerError> {
        let what = format!("exec -it `{}` in {container}", command.join(" "));
        let config = bollard::models::ExecConfig {
            cmd: Some(command.to_vec()),
            env: Some(vec![format!("TERM={}", terminal.term)]),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(true),
            ..Default::default()
        };
        let created = self
            .api()
            .create_exec(container, config)
            .await
            .map_err(|e| self.error(&what, e))?;
        let options = bollard::exec::StartExecOptions {
            detach: false,
            tty: true,
            output_capacity: None,
        };
        let started = self
            .api()
            .start_exec(&created.id, Some(options))
            .await
            .map_err(|e| self.error(&what, e))?;
        let bollard::exec::StartExecResults::Attached {
            output: mut stream,
            mut input,
        } = started
        else {
            return Err(DockerError::Api {
                host: self.host().to_owned(),
                what,
                message: "the engine did not attach the exec".to_owned(),
            });
        };
        let resize = |cols: u16, rows: u16| {
            self.api().resize_exec(
                &created.id,
                bollard::exec::ResizeExecOptions {
                    height: rows,
                    width: cols,
                },
            )
        };
        // The TTY exists once the exec started; a failed resize only
        // leaves the engine's default size.
        let _ = resize(terminal.cols, terminal.rows).await;
        let mut input_open = true;
        loop {
            tokio::select! {
                typed = terminal.input.recv(), if input_open => match typed {
                    Some(TerminalInput::Data(bytes)) => {
                        if input.write_all(&bytes).await.is_err() {
                            input_open = false;
                        }
                    }
                    Some(TerminalInput::Resize { cols, rows }) => {
                        let _ = resize(cols, rows).await;
                    }
                    None => {
                        input_open = false;
                        let _ = input.shutdown().await;
                    }
                },
                shown = stream.next() => match shown {
                    Some(Ok(output)) => {
                        let _ = terminal.output.send(output.into_bytes().to_vec()).await;
                    }
                    Some(Err(e)) => return Err(self.error(&what, e)),
                    None => break,
                },
            }
        }
        self.exit_code(&created.id, &what).await
    }
}
