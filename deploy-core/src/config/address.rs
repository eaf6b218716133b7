//! Host entries as `deploy.toml` writes them (`web1`, `web1:2222`,
//! `deploy@web1:2222`, `[2001:db8::1]:22`): one parser, used when the file
//! loads and by the SSH transport, so a host that passes `deploy plan` is a
//! host `deploy run` can dial.

/// What a host entry may look like, for error messages.
pub(super) const EXPECTED: &str =
    r#"expected "name", "name:port" or "user@name:port", with a port from 1 to 65535"#;

/// A host entry split into user, name and port.
///
/// # Examples
///
/// ```
/// use deploy_core::config::HostAddress;
///
/// let web = HostAddress::parse("deploy@web1.example:2222").unwrap();
/// assert_eq!(web, HostAddress { user: Some("deploy".into()), name: "web1.example".into(), port: Some(2222) });
/// assert_eq!(HostAddress::parse("web1").unwrap().port, None);
/// assert_eq!(HostAddress::parse("[2001:db8::1]:22").unwrap().name, "2001:db8::1");
/// assert_eq!(HostAddress::parse("fe80::1").unwrap().name, "fe80::1");
/// assert_eq!(
///     HostAddress::parse("web1:notaport").unwrap_err(),
///     r#"the port "notaport" is not a number"#,
/// );
/// assert_eq!(HostAddress::parse("web1:70000").unwrap_err(), "the port 70000 is out of range");
/// assert_eq!(HostAddress::parse("").unwrap_err(), "the name is empty");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostAddress {
    /// The user before `@`, if any.
    pub user: Option<String>,
    /// The host name (as ssh would be given it) or address.
    pub name: String,
    /// The port after `:`, if any.
    pub port: Option<u16>,
}

impl HostAddress {
    /// Splits `[user@]name[:port]`; the error says what is wrong (without
    /// the entry itself or what an entry may be, which the caller adds).
    ///
    /// An address with more than one `:` is an IPv6 address with no port
    /// unless written in brackets (`[::1]:2222`).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::config::HostAddress;
    ///
    /// assert_eq!(HostAddress::parse("@web1").unwrap_err(), "the user before `@` is empty");
    /// assert_eq!(HostAddress::parse("web 1").unwrap_err(), "a host entry has no spaces");
    /// assert_eq!(HostAddress::parse("web1:0").unwrap_err(), "the port 0 is out of range");
    /// assert_eq!(HostAddress::parse("web1:").unwrap_err(), "the port after `:` is empty");
    /// ```
    pub fn parse(entry: &str) -> Result<HostAddress, String> {
        let (user, rest) = match entry.split_once('@') {
            Some(("", _)) => return Err("the user before `@` is empty".into()),
            Some((user, rest)) => (Some(user.to_owned()), rest),
            None => (None, entry),
        };
        let (name, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (name, after) = bracketed.split_once(']').ok_or("a `[` without its `]`")?;
            match after {
                "" => (name, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (name, Some(port)),
                    None => return Err(format!("unexpected {after:?} after `]`")),
                },
            }
        } else {
            match rest.rsplit_once(':') {
                Some((name, port)) if !name.contains(':') => (name, Some(port)),
                _ => (rest, None),
            }
        };
        if name.is_empty() {
            return Err("the name is empty".into());
        }
        if entry.chars().any(char::is_whitespace) {
            return Err("a host entry has no spaces".into());
        }
        let port = match port {
            None => None,
            Some("") => return Err("the port after `:` is empty".into()),
            Some(port) => Some(parse_port(port)?),
        };
        Ok(HostAddress {
            user,
            name: name.to_owned(),
            port,
        })
    }
}

/// A port number from 1 to 65535 (the error says what is wrong).
fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the port {text:?} is not a number"));
    }
    match text.parse::<u64>() {
        Ok(port @ 1..=65535) => Ok(port as u16),
        _ => Err(format!("the port {text} is out of range")),
    }
}

#[cfg(test)]
mod tests {
    use super::HostAddress;

    #[test]
    fn plain_names_and_ports() {
        let cases = [
            ("web1", None, "web1", None),
            ("web1.example:22", None, "web1.example", Some(22)),
            ("me@web1", Some("me"), "web1", None),
            ("me@10.0.0.1:65535", Some("me"), "10.0.0.1", Some(65535)),
            ("[::1]", None, "::1", None),
            ("::1", None, "::1", None),
        ];
        for (entry, user, name, port) in cases {
            let address = HostAddress::parse(entry).expect("parses");
            assert_eq!(address.user.as_deref(), user, "{entry}");
            assert_eq!(
                (address.name.as_str(), address.port),
                (name, port),
                "{entry}"
            );
        }
    }

    #[test]
    fn malformed_entries_say_why() {
        for (entry, why) in [
            ("", "the name is empty"),
            (":22", "the name is empty"),
            ("me@", "the name is empty"),
            ("web1:+22", "the port \"+22\" is not a number"),
            (
                "web1:99999999999999999999",
                "the port 99999999999999999999 is out of range",
            ),
            ("[::1", "a `[` without its `]`"),
            ("[::1]x", "unexpected \"x\" after `]`"),
            ("[::1]:ssh", "the port \"ssh\" is not a number"),
        ] {
            assert_eq!(
                HostAddress::parse(entry).expect_err("refused"),
                why,
                "{entry:?}"
            );
        }
    }
}
