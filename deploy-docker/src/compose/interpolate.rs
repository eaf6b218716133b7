//! Compose's `${VAR}` substitution, on one string and on every string of a
//! parsed file.

use serde_yaml_ng::Value;

/// Compose's `${VAR}` substitution on one string.
///
/// # Examples
///
/// ```
/// use deploy_docker::compose::interpolate;
///
/// let vars = |name: &str| (name == "TAG").then(|| "v2".to_owned());
/// assert_eq!(interpolate("web:${TAG}", &vars).unwrap(), "web:v2");
/// assert_eq!(interpolate("${MISSING:-fallback} $$HOME $TAG", &vars).unwrap(), "fallback $HOME v2");
/// assert!(interpolate("${MISSING:?set MISSING}", &vars).unwrap_err().contains("set MISSING"));
/// ```
pub fn interpolate(text: &str, vars: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(braced) = rest.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
            let inner = &braced[..end];
            rest = &braced[end + 1..];
            let split = inner.find([':', '-', '?']).unwrap_or(inner.len());
            let (name, op) = inner.split_at(split);
            let value = vars(name);
            let resolved = match op {
                "" => value.unwrap_or_default(),
                _ if op.starts_with(":-") => value
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| op[2..].to_owned()),
                _ if op.starts_with('-') => value.unwrap_or_else(|| op[1..].to_owned()),
                _ if op.starts_with(":?") => value
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("{name}: {}", &op[2..]))?,
                _ if op.starts_with('?') => value.ok_or_else(|| format!("{name}: {}", &op[1..]))?,
                _ => {
                    return Err(format!(
                        "`${{{inner}}}` is not a substitution compose knows"
                    ));
                }
            };
            out.push_str(&resolved);
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end == 0 {
                out.push('$');
            } else {
                out.push_str(&vars(&rest[..end]).unwrap_or_default());
                rest = &rest[end..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

pub(super) fn interpolate_all(
    value: &mut Value,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    match value {
        Value::String(s) => *s = interpolate(s, vars)?,
        Value::Sequence(items) => {
            for item in items {
                interpolate_all(item, vars)?;
            }
        }
        Value::Mapping(map) => {
            for (_, item) in map.iter_mut() {
                interpolate_all(item, vars)?;
            }
        }
        _ => {}
    }
    Ok(())
}
