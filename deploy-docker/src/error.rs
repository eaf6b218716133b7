//! [`DockerError`]: what went wrong with an engine, named by host and object.
//!
//! bollard reports HTTP statuses and engine messages; these say which host,
//! which image or container, and what to do, in one line.

use deploy_core::step::StepError;

/// A failed engine operation.
///
/// # Examples
///
/// ```
/// use deploy_docker::DockerError;
///
/// let e = DockerError::NotFound { host: "web1".into(), what: "image app:v9".into() };
/// assert_eq!(e.to_string(), "web1: no such image app:v9");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DockerError {
    /// The engine's socket could not be reached.
    #[error(
        "{host}: cannot reach the Docker engine at {address} (is the engine running \
         there, and may this user open its socket? members of the `docker` group may)"
    )]
    Unreachable {
        /// The host.
        host: String,
        /// The socket or address.
        address: String,
        /// What the transport said.
        #[source]
        cause: bollard::errors::Error,
    },
    /// The socket is there but this user may not open it.
    #[error(
        "{host}: permission denied on the Docker engine's socket {address}: \
         add the user to the `docker` group or name a socket it may open"
    )]
    PermissionDenied {
        /// The host.
        host: String,
        /// The socket.
        address: String,
    },
    /// `DOCKER_HOST` or an `engine` setting that cannot be used.
    #[error("engine address `{value}`: {reason}")]
    BadAddress {
        /// The value given.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// An image, container or network that does not exist.
    #[error("{host}: no such {what}")]
    NotFound {
        /// The host.
        host: String,
        /// What was looked for ("image app:v9").
        what: String,
    },
    /// The engine refused or failed an operation.
    #[error("{host}: {what}: {message}")]
    Api {
        /// The host.
        host: String,
        /// The operation and its object.
        what: String,
        /// The engine's message.
        message: String,
    },
    /// A build's own error (a failing `RUN`, a missing file).
    #[error("{host}: building {tag} failed: {message}")]
    Build {
        /// The host.
        host: String,
        /// The tag being built.
        tag: String,
        /// The builder's error line.
        message: String,
    },
    /// A container that never became healthy.
    #[error("{host}: container {container} did not become healthy: {detail}")]
    Unhealthy {
        /// The host.
        host: String,
        /// The container.
        container: String,
        /// The last health state and check output.
        detail: String,
    },
    /// A one-off container's command exited non-zero.
    #[error(
        "{host}: {what} exited with code {code}{}{}",
        tail("stdout", stdout_tail),
        tail("stderr", stderr_tail)
    )]
    Exited {
        /// The host.
        host: String,
        /// The command and where it ran.
        what: String,
        /// Its exit code.
        code: i64,
        /// The last lines of its stdout.
        stdout_tail: Vec<String>,
        /// The last lines of its stderr.
        stderr_tail: Vec<String>,
    },
    /// Something given that cannot be used (a bad tag, a bad port).
    #[error("{0}")]
    Invalid(String),
    /// Reading local files (a build context, credentials, an env file).
    #[error("{path}: {message}")]
    Local {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Reading files on a host (a compose file, a build context there).
    #[error("{host}: {path}: {message}")]
    OnHost {
        /// The host.
        host: String,
        /// The file or directory there.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// `; stdout: a / b` for a non-empty tail.
fn tail(stream: &str, lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; {stream}: {}", lines.join(" / "))
    }
}

impl DockerError {
    /// Classifies a bollard error about `what` on `host`.
    pub(crate) fn from_api(
        host: &str,
        address: &str,
        what: String,
        e: bollard::errors::Error,
    ) -> DockerError {
        use bollard::errors::Error as B;
        match e {
            B::DockerResponseServerError {
                status_code: 404,
                message,
            } if !message.contains("pull access denied") => DockerError::NotFound {
                host: host.to_owned(),
                what: format!("{what} ({message})"),
            },
            B::DockerResponseServerError { message, .. } => DockerError::Api {
                host: host.to_owned(),
                what,
                message,
            },
            B::IOError { err } if err.kind() == std::io::ErrorKind::PermissionDenied => {
                DockerError::PermissionDenied {
                    host: host.to_owned(),
                    address: address.to_owned(),
                }
            }
            B::IOError { err } => DockerError::Unreachable {
                host: host.to_owned(),
                address: address.to_owned(),
                cause: B::IOError { err },
            },
            other => DockerError::Api {
                host: host.to_owned(),
                what,
                message: other.to_string(),
            },
        }
    }
}

impl From<DockerError> for StepError {
    fn from(e: DockerError) -> Self {
        StepError::Source(Box::new(e))
    }
}

/// `Ok(())` for a 404 (or, with `also`, that status too): removing what is
/// already gone, stopping what is already stopped.
pub(crate) fn gone_is_fine(
    result: Result<(), bollard::errors::Error>,
    also: Option<u16>,
) -> Result<(), bollard::errors::Error> {
    match result {
        Err(bollard::errors::Error::DockerResponseServerError { status_code, .. })
            if status_code == 404 || Some(status_code) == also =>
        {
            Ok(())
        }
        other => other,
    }
}

/// `None` for a 404: looking up what does not exist.
pub(crate) fn found<T>(
    result: Result<T, bollard::errors::Error>,
) -> Result<Option<T>, bollard::errors::Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}
