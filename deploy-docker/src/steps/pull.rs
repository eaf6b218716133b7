//! `docker.pull`: get an image onto the host's engine from its registry.

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::text::Text;
use serde::Deserialize;

use super::open_engine;
use crate::image::ImageRef;

/// Pulls `image`; done already when the engine has it (unless `always`,
/// for tags that move, like `latest`).
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::PullImage;
///
/// let step = PullImage::new("registry.example/shop/web:v1.4");
/// assert_eq!(step.describe().summary, "pull image registry.example/shop/web:v1.4");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullImage {
    image: Text,
    #[serde(default)]
    always: bool,
    /// Registry login (else `~/.docker/config.json`'s).
    login: Option<super::Login>,
    engine: Option<Text>,
}

impl PullImage {
    /// Pulls `image` unless the engine has it.
    pub fn new(image: &str) -> PullImage {
        PullImage {
            image: Text::from(image),
            always: false,
            login: None,
            engine: None,
        }
    }

    /// Pulls even when the engine has the tag.
    #[must_use]
    pub fn always(mut self) -> PullImage {
        self.always = true;
        self
    }
}

impl Kind for PullImage {
    const KIND: &'static str = "docker.pull";
}

#[async_trait]
impl Step for PullImage {
    fn describe(&self) -> Description {
        Description::new(format!("pull image {}", self.image))
            .field_opt(
                "always",
                self.always.then_some("even when present (a moving tag)"),
            )
            .field_opt(
                "login",
                self.login.as_ref().map(|l| format!("as {}", l.user)),
            )
            .field_opt("engine", self.engine.as_ref())
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        if self.always {
            return Ok(false);
        }
        let image = ImageRef::parse(&ctx.resolve(&self.image)?)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        Ok(engine.image_id(&image.to_string()).await?.is_some())
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let image = ImageRef::parse(&ctx.resolve(&self.image)?)?;
        let credentials = super::credentials(ctx, self.login.as_ref(), &image)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        engine.pull(&image, &credentials, ctx.output).await?;
        Ok(Applied::done())
    }
}
