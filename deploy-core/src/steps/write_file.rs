//! `write-file`: put a file on the target, atomically, with a mode.

use async_trait::async_trait;
use serde::Deserialize;

use crate::command::Command;
use crate::step::{Applied, Description, Kind, Step, StepContext, StepError, Undo};
use crate::text::Text;

/// Writes a file on the target: a temporary file beside it, then a rename,
/// so readers never see half of it and a failure leaves the old file.
///
/// From `deploy.toml`: `{ write-file = { path = "app/credentials.ini", content = "...", mode = "0400" } }`.
///
/// # Examples
///
/// ```
/// use deploy_core::steps::WriteFile;
/// use deploy_core::Step;
///
/// let step = WriteFile::new("/srv/app/credentials.ini", "[db]\npassword = x\n").mode(0o400);
/// assert_eq!(step.describe().summary, "write /srv/app/credentials.ini (mode 0400)");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    path: Text,
    content: Text,
    #[serde(default, deserialize_with = "crate::mode::serde_opt::deserialize")]
    mode: Option<u32>,
}

/// What the file was before, for undo: its bytes and, when this step sets a
/// mode, its mode (`None`: the file did not exist).
struct Previous(Option<(Vec<u8>, Option<u32>)>);

/// A file's permission bits on the target, by `stat`.
async fn mode_of(ctx: &StepContext<'_>, path: &str) -> Result<Option<u32>, StepError> {
    let stat = ctx
        .capture(&Command::new(["stat", "-c", "%a", "--", path]))
        .await?;
    Ok(stat
        .stdout
        .first()
        .and_then(|m| u32::from_str_radix(m.trim(), 8).ok()))
}

impl WriteFile {
    /// Writes `content` to `path`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::WriteFile};
    ///
    /// let step = WriteFile::new("/etc/motd", "Deployed by ${host}\n");
    /// assert_eq!(step.describe().summary, "write /etc/motd");
    /// assert_eq!(step.describe().fields[0].1, "Deployed by {host}\n");
    /// ```
    pub fn new(path: impl Into<Text>, content: impl Into<Text>) -> Self {
        WriteFile {
            path: path.into(),
            content: content.into(),
            mode: None,
        }
    }

    /// Sets the file's mode (e.g. `0o400`).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::WriteFile};
    ///
    /// let step = WriteFile::new("/srv/app/key.pem", "${secret.tls_key}").mode(0o600);
    /// assert_eq!(step.describe().summary, "write /srv/app/key.pem (mode 0600)");
    /// ```
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }
}

impl Kind for WriteFile {
    const KIND: &'static str = "write-file";
}

#[async_trait]
impl Step for WriteFile {
    fn describe(&self) -> Description {
        let summary = match self.mode {
            Some(mode) => format!("write {} (mode {mode:04o})", self.path),
            None => format!("write {}", self.path),
        };
        Description::new(summary).field("content", &self.content)
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let path = ctx.resolve(&self.path)?;
        let content = ctx.resolve(&self.content)?;
        if ctx.target.read_file(&path).await?.as_deref() != Some(content.as_bytes()) {
            return Ok(false);
        }
        let Some(mode) = self.mode else {
            return Ok(true);
        };
        Ok(mode_of(ctx, &path).await? == Some(mode))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let path = ctx.resolve(&self.path)?;
        let content = ctx.resolve(&self.content)?;
        let previous = match ctx.target.read_file(&path).await? {
            Some(bytes) => {
                let mode = match self.mode {
                    Some(_) => mode_of(ctx, &path).await?,
                    None => None,
                };
                Some((bytes, mode))
            }
            None => None,
        };
        ctx.target
            .write_file(&path, content.as_bytes(), self.mode)
            .await?;
        Ok(Applied::with_memo(Previous(previous)))
    }

    fn undoable(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

#[async_trait]
impl Undo for WriteFile {
    fn summary(&self) -> String {
        format!("restore the previous {} (or remove it)", self.path)
    }

    async fn revert(&self, ctx: &StepContext<'_>, applied: &Applied) -> Result<(), StepError> {
        let path = ctx.resolve(&self.path)?;
        match applied.memo::<Previous>() {
            Some(Previous(Some((old, mode)))) => {
                Ok(ctx.target.write_file(&path, old, *mode).await?)
            }
            Some(Previous(None)) => {
                ctx.run(&Command::new(["rm", "-f", "--", path.as_str()]))
                    .await?;
                Ok(())
            }
            None => Err(StepError::NotUndoable),
        }
    }
}
