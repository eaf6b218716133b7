//! Typed values from `${…}`: a step field that wants a number or a boolean
//! may be written `tail = "${lines}"`. Interpolation makes every value text,
//! so when a kind refuses a string where it wants a number or boolean, and
//! that string was exactly one `${…}`, the string is converted to the type
//! the kind asked for and the kind is asked again. Driven by the kind's own
//! error, so it works for every kind and field without a list of them.

use super::interpolate;

/// A string in a step body that was exactly one `${…}` before it was filled
/// in: where it is (table keys and array indexes) and what it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Candidate {
    path: Vec<String>,
    written: String,
}

/// Every string of `value` that is exactly one `${…}` of a config
/// variable (run-time values and secrets stay text).
pub(super) fn candidates(value: &toml::Value) -> Vec<Candidate> {
    fn walk(value: &toml::Value, path: &mut Vec<String>, out: &mut Vec<Candidate>) {
        match value {
            toml::Value::String(s) if is_config_reference(s) => out.push(Candidate {
                path: path.clone(),
                written: s.clone(),
            }),
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk(item, path, out);
                    path.pop();
                }
            }
            toml::Value::Table(table) => {
                for (key, item) in table {
                    path.push(key.clone());
                    walk(item, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn is_config_reference(s: &str) -> bool {
    interpolate::single_reference(s).is_some_and(|name| {
        !name.starts_with("secret.") && !crate::text::RUNTIME_VALUES.contains(&name)
    })
}

/// What to do about a kind's error.
#[derive(Debug, PartialEq)]
pub(super) enum Coerced {
    /// A candidate was converted: parse again.
    Retry,
    /// A candidate's value is not of the wanted type: the field (its path
    /// in the kind's table) and why.
    Refused {
        /// `tail`, `update.parallelism`.
        field: String,
        /// `"five" (from `${lines}`) is not a whole number`.
        why: String,
    },
    /// The error is not about a candidate.
    NotMine,
}

/// Converts the candidate `message` (a kind's serde error: `invalid type:
/// string "5", expected u32` and maybe `\nin `tail``) is about, in `value`.
/// `done` holds the candidates already converted, so each is tried once.
pub(super) fn coerce(
    value: &mut toml::Value,
    message: &str,
    candidates: &[Candidate],
    done: &mut Vec<usize>,
) -> Coerced {
    let (what, error_path) = match message.rsplit_once("\nin `") {
        Some((what, path)) => (what, Some(path.trim_end_matches('`'))),
        None => (message, None),
    };
    let Some(rest) = what.trim().strip_prefix("invalid type: string ") else {
        return Coerced::NotMine;
    };
    let Some((_, expected)) = rest.rsplit_once(", expected ") else {
        return Coerced::NotMine;
    };
    let found = candidates.iter().enumerate().find(|(i, c)| {
        if done.contains(i) {
            return false;
        }
        match error_path {
            // The kind's path is from its own table, which may sit under a
            // dotted kind's name (`docker` → `logs.tail`).
            Some(path) => {
                let want: Vec<&str> = path.split('.').collect();
                c.path.len() >= want.len() && c.path[c.path.len() - want.len()..] == want[..]
            }
            None => get(value, &c.path)
                .and_then(toml::Value::as_str)
                .is_some_and(|s| rest.starts_with(&format!("{s:?}"))),
        }
    });
    let Some((index, candidate)) = found else {
        return Coerced::NotMine;
    };
    done.push(index);
    let Some(slot) = get_mut(value, &candidate.path) else {
        return Coerced::NotMine;
    };
    let Some(text) = slot.as_str().map(str::to_owned) else {
        return Coerced::NotMine;
    };
    let field = error_path.map_or_else(|| candidate.path.join("."), str::to_owned);
    let (wanted, converted) = convert(&text, expected);
    match converted {
        Some(typed) => {
            *slot = typed;
            Coerced::Retry
        }
        None => Coerced::Refused {
            field,
            why: format!("{text:?} (from `{}`) is not {wanted}", candidate.written),
        },
    }
}

/// `text` as the type serde's `expected` names, and how to say that type.
fn convert(text: &str, expected: &str) -> (&'static str, Option<toml::Value>) {
    let text = text.trim();
    let integer = || text.parse::<i64>().ok().map(toml::Value::Integer);
    let float = || text.parse::<f64>().ok().map(toml::Value::Float);
    let boolean = || text.parse::<bool>().ok().map(toml::Value::Boolean);
    let expected = expected.trim();
    if expected.contains("bool") {
        ("true or false", boolean())
    } else if expected.starts_with('f') && expected[1..].chars().all(|c| c.is_ascii_digit()) {
        ("a number", float())
    } else if [
        "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize",
    ]
    .contains(&expected)
        || expected.contains("integer")
    {
        ("a whole number", integer())
    } else {
        (
            "a number or true/false",
            integer().or_else(float).or_else(boolean),
        )
    }
}

fn get<'a>(value: &'a toml::Value, path: &[String]) -> Option<&'a toml::Value> {
    path.iter().try_fold(value, |at, key| match at {
        toml::Value::Table(t) => t.get(key),
        toml::Value::Array(a) => a.get(key.parse::<usize>().ok()?),
        _ => None,
    })
}

fn get_mut<'a>(value: &'a mut toml::Value, path: &[String]) -> Option<&'a mut toml::Value> {
    path.iter().try_fold(value, |at, key| match at {
        toml::Value::Table(t) => t.get_mut(key),
        toml::Value::Array(a) => a.get_mut(key.parse::<usize>().ok()?),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(source: &str) -> toml::Value {
        toml::Value::Table(toml::from_str(source).expect("toml"))
    }

    #[test]
    fn only_whole_references_of_config_variables_are_candidates() {
        let value = table(
            "tail = \"${lines}\"\nname = \"web-${n}\"\nrelease = \"${release}\"\nkey = \"${secret.k}\"\nlist = [\"${a}\"]\n",
        );
        let paths: Vec<String> = candidates(&value)
            .iter()
            .map(|c| c.path.join("."))
            .collect();
        assert_eq!(paths, ["list.0", "tail"]);
    }

    #[test]
    fn converts_the_field_the_error_names() {
        let written = table("logs = { tail = \"${lines}\", follow = \"${f}\" }\n");
        let cands = candidates(&written);
        let mut value = table("logs = { tail = \"5\", follow = \"true\" }\n");
        let mut done = Vec::new();
        let message = "invalid type: string \"5\", expected u32\nin `tail`";
        assert_eq!(
            coerce(&mut value, message, &cands, &mut done),
            Coerced::Retry
        );
        assert_eq!(value["logs"]["tail"].as_integer(), Some(5));
        let message = "invalid type: string \"true\", expected a boolean\nin `follow`";
        assert_eq!(
            coerce(&mut value, message, &cands, &mut done),
            Coerced::Retry
        );
        assert_eq!(value["logs"]["follow"].as_bool(), Some(true));
        // Each candidate once; other errors are not this module's.
        assert_eq!(
            coerce(&mut value, message, &cands, &mut done),
            Coerced::NotMine
        );
        assert_eq!(
            coerce(&mut value, "missing field `service`", &cands, &mut done),
            Coerced::NotMine
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_with_its_field() {
        let written = table("keep = \"${n}\"\n");
        let mut value = table("keep = \"five\"\n");
        let message = "invalid type: string \"five\", expected usize\nin `keep`";
        assert_eq!(
            coerce(&mut value, message, &candidates(&written), &mut Vec::new()),
            Coerced::Refused {
                field: "keep".into(),
                why: "\"five\" (from `${n}`) is not a whole number".into()
            }
        );
    }
}
