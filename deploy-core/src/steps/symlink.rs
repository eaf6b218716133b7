//! `symlink`: point a link (a Capistrano-style `current`) at a new target,
//! atomically.

use async_trait::async_trait;
use serde::Deserialize;

use crate::command::Command;
use crate::step::{Applied, Description, Kind, Step, StepContext, StepError, Undo};
use crate::text::Text;

/// Switches a symbolic link: a new link beside it, then `mv -T` over the old
/// one, so the link always points somewhere. Undo points it back.
///
/// From `deploy.toml`: `{ symlink = { link = "/srv/app/current", to = "releases/${release}" } }`.
///
/// # Examples
///
/// ```
/// use deploy_core::steps::Symlink;
/// use deploy_core::Step;
///
/// let step = Symlink::new("/srv/app/current", "/srv/app/releases/1");
/// assert_eq!(step.describe().summary, "point /srv/app/current at /srv/app/releases/1");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Symlink {
    link: Text,
    to: Text,
}

/// Where the link pointed before (`None`: there was no link).
pub(crate) struct PreviousLink(pub(crate) Option<String>);

impl Symlink {
    /// Points `link` at `to`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Symlink};
    ///
    /// let step = Symlink::new("/srv/app/current", "/srv/app/releases/${release}");
    /// assert_eq!(step.describe().summary, "point /srv/app/current at /srv/app/releases/{release}");
    /// assert!(step.undoable().is_some());
    /// ```
    pub fn new(link: impl Into<Text>, to: impl Into<Text>) -> Self {
        Symlink {
            link: link.into(),
            to: to.into(),
        }
    }
}

/// Where `link` points now, or `None` when it is not a link.
pub(crate) async fn read_link(
    ctx: &StepContext<'_>,
    link: &str,
) -> Result<Option<String>, StepError> {
    let out = ctx.probe(&Command::new(["readlink", "--", link])).await?;
    if out.status.is_some_and(|s| s.success()) {
        Ok(out.stdout.into_iter().next())
    } else {
        Ok(None)
    }
}

/// Points `link` at `to` atomically.
pub(crate) async fn switch_link(
    ctx: &StepContext<'_>,
    link: &str,
    to: &str,
) -> Result<(), StepError> {
    let temp = format!("{link}.deploy-tmp");
    ctx.run(&Command::new(["ln", "-sfn", "--", to, temp.as_str()]))
        .await?;
    ctx.run(&Command::new(["mv", "-T", "-f", "--", temp.as_str(), link]))
        .await?;
    Ok(())
}

/// Undo for a link switch: back to where it pointed, or gone if it was new.
pub(crate) async fn restore_link(
    ctx: &StepContext<'_>,
    link: &str,
    applied: &Applied,
) -> Result<(), StepError> {
    match applied.memo::<PreviousLink>() {
        Some(PreviousLink(Some(previous))) => switch_link(ctx, link, previous).await,
        Some(PreviousLink(None)) => {
            ctx.run(&Command::new(["rm", "-f", "--", link])).await?;
            Ok(())
        }
        None => Err(StepError::NotUndoable),
    }
}

impl Kind for Symlink {
    const KIND: &'static str = "symlink";
}

#[async_trait]
impl Step for Symlink {
    fn describe(&self) -> Description {
        Description::new(format!("point {} at {}", self.link, self.to))
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let link = ctx.resolve(&self.link)?;
        let to = ctx.resolve(&self.to)?;
        let done = read_link(ctx, &link).await?.as_deref() == Some(to.as_str());
        if done {
            ctx.log.linked(&link, &to);
        }
        Ok(done)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let link = ctx.resolve(&self.link)?;
        let to = ctx.resolve(&self.to)?;
        let previous = read_link(ctx, &link).await?;
        switch_link(ctx, &link, &to).await?;
        ctx.log.linked(&link, &to);
        Ok(Applied::with_memo(PreviousLink(previous)))
    }

    fn undoable(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

#[async_trait]
impl Undo for Symlink {
    fn summary(&self) -> String {
        format!("point {} back where it pointed before", self.link)
    }

    async fn revert(&self, ctx: &StepContext<'_>, applied: &Applied) -> Result<(), StepError> {
        let link = ctx.resolve(&self.link)?;
        restore_link(ctx, &link, applied).await
    }
}
