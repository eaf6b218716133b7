//! Reading `~/.ssh/config` as `ssh` does, for the keys deploy applies:
//! the first obtained value wins; `Host` patterns with `*`, `?` and `!`;
//! `Include` (globs, relative to `~/.ssh`); `~` and the `%h %p %r %u %%`
//! tokens. `Match` blocks and keys deploy does not apply are listed in
//! [`HostConfig::unapplied`] so they can be reported, never silently dropped.

use std::path::{Path, PathBuf};

/// The settings for one host, as resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// `HostName` (with tokens expanded), else the name asked for.
    pub hostname: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Port`.
    pub port: Option<u16>,
    /// Every `IdentityFile`, in order (they accumulate, as in ssh).
    pub identity_files: Vec<PathBuf>,
    /// `IdentitiesOnly yes`.
    pub identities_only: bool,
    /// `ProxyJump` (`none` is `None`).
    pub proxy_jump: Option<String>,
    /// `ServerAliveInterval`, seconds.
    pub server_alive_interval: Option<u64>,
    /// `ConnectTimeout`, seconds.
    pub connect_timeout: Option<u64>,
    /// `StrictHostKeyChecking` as written (`yes`, `accept-new`, `no`, `ask`, `off`).
    pub strict_host_key_checking: Option<String>,
    /// `UserKnownHostsFile` (the first file).
    pub user_known_hosts_file: Option<PathBuf>,
    /// What applied to this host but deploy does not apply: `Match` blocks
    /// and other keys, as `file:line: text`.
    pub unapplied: Vec<String>,
}

/// One `Host` block's lines.
#[derive(Clone, Debug)]
struct Block {
    patterns: Option<Vec<String>>,
    is_match: bool,
    lines: Vec<(String, String, String)>,
}

/// A parsed configuration (the main file with its includes spliced in).
#[derive(Clone, Debug, Default)]
pub struct SshConfig {
    blocks: Vec<Block>,
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// `~/x` (and `~`) under `$HOME`, as ssh reads paths; others unchanged.
///
/// # Examples
///
/// ```
/// use deploy_ssh::ssh_config::expand_tilde;
/// assert_eq!(expand_tilde("/etc/ssh/ssh_config"), std::path::PathBuf::from("/etc/ssh/ssh_config"));
/// assert!(expand_tilde("~/.ssh/config").ends_with(".ssh/config"));
/// ```
pub fn expand_tilde(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None if path == "~" => home(),
        None => PathBuf::from(path),
    }
}

/// Splits a config line into keyword and arguments (`Key value`,
/// `Key=value`, quoted arguments).
fn split_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let split = line.find(|c: char| c.is_whitespace() || c == '=')?;
    let key = line[..split].to_ascii_lowercase();
    let rest = line[split..].trim_start_matches(|c: char| c.is_whitespace() || c == '=');
    Some((key, rest.trim().to_owned()))
}

fn unquote(value: &str) -> String {
    value.trim().trim_matches('"').to_owned()
}

/// Whether `name` matches one pattern list (`!` negates and wins).
fn matches(patterns: &[String], name: &str) -> bool {
    let mut any = false;
    for pattern in patterns {
        if let Some(negated) = pattern.strip_prefix('!') {
            if crate::known_hosts::glob(negated, name) {
                return false;
            }
        } else if crate::known_hosts::glob(pattern, name) {
            any = true;
        }
    }
    any
}

