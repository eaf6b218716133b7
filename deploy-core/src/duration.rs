//! Durations as people write them in `deploy.toml` (`500ms`, `30s`, `2m`,
//! `1h`) and as plans render them.

use std::time::Duration;

/// What a duration may look like, for error messages.
pub const EXPECTED: &str = r#"expected e.g. "10s", "500ms", "2m""#;

/// Parses `500ms`, `30s`, `2m`, `1h` or a bare number of seconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use deploy_core::duration::parse;
///
/// assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
/// assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse("soon").unwrap_err(), r#""soon" is not a duration (expected e.g. "10s", "500ms", "2m")"#);
/// assert!(parse("99999999999999999999h").is_err());
/// ```
pub fn parse(input: &str) -> Result<Duration, String> {
    let invalid = || format!("{input:?} is not a duration ({EXPECTED})");
    let s = input.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| invalid())?;
    let (millis, per) = match unit.trim() {
        "ms" => (true, 1),
        "" | "s" => (false, 1),
        "m" => (false, 60),
        "h" => (false, 3600),
        _ => return Err(invalid()),
    };
    let n = n.checked_mul(per).ok_or_else(invalid)?;
    Ok(if millis {
        Duration::from_millis(n)
    } else {
        Duration::from_secs(n)
    })
}

/// Reads a duration from any serde format: a string [`parse`] accepts; a
/// number is refused with a hint to quote it (a bare `30` reads as seconds
/// to some and milliseconds to others).
struct DurationVisitor;

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a duration ({EXPECTED})")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{v} is not a duration (write it as a string with a unit: \"{v}s\", \"{v}ms\"; {EXPECTED})"
        )))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
        self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format!("{v} is not a duration ({EXPECTED})")))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Duration, E> {
        Err(E::custom(format!("{v} is not a duration ({EXPECTED})")))
    }
}

/// Formats a duration the way [`parse`] reads it, in the largest exact unit.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(deploy_core::duration::format(Duration::from_secs(120)), "2m");
/// assert_eq!(deploy_core::duration::format(Duration::from_millis(1500)), "1500ms");
/// ```
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_owned()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Serde helper for `Option<Duration>` fields written as strings.
pub mod serde_opt {
    use std::time::Duration;

    use serde::Deserialize;

    /// Reads an optional duration string.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Check {
    ///     #[serde(default, with = "deploy_core::duration::serde_opt")]
    ///     timeout: Option<Duration>,
    /// }
    /// let check: Check = toml::from_str(r#"timeout = "2m""#).unwrap();
    /// assert_eq!(check.timeout, Some(Duration::from_secs(120)));
    /// assert_eq!(toml::from_str::<Check>("").unwrap().timeout, None);
    /// ```
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<super::serde_req::Wrapped>::deserialize(deserializer).map(|d| d.map(|d| d.0))
    }

    /// Writes an optional duration as [`format`](super::format) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// #[derive(serde::Serialize)]
    /// struct Check {
    ///     #[serde(serialize_with = "deploy_core::duration::serde_opt::serialize")]
    ///     timeout: Option<Duration>,
    /// }
    /// let json = serde_json::to_string(&Check { timeout: Some(Duration::from_secs(90)) }).unwrap();
    /// assert_eq!(json, r#"{"timeout":"90s"}"#);
    /// ```
    pub fn serialize<S: serde::Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_some(&super::format(*d)),
            None => serializer.serialize_none(),
        }
    }
}

/// Serde helper for `Duration` fields written as strings.
pub mod serde_req {
    use std::time::Duration;

    use serde::Deserialize;

    /// Reads a duration string.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// #[derive(Debug, serde::Deserialize)]
    /// struct Poll {
    ///     #[serde(with = "deploy_core::duration::serde_req")]
    ///     every: Duration,
    /// }
    /// let poll: Poll = toml::from_str(r#"every = "500ms""#).unwrap();
    /// assert_eq!(poll.every, Duration::from_millis(500));
    /// assert!(toml::from_str::<Poll>(r#"every = "soon""#).is_err());
    /// let number = toml::from_str::<Poll>("every = 30").unwrap_err();
    /// assert!(number.message().starts_with(r#"30 is not a duration (write it as a string with a unit: "30s""#), "{number}");
    /// ```
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(super::DurationVisitor)
    }

    /// Writes a duration as [`format`](super::format) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// #[derive(serde::Serialize)]
    /// struct Poll {
    ///     #[serde(serialize_with = "deploy_core::duration::serde_req::serialize")]
    ///     every: Duration,
    /// }
    /// let json = serde_json::to_string(&Poll { every: Duration::from_millis(500) }).unwrap();
    /// assert_eq!(json, r#"{"every":"500ms"}"#);
    /// ```
    pub fn serialize<S: serde::Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format(*value))
    }

    /// A duration that deserializes through [`deserialize`] (for `Option`).
    pub(super) struct Wrapped(pub(super) Duration);

    impl<'de> Deserialize<'de> for Wrapped {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d).map(Wrapped)
        }
    }
}
