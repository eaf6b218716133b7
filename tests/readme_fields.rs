//! The README documents every field each step kind accepts, and only
//! those: its `| kind | does | fields |` tables are parsed and, for every
//! kind the `deploy` binary registers (deploy-core's built-ins and
//! `docker.*`), the documented field names are compared with the keys the
//! kind deserializes, as the registry reports them
//! ([`StepRegistry::fields`]: serde's own field list for the kind's struct,
//! or the kind's [`Kind::fields`](deploy_core::Kind::fields) where it
//! combines or refuses some). A kind missing from the README, a README row
//! for a kind that does not exist, and a field missing or extra fail the
//! test, naming the kind and the field.
//!
//! How a fields cell is read: each backticked name outside parentheses is
//! a field (`proxy = { … }` is `proxy`; nested keys are not compared, and
//! parentheses are commentary); the words "container fields" stand for the
//! names of the README's `| container field | is |` table; "except `x`"
//! takes `x` away. The keys every step entry has (`id`, `roles`, …) are
//! documented once, apart, and are no kind's.
//!
//! Run: `cargo test --test readme_fields`

use std::collections::{BTreeMap, BTreeSet};

use deploy_core::StepRegistry;

fn registry() -> StepRegistry {
    let mut registry = StepRegistry::with_builtins();
    deploy_docker::register(&mut registry);
    registry
}

/// The README's tables: header cells, then each row's cells.
fn tables(markdown: &str) -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        let is_header = line.starts_with('|')
            && lines
                .peek()
                .is_some_and(|next| next.starts_with("|---") || next.starts_with("| ---"));
        if !is_header {
            continue;
        }
        lines.next();
        let mut rows = Vec::new();
        while let Some(row) = lines.next_if(|l| l.starts_with('|')) {
            rows.push(cells(row));
        }
        out.push((cells(line), rows));
    }
    out
}

/// A row's cells; a `|` inside backticks is text.
fn cells(row: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut in_code = false;
    for c in row.trim().trim_start_matches('|').chars() {
        match c {
            '`' => {
                in_code = !in_code;
                cell.push(c);
            }
            '|' if !in_code => cells.push(std::mem::take(&mut cell).trim().to_owned()),
            _ => cell.push(c),
        }
    }
    if !cell.trim().is_empty() {
        cells.push(cell.trim().to_owned());
    }
    cells
}

/// One piece of a cell: text outside backticks, or a backticked span.
enum Piece {
    Text(String),
    Code(String),
}

/// The cell's pieces with parenthesized commentary (outside backticks)
/// left out.
fn pieces(cell: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut in_code, mut depth) = (false, 0usize);
    for c in cell.chars() {
        match c {
            '`' if depth == 0 => {
                let piece = std::mem::take(&mut current);
                out.push(if in_code {
                    Piece::Code(piece)
                } else {
                    Piece::Text(piece)
                });
                in_code = !in_code;
            }
            '(' if !in_code => depth += 1,
            ')' if !in_code => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            _ => current.push(c),
        }
    }
    out.push(Piece::Text(current));
    out
}

/// `proxy = { caddy = … }` → `proxy`.
fn name_of(code: &str) -> String {
    code.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
        .collect()
}

/// The field names a fields cell documents.
fn documented_fields(cell: &str, container_fields: &BTreeSet<String>) -> BTreeSet<String> {
    let mut fields = BTreeSet::new();
    let mut except = false;
    for piece in pieces(cell) {
        match piece {
            Piece::Text(text) => {
                if text.contains("container fields") {
                    fields.extend(container_fields.iter().cloned());
                }
                except = text.trim_end().ends_with("except");
            }
            Piece::Code(code) if except => {
                fields.remove(&name_of(&code));
                except = false;
            }
            Piece::Code(code) => {
                fields.insert(name_of(&code));
            }
        }
    }
    fields
}

/// Per kind, the fields the README's kind tables give it.
fn readme_kinds(markdown: &str) -> BTreeMap<String, BTreeSet<String>> {
    let tables = tables(markdown);
    let container_fields: BTreeSet<String> = tables
        .iter()
        .filter(|(header, _)| header.first().is_some_and(|h| h == "container field"))
        .flat_map(|(_, rows)| rows.iter().filter_map(|row| row.first()))
        .map(|cell| name_of(cell.trim_matches('`')))
        .collect();
    assert!(
        !container_fields.is_empty(),
        "the README has no `| container field | is |` table"
    );
    let mut kinds = BTreeMap::new();
    for (header, rows) in &tables {
        if header.as_slice() != ["kind", "does", "fields"] {
            continue;
        }
        for row in rows {
            let [kind_cell, _, fields_cell] = row.as_slice() else {
                panic!("README kind row with other than 3 cells: {row:?}");
            };
            let fields = documented_fields(fields_cell, &container_fields);
            for piece in pieces(kind_cell) {
                if let Piece::Code(kind) = piece {
                    let previous = kinds.insert(name_of(&kind), fields.clone());
                    assert!(previous.is_none(), "the README has two rows for `{kind}`");
                }
            }
        }
    }
    kinds
}

#[test]
fn the_readme_lists_exactly_the_fields_each_kind_accepts() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let documented = readme_kinds(&readme);
    let registry = registry();
    let mut problems = Vec::new();
    for kind in registry.kinds() {
        let Some(accepted) = registry.fields(kind) else {
            problems.push(format!(
                "`{kind}`: the registry does not know its fields (declare them with \
                 `Kind::fields` or `StepRegistry::declare_fields`)"
            ));
            continue;
        };
        let accepted: BTreeSet<String> = accepted.iter().cloned().collect();
        let Some(listed) = documented.get(kind) else {
            problems.push(format!(
                "`{kind}` has no row in the README's kind tables (it accepts {})",
                accepted
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        };
        for missing in accepted.difference(listed) {
            problems.push(format!(
                "`{kind}` accepts `{missing}`, which the README does not list"
            ));
        }
        for extra in listed.difference(&accepted) {
            problems.push(format!(
                "the README lists `{extra}` for `{kind}`, which it does not accept"
            ));
        }
    }
    let known: BTreeSet<&str> = registry.kinds().collect();
    for kind in documented.keys() {
        if !known.contains(kind.as_str()) {
            problems.push(format!(
                "the README documents `{kind}`, which is not a registered kind"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "README.md:\n  {}",
        problems.join("\n  ")
    );
}

/// The reader itself: commentary, `container fields`, `except`, nested keys.
#[test]
fn a_fields_cell_is_read_as_documented() {
    let container: BTreeSet<String> = ["name", "image", "ports"].map(String::from).into();
    let cell = "container fields except `ports` (the proxy publishes `x`), then `port`, \
                `proxy = { caddy = { admin, id } }` or `proxy = { nginx = {} }`, `from` (`deployer`/`target`)";
    let fields = documented_fields(cell, &container);
    assert_eq!(
        fields,
        ["name", "image", "port", "proxy", "from"]
            .map(String::from)
            .into()
    );
}
