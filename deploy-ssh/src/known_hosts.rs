//! Reading `known_hosts` the way OpenSSH does: plain and hashed names,
//! `[host]:port`, patterns with `*`, `?` and `!`, several keys per host,
//! `@revoked`, tabs and repeated spaces; a malformed line is skipped (and
//! counted), never fatal. russh's own helper fails the whole lookup on one bad
//! line and knows no patterns, hence this module.

use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use hmac::{KeyInit, Mac};
use russh::keys::PublicKey;

/// What the file says about a host's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A line lists this key for this host.
    Known,
    /// No line names this host.
    Unknown,
    /// Lines name this host, with other keys: possibly an attack.
    Changed {
        /// `file:line` of the first entry for the host, to edit or remove.
        line: String,
    },
    /// The key is marked `@revoked`.
    Revoked {
        /// `file:line` of the `@revoked` entry.
        line: String,
    },
}

/// One parsed line.
#[derive(Clone, Debug)]
struct Entry {
    line: usize,
    marker: Option<String>,
    hosts: String,
    key: PublicKey,
}

/// A parsed `known_hosts` file.
#[derive(Clone, Debug, Default)]
pub struct KnownHosts {
    path: PathBuf,
    entries: Vec<Entry>,
    /// Lines that could not be read, by number.
    pub malformed: Vec<usize>,
}

/// The name OpenSSH looks up for a host and port: `host`, or `[host]:port`
/// when the port is not 22.
pub fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

fn hashed_matches(entry: &str, name: &str) -> bool {
    let Some(rest) = entry.strip_prefix("|1|") else {
        return false;
    };
    let Some((salt, hash)) = rest.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (Base64::decode_vec(salt), Base64::decode_vec(hash)) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Whether a host field (comma-separated patterns, or one hashed name)
/// matches `name`. A negated pattern that matches wins over everything.
fn hosts_match(field: &str, name: &str) -> bool {
    if field.starts_with("|1|") {
        return hashed_matches(field, name);
    }
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated, name) {
                return false;
            }
        } else if glob(pattern, name) {
            matched = true;
        }
    }
    matched
}

impl KnownHosts {
    /// Reads a file; a missing file is empty.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        Ok(Self::parse(path, &text))
    }

    /// Parses the text of a file at `path`.
    pub fn parse(path: &Path, text: &str) -> Self {
        let mut known = KnownHosts {
            path: path.to_path_buf(),
            ..KnownHosts::default()
        };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let marker = if first.starts_with('@') {
                let marker = first.to_owned();
                first = fields.next().unwrap_or_default();
                Some(marker)
            } else {
                None
            };
            let (Some(algorithm), Some(data)) = (fields.next(), fields.next()) else {
                known.malformed.push(i + 1);
                continue;
            };
            match PublicKey::from_openssh(&format!("{algorithm} {data}")) {
                Ok(key) if !first.is_empty() => known.entries.push(Entry {
                    line: i + 1,
                    marker,
                    hosts: first.to_owned(),
                    key,
                }),
                _ => known.malformed.push(i + 1),
            }
        }
        known
    }

    /// What the file says about `key` for `host` on `port`.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> HostKeyStatus {
        let name = lookup_name(host, port);
        let same = |e: &Entry| e.key.key_data() == key.key_data();
        let for_host: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| hosts_match(&e.hosts, &name))
            .collect();
        if let Some(revoked) = self
            .entries
            .iter()
            .find(|e| e.marker.as_deref() == Some("@revoked") && same(e))
        {
            return HostKeyStatus::Revoked {
                line: format!("{}:{}", self.path.display(), revoked.line),
            };
        }
        let plain: Vec<&&Entry> = for_host.iter().filter(|e| e.marker.is_none()).collect();
        if plain.iter().any(|e| same(e)) {
            HostKeyStatus::Known
        } else if let Some(first) = plain.first() {
            HostKeyStatus::Changed {
                line: format!("{}:{}", self.path.display(), first.line),
            }
        } else {
            HostKeyStatus::Unknown
        }
    }

    /// The algorithms of the keys known for a host, to prefer in key
    /// exchange (so a host known by its ed25519 key is not reported as
    /// changed because it offered ecdsa first).
    pub fn algorithms_for(&self, host: &str, port: u16) -> Vec<russh::keys::Algorithm> {
        let name = lookup_name(host, port);
        let mut algorithms = Vec::new();
        for entry in &self.entries {
            if entry.marker.is_none() && hosts_match(&entry.hosts, &name) {
                let algorithm = entry.key.algorithm();
                if !algorithms.contains(&algorithm) {
                    algorithms.push(algorithm);
                }
            }
        }
        algorithms
    }
}

/// Appends `host`'s key to a known_hosts file with one `O_APPEND` write (so
/// many hosts learned at once never interleave), creating the file and its
/// directory when needed.
pub fn append(path: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let openssh = key
        .to_openssh()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let line = format!("{} {openssh}\n", lookup_name(host, port));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEVAI8WVG9U2rT1y0x3MKmF5qzt6C4GmNjzuxyH9iGZ5";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).expect("valid key")
    }

    #[test]
    fn plain_patterns_ports_and_bad_lines() {
        let text = format!(
            "# comment\nnot a valid line\nweb1,web2\t  {KEY_A}\n[web3]:2222 {KEY_A}\n*.example,!bad.example {KEY_B}\n"
        );
        let kh = KnownHosts::parse(Path::new("kh"), &text);
        assert_eq!(kh.malformed, vec![2]);
        assert_eq!(kh.check("web2", 22, &key(KEY_A)), HostKeyStatus::Known);
        assert_eq!(kh.check("web3", 2222, &key(KEY_A)), HostKeyStatus::Known);
        assert_eq!(kh.check("web3", 22, &key(KEY_A)), HostKeyStatus::Unknown);
        assert_eq!(kh.check("a.example", 22, &key(KEY_B)), HostKeyStatus::Known);
        assert_eq!(
            kh.check("bad.example", 22, &key(KEY_B)),
            HostKeyStatus::Unknown
        );
        assert_eq!(
            kh.check("web1", 22, &key(KEY_B)),
            HostKeyStatus::Changed {
                line: "kh:3".into()
            }
        );
    }

    #[test]
    fn hashed_entries_and_revoked_keys() {
        // `ssh-keygen -H` style entry for "web1" with salt "0123456789abcdefghij".
        let salt = b"0123456789abcdefghij";
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(salt).expect("key");
        mac.update(b"web1");
        let hash = mac.finalize().into_bytes();
        let hashed = format!(
            "|1|{}|{}",
            Base64::encode_string(salt),
            Base64::encode_string(&hash)
        );
        let text = format!("{hashed} {KEY_A}\n@revoked * {KEY_B}\n");
        let kh = KnownHosts::parse(Path::new("kh"), &text);
        assert_eq!(kh.check("web1", 22, &key(KEY_A)), HostKeyStatus::Known);
        assert_eq!(kh.check("web2", 22, &key(KEY_A)), HostKeyStatus::Unknown);
        assert_eq!(
            kh.check("web1", 22, &key(KEY_B)),
            HostKeyStatus::Revoked {
                line: "kh:2".into()
            }
        );
    }
}
