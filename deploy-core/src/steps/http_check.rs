//! `http-check`: GET a URL until it answers as expected ("view some key
//! pages" after a deploy), from the deploying machine or from the target's
//! side through a stream the target opens.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;

use crate::step::{Applied, Description, Kind, Step, StepContext, StepError};
use crate::target::{Endpoint, OutputStream, Target};
use crate::text::Text;

/// Where an [`HttpCheck`] sends its request from.
///
/// # Examples
///
/// ```
/// use deploy_core::{Step, steps::{CheckFrom, HttpCheck}};
///
/// assert_eq!(CheckFrom::default(), CheckFrom::Deployer);
/// let check = HttpCheck::new("http://127.0.0.1:8080/health").from_target();
/// let from = check.describe().fields.into_iter().find(|(name, _)| name == "from").unwrap();
/// assert_eq!(from.1, "the target's side");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckFrom {
    /// From the deploying machine (what a visitor sees).
    #[default]
    Deployer,
    /// From the target's side, through a stream the target opens (a port
    /// bound to the server's loopback).
    Target,
}

/// Requests a URL until it answers with the expected status (and body text),
/// every `interval`, up to `attempts` tries or `timeout` in all.
///
/// From `deploy.toml`:
/// `{ http-check = { url = "https://pixel.example/", expect = 200, timeout = "60s" } }`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use deploy_core::steps::HttpCheck;
/// use deploy_core::Step;
///
/// let check = HttpCheck::new("http://127.0.0.1:8080/health")
///     .body_contains("ok")
///     .timeout(Duration::from_secs(10));
/// assert_eq!(check.describe().summary, "GET http://127.0.0.1:8080/health until it answers 200");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    #[serde(deserialize_with = "checked_url")]
    url: Text,
    #[serde(default = "default_expect")]
    expect: u16,
    body_contains: Option<Text>,
    #[serde(default = "default_interval", with = "crate::duration::serde_req")]
    interval: Duration,
    #[serde(default = "default_timeout", with = "crate::duration::serde_req")]
    timeout: Duration,
    attempts: Option<u32>,
    #[serde(default)]
    from: CheckFrom,
}

/// What a URL may look like, for error messages.
const EXPECTED_URL: &str = r#"expected an http or https URL, e.g. "https://example.com/health""#;

/// The request a URL makes: TLS or not, host, port. The one place that
/// decides which URLs a check can request (when the plan is built, through
/// [`checked_url`], and when it runs).
fn endpoint(uri: &hyper::Uri) -> Result<(bool, String, u16), String> {
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        Some(other) => return Err(format!("the scheme {other:?} is not http or https")),
        None => return Err("it has no scheme (http:// or https://)".to_owned()),
    };
    let host = match uri.host() {
        Some(host) if !host.is_empty() => host.to_owned(),
        _ => return Err("it has no host".to_owned()),
    };
    // `Uri` keeps a port it cannot read (`:80x`) and reports none: refuse
    // it rather than quietly use the scheme's.
    let authority = uri.authority().map_or("", |a| a.as_str());
    let after_user = authority
        .rsplit_once('@')
        .map_or(authority, |(_, rest)| rest);
    let port = match after_user
        .get(host.len()..)
        .and_then(|p| p.strip_prefix(':'))
    {
        None | Some("") => {
            if https {
                443
            } else {
                80
            }
        }
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p >= 1 && port.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("the port {port:?} is not a number from 1 to 65535"))?,
    };
    Ok((https, host, port))
}

/// Reads `url` and refuses, when the plan is built, what [`endpoint`] would
/// refuse at run time. A run-time value (`${host}`, `${release}`, a
/// secret) is not known yet: it stands in as `0`, valid in a host, port,
/// path or query, so only the URL around it is judged.
fn checked_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
    let text = Text::deserialize(d)?;
    let probe: String = text
        .segments()
        .iter()
        .map(|segment| match segment {
            crate::text::Segment::Literal(s) => s.as_str(),
            _ => "0",
        })
        .collect();
    probe
        .parse::<hyper::Uri>()
        .map_err(|e| e.to_string())
        .and_then(|uri| endpoint(&uri))
        .map(|_| text.clone())
        .map_err(|why| {
            serde::de::Error::custom(format!(
                "{:?} is not a URL: {why} ({EXPECTED_URL})",
                text.to_string()
            ))
        })
}

