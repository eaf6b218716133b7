//! The subcommands: load the config, build the plan, print or run it.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use deploy_core::audit::AuditEntry;
use deploy_core::config::{
    Approval, Config, EnvironmentSummary, Listing, TaskListing, Transport, parse_args,
};
use deploy_core::event::EventSink;
use deploy_core::{
    Executor, FailurePolicy, LocalTarget, Plan, Rollout, RunValues, Secret, StepRegistry, Target,
    render,
};
use tokio_util::sync::CancellationToken;

use crate::approve::TerminalApprover;
use crate::args::{Cli, Command, RunArgs, Selection};
use crate::discover::find_config;
use crate::exit;
use crate::progress::{Bars, JsonLines, PlainLines};
use crate::releases::Origin;

/// Runs the command line; returns the exit code.
pub(crate) async fn run(cli: Cli) -> u8 {
    match dispatch(&cli).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            exit::USAGE
        }
    }
}

/// Every step kind this binary knows (deploy-core's; deploy-docker's join
/// here when it lands).
/// Every step kind `deploy.toml` may name: the core ones and `docker.*`.
fn registry() -> StepRegistry {
    let mut registry = StepRegistry::with_builtins();
    deploy_docker::register(&mut registry);
    registry
}

fn load(cli: &Cli) -> Result<Config, String> {
    let path: PathBuf = find_config(cli.config.as_deref())?;
    if cli.verbose {
        eprintln!("using {}", path.display());
    }
    Config::load(&path).map_err(|e| e.with_snippet())
}

/// An environment and its targets, for the commands that read or change
/// the state deploy keeps on its hosts (lock, audit).
fn state_of(
    cli: &Cli,
    environment: Option<&str>,
) -> Result<(deploy_core::config::EnvironmentInfo, deploy_core::Targets), String> {
    let config = load(cli)?;
    let env = config
        .environment(environment)
        .map_err(|e| e.with_snippet())?;
    let targets = crate::targets::for_environment(&env, &config.ssh(), config.dir())?;
    Ok((env, targets))
}

async fn dispatch(cli: &Cli) -> Result<u8, String> {
    match &cli.command {
        Command::Audit {
            environment,
            lines,
            json,
        } => {
            let (env, targets) = state_of(cli, environment.as_deref())?;
            crate::locking::show_audit(&env, &targets, *lines, *json).await
        }
        Command::Lock {
            action,
            environment,
        } => {
            let (env, targets) = state_of(cli, environment.as_deref())?;
            crate::locking::command(&env, &targets, action).await
        }
        Command::Tasks { environment, json } => {
            let config = load(cli)?;
            let listing = config
                .listing(environment.as_deref())
                .map_err(|e| e.with_snippet())?;
            print_tasks(&config, &listing, *json);
            Ok(exit::OK)
        }
        Command::Plan(selection) => {
            let config = load(cli)?;
            if let Some(words) = crate::rollback::plan_words(&config, &selection.words) {
                return crate::rollback::show_plan(&config, selection, words).await;
            }
            let (plan, _) = build_plan(&config, selection)?;
            print_plan(&plan, selection.json);
            Ok(exit::OK)
        }
        Command::Ci(args) => {
            let config = load(cli)?;
            crate::ci::run(cli, config, args).await
        }
        Command::Run(args) => {
            let config = load(cli)?;
            let (plan, asked) = build_plan(&config, &args.selection)?;
            if args.dry_run {
                print_plan(&plan, args.selection.json);
                return Ok(exit::OK);
            }
            execute(cli, &config, &plan, asked, args, &Origin::run()).await
        }
        Command::Logs(args) => {
            let config = load(cli)?;
            crate::logs::logs(&config, &logs_args(&config, args)).await
        }
        Command::Status(args) => {
            let config = load(cli)?;
            crate::status::status(&config, args).await
        }
        Command::Exec(args) => {
            let config = load(cli)?;
            crate::adhoc::exec(cli, &config, args).await
        }
        Command::Releases { environment, json } => {
            let (env, targets) = state_of(cli, environment.as_deref())?;
            let history = crate::releases::history(&env, &targets).await;
            crate::releases::show(&env, &history, *json);
            Ok(exit::OK)
        }
        Command::Backup { environment } => {
            let config = load(cli)?;
            crate::backups::backup(cli, &config, environment.as_deref()).await
        }
        Command::Backups { environment, json } => {
            let config = load(cli)?;
            crate::backups::list(&config, environment.as_deref(), *json).await
        }
        Command::Restore { words, yes } => {
            let config = load(cli)?;
            let (environment, id) = match words.as_slice() {
                [env, id] => (Some(env.as_str()), id.as_str()),
                [id] => (None, id.as_str()),
                _ => return Err("usage: deploy restore [ENV] ID".to_owned()),
            };
            crate::backups::restore(cli, &config, environment, id, *yes).await
        }
        Command::Rollback(args) => {
            let config = load(cli)?;
            crate::rollback::rollback(cli, &config, args).await
        }
        Command::Promote(args) => {
            let config = load(cli)?;
            crate::rollback::promote(cli, &config, args).await
        }
        Command::Init { dir } => crate::init::run(dir.as_deref()),
        Command::Completions { shell } => crate::completions::completions(*shell),
        Command::Man { command, out_dir } => {
            crate::completions::man(command.as_deref(), out_dir.as_deref())
        }
        Command::CompleteNames { kind } => {
            let config = load(cli)?;
            crate::completions::names(&config, *kind)
        }
    }
}

