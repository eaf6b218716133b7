//! `[ssh]`: how the SSH transport connects, read and checked when
//! `deploy.toml` loads, so `deploy plan` refuses a value `deploy run` would
//! trip over. The transport (`deploy-ssh`, the CLI's targets) takes these
//! typed values as they are; nothing is parsed again at run time.

use std::time::Duration;

use serde::Deserialize;

use super::address::{self, HostAddress};

/// What to do with a host key that `known_hosts` does not vouch for
/// (`deploy.toml`'s `host_keys`; `deploy-ssh` re-exports it).
///
/// # Examples
///
/// ```
/// use deploy_core::config::HostKeyPolicy;
///
/// assert_eq!(HostKeyPolicy::default(), HostKeyPolicy::Strict);
/// assert_eq!(HostKeyPolicy::parse("off").unwrap().as_str(), "off");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Unknown or changed key: refuse, run nothing (the default).
    #[default]
    Strict,
    /// Trust an unknown host on first use and append its key; refuse a
    /// changed one.
    AcceptNew,
    /// Check nothing (warned on every run).
    Off,
}

impl HostKeyPolicy {
    /// Reads `strict`, `accept-new` or `off`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::config::HostKeyPolicy;
    ///
    /// assert_eq!(HostKeyPolicy::parse("accept-new"), Ok(HostKeyPolicy::AcceptNew));
    /// assert_eq!(
    ///     HostKeyPolicy::parse("yes").unwrap_err(),
    ///     r#""yes" is not a host-key policy (expected "strict", "accept-new" or "off")"#,
    /// );
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "strict" => Ok(HostKeyPolicy::Strict),
            "accept-new" => Ok(HostKeyPolicy::AcceptNew),
            "off" => Ok(HostKeyPolicy::Off),
            other => Err(format!(
                r#"{other:?} is not a host-key policy (expected "strict", "accept-new" or "off")"#
            )),
        }
    }

    /// The name `deploy.toml` writes.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::config::HostKeyPolicy;
    /// assert_eq!(HostKeyPolicy::AcceptNew.as_str(), "accept-new");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            HostKeyPolicy::Strict => "strict",
            HostKeyPolicy::AcceptNew => "accept-new",
            HostKeyPolicy::Off => "off",
        }
    }
}

/// `[ssh]`: how the SSH transport connects (read by `deploy-ssh`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use deploy_core::{Config, config::{HostKeyPolicy, SshSettings}};
///
/// let toml = "[ssh]\nuser = \"deploy\"\nproxy_jump = \"bastion.example\"\nhost_keys = \"accept-new\"\nconnect_timeout = \"5s\"\n";
/// let ssh = Config::parse("deploy.toml", ".", toml).unwrap().ssh();
/// assert_eq!(ssh, SshSettings {
///     user: Some("deploy".into()),
///     proxy_jump: Some("bastion.example".into()),
///     host_keys: Some(HostKeyPolicy::AcceptNew),
///     connect_timeout: Some(Duration::from_secs(5)),
///     ..SshSettings::default()
/// });
/// ```
///
/// A value the transport could not use is refused where it is written:
///
/// ```
/// use deploy_core::Config;
///
/// let err = Config::parse("deploy.toml", ".", "[ssh]\nhandshakes = 0\n").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "deploy.toml:2:14: [ssh] handshakes: 0 is too few (expected a whole number from 1, e.g. 8)",
/// );
/// ```
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    /// Remote user (else from ssh_config, else the local user).
    pub user: Option<String>,
    /// Port (else from ssh_config, else 22).
    #[serde(default, deserialize_with = "port")]
    pub port: Option<u16>,
    /// Host-key policy: `strict` (default), `accept-new`, or `off`.
    #[serde(default, deserialize_with = "host_keys")]
    pub host_keys: Option<HostKeyPolicy>,
    /// Identity files to offer.
    #[serde(default)]
    pub identity_files: Vec<String>,
    /// Connect timeout, written like `10s`.
    #[serde(
        default,
        deserialize_with = "connect_timeout",
        serialize_with = "crate::duration::serde_opt::serialize"
    )]
    pub connect_timeout: Option<Duration>,
    /// Jump host(s), as in ssh_config's `ProxyJump`: `user@jump1:2222,jump2`
    /// (each hop a [`HostAddress`]).
    #[serde(default, deserialize_with = "proxy_jump")]
    pub proxy_jump: Option<String>,
    /// The known_hosts file (default `~/.ssh/known_hosts`).
    pub known_hosts: Option<String>,
    /// The ssh_config file hosts are resolved through (default
    /// `~/.ssh/config`); settings here win over it.
    pub config: Option<String>,
    /// SSH handshakes in flight at once (default 8: under sshd's default
    /// `MaxStartups` of a shared jump host; a fleet of separate hosts can
    /// take more). At least 1.
    #[serde(default, deserialize_with = "handshakes")]
    pub handshakes: Option<usize>,
    /// Connections open at once (default: the open-file limit less 256);
    /// idle ones are closed to make room. At least 1.
    #[serde(default, deserialize_with = "max_connections")]
    pub max_connections: Option<usize>,
}

