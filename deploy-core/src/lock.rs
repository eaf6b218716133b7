//! The deploy lock: one run of an environment at a time. The lock is a file
//! (`lock.json`) in the environment's state directory on its primary host,
//! created atomically (a hard link of a complete temporary file, which fails
//! when the lock exists), saying who holds it, since when, for which task.
//! The holder renews it while it runs; a lock not renewed within its expiry
//! (a crashed or killed run) may be taken over, and the run that lost it
//! finds out at its next renewal.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::command::{Command, quote};
use crate::target::{OutputSink, OutputStream, Target, TargetError};

/// Who holds a lock and why.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use deploy_core::lock::Holder;
///
/// let holder = Holder::new("production", "deploy", Duration::from_secs(600)).message("release 1.4");
/// assert_eq!(holder.environment, "production");
/// assert!(holder.who.contains('@'));
/// assert!(holder.describe().contains("task deploy"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// `user@machine`.
    pub who: String,
    /// The holding process.
    pub pid: u32,
    /// The CI job's URL, when the run is in CI.
    pub ci_job: Option<String>,
    /// The environment.
    pub environment: String,
    /// The task (`lock` for `deploy lock acquire`).
    pub task: String,
    /// Why, when said (`--message`).
    pub message: Option<String>,
    /// Seconds since the epoch when it was taken.
    pub since: u64,
    /// Seconds since the epoch when it was last renewed.
    pub renewed: u64,
    /// Seconds after the last renewal when it may be taken over.
    pub expires_after: u64,
    /// Tells this holder's lock from a later one.
    pub token: String,
}

impl Holder {
    /// This process, about to run `task` on `environment`.
    ///
    /// # Examples
    ///
    /// See [`Holder`].
    pub fn new(environment: &str, task: &str, expiry: Duration) -> Holder {
        let now = now();
        Holder {
            who: who(),
            pid: std::process::id(),
            ci_job: ci_job_url(),
            environment: environment.to_owned(),
            task: task.to_owned(),
            message: None,
            since: now,
            renewed: now,
            expires_after: expiry.as_secs().max(1),
            token: format!("{}-{}-{now}", std::process::id(), random_word()),
        }
    }

    /// Adds why it is held.
    ///
    /// # Examples
    ///
    /// See [`Holder`].
    #[must_use]
    pub fn message(mut self, message: impl Into<String>) -> Holder {
        self.message = Some(message.into());
        self
    }

    /// True when it was not renewed within its expiry.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use deploy_core::lock::Holder;
    ///
    /// let mut holder = Holder::new("staging", "deploy", Duration::from_secs(60));
    /// assert!(!holder.expired());
    /// holder.renewed -= 61;
    /// assert!(holder.expired());
    /// ```
    pub fn expired(&self) -> bool {
        now() > self.renewed + self.expires_after
    }

    /// One line for people: who, since when, what for.
    ///
    /// # Examples
    ///
    /// See [`Holder`].
    pub fn describe(&self) -> String {
        let age = now().saturating_sub(self.since);
        let renewed = now().saturating_sub(self.renewed);
        format!(
            "{} (pid {}) since {}s ago, task {}{}{}; renewed {}s ago, expires {}s after that",
            self.who,
            self.pid,
            age,
            self.task,
            self.message
                .as_ref()
                .map(|m| format!(", \"{m}\""))
                .unwrap_or_default(),
            self.ci_job
                .as_ref()
                .map(|j| format!(", CI job {j}"))
                .unwrap_or_default(),
            renewed,
            self.expires_after,
        )
    }
}

