//! Proxies that a blue/green replacement switches: nginx (write the
//! upstream file atomically, `nginx -t`, reload; the old file is put back if
//! the test fails) and Caddy (its admin API, which swaps config without
//! dropping connections). Either runs on the host (reached through its
//! [`Target`]) or, for nginx, in a container (reached through the engine).

use std::time::Duration;

use deploy_core::target::{Endpoint, OutputSink, OutputStream};
use deploy_core::{Command, Target};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::engine::Engine;
use crate::error::DockerError;

/// A proxy in front of an app's containers.
///
/// # Examples
///
/// ```
/// use deploy_docker::proxy::Proxy;
///
/// let proxy: Proxy = toml::from_str(r#"nginx = { upstream_file = "/etc/nginx/conf.d/web.conf", upstream = "web" }"#).unwrap();
/// assert_eq!(proxy.to_string(), "nginx upstream web in /etc/nginx/conf.d/web.conf");
/// let proxy: Proxy = toml::from_str(r#"caddy = { id = "web-upstreams" }"#).unwrap();
/// assert_eq!(proxy.to_string(), "caddy 127.0.0.1:2019 @id web-upstreams");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Proxy {
    /// nginx, with an `upstream` block in a file of its own that its
    /// config includes.
    Nginx {
        /// The file holding `upstream NAME { server …; }`.
        upstream_file: String,
        /// The upstream's name.
        upstream: String,
        /// How to call nginx (`-t` and `-s reload` are appended).
        #[serde(default = "default_nginx")]
        command: Vec<String>,
        /// When nginx runs in a container: its name.
        container: Option<String>,
    },
    /// Caddy, through its admin API: a `reverse_proxy` handler tagged
    /// `"@id": ID` gets its `upstreams` replaced.
    Caddy {
        /// The admin API's address on the host.
        #[serde(default = "default_caddy_admin")]
        admin: String,
        /// The `@id` of the `reverse_proxy` handler.
        id: String,
    },
}

fn default_nginx() -> Vec<String> {
    vec!["nginx".to_owned()]
}

fn default_caddy_admin() -> String {
    "127.0.0.1:2019".to_owned()
}

impl std::fmt::Display for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proxy::Nginx {
                upstream_file,
                upstream,
                container,
                ..
            } => {
                write!(f, "nginx upstream {upstream} in {upstream_file}")?;
                if let Some(container) = container {
                    write!(f, " (in container {container})")?;
                }
                Ok(())
            }
            Proxy::Caddy { admin, id } => write!(f, "caddy {admin} @id {id}"),
        }
    }
}

/// The nginx `upstream` block for these servers.
///
/// # Examples
///
/// ```
/// let text = deploy_docker::proxy::nginx_upstream("web", &["172.18.0.3:8080".into()]);
/// assert!(text.contains("upstream web {\n    server 172.18.0.3:8080;\n    keepalive 16;\n}"));
/// ```
pub fn nginx_upstream(name: &str, servers: &[String]) -> String {
    let mut text =
        format!("# Written by deploy: the servers {name} sends to.\nupstream {name} {{\n");
    for server in servers {
        text.push_str(&format!("    server {server};\n"));
    }
    // Reuse connections to the app (needs `proxy_http_version 1.1` and an
    // empty `Connection` header in the location, as nginx documents).
    text.push_str("    keepalive 16;\n}\n");
    text
}

fn proxy_error(target: &dyn Target, what: String, message: impl std::fmt::Display) -> DockerError {
    DockerError::Api {
        host: target.name().to_owned(),
        what,
        message: message.to_string(),
    }
}

