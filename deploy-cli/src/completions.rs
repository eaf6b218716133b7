//! `deploy completions SHELL`, `deploy man` and the hidden
//! `deploy __complete-names`: what a shell and `man` need to know of the
//! command line, generated from the same clap definition (`args`), so they
//! cannot drift from it.
//!
//! clap_complete's scripts are static: they know the subcommands and
//! flags, not the environments and tasks of a project. Its dynamic engine
//! (`CompleteEnv`, `ArgValueCandidates`) would know them, but only behind
//! its `unstable-dynamic` feature (clap_complete 4.6), so instead each
//! script gets a few lines appended that ask `deploy __complete-names` for
//! the names in the nearest `deploy.toml` where a word is an `ENV` or a
//! `TASK`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::aot::{Shell, generate};

use crate::args::{Cli, CompletionShell, NameKind};

/// The name the scripts complete (the binary's).
const BIN: &str = "deploy";

/// The subcommands whose words are `[ENV] [TASK] ...`, and which names
/// each completes.
const NAMED_WORDS: [(&str, &str); 12] = [
    ("plan", "all"),
    ("run", "all"),
    ("tasks", "environments"),
    ("releases", "environments"),
    ("audit", "environments"),
    ("rollback", "environments"),
    ("promote", "all"),
    ("ci", "tasks"),
    ("lock", "environments"),
    ("exec", "environments"),
    ("status", "environments"),
    ("logs", "environments"),
];

/// The completion script for `shell`, on stdout.
pub(crate) fn completions(shell: CompletionShell) -> Result<u8, String> {
    let script = script(shell);
    write_stdout(script.as_bytes())
}

/// The script: clap_complete's, then the lines that complete names.
pub(crate) fn script(shell: CompletionShell) -> String {
    let mut cmd = Cli::command();
    let mut out: Vec<u8> = Vec::new();
    let generator = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    generate(generator, &mut cmd, BIN, &mut out);
    let script = String::from_utf8_lossy(&out).into_owned();
    match shell {
        CompletionShell::Bash => script + &bash_names(),
        CompletionShell::Zsh => zsh_with_names(&script),
        CompletionShell::Fish => script + &fish_names(),
    }
}

/// bash: a wrapper around clap's `_deploy` that adds the names for a word
/// that is not an option (and not an option's value) of a subcommand that
/// takes them.
fn bash_names() -> String {
    let cases: String = NAMED_WORDS
        .iter()
        .map(|(sub, kind)| format!("        {sub}) kind={kind} ;;\n"))
        .collect();
    format!(
        r#"
# Environment and task names from the nearest deploy.toml (deploy __complete-names).
_deploy_with_names() {{
    _deploy "$@"
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local sub="" kind="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -c|--config) ((i++)) ;;
            -*) ;;
            *) sub="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    case "$sub" in
{cases}        *) return 0 ;;
    esac
    case "$cur" in -*|*=*) return 0 ;; esac
    if [[ "$sub" == lock ]]; then
        case "$prev" in -e|--environment) kind=environments ;; *) return 0 ;; esac
    else
        case "$prev" in
            -c|--config|-H|--hosts|-R|--roles|-m|--message|--grace|--lock-wait|--concurrency|--branch|--tag|--sha) return 0 ;;
            -n) [[ "$sub" == audit ]] && return 0 ;;
            =|:) return 0 ;;
        esac
    fi
    local names
    names="$({BIN} __complete-names "$kind" 2>/dev/null)" || return 0
    COMPREPLY=($(compgen -W "$names" -- "$cur"))
    return 0
}}
if [[ "${{BASH_VERSINFO[0]}}" -eq 4 && "${{BASH_VERSINFO[1]}}" -ge 4 || "${{BASH_VERSINFO[0]}}" -gt 4 ]]; then
    complete -F _deploy_with_names -o nosort -o bashdefault -o default {BIN}
else
    complete -F _deploy_with_names -o bashdefault -o default {BIN}
fi
"#
    )
}

