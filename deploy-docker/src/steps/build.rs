//! `docker.build`: build an image on the host's engine from a context
//! directory on the deploying machine (sent as a tar, as `docker build` does).

use std::collections::BTreeMap;

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::text::Text;
use serde::Deserialize;

use super::open_engine;
use crate::image::{BuildSpec, CONTEXT_LABEL, ImageRef};

/// Builds `context` as `tag`; done already when the engine has `tag` built
/// from the same context, Dockerfile and arguments (its
/// [`CONTEXT_LABEL`] matches).
///
/// # Examples
///
/// ```
/// use deploy_core::Step;
/// use deploy_docker::steps::BuildImage;
///
/// let d = BuildImage::new("./web", "shop/web:v1.4").describe();
/// assert_eq!(d.summary, "build image shop/web:v1.4 from ./web");
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildImage {
    context: Text,
    tag: Text,
    #[serde(default = "default_dockerfile")]
    dockerfile: String,
    #[serde(default)]
    args: BTreeMap<String, Text>,
    engine: Option<Text>,
}

fn default_dockerfile() -> String {
    "Dockerfile".to_owned()
}

impl BuildImage {
    /// Builds `context` (a directory here) as `tag`.
    pub fn new(context: &str, tag: &str) -> BuildImage {
        BuildImage {
            context: Text::from(context),
            tag: Text::from(tag),
            dockerfile: default_dockerfile(),
            args: BTreeMap::new(),
            engine: None,
        }
    }

    fn spec(&self, ctx: &StepContext<'_>) -> Result<BuildSpec, StepError> {
        let tag = ctx.resolve(&self.tag)?;
        ImageRef::parse(&tag)?;
        let mut spec = BuildSpec::new(ctx.resolve(&self.context)?, tag);
        spec.dockerfile.clone_from(&self.dockerfile);
        for (name, value) in &self.args {
            spec.args.insert(name.clone(), ctx.resolve(value)?);
        }
        Ok(spec)
    }
}

impl Kind for BuildImage {
    const KIND: &'static str = "docker.build";
}

#[async_trait]
impl Step for BuildImage {
    fn describe(&self) -> Description {
        let args: Vec<String> = self.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Description::new(format!("build image {} from {}", self.tag, self.context))
            .field_opt(
                "dockerfile",
                (self.dockerfile != "Dockerfile").then_some(&self.dockerfile),
            )
            .field_opt("args", (!args.is_empty()).then(|| args.join(", ")))
            .field_opt("engine", self.engine.as_ref())
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let spec = self.spec(ctx)?;
        let want = spec.digest()?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        let labels = engine.image_labels(&spec.tag).await?;
        Ok(labels.is_some_and(|l| l.get(CONTEXT_LABEL) == Some(&want)))
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let spec = self.spec(ctx)?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        engine.build(&spec, ctx.output).await?;
        Ok(Applied::done())
    }
}
