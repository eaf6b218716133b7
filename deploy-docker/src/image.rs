//! Images: references and tags, build (from a context directory), pull,
//! push, tag and digests.
//!
//! Build output and pull/push progress stream into an [`OutputSink`] as
//! lines; an error *inside* the stream (a failing `RUN`, an unknown tag) is an
//! error here, though the API call itself succeeded.

use std::collections::HashMap;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    BuildImageOptions, CreateImageOptions, ListImagesOptions, PushImageOptions, RemoveImageOptions,
    TagImageOptions,
};
use deploy_core::target::{OutputSink, OutputStream};
use futures_util::StreamExt;

use crate::context::ContextArchive;
use crate::credentials::Credentials;
use crate::engine::Engine;
use crate::error::DockerError;

/// An image reference split into repository and tag or digest.
///
/// # Examples
///
/// ```
/// use deploy_docker::ImageRef;
///
/// let r = ImageRef::parse("127.0.0.1:5000/shop/web:v1.4").unwrap();
/// assert_eq!((r.repository.as_str(), r.tag.as_str()), ("127.0.0.1:5000/shop/web", "v1.4"));
/// assert_eq!(r.registry(), Some("127.0.0.1:5000"));
/// assert_eq!(ImageRef::parse("busybox").unwrap().to_string(), "busybox:latest");
/// assert!(ImageRef::parse("web:feature/x").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `[registry/]path`.
    pub repository: String,
    /// The tag (`latest` when none was given).
    pub tag: String,
    /// `sha256:…` when the reference pins a digest.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `[registry/]path[:tag][@digest]`.
    pub fn parse(reference: &str) -> Result<ImageRef, DockerError> {
        let bad = |why: &str| DockerError::Invalid(format!("image reference `{reference}`: {why}"));
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => (name, Some(digest.to_owned())),
            None => (reference, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], &name[last_slash + i + 1..]),
            None => (name, "latest"),
        };
        if repository.is_empty() {
            return Err(bad("no repository"));
        }
        if repository
            .chars()
            .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
        {
            return Err(bad("repositories are lowercase, without spaces"));
        }
        // Only a registry (the first part, `host:port`) may hold a colon.
        let mut parts = repository.split('/');
        let first = parts.next().unwrap_or_default();
        let port_ok = first
            .split_once(':')
            .is_none_or(|(_, port)| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()));
        let registry = repository.contains('/')
            && port_ok
            && (first.contains('.') || first.contains(':') || first == "localhost");
        if (!registry && first.contains(':')) || parts.any(|p| p.contains(':') || p.is_empty()) {
            return Err(bad(
                "a tag holds no `/` (in deploy.toml a branch name becomes a tag with `${git_branch_tag}` or `${name | sanitize_tag}`)",
            ));
        }
        if !valid_tag(tag) {
            return Err(bad(&format!(
                "`{tag}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128; \
                 in deploy.toml a branch name becomes one with `${{git_branch_tag}}` or \
                 `${{name | sanitize_tag}}`)"
            )));
        }
        Ok(ImageRef {
            repository: repository.to_owned(),
            tag: tag.to_owned(),
            digest,
        })
    }

    /// The registry host, when the first path part names one.
    pub fn registry(&self) -> Option<&str> {
        let (first, _) = self.repository.split_once('/')?;
        (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.digest {
            // A digest pins the bytes: the tag is only a label then.
            Some(digest) if self.tag == "latest" => write!(f, "{}@{digest}", self.repository),
            Some(digest) => write!(f, "{}:{}@{digest}", self.repository, self.tag),
            None => write!(f, "{}:{}", self.repository, self.tag),
        }
    }
}

fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A git branch (or any text) as a valid image tag: what Docker refuses
/// becomes `-` (`feature/rotate-collage` → `feature-rotate-collage`).
///
/// # Examples
///
/// ```
/// use deploy_docker::sanitize_tag;
///
/// assert_eq!(sanitize_tag("feature/rotate-collage").unwrap(), "feature-rotate-collage");
/// assert_eq!(sanitize_tag("-hotfix/#12").unwrap(), "hotfix--12");
/// assert!(sanitize_tag("///").is_err());
/// ```
pub fn sanitize_tag(text: &str) -> Result<String, DockerError> {
    let tag = deploy_core::git::tag_safe(text);
    if tag.is_empty() {
        return Err(DockerError::Invalid(format!(
            "`{text}` has nothing that can be an image tag"
        )));
    }
    Ok(tag)
}

