//! `deploy backup`, `deploy backups` and `deploy restore`: the database an
//! environment's `backup` setting names (`postgres.backup`'s fields and
//! `on`, its host), backed up, listed (newest first, with the release that
//! took each) and put back after approval; and the restore that `deploy
//! rollback --with-data` adds. Backup and restore run as one-step plans
//! through the same lock, audit line and report as a run, and record no
//! release (a backup taken by a run's `postgres.backup` step is named in
//! that run's release record instead).

use std::sync::Arc;
use std::time::Instant;

use deploy_core::config::{BACKUP_TASK, BackupSettings, Config, RESTORE_TASK};
use deploy_core::release::History;
use deploy_core::secret::Masker;
use deploy_core::step::{Approver, Unattended};
use deploy_core::target::DiscardOutput;
use deploy_core::{
    FailurePolicy, LocalTarget, Plan, PlannedStep, Rollout, RunValues, StepContext, Target,
};
use deploy_docker::steps::{Backup, PostgresBackup};

use crate::args::{Cli, RunArgs, Selection};
use crate::exit;
use crate::releases::Origin;

/// The environment's backup setting and its step.
fn settings(
    config: &Config,
    environment: Option<&str>,
) -> Result<(BackupSettings, PostgresBackup), String> {
    let settings = config.backup(environment).map_err(|e| e.with_snippet())?;
    let step = PostgresBackup::from_toml(settings.step.clone())
        .map_err(|e| format!("[environments.{}] backup: {e}", settings.environment))?;
    Ok((settings, step))
}

/// A one-step plan on the backup's host, not shipping.
fn plan(
    config: &Config,
    settings: &BackupSettings,
    task: &str,
    step: Arc<dyn deploy_core::Step>,
    params: &[(&str, &str)],
) -> Result<Plan, String> {
    let env = config
        .environment(Some(&settings.environment))
        .map_err(|e| e.with_snippet())?;
    let mut builder = Plan::builder(&env.name, task)
        .ships(false)
        .rollout(Rollout::AllAtOnce)
        .on_failure(FailurePolicy::Stop);
    for (k, v) in params {
        builder = builder.param(*k, *v);
    }
    for host in &env.hosts {
        builder = builder.host(host.name.clone(), host.roles.clone());
    }
    let planned = PlannedStep::from_arc(step)
        .id(task)
        .task(task)
        .hosts([settings.host.clone()]);
    builder.step(planned).build().map_err(|e| e.to_string())
}

fn run_args(yes: bool) -> RunArgs {
    RunArgs {
        selection: Selection {
            words: Vec::new(),
            json: false,
            on: Default::default(),
        },
        dry_run: false,
        yes,
        concurrency: None,
        grace: "10s".to_owned(),
        lock_wait: None,
        message: None,
    }
}

fn origin(command: &'static str) -> Origin {
    Origin {
        command,
        run_as: None,
        revision: None,
        lock: true,
    }
}

/// `deploy backup [ENV]`.
pub(crate) async fn backup(
    cli: &Cli,
    config: &Config,
    environment: Option<&str>,
) -> Result<u8, String> {
    let (settings, step) = settings(config, environment)?;
    let plan = plan(config, &settings, BACKUP_TASK, Arc::new(step.clone()), &[])?;
    let code = crate::commands::execute(
        cli,
        config,
        &plan,
        Default::default(),
        &run_args(false),
        &origin("backup"),
    )
    .await?;
    if code == exit::OK {
        let list = listing(config, &settings, &step).await?;
        if let Some(newest) = list.first() {
            println!(
                "backed up {} on {}: {} ({}, {})",
                step.database(),
                settings.host,
                newest.id,
                size(newest.size),
                newest.path
            );
        }
    }
    Ok(code)
}

