//! `docker.prune`: keep the newest N tags of a repository for rollback,
//! remove the older ones (never one a container still uses).

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::target::OutputStream;
use deploy_core::text::Text;
use serde::Deserialize;

use super::open_engine;

/// Keeps the newest `keep` tags of `repository`.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::PruneImages;
///
/// assert_eq!(PruneImages::new("shop/web", 3).describe().summary,
///            "keep the newest 3 images of shop/web, remove older ones");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneImages {
    repository: Text,
    keep: usize,
    engine: Option<Text>,
}

impl PruneImages {
    /// Keeps `keep` images of `repository`.
    pub fn new(repository: &str, keep: usize) -> PruneImages {
        PruneImages {
            repository: Text::from(repository),
            keep,
            engine: None,
        }
    }
}

impl Kind for PruneImages {
    const KIND: &'static str = "docker.prune";
}

#[async_trait]
impl Step for PruneImages {
    fn describe(&self) -> Description {
        Description::new(format!(
            "keep the newest {} images of {}, remove older ones",
            self.keep, self.repository
        ))
        .field_opt("engine", self.engine.as_ref())
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let repository = ctx.resolve(&self.repository)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        Ok(engine.images_of(&repository).await?.len() <= self.keep)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let repository = ctx.resolve(&self.repository)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        for (tag, _) in engine
            .images_of(&repository)
            .await?
            .into_iter()
            .skip(self.keep)
        {
            match engine.remove_image(&tag).await {
                Ok(()) => ctx
                    .output
                    .line(OutputStream::Stdout, &format!("removed {tag}")),
                Err(e) => ctx
                    .output
                    .line(OutputStream::Stderr, &format!("kept {tag}: {e}")),
            }
        }
        Ok(Applied::done())
    }
}
