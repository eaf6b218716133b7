//! `deploy rollback` and `deploy promote`: a recorded release run again —
//! its task and parameters, every image pinned to the digest it recorded —
//! in its own environment (putting it back) or in another (shipping on
//! exactly what it runs). Both show the plan first and go through the same
//! approval, lock, audit and release record as a run; `deploy plan …
//! rollback` shows what a rollback would do.

use deploy_core::config::{Config, EnvironmentInfo, parse_args};
use deploy_core::release::{History, Pinning, Release, Revision};
use deploy_core::step::Approver;

use crate::args::{Cli, PromoteArgs, RollbackArgs, RunArgs, Selection};
use crate::commands::{execute, print_plan};
use crate::exit;
use crate::releases::{Origin, params_of, pinned_plan};

/// Kinds that ship files from this checkout: a promotion from a checkout
/// at another revision than FROM's release would ship other code.
const SHIPS_LOCAL_FILES: [&str; 3] = ["sync", "upload", "docker.build"];

/// `deploy rollback`.
pub(crate) async fn rollback(
    cli: &Cli,
    config: &Config,
    args: &RollbackArgs,
) -> Result<u8, String> {
    let (env, _targets, history, words) = read(config, &args.run.selection.words).await?;
    if args.list {
        list(&env, &history)?;
        return Ok(exit::OK);
    }
    let target = pick(&history, words.release.as_deref())?;
    let (plan, asked) = plan_for(config, &env, target, words.params, &args.run.selection)?;
    // Without --with-data a rollback never touches data; with it, the
    // backup the live release took must be there before anything runs.
    let data = if args.with_data {
        Some(crate::backups::rollback_backup(config, &env.name, &history).await?)
    } else {
        None
    };
    if args.run.dry_run {
        print_plan(&plan, args.run.selection.json);
        if let Some((settings, _, backup)) = &data {
            println!(
                "with data: first restores backup {} on {} (taken by the live release)",
                backup.id, settings.host
            );
        }
        return Ok(exit::OK);
    }
    show_first(cli, &plan, &args.run);
    if let Some(found) = &data {
        let code = crate::backups::restore_for_rollback(cli, config, found, args.run.yes).await?;
        if code != exit::OK {
            eprintln!("error: the data were not restored: the code was not rolled back either");
            return Ok(code);
        }
    }
    let origin = Origin {
        command: "rollback",
        run_as: Some(target.id.clone()),
        revision: Some(target.record().revision.clone()),
        lock: true,
    };
    execute(cli, config, &plan, asked, &args.run, &origin).await
}

/// `deploy plan [ENV] rollback [RELEASE]`: the words without `rollback`,
/// when they ask for a rollback's plan (and the config has no task of
/// that name, which would win).
pub(crate) fn plan_words(config: &Config, words: &[String]) -> Option<Vec<String>> {
    if config.tasks().iter().any(|t| t.name == "rollback") {
        return None;
    }
    let names: Vec<&String> = words.iter().filter(|w| !w.contains('=')).collect();
    let at = names.iter().take(2).position(|w| *w == "rollback")?;
    let word = names[at];
    let mut rest = words.to_vec();
    let index = rest.iter().position(|w| w == word)?;
    rest.remove(index);
    Some(rest)
}

/// `deploy plan … rollback`: prints the rollback's plan.
pub(crate) async fn show_plan(
    config: &Config,
    selection: &Selection,
    words: Vec<String>,
) -> Result<u8, String> {
    let (env, _targets, history, words) = read(config, &words).await?;
    let target = pick(&history, words.release.as_deref())?;
    let (plan, _) = plan_for(config, &env, target, words.params, selection)?;
    print_plan(&plan, selection.json);
    Ok(exit::OK)
}