/// Why a lock could not be taken, renewed or released.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Someone else holds it.
    #[error("{environment} is locked by {}", .holder.describe())]
    Held {
        /// The environment.
        environment: String,
        /// Who holds it.
        holder: Box<Holder>,
    },
    /// The lock this run held was taken over (it had expired).
    #[error("the lock of {environment} was taken over by {}: this run stops", .by.describe())]
    Lost {
        /// The environment.
        environment: String,
        /// The new holder.
        by: Box<Holder>,
    },
    /// The lock file could not be read as a lock.
    #[error("the lock file {path} on {host} is not a lock deploy wrote: {why}")]
    Corrupt {
        /// The host.
        host: String,
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The host could not be asked.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The script on the host failed.
    #[error("lock script on {host} failed: {stderr}")]
    Script {
        /// The host.
        host: String,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// The lock of one environment on its primary host.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use deploy_core::{LocalTarget, lock::{EnvironmentLock, Holder}};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let lock = EnvironmentLock::new(std::sync::Arc::new(LocalTarget::new("localhost")), dir.path().display().to_string());
/// let me = Holder::new("staging", "deploy", Duration::from_secs(600));
/// lock.acquire(&me).await.unwrap();
/// let other = Holder::new("staging", "deploy", Duration::from_secs(600));
/// assert!(lock.acquire(&other).await.is_err());
/// assert_eq!(lock.status().await.unwrap().unwrap().token, me.token);
/// lock.release(&me, false).await.unwrap();
/// assert!(lock.status().await.unwrap().is_none());
/// # });
/// ```
pub struct EnvironmentLock {
    target: std::sync::Arc<dyn Target>,
    /// The state directory (a path on the host; `~/` is its `$HOME`).
    dir: String,
}

impl EnvironmentLock {
    /// The lock in state directory `dir` on `target`.
    pub fn new(target: std::sync::Arc<dyn Target>, dir: impl Into<String>) -> EnvironmentLock {
        EnvironmentLock {
            target,
            dir: dir.into(),
        }
    }

    fn dir_word(&self) -> String {
        dir_word(&self.dir)
    }

    /// Takes the lock for `holder`: created when free, taken over when the
    /// one there expired, refused when someone else holds it.
    pub async fn acquire(&self, holder: &Holder) -> Result<(), LockError> {
        let json = serde_json::to_string(holder).unwrap_or_default();
        let dir = self.dir_word();
        // ln of a complete file: atomic, and it fails when the lock exists.
        let script = format!(
            "set -e; d={dir}; mkdir -p \"$d\"; t=\"$d/.lock.$$\"; cat > \"$t\"; \
             if ln \"$t\" \"$d/lock.json\" 2>/dev/null; then rm -f \"$t\"; echo TAKEN; \
             else rm -f \"$t\"; echo HELD; cat \"$d/lock.json\" 2>/dev/null || true; fi"
        );
        let out = self.script(&script, json.as_bytes()).await?;
        if out.first().map(String::as_str) == Some("TAKEN") {
            return Ok(());
        }
        let existing = self.parse(&out[1..].join("\n"))?;
        if !existing.expired() {
            return Err(LockError::Held {
                environment: holder.environment.clone(),
                holder: Box::new(existing),
            });
        }
        // Expired: move it aside (only one taker's rename can succeed), then
        // take it as above.
        let stale = format!("lock.json.expired-{}", existing.token);
        let takeover = format!(
            "set -e; d={dir}; mv \"$d/lock.json\" \"$d/{stale}\" 2>/dev/null || {{ echo RACED; exit 0; }}; \
             t=\"$d/.lock.$$\"; cat > \"$t\"; \
             if ln \"$t\" \"$d/lock.json\" 2>/dev/null; then rm -f \"$t\"; echo TAKEN; else rm -f \"$t\"; echo RACED; fi"
        );
        let out = self.script(&takeover, json.as_bytes()).await?;
        if out.first().map(String::as_str) == Some("TAKEN") {
            return Ok(());
        }
        match self.status().await? {
            Some(now) => Err(LockError::Held {
                environment: holder.environment.clone(),
                holder: Box::new(now),
            }),
            None => Box::pin(self.acquire(holder)).await,
        }
    }

    /// Takes the lock, waiting up to `wait` for the holder to let go.
    pub async fn acquire_waiting(&self, holder: &Holder, wait: Duration) -> Result<(), LockError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.acquire(holder).await {
                Err(LockError::Held { .. }) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => return other,
            }
        }
    }

    /// Renews `holder`'s lock; [`LockError::Lost`] when another holds it now.
    pub async fn renew(&self, holder: &mut Holder) -> Result<(), LockError> {
        match self.status().await? {
            Some(current) if current.token == holder.token => {}
            Some(other) => {
                return Err(LockError::Lost {
                    environment: holder.environment.clone(),
                    by: Box::new(other),
                });
            }
            None => {}
        }
        holder.renewed = now();
        let json = serde_json::to_string(holder).unwrap_or_default();
        let dir = self.dir_word();
        let script = format!(
            "set -e; d={dir}; mkdir -p \"$d\"; t=\"$d/.lock.$$\"; cat > \"$t\"; mv -f \"$t\" \"$d/lock.json\""
        );
        self.script(&script, json.as_bytes()).await.map(|_| ())
    }

    /// Lets go of `holder`'s lock (or, with `force`, of whoever's).
    pub async fn release(&self, holder: &Holder, force: bool) -> Result<(), LockError> {
        if !force {
            match self.status().await? {
                Some(current) if current.token != holder.token => {
                    return Err(LockError::Held {
                        environment: holder.environment.clone(),
                        holder: Box::new(current),
                    });
                }
                _ => {}
            }
        }
        let dir = self.dir_word();
        self.script(&format!("rm -f {dir}/lock.json"), b"")
            .await
            .map(|_| ())
    }

    /// Who holds the lock, if anyone.
    pub async fn status(&self) -> Result<Option<Holder>, LockError> {
        let dir = self.dir_word();
        let out = self
            .script(
                &format!("if [ -e {dir}/lock.json ]; then echo HELD; cat {dir}/lock.json; fi"),
                b"",
            )
            .await?;
        match out.first().map(String::as_str) {
            Some("HELD") => Ok(Some(self.parse(&out[1..].join("\n"))?)),
            _ => Ok(None),
        }
    }

    fn parse(&self, json: &str) -> Result<Holder, LockError> {
        serde_json::from_str(json).map_err(|e| LockError::Corrupt {
            host: self.target.name().to_owned(),
            path: format!("{}/lock.json", self.dir),
            why: e.to_string(),
        })
    }

    async fn script(&self, script: &str, stdin: &[u8]) -> Result<Vec<String>, LockError> {
        state_script(self.target.as_ref(), script, stdin)
            .await?
            .map_err(|stderr| LockError::Script {
                host: self.target.name().to_owned(),
                stderr,
            })
    }
}