/// The backups on the backup's host, newest first.
async fn listing(
    config: &Config,
    settings: &BackupSettings,
    step: &PostgresBackup,
) -> Result<Vec<Backup>, String> {
    let env = config
        .environment(Some(&settings.environment))
        .map_err(|e| e.with_snippet())?;
    let targets = crate::targets::for_environment(&env, &config.ssh(), config.dir())?;
    let target = targets
        .get(&settings.host)
        .cloned()
        .ok_or_else(|| format!("no target for {}", settings.host))?;
    // The listing needs no secret: the step's texts that use one are not
    // resolved for it.
    let values = RunValues::new("list");
    let local: Arc<dyn Target> = Arc::new(LocalTarget::new("local").with_base_dir(config.dir()));
    let ctx = StepContext {
        target,
        local,
        values: &values,
        output: &DiscardOutput,
        approver: &Unattended::default(),
        masker: &Masker::default(),
        log: &(),
    };
    step.list(&ctx).await.map_err(|e| {
        format!(
            "cannot list the backups on {}: {}",
            settings.host,
            deploy_core::cause::chain(&e)
        )
    })
}

/// `1.2 MB`, `812 B`.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} kB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// The release whose record names `file`, if a run took it.
fn taken_by<'h>(history: &'h History, host: &str, file: &str) -> Option<&'h str> {
    history.releases().iter().find_map(|release| {
        release
            .records
            .iter()
            .any(|r| r.host == host && r.backups.iter().any(|b| b == file))
            .then_some(release.id.as_str())
    })
}

/// `deploy backups [ENV] [--json]`.
pub(crate) async fn list(
    config: &Config,
    environment: Option<&str>,
    json: bool,
) -> Result<u8, String> {
    let (settings, step) = settings(config, environment)?;
    let backups = listing(config, &settings, &step).await?;
    let env = config
        .environment(Some(&settings.environment))
        .map_err(|e| e.with_snippet())?;
    let targets = crate::targets::for_environment(&env, &config.ssh(), config.dir())?;
    let history = crate::releases::history(&env, &targets).await;
    if json {
        for b in &backups {
            let line = serde_json::json!({
                "schema_version": crate::output::SCHEMA_VERSION,
                "id": b.id,
                "time": b.time(),
                "size": b.size,
                "file": b.file,
                "path": b.path,
                "host": settings.host,
                "release": taken_by(&history, &settings.host, &b.file),
            });
            println!("{line}");
        }
    } else if backups.is_empty() {
        println!(
            "no backups of {} on {} yet (`deploy backup {}` takes one)",
            step.database(),
            settings.host,
            settings.environment
        );
    } else {
        println!(
            "backups of {} on {} (newest first):",
            step.database(),
            settings.host
        );
        for b in &backups {
            let by = match taken_by(&history, &settings.host, &b.file) {
                Some(release) => format!("release {release}"),
                None => "deploy backup".to_owned(),
            };
            println!("  {}  {}  {:>9}  {by}", b.id, b.time(), size(b.size));
        }
    }
    let plan = plan(config, &settings, BACKUP_TASK, Arc::new(step), &[])?;
    let entry = deploy_core::audit::AuditEntry {
        release: None,
        ..deploy_core::audit::AuditEntry::for_plan("backups", &plan, "", "listed")
    };
    crate::locking::audit(&env, &targets, &entry).await;
    Ok(exit::OK)
}

/// `deploy restore [ENV] ID [--yes]`.
pub(crate) async fn restore(
    cli: &Cli,
    config: &Config,
    environment: Option<&str>,
    id: &str,
    yes: bool,
) -> Result<u8, String> {
    let (settings, step) = settings(config, environment)?;
    let backups = listing(config, &settings, &step).await?;
    let Some(backup) = backups.iter().find(|b| b.id == id || b.file == id) else {
        let there: Vec<String> = backups
            .iter()
            .map(|b| format!("  {}  {}  {}", b.id, b.time(), size(b.size)))
            .collect();
        return Err(format!(
            "no backup {id} of {} on {}; there are{}",
            step.database(),
            settings.host,
            if there.is_empty() {
                " none".to_owned()
            } else {
                format!(":\n{}", there.join("\n"))
            }
        ));
    };
    restore_backup(cli, config, &settings, &step, backup, yes, "restore").await
}

