//! `docker.push`: send an image from the host's engine to its registry.

use async_trait::async_trait;
use deploy_core::release::{Pinned, Pins};
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::text::Text;
use serde::Deserialize;

use super::open_engine;
use crate::image::ImageRef;

/// Pushes `image`; done already when the registry holds the digest the
/// engine has for it.
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::PushImage;
///
/// assert_eq!(PushImage::new("127.0.0.1:5000/web:v2").describe().summary,
///            "push image 127.0.0.1:5000/web:v2");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushImage {
    image: Text,
    /// Registry login (else `~/.docker/config.json`'s).
    login: Option<super::Login>,
    engine: Option<Text>,
}

impl PushImage {
    /// Pushes `image`.
    pub fn new(image: &str) -> PushImage {
        PushImage {
            image: Text::from(image),
            login: None,
            engine: None,
        }
    }
}

impl Kind for PushImage {
    const KIND: &'static str = "docker.push";
}

#[async_trait]
impl Step for PushImage {
    fn describe(&self) -> Description {
        Description::new(format!("push image {}", self.image))
            .field_opt(
                "login",
                self.login.as_ref().map(|l| format!("as {}", l.user)),
            )
            .field_opt("engine", self.engine.as_ref())
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let image = ImageRef::parse(&ctx.resolve(&self.image)?)?;
        let credentials = super::credentials(ctx, self.login.as_ref(), &image)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        let name = image.to_string();
        let local = match engine.image_id(&name).await? {
            Some(_) => engine.repo_digests(&name).await?,
            None => return Ok(false),
        };
        let auth = credentials.for_registry(image.registry());
        let Ok(remote) = engine.api().inspect_registry_image(&name, auth).await else {
            return Ok(false);
        };
        let digest = remote.descriptor.digest.unwrap_or_default();
        Ok(!digest.is_empty()
            && local
                .iter()
                .any(|d| d.starts_with(&format!("{}@", image.repository)) && d.ends_with(&digest)))
    }

    fn pin_images(&self, pins: &Pins<'_>) -> Pinned {
        super::record::left_out_when_pinned(pins, &self.image)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let image = ImageRef::parse(&ctx.resolve(&self.image)?)?;
        let credentials = super::credentials(ctx, self.login.as_ref(), &image)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        engine.push(&image, &credentials, ctx.output).await?;
        Ok(Applied::done())
    }
}