fn default_expect() -> u16 {
    200
}
fn default_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// The longest one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a body that is read (and searched).
const BODY_LIMIT: usize = 1 << 20;

impl HttpCheck {
    /// Checks `url` for a 200, every second, for up to 30 seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::HttpCheck};
    ///
    /// let d = HttpCheck::new("https://pixel.example/").describe();
    /// assert_eq!(d.summary, "GET https://pixel.example/ until it answers 200");
    /// assert_eq!(d.fields[0], ("every".to_string(), "1s, for up to 30s".to_string()));
    /// assert_eq!(d.fields[1], ("from".to_string(), "the deploying machine".to_string()));
    /// ```
    pub fn new(url: impl Into<Text>) -> Self {
        HttpCheck {
            url: url.into(),
            expect: default_expect(),
            body_contains: None,
            interval: default_interval(),
            timeout: default_timeout(),
            attempts: None,
            from: CheckFrom::Deployer,
        }
    }

    /// Expects this status instead of 200.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::HttpCheck};
    ///
    /// let check = HttpCheck::new("https://pixel.example/old-page").expect(301);
    /// assert_eq!(check.describe().summary, "GET https://pixel.example/old-page until it answers 301");
    /// ```
    pub fn expect(mut self, status: u16) -> Self {
        self.expect = status;
        self
    }

    /// Also expects the body to contain this text.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::HttpCheck};
    ///
    /// let check = HttpCheck::new("https://pixel.example/version").body_contains("1.4.2");
    /// assert_eq!(check.describe().fields[0], ("body contains".to_string(), "\"1.4.2\"".to_string()));
    /// ```
    pub fn body_contains(mut self, text: impl Into<Text>) -> Self {
        self.body_contains = Some(text.into());
        self
    }

    /// Waits this long between tries.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use deploy_core::{Step, steps::HttpCheck};
    ///
    /// let check = HttpCheck::new("https://pixel.example/").interval(Duration::from_millis(250));
    /// assert_eq!(check.describe().fields[0].1, "250ms, for up to 30s");
    /// ```
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Gives up after this long in all.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use deploy_core::{Step, steps::HttpCheck};
    ///
    /// let check = HttpCheck::new("https://pixel.example/").timeout(Duration::from_secs(120));
    /// assert_eq!(check.describe().fields[0].1, "1s, for up to 2m");
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Gives up after this many tries.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::HttpCheck};
    ///
    /// let check = HttpCheck::new("https://pixel.example/").attempts(5);
    /// assert_eq!(check.describe().fields[0].1, "1s, for up to 30s or 5 tries");
    /// ```
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts);
        self
    }

    /// Sends the request from the target's side.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::HttpCheck};
    ///
    /// let check = HttpCheck::new("http://127.0.0.1:8000/health").from_target();
    /// assert_eq!(check.describe().fields[1], ("from".to_string(), "the target's side".to_string()));
    /// ```
    pub fn from_target(mut self) -> Self {
        self.from = CheckFrom::Target;
        self
    }
}

impl Kind for HttpCheck {
    const KIND: &'static str = "http-check";
}

