//! `when` on a step or a task reference: `when = "${production_release} !=
//! ''"` is decided when the plan is built (the steps are in the plan or not);
//! `when = { succeeds = [...] }` / `{ fails = [...] }` is a probe on each
//! host when the steps are reached (the plan shows it).

use std::sync::Arc;

use toml::Spanned;

use super::Config;
use super::entry::as_strings;
use super::error::{ConfigError, ConfigErrorKind};
use super::interpolate::Variables;
use crate::plan::Condition;
use crate::text::Text;

/// What a `when` decides.
pub(super) enum When {
    /// No `when`, or one that held at plan time.
    Always,
    /// One that did not hold at plan time: the steps are left out.
    Never,
    /// A probe on each host.
    Probe(Arc<Condition>),
}

impl Config {
    /// The `when` of an entry (`None` when it has none).
    pub(super) fn when(
        &self,
        value: Option<&Spanned<toml::Value>>,
        vars: &Variables<'_>,
    ) -> Result<When, ConfigError> {
        let Some(value) = value else {
            return Ok(When::Always);
        };
        let at = value.span().start;
        let invalid = |message: String| self.error_at(at, ConfigErrorKind::Invalid(message));
        match value.get_ref() {
            toml::Value::Boolean(true) => Ok(When::Always),
            toml::Value::Boolean(false) => Ok(When::Never),
            toml::Value::String(expression) => {
                let filled = vars
                    .fill(expression)
                    .map_err(|e| self.interpolation_error(e, at, vars.values))?;
                if filled.contains("${") {
                    return Err(invalid(format!(
                        "when: {expression:?} is decided when the plan is built, so it cannot use a value filled in at run time (`${{release}}`, `${{host}}`, secrets); use a probe `{{ succeeds = [...] }}` for those"
                    )));
                }
                match compare(&filled) {
                    Ok(true) => Ok(When::Always),
                    Ok(false) => Ok(When::Never),
                    Err(why) => Err(invalid(format!("when: {why}"))),
                }
            }
            toml::Value::Table(table) => {
                let (key, argv) = match (table.get("succeeds"), table.get("fails"), table.len()) {
                    (Some(argv), None, 1) => ("succeeds", argv),
                    (None, Some(argv), 1) => ("fails", argv),
                    _ => {
                        return Err(invalid(
                            "when: a probe is `{ succeeds = [\"test\", \"-d\", \"/srv/app\"] }` or `{ fails = [...] }`"
                                .into(),
                        ));
                    }
                };
                let words = as_strings(argv)
                    .filter(|w| !w.is_empty())
                    .ok_or_else(|| invalid(format!("when: `{key}` must be a command, as argv")))?;
                let mut texts = Vec::with_capacity(words.len());
                for word in words {
                    let filled = vars
                        .fill(&word)
                        .map_err(|e| self.interpolation_error(e, at, vars.values))?;
                    texts.push(
                        Text::parse(&filled).map_err(|e| invalid(format!("when: {e}")))?,
                    );
                }
                if texts.iter().any(Text::has_secret) {
                    return Err(invalid(crate::plan::secret_in_argv_advice(&format!(
                        "when.{key}"
                    ))));
                }
                Ok(When::Probe(Arc::new(if key == "succeeds" {
                    Condition::succeeds(texts)
                } else {
                    Condition::fails(texts)
                })))
            }
            _ => Err(invalid(
                "when: expected a comparison (\"${a} != ''\"), true/false, or a probe `{ succeeds = [...] }`"
                    .into(),
            )),
        }
    }
}

impl Config {
    /// Checks the shape of every `when` when the file loads: a comparison
    /// that does not parse, or a probe that is not one, is refused before
    /// any plan is built.
    pub(super) fn check_whens(&self) -> Result<(), ConfigError> {
        for task in self.raw.tasks.values() {
            for entry in &task.get_ref().steps {
                let Some((_, value)) = entry.get_ref().iter().find(|(k, _)| k.get_ref() == "when")
                else {
                    continue;
                };
                let problem = match value.get_ref() {
                    toml::Value::String(expression) => {
                        let words = placeholders_as_words(expression);
                        compare(&words).err().map(|why| {
                            why.replace(&format!("{words:?}"), &format!("{expression:?}"))
                        })
                    }
                    toml::Value::Table(t)
                        if t.len() == 1 && (t.contains_key("succeeds") || t.contains_key("fails")) =>
                    {
                        None
                    }
                    toml::Value::Boolean(_) => None,
                    _ => Some(
                        "expected a comparison (\"${a} != ''\"), true/false, or a probe `{ succeeds = [...] }` / `{ fails = [...] }`"
                            .to_owned(),
                    ),
                };
                if let Some(why) = problem {
                    return Err(self.error_at(
                        value.span().start,
                        ConfigErrorKind::Invalid(format!("when: {why}")),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `expression` with each `${…}` made one word, so that its shape can be
/// checked before the values are known.
fn placeholders_as_words(expression: &str) -> String {
    let mut out = String::new();
    let mut rest = expression;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        out.push('v');
        rest = rest[start..].split_once('}').map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out
}

/// Decides `A == B` or `A != B` (each side a word, or quoted with `'` or
/// `"`; an empty side is the empty string) once `${…}` is filled in.
fn compare(expression: &str) -> Result<bool, String> {
    let (left, right, equal) = match (expression.split_once("=="), expression.split_once("!=")) {
        (Some((l, r)), None) => (l, r, true),
        (None, Some((l, r))) => (l, r, false),
        _ => {
            return Err(format!(
                "{expression:?} is not a comparison (expected `A == B` or `A != B`, e.g. \"${{production_release}} != ''\")"
            ));
        }
    };
    let side = |text: &str| -> Result<String, String> {
        let text = text.trim();
        for quote in ['\'', '"'] {
            if let Some(inner) = text.strip_prefix(quote) {
                return inner
                    .strip_suffix(quote)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("unclosed {quote} in {expression:?}"));
            }
        }
        if text.contains(char::is_whitespace) {
            return Err(format!(
                "{text:?} in {expression:?} has spaces: quote it ('…')"
            ));
        }
        Ok(text.to_owned())
    };
    Ok((side(left)? == side(right)?) == equal)
}

#[cfg(test)]
mod tests {
    use super::{compare, placeholders_as_words};

    #[test]
    fn comparisons_decide_with_quotes_and_empty_sides() {
        assert_eq!(compare("'' != ''"), Ok(false));
        assert_eq!(compare("r42 != ''"), Ok(true));
        assert_eq!(compare(" != ''"), Ok(false));
        assert_eq!(compare("\"a b\" == 'a b'"), Ok(true));
        assert_eq!(compare("main == develop"), Ok(false));
        assert!(compare("a b == c").is_err());
        assert!(compare("just words").is_err());
        assert!(compare("'open == x").is_err());
        assert_eq!(
            placeholders_as_words("${a | default('x y')} != ''"),
            "v != ''"
        );
    }
}
