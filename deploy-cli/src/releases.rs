//! Releases from the command line: the records a run leaves on each host
//! it touched, `deploy releases`, and the plans of `deploy rollback` and
//! `deploy promote` (a release's task and parameters again, its images
//! pinned to the digests it recorded).

use std::collections::BTreeMap;

use deploy_core::config::{Config, EnvironmentInfo};
use deploy_core::release::{
    History, HostOutcome, Pinning, Release, ReleaseRecord, ReleaseStore, Revision,
};
use deploy_core::report::{RunReport, StepStatus};
use deploy_core::{Plan, Secret, Targets};

/// How a run came to be, for its release record and audit line.
pub(crate) struct Origin {
    /// `run`, `rollback` or `promote`.
    pub(crate) command: &'static str,
    /// The `${release}` the steps run with when it is not the record's own
    /// id: a rollback runs with the id of the release it puts back.
    pub(crate) run_as: Option<String>,
    /// The code shipped, when it is not this checkout's (a rollback's or a
    /// promotion's release's).
    pub(crate) revision: Option<Option<Revision>>,
    /// Whether it holds the environment's deploy lock and runs one of
    /// deploy.toml's tasks, whose secrets it loads (every run but an ad-hoc
    /// `deploy exec`).
    pub(crate) lock: bool,
}

impl Origin {
    /// A plain `deploy run` (or `deploy ci`).
    pub(crate) fn run() -> Origin {
        Origin {
            command: "run",
            run_as: None,
            revision: None,
            lock: true,
        }
    }
}

/// Every host's release records of `env`, read in parallel; a host that
/// cannot be read is named in a warning and left out.
pub(crate) async fn history(env: &EnvironmentInfo, targets: &Targets) -> History {
    let mut reads = tokio::task::JoinSet::new();
    for host in &env.hosts {
        if let Some(target) = targets.get(&host.name) {
            let store = ReleaseStore::new(target.clone(), env.state_dir.clone());
            reads.spawn(async move { (store.host().to_owned(), store.list().await) });
        }
    }
    let mut records = Vec::new();
    while let Some(read) = reads.join_next().await {
        match read {
            Ok((_, Ok(found))) => records.extend(found),
            Ok((host, Err(e))) => {
                eprintln!("warning: the release records on {host} could not be read: {e}")
            }
            Err(e) => eprintln!("warning: a release read stopped: {e}"),
        }
    }
    History::new(&env.name, records)
}

/// Writes the release record of `report` on each host it touched (a host
/// where at least one step ran, failed ones included); nothing when every
/// step was already done or did not run, or the task does not ship. Failures are warnings: the run
/// itself is over. True when a record was written.
pub(crate) async fn record(
    env: &EnvironmentInfo,
    targets: &Targets,
    plan: &Plan,
    report: &RunReport,
    id: &str,
    revision: Option<Revision>,
    command: &str,
) -> bool {
    if !plan.ships() {
        return false;
    }
    let applied = |status: StepStatus| {
        !matches!(
            status,
            StepStatus::NotRun | StepStatus::Skipped | StepStatus::ConditionNotMet
        )
    };
    let mut writes = tokio::task::JoinSet::new();
    for host in &report.hosts {
        let Some(target) = targets.get(&host.host) else {
            continue; // the local lane
        };
        if !host.steps.iter().any(|s| applied(s.status)) {
            continue;
        }
        let outcome = if host
            .steps
            .iter()
            .any(|s| matches!(s.status, StepStatus::Failed | StepStatus::Interrupted))
        {
            HostOutcome::Failed
        } else if host.steps.iter().any(|s| s.rollback.is_some()) {
            HostOutcome::RolledBack
        } else if host
            .steps
            .iter()
            .any(|s| matches!(s.status, StepStatus::NotRun | StepStatus::NotApproved))
            || !report.succeeded()
        {
            HostOutcome::Incomplete
        } else {
            HostOutcome::Succeeded
        };
        let mut record = ReleaseRecord::new(command, plan, id, &host.host, outcome);
        record.error = host.steps.iter().find_map(|s| s.error.clone());
        let notes = report.notes.get(&host.host).cloned().unwrap_or_default();
        record.images = notes.images;
        record.links = notes.links;
        record.backups = notes.backups;
        record.services = notes.services;
        record.revision.clone_from(&revision);
        let store = ReleaseStore::new(target.clone(), env.state_dir.clone());
        writes.spawn(async move { (record.host.clone(), store.record(&record).await) });
    }
    let mut written = false;
    while let Some(write) = writes.join_next().await {
        match write {
            Ok((_, Ok(()))) => written = true,
            Ok((host, Err(e))) => {
                eprintln!("warning: the release record on {host} was not written: {e}")
            }
            Err(e) => eprintln!("warning: a release record write stopped: {e}"),
        }
    }
    written
}