/// Runs a shell script of the state directory (lock, audit) on `target`:
/// its stdout lines, or, when it failed, its stderr.
pub(crate) async fn state_script(
    target: &dyn Target,
    script: &str,
    stdin: &[u8],
) -> Result<Result<Vec<String>, String>, TargetError> {
    let output = Collect::default();
    let status = target
        .run(&Command::shell(script).stdin(stdin.to_vec()), &output)
        .await?;
    let (stdout, stderr) = output.take();
    Ok(if status.success() {
        Ok(stdout)
    } else {
        Err(format!("{status}: {}", stderr.join(" / ")))
    })
}

/// [`state_script`] for the records beside the lock (audit, releases): a
/// failed script is a [`TargetError`] naming `what` and the host.
pub(crate) async fn state_lines(
    target: &dyn Target,
    what: &str,
    script: &str,
    stdin: &[u8],
) -> Result<Vec<String>, TargetError> {
    state_script(target, script, stdin)
        .await?
        .map_err(|why| TargetError::Other(format!("{what} on {}: {why}", target.name())))
}

/// Keeps a script's output lines.
#[derive(Default)]
struct Collect {
    lines: Mutex<(Vec<String>, Vec<String>)>,
}

impl Collect {
    fn take(self) -> (Vec<String>, Vec<String>) {
        self.lines.into_inner().unwrap_or_default()
    }
}

impl OutputSink for Collect {
    fn line(&self, stream: OutputStream, line: &str) {
        if let Ok(mut lines) = self.lines.lock() {
            match stream {
                OutputStream::Stderr => lines.1.push(line.to_owned()),
                _ => lines.0.push(line.to_owned()),
            }
        }
    }
}

/// `user@machine` of this process (`$USER`, the host name).
///
/// # Examples
///
/// ```
/// assert!(deploy_core::lock::who().contains('@'));
/// ```
pub fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    let machine = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{user}@{machine}")
}

/// A state directory as a shell word: `~/x` as `"$HOME"/x`.
pub(crate) fn dir_word(dir: &str) -> String {
    match dir.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", quote(rest)),
        None => quote(dir),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_word() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now());
    format!("{:016x}", hasher.finish())
}

/// The CI job's URL when the run is in CI (GitHub Actions, GitLab CI,
/// CircleCI, Travis CI).
pub(crate) fn ci_job_url() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(server), Some(repo), Some(run)) = (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        return Some(format!("{server}/{repo}/actions/runs/{run}"));
    }
    var("CI_JOB_URL")
        .or_else(|| var("CIRCLE_BUILD_URL"))
        .or_else(|| var("TRAVIS_JOB_WEB_URL"))
}