impl Proxy {
    /// Points the proxy at `servers` (`ip:port` each).
    pub async fn switch(
        &self,
        target: &dyn Target,
        engine: &Engine,
        servers: &[String],
        output: &dyn OutputSink,
    ) -> Result<(), DockerError> {
        match self {
            Proxy::Nginx {
                upstream_file,
                upstream,
                command,
                container: None,
            } => {
                let text = nginx_upstream(upstream, servers);
                let previous = target
                    .read_file(upstream_file)
                    .await
                    .map_err(|e| proxy_error(target, format!("read {upstream_file}"), e))?;
                target
                    .write_file(upstream_file, text.as_bytes(), Some(0o644))
                    .await
                    .map_err(|e| proxy_error(target, format!("write {upstream_file}"), e))?;
                let run = |args: &[&str]| {
                    let mut argv = command.clone();
                    argv.extend(args.iter().map(|a| (*a).to_owned()));
                    Command::new(argv)
                };
                // Whatever fails, the file goes back to what nginx runs with.
                let put_back = || async {
                    match &previous {
                        Some(previous) => target
                            .write_file(upstream_file, previous, Some(0o644))
                            .await
                            .map_err(|e| e.to_string()),
                        None => {
                            capture(target, &Command::new(["rm", "-f", upstream_file.as_str()]))
                                .await
                                .map_err(|e| e.to_string())?
                        }
                    }
                };
                let mut failure = None;
                if let Err(message) = capture(target, &run(&["-t"])).await? {
                    failure = Some(("nginx -t", message));
                } else if let Err(message) = capture(target, &run(&["-s", "reload"])).await? {
                    failure = Some(("nginx -s reload", message));
                }
                if let Some((what, message)) = failure {
                    let restored = match put_back().await {
                        Ok(()) => "the old upstream file is back".to_owned(),
                        Err(e) => format!("putting the old file back failed: {e}"),
                    };
                    return Err(proxy_error(
                        target,
                        format!("{what} with the new {upstream_file} ({restored})"),
                        message,
                    ));
                }
                output.line(
                    OutputStream::Stdout,
                    &format!("nginx upstream {upstream} -> {}", servers.join(", ")),
                );
                Ok(())
            }
            Proxy::Nginx {
                upstream_file,
                upstream,
                command,
                container: Some(container),
            } => {
                let text = nginx_upstream(upstream, servers);
                let nginx = command.join(" ");
                // Whatever fails, the file goes back to what nginx runs with.
                let script = format!(
                    "set -e; old=\"$1.deploy-old\"; rm -f \"$old\"; \
                     if [ -e \"$1\" ]; then cp -p \"$1\" \"$old\"; fi; \
                     back() {{ if [ -e \"$old\" ]; then mv \"$old\" \"$1\"; else rm -f \"$1\"; fi; }}; \
                     printf '%s' \"$2\" > \"$1.deploy-new\"; mv \"$1.deploy-new\" \"$1\"; \
                     if ! {nginx} -t; then back \"$1\"; exit 1; fi; \
                     if ! {nginx} -s reload; then back \"$1\"; exit 1; fi; \
                     rm -f \"$old\""
                );
                let argv: Vec<String> = vec![
                    "sh".into(),
                    "-c".into(),
                    script,
                    "sh".into(),
                    upstream_file.clone(),
                    text,
                ];
                let outcome = engine
                    .exec(
                        container,
                        &argv,
                        &Default::default(),
                        &deploy_core::target::DiscardOutput,
                    )
                    .await?;
                if outcome.exit_code != 0 {
                    return Err(proxy_error(
                        target,
                        format!("switch nginx in container {container}"),
                        outcome.stderr_tail.join(" / "),
                    ));
                }
                output.line(
                    OutputStream::Stdout,
                    &format!("nginx upstream {upstream} -> {}", servers.join(", ")),
                );
                Ok(())
            }
            Proxy::Caddy { admin, id } => {
                let dials: Vec<serde_json::Value> = servers
                    .iter()
                    .map(|s| serde_json::json!({ "dial": s }))
                    .collect();
                let body = serde_json::Value::Array(dials).to_string();
                caddy_request(
                    target,
                    admin,
                    "PATCH",
                    &format!("/id/{id}/upstreams"),
                    &body,
                )
                .await?;
                output.line(
                    OutputStream::Stdout,
                    &format!("caddy @id {id} upstreams -> {}", servers.join(", ")),
                );
                Ok(())
            }
        }
    }
}

/// Runs a command on the target; `Err(stderr)` when it fails.
async fn capture(
    target: &dyn Target,
    command: &Command,
) -> Result<Result<(), String>, DockerError> {
    #[derive(Default)]
    struct Stderr(std::sync::Mutex<Vec<String>>);
    impl OutputSink for Stderr {
        fn line(&self, stream: OutputStream, line: &str) {
            if stream == OutputStream::Stderr
                && let Ok(mut lines) = self.0.lock()
            {
                lines.push(line.to_owned());
            }
        }
    }
    let stderr = Stderr::default();
    let status = target
        .run(command, &stderr)
        .await
        .map_err(|e| proxy_error(target, command.to_shell_line().0, e))?;
    if status.success() {
        Ok(Ok(()))
    } else {
        let lines = stderr.0.lock().map(|l| l.join(" / ")).unwrap_or_default();
        Ok(Err(format!("{status}: {lines}")))
    }
}

/// One request to Caddy's admin API, through the target.
async fn caddy_request(
    target: &dyn Target,
    admin: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Result<String, DockerError> {
    let (host, port) = admin
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| {
            DockerError::Invalid(format!("caddy admin `{admin}`: expected HOST:PORT"))
        })?;
    let what = format!("caddy admin {method} {path}");
    let mut stream = target
        .connect(&Endpoint::Tcp { host, port })
        .await
        .map_err(|e| proxy_error(target, what.clone(), e))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {admin}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .map_err(|_| proxy_error(target, what.clone(), "no answer in 30s"))?
        .map_err(|e| proxy_error(target, what.clone(), e))?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).unwrap_or("");
    if status.starts_with('2') {
        Ok(text)
    } else {
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).trim();
        Err(proxy_error(target, what, format!("HTTP {status}: {body}")))
    }
}