/// The hops of a `proxy_jump` value, in order (empty hops skipped).
///
/// # Examples
///
/// ```
/// use deploy_core::config::ssh_jump_hops;
///
/// let hops = ssh_jump_hops("deploy@jump1:2222, jump2").unwrap();
/// assert_eq!(hops.iter().map(|(hop, a)| (*hop, a.name.as_str())).collect::<Vec<_>>(), [("deploy@jump1:2222", "jump1"), ("jump2", "jump2")]);
/// assert_eq!(
///     ssh_jump_hops("jump1:ssh").unwrap_err(),
///     r#"hop "jump1:ssh" is not a host: the port "ssh" is not a number (expected "name", "name:port" or "user@name:port", with a port from 1 to 65535)"#,
/// );
/// assert!(ssh_jump_hops(" , ").is_err());
/// ```
pub fn ssh_jump_hops(spec: &str) -> Result<Vec<(&str, HostAddress)>, String> {
    let hops = spec
        .split(',')
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .map(|hop| {
            HostAddress::parse(hop)
                .map(|address| (hop, address))
                .map_err(|why| format!("hop {hop:?} is not a host: {why} ({})", address::EXPECTED))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if hops.is_empty() {
        return Err(format!(
            "{spec:?} names no host (expected e.g. \"bastion.example\" or \"user@jump1:2222,jump2\")"
        ));
    }
    Ok(hops)
}

/// The `[ssh] key: ` prefix every message here carries.
fn refuse<E: serde::de::Error>(key: &str, message: impl std::fmt::Display) -> E {
    E::custom(format!("[ssh] {key}: {message}"))
}

/// How a TOML value reads in a message: strings quoted, the rest as written.
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn string<'de, D: serde::Deserializer<'de>>(
    d: D,
    key: &str,
    what: &str,
) -> Result<String, D::Error> {
    match toml::Value::deserialize(d)? {
        toml::Value::String(s) => Ok(s),
        other => Err(refuse(
            key,
            format!("{} is not a string ({what})", shown(&other)),
        )),
    }
}

fn count<'de, D: serde::Deserializer<'de>>(
    d: D,
    key: &str,
    example: u32,
) -> Result<Option<usize>, D::Error> {
    let expected = format!("expected a whole number from 1, e.g. {example}");
    match toml::Value::deserialize(d)? {
        toml::Value::Integer(n) if n >= 1 => usize::try_from(n)
            .map(Some)
            .map_err(|_| refuse(key, format!("{n} is too many ({expected})"))),
        toml::Value::Integer(n) => Err(refuse(key, format!("{n} is too few ({expected})"))),
        other => Err(refuse(
            key,
            format!("{} is not a number ({expected})", shown(&other)),
        )),
    }
}

fn port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    const EXPECTED: &str = "expected a port from 1 to 65535, e.g. 22";
    match toml::Value::deserialize(d)? {
        toml::Value::Integer(n) => u16::try_from(n)
            .ok()
            .filter(|p| *p >= 1)
            .map(Some)
            .ok_or_else(|| refuse("port", format!("{n} is out of range ({EXPECTED})"))),
        other => Err(refuse(
            "port",
            format!("{} is not a number ({EXPECTED})", shown(&other)),
        )),
    }
}

fn host_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<HostKeyPolicy>, D::Error> {
    let expected = r#"expected "strict", "accept-new" or "off""#;
    let text = string(d, "host_keys", expected)?;
    HostKeyPolicy::parse(&text)
        .map(Some)
        .map_err(|message| refuse("host_keys", message))
}

fn connect_timeout<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let value = toml::Value::deserialize(d)?;
    crate::duration::serde_req::deserialize(value)
        .map(Some)
        .map_err(|e| refuse("connect_timeout", e.message()))
}