/// Says what the restore replaces, asks, restores, says how long it took.
async fn restore_backup(
    cli: &Cli,
    config: &Config,
    settings: &BackupSettings,
    step: &PostgresBackup,
    backup: &Backup,
    yes: bool,
    command: &'static str,
) -> Result<u8, String> {
    eprintln!(
        "restore replaces the data of database {} on {} (pg_dump run {}) with backup {}: taken {}, {} ({})",
        step.database(),
        settings.host,
        step.place(),
        backup.id,
        backup.time(),
        size(backup.size),
        backup.path
    );
    let approver = crate::approve::TerminalApprover {
        pre_approved: yes,
        bars: None,
    };
    let prompt = format!(
        "Replace the data of {} on {} with backup {}?",
        step.database(),
        settings.host,
        backup.id
    );
    if let Err(e) = approver.approve(&prompt).await {
        eprintln!("error: not restored: {e}");
        return Ok(exit::NOT_APPROVED);
    }
    let restore = step.restore(&backup.id);
    let plan = plan(
        config,
        settings,
        RESTORE_TASK,
        Arc::new(restore),
        &[("backup", &backup.id)],
    )?;
    let started = Instant::now();
    let code = crate::commands::execute(
        cli,
        config,
        &plan,
        Default::default(),
        &run_args(true),
        &origin(command),
    )
    .await?;
    let took = deploy_core::duration::format(started.elapsed());
    if code == exit::OK {
        println!(
            "restored {} on {} from backup {} in {took}",
            step.database(),
            settings.host,
            backup.id
        );
    } else {
        eprintln!(
            "the restore of {} from backup {} failed after {took}; the backup is kept at {}",
            step.database(),
            backup.id,
            backup.path
        );
    }
    Ok(code)
}

/// `deploy rollback --with-data`: the backup the live release took, for
/// the restore that runs before the code is put back; refused when it
/// took none (or the file is gone).
pub(crate) async fn rollback_backup(
    config: &Config,
    environment: &str,
    history: &History,
) -> Result<(BackupSettings, PostgresBackup, Backup), String> {
    let (settings, step) = settings(config, Some(environment))?;
    let live = history.live().ok_or_else(|| {
        format!("{environment} has no live release: --with-data has no backup to restore")
    })?;
    let taken: Vec<&String> = live
        .records
        .iter()
        .filter(|r| r.host == settings.host)
        .flat_map(|r| &r.backups)
        .collect();
    let Some(file) = taken.last() else {
        return Err(format!(
            "the live release {} took no backup of {} on {}: --with-data has nothing to restore \
             (a task takes one with a `postgres.backup` step before it migrates); \
             roll back without --with-data, or restore one with `deploy restore {environment} ID` (see `deploy backups {environment}`)",
            live.id,
            step.database(),
            settings.host
        ));
    };
    let backups = listing(config, &settings, &step).await?;
    let backup = backups
        .into_iter()
        .find(|b| &&b.file == file)
        .ok_or_else(|| {
            format!(
                "the backup the live release {} took ({file}) is no longer on {}: see `deploy backups {environment}`",
                live.id, settings.host
            )
        })?;
    Ok((settings, step, backup))
}

/// The restore of `deploy rollback --with-data`.
pub(crate) async fn restore_for_rollback(
    cli: &Cli,
    config: &Config,
    found: &(BackupSettings, PostgresBackup, Backup),
    yes: bool,
) -> Result<u8, String> {
    let (settings, step, backup) = found;
    restore_backup(
        cli,
        config,
        settings,
        step,
        backup,
        yes,
        "rollback --with-data",
    )
    .await
}
