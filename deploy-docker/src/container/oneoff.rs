//! One-off containers (`docker run --rm`, `docker-compose run`): a command
//! in a new container, its output streamed as it runs, its exit status
//! returned, the container removed afterwards. It exists beside `exec`
//! because the guides run tests and backups in a fresh container from an
//! image, not in one already running.

use std::sync::Mutex;

use deploy_core::target::{OutputSink, OutputStream};
use futures_util::StreamExt;

use super::logs::LogRequest;
use super::spec::ContainerSpec;
use crate::engine::Engine;
use crate::error::DockerError;

/// Marks one-off containers (so nothing takes them for a service's).
pub const ONEOFF_LABEL: &str = "deploy.oneoff";

/// How many lines of each stream a failure shows.
const TAIL: usize = 10;

/// What a one-off container ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// Its exit code.
    pub exit_code: i64,
    /// The last lines it wrote to stdout.
    pub stdout_tail: Vec<String>,
    /// The last lines it wrote to stderr.
    pub stderr_tail: Vec<String>,
}

impl Engine {
    /// Runs `spec` as a one-off container: created, started, its output
    /// streamed into `output` until it exits, then (with `remove`) removed,
    /// whatever happened, even when this future is dropped (a step timeout,
    /// Ctrl-C): the removal is then spawned on the runtime. A container left
    /// under the same name by an earlier one-off is removed first; any other
    /// is an error.
    pub async fn run_once(
        &self,
        spec: &ContainerSpec,
        remove: bool,
        output: &dyn OutputSink,
    ) -> Result<RunOutcome, DockerError> {
        if let Some(existing) = self.inspect(&spec.name).await? {
            if existing.labels.contains_key(ONEOFF_LABEL) && !existing.running() {
                self.remove(&spec.name).await?;
            } else {
                return Err(DockerError::Invalid(format!(
                    "{}: a container named {} already exists (a one-off needs a name of its own: \
                     leave `name` out for a fresh one)",
                    self.host(),
                    spec.name
                )));
            }
        }
        let mut spec = spec.clone();
        spec.labels
            .insert(ONEOFF_LABEL.to_owned(), "true".to_owned());
        let mut cleanup = Cleanup(remove.then(|| (self.clone(), spec.name.clone())));
        self.run(&spec).await?;
        let outcome = self.follow_to_exit(&spec.name, output).await;
        cleanup.0 = None;
        if remove {
            let removed = self.remove(&spec.name).await;
            // The command's own failure is the one worth reporting.
            if outcome.is_ok() {
                removed?;
            }
        }
        outcome
    }

    /// Streams a started container's output until it exits; its exit code.
    async fn follow_to_exit(
        &self,
        name: &str,
        output: &dyn OutputSink,
    ) -> Result<RunOutcome, DockerError> {
        let tail = Tail {
            output,
            lines: Mutex::new((Vec::new(), Vec::new())),
        };
        let follow = LogRequest {
            follow: true,
            ..LogRequest::default()
        };
        self.logs(name, &follow, &tail).await?;
        let options = bollard::query_parameters::WaitContainerOptions {
            condition: "not-running".to_owned(),
        };
        let mut waited = self.api().wait_container(name, Some(options));
        let exit_code = match waited.next().await {
            Some(Ok(response)) => response.status_code,
            // bollard turns a non-zero exit into this error.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return Err(self.error(format!("wait for container {name}"), e)),
            None => -1,
        };
        let (stdout_tail, stderr_tail) = tail
            .lines
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(RunOutcome {
            exit_code,
            stdout_tail,
            stderr_tail,
        })
    }
}

/// Removes a one-off whose run was dropped before it could.
struct Cleanup(Option<(Engine, String)>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some((engine, name)) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = engine.remove(&name).await;
            });
        }
    }
}

/// Passes lines on, keeping the last [`TAIL`] of each stream.
struct Tail<'a> {
    output: &'a dyn OutputSink,
    lines: Mutex<(Vec<String>, Vec<String>)>,
}

impl OutputSink for Tail<'_> {
    fn line(&self, stream: OutputStream, line: &str) {
        self.output.line(stream, line);
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kept = match stream {
            OutputStream::Stdout => &mut lines.0,
            OutputStream::Stderr => &mut lines.1,
        };
        kept.push(line.to_owned());
        if kept.len() > TAIL {
            kept.remove(0);
        }
    }
}
