//! `docker.pull`: get an image onto the host's engine from its registry.

use async_trait::async_trait;
use deploy_core::release::{Pinned, Pins};
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::text::Text;
use serde::Deserialize;
use std::sync::Arc;

use super::open_engine;
use crate::image::ImageRef;

/// Pulls `image`. By digest (`repo@sha256:…`): done already when the engine
/// has it. By tag (`latest`, a branch tag, `v1.4`: any tag may move): the
/// registry is asked for the digest the tag points at now, and the step is
/// done only when the engine's image of that tag came from that digest
/// (its `RepoDigests`). `always` pulls without asking.
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

/// `RepoDigests` name Docker Hub images without `docker.io/` (and official
/// ones without `library/`); a reference may have either.
fn same_repository(repo: &str, image: &ImageRef) -> bool {
    let short = |r: &str| {
        let r = r.strip_prefix("docker.io/").unwrap_or(r);
        r.strip_prefix("library/").unwrap_or(r).to_owned()
    };
    short(repo) == short(&image.repository)
}

impl Kind for PullImage {
    const KIND: &'static str = "docker.pull";
}

#[async_trait]
impl Step for PullImage {
    fn describe(&self) -> Description {
        let pinned = self.image.to_string().contains('@');
        Description::new(format!("pull image {}", self.image))
            .field_opt(
                "always",
                self.always.then_some("even when present (a moving tag)"),
            )
            .field_opt(
                "check",
                (!self.always && !pinned).then_some(
                    "the tag may move: pulled unless the local image has the digest the registry gives for it now",
                ),
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
        let reference = image.to_string();
        if image.digest.is_some() {
            return Ok(engine.image_id(&reference).await?.is_some());
        }
        let Some(local) = engine.local_repo_digests(&reference).await? else {
            return Ok(false);
        };
        let credentials = super::credentials(ctx, self.login.as_ref(), &image)?;
        let current = engine.registry_digest(&image, &credentials).await?;
        let has = |d: &String| {
            d.split_once('@')
                .is_some_and(|(repo, digest)| digest == current && same_repository(repo, &image))
        };
        Ok(local.iter().any(has))
    }

    /// Pulls what the release ran, by digest; an image the release knew
    /// only by id (never in a registry) has nothing to pull.
    fn pin_images(&self, pins: &Pins<'_>) -> Pinned {
        let Some(image) = pins.image(&self.image.to_string(), "") else {
            return Pinned::Unchanged;
        };
        if image.starts_with("sha256:") {
            return Pinned::LeftOut(format!(
                "the release ran {image}, which no registry has: the hosts keep it"
            ));
        }
        Pinned::Replaced(Arc::new(PullImage {
            image: Text::from(image.as_str()),
            ..self.clone()
        }))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let image = ImageRef::parse(&ctx.resolve(&self.image)?)?;
        let credentials = super::credentials(ctx, self.login.as_ref(), &image)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        engine.pull(&image, &credentials, ctx.output).await?;
        Ok(Applied::done())
    }
}
