//! What every command's output shares: JSON carries a `schema_version`
//! (readers can tell a shape they know), and colour on a terminal follows
//! `--color auto|always|never`, then `NO_COLOR` and `CLICOLOR_FORCE`.
//! Data go to stdout; progress and diagnostics to stderr.

use serde::Serialize;

/// The version of the JSON `deploy` prints (each document and line).
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// `value` as one JSON line with `schema_version` first among its keys'
/// siblings (objects only; anything else as it is).
pub(crate) fn json_line(value: &impl Serialize) -> String {
    serde_json::to_string(&versioned(value)).unwrap_or_default()
}

/// `value` as pretty JSON with `schema_version`.
pub(crate) fn json_pretty(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(&versioned(value)).unwrap_or_default()
}

fn versioned(value: &impl Serialize) -> serde_json::Value {
    let mut value = serde_json::to_value(value).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("schema_version".to_owned(), SCHEMA_VERSION.into());
    }
    value
}

/// When to colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (or `CLICOLOR_FORCE` forces it).
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Sets colour for stdout and stderr as `choice` and the environment say.
pub(crate) fn set_colour(choice: ColorChoice) {
    let set = |on: bool| {
        console::set_colors_enabled(on);
        console::set_colors_enabled_stderr(on);
    };
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => set(true),
        ColorChoice::Never => set(false),
        ColorChoice::Auto if var("NO_COLOR").is_some() => set(false),
        ColorChoice::Auto if var("CLICOLOR_FORCE").is_some_and(|v| v != "0") => set(true),
        // console's own: on for a terminal.
        ColorChoice::Auto => {}
    }
}