/// zsh: the actions of the name-taking words in clap's script (`_default`,
/// any file) become `_deploy_names KIND`, a function defined at its top.
fn zsh_with_names(script: &str) -> String {
    let mut out = String::new();
    let mut section = String::new();
    for line in script.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            section = name.to_owned();
        }
        let kind = if trimmed.starts_with("'-e+[") || trimmed.starts_with("'--environment=[") {
            Some("environments")
        } else if trimmed.starts_with("'-")
            || trimmed.starts_with("'*-")
            || trimmed.starts_with("'(")
        {
            None
        } else {
            NAMED_WORDS
                .iter()
                .find(|(sub, _)| *sub == section && *sub != "lock")
                .map(|(_, kind)| *kind)
        };
        match kind {
            Some(kind) if trimmed.starts_with('\'') && line.ends_with(":_default' \\") => {
                let cut = line.len() - ":_default' \\".len();
                out.push_str(&line[..cut]);
                out.push_str(&format!(":_deploy_names {kind}' \\"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
        if line.starts_with("#compdef") {
            out.push_str(&format!(
                r#"
# Environment and task names from the nearest deploy.toml (deploy __complete-names).
(( $+functions[_deploy_names] )) ||
# _arguments calls it with compadd's options first, the kind last.
_deploy_names() {{
    local kind="${{@[-1]}}"
    local -a names
    names=(${{(f)"$({BIN} __complete-names $kind 2>/dev/null)"}})
    compadd "${{@[1,-2]}}" -a names
}}
"#
            ));
        }
    }
    out
}

/// fish: completions add up, so one line per subcommand that takes names.
fn fish_names() -> String {
    let mut text = String::from(
        "\n# Environment and task names from the nearest deploy.toml (deploy __complete-names).\n",
    );
    for (sub, kind) in NAMED_WORDS {
        if sub == "lock" {
            text.push_str(&format!(
                "complete -c {BIN} -n \"__fish_{BIN}_using_subcommand lock\" -s e -l environment -x -a \"({BIN} __complete-names environments 2>/dev/null)\"\n"
            ));
        } else {
            text.push_str(&format!(
                "complete -c {BIN} -n \"__fish_{BIN}_using_subcommand {sub}\" -f -a \"({BIN} __complete-names {kind} 2>/dev/null)\"\n"
            ));
        }
    }
    text
}

/// `deploy __complete-names [KIND]`: the names in `config`, one a line.
pub(crate) fn names(config: &deploy_core::Config, kind: NameKind) -> Result<u8, String> {
    let mut out = String::new();
    if kind != NameKind::Tasks {
        for env in config.environments() {
            out.push_str(env);
            out.push('\n');
        }
    }
    if kind != NameKind::Environments {
        for task in config.tasks() {
            out.push_str(&task.name);
            out.push('\n');
        }
    }
    write_stdout(out.as_bytes())
}

/// `deploy man [COMMAND] [--out-dir DIR]`.
pub(crate) fn man(command: Option<&str>, out_dir: Option<&Path>) -> Result<u8, String> {
    // Each subcommand's page carries the version in its header too.
    let cmd = Cli::command()
        .propagate_version(true)
        .disable_help_subcommand(true);
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        clap_mangen::generate_to(cmd, dir)
            .map_err(|e| format!("cannot write the man pages into {}: {e}", dir.display()))?;
        eprintln!("wrote the man pages into {}", dir.display());
        return Ok(crate::exit::OK);
    }
    let page = match command {
        None => clap_mangen::Man::new(cmd),
        Some(name) => {
            let mut cmd = cmd;
            // Built, subcommands have their display names (`deploy-run`).
            cmd.build();
            let known: Vec<String> = cmd
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| s.get_name().to_owned())
                .collect();
            let sub = cmd
                .get_subcommands()
                .find(|s| s.get_name() == name && !s.is_hide_set())
                .cloned()
                .ok_or_else(|| {
                    format!("no subcommand `{name}` (subcommands: {})", known.join(", "))
                })?;
            clap_mangen::Man::new(sub)
        }
    };
    let mut out: Vec<u8> = Vec::new();
    page.render(&mut out)
        .map_err(|e| format!("cannot render the man page: {e}"))?;
    write_stdout(&out)
}

/// Writes to stdout; a closed pipe (`deploy man | head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<u8, String> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(crate::exit::OK),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(crate::exit::OK),
        Err(e) => Err(format!("cannot write to stdout: {e}")),
    }
}
