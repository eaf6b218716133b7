//! The deploy lock around a run, and `deploy lock status|acquire|release`:
//! taken on the environment's lock host before the first step, renewed
//! while the run goes on, released at the end (failed, interrupted or not).
//! A run whose lock was taken over stops before its next step.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deploy_core::audit::{AuditEntry, AuditLog};
use deploy_core::config::EnvironmentInfo;
use deploy_core::lock::{EnvironmentLock, Holder, LockError};
use deploy_core::{Target, Targets};
use tokio_util::sync::CancellationToken;

/// The lock of `env`, on its lock host (a host of the environment).
pub(crate) fn environment_lock(
    env: &EnvironmentInfo,
    targets: &Targets,
) -> Result<EnvironmentLock, String> {
    Ok(EnvironmentLock::new(
        state_host(env, targets)?,
        env.state_dir.clone(),
    ))
}

/// The audit log of `env`, beside its lock.
pub(crate) fn audit_log(env: &EnvironmentInfo, targets: &Targets) -> Result<AuditLog, String> {
    Ok(AuditLog::new(
        state_host(env, targets)?,
        env.state_dir.clone(),
    ))
}

/// Appends `entry` to `env`'s audit log; a failure is a warning (the run
/// itself is over).
pub(crate) async fn audit(env: &EnvironmentInfo, targets: &Targets, entry: &AuditEntry) {
    match audit_log(env, targets) {
        Ok(log) => {
            if let Err(e) = log.append(entry).await {
                eprintln!("warning: the audit line was not written: {e}");
            }
        }
        Err(e) => eprintln!("warning: the audit line was not written: {e}"),
    }
}

/// `deploy audit`: the newest `lines` audit lines of `env`.
pub(crate) async fn show_audit(
    env: &EnvironmentInfo,
    targets: &Targets,
    lines: usize,
    json: bool,
) -> Result<u8, String> {
    let entries = audit_log(env, targets)?
        .last(lines)
        .await
        .map_err(|e| e.to_string())?;
    for entry in &entries {
        if json {
            println!("{}", crate::output::json_line(entry));
            continue;
        }
        let params: String = entry
            .params
            .iter()
            .map(|(k, v)| format!(" {k}={v}"))
            .collect();
        let ended = match &entry.release {
            Some(release) => format!("release {release}: {}", entry.outcome),
            None => entry.outcome.clone(),
        };
        println!(
            "{}  {}  {} {} {}{params}  {ended}",
            entry.time, entry.who, entry.command, entry.environment, entry.task
        );
    }
    if entries.is_empty() && !json {
        println!("no audit lines for {} yet", env.name);
    }
    Ok(crate::exit::OK)
}

/// The host whose state directory holds the lock and the audit log.
fn state_host(env: &EnvironmentInfo, targets: &Targets) -> Result<Arc<dyn Target>, String> {
    let host = env
        .lock_host
        .clone()
        .ok_or_else(|| format!("environment `{}` has no host to lock", env.name))?;
    targets.get(&host).cloned().ok_or_else(|| {
        format!(
            "lock_host `{host}` is not a host of environment `{}`",
            env.name
        )
    })
}

/// A lock this run holds, renewed in the background.
pub(crate) struct Held {
    lock: Arc<EnvironmentLock>,
    holder: Arc<Mutex<Holder>>,
    renewing: tokio::task::JoinHandle<()>,
    lost: Arc<Mutex<Option<String>>>,
}

