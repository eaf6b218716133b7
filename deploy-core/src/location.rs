//! Where something was written: `file:line:column`, for errors that point
//! back into `deploy.toml`.

use std::fmt;

/// A position in a source file (line and column count from 1; the column
/// counts characters).
///
/// # Examples
///
/// ```
/// use deploy_core::Location;
///
/// let source = "a = 1\nb = [2, 3]\n";
/// let at = Location::from_offset("deploy.toml", source, source.find('3').unwrap());
/// assert_eq!(at.to_string(), "deploy.toml:2:9");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// The file's path as given.
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `source`.
    ///
    /// # Examples
    ///
    /// Columns count characters, not bytes; an offset past the end means the end:
    ///
    /// ```
    /// use deploy_core::Location;
    ///
    /// let source = "name = \"café\"\nx = 1";
    /// let quote = Location::from_offset("deploy.toml", source, source.find("\"\n").unwrap());
    /// assert_eq!((quote.line, quote.column), (1, 13));
    /// let end = Location::from_offset("deploy.toml", source, 999);
    /// assert_eq!((end.line, end.column), (2, 6));
    /// ```
    pub fn from_offset(file: impl Into<String>, source: &str, offset: usize) -> Self {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = source[line_start..offset].chars().count() + 1;
        Location {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}
