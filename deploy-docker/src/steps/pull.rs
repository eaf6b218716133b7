//! `docker.pull`: get an image onto the host's engine from its registry.

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Step, StepContext, StepError};
use deploy_core::text::Text;
use serde::Deserialize;

use super::with_engine;
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

#[async_trait]
impl Step for PullImage {
    fn kind(&self) -> &str {
        "docker.pull"
    }

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
        with_engine(ctx, self.engine.as_ref(), |engine| {
            Box::pin(async move { Ok(engine.image_id(&image.to_string()).await?.is_some()) })
        })
        .await
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let image = ImageRef::parse(&ctx.resolve(&self.image)?)?;
        let credentials = super::credentials(ctx, self.login.as_ref(), &image)?;
        let output = ctx.output;
        with_engine(ctx, self.engine.as_ref(), |engine| {
            Box::pin(async move { engine.pull(&image, &credentials, output).await })
        })
        .await?;
        Ok(Applied::done())
    }
}
