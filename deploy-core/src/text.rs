//! Text with holes for values known only at run time.
//!
//! A plan is built and rendered before anything runs, so some values cannot be
//! in it yet: the release id, the host a step runs on, a secret read from the
//! environment when the run starts. A [`Text`] keeps those as named
//! placeholders: it renders as `{release}` or `[REDACTED]` and is resolved
//! against [`RunValues`] only when a step applies itself.

use std::collections::BTreeMap;
use std::fmt;

use crate::secret::{REDACTED, Secret};

/// Names a [`Text`] may leave open until run time (besides `secret.NAME`).
///
/// # Examples
///
/// ```
/// use deploy_core::{Text, text::RUNTIME_VALUES};
///
/// assert_eq!(RUNTIME_VALUES, ["host", "release"]);
/// assert!(Text::parse("${host}").is_ok());
/// assert!(Text::parse("${version}").is_err());
/// ```
pub const RUNTIME_VALUES: &[&str] = &["host", "release"];

/// One piece of a [`Text`].
///
/// # Examples
///
/// ```
/// use deploy_core::{Text, text::Segment};
///
/// let text = Text::parse("/srv/${host}/${secret.key}").unwrap();
/// assert_eq!(text.segments(), [
///     Segment::Literal("/srv/".into()),
///     Segment::Runtime("host".into()),
///     Segment::Literal("/".into()),
///     Segment::Secret("key".into()),
/// ]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Known now.
    Literal(String),
    /// A value known at run time, by name (`release`, `host`).
    Runtime(String),
    /// A secret, by name; its value comes from [`RunValues::secrets`].
    Secret(String),
}

/// A string that may hold run-time placeholders and secrets.
///
/// Written as `${release}`, `${host}` or `${secret.NAME}`; `$${` is a literal `${`.
///
/// # Examples
///
/// ```
/// use deploy_core::{RunValues, Secret, Text};
///
/// let text = Text::parse("releases/${release} as ${secret.db}").unwrap();
/// assert_eq!(text.to_string(), "releases/{release} as [REDACTED]");
///
/// let mut values = RunValues::new("20261121T220000Z");
/// values.secrets.insert("db".into(), Secret::new("pw"));
/// assert_eq!(text.resolve(&values, "web1").unwrap(), "releases/20261121T220000Z as pw");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Text {
    segments: Vec<Segment>,
}

/// A placeholder that is not a run-time value or a secret reference.
///
/// # Examples
///
/// ```
/// use deploy_core::{RunValues, Text, text::TextError};
///
/// let err = Text::parse("releases/${version}").unwrap_err();
/// assert_eq!(err, TextError::UnknownPlaceholder { name: "version".into() });
/// let missing = Text::secret("db").resolve(&RunValues::new("r1"), "web1").unwrap_err();
/// assert_eq!(missing.to_string(), "secret `db` has no value (is its environment variable set?)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// `${name}` where `name` is not a run-time value.
    #[error("unknown placeholder `${{{name}}}` (run-time values: host, release, secret.NAME)")]
    UnknownPlaceholder {
        /// The name between the braces.
        name: String,
    },
    /// `${` without a closing `}`.
    #[error("unclosed `${{` in {text:?}")]
    Unclosed {
        /// The text as written.
        text: String,
    },
    /// A secret the run does not have.
    #[error("secret `{name}` has no value (is its environment variable set?)")]
    MissingSecret {
        /// The secret's name.
        name: String,
    },
    /// A run-time value the run does not have.
    #[error("run-time value `{name}` is not known")]
    MissingValue {
        /// The value's name.
        name: String,
    },
}

impl Text {
    /// Text with no placeholders.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Text;
    ///
    /// let text = Text::literal("echo ${HOME}");
    /// assert!(text.is_literal());
    /// assert_eq!(text.to_string(), "echo ${HOME}");
    /// ```
    pub fn literal(value: impl Into<String>) -> Self {
        let value = value.into();
        if value.is_empty() {
            return Text::default();
        }
        Text {
            segments: vec![Segment::Literal(value)],
        }
    }

    /// A text that is just a secret reference.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{RunValues, Secret, Text};
    ///
    /// let token = Text::secret("api_token");
    /// assert_eq!(token.to_string(), "[REDACTED]");
    /// let mut values = RunValues::new("r1");
    /// values.secrets.insert("api_token".into(), Secret::new("t0k3n"));
    /// assert_eq!(token.resolve(&values, "web1").unwrap(), "t0k3n");
    /// ```
    pub fn secret(name: impl Into<String>) -> Self {
        Text {
            segments: vec![Segment::Secret(name.into())],
        }
    }

    /// Parses `${release}`, `${host}`, `${secret.NAME}` and `$${`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Text;
    ///
    /// let text = Text::parse("cost $5, home $${HOME}, on ${host}").unwrap();
    /// assert_eq!(text.to_string(), "cost $5, home ${HOME}, on {host}");
    /// assert!(Text::parse("${release").is_err());
    /// ```
    pub fn parse(input: &str) -> Result<Self, TextError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = input;
        while let Some(pos) = rest.find('$') {
            literal.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(tail) = after.strip_prefix("$${") {
                literal.push_str("${");
                rest = tail;
            } else if let Some(tail) = after.strip_prefix("${") {
                let end = tail.find('}').ok_or_else(|| TextError::Unclosed {
                    text: input.to_owned(),
                })?;
                let name = tail[..end].trim();
                let segment = if let Some(secret) = name.strip_prefix("secret.") {
                    Segment::Secret(secret.to_owned())
                } else if RUNTIME_VALUES.contains(&name) {
                    Segment::Runtime(name.to_owned())
                } else {
                    return Err(TextError::UnknownPlaceholder {
                        name: name.to_owned(),
                    });
                };
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(segment);
                rest = &tail[end + 1..];
            } else {
                literal.push('$');
                rest = &after[1..];
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Text { segments })
    }