/// Expands `Include` arguments: `~`, relative to `~/.ssh`, `*` in the file
/// name.
fn include_paths(argument: &str, ssh_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for word in argument.split_whitespace() {
        let word = unquote(word);
        let path = if word.starts_with('/') || word.starts_with('~') {
            expand_tilde(&word)
        } else {
            ssh_dir.join(&word)
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.contains(['*', '?']) {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| crate::known_hosts::glob(&name, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(path);
        }
    }
    out
}

impl SshConfig {
    /// Reads `path` (a missing file is empty); includes are read relative
    /// to `~/.ssh`.
    pub fn load(path: &Path) -> Self {
        let mut config = SshConfig {
            blocks: vec![Block {
                patterns: None,
                is_match: false,
                lines: Vec::new(),
            }],
        };
        config.read(path, &home().join(".ssh"), 0);
        config
    }

    /// Parses text as if read from `file`.
    pub fn parse(file: &str, text: &str, ssh_dir: &Path) -> Self {
        let mut config = SshConfig {
            blocks: vec![Block {
                patterns: None,
                is_match: false,
                lines: Vec::new(),
            }],
        };
        config.parse_into(file, text, ssh_dir, 0);
        config
    }

    fn read(&mut self, path: &Path, ssh_dir: &Path, depth: usize) {
        if let Ok(text) = std::fs::read_to_string(path) {
            self.parse_into(&path.display().to_string(), &text, ssh_dir, depth);
        }
    }

    fn parse_into(&mut self, file: &str, text: &str, ssh_dir: &Path, depth: usize) {
        for (number, raw) in text.lines().enumerate() {
            let Some((key, value)) = split_line(raw) else {
                continue;
            };
            let at = format!("{file}:{}", number + 1);
            match key.as_str() {
                "host" => self.blocks.push(Block {
                    patterns: Some(value.split_whitespace().map(unquote).collect()),
                    is_match: false,
                    lines: Vec::new(),
                }),
                "match" => self.blocks.push(Block {
                    patterns: None,
                    is_match: true,
                    lines: vec![(at, "match".into(), value)],
                }),
                "include" if depth < 16 => {
                    for path in include_paths(&value, ssh_dir) {
                        // An included file's lines belong to the block it is in.
                        self.read(&path, ssh_dir, depth + 1);
                    }
                }
                _ => {
                    if let Some(block) = self.blocks.last_mut() {
                        block.lines.push((at, key, value));
                    }
                }
            }
        }
    }

    /// The settings for `host` (as typed: `ssh web1`), with tokens expanded
    /// for `local_user`.
    pub fn resolve(&self, host: &str, local_user: &str) -> HostConfig {
        let mut out = HostConfig::default();
        let mut raw_hostname: Option<String> = None;
        let mut identity_files: Vec<String> = Vec::new();
        let mut known_hosts: Option<String> = None;
        for block in &self.blocks {
            if block.is_match {
                out.unapplied.extend(
                    block
                        .lines
                        .iter()
                        .map(|(at, _, v)| format!("{at}: Match {v} (not applied)")),
                );
                continue;
            }
            if block.patterns.as_ref().is_some_and(|p| !matches(p, host)) {
                continue;
            }
            for (at, key, value) in &block.lines {
                let value_text = unquote(value);
                match key.as_str() {
                    "hostname" => {
                        raw_hostname.get_or_insert(value_text);
                    }
                    "user" => {
                        out.user.get_or_insert(value_text);
                    }
                    "port" => {
                        if out.port.is_none() {
                            out.port = value_text.parse().ok();
                        }
                    }
                    "identityfile" => identity_files.push(value_text),
                    "identitiesonly" => {
                        out.identities_only |= value_text.eq_ignore_ascii_case("yes")
                    }
                    "proxyjump" => {
                        if out.proxy_jump.is_none() && !value_text.eq_ignore_ascii_case("none") {
                            out.proxy_jump = Some(value_text);
                        }
                    }
                    "serveraliveinterval" => {
                        if out.server_alive_interval.is_none() {
                            out.server_alive_interval = value_text.parse().ok();
                        }
                    }
                    "connecttimeout" => {
                        if out.connect_timeout.is_none() {
                            out.connect_timeout = value_text.parse().ok();
                        }
                    }
                    "stricthostkeychecking" => {
                        out.strict_host_key_checking
                            .get_or_insert(value_text.to_ascii_lowercase());
                    }
                    "userknownhostsfile" => {
                        known_hosts.get_or_insert(
                            value
                                .split_whitespace()
                                .next()
                                .map(unquote)
                                .unwrap_or_default(),
                        );
                    }
                    other => out
                        .unapplied
                        .push(format!("{at}: {other} {value} (not applied)")),
                }
            }
        }
        let hostname = raw_hostname.map(|h| expand_tokens(&h, host, host, 22, "", local_user));
        let final_host = hostname.clone().unwrap_or_else(|| host.to_owned());
        let port = out.port.unwrap_or(22);
        let user = out.user.clone().unwrap_or_else(|| local_user.to_owned());
        out.identity_files = identity_files
            .iter()
            .map(|f| {
                expand_tilde(&expand_tokens(
                    f,
                    host,
                    &final_host,
                    port,
                    &user,
                    local_user,
                ))
            })
            .collect();
        out.user_known_hosts_file = known_hosts.map(|f| {
            expand_tilde(&expand_tokens(
                &f,
                host,
                &final_host,
                port,
                &user,
                local_user,
            ))
        });
        out.hostname = hostname;
        out
    }
}

/// Expands `%h` (host name after HostName), `%n` (as typed), `%p`, `%r`
/// (remote user), `%u` (local user), `%%`.
fn expand_tokens(
    text: &str,
    typed: &str,
    host: &str,
    port: u16,
    remote_user: &str,
    local_user: &str,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(host),
            Some('n') => out.push_str(typed),
            Some('p') => out.push_str(&port.to_string()),
            Some('r') => out.push_str(remote_user),
            Some('u') => out.push_str(local_user),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins_patterns_and_tokens() {
        let text = "\
Host web? !web9
  HostName %h.internal.example
  User deploy
  IdentityFile ~/.ssh/%r@%h

Host *
  User nobody
  Port 2222
  IdentityFile ~/.ssh/id_ed25519
  ServerAliveInterval 15
  ForwardAgent yes
Match host *.example exec true
  User matched
";
        let config = SshConfig::parse("config", text, Path::new("/home/me/.ssh"));
        let web1 = config.resolve("web1", "me");
        assert_eq!(web1.hostname.as_deref(), Some("web1.internal.example"));
        assert_eq!(web1.user.as_deref(), Some("deploy"));
        assert_eq!(web1.port, Some(2222));
        assert_eq!(web1.server_alive_interval, Some(15));
        let home = home();
        assert_eq!(
            web1.identity_files,
            vec![
                home.join(".ssh/deploy@web1.internal.example"),
                home.join(".ssh/id_ed25519")
            ]
        );
        assert!(
            web1.unapplied.iter().any(|u| u.contains("forwardagent")),
            "{:?}",
            web1.unapplied
        );
        assert!(
            web1.unapplied.iter().any(|u| u.contains("Match")),
            "{:?}",
            web1.unapplied
        );
        let web9 = config.resolve("web9", "me");
        assert_eq!(web9.user.as_deref(), Some("nobody"));
        assert_eq!(web9.hostname, None);
    }

    #[test]
    fn includes_and_key_equals_value() {
        let dir = std::env::temp_dir().join(format!("deploy-ssh-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).expect("mkdir");
        std::fs::write(
            dir.join("conf.d/10-db.conf"),
            "Host db\n  Port=2200\n  ProxyJump bastion\n",
        )
        .expect("write");
        let config = SshConfig::parse("config", "Include conf.d/*.conf\nHost *\n  Port 22\n", &dir);
        let db = config.resolve("db", "me");
        assert_eq!(db.port, Some(2200));
        assert_eq!(db.proxy_jump.as_deref(), Some("bastion"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
