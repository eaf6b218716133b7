//! Pinning a plan to what a release ran: every image a step would start
//! pinned to the digest the release recorded (a rollback, a promotion), the
//! steps that would make those images again left out, and a rollback's
//! release directories used as they were shipped, never copied again.

use std::sync::Arc;

use super::{ImageRecord, Revision, repository};
use crate::step::Step;

/// Where a rollback's or a promotion's plan takes what it ships from.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, PlannedStep, steps::Exec};
/// use deploy_core::release::{ImageRecord, Pinning};
///
/// let plan = Plan::builder("production", "deploy").host("web1", ["web"])
///     .step(PlannedStep::new(Exec::argv(["true"])))
///     .build().unwrap();
/// let pinning = Pinning::rollback("production", "20261203T120000.000Z", vec![
///     ImageRecord::new("web", "shop/web:live", "sha256:1111"),
/// ]);
/// let plan = plan.pinned(pinning);
/// assert_eq!(plan.pinning().unwrap().release, "20261203T120000.000Z");
/// assert!(deploy_core::render::text(&plan).contains("pinned: web shop/web:live → sha256:1111"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pinning {
    /// `rollback` or `promote`.
    pub command: String,
    /// The environment the release is of.
    pub environment: String,
    /// The release put back (rollback) or shipped on (promote).
    pub release: String,
    /// Its images.
    pub images: Vec<ImageRecord>,
    /// Its code revision.
    #[serde(default)]
    pub revision: Option<Revision>,
    /// The steps left out (`deploy.1 docker.build: shop/web is pinned`).
    #[serde(default)]
    pub left_out: Vec<String>,
}

impl Pinning {
    /// Putting back `release` of `environment`, which ran `images`.
    ///
    /// # Examples
    ///
    /// See [`Pinning`].
    pub fn rollback(environment: &str, release: &str, images: Vec<ImageRecord>) -> Pinning {
        Pinning {
            command: "rollback".to_owned(),
            environment: environment.to_owned(),
            release: release.to_owned(),
            images,
            revision: None,
            left_out: Vec::new(),
        }
    }

    /// Shipping on what `release` of `environment` runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let p = deploy_core::release::Pinning::promote("staging", "r1", vec![]);
    /// assert_eq!(p.command, "promote");
    /// ```
    pub fn promote(environment: &str, release: &str, images: Vec<ImageRecord>) -> Pinning {
        Pinning {
            command: "promote".to_owned(),
            ..Pinning::rollback(environment, release, images)
        }
    }

    /// What steps are given to pin themselves.
    ///
    /// # Examples
    ///
    /// See [`Pins`].
    pub fn pins(&self) -> Pins<'_> {
        Pins {
            images: &self.images,
            rollback: self.command == "rollback",
        }
    }
}

/// What a step pins its images to ([`Step::pin_images`]).
///
/// # Examples
///
/// ```
/// use deploy_core::release::{ImageRecord, Pinning};
///
/// let pinning = Pinning::rollback("production", "r1", vec![
///     ImageRecord::new("web", "shop/web:live", "sha256:1111"),
///     ImageRecord::new("worker", "shop/worker:live", "sha256:2222").repo_digest("shop/worker@sha256:3333"),
/// ]);
/// let pins = pinning.pins();
/// assert_eq!(pins.image("shop/web:{release}", "web").as_deref(), Some("sha256:1111"));
/// assert_eq!(pins.image("shop/worker:live", "worker-2").as_deref(), Some("shop/worker@sha256:3333"));
/// assert_eq!(pins.image("redis:7", "redis"), None);
/// assert!(pins.covers("shop/web:{release}") && pins.rollback);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Pins<'a> {
    /// The release's images.
    pub images: &'a [ImageRecord],
    /// True for a rollback: the release's own `${release}` directories are
    /// on the hosts already and are used as they are.
    pub rollback: bool,
}

impl Pins<'_> {
    /// The pinned reference for `image` (as the step would start it) in
    /// container `container`: the record of that container from that
    /// repository, else the only digest recorded for the repository.
    ///
    /// # Examples
    ///
    /// See [`Pins`].
    pub fn image(&self, image: &str, container: &str) -> Option<String> {
        let repo = repository(image)?;
        let of_repo: Vec<&ImageRecord> = self
            .images
            .iter()
            .filter(|i| i.repository() == repo)
            .collect();
        if let Some(exact) = of_repo.iter().find(|i| i.container == container) {
            return Some(exact.pinned().to_owned());
        }
        let first = of_repo.first()?;
        of_repo
            .iter()
            .all(|i| i.pinned() == first.pinned())
            .then(|| first.pinned().to_owned())
    }

    /// True when the release recorded an image of `image`'s repository (a
    /// step that builds or pushes it is left out).
    ///
    /// # Examples
    ///
    /// See [`Pins`].
    pub fn covers(&self, image: &str) -> bool {
        repository(image).is_some_and(|repo| self.images.iter().any(|i| i.repository() == repo))
    }
}

/// What a step becomes in a pinned plan.
///
/// # Examples
///
/// ```
/// use deploy_core::{Step, release::{Pinned, Pinning}, steps::Exec};
///
/// let pinning = Pinning::rollback("production", "r1", vec![]);
/// assert!(matches!(Exec::argv(["true"]).pin_images(&pinning.pins()), Pinned::Unchanged));
/// ```
pub enum Pinned {
    /// The step as it is.
    Unchanged,
    /// This step instead (its images pinned).
    Replaced(Arc<dyn Step>),
    /// Not run: why (`shop/web is pinned`).
    LeftOut(String),
}
