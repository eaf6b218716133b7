//! An error and its causes as text, so that what went wrong underneath
//! (the refused connection under "cannot reach the engine") reaches the
//! user once, not flattened into one string nor repeated.

use std::error::Error;

/// The error and its causes, one per line: its message, then a
/// `caused by: …` line for each [`source`](Error::source) whose text the
/// lines before it do not already contain (many errors repeat their
/// cause's text in their own).
///
/// # Examples
///
/// ```
/// #[derive(Debug, thiserror::Error)]
/// #[error("cannot reach the engine")]
/// struct Engine(#[source] std::io::Error);
///
/// let refused = Engine(std::io::Error::other("connection refused"));
/// assert_eq!(
///     deploy_core::cause::chain(&refused),
///     "cannot reach the engine\ncaused by: connection refused"
/// );
/// ```
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let line = error.to_string();
        if !text.contains(&line) {
            text.push_str("\ncaused by: ");
            text.push_str(&line);
        }
        cause = error.source();
    }
    text
}

/// A chain from [`chain`] with every line after the first indented by
/// `indent`, for output that prefixes or nests lines.
///
/// # Examples
///
/// ```
/// let text = "cannot reach the engine\ncaused by: connection refused";
/// assert_eq!(
///     deploy_core::cause::indented(text, "  "),
///     "cannot reach the engine\n  caused by: connection refused"
/// );
/// ```
pub fn indented(chain: &str, indent: &str) -> String {
    chain.replace('\n', &format!("\n{indent}"))
}