/// Takes the lock for a run of `task` (waiting up to `wait`), or says who
/// holds it. When the lock is lost later, `stop` is cancelled so that no
/// new step starts.
pub(crate) async fn hold(
    lock: EnvironmentLock,
    env: &EnvironmentInfo,
    task: &str,
    message: Option<&str>,
    wait: Option<Duration>,
    stop: CancellationToken,
) -> Result<Held, LockError> {
    let mut holder = Holder::new(&env.name, task, env.lock_expiry);
    if let Some(message) = message {
        holder = holder.message(message);
    }
    match wait {
        Some(wait) => lock.acquire_waiting(&holder, wait).await?,
        None => lock.acquire(&holder).await?,
    }
    let lock = Arc::new(lock);
    let holder = Arc::new(Mutex::new(holder));
    let lost = Arc::new(Mutex::new(None));
    let every = (env.lock_expiry / 3).max(Duration::from_millis(200));
    let renewing = {
        let (lock, holder, lost) = (lock.clone(), holder.clone(), lost.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let mut current = match holder.lock() {
                    Ok(h) => h.clone(),
                    Err(_) => return,
                };
                match lock.renew(&mut current).await {
                    Ok(()) => {
                        if let Ok(mut h) = holder.lock() {
                            *h = current;
                        }
                    }
                    Err(error @ LockError::Lost { .. }) => {
                        eprintln!("error: {error}");
                        if let Ok(mut l) = lost.lock() {
                            *l = Some(error.to_string());
                        }
                        stop.cancel();
                        return;
                    }
                    // A renewal that could not reach the host is tried again.
                    Err(_) => {}
                }
            }
        })
    };
    Ok(Held {
        lock,
        holder,
        renewing,
        lost,
    })
}

impl Held {
    /// Stops renewing and lets go (unless another took it over). Returns
    /// why the lock was lost, if it was.
    pub(crate) async fn release(self) -> Option<String> {
        self.renewing.abort();
        let lost = self.lost.lock().ok().and_then(|l| l.clone());
        if lost.is_none() {
            let holder = self.holder.lock().map(|h| h.clone()).ok();
            if let Some(holder) = holder
                && let Err(e) = self.lock.release(&holder, false).await
            {
                eprintln!("warning: could not release the deploy lock: {e}");
            }
        }
        lost
    }
}

/// `deploy lock status|acquire|release`; a change gets an audit line.
pub(crate) async fn command(
    env: &EnvironmentInfo,
    targets: &Targets,
    action: &crate::args::LockAction,
) -> Result<u8, String> {
    let lock = environment_lock(env, targets)?;
    let code = lock_action(lock, env, action).await?;
    let what = match action {
        crate::args::LockAction::Status => return Ok(code),
        crate::args::LockAction::Acquire { .. } => "lock acquire",
        crate::args::LockAction::Release { .. } => "lock release",
    };
    let outcome = if code == crate::exit::OK {
        "ok"
    } else {
        "refused"
    };
    audit(env, targets, &AuditEntry::other(what, &env.name, outcome)).await;
    Ok(code)
}

async fn lock_action(
    lock: EnvironmentLock,
    env: &EnvironmentInfo,
    action: &crate::args::LockAction,
) -> Result<u8, String> {
    use crate::args::LockAction;
    match action {
        LockAction::Status => {
            match lock.status().await.map_err(|e| e.to_string())? {
                Some(holder) => {
                    println!(
                        "{} is locked by {}{}",
                        env.name,
                        holder.describe(),
                        if holder.expired() {
                            " (expired: the next run takes it over)"
                        } else {
                            ""
                        }
                    );
                }
                None => println!("{} is not locked", env.name),
            }
            Ok(crate::exit::OK)
        }
        LockAction::Acquire { message } => {
            // Held across runs until released: a long expiry.
            let mut holder = Holder::new(&env.name, "lock", Duration::from_secs(365 * 24 * 3600));
            if let Some(message) = message {
                holder = holder.message(message);
            }
            match lock.acquire(&holder).await {
                Ok(()) => {
                    println!("{} locked by {}", env.name, holder.describe());
                    Ok(crate::exit::OK)
                }
                Err(e @ LockError::Held { .. }) => {
                    eprintln!("error: {e}");
                    Ok(crate::exit::LOCKED)
                }
                Err(e) => Err(e.to_string()),
            }
        }
        LockAction::Release { force } => {
            let current = lock.status().await.map_err(|e| e.to_string())?;
            let Some(current) = current else {
                println!("{} is not locked", env.name);
                return Ok(crate::exit::OK);
            };
            let mine = current.who == deploy_core::lock::who();
            if !mine && !force {
                eprintln!(
                    "error: {} is locked by {}: pass --force to release another's lock",
                    env.name,
                    current.describe()
                );
                return Ok(crate::exit::LOCKED);
            }
            lock.release(&current, true)
                .await
                .map_err(|e| e.to_string())?;
            println!("{} released (was held by {})", env.name, current.who);
            Ok(crate::exit::OK)
        }
    }
}
