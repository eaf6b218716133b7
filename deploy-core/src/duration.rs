//! Durations as people write them in `deploy.toml` (`500ms`, `30s`, `2m`,
//! `1h`) and as plans render them.

use std::time::Duration;

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
/// assert!(parse("soon").is_err());
/// ```
pub fn parse(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {input:?} (write e.g. 500ms, 30s, 2m, 1h)"))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!(
            "invalid duration {input:?} (write e.g. 500ms, 30s, 2m, 1h)"
        )),
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
        Option::<String>::deserialize(deserializer)?
            .map(|s| super::parse(&s).map_err(serde::de::Error::custom))
            .transpose()
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
    /// #[derive(serde::Deserialize)]
    /// struct Poll {
    ///     #[serde(with = "deploy_core::duration::serde_req")]
    ///     every: Duration,
    /// }
    /// let poll: Poll = toml::from_str(r#"every = "500ms""#).unwrap();
    /// assert_eq!(poll.every, Duration::from_millis(500));
    /// assert!(toml::from_str::<Poll>(r#"every = "soon""#).is_err());
    /// ```
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let raw = String::deserialize(deserializer)?;
        super::parse(&raw).map_err(serde::de::Error::custom)
    }
}