fn proxy_jump<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let spec = string(
        d,
        "proxy_jump",
        r#"expected e.g. "bastion.example" or "user@jump1:2222,jump2""#,
    )?;
    ssh_jump_hops(&spec).map_err(|message| refuse("proxy_jump", message))?;
    Ok(Some(spec))
}

fn handshakes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    count(d, "handshakes", 8)
}

fn max_connections<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    count(d, "max_connections", 4000)
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn error(ssh: &str) -> String {
        let source = format!("[environments.e]\nhosts = [\"h\"]\n\n[ssh]\n{ssh}\n");
        Config::parse("deploy.toml", ".", &source)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn each_setting_is_checked_where_it_is_written() {
        let cases = [
            (
                "host_keys = \"yes\"",
                "5:13: [ssh] host_keys: \"yes\" is not a host-key policy (expected \"strict\", \"accept-new\" or \"off\")",
            ),
            (
                "host_keys = true",
                "5:13: [ssh] host_keys: true is not a string (expected \"strict\", \"accept-new\" or \"off\")",
            ),
            (
                "connect_timeout = \"ten\"",
                "5:19: [ssh] connect_timeout: \"ten\" is not a duration (expected e.g. \"10s\", \"500ms\", \"2m\")",
            ),
            (
                "connect_timeout = 10",
                "5:19: [ssh] connect_timeout: 10 is not a duration (write it as a string with a unit: \"10s\", \"10ms\"; expected e.g. \"10s\", \"500ms\", \"2m\")",
            ),
            (
                "handshakes = 0",
                "5:14: [ssh] handshakes: 0 is too few (expected a whole number from 1, e.g. 8)",
            ),
            (
                "handshakes = -3",
                "5:14: [ssh] handshakes: -3 is too few (expected a whole number from 1, e.g. 8)",
            ),
            (
                "handshakes = \"many\"",
                "5:14: [ssh] handshakes: \"many\" is not a number (expected a whole number from 1, e.g. 8)",
            ),
            (
                "max_connections = 0",
                "5:19: [ssh] max_connections: 0 is too few (expected a whole number from 1, e.g. 4000)",
            ),
            (
                "max_connections = 2.5",
                "5:19: [ssh] max_connections: 2.5 is not a number (expected a whole number from 1, e.g. 4000)",
            ),
            (
                "port = 70000",
                "5:8: [ssh] port: 70000 is out of range (expected a port from 1 to 65535, e.g. 22)",
            ),
            (
                "port = 0",
                "5:8: [ssh] port: 0 is out of range (expected a port from 1 to 65535, e.g. 22)",
            ),
            (
                "proxy_jump = \"me@jump:x\"",
                "5:14: [ssh] proxy_jump: hop \"me@jump:x\" is not a host: the port \"x\" is not a number",
            ),
        ];
        for (ssh, expected) in cases {
            let message = error(ssh);
            assert!(
                message.starts_with(&format!("deploy.toml:{expected}")),
                "{ssh}: {message}"
            );
        }
    }

    #[test]
    fn good_settings_are_typed() {
        let source = "[ssh]\nport = 2222\nhost_keys = \"off\"\nconnect_timeout = \"1m\"\nhandshakes = 32\nmax_connections = 1\nproxy_jump = \"a@j1:2200,j2\"\n";
        let ssh = Config::parse("deploy.toml", ".", source)
            .expect("parses")
            .ssh();
        assert_eq!(ssh.port, Some(2222));
        assert_eq!(ssh.host_keys, Some(super::HostKeyPolicy::Off));
        assert_eq!(
            ssh.connect_timeout,
            Some(std::time::Duration::from_secs(60))
        );
        assert_eq!((ssh.handshakes, ssh.max_connections), (Some(32), Some(1)));
    }
}
