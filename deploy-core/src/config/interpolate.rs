//! `${var}` interpolation of configuration values, and the small language
//! inside the braces: a name, then transforms applied left to right,
//! `${git_branch | default("develop") | sanitize_tag}`.
//!
//! Config variables (environment `vars`, task `params`, built-ins) are
//! filled in when the plan is built; run-time values (`${release}`,
//! `${host}`) and secrets (`${secret.NAME}`) are left for [`Text`](crate::Text)
//! to carry into the plan (so they take no transforms); `$${` stays escaped
//! for the same reason. Git built-ins are asked of git only when used.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::text::RUNTIME_VALUES;

/// The built-in variable names, which no `vars` or `params` may take.
pub(super) const BUILTINS: &[&str] = &[
    "ci.branch",
    "ci.ref_tag",
    "ci.sha",
    "ci.tag",
    "config_dir",
    "environment",
    "git_branch",
    "git_branch_tag",
    "git_commit",
    "git_short_commit",
    "git_tag",
    "host",
    "release",
    "task",
];

/// The transforms, as the error for an unknown one lists them.
pub(super) const TRANSFORMS: &str =
    "default(\"value\"), lower, replace(\"from\", \"to\"), sanitize_tag, upper";

/// A variable's value, or why it has none here (a git built-in outside a
/// repository, `${git_branch}` on a detached HEAD).
pub(super) type Value = Result<String, Unavailable>;

/// Why a variable has no value: the built-in that had none, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unavailable {
    pub(super) builtin: String,
    pub(super) why: String,
}

/// What went wrong in a `${…}`, at a byte offset in the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum InterpolateError {
    Undefined {
        name: String,
        offset: usize,
    },
    UndeclaredSecret {
        name: String,
        offset: usize,
    },
    Unclosed {
        offset: usize,
    },
    /// A transform that does not exist or does not parse, or one on a
    /// value that is not a config variable.
    Transform {
        expression: String,
        message: String,
        offset: usize,
    },
    /// A variable used where it has no value.
    Unavailable {
        name: String,
        unavailable: Unavailable,
        offset: usize,
    },
}

/// One transform of a `${…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Transform {
    Default(String),
    Lower,
    Upper,
    Replace(String, String),
    SanitizeTag,
}

/// A parsed `${…}`: the name and its transforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Expression {
    pub(super) name: String,
    pub(super) transforms: Vec<Transform>,
}

/// Where the `}` closing the `${` at the start of `tail` (just after the
/// `${`) is, skipping quoted transform arguments.
fn closing_brace(tail: &str) -> Option<usize> {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in tail.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '}' => return Some(i),
            None => {}
        }
    }
    None
}

/// The expression of a string that is exactly one `${…}`, trimmed.
pub(super) fn single_reference(s: &str) -> Option<&str> {
    let tail = s.strip_prefix("${")?;
    let end = closing_brace(tail)?;
    (end + 1 == tail.len()).then(|| tail[..end].trim())
}