/// `deploy logs web`: a first word that is no environment is a service
/// of the default environment.
fn logs_args(config: &Config, args: &crate::args::LogsArgs) -> crate::args::LogsArgs {
    let mut args = args.clone();
    if let Some(first) = &args.environment
        && !config.environments().contains(&first.as_str())
        && config.default_environment().is_some()
    {
        args.services.insert(0, first.clone());
        args.environment = None;
    }
    args
}

/// The audit line of a run of `plan`: with its release id, unless its task
/// does not ship (then it has none).
fn audit_entry(command: &str, plan: &Plan, release: &str, outcome: &str) -> AuditEntry {
    let mut entry = AuditEntry::for_plan(command, plan, release, outcome);
    if !plan.ships() {
        entry.release = None;
    }
    entry
}

/// Splits `[ENV] [TASK] [KEY=VALUE]...`, asks for the parameters with a
/// `prompt` that are not given, and builds the plan; also returns the values
/// of secret parameters, as the run's secrets.
fn build_plan(
    config: &Config,
    selection: &Selection,
) -> Result<(Plan, BTreeMap<String, Secret>), String> {
    let (names, params): (Vec<&String>, Vec<&String>) =
        selection.words.iter().partition(|w| !w.contains('='));
    let args = parse_args(params)?;
    let (env, task) = match names.as_slice() {
        [] => (None, None),
        [one] if config.environments().contains(&one.as_str()) => (Some(one.as_str()), None),
        [one] if config.default_environment().is_some() => (None, Some(one.as_str())),
        [one] => (Some(one.as_str()), None),
        [env, task] => (Some(env.as_str()), Some(task.as_str())),
        [_, _, extra, ..] => {
            return Err(format!(
                "unexpected argument `{extra}` (usage: [ENV] [TASK] [KEY=VALUE]...)"
            ));
        }
    };
    let (plan, secrets) = prompt_and_plan(config, env, task, args)?;
    let plan = plan
        .limited(&selection.limit())
        .map_err(|e| e.to_string())?;
    Ok((plan, secrets))
}

/// Asks for the parameters with a `prompt` that `args` does not give, and
/// builds the plan; also returns the values of secret parameters.
pub(crate) fn prompt_and_plan(
    config: &Config,
    env: Option<&str>,
    task: Option<&str>,
    mut args: Vec<(String, String)>,
) -> Result<(Plan, BTreeMap<String, Secret>), String> {
    for ask in config
        .prompts(env, task, &args)
        .map_err(|e| e.with_snippet())?
    {
        args.push((ask.name.clone(), crate::approve::ask_param(&ask)?));
    }
    let plan = config
        .plan(env, task, &args, &registry())
        .map_err(|e| e.with_snippet())?;
    Ok((plan, config.param_secrets(&args)))
}

pub(crate) fn print_plan(plan: &Plan, json: bool) {
    if json {
        println!("{}", render::json(plan));
    } else {
        print!("{}", render::text(plan));
    }
}

