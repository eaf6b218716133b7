//! A secret value that cannot print itself.
//!
//! Deploy plans are review artifacts: they end up in pull requests, CI logs and
//! snapshot files. [`Secret`] makes leaking a password a type error rather than a
//! code-review catch: `Display`, `Debug` and `Serialize` all write [`REDACTED`],
//! and the only way to the value is the explicit [`Secret::expose`].

use std::fmt;
use std::sync::Arc;

/// What every secret renders as, everywhere.
///
/// # Examples
///
/// ```
/// use deploy_core::{Secret, secret::REDACTED};
///
/// assert_eq!(REDACTED, "[REDACTED]");
/// assert_eq!(Secret::new("hunter2").to_string(), REDACTED);
/// ```
pub const REDACTED: &str = "[REDACTED]";

/// A value that renders as `[REDACTED]` through `Display`, `Debug` and serde.
///
/// # Examples
///
/// ```
/// use deploy_core::Secret;
///
/// let password = Secret::new("hunter2");
/// assert_eq!(password.to_string(), "[REDACTED]");
/// assert_eq!(format!("{password:?}"), "Secret([REDACTED])");
/// assert_eq!(serde_json::to_string(&password).unwrap(), "\"[REDACTED]\"");
/// assert_eq!(password.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Secret;
    ///
    /// let from_env = Secret::new(String::from("pa55"));
    /// assert_eq!(from_env, Secret::new("pa55"));
    /// assert_eq!(from_env.to_string(), "[REDACTED]");
    /// ```
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Arc::from(value.into()))
    }

    /// The value itself: call this only where it is handed to the world
    /// (a command's environment, a file's contents), never to format it.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Command, Secret};
    ///
    /// let password = Secret::new("hunter2");
    /// let cmd = Command::new(["psql"]).env("PGPASSWORD", password.expose());
    /// assert_eq!(cmd.env[0].1, "hunter2");
    /// assert!(!format!("{cmd:?}").contains("hunter2"));
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// Replaces every known secret value in a piece of text with [`REDACTED`].
///
/// The executor passes command output and error messages through this before
/// they reach events or reports, so a remote program that echoes a password
/// does not put it in a CI log.
///
/// # Examples
///
/// ```
/// use deploy_core::secret::{Masker, Secret};
///
/// let masker = Masker::new([Secret::new("s3cret")]);
/// assert_eq!(masker.mask("password=s3cret"), "password=[REDACTED]");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Masker {
    secrets: Vec<Secret>,
}

impl Masker {
    /// A masker for these secrets (empty values are ignored).
    ///
    /// # Examples
    ///
    /// Empty values are dropped, and a secret containing another is masked whole:
    ///
    /// ```
    /// use deploy_core::secret::{Masker, Secret};
    ///
    /// let masker = Masker::new([Secret::new(""), Secret::new("abc"), Secret::new("abcdef")]);
    /// assert_eq!(masker.mask("key=abcdef"), "key=[REDACTED]");
    /// assert_eq!(masker.mask("nothing secret"), "nothing secret");
    /// ```
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Self {
        let mut secrets: Vec<Secret> = secrets
            .into_iter()
            .filter(|s| !s.expose().is_empty())
            .collect();
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        Masker { secrets }
    }

    /// The text with every secret value replaced.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::secret::{Masker, Secret};
    ///
    /// let masker = Masker::new([Secret::new("s3cret")]);
    /// assert_eq!(masker.mask("login s3cret failed; s3cret!"), "login [REDACTED] failed; [REDACTED]!");
    /// ```
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.expose()) {
                out = out.replace(secret.expose(), REDACTED);
            }
        }
        out
    }
}
