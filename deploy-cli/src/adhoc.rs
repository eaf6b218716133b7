//! `deploy exec`: an ad-hoc command on each selected host of an
//! environment, or in a service's container there (`fab -H … -- cmd`,
//! `kamal app exec`), with streamed output and each host's exit status;
//! with `-i`, one host's command on a pseudo-terminal (`./manage.py
//! shell`, `psql`). It reads the same environments, hosts and roles as
//! `deploy run`, takes no deploy lock and leaves an audit line.

use std::sync::Arc;

use deploy_core::config::Config;
use deploy_core::steps::Exec;
use deploy_core::{FailurePolicy, Plan, PlannedStep, Rollout, Step};
use deploy_docker::steps::ExecInContainer;

use crate::args::{Cli, ExecArgs, RunArgs, Selection};
use crate::releases::Origin;

/// `deploy exec [ENV] [-H …] [-R …] [--once] [--service NAME] [-i] -- CMD…`.
pub(crate) async fn exec(cli: &Cli, config: &Config, args: &ExecArgs) -> Result<u8, String> {
    if args.command.is_empty() {
        return Err(
            "give the command after `--`: deploy exec production -R web -- ./manage.py migrate"
                .to_owned(),
        );
    }
    let plan = plan(config, args)?;
    if args.interactive {
        return crate::interactive::run(config, &plan, args).await;
    }
    let run = RunArgs {
        selection: Selection {
            words: Vec::new(),
            json: args.json,
            on: args.on.clone(),
        },
        dry_run: false,
        yes: false,
        concurrency: args.concurrency,
        grace: "10s".to_owned(),
        lock_wait: None,
        message: None,
    };
    let origin = Origin {
        command: "exec",
        run_as: None,
        revision: None,
        lock: false,
    };
    crate::commands::execute(cli, config, &plan, Default::default(), &run, &origin).await
}

/// The one-step plan: the command on every selected host (each goes on
/// when another fails: each host's status is its own), not shipping.
pub(crate) fn plan(config: &Config, args: &ExecArgs) -> Result<Plan, String> {
    let env = config
        .environment(args.environment.as_deref())
        .map_err(|e| e.with_snippet())?;
    let step: Arc<dyn Step> = match &args.service {
        Some(service) => {
            let container = config.container_name(service).unwrap_or(service.clone());
            Arc::new(ExecInContainer::new_in_service(&container, None, &args.command).show_output())
        }
        // As typed: an ad-hoc command has no `${…}` of deploy's.
        None => Arc::new(
            Exec::argv(
                args.command
                    .iter()
                    .map(|a| deploy_core::Text::literal(a.clone())),
            )
            .show_output(),
        ),
    };
    let mut planned = PlannedStep::from_arc(step).id("exec").task("exec");
    if args.once {
        planned = planned.once();
    }
    let mut builder = Plan::builder(&env.name, "exec")
        .ships(false)
        .rollout(Rollout::AllAtOnce)
        .on_failure(FailurePolicy::Continue)
        .param("command", deploy_core::command::quote_argv(&args.command));
    if let Some(service) = &args.service {
        builder = builder.param("service", service);
    }
    for host in &env.hosts {
        builder = builder.host(host.name.clone(), host.roles.clone());
    }
    let plan = builder.step(planned).build().map_err(|e| e.to_string())?;
    plan.limited(&args.on.limit()).map_err(|e| e.to_string())
}
