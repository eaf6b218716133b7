//! Capistrano-style releases: keep the last N, and roll `current` back to the
//! release before it.

use async_trait::async_trait;
use serde::Deserialize;

use super::symlink::{PreviousLink, read_link, restore_link, switch_link};
use crate::command::Command;
use crate::step::{Applied, Description, Kind, Step, StepContext, StepError, Undo};
use crate::text::Text;

/// Release directory names, sorted oldest first (release ids sort by time).
async fn list_releases(ctx: &StepContext<'_>, dir: &str) -> Result<Vec<String>, StepError> {
    let out = ctx.capture(&Command::new(["ls", "-1", "--", dir])).await?;
    let mut names: Vec<String> = out
        .stdout
        .into_iter()
        .filter(|n| !n.is_empty() && !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

fn base_name(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// Removes all but the newest `keep` releases, never the one `current`
/// points at.
///
/// From `deploy.toml`: `{ keep-releases = { dir = "releases", keep = 5, current = "current" } }`.
///
/// # Examples
///
/// ```
/// use deploy_core::steps::KeepReleases;
/// use deploy_core::Step;
///
/// let step = KeepReleases::new("/srv/app/releases", 5).current("/srv/app/current");
/// assert_eq!(step.describe().summary, "keep the newest 5 releases in /srv/app/releases");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepReleases {
    dir: Text,
    keep: usize,
    current: Option<Text>,
}

impl KeepReleases {
    /// Keeps `keep` releases in `dir`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::KeepReleases};
    ///
    /// let step = KeepReleases::new("/srv/app/releases", 3);
    /// assert_eq!(step.describe().summary, "keep the newest 3 releases in /srv/app/releases");
    /// assert!(step.describe().fields.is_empty());
    /// ```
    pub fn new(dir: impl Into<Text>, keep: usize) -> Self {
        KeepReleases {
            dir: dir.into(),
            keep,
            current: None,
        }
    }

    /// Never removes the release this link points at.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::KeepReleases};
    ///
    /// let step = KeepReleases::new("/srv/app/releases", 3).current("/srv/app/current");
    /// let never = ("never remove".to_string(), "what /srv/app/current points at".to_string());
    /// assert_eq!(step.describe().fields, [never]);
    /// ```
    pub fn current(mut self, link: impl Into<Text>) -> Self {
        self.current = Some(link.into());
        self
    }
}

impl Kind for KeepReleases {
    const KIND: &'static str = "keep-releases";
}

#[async_trait]
impl Step for KeepReleases {
    fn describe(&self) -> Description {
        Description::new(format!(
            "keep the newest {} releases in {}",
            self.keep, self.dir
        ))
        .field_opt(
            "never remove",
            self.current.as_ref().map(|c| format!("what {c} points at")),
        )
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let dir = ctx.resolve(&self.dir)?;
        Ok(list_releases(ctx, &dir).await?.len() <= self.keep)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let dir = ctx.resolve(&self.dir)?;
        let releases = list_releases(ctx, &dir).await?;
        let current = match &self.current {
            Some(link) => read_link(ctx, &ctx.resolve(link)?)
                .await?
                .map(|p| base_name(&p).to_owned()),
            None => None,
        };
        let excess = releases.len().saturating_sub(self.keep);
        let doomed: Vec<String> = releases
            .into_iter()
            .take(excess)
            .filter(|r| Some(r) != current.as_ref())
            .map(|r| format!("{}/{r}", dir.trim_end_matches('/')))
            .collect();
        if !doomed.is_empty() {
            let mut argv = vec!["rm".to_owned(), "-rf".to_owned(), "--".to_owned()];
            argv.extend(doomed);
            ctx.run(&Command::new(argv)).await?;
        }
        Ok(Applied::done())
    }
}

/// Points `current` at the release before the one it points at now
/// (Capistrano's `deploy:rollback`).
///
/// From `deploy.toml`: `{ rollback-release = { dir = "releases", current = "current" } }`.
///
/// # Examples
///
/// ```
/// use deploy_core::steps::RollbackRelease;
/// use deploy_core::Step;
///
/// let step = RollbackRelease::new("/srv/app/releases", "/srv/app/current");
/// assert_eq!(
///     step.describe().summary,
///     "point /srv/app/current at the release before its current one in /srv/app/releases"
/// );
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRelease {
    dir: Text,
    current: Text,
}

impl RollbackRelease {
    /// Rolls `current` back within `dir`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Kind, Step, steps::RollbackRelease};
    ///
    /// let step = RollbackRelease::new("/srv/app/releases", "/srv/app/current");
    /// assert_eq!(RollbackRelease::KIND, "rollback-release");
    /// assert_eq!(step.undoable().unwrap().summary(), "point /srv/app/current back at the release it left");
    /// ```
    pub fn new(dir: impl Into<Text>, current: impl Into<Text>) -> Self {
        RollbackRelease {
            dir: dir.into(),
            current: current.into(),
        }
    }
}

impl Kind for RollbackRelease {
    const KIND: &'static str = "rollback-release";
}

#[async_trait]
impl Step for RollbackRelease {
    fn describe(&self) -> Description {
        Description::new(format!(
            "point {} at the release before its current one in {}",
            self.current, self.dir
        ))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let dir = ctx.resolve(&self.dir)?;
        let link = ctx.resolve(&self.current)?;
        let releases = list_releases(ctx, &dir).await?;
        let now = read_link(ctx, &link).await?;
        let now_name = now.as_deref().map(base_name);
        let position = match now_name {
            Some(name) => releases.iter().position(|r| r == name).ok_or_else(|| {
                StepError::Failed(format!("{link} points at {name}, which is not in {dir}"))
            })?,
            None => {
                return Err(StepError::Failed(format!(
                    "{link} is not a link: nothing to roll back from"
                )));
            }
        };
        let Some(previous) = position.checked_sub(1).map(|i| &releases[i]) else {
            return Err(StepError::Failed(format!(
                "{} is the oldest release in {dir}: nothing to roll back to",
                releases[position]
            )));
        };
        let to = format!("{}/{previous}", dir.trim_end_matches('/'));
        switch_link(ctx, &link, &to).await?;
        Ok(Applied::with_memo(PreviousLink(now)))
    }

    fn undoable(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

#[async_trait]
impl Undo for RollbackRelease {
    fn summary(&self) -> String {
        format!("point {} back at the release it left", self.current)
    }

    async fn revert(&self, ctx: &StepContext<'_>, applied: &Applied) -> Result<(), StepError> {
        let link = ctx.resolve(&self.current)?;
        restore_link(ctx, &link, applied).await
    }
}