/// `deploy promote FROM TO [TASK]`.
pub(crate) async fn promote(cli: &Cli, config: &Config, args: &PromoteArgs) -> Result<u8, String> {
    if args.from == args.to {
        return Err(format!(
            "promote needs two environments: `{}` is both FROM and TO",
            args.from
        ));
    }
    let from = config
        .environment(Some(&args.from))
        .map_err(|e| e.with_snippet())?;
    config
        .environment(Some(&args.to))
        .map_err(|e| e.with_snippet())?;
    let from_targets = crate::targets::for_environment(&from, &config.ssh(), config.dir())?;
    let history = crate::releases::history(&from, &from_targets).await;
    let live = history.require_live().map_err(|e| {
        format!(
            "{e}: deploy it first (`deploy run {}`), then promote what runs there",
            from.name
        )
    })?;
    let (names, params): (Vec<&String>, Vec<&String>) = args
        .run
        .selection
        .words
        .iter()
        .partition(|w| !w.contains('='));
    let task = match names.as_slice() {
        [] => live.record().task.clone(),
        [task] => (*task).clone(),
        [_, extra, ..] => {
            return Err(format!(
                "unexpected argument `{extra}` (usage: deploy promote FROM TO [TASK] [KEY=VALUE]...)"
            ));
        }
    };
    let params = params_of(live, parse_args(params)?);
    let mut pinning = Pinning::promote(&from.name, &live.id, live.images());
    pinning.revision.clone_from(&live.record().revision);
    let (plan, asked) = pinned_plan(
        config,
        &args.to,
        &task,
        params,
        &args.run.selection.limit(),
        pinning,
    )?;
    check_revision(config, &plan, live)?;
    if args.run.dry_run {
        print_plan(&plan, args.run.selection.json);
        return Ok(exit::OK);
    }
    show_first(cli, &plan, &args.run);
    // An environment with an approval gate asks there; else the promotion
    // asks here (unattended: --yes).
    let gated = plan.steps().iter().any(|s| s.step.kind() == "approve");
    if !gated {
        let approver = crate::approve::TerminalApprover {
            pre_approved: args.run.yes,
            bars: None,
        };
        let question = format!(
            "Promote {} release {} to {} (task `{task}`)?",
            from.name, live.id, args.to
        );
        if let Err(why) = approver.approve(&question).await {
            eprintln!("error: not promoted: {why}; nothing ran");
            return Ok(exit::NOT_APPROVED);
        }
    }
    let origin = Origin {
        command: "promote",
        run_as: None,
        revision: Some(live.record().revision.clone()),
        lock: true,
    };
    execute(cli, config, &plan, asked, &args.run, &origin).await
}

/// `[ENV] [RELEASE] [KEY=VALUE]...`, split.
struct Words {
    release: Option<String>,
    params: Vec<(String, String)>,
}

/// Loads the environment the words name (else the default one), its
/// targets and its release history.
async fn read(
    config: &Config,
    words: &[String],
) -> Result<(EnvironmentInfo, deploy_core::Targets, History, Words), String> {
    let (names, params): (Vec<&String>, Vec<&String>) =
        words.iter().partition(|w| !w.contains('='));
    let params = parse_args(params)?;
    let is_env = |w: &str| config.environments().contains(&w);
    let (env, release) = match names.as_slice() {
        [] => (None, None),
        [one] if is_env(one) => (Some(one.as_str()), None),
        [one] => (None, Some((*one).clone())),
        [env, release] => (Some(env.as_str()), Some((*release).clone())),
        [_, _, extra, ..] => {
            return Err(format!(
                "unexpected argument `{extra}` (usage: [ENV] [RELEASE] [KEY=VALUE]...)"
            ));
        }
    };
    let env = config.environment(env).map_err(|e| e.with_snippet())?;
    let targets = crate::targets::for_environment(&env, &config.ssh(), config.dir())?;
    let history = crate::releases::history(&env, &targets).await;
    Ok((env, targets, history, Words { release, params }))
}

