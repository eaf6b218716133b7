//! `approve`: a gate a person must open before the plan goes on.

use async_trait::async_trait;
use serde::Deserialize;

use crate::step::{Applied, Description, Kind, Step, StepContext, StepError};
use crate::text::Text;

/// Asks for approval; an unattended run refuses unless approved in advance.
///
/// From `deploy.toml`: `{ approve = { prompt = "Promote staging to production?" } }`.
///
/// # Examples
///
/// ```
/// use deploy_core::steps::Approve;
/// use deploy_core::Step;
///
/// let gate = Approve::new("Ship 1.4.2 to production?");
/// assert_eq!(gate.describe().summary, "ask for approval: Ship 1.4.2 to production?");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    prompt: Text,
}

impl Approve {
    /// A gate with this question.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Approve};
    ///
    /// let gate = Approve::new("Ship release ${release} to production?");
    /// assert_eq!(gate.describe().summary, "ask for approval: Ship release {release} to production?");
    /// assert!(gate.undoable().is_none());
    /// ```
    pub fn new(prompt: impl Into<Text>) -> Self {
        Approve {
            prompt: prompt.into(),
        }
    }
}

impl Kind for Approve {
    const KIND: &'static str = "approve";
}

#[async_trait]
impl Step for Approve {
    fn describe(&self) -> Description {
        Description::new(format!("ask for approval: {}", self.prompt))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let prompt = ctx.masker.mask(&ctx.resolve(&self.prompt)?);
        ctx.approver
            .approve(&prompt)
            .await
            .map_err(StepError::NotApproved)?;
        Ok(Applied::done())
    }
}