#[async_trait]
impl Step for HttpCheck {
    fn describe(&self) -> Description {
        Description::new(format!("GET {} until it answers {}", self.url, self.expect))
            .field_opt(
                "body contains",
                self.body_contains
                    .as_ref()
                    .map(|t| format!("{:?}", t.to_string())),
            )
            .field(
                "every",
                format!(
                    "{}, for up to {}{}",
                    crate::duration::format(self.interval),
                    crate::duration::format(self.timeout),
                    self.attempts
                        .map(|n| format!(" or {n} tries"))
                        .unwrap_or_default()
                ),
            )
            .field(
                "from",
                match self.from {
                    CheckFrom::Deployer => "the deploying machine",
                    CheckFrom::Target => "the target's side",
                },
            )
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let url = ctx.resolve(&self.url)?;
        let shown_url = ctx.masker.mask(&url);
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| StepError::Failed(format!("invalid URL {shown_url}: {e}")))?;
        let needle = self
            .body_contains
            .as_ref()
            .map(|t| ctx.resolve(t))
            .transpose()?;
        let via: &dyn Target = match self.from {
            CheckFrom::Deployer => ctx.local.as_ref(),
            CheckFrom::Target => ctx.target.as_ref(),
        };
        let started = tokio::time::Instant::now();
        let deadline = started + self.timeout;
        let mut tries = 0u32;
        loop {
            tries += 1;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let outcome =
                match tokio::time::timeout(left.min(REQUEST_TIMEOUT), get(via, &uri)).await {
                    Ok(result) => result,
                    Err(_) => Err("no answer in time".to_owned()),
                };
            let problem = match outcome {
                Ok((status, body)) if status == self.expect => match &needle {
                    Some(needle) if !body.contains(needle.as_str()) => {
                        format!(
                            "answered {status} without {:?} in the body",
                            ctx.masker.mask(needle)
                        )
                    }
                    _ => {
                        ctx.output.line(
                            OutputStream::Stdout,
                            &format!("GET {shown_url}: {status} (try {tries})"),
                        );
                        return Ok(Applied::done());
                    }
                },
                Ok((status, _)) => format!("answered {status}"),
                Err(e) => e,
            };
            let problem = ctx.masker.mask(&problem);
            ctx.output.line(
                OutputStream::Stderr,
                &format!("GET {shown_url}: {problem} (try {tries})"),
            );
            let out_of_tries = self.attempts.is_some_and(|n| tries >= n);
            let out_of_time = tokio::time::Instant::now() + self.interval >= deadline;
            if out_of_tries || out_of_time {
                // Say which condition was not met: the status alone, or the
                // status with the body.
                let wanted = match &needle {
                    Some(needle) => format!(
                        "answer {} with {:?} in the body",
                        self.expect,
                        ctx.masker.mask(needle)
                    ),
                    None => format!("answer {}", self.expect),
                };
                return Err(StepError::Failed(format!(
                    "GET {shown_url} did not {wanted} after {tries} tries in {}: last it {problem}",
                    crate::duration::format(Duration::from_millis(
                        started.elapsed().as_millis() as u64
                    )),
                )));
            }
            tokio::time::sleep(self.interval).await;
        }
    }
}

/// One GET through a stream `via` opens; returns status and body text.
async fn get(via: &dyn Target, uri: &hyper::Uri) -> Result<(u16, String), String> {
    let (https, host, port) = endpoint(uri)?;
    let stream = via
        .connect(&Endpoint::Tcp {
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
        })
        .await
        .map_err(|e| e.to_string())?;
    if https {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("invalid TLS name {host}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(tls_config()?)
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        send(tls, uri).await
    } else {
        send(stream, uri).await
    }
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn send<S>(stream: S, uri: &hyper::Uri) -> Result<(u16, String), String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, "deploy-http-check")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), BODY_LIMIT)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::HttpCheck;

    fn refusal(url: &str) -> String {
        toml::from_str::<HttpCheck>(&format!("url = {url:?}"))
            .expect_err("refused")
            .message()
            .to_owned()
    }

    #[test]
    fn urls_are_checked_as_a_run_would_request_them() {
        for url in [
            "http://127.0.0.1:8080/health",
            "https://pixel.example/",
            "http://[::1]:8000/",
            "http://${host}:8080/",
            "https://pixel.example/${release}?token=${secret.token}",
        ] {
            assert!(
                toml::from_str::<HttpCheck>(&format!("url = {url:?}")).is_ok(),
                "{url}"
            );
        }
        assert_eq!(
            refusal("http://exa mple/"),
            r#""http://exa mple/" is not a URL: invalid uri character (expected an http or https URL, e.g. "https://example.com/health")"#
        );
        assert!(
            refusal("ftp://pixel.example/").contains(r#"the scheme "ftp" is not http or https"#)
        );
        assert!(refusal("pixel.example/health").contains("is not a URL"));
        assert!(
            refusal("http://web1:80x/")
                .contains(r#"the port "80x" is not a number from 1 to 65535"#)
        );
        assert!(refusal("http://[::1]:0/").contains(r#"the port "0""#));
        assert!(
            refusal("http://${host}:${secret.port}x/")
                .contains(r#""http://{host}:[REDACTED]x/" is not a URL"#)
        );
    }
}
