//! `docker.build`: build an image on the host's engine from a context
//! directory on the deploying machine, or on the host itself (`context = {
//! host = "/code/app" }`: tarred there through the host's Target when the
//! step runs), sent to the engine as one tar, as `docker build` does.

use deploy_core::release::{Pinned, Pins};
use std::collections::BTreeMap;

use async_trait::async_trait;
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::text::Text;
use serde::Deserialize;

use base64ct::Encoding;
use deploy_core::Command;
use deploy_core::target::{OutputSink, OutputStream};

use super::open_engine;
use super::place::Place;
use crate::context::ContextArchive;
use crate::error::DockerError;
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
    context: Place,
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
            context: Place::Here(Text::from(context)),
            tag: Text::from(tag),
            dockerfile: default_dockerfile(),
            args: BTreeMap::new(),
            engine: None,
        }
    }

    async fn spec(&self, ctx: &StepContext<'_>) -> Result<BuildSpec, StepError> {
        let tag = ctx.resolve(&self.tag)?;
        ImageRef::parse(&tag)?;
        let context = match &self.context {
            Place::Here(dir) => ctx.resolve(dir)?,
            Place::Host(dir) => ctx.host_path(&ctx.resolve(dir)?).await?,
        };
        let mut spec = BuildSpec::new(context, tag);
        spec.dockerfile.clone_from(&self.dockerfile);
        for (name, value) in &self.args {
            spec.args.insert(name.clone(), ctx.resolve(value)?);
        }
        Ok(spec)
    }

    /// The context as one tar: packed here, or tarred on the host.
    async fn archive(
        &self,
        ctx: &StepContext<'_>,
        spec: &BuildSpec,
    ) -> Result<ContextArchive, StepError> {
        match &self.context {
            Place::Here(_) => Ok(ContextArchive::pack(&spec.context, &spec.dockerfile)?),
            Place::Host(_) => {
                let dir = spec.context.display().to_string();
                let bytes = tar_on_host(ctx, &dir).await?;
                let origin = format!("{}:{dir}", ctx.target.name());
                Ok(ContextArchive::from_tar(&bytes, &spec.dockerfile, &origin)?)
            }
        }
    }
}

/// Stdout lines kept, and the last stderr lines.
#[derive(Default)]
struct Collect {
    stdout: std::sync::Mutex<String>,
    stderr: std::sync::Mutex<Vec<String>>,
}

impl OutputSink for Collect {
    fn line(&self, stream: OutputStream, line: &str) {
        match stream {
            OutputStream::Stdout => {
                if let Ok(mut out) = self.stdout.lock() {
                    out.push_str(line.trim());
                }
            }
            OutputStream::Stderr => {
                if let Ok(mut err) = self.stderr.lock() {
                    err.push(line.to_owned());
                }
            }
        }
    }
}

/// `dir` on the step's host as a tar: `tar -C dir -cf` there, the bytes
/// streamed back as base64 lines (the tar's own exit status checked).
async fn tar_on_host(ctx: &StepContext<'_>, dir: &str) -> Result<Vec<u8>, StepError> {
    let script = "t=$(mktemp) || exit 1; trap 'rm -f \"$t\"' EXIT; \
                  tar -C \"$1\" -cf \"$t\" . && base64 < \"$t\"";
    let cmd = Command::new(["sh", "-c", script, "sh", dir]);
    let collect = Collect::default();
    let status = ctx.target.run(&cmd, &collect).await?;
    let stderr = collect.stderr.into_inner().unwrap_or_default();
    if !status.success() {
        return Err(DockerError::OnHost {
            host: ctx.target.name().to_owned(),
            path: dir.to_owned(),
            message: format!(
                "cannot tar the build context ({status}): {}",
                stderr.join(" ").trim()
            ),
        }
        .into());
    }
    let text = collect.stdout.into_inner().unwrap_or_default();
    base64ct::Base64::decode_vec(&text).map_err(|e| {
        DockerError::OnHost {
            host: ctx.target.name().to_owned(),
            path: dir.to_owned(),
            message: format!("the context's tar came back garbled: {e}"),
        }
        .into()
    })
}

impl Kind for BuildImage {
    const KIND: &'static str = "docker.build";
}

#[async_trait]
impl Step for BuildImage {
    fn describe(&self) -> Description {
        let args: Vec<String> = self.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let summary = match &self.context {
            Place::Here(dir) => format!("build image {} from {dir}", self.tag),
            Place::Host(dir) => format!("build image {} from {dir} on the host", self.tag),
        };
        Description::new(summary)
            .field_opt(
                "context",
                matches!(self.context, Place::Host(_))
                    .then_some("on the host, tarred there when the step runs"),
            )
            .field_opt(
                "dockerfile",
                (self.dockerfile != "Dockerfile").then_some(&self.dockerfile),
            )
            .field_opt("args", (!args.is_empty()).then(|| args.join(", ")))
            .field_opt("engine", self.engine.as_ref())
    }

    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let spec = self.spec(ctx).await?;
        let want = spec.digest_of(&self.archive(ctx, &spec).await?);
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        let labels = engine.image_labels(&spec.tag).await?;
        Ok(labels.is_some_and(|l| l.get(CONTEXT_LABEL) == Some(&want)))
    }

    fn pin_images(&self, pins: &Pins<'_>) -> Pinned {
        super::record::left_out_when_pinned(pins, &self.tag)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let spec = self.spec(ctx).await?;
        let archive = self.archive(ctx, &spec).await?;
        let engine = open_engine(ctx, self.engine.as_ref()).await?;
        engine.build_packed(&spec, archive, ctx.output).await?;
        Ok(Applied::done())
    }
}
