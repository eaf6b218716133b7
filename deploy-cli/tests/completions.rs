//! `deploy completions`, the hidden `deploy __complete-names` they call,
//! and `deploy man`, run as the real binary; the bash script is loaded into
//! a real bash and asked to complete.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

/// RandoPony's config: one environment, ten tasks.
const RANDOPONY: &str = include_str!("../../tests/fixtures/randopony.toml");

fn deploy(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("deploy").expect("deploy binary");
    cmd.current_dir(dir)
        .env_remove("DEPLOY_CONFIG")
        .env("DEPLOY_STATE_DIR", dir.join(".state"));
    cmd
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

/// A project holding the RandoPony config, and a directory below it.
fn randopony() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("deploy.toml"), RANDOPONY).expect("write config");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    dir
}

/// The bash script is clap's (every subcommand), with the name completion
/// wired in.
#[test]
fn bash_script_has_the_subcommands_and_the_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = run_ok(deploy(dir.path()).args(["completions", "bash"]));
    assert!(script.contains("_deploy()"), "{script}");
    for sub in [
        "plan",
        "run",
        "tasks",
        "releases",
        "rollback",
        "promote",
        "lock",
        "init",
        "completions",
        "man",
    ] {
        assert!(script.contains(&format!("deploy,{sub})")), "{sub} missing");
    }
    assert!(script.contains("deploy __complete-names"), "{script}");
    assert!(
        script.contains("complete -F _deploy_with_names"),
        "{script}"
    );
}

/// zsh and fish scripts are written too, each asking for the names.
#[test]
fn zsh_and_fish_scripts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zsh = run_ok(deploy(dir.path()).args(["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef deploy"), "{zsh}");
    assert!(zsh.contains(":_deploy_names all'"), "{zsh}");
    assert!(zsh.contains("_deploy_names() {"), "{zsh}");
    let fish = run_ok(deploy(dir.path()).args(["completions", "fish"]));
    assert!(
        fish.contains("__fish_deploy_using_subcommand plan\" -f -a \"(deploy __complete-names all"),
        "{fish}"
    );
    let out = deploy(dir.path())
        .args(["completions", "tcsh"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

/// `__complete-names` lists the nearest config's environments, then its
/// tasks (or either alone); it is not in `--help`.
#[test]
fn names_come_from_the_nearest_config() {
    let dir = randopony();
    let below = dir.path().join("sub");
    let all = run_ok(deploy(&below).arg("__complete-names"));
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines[0], "staging", "{all}");
    for task in [
        "deploy_staging",
        "promote",
        "restart_app",
        "switch_production",
    ] {
        assert!(lines.contains(&task), "{task}: {all}");
    }
    assert_eq!(
        run_ok(deploy(&below).args(["__complete-names", "environments"])),
        "staging\n"
    );
    let tasks = run_ok(deploy(&below).args(["__complete-names", "tasks"]));
    let tasks: Vec<&str> = tasks.lines().collect();
    assert!(
        !tasks.contains(&"staging") && tasks.contains(&"init_db"),
        "{tasks:?}"
    );
    let help = run_ok(deploy(&below).arg("--help"));
    assert!(!help.contains("complete-names"), "{help}");
}

/// bash itself, with the script loaded, completes an environment and a
/// task name from the config of the directory it is in.
#[test]
fn bash_completes_names_from_the_config() {
    let dir = randopony();
    let script = run_ok(deploy(dir.path()).args(["completions", "bash"]));
    std::fs::write(dir.path().join("deploy.bash"), script).expect("write script");
    let bin = assert_cmd::cargo::cargo_bin("deploy");
    let bin_dir = bin.parent().expect("binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let probe = r#"
source ../deploy.bash
complete_words() {
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
    _deploy_with_names deploy "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    echo "${COMPREPLY[*]}"
}
complete_words deploy pl
complete_words deploy plan sta
complete_words deploy run staging restart
complete_words deploy run --yes staging sw
complete_words deploy plan --js
"#;
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", probe])
        .current_dir(dir.path().join("sub"))
        .env("PATH", path)
        .env_remove("DEPLOY_CONFIG")
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "plan",
            "staging",
            "restart_app",
            "switch_production",
            "--json"
        ],
        "{}",
        stderr(&out)
    );
}

/// `deploy man` is roff: the title macro (after the quote-string preamble
/// clap_mangen writes first), the name, and the subcommands' pages named.
#[test]
fn man_page_is_roff_with_the_subcommands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = run_ok(deploy(dir.path()).arg("man"));
    let first_macro = page
        .lines()
        .find(|l| !l.starts_with(".ie") && !l.starts_with(".el"))
        .unwrap_or_default();
    assert!(first_macro.starts_with(".TH deploy 1"), "{page}");
    assert!(!page.contains("deploy\\-help(1)"), "{page}");
    assert!(page.contains("deploy\\-run(1)"), "{page}");
    assert!(page.contains("deploy\\-init(1)"), "{page}");
    assert!(!page.contains("complete\\-names"), "{page}");

    let run = run_ok(deploy(dir.path()).args(["man", "run"]));
    assert!(run.contains(".TH deploy-run 1"), "{run}");
    assert!(run.contains("\\-\\-dry\\-run"), "{run}");

    let pages = dir.path().join("man");
    run_ok(deploy(dir.path()).args(["man", "--out-dir"]).arg(&pages));
    for page in [
        "deploy.1",
        "deploy-run.1",
        "deploy-init.1",
        "deploy-lock-status.1",
    ] {
        assert!(pages.join(page).is_file(), "{page} not written");
    }
    assert!(!pages.join("deploy-__complete-names.1").exists());

    let out = deploy(dir.path())
        .args(["man", "nope"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no subcommand `nope`"),
        "{}",
        stderr(&out)
    );
}

/// fish itself (scripts/install-peers installs it) completes the names
/// with the script loaded (`complete -C` asks it as a prompt would).
#[test]
fn fish_completes_names_from_the_config() {
    if std::process::Command::new("fish")
        .arg("--version")
        .output()
        .is_err()
    {
        let message = "fish is not installed: run scripts/install-peers";
        assert!(std::env::var("CI").is_err(), "{message}");
        eprintln!("SKIPPED, {message}");
        return;
    }
    let dir = randopony();
    let script = run_ok(deploy(dir.path()).args(["completions", "fish"]));
    std::fs::write(dir.path().join("deploy.fish"), script).expect("write script");
    let bin = assert_cmd::cargo::cargo_bin("deploy");
    let bin_dir = bin.parent().expect("binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("fish")
        .args([
            "--no-config",
            "-c",
            "source ../deploy.fish; complete -C 'deploy ci rest'; complete -C 'deploy lock -e st'",
        ])
        .current_dir(dir.path().join("sub"))
        .env("PATH", path)
        .env_remove("DEPLOY_CONFIG")
        .output()
        .expect("fish runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["restart_app", "staging"],
        "{text}"
    );
}