    /// The pieces of this text.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Text, text::Segment};
    ///
    /// let text = Text::parse("releases/${release}").unwrap();
    /// assert_eq!(text.segments(), [Segment::Literal("releases/".into()), Segment::Runtime("release".into())]);
    /// assert!(Text::literal("").segments().is_empty());
    /// ```
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True when nothing in it waits for run time.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Text;
    ///
    /// assert!(Text::parse("/srv/app/shared").unwrap().is_literal());
    /// assert!(!Text::parse("/srv/app/releases/${release}").unwrap().is_literal());
    /// ```
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    /// True when the text holds a secret.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Text;
    ///
    /// assert!(Text::parse("postgres://app:${secret.db}@db1/app").unwrap().has_secret());
    /// assert!(!Text::parse("releases/${release}").unwrap().has_secret());
    /// ```
    pub fn has_secret(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Secret(_)))
    }

    /// The value, with run-time values and secrets filled in for `host`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{RunValues, Text};
    ///
    /// let text = Text::parse("/var/log/${host}-${release}.log").unwrap();
    /// let resolved = text.resolve(&RunValues::new("20261121T220000.000Z"), "web1").unwrap();
    /// assert_eq!(resolved, "/var/log/web1-20261121T220000.000Z.log");
    /// ```
    pub fn resolve(&self, values: &RunValues, host: &str) -> Result<String, TextError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(s) => out.push_str(s),
                Segment::Runtime(name) if name == "host" => out.push_str(host),
                Segment::Runtime(name) if name == "release" => out.push_str(&values.release),
                Segment::Runtime(name) => {
                    return Err(TextError::MissingValue { name: name.clone() });
                }
                Segment::Secret(name) => match values.secrets.get(name) {
                    Some(secret) => out.push_str(secret.expose()),
                    None => return Err(TextError::MissingSecret { name: name.clone() }),
                },
            }
        }
        Ok(out)
    }
}

/// Parses placeholders like [`Text::parse`]; a string that does not parse
/// (an unknown `${NAME}`, say a shell variable) is kept as a literal.
impl From<&str> for Text {
    fn from(value: &str) -> Self {
        Text::parse(value).unwrap_or_else(|_| Text::literal(value))
    }
}

/// As `From<&str>`.
impl From<String> for Text {
    fn from(value: String) -> Self {
        Text::parse(&value).unwrap_or_else(|_| Text::literal(value))
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            match segment {
                Segment::Literal(s) => f.write_str(s)?,
                Segment::Runtime(name) => write!(f, "{{{name}}}")?,
                Segment::Secret(_) => f.write_str(REDACTED)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Text({:?})", self.to_string())
    }
}

impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Text::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The values a run fills into [`Text`] placeholders.
///
/// # Examples
///
/// ```
/// use deploy_core::{RunValues, Secret, Text};
///
/// let mut values = RunValues::new("r42");
/// values.secrets.insert("token".into(), Secret::new("t0k"));
/// let text = Text::parse("${release}:${secret.token}").unwrap();
/// assert_eq!(text.resolve(&values, "web1").unwrap(), "r42:t0k");
/// ```
#[derive(Clone, Debug, Default)]
pub struct RunValues {
    /// The release id of this run (the same on every host).
    pub release: String,
    /// Secrets by name.
    pub secrets: BTreeMap<String, Secret>,
}

impl RunValues {
    /// Values for a run with this release id and no secrets.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::RunValues;
    ///
    /// let values = RunValues::new("r1");
    /// assert_eq!(values.release, "r1");
    /// assert!(values.secrets.is_empty());
    /// ```
    pub fn new(release: impl Into<String>) -> Self {
        RunValues {
            release: release.into(),
            secrets: BTreeMap::new(),
        }
    }

    /// A release id from the current UTC time, like `20261121T220244.123Z`
    /// (sortable, as Capistrano's are; milliseconds keep two runs in the
    /// same second apart).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::RunValues;
    ///
    /// let id = RunValues::release_now();
    /// assert_eq!(id.len(), "20261121T220244.123Z".len());
    /// assert_eq!((&id[8..9], &id[15..16], &id[19..]), ("T", ".", "Z"));
    /// assert!(RunValues::release_now() >= id);
    /// ```
    pub fn release_now() -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format_release_id(now.as_secs(), now.subsec_millis())
    }
}

/// Formats a time since the Unix epoch as `YYYYMMDDTHHMMSS.mmmZ`.
pub(crate) fn format_release_id(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}{mo:02}{d:02}T{h:02}{m:02}{s:02}.{millis:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_ids_are_utc_timestamps() {
        assert_eq!(format_release_id(0, 0), "19700101T000000.000Z");
        assert_eq!(format_release_id(1_795_298_564, 7), "20261121T220244.007Z");
    }

    #[test]
    fn escapes_and_dollars_stay_literal() {
        let t = Text::parse("cost $5 and $${HOME}").expect("parses");
        assert!(t.is_literal());
        assert_eq!(t.to_string(), "cost $5 and ${HOME}");
    }

    #[test]
    fn unknown_placeholders_are_errors() {
        assert!(matches!(
            Text::parse("${nope}"),
            Err(TextError::UnknownPlaceholder { .. })
        ));
        assert!(matches!(
            Text::parse("${release"),
            Err(TextError::Unclosed { .. })
        ));
    }
}