/// Splits on `|` outside quotes.
fn split_pipes(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quote, mut escaped) = (0, None, false);
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '|' => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            None => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Parses `"a", 'b'` (quoted strings, `\` escapes the next character).
fn parse_args(text: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = text.trim().chars().peekable();
    while chars.peek().is_some() {
        let quote = match chars.next() {
            Some(q @ ('"' | '\'')) => q,
            _ => return Err("arguments are quoted strings, e.g. (\"/\", \"-\")".into()),
        };
        let mut arg = String::new();
        loop {
            match chars.next() {
                None => return Err(format!("an argument has no closing {quote}")),
                Some('\\') => match chars.next() {
                    Some(c) => arg.push(c),
                    None => return Err(format!("an argument has no closing {quote}")),
                },
                Some(c) if c == quote => break,
                Some(c) => arg.push(c),
            }
        }
        args.push(arg);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_none() {
                    return Err("an argument list ends with a comma".into());
                }
            }
            Some(c) => return Err(format!("expected `,` between arguments, found `{c}`")),
        }
    }
    Ok(args)
}

fn parse_transform(text: &str) -> Result<Transform, String> {
    let text = text.trim();
    let (name, args) = match text.split_once('(') {
        Some((name, rest)) => {
            let inner = rest
                .trim_end()
                .strip_suffix(')')
                .ok_or_else(|| format!("`{text}` has no closing `)`"))?;
            (name.trim(), Some(parse_args(inner)?))
        }
        None => (text, None),
    };
    let arity = |n: usize, usage: &str| -> Result<Vec<String>, String> {
        let args = args.clone().unwrap_or_default();
        if args.len() == n {
            Ok(args)
        } else {
            Err(format!(
                "`{name}` takes {n} argument{}: {usage}",
                if n == 1 { "" } else { "s" }
            ))
        }
    };
    match name {
        "" => Err("an empty transform after `|`".into()),
        "default" => Ok(Transform::Default(
            arity(1, "default(\"value\")")?.remove(0),
        )),
        "replace" => {
            let mut args = arity(2, "replace(\"from\", \"to\")")?;
            if args[0].is_empty() {
                return Err(
                    "`replace` needs something to replace (its first argument is empty)".into(),
                );
            }
            let to = args.remove(1);
            Ok(Transform::Replace(args.remove(0), to))
        }
        "lower" => arity(0, "lower").map(|_| Transform::Lower),
        "upper" => arity(0, "upper").map(|_| Transform::Upper),
        "sanitize_tag" => arity(0, "sanitize_tag").map(|_| Transform::SanitizeTag),
        other => {
            let known = ["default", "lower", "replace", "sanitize_tag", "upper"];
            Err(format!(
                "unknown transform `{other}`{}",
                crate::suggest::did_you_mean(other, known)
            ))
        }
    }
}

/// Parses what is between `${` and `}`.
pub(super) fn parse_expression(text: &str) -> Result<Expression, String> {
    let mut parts = split_pipes(text).into_iter();
    let name = parts.next().unwrap_or("").trim();
    if name.is_empty() {
        return Err("a `${…}` needs a variable name".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "`{name}` is not a variable name (`{bad}`; transforms follow a `|`)"
        ));
    }
    let transforms = parts.map(parse_transform).collect::<Result<Vec<_>, _>>()?;
    let runtime = name.starts_with("secret.") || RUNTIME_VALUES.contains(&name);
    if runtime && !transforms.is_empty() {
        return Err(format!(
            "`${{{name}}}` is filled in at run time, so it takes no transforms (transforms apply to config variables)"
        ));
    }
    Ok(Expression {
        name: name.to_owned(),
        transforms,
    })
}

/// Every `${…}` of `input` parsed, without values: an error for the first
/// that does not parse.
pub(super) fn check(input: &str) -> Result<(), InterpolateError> {
    scan(input, |_, _, _| Ok(None)).map(|_| ())
}

/// The names of the secrets `input` uses (`${secret.NAME}`).
pub(super) fn secrets_in(input: &str, out: &mut BTreeSet<String>) {
    let _ = scan(input, |expression, _, _| {
        if let Some(name) = expression.name.strip_prefix("secret.") {
            out.insert(name.to_owned());
        }
        Ok(None)
    });
}

/// Walks `input`, calling `lookup(expression, raw, offset)` for each `${…}`;
/// `Some(text)` replaces it, `None` keeps it as written.
fn scan(
    input: &str,
    mut lookup: impl FnMut(&Expression, &str, usize) -> Result<Option<String>, InterpolateError>,
) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut consumed = 0;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        let at = consumed + pos;
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("$${");
            rest = tail;
            consumed = at + 3;
            continue;
        }
        let Some(tail) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            consumed = at + 1;
            continue;
        };
        let end = closing_brace(tail).ok_or(InterpolateError::Unclosed { offset: at })?;
        let raw = &after[..end + 3];
        let expression =
            parse_expression(&tail[..end]).map_err(|message| InterpolateError::Transform {
                expression: raw.to_owned(),
                message,
                offset: at,
            })?;
        match lookup(&expression, raw, at)? {
            Some(text) => out.push_str(&text),
            None => out.push_str(raw),
        }
        rest = &tail[end + 1..];
        consumed = at + end + 3;
    }
    out.push_str(rest);
    Ok(out)
}

/// The git built-ins of one config directory, each asked of git once, when
/// first used.
#[derive(Debug)]
pub(super) struct Git<'a> {
    dir: &'a Path,
    /// The commit standing for HEAD ([`Git::at`]).
    revision: Option<&'a str>,
    commit: OnceCell<Value>,
    short_commit: OnceCell<Value>,
    tag: OnceCell<Value>,
    branch: OnceCell<Value>,
}

impl<'a> Git<'a> {
    pub(super) fn new(dir: &'a Path) -> Self {
        Git {
            dir,
            revision: None,
            commit: OnceCell::new(),
            short_commit: OnceCell::new(),
            tag: OnceCell::new(),
            branch: OnceCell::new(),
        }
    }

    /// The built-ins of `dir` with `commit` for HEAD: its id, and its
    /// short form as git abbreviates it there (its first 7 characters when
    /// the checkout does not have it), asked only when used.
    pub(super) fn at(dir: &'a Path, commit: &'a str) -> Self {
        Git {
            revision: Some(commit),
            ..Git::new(dir)
        }
    }

    fn get(&self, name: &str) -> Option<Value> {
        let ask = |cell: &OnceCell<Value>, f: fn(&Path) -> Result<String, crate::git::GitError>| {
            cell.get_or_init(|| {
                f(self.dir).map_err(|e| Unavailable {
                    builtin: name.to_owned(),
                    why: e.to_string(),
                })
            })
            .clone()
        };
        if let Some(commit) = self.revision {
            match name {
                "git_commit" => return Some(Ok(commit.to_owned())),
                "git_short_commit" => {
                    let short = self.short_commit.get_or_init(|| {
                        Ok(crate::git::short_of(self.dir, commit)
                            .unwrap_or_else(|_| commit.chars().take(7).collect()))
                    });
                    return Some(short.clone());
                }
                _ => {}
            }
        }
        Some(match name {
            "git_commit" => ask(&self.commit, crate::git::commit),
            "git_short_commit" => ask(&self.short_commit, crate::git::short_commit),
            "git_tag" => ask(&self.tag, crate::git::tag),
            "git_branch" => ask(&self.branch, crate::git::branch),
            "git_branch_tag" => ask(&self.branch, crate::git::branch)
                .map(|b| crate::git::tag_safe(&b))
                .map_err(|u| Unavailable {
                    builtin: "git_branch_tag".into(),
                    ..u
                }),
            _ => return None,
        })
    }
}

pub(super) struct Variables<'a> {
    pub(super) values: &'a BTreeMap<String, Value>,
    pub(super) secrets: &'a BTreeSet<String>,
    pub(super) git: &'a Git<'a>,
    /// Names that a later pass will define (variables of the layer being
    /// filled): a reference to one waits, even with a `default`.
    pub(super) pending: Option<&'a BTreeSet<String>>,
}

impl Variables<'_> {
    /// Fills in config variables, leaving run-time placeholders and escapes.
    pub(super) fn fill(&self, input: &str) -> Result<String, InterpolateError> {
        scan(input, |expression, _, offset| {
            let name = expression.name.as_str();
            if let Some(secret) = name.strip_prefix("secret.") {
                if !self.secrets.contains(secret) {
                    return Err(InterpolateError::UndeclaredSecret {
                        name: secret.to_owned(),
                        offset,
                    });
                }
                return Ok(None);
            }
            if RUNTIME_VALUES.contains(&name) {
                return Ok(None);
            }
            let undefined = || InterpolateError::Undefined {
                name: name.to_owned(),
                offset,
            };
            if self.pending.is_some_and(|p| p.contains(name)) {
                return Err(undefined());
            }
            // Values are stored as filled-in text, where a literal `${` is
            // still written `$${`; a `default` argument is made so too.
            let known = self
                .values
                .get(name)
                .cloned()
                .or_else(|| self.git.get(name));
            let mut value: Result<String, InterpolateError> = match known {
                Some(Ok(text)) => Ok(text),
                Some(Err(unavailable)) => Err(InterpolateError::Unavailable {
                    name: name.to_owned(),
                    unavailable,
                    offset,
                }),
                None => Err(undefined()),
            };
            for transform in &expression.transforms {
                value = match (transform, value) {
                    (Transform::Default(fallback), Ok(v)) if v.is_empty() => {
                        Ok(fallback.replace("${", "$${"))
                    }
                    (Transform::Default(fallback), Err(_)) => Ok(fallback.replace("${", "$${")),
                    (_, Err(e)) => Err(e),
                    (Transform::Default(_), Ok(v)) => Ok(v),
                    (Transform::Lower, Ok(v)) => Ok(v.to_lowercase()),
                    (Transform::Upper, Ok(v)) => Ok(v.to_uppercase()),
                    (Transform::Replace(from, to), Ok(v)) => Ok(v.replace(from.as_str(), to)),
                    (Transform::SanitizeTag, Ok(v)) => Ok(crate::git::tag_safe(&v)),
                };
            }
            value.map(Some)
        })
    }

    /// Fills every string inside a TOML value.
    pub(super) fn fill_value(&self, value: &mut toml::Value) -> Result<(), InterpolateError> {
        match value {
            toml::Value::String(s) => *s = self.fill(s)?,
            toml::Value::Array(items) => {
                for item in items {
                    self.fill_value(item)?;
                }
            }
            toml::Value::Table(table) => {
                for (_, item) in table.iter_mut() {
                    self.fill_value(item)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<T>(values: &[(&str, &str)], f: impl FnOnce(&Variables<'_>) -> T) -> T {
        let values: BTreeMap<String, Value> = values
            .iter()
            .map(|(k, v)| (k.to_string(), Ok(v.to_string())))
            .collect();
        let secrets = BTreeSet::from(["db".to_owned()]);
        let dir = tempfile::tempdir().expect("tempdir");
        let git = Git::new(dir.path());
        f(&Variables {
            values: &values,
            secrets: &secrets,
            git: &git,
            pending: None,
        })
    }

    #[test]
    fn fills_vars_and_keeps_runtime_values_and_escapes() {
        with(&[("project", "pixel")], |vars| {
            assert_eq!(
                vars.fill("${project}/releases/${release} $${HOME} ${secret.db} $5")
                    .as_deref(),
                Ok("pixel/releases/${release} $${HOME} ${secret.db} $5")
            );
            assert_eq!(
                vars.fill("x ${nope}"),
                Err(InterpolateError::Undefined {
                    name: "nope".into(),
                    offset: 2
                })
            );
            assert!(matches!(
                vars.fill("${secret.other}"),
                Err(InterpolateError::UndeclaredSecret { .. })
            ));
        });
    }

    #[test]
    fn transforms_apply_left_to_right() {
        let values = [
            ("docker_tag", "feature/rotate-collage"),
            ("name", "Shop_Web"),
            ("empty", ""),
        ];
        with(&values, |vars| {
            let fill = |s: &str| vars.fill(s).expect("fills");
            assert_eq!(
                fill("${docker_tag | replace(\"/\", \"\")}"),
                "featurerotate-collage"
            );
            assert_eq!(
                fill("${docker_tag|replace('/','')|replace('-', '_')}"),
                "featurerotate_collage"
            );
            assert_eq!(fill("${name | lower}-${name | upper}"), "shop_web-SHOP_WEB");
            assert_eq!(
                fill("${docker_tag | sanitize_tag}"),
                "feature-rotate-collage"
            );
            assert_eq!(fill("${empty | default(\"develop\")}"), "develop");
            assert_eq!(
                fill("${undefined | default(\"develop\") | upper}"),
                "DEVELOP"
            );
            assert_eq!(fill("${name | default(\"x\")}"), "Shop_Web");
            assert_eq!(fill("${name | replace(\"}\", \"{\")}"), "Shop_Web");
            // A value with `${` in it stays text.
            assert_eq!(fill("${undefined | default('${HOME}')}"), "$${HOME}");
        });
    }

    #[test]
    fn transforms_that_do_not_exist_or_parse_are_errors() {
        let message = |s: &str| match check(s) {
            Err(InterpolateError::Transform { message, .. }) => message,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            message("${x | lowr}"),
            "unknown transform `lowr` (did you mean `lower`?)"
        );
        assert_eq!(
            message("${x | replace(\"/\")}"),
            "`replace` takes 2 arguments: replace(\"from\", \"to\")"
        );
        assert_eq!(
            message("${x | default(develop)}"),
            "arguments are quoted strings, e.g. (\"/\", \"-\")"
        );
        assert_eq!(
            message("${x | default(\"a\"}"),
            "`default(\"a\"` has no closing `)`"
        );
        assert_eq!(message("${x |}"), "an empty transform after `|`");
        assert_eq!(
            message("${x lower}"),
            "`x lower` is not a variable name (` `; transforms follow a `|`)"
        );
        assert!(message("${release | lower}").starts_with("`${release}` is filled in at run time"));
        assert!(
            message("${secret.db | lower}").starts_with("`${secret.db}` is filled in at run time")
        );
        assert!(matches!(
            check("${x | default(\"}\")"),
            Err(InterpolateError::Unclosed { .. })
        ));
        assert_eq!(check("${x | default(\"}\")} and $${y | nope}"), Ok(()));
    }

    #[test]
    fn single_references() {
        assert_eq!(single_reference("${lines}"), Some("lines"));
        assert_eq!(
            single_reference("${n | default(\"}\")}"),
            Some("n | default(\"}\")")
        );
        assert_eq!(single_reference("${a}${b}"), None);
        assert_eq!(single_reference("x${a}"), None);
    }

    #[test]
    fn git_values_outside_a_repository_are_unavailable_unless_defaulted() {
        with(&[], |vars| {
            assert!(matches!(
                vars.fill("${git_commit}"),
                Err(InterpolateError::Unavailable { unavailable: Unavailable { builtin, .. }, .. }) if builtin == "git_commit"
            ));
            assert_eq!(
                vars.fill("${git_branch | default('main')}").as_deref(),
                Ok("main")
            );
        });
    }
}