/// The release a rollback puts back: the one named (it must have
/// succeeded, and not be the live one), else the default.
fn pick<'h>(history: &'h History, release: Option<&str>) -> Result<&'h Release, String> {
    let Some(id) = release else {
        return history.rollback_target().map_err(|e| {
            format!("{e}; see `deploy releases` (a release to put back must have succeeded)")
        });
    };
    let release = history
        .find(id)
        .map_err(|e| format!("{e}; see `deploy releases`"))?;
    if !release.succeeded() {
        return Err(format!(
            "release {} did not succeed ({}): only a release that succeeded can be put back; see `deploy rollback --list`",
            release.id,
            release.outcome()
        ));
    }
    if history.live().is_some_and(|live| live.id == release.id) {
        return Err(format!(
            "release {} is the live one: there is nothing to put back; see `deploy rollback --list`",
            release.id
        ));
    }
    Ok(release)
}

/// The rollback's plan: `release`'s task and parameters (and `overrides`)
/// in `env`, pinned to its images.
fn plan_for(
    config: &Config,
    env: &EnvironmentInfo,
    release: &Release,
    overrides: Vec<(String, String)>,
    selection: &Selection,
) -> Result<
    (
        deploy_core::Plan,
        std::collections::BTreeMap<String, deploy_core::Secret>,
    ),
    String,
> {
    let mut pinning = Pinning::rollback(&env.name, &release.id, release.images());
    pinning.revision.clone_from(&release.record().revision);
    pinned_plan(
        config,
        &env.name,
        &release.record().task,
        params_of(release, overrides),
        &selection.limit(),
        pinning,
    )
}

/// `deploy rollback --list`.
fn list(env: &EnvironmentInfo, history: &History) -> Result<(), String> {
    let live = history.require_live().map_err(|e| e.to_string())?;
    let candidates = history.rollback_candidates().map_err(|e| e.to_string())?;
    println!("live in {}: {} ({})", env.name, live.id, live.record().task);
    if candidates.is_empty() {
        println!("nothing to roll back to: no successful release before it runs anything else");
        return Ok(());
    }
    println!("a rollback may put back (newest first; `deploy rollback` takes the first):");
    for release in candidates {
        let r = release.record();
        let params: String = r.params.iter().map(|(k, v)| format!(" {k}={v}")).collect();
        let images: Vec<String> = release
            .images()
            .iter()
            .map(|i| format!("{} {}", i.container, i.pinned()))
            .collect();
        let code = r
            .revision
            .as_ref()
            .map(|v| format!(" · code {}", v.short()))
            .unwrap_or_default();
        println!(
            "  {}  {}{params}  by {}{code}{}",
            release.id,
            r.task,
            r.who,
            if images.is_empty() {
                String::new()
            } else {
                format!(" · {}", images.join(", "))
            }
        );
    }
    Ok(())
}

/// Refuses a promotion whose plan would ship this checkout's files when
/// the checkout is not at the revision FROM's release was made from.
fn check_revision(config: &Config, plan: &deploy_core::Plan, live: &Release) -> Result<(), String> {
    let Some(wanted) = &live.record().revision else {
        return Ok(());
    };
    let here = Revision::of(config.dir());
    let same = here
        .as_ref()
        .is_some_and(|h| h.commit == wanted.commit && !h.dirty);
    let shipping: Vec<String> = plan
        .steps()
        .iter()
        .filter(|s| SHIPS_LOCAL_FILES.contains(&s.step.kind()))
        .map(|s| format!("{} {}", s.id, s.step.kind()))
        .collect();
    if same || shipping.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}'s release {} was made from {}, this checkout is at {}: its steps {} would ship other code; check out {} (`git checkout {}`) and promote again",
        live.record().environment,
        live.id,
        wanted.short(),
        here.as_ref()
            .map_or("no git revision".to_owned(), Revision::short),
        shipping.join(", "),
        wanted.short(),
        wanted.commit
    ))
}

/// Prints the plan before a rollback or promotion runs (unless quiet or
/// JSON).
fn show_first(cli: &Cli, plan: &deploy_core::Plan, run: &RunArgs) {
    if !cli.quiet && !run.selection.json {
        print_plan(plan, false);
    }
}
