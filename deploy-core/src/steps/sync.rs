//! `sync`: copy a local directory to a path on the target (only what changed).

use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;

use crate::step::{Applied, Description, Kind, Step, StepContext, StepError};
use crate::target::SyncOptions;
use crate::text::Text;

/// Copies a directory from the deploying machine to the target.
///
/// Each file lands atomically (temporary file, then rename) and deletions
/// happen only after every copy succeeded, so a failed sync leaves every file
/// either old or new. Syncing into a fresh `releases/{release}` directory and
/// switching a link afterwards (see [`Symlink`](super::Symlink)) makes the
/// whole release atomic.
///
/// From `deploy.toml`: `{ sync = { from = "dist", to = "releases/${release}", delete = true } }`.
///
/// # Examples
///
/// ```
/// use deploy_core::steps::Sync;
/// use deploy_core::Step;
///
/// let step = Sync::new("dist", "/srv/app/releases/${release}").unwrap().exclude("*.log");
/// assert_eq!(step.describe().summary, "sync dist/ to /srv/app/releases/{release}/");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sync {
    from: Text,
    to: Text,
    #[serde(default)]
    delete: bool,
    #[serde(default)]
    exclude: Vec<String>,
}

impl Sync {
    /// Syncs `from` (on this machine) to `to` (on the target); both may hold
    /// run-time placeholders.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Sync};
    ///
    /// let step = Sync::new("dist", "/srv/app/releases/${release}").unwrap();
    /// assert_eq!(step.describe().summary, "sync dist/ to /srv/app/releases/{release}/");
    /// assert!(Sync::new("dist", "/srv/${app}").is_err());
    /// ```
    pub fn new(from: &str, to: &str) -> Result<Self, crate::text::TextError> {
        Ok(Sync {
            from: Text::parse(from)?,
            to: Text::parse(to)?,
            delete: false,
            exclude: Vec::new(),
        })
    }

    /// Removes files on the target that the source no longer has.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Sync};
    ///
    /// let step = Sync::new("public", "/var/www/site").unwrap().delete();
    /// let delete = ("delete".to_string(), "files the source no longer has".to_string());
    /// assert_eq!(step.describe().fields, [delete]);
    /// ```
    pub fn delete(mut self) -> Self {
        self.delete = true;
        self
    }

    /// Leaves out paths matching this gitignore-style pattern.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Sync};
    ///
    /// let step = Sync::new("app", "/srv/app").unwrap().exclude("*.log").exclude("tmp/");
    /// assert_eq!(step.describe().fields, [("exclude".to_string(), "*.log, tmp/".to_string())]);
    /// ```
    pub fn exclude(mut self, pattern: impl Into<String>) -> Self {
        self.exclude.push(pattern.into());
        self
    }
}

impl Kind for Sync {
    const KIND: &'static str = "sync";
}

#[async_trait]
impl Step for Sync {
    fn describe(&self) -> Description {
        Description::new(format!("sync {}/ to {}/", self.from, self.to))
            .field_opt(
                "delete",
                self.delete.then_some("files the source no longer has"),
            )
            .field_opt(
                "exclude",
                (!self.exclude.is_empty()).then(|| self.exclude.join(", ")),
            )
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let from = ctx.resolve(&self.from)?;
        let to = ctx.resolve(&self.to)?;
        let options = SyncOptions {
            delete: self.delete,
            exclude: self.exclude.clone(),
        };
        if !Path::new(&from).is_dir() {
            return Err(StepError::Failed(format!(
                "sync source {from} is not a directory on the deploying machine"
            )));
        }
        let report = ctx.target.sync_dir(Path::new(&from), &to, &options).await?;
        ctx.output.line(
            crate::target::OutputStream::Stdout,
            &format!(
                "synced {from}/ to {to}/: {} copied ({} bytes), {} unchanged, {} deleted",
                report.copied, report.bytes, report.unchanged, report.deleted
            ),
        );
        Ok(Applied::done())
    }

    /// In a rollback, a sync into the release's own `{release}` directory
    /// is not copied again: that directory is what the release shipped.
    fn pin_images(&self, pins: &crate::release::Pins<'_>) -> crate::release::Pinned {
        if pins.rollback && self.to.to_string().contains("{release}") {
            crate::release::Pinned::Replaced(std::sync::Arc::new(Shipped {
                to: self.to.clone(),
            }))
        } else {
            crate::release::Pinned::Unchanged
        }
    }
}

/// A rollback's stand-in for a [`Sync`] into the release's own directory:
/// the directory must still be there (`keep-releases` may have removed
/// it), and nothing is copied into it.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, PlannedStep, Step, release::Pinning, steps::Sync};
///
/// let sync = Sync::new("dist", "/srv/app/releases/${release}").unwrap();
/// let plan = Plan::builder("production", "deploy").host("web1", ["web"])
///     .step(PlannedStep::new(sync)).build().unwrap()
///     .pinned(Pinning::rollback("production", "r1", vec![]));
/// assert_eq!(
///     plan.steps()[0].step.describe().summary,
///     "use /srv/app/releases/{release}/ as its release shipped it (a rollback copies nothing)"
/// );
/// ```
#[derive(Debug)]
struct Shipped {
    to: Text,
}

impl Kind for Shipped {
    const KIND: &'static str = "sync";
}

#[async_trait]
impl Step for Shipped {
    fn describe(&self) -> Description {
        Description::new(format!(
            "use {}/ as its release shipped it (a rollback copies nothing)",
            self.to
        ))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let to = ctx.resolve(&self.to)?;
        let there = ctx
            .probe(&crate::Command::new(["test", "-d", to.as_str()]))
            .await?;
        if there.status.is_some_and(|s| s.success()) {
            Ok(Applied::done())
        } else {
            Err(StepError::Failed(format!(
                "{to} is no longer on the host (keep-releases removed it?): the release cannot be put back from it"
            )))
        }
    }
}
