//! Container logs: one container's, or every container of a label set with
//! each line prefixed by its container's name.

use bollard::query_parameters::LogsOptions;
use deploy_core::target::{OutputSink, OutputStream};
use futures_util::StreamExt;

use super::stream::Lines;
use crate::engine::Engine;
use crate::error::DockerError;

/// Which logs to read.
///
/// # Examples
///
/// ```
/// let options = deploy_docker::container::LogRequest { tail: Some(20), ..Default::default() };
/// assert!(!options.follow);
/// ```
#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    /// Only the last N lines.
    pub tail: Option<u32>,
    /// Keep following until the container stops (or the future is dropped).
    pub follow: bool,
    /// Only lines since this Unix time.
    pub since: Option<i64>,
    /// Each line starts with the engine's RFC 3339 time (for interleaving
    /// several containers' logs in time order).
    pub timestamps: bool,
}

impl Engine {
    /// Streams the logs of every container carrying `labels` (all of a
    /// compose project's services, or one service), each line prefixed
    /// with its container's name (`web-1 | …`), as `docker-compose logs`
    /// prints them; returns how many containers there were.
    pub async fn logs_of(
        &self,
        labels: &[(&str, &str)],
        request: &LogRequest,
        output: &dyn OutputSink,
    ) -> Result<usize, DockerError> {
        let containers = self.list(labels).await?;
        let sinks: Vec<Prefixed<'_>> = containers
            .iter()
            .map(|c| Prefixed {
                name: &c.name,
                output,
            })
            .collect();
        let streams = containers
            .iter()
            .zip(&sinks)
            .map(|(c, sink)| self.logs(&c.name, request, sink));
        for result in futures_util::future::join_all(streams).await {
            result?;
        }
        Ok(containers.len())
    }

    /// Streams a container's logs into `output`.
    pub async fn logs(
        &self,
        container: &str,
        request: &LogRequest,
        output: &dyn OutputSink,
    ) -> Result<(), DockerError> {
        let options = LogsOptions {
            follow: request.follow,
            timestamps: request.timestamps,
            stdout: true,
            stderr: true,
            since: request
                .since
                .map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX)),
            tail: request
                .tail
                .map_or_else(|| "all".to_owned(), |t| t.to_string()),
            ..Default::default()
        };
        let mut stream = self.api().logs(container, Some(options));
        let mut lines = Lines::default();
        while let Some(item) = stream.next().await {
            let chunk = item.map_err(|e| self.error(format!("logs of {container}"), e))?;
            lines.feed(chunk, output);
        }
        lines.finish(output);
        Ok(())
    }
}

/// Lines of one container among several, prefixed with its name.
struct Prefixed<'a> {
    name: &'a str,
    output: &'a dyn OutputSink,
}

impl OutputSink for Prefixed<'_> {
    fn line(&self, stream: OutputStream, line: &str) {
        self.output.line(stream, &format!("{} | {line}", self.name));
    }
}
