//! File modes as people write them in `deploy.toml` (`"0640"`, `"0o755"`):
//! one parser, so a mode the loader accepts is the mode a step sets.

use std::fmt;

/// What a file mode may look like, for error messages.
pub const EXPECTED: &str =
    r#"expected octal digits, e.g. "0640", "0755" or "0o600", at most "7777""#;

/// Permission bits of a file (at most `0o7777`).
///
/// # Examples
///
/// ```
/// use deploy_core::mode::FileMode;
///
/// let mode: FileMode = "0640".parse().unwrap();
/// assert_eq!((mode.bits(), mode.to_string()), (0o640, "0640".to_string()));
/// assert_eq!("0o755".parse::<FileMode>().unwrap().bits(), 0o755);
/// assert_eq!(
///     "0999".parse::<FileMode>().unwrap_err(),
///     r#""0999" is not a file mode (expected octal digits, e.g. "0640", "0755" or "0o600", at most "7777")"#,
/// );
/// assert!("+644".parse::<FileMode>().is_err());
/// assert!("17777".parse::<FileMode>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileMode(u32);

impl FileMode {
    /// The mode from its bits; `None` past `0o7777`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::mode::FileMode;
    ///
    /// assert_eq!(FileMode::new(0o400).map(|m| m.to_string()).as_deref(), Some("0400"));
    /// assert_eq!(FileMode::new(0o10000), None);
    /// ```
    pub fn new(bits: u32) -> Option<Self> {
        (bits <= 0o7777).then_some(FileMode(bits))
    }

    /// The permission bits.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(deploy_core::mode::FileMode::new(0o600).unwrap().bits(), 0o600);
    /// ```
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl std::str::FromStr for FileMode {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let digits = raw.strip_prefix("0o").unwrap_or(raw);
        if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(format!("{raw:?} is not a file mode ({EXPECTED})"));
        }
        u32::from_str_radix(digits, 8)
            .ok()
            .and_then(FileMode::new)
            .ok_or_else(|| format!("{raw:?} is not a file mode ({EXPECTED})"))
    }
}

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for FileMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = FileMode;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a file mode ({EXPECTED})")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FileMode, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<FileMode, E> {
                // TOML reads `0o640` as 416: name what it was likely meant as.
                let hint = match u32::try_from(v).ok().and_then(FileMode::new) {
                    Some(mode) => format!(
                        "write it as a string: \"{mode}\" if you meant 0o{:o}",
                        mode.0
                    ),
                    None => "write it as an octal string".to_owned(),
                };
                Err(E::custom(format!(
                    "the number {v} is not a file mode ({hint}; {EXPECTED})"
                )))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<FileMode, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Serde helper for `Option<u32>` mode fields written as [`FileMode`]s.
pub mod serde_opt {
    use serde::Deserialize;

    use super::FileMode;

    /// Reads an optional mode string into its bits.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(Debug, serde::Deserialize)]
    /// struct File {
    ///     #[serde(default, deserialize_with = "deploy_core::mode::serde_opt::deserialize")]
    ///     mode: Option<u32>,
    /// }
    /// assert_eq!(toml::from_str::<File>(r#"mode = "0400""#).unwrap().mode, Some(0o400));
    /// assert_eq!(toml::from_str::<File>("").unwrap().mode, None);
    /// let octal_number = toml::from_str::<File>("mode = 0o640").unwrap_err();
    /// assert!(octal_number.message().starts_with(r#"the number 416 is not a file mode (write it as a string: "0640" if you meant 0o640;"#));
    /// ```
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u32>, D::Error> {
        Ok(Option::<FileMode>::deserialize(deserializer)?.map(FileMode::bits))
    }
}