fn print_tasks(config: &Config, listing: &Listing, json: bool) {
    if json {
        println!("{}", crate::output::json_pretty(listing));
        return;
    }
    match &listing.environment {
        Some(env) => println!("Tasks in {} (defaults for {env}):", config.file()),
        None => println!("Tasks in {}:", config.file()),
    }
    let width = listing
        .tasks
        .iter()
        .map(|t| t.task.name.len())
        .chain(listing.environments.iter().map(|e| e.name.len()))
        .max()
        .unwrap_or(0)
        + 2;
    for TaskListing { task, resolved } in &listing.tasks {
        let name = if task.default {
            format!("{} *", task.name)
        } else {
            task.name.clone()
        };
        let line = format!(
            "  {name:width$}  {}",
            task.description.as_deref().unwrap_or("")
        );
        println!("{}", line.trim_end());
        let plain = resolved.is_empty()
            && task
                .params
                .iter()
                .all(|p| !p.required && p.description.is_none());
        if !plain {
            println!("  {:width$}  params:", "");
            let shown: Vec<String> = task
                .params
                .iter()
                .map(|p| match (&p.default, resolved.get(&p.name)) {
                    (Some(default), Some(resolution)) => {
                        format!("{}={default} {resolution}", p.name)
                    }
                    (Some(default), None) => format!("{}={default}", p.name),
                    (None, _) => format!("{} (required)", p.name),
                })
                .collect();
            let column = shown.iter().map(String::len).max().unwrap_or(0);
            for (param, shown) in task.params.iter().zip(&shown) {
                let description = param.description.as_deref().unwrap_or("");
                let line = format!("  {:width$}    {shown:column$}  {description}", "");
                println!("{}", line.trim_end());
            }
        } else if !task.params.is_empty() {
            let params: Vec<String> = task
                .params
                .iter()
                .map(|p| format!("{}={}", p.name, p.default.as_deref().unwrap_or("")))
                .collect();
            println!("  {:width$}  params: {}", "", params.join(" "));
        }
        if !task.includes.is_empty() {
            println!("  {:width$}  runs: {}", "", task.includes.join(", "));
        }
    }
    if !listing.environments.is_empty() {
        println!("Environments:");
    }
    for env in &listing.environments {
        let name = if env.default {
            format!("{} *", env.name)
        } else {
            env.name.clone()
        };
        println!("  {name:width$}  {}", environment_line(env));
    }
    println!("(* the default task or environment)");
}

/// `2 hosts: web1 [web], web2 [web]; ssh; approval required; rollout
/// one-by-one; on_failure rollback`.
fn environment_line(env: &EnvironmentSummary) -> String {
    const SHOWN: usize = 5;
    let hosts = env.hosts.len();
    let mut names: Vec<String> = env
        .hosts
        .iter()
        .take(SHOWN)
        .map(|h| match h.roles.as_slice() {
            [] => h.name.clone(),
            roles => format!("{} [{}]", h.name, roles.join(", ")),
        })
        .collect();
    if hosts > SHOWN {
        names.push(format!("… {} more", hosts - SHOWN));
    }
    let mut parts = vec![match hosts {
        0 => "no hosts".to_owned(),
        1 => format!("1 host: {}", names.join(", ")),
        n => format!("{n} hosts: {}", names.join(", ")),
    }];
    parts.push(
        match env.transport {
            Transport::Ssh => "ssh",
            Transport::Local => "local",
        }
        .to_owned(),
    );
    if env.approval == Approval::Required {
        parts.push("approval required".to_owned());
    }
    match env.rollout {
        Some(Rollout::AllAtOnce) => parts.push("rollout all".to_owned()),
        Some(Rollout::Batches(1)) => parts.push("rollout one-by-one".to_owned()),
        Some(Rollout::Batches(n)) => parts.push(format!("rollout batches of {n}")),
        None => {}
    }
    match env.on_failure {
        Some(FailurePolicy::Stop) => parts.push("on_failure stop".to_owned()),
        Some(FailurePolicy::Continue) => parts.push("on_failure continue".to_owned()),
        Some(FailurePolicy::Rollback) => parts.push("on_failure rollback".to_owned()),
        None => {}
    }
    if let Some(n) = env.concurrency {
        parts.push(format!("concurrency {n}"));
    }
    parts.join("; ")
}

