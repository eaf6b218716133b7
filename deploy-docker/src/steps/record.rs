//! The docker kinds' part in releases: say which image a container runs
//! once a step has it running (the release record), and pin an image
//! reference to what a release recorded (a rollback, a promotion).

use deploy_core::StepContext;
use deploy_core::release::{ImageRecord, Pinned, Pins};
use deploy_core::text::Text;

use crate::engine::Engine;

/// Tells the run that container `name` runs now, and which image: the
/// engine's image id and, when it has one from a registry, the digest of
/// the reference's repository. A container the engine cannot tell about
/// is left out of the record (the step itself has succeeded).
/// `asked` is the reference the step was asked for (before a pin), when
/// it knows it; else the container's own.
pub(crate) async fn note_running(
    ctx: &StepContext<'_>,
    engine: &Engine,
    name: &str,
    asked: Option<&str>,
) {
    if let Ok(Some(info)) = engine.inspect(name).await {
        let record = record(engine, name, asked.unwrap_or(&info.image), &info.image_id).await;
        ctx.log.started(record);
    }
}

/// Tells the run that `name` (a swarm service) runs `image`: its id and
/// registry digest as this host's engine knows them.
pub(crate) async fn note_image(ctx: &StepContext<'_>, engine: &Engine, name: &str, image: &str) {
    if let Ok(Some(id)) = engine.image_id(image).await {
        ctx.log.started(record(engine, name, image, &id).await);
    }
}

/// The record of `name` running image `id`, asked for as `image`, with the
/// registry digest of `image`'s repository when the engine has one.
async fn record(engine: &Engine, name: &str, image: &str, id: &str) -> ImageRecord {
    let record = ImageRecord::new(name, image, id);
    let repository = record.repository().to_owned();
    let digest = match engine.local_repo_digests(id).await {
        Ok(Some(digests)) => digests
            .into_iter()
            .find(|d| d.split('@').next() == Some(repository.as_str())),
        _ => None,
    };
    match digest {
        Some(digest) => record.repo_digest(digest),
        None => record,
    }
}

/// `image` pinned for container `container` (as the plan shows the
/// names), or `None` when the release recorded nothing of its repository.
pub(crate) fn pinned(pins: &Pins<'_>, image: &Text, container: &Text) -> Option<Text> {
    pins.image(&image.to_string(), &container.to_string())
        .map(|reference| Text::from(reference.as_str()))
}

/// A step that builds or pushes `image` is left out when the release
/// recorded its repository: what it would make is the image the release
/// ran, which is used instead.
pub(crate) fn left_out_when_pinned(pins: &Pins<'_>, image: &Text) -> Pinned {
    let image = image.to_string();
    if pins.covers(&image) {
        Pinned::LeftOut(format!("{image} is pinned to what the release ran"))
    } else {
        Pinned::Unchanged
    }
}