/// `deploy releases`: newest first, the live one marked, failed ones shown
/// as failed.
pub(crate) fn show(env: &EnvironmentInfo, history: &History, json: bool) {
    let all_hosts = history.hosts();
    for release in history.releases() {
        let live_on = history.live_on(release);
        if json {
            let line = serde_json::json!({
                "schema_version": crate::output::SCHEMA_VERSION,
                "id": release.id,
                "live_on": live_on,
                "succeeded": release.succeeded(),
                "records": release.records,
            });
            println!("{line}");
            continue;
        }
        let r = release.record();
        let mark = if live_on.is_empty() { "  " } else { "* " };
        let live = match live_on.len() {
            0 => String::new(),
            n if n == all_hosts.len() => " · live".to_owned(),
            _ => format!(" · live on {}", live_on.join(", ")),
        };
        let params: String = r.params.iter().map(|(k, v)| format!(" {k}={v}")).collect();
        let source = r
            .source
            .as_ref()
            .map(|s| match s.command.as_str() {
                "rollback" => format!(" (puts back {})", s.release),
                _ => format!(" (from {} {})", s.environment, s.release),
            })
            .unwrap_or_default();
        println!(
            "{mark}{}  {} {}{params}{source}  by {}  {}{live}",
            release.id,
            r.command,
            r.task,
            r.who,
            release.outcome()
        );
        let revision = r.revision.as_ref().map(Revision::short);
        let images: Vec<String> = release
            .images()
            .iter()
            .map(|i| format!("{} {} ({})", i.container, i.image, short_digest(i.pinned())))
            .collect();
        let mut details = Vec::new();
        if let Some(revision) = revision {
            details.push(format!("code {revision}"));
        }
        if !images.is_empty() {
            details.push(images.join(", "));
        }
        if let Some(job) = &r.ci_job {
            details.push(format!("CI {job}"));
        }
        if !details.is_empty() {
            println!("      {}", details.join(" · "));
        }
    }
    if history.releases().is_empty() && !json {
        println!("no releases of {} yet", env.name);
    }
}

/// `repo@sha256:0123456789ab…` → `sha256:0123456789ab`.
fn short_digest(reference: &str) -> String {
    let digest = reference.rsplit('@').next().unwrap_or(reference);
    digest.chars().take("sha256:".len() + 12).collect()
}

/// The parameters a release ran with that can be given again (secret ones
/// were recorded by name only: they come from their sources, a prompt, or
/// the command line), with `overrides` on top.
pub(crate) fn params_of(
    release: &Release,
    overrides: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut params: BTreeMap<String, String> = release
        .record()
        .params
        .iter()
        .filter(|(_, v)| v.as_str() != deploy_core::secret::REDACTED)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    params.extend(overrides);
    params.into_iter().collect()
}

/// The plan that runs `release`'s task again in `environment` pinned by
/// `pinning`, limited to `hosts`/`roles`.
pub(crate) fn pinned_plan(
    config: &Config,
    environment: &str,
    task: &str,
    params: Vec<(String, String)>,
    limit: &deploy_core::plan::Limit,
    pinning: Pinning,
) -> Result<(Plan, BTreeMap<String, Secret>), String> {
    // The git built-ins as the release's code made them (its image tag,
    // the version its checks look for), not this checkout's HEAD.
    let at_revision;
    let config = match &pinning.revision {
        Some(revision) => {
            at_revision = config.clone().at_revision(revision.commit.clone());
            &at_revision
        }
        None => config,
    };
    let (plan, secrets) =
        crate::commands::prompt_and_plan(config, Some(environment), Some(task), params)?;
    let plan = plan.limited(limit).map_err(|e| e.to_string())?;
    Ok((plan.pinned(pinning), secrets))
}
