//! Editing dotenv files the way a careful person would with `sed`: change one
//! key's value and keep every other byte (comments, quoting, `export`, CRLF,
//! a missing final newline) exactly as it was.
//!
//! This is what the Pixel guide's `sed -i "s/^VERSION=.*/VERSION=$v/" .env`
//! does, without its traps (a value with `/` or `&` in it, a quoted value).

/// The value part of a matching line and where it sits.
struct Assignment<'a> {
    /// Everything up to and including `=`.
    prefix: &'a str,
    /// The value as written (quotes included, comment excluded).
    raw_value: &'a str,
    /// A trailing ` # comment`, kept as written.
    comment: &'a str,
}

fn parse_assignment<'a>(line: &'a str, key: &str) -> Option<Assignment<'a>> {
    let body = line.trim_start();
    let indent = line.len() - body.len();
    let after_export = body
        .strip_prefix("export")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map(str::trim_start)
        .unwrap_or(body);
    let rest = after_export.strip_prefix(key)?;
    let rest_trimmed = rest.trim_start_matches([' ', '\t']);
    let value_part = rest_trimmed.strip_prefix('=')?;
    let prefix_len = line.len() - value_part.len();
    let _ = indent;
    let (raw_value, comment) = split_comment(value_part);
    Some(Assignment {
        prefix: &line[..prefix_len],
        raw_value,
        comment,
    })
}

/// Splits `value # comment` into value and comment (with the space before
/// `#`); a quoted value ends at its closing quote.
fn split_comment(value_part: &str) -> (&str, &str) {
    let leading = value_part.len() - value_part.trim_start_matches([' ', '\t']).len();
    let v = &value_part[leading..];
    if let Some(quote) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let mut escaped = false;
        for (i, c) in v.char_indices().skip(1) {
            if quote == '"' && c == '\\' && !escaped {
                escaped = true;
                continue;
            }
            if c == quote && !escaped {
                let end = leading + i + 1;
                return (&value_part[..end], &value_part[end..]);
            }
            escaped = false;
        }
        return (value_part, "");
    }
    let bytes = value_part.as_bytes();
    for i in 0..bytes.len() {
        if bytes[i] == b'#' && i > 0 && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            let start = value_part[..i].trim_end_matches([' ', '\t']).len();
            return (&value_part[..start], &value_part[start..]);
        }
    }
    (value_part, "")
}

/// The value a dotenv reader sees for a raw value.
fn unquote(raw: &str) -> String {
    let raw = raw.trim();
    if raw.len() >= 2 && raw.starts_with('\'') && raw.ends_with('\'') {
        return raw[1..raw.len() - 1].to_owned();
    }
    if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
        let mut out = String::new();
        let mut chars = raw[1..raw.len() - 1].chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    raw.to_owned()
}

fn is_plain(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:,+@%^=~".contains(&b))
}

/// Writes `value` in the quoting style the old value used where that is safe,
/// otherwise in the simplest style that reads back exactly.
fn quote_like(old_raw: &str, value: &str) -> String {
    let old = old_raw.trim();
    let single_ok = !value.contains('\'') && !value.contains('\n');
    if old.starts_with('\'') && single_ok {
        return format!("'{value}'");
    }
    if old.starts_with('"') || (!is_plain(value) && !single_ok) {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        return format!("\"{escaped}\"");
    }
    if is_plain(value) {
        value.to_owned()
    } else if value.is_empty() {
        String::new()
    } else {
        format!("'{value}'")
    }
}

/// The values `key` has in a dotenv text (every assignment, in order).
///
/// # Examples
///
/// ```
/// let env = "# comment\nexport VERSION=\"1.2\" # pinned\nDEBUG=0\n";
/// assert_eq!(deploy_core::dotenv::get(env, "VERSION"), vec!["1.2"]);
/// ```
pub fn get(text: &str, key: &str) -> Vec<String> {
    text.split_inclusive('\n')
        .filter_map(|line| {
            let line = line.trim_end_matches(['\n', '\r']);
            parse_assignment(line, key).map(|a| unquote(a.raw_value))
        })
        .collect()
}