/// What to build.
///
/// # Examples
///
/// ```
/// use deploy_docker::BuildSpec;
///
/// let spec = BuildSpec::new("./web", "shop/web:v1.4").arg("PYTHON", "3.12");
/// assert_eq!(spec.dockerfile, "Dockerfile");
/// ```
#[derive(Debug, Clone)]
pub struct BuildSpec {
    /// The context directory (`.dockerignore` honoured).
    pub context: std::path::PathBuf,
    /// The tag to give the result.
    pub tag: String,
    /// The Dockerfile, relative to the context.
    pub dockerfile: String,
    /// `--build-arg`s.
    pub args: HashMap<String, String>,
    /// Labels for the image.
    pub labels: HashMap<String, String>,
}

impl BuildSpec {
    /// Builds `context` as `tag` with `Dockerfile`.
    pub fn new(context: impl Into<std::path::PathBuf>, tag: impl Into<String>) -> BuildSpec {
        BuildSpec {
            context: context.into(),
            tag: tag.into(),
            dockerfile: "Dockerfile".to_owned(),
            args: HashMap::new(),
            labels: HashMap::new(),
        }
    }

    /// The digest a build of this spec carries in [`CONTEXT_LABEL`]: its
    /// context's paths, modes and bytes, the Dockerfile and the arguments.
    /// Equal digests: nothing to rebuild.
    pub fn digest(&self) -> Result<String, DockerError> {
        let archive = ContextArchive::pack(&self.context, &self.dockerfile)?;
        Ok(self.digest_of(&archive))
    }

    pub(crate) fn digest_of(&self, archive: &ContextArchive) -> String {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        hash.update(&archive.content_digest);
        hash.update(self.dockerfile.as_bytes());
        let mut args: Vec<_> = self.args.iter().collect();
        args.sort();
        for (name, value) in args {
            hash.update(format!("\0{name}={value}").as_bytes());
        }
        format!("sha256:{}", hex(&hash.finalize()))
    }

    /// Adds a build argument.
    #[must_use]
    pub fn arg(mut self, name: impl Into<String>, value: impl Into<String>) -> BuildSpec {
        self.args.insert(name.into(), value.into());
        self
    }
}

/// The label a built image carries: the digest of its context and settings,
/// so a build of unchanged input can be skipped.
pub const CONTEXT_LABEL: &str = "deploy.context-digest";

fn emit(output: &dyn OutputSink, text: &str) {
    for line in text.lines() {
        let line = line.trim_end();
        if !line.is_empty() {
            output.line(OutputStream::Stdout, line);
        }
    }
}

/// One message of a pull's or a push's progress stream.
trait Progress {
    /// The error inside the stream, if this message is one.
    fn error(&self) -> Option<Option<String>>;
    /// A status line, unless it is a layer's progress (repeated many times
    /// a second).
    fn status(self) -> Option<String>;
}

/// Pull and push messages have the same fields under different types.
macro_rules! progress {
    ($($info:ty),*) => {$(
        impl Progress for $info {
            fn error(&self) -> Option<Option<String>> {
                self.error_detail.as_ref().map(|d| d.message.clone())
            }
            fn status(self) -> Option<String> {
                self.progress_detail.is_none().then_some(self.status).flatten()
            }
        }
    )*};
}

progress!(
    bollard::models::CreateImageInfo,
    bollard::models::PushImageInfo
);

impl Engine {
    /// The image's id (`sha256:…`), or `None` when the engine lacks it.
    pub async fn image_id(&self, image: &str) -> Result<Option<String>, DockerError> {
        crate::error::found(self.api().inspect_image(image).await)
            .map(|inspect| inspect.and_then(|i| i.id))
            .map_err(|e| self.error(format!("inspect image {image}"), e))
    }

