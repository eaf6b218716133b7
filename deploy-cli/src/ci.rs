//! `deploy ci`: read the CI build's branch or tag, pick the environment the
//! `[ci]` rules say, and run it as `deploy run` would (or, with
//! `--explain`, say why and what would run).

use deploy_core::config::{CiBuild, CiMatch, CiOverrides, Config, OnNoMatch, parse_args};

use crate::args::{CiArgs, Cli, RunArgs, Selection};
use crate::commands::{execute, print_plan, prompt_and_plan};
use crate::exit;

pub(crate) async fn run(cli: &Cli, config: Config, args: &CiArgs) -> Result<u8, String> {
    if !config.has_ci() {
        return Err(format!(
            "{} has no [ci] table: add rules such as `[ci] rules = [{{ tag = \"v*\", environment = \"production\" }}]`",
            config.file()
        ));
    }
    let (names, params): (Vec<&String>, Vec<&String>) =
        args.words.iter().partition(|w| !w.contains('='));
    let task_word = match names.as_slice() {
        [] => None,
        [one] => Some(one.as_str()),
        [_, extra, ..] => {
            return Err(format!(
                "unexpected argument `{extra}` (usage: deploy ci [TASK] [KEY=VALUE]...; the [ci] rules pick the environment)"
            ));
        }
    };
    let task_args = parse_args(params)?;
    let overrides = CiOverrides {
        branch: args.branch.clone(),
        tag: args.tag.clone(),
        sha: args.sha.clone(),
    };
    let build = CiBuild::from_process_env(&overrides).map_err(|e| e.to_string())?;
    if args.explain {
        explain_build(&build);
    }
    let rules = config.ci_rule_count();
    let Some(matched) = config.ci_match(&build) else {
        let line = format!(
            "no [ci] rule matches {} ({rules} rule{} in {}): nothing to deploy",
            build.reference,
            if rules == 1 { "" } else { "s" },
            config.file()
        );
        if args.explain {
            println!("{line}");
            return Ok(exit::OK);
        }
        return Ok(match config.ci_on_no_match() {
            OnNoMatch::Skip => {
                eprintln!("deploy ci: {line}");
                exit::OK
            }
            OnNoMatch::Fail => {
                eprintln!("error: {line} (on_no_match = \"fail\")");
                exit::NO_CI_RULE
            }
        });
    };
    let task = matched.task.as_deref().or(task_word).map(str::to_owned);
    let env = matched.environment.clone();
    let config = config.with_ci(build.clone(), Some(&matched));
    let (plan, asked) = prompt_and_plan(&config, Some(&env), task.as_deref(), task_args)?;
    let plan = plan.limited(&args.on.limit()).map_err(|e| e.to_string())?;
    let gated = plan.steps().iter().any(|s| s.step.kind() == "approve");
    let picked = picked_line(&build, &matched, rules);
    if args.explain {
        println!("{picked}");
        println!(
            "would run: task `{}` on {}{}",
            plan.task(),
            plan.environment(),
            match (gated, args.yes) {
                (false, _) => "",
                (true, true) => " (approval required: approved by --yes)",
                (true, false) => " (approval required: pass --yes)",
            }
        );
        println!();
        print_plan(&plan, false);
        return Ok(exit::OK);
    }
    if !cli.quiet {
        eprintln!(
            "deploy ci: {picked}: task `{}` on {}",
            plan.task(),
            plan.environment()
        );
    }
    if gated && !args.yes {
        eprintln!(
            "error: {} needs approval (approval = \"required\"): under `deploy ci` no one is asked, so pass --yes once the CI's own approval (a protected environment, a manual job, a hold) has run; nothing ran",
            plan.environment()
        );
        return Ok(exit::NOT_APPROVED);
    }
    let run_args = RunArgs {
        selection: Selection {
            words: Vec::new(),
            json: args.json,
            on: args.on.clone(),
        },
        dry_run: false,
        yes: args.yes,
        concurrency: args.concurrency,
        grace: args.grace.clone(),
        lock_wait: None,
        message: None,
    };
    execute(
        cli,
        &config,
        &plan,
        asked,
        &run_args,
        &crate::releases::Origin::run(),
    )
    .await
}

/// `--explain`: where the build came from, each variable read, and the
/// `${ci.*}` values.
fn explain_build(build: &CiBuild) {
    println!("read from {}:", build.system);
    for (name, value) in &build.read {
        println!("  {name}={value}");
    }
    println!(
        "build: {}{}",
        build.reference,
        build
            .sha
            .as_deref()
            .map(|s| format!(", commit {s}"))
            .unwrap_or_default()
    );
    let shown = |v: Option<&str>| v.map_or("(none)".to_owned(), str::to_owned);
    println!(
        "  ci.branch={} ci.tag={} ci.sha={} ci.ref_tag={}",
        shown(build.branch()),
        shown(build.tag()),
        shown(build.sha.as_deref()),
        shown(build.ref_tag().as_deref())
    );
}

fn picked_line(build: &CiBuild, matched: &CiMatch, rules: usize) -> String {
    format!(
        "{} matched rule {} of {rules} ({}): {}",
        build.reference,
        matched.index + 1,
        format_args!("rules[{}]", matched.index),
        matched.text
    )
}