/// Sets `key` to `value`: every assignment of `key` gets the new value (as
/// `sed s/^KEY=.*/` would), everything else is kept byte for byte; a missing
/// key is appended in the file's own line-ending style.
///
/// # Examples
///
/// ```
/// let before = "# app\r\nexport VERSION='1.0' # old\r\nDEBUG=0";
/// let after = deploy_core::dotenv::set(before, "VERSION", "1.1");
/// assert_eq!(after, "# app\r\nexport VERSION='1.1' # old\r\nDEBUG=0");
///
/// let appended = deploy_core::dotenv::set("DEBUG=0", "VERSION", "2.0");
/// assert_eq!(appended, "DEBUG=0\nVERSION=2.0");
/// ```
pub fn set(text: &str, key: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + key.len() + value.len() + 2);
    let mut found = false;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let ending = &line[content.len()..];
        match parse_assignment(content, key) {
            Some(a) => {
                found = true;
                out.push_str(a.prefix);
                let leading = &content[a.prefix.len()..];
                let spaces = leading.len() - leading.trim_start_matches([' ', '\t']).len();
                out.push_str(&leading[..spaces]);
                out.push_str(&quote_like(a.raw_value, value));
                out.push_str(a.comment);
                out.push_str(ending);
            }
            None => out.push_str(line),
        }
    }
    if !found {
        let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let assignment = format!("{key}={}", quote_like("", value));
        if text.is_empty() || text.ends_with('\n') {
            out.push_str(&assignment);
            out.push_str(newline);
        } else {
            out.push_str(newline);
            out.push_str(&assignment);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_world_file_keeps_every_other_byte() {
        let before = "\
# Pixel production settings\n\
export DATABASE_URL=\"postgres://u:p@db/pixel\"\n\
VERSION=1.4.1\n\
SECRET_KEY='a#b c'   # rotate yearly\n\
\n\
  VERSION = 1.4.0 # duplicate, older\n\
VERSIONS=keep\n\
EMPTY=\n";
        let after = set(before, "VERSION", "1.4.2");
        assert_eq!(
            after,
            "\
# Pixel production settings\n\
export DATABASE_URL=\"postgres://u:p@db/pixel\"\n\
VERSION=1.4.2\n\
SECRET_KEY='a#b c'   # rotate yearly\n\
\n\
  VERSION = 1.4.2 # duplicate, older\n\
VERSIONS=keep\n\
EMPTY=\n"
        );
        assert_eq!(get(&after, "VERSION"), vec!["1.4.2", "1.4.2"]);
        assert_eq!(get(&after, "SECRET_KEY"), vec!["a#b c"]);
        assert_eq!(get(&after, "EMPTY"), vec![""]);
    }

    #[test]
    fn crlf_and_no_final_newline_are_kept() {
        assert_eq!(set("A=1\r\nB=2", "B", "3"), "A=1\r\nB=3");
        assert_eq!(set("A=1\r\nB=2\r\n", "C", "x"), "A=1\r\nB=2\r\nC=x\r\n");
        assert_eq!(set("", "C", "x"), "C=x\n");
    }

    #[test]
    fn values_that_need_quoting_read_back_exactly() {
        for value in [
            "has space",
            "a'b",
            "quote\"d",
            "back\\slash",
            "x#y",
            "$HOME",
            "",
        ] {
            for before in ["K=old\n", "K='old'\n", "K=\"old\"\n"] {
                let after = set(before, "K", value);
                assert_eq!(
                    get(&after, "K"),
                    vec![value.to_owned()],
                    "{before:?} -> {after:?}"
                );
            }
        }
    }

    #[test]
    fn double_quoted_values_keep_their_style() {
        assert_eq!(set("K=\"old\" # c\n", "K", "new"), "K=\"new\" # c\n");
        assert_eq!(get("K=\"a\\\"b\"", "K"), vec!["a\"b"]);
    }

    #[test]
    fn export_needs_whitespace_and_prefix_keys_do_not_match() {
        assert_eq!(
            set("exportK=1\nKEY=2\n", "K", "3"),
            "exportK=1\nKEY=2\nK=3\n"
        );
    }
}
