//! `upload`: copy one file from the deploying machine to the host,
//! atomically, with a mode and an owner, and undo that puts back what was
//! there.

use async_trait::async_trait;
use serde::Deserialize;

use crate::command::Command;
use crate::step::{Applied, Description, Kind, Step, StepContext, StepError, Undo};
use crate::text::Text;

/// Uploads one file (the Pixel guide's `docker-compose.staging.yml` →
/// `~/staging/docker-compose.yml`): `from` is read on the deploying machine
/// when the step runs, `to` is written on the host atomically (a temporary
/// file beside it, then a rename), then given `owner` by `chown` (through
/// sudo with `sudo = true`). Done already when `to` has the same bytes and,
/// when given, the mode and owner.
///
/// From `deploy.toml`: `{ upload = { from = "docker-compose.staging.yml", to = "~/staging/docker-compose.yml", mode = "0640", owner = "pixel:pixel" } }`.
///
/// # Examples
///
/// ```
/// use deploy_core::steps::Upload;
/// use deploy_core::Step;
///
/// let step = Upload::new("docker-compose.staging.yml", "~/staging/docker-compose.yml").mode(0o640);
/// assert_eq!(step.describe().summary, "upload docker-compose.staging.yml to ~/staging/docker-compose.yml (mode 0640)");
/// assert_eq!(step.undoable().unwrap().summary(), "restore the previous ~/staging/docker-compose.yml (or remove it)");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    from: Text,
    to: Text,
    #[serde(default, deserialize_with = "crate::mode::serde_opt::deserialize")]
    mode: Option<u32>,
    owner: Option<Text>,
    #[serde(default)]
    sudo: bool,
}

/// What `to` was before, for undo (`None`: it did not exist): its bytes,
/// mode and owner (`user:group`).
struct Previous(Option<(Vec<u8>, Option<u32>, Option<String>)>);

impl Upload {
    /// Uploads `from` (on this machine) to `to` (on the host).
    pub fn new(from: impl Into<Text>, to: impl Into<Text>) -> Self {
        Upload {
            from: from.into(),
            to: to.into(),
            mode: None,
            owner: None,
            sudo: false,
        }
    }

    /// Sets the file's mode (e.g. `0o640`).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Gives the file to `owner` (`user` or `user:group`).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Upload};
    ///
    /// let step = Upload::new("nginx.conf", "/etc/nginx/sites-enabled/app").owner("root:root").sudo();
    /// assert_eq!(step.describe().summary, "upload nginx.conf to /etc/nginx/sites-enabled/app (owner root:root, via sudo)");
    /// ```
    pub fn owner(mut self, owner: impl Into<Text>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Runs the `chown` (and the undo's) through sudo.
    pub fn sudo(mut self) -> Self {
        self.sudo = true;
        self
    }

    /// The bytes to upload, read on the deploying machine.
    async fn content(&self, ctx: &StepContext<'_>) -> Result<Vec<u8>, StepError> {
        let from = ctx.resolve(&self.from)?;
        ctx.local.read_file(&from).await?.ok_or_else(|| {
            StepError::Failed(format!("{from}: no such file on {}", ctx.local.name()))
        })
    }

    fn chown(&self, owner: &str, path: &str) -> Command {
        Command::new(["chown", "--", owner, path]).sudo(self.sudo)
    }
}

/// `stat` on the host: the mode and `user:group` of `path`.
async fn stat(
    ctx: &StepContext<'_>,
    path: &str,
) -> Result<(Option<u32>, Option<String>), StepError> {
    let out = ctx
        .capture(&Command::new(["stat", "-c", "%a %U:%G", "--", path]))
        .await?;
    let line = out
        .stdout
        .first()
        .map(|l| l.trim().to_owned())
        .unwrap_or_default();
    let (mode, owner) = line.split_once(' ').unwrap_or((line.as_str(), ""));
    Ok((
        u32::from_str_radix(mode, 8).ok(),
        (!owner.is_empty()).then(|| owner.to_owned()),
    ))
}

/// `want` (`user` or `user:group`) is what `stat` says (`user:group`).
fn owner_matches(want: &str, have: Option<&str>) -> bool {
    have.is_some_and(|have| {
        if want.contains(':') {
            have == want
        } else {
            have.split(':').next() == Some(want)
        }
    })
}

impl Kind for Upload {
    const KIND: &'static str = "upload";
}

#[async_trait]
impl Step for Upload {
    fn describe(&self) -> Description {
        let mut details = Vec::new();
        if let Some(mode) = self.mode {
            details.push(format!("mode {mode:04o}"));
        }
        if let Some(owner) = &self.owner {
            details.push(format!("owner {owner}"));
        }
        if self.sudo {
            details.push("via sudo".to_owned());
        }
        let mut summary = format!("upload {} to {}", self.from, self.to);
        if !details.is_empty() {
            summary.push_str(&format!(" ({})", details.join(", ")));
        }
        Description::new(summary)
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let content = self.content(ctx).await?;
        let to = ctx.host_path(&ctx.resolve(&self.to)?).await?;
        if ctx.target.read_file(&to).await?.as_deref() != Some(&content[..]) {
            return Ok(false);
        }
        if self.mode.is_none() && self.owner.is_none() {
            return Ok(true);
        }
        let (mode, owner) = stat(ctx, &to).await?;
        let owner_ok = match &self.owner {
            Some(want) => owner_matches(&ctx.resolve(want)?, owner.as_deref()),
            None => true,
        };
        Ok(owner_ok && self.mode.is_none_or(|m| mode == Some(m)))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let content = self.content(ctx).await?;
        let to = ctx.host_path(&ctx.resolve(&self.to)?).await?;
        let previous = match ctx.target.read_file(&to).await? {
            Some(bytes) => {
                let (mode, owner) = stat(ctx, &to).await?;
                Some((bytes, mode, owner))
            }
            None => None,
        };
        ctx.target.write_file(&to, &content, self.mode).await?;
        if let Some(owner) = &self.owner {
            ctx.run(&self.chown(&ctx.resolve(owner)?, &to)).await?;
        }
        Ok(Applied::with_memo(Previous(previous)))
    }

    fn undoable(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

#[async_trait]
impl Undo for Upload {
    fn summary(&self) -> String {
        format!("restore the previous {} (or remove it)", self.to)
    }

    async fn revert(&self, ctx: &StepContext<'_>, applied: &Applied) -> Result<(), StepError> {
        let to = ctx.host_path(&ctx.resolve(&self.to)?).await?;
        match applied.memo::<Previous>() {
            Some(Previous(Some((old, mode, owner)))) => {
                ctx.target.write_file(&to, old, *mode).await?;
                if let (Some(_), Some(owner)) = (&self.owner, owner) {
                    ctx.run(&self.chown(owner, &to)).await?;
                }
                Ok(())
            }
            Some(Previous(None)) => {
                ctx.run(&Command::new(["rm", "-f", "--", to.as_str()]).sudo(self.sudo))
                    .await?;
                Ok(())
            }
            None => Err(StepError::NotUndoable),
        }
    }
}