    /// The image's labels, or `None` when the engine lacks it.
    pub async fn image_labels(
        &self,
        image: &str,
    ) -> Result<Option<HashMap<String, String>>, DockerError> {
        match self.api().inspect_image(image).await {
            Ok(inspect) => Ok(Some(
                inspect.config.and_then(|c| c.labels).unwrap_or_default(),
            )),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.error(format!("inspect image {image}"), e)),
        }
    }

    /// The registry digests (`repo@sha256:…`) the engine knows for an image:
    /// what a promotion pins so that it ships exactly these bytes.
    pub async fn repo_digests(&self, image: &str) -> Result<Vec<String>, DockerError> {
        let inspect = self
            .api()
            .inspect_image(image)
            .await
            .map_err(|e| self.error(format!("image {image}"), e))?;
        Ok(inspect.repo_digests.unwrap_or_default())
    }

    /// The digests of `image` the engine has from registries (its
    /// `RepoDigests`, `repo@sha256:…`), or `None` when it has no such image.
    pub async fn local_repo_digests(
        &self,
        image: &str,
    ) -> Result<Option<Vec<String>>, DockerError> {
        crate::error::found(self.api().inspect_image(image).await)
            .map(|inspect| inspect.map(|i| i.repo_digests.unwrap_or_default()))
            .map_err(|e| self.error(format!("inspect image {image}"), e))
    }

    /// The digest `image`'s tag points at in its registry now, asked by the
    /// engine (the registry's manifest, as `docker manifest inspect`).
    pub async fn registry_digest(
        &self,
        image: &ImageRef,
        credentials: &Credentials,
    ) -> Result<String, DockerError> {
        let auth = credentials.for_registry(image.registry());
        let reference = image.to_string();
        let inspect = self
            .api()
            .inspect_registry_image(&reference, auth)
            .await
            .map_err(|e| self.error(format!("ask the registry for {reference}"), e))?;
        inspect.descriptor.digest.ok_or_else(|| DockerError::Api {
            host: self.host().to_owned(),
            what: format!("ask the registry for {reference}"),
            message: "the registry gave no digest".to_owned(),
        })
    }

    /// Pulls an image from its registry.
    pub async fn pull(
        &self,
        image: &ImageRef,
        credentials: &Credentials,
        output: &dyn OutputSink,
    ) -> Result<(), DockerError> {
        let options = CreateImageOptions {
            from_image: Some(image.repository.clone()),
            tag: Some(image.digest.clone().unwrap_or_else(|| image.tag.clone())),
            ..Default::default()
        };
        let auth = credentials.for_registry(image.registry());
        let progress = self.api().create_image(Some(options), None, auth);
        self.follow("pull", image, progress, output).await
    }

    /// Reports each distinct status line once; an error inside the stream
    /// is an error.
    async fn follow<P: Progress>(
        &self,
        op: &str,
        image: &ImageRef,
        progress: impl futures_util::Stream<Item = Result<P, bollard::errors::Error>>,
        output: &dyn OutputSink,
    ) -> Result<(), DockerError> {
        let mut progress = std::pin::pin!(progress);
        let mut last_status = String::new();
        while let Some(item) = progress.next().await {
            let info = item.map_err(|e| self.error(format!("{op} {image}"), e))?;
            if let Some(message) = info.error() {
                return Err(self.pull_push_error(op, image, message));
            }
            if let Some(status) = info.status()
                && status != last_status
            {
                emit(output, &status);
                last_status = status;
            }
        }
        Ok(())
    }

    fn pull_push_error(&self, op: &str, image: &ImageRef, message: Option<String>) -> DockerError {
        let message = message.unwrap_or_else(|| "the engine gave no reason".to_owned());
        if message.contains("not found") || message.contains("manifest unknown") {
            DockerError::NotFound {
                host: self.host().to_owned(),
                what: format!("image {image} in its registry ({message})"),
            }
        } else {
            DockerError::Api {
                host: self.host().to_owned(),
                what: format!("{op} {image}"),
                message,
            }
        }
    }

    /// Pushes an image to its registry.
    pub async fn push(
        &self,
        image: &ImageRef,
        credentials: &Credentials,
        output: &dyn OutputSink,
    ) -> Result<(), DockerError> {
        let options = PushImageOptions {
            tag: Some(image.tag.clone()),
            ..Default::default()
        };
        let auth = credentials
            .for_registry(image.registry())
            .or_else(|| Some(DockerCredentials::default()));
        let progress = self
            .api()
            .push_image(&image.repository, Some(options), auth);
        self.follow("push", image, progress, output).await
    }

    /// Gives `source` the name `target` too.
    pub async fn tag(&self, source: &str, target: &ImageRef) -> Result<(), DockerError> {
        let options = TagImageOptions {
            repo: Some(target.repository.clone()),
            tag: Some(target.tag.clone()),
        };
        self.api()
            .tag_image(source, Some(options))
            .await
            .map_err(|e| self.error(format!("tag {source} as {target}"), e))
    }

    /// Builds an image from a context directory (the legacy builder: no
    /// BuildKit needed), labelled with [`CONTEXT_LABEL`]; returns its id.
    pub async fn build(
        &self,
        spec: &BuildSpec,
        output: &dyn OutputSink,
    ) -> Result<String, DockerError> {
        let archive = ContextArchive::pack(&spec.context, &spec.dockerfile)?;
        self.build_packed(spec, archive, output).await
    }

    /// [`Engine::build`] of a context already packed (one a host tarred).
    pub(crate) async fn build_packed(
        &self,
        spec: &BuildSpec,
        archive: ContextArchive,
        output: &dyn OutputSink,
    ) -> Result<String, DockerError> {
        let target = ImageRef::parse(&spec.tag)?;
        let digest = spec.digest_of(&archive);
        let mut labels = spec.labels.clone();
        labels.insert(CONTEXT_LABEL.to_owned(), digest);
        let options = BuildImageOptions {
            dockerfile: spec.dockerfile.clone(),
            t: Some(target.to_string()),
            rm: true,
            forcerm: true,
            buildargs: Some(spec.args.clone()),
            labels: Some(labels),
            ..Default::default()
        };
        let body = bollard::body_full(archive.bytes.into());
        let mut progress = self.api().build_image(options, None, Some(body));
        let mut id = None;
        while let Some(item) = progress.next().await {
            let info = item.map_err(|e| match e {
                bollard::errors::Error::DockerStreamError { error } => DockerError::Build {
                    host: self.host().to_owned(),
                    tag: target.to_string(),
                    message: error,
                },
                e => self.error(format!("build {target}"), e),
            })?;
            if let Some(detail) = info.error_detail {
                return Err(DockerError::Build {
                    host: self.host().to_owned(),
                    tag: target.to_string(),
                    message: detail
                        .message
                        .unwrap_or_else(|| "the builder gave no reason".to_owned())
                        .trim()
                        .to_owned(),
                });
            }
            if let Some(stream) = info.stream {
                emit(output, &stream);
            }
            if let Some(aux) = info.aux.and_then(|a| a.id) {
                id = Some(aux);
            }
        }
        match id {
            Some(id) => Ok(id),
            None => self
                .image_id(&target.to_string())
                .await?
                .ok_or_else(|| DockerError::Build {
                    host: self.host().to_owned(),
                    tag: target.to_string(),
                    message: "the build ended without an image".to_owned(),
                }),
        }
    }

    /// Tags of `repository` on the engine, newest first, with their ids.
    pub async fn images_of(&self, repository: &str) -> Result<Vec<(String, String)>, DockerError> {
        let mut filters = HashMap::new();
        filters.insert("reference".to_owned(), vec![repository.to_owned()]);
        let options = ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        };
        let mut images = self
            .api()
            .list_images(Some(options))
            .await
            .map_err(|e| self.error(format!("list images of {repository}"), e))?;
        images.sort_by_key(|image| std::cmp::Reverse(image.created));
        Ok(images
            .into_iter()
            .flat_map(|image| {
                let id = image.id.clone();
                image
                    .repo_tags
                    .into_iter()
                    .filter(|t| t.starts_with(&format!("{repository}:")))
                    .map(move |t| (t, id.clone()))
            })
            .collect())
    }

    /// Removes an image by name or id (not forced: an image a container uses stays).
    pub async fn remove_image(&self, image: &str) -> Result<(), DockerError> {
        self.api()
            .remove_image(image, None::<RemoveImageOptions>, None)
            .await
            .map(|_| ())
            .map_err(|e| self.error(format!("remove image {image}"), e))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