/// Runs `plan` under the environment's lock, with an audit line and (when
/// it applied something and its task ships) a release record on each host
/// it touched; `origin` says whether it is a run, a rollback or a promotion.
pub(crate) async fn execute(
    cli: &Cli,
    config: &Config,
    plan: &Plan,
    asked: BTreeMap<String, Secret>,
    args: &RunArgs,
    origin: &Origin,
) -> Result<u8, String> {
    let env = config
        .environment(Some(plan.environment()))
        .map_err(|e| e.with_snippet())?;
    let targets = crate::targets::for_environment(&env, &config.ssh(), config.dir())?;
    let grace = deploy_core::duration::parse(&args.grace)?;
    let lock_wait = args
        .lock_wait
        .as_deref()
        .map(deploy_core::duration::parse)
        .transpose()?;
    let release = RunValues::release_now();
    let mut values = RunValues::new(origin.run_as.clone().unwrap_or_else(|| release.clone()));
    if origin.lock {
        values.secrets = config
            .load_secrets_for(plan)
            .map_err(|e| e.with_snippet())?;
    }
    values.secrets.extend(asked);

    let terminal = std::io::stderr().is_terminal();
    let bars =
        (!args.selection.json && !cli.quiet && terminal).then(|| Bars::new(cli.verbose, plan));
    let plain = PlainLines {
        verbose: cli.verbose,
        quiet: cli.quiet,
    };
    let sink: &dyn EventSink = match (&bars, args.selection.json) {
        (_, true) => &JsonLines,
        (Some(bars), false) => bars,
        (None, false) => &plain,
    };

    let cancel = CancellationToken::new();
    // One run of an environment at a time: the lock, before the first step
    // (an ad-hoc `deploy exec` takes none, as `fab` and `kamal app exec`).
    let lock = crate::locking::environment_lock(&env, &targets)?;
    let held = if !origin.lock {
        None
    } else {
        Some(
            match crate::locking::hold(
                lock,
                &env,
                plan.task(),
                args.message.as_deref(),
                lock_wait,
                cancel.clone(),
            )
            .await
            {
                Ok(held) => held,
                Err(e @ deploy_core::lock::LockError::Held { .. }) => {
                    let entry = audit_entry(origin.command, plan, &release, "locked");
                    crate::locking::audit(&env, &targets, &entry).await;
                    eprintln!(
                        "error: {e}
  wait for it with --lock-wait DURATION, or see `deploy lock status -e {}`",
                        env.name
                    );
                    return Ok(exit::LOCKED);
                }
                // The lock host cannot be reached or written: nothing ran, and
                // nothing may run without the lock.
                Err(e) => {
                    eprintln!(
                        "error: cannot take the deploy lock of {} on {}: {}",
                        env.name,
                        env.lock_host.as_deref().unwrap_or("?"),
                        deploy_core::cause::chain(&e)
                    );
                    return Ok(exit::FAILURE);
                }
            },
        )
    };
    let on_interrupt = cancel.clone();
    let grace_text = args.grace.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\ninterrupted: no new steps start; running ones get {grace_text} (Ctrl-C again to quit now)"
            );
            on_interrupt.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(i32::from(exit::INTERRUPTED));
            }
        }
    });

    // Steps on this machine run in the config's directory, and take
    // relative paths from it, wherever `deploy` was started.
    let local: Arc<dyn Target> = Arc::new(LocalTarget::new("local").with_base_dir(config.dir()));
    let approver = TerminalApprover {
        pre_approved: args.yes,
        bars: bars.as_ref().map(Bars::multi),
    };
    let mut executor = Executor::new(local, values)
        .approver(Arc::new(approver))
        .grace(grace)
        .cancel_token(cancel);
    if let Some(n) = args.concurrency.or(env.concurrency) {
        executor = executor.concurrency(n);
    }
    let report = executor.run(plan, &targets, sink).await;
    let revision = origin
        .revision
        .clone()
        .unwrap_or_else(|| deploy_core::release::Revision::of(config.dir()));
    let recorded = crate::releases::record(
        &env,
        &targets,
        plan,
        &report,
        &release,
        revision,
        origin.command,
    )
    .await;
    let lost = match held {
        Some(held) => held.release().await,
        None => None,
    };
    let outcome = match (&lost, report.outcome) {
        (Some(_), _) => "lock lost".to_owned(),
        (None, outcome) => serde_json::to_value(outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    };
    let entry = audit_entry(origin.command, plan, &release, &outcome);
    crate::locking::audit(&env, &targets, &entry).await;
    if let Some(bars) = &bars {
        bars.finish();
    }
    if !args.selection.json {
        eprint!("{}", report.render());
        if recorded {
            let puts_back = origin
                .run_as
                .as_ref()
                .map(|x| format!(" (it puts back {x})"))
                .unwrap_or_default();
            eprintln!("release {release} recorded on the hosts it touched{puts_back}");
        }
    }
    if lost.is_some() {
        return Ok(exit::LOCKED);
    }
    Ok(match report.outcome {
        deploy_core::report::Outcome::Succeeded => exit::OK,
        deploy_core::report::Outcome::Interrupted => exit::INTERRUPTED,
        deploy_core::report::Outcome::NotApproved => exit::NOT_APPROVED,
        _ => exit::FAILURE,
    })
}
