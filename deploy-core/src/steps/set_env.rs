//! `set-env`: set `KEY=VALUE` in a dotenv file on the target, keeping every
//! other line byte for byte.

use async_trait::async_trait;
use serde::Deserialize;

use crate::dotenv;
use crate::step::{Applied, Description, Kind, Step, StepContext, StepError, Undo};
use crate::text::Text;

/// Sets one variable in a dotenv file (the Pixel guide's `sed` of `VERSION=`),
/// written atomically; a file that does not exist yet is created.
///
/// From `deploy.toml`: `{ set-env = { file = "pixel/.env", key = "VERSION", value = "${version}" } }`.
///
/// # Examples
///
/// ```
/// use deploy_core::steps::SetEnvVar;
/// use deploy_core::Step;
///
/// let step = SetEnvVar::new("/srv/pixel/.env", "VERSION", "1.4.2");
/// assert_eq!(step.describe().summary, "set VERSION=1.4.2 in /srv/pixel/.env");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetEnvVar {
    file: Text,
    key: String,
    value: Text,
}

/// The file before the change, for undo (`None`: it did not exist).
struct Previous(Option<Vec<u8>>);

impl SetEnvVar {
    /// Sets `key` to `value` in `file`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::SetEnvVar};
    ///
    /// let step = SetEnvVar::new("/srv/app/.env", "DATABASE_URL", "postgres://app:${secret.db}@db1/app");
    /// assert_eq!(step.describe().summary, "set DATABASE_URL=postgres://app:[REDACTED]@db1/app in /srv/app/.env");
    /// assert_eq!(step.undoable().unwrap().summary(), "restore the previous /srv/app/.env");
    /// ```
    pub fn new(file: impl Into<Text>, key: impl Into<String>, value: impl Into<Text>) -> Self {
        SetEnvVar {
            file: file.into(),
            key: key.into(),
            value: value.into(),
        }
    }
}

impl Kind for SetEnvVar {
    const KIND: &'static str = "set-env";
}

#[async_trait]
impl Step for SetEnvVar {
    fn describe(&self) -> Description {
        Description::new(format!("set {}={} in {}", self.key, self.value, self.file))
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let file = ctx.resolve(&self.file)?;
        let value = ctx.resolve(&self.value)?;
        let Some(bytes) = ctx.target.read_file(&file).await? else {
            return Ok(false);
        };
        let values = dotenv::get(&String::from_utf8_lossy(&bytes), &self.key);
        Ok(!values.is_empty() && values.iter().all(|v| *v == value))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let file = ctx.resolve(&self.file)?;
        let value = ctx.resolve(&self.value)?;
        let previous = ctx.target.read_file(&file).await?;
        let text = match &previous {
            Some(bytes) => String::from_utf8(bytes.clone()).map_err(|_| {
                StepError::Failed(format!("{file} is not UTF-8 text; left unchanged"))
            })?,
            None => String::new(),
        };
        let updated = dotenv::set(&text, &self.key, &value);
        ctx.target
            .write_file(&file, updated.as_bytes(), None)
            .await?;
        Ok(Applied::with_memo(Previous(previous)))
    }

    fn undoable(&self) -> Option<&dyn Undo> {
        Some(self)
    }
}

#[async_trait]
impl Undo for SetEnvVar {
    fn summary(&self) -> String {
        format!("restore the previous {}", self.file)
    }

    async fn revert(&self, ctx: &StepContext<'_>, applied: &Applied) -> Result<(), StepError> {
        let file = ctx.resolve(&self.file)?;
        match applied.memo::<Previous>() {
            Some(Previous(Some(old))) => Ok(ctx.target.write_file(&file, old, None).await?),
            Some(Previous(None)) => {
                ctx.run(&crate::Command::new(["rm", "-f", "--", file.as_str()]))
                    .await?;
                Ok(())
            }
            None => Err(StepError::NotUndoable),
        }
    }
}
