//! Releases: what each `deploy run` that changed something left on each
//! host it touched, so that a team can see what runs, go back to what ran
//! before ([`Pins`]: every image pinned to the digest a release recorded),
//! and ship to production exactly what staging runs.
//!
//! A [`ReleaseRecord`] is one JSON file per release in the environment's
//! state directory on the host (`releases/<id>.json`, written under a
//! temporary name and renamed); [`History`] reads them back from every host
//! and answers which release is live and which one a rollback puts back.

mod history;
mod pins;
mod store;

use std::collections::BTreeMap;
use std::sync::Mutex;

pub use history::{History, HistoryError, Release};
pub use pins::{Pinned, Pinning, Pins};
pub use store::ReleaseStore;

/// The image a step started a container (or a swarm service) from, as the
/// host's engine reported it when the step ended.
///
/// # Examples
///
/// ```
/// use deploy_core::release::ImageRecord;
///
/// let web = ImageRecord::new("web", "registry:5000/shop/web:1.4", "sha256:1111")
///     .repo_digest("registry:5000/shop/web@sha256:2222");
/// assert_eq!(web.repository(), "registry:5000/shop/web");
/// assert_eq!(web.pinned(), "registry:5000/shop/web@sha256:2222");
/// let local = ImageRecord::new("web", "shop/web:dev", "sha256:1111");
/// assert_eq!(local.pinned(), "sha256:1111");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRecord {
    /// The container's (or service's) name.
    pub container: String,
    /// The reference the step asked for (`repo:tag`).
    pub image: String,
    /// The image id the container runs (`sha256:…`).
    pub id: String,
    /// Its registry digest (`repo@sha256:…`), when it came from or went to
    /// a registry: what another host can pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_digest: Option<String>,
}

impl ImageRecord {
    /// Container `container` runs image `id`, asked for as `image`.
    ///
    /// # Examples
    ///
    /// See [`ImageRecord`].
    pub fn new(container: &str, image: &str, id: &str) -> ImageRecord {
        ImageRecord {
            container: container.to_owned(),
            image: image.to_owned(),
            id: id.to_owned(),
            repo_digest: None,
        }
    }

    /// Adds the registry digest.
    ///
    /// # Examples
    ///
    /// See [`ImageRecord`].
    #[must_use]
    pub fn repo_digest(mut self, digest: impl Into<String>) -> ImageRecord {
        self.repo_digest = Some(digest.into());
        self
    }

    /// The repository of [`ImageRecord::image`] (no tag, no digest).
    ///
    /// # Examples
    ///
    /// See [`ImageRecord`].
    pub fn repository(&self) -> &str {
        repository(&self.image).unwrap_or(&self.image)
    }

    /// The reference that runs exactly this image: the registry digest, else
    /// the image id (on the host that has it).
    ///
    /// # Examples
    ///
    /// See [`ImageRecord`].
    pub fn pinned(&self) -> &str {
        self.repo_digest.as_deref().unwrap_or(&self.id)
    }
}

/// The repository of an image reference (`registry:5000/shop/web:1.4@sha256:…`
/// → `registry:5000/shop/web`); `None` when it is an image id or its
/// repository is filled in at run time (`{…}`).
///
/// # Examples
///
/// ```
/// use deploy_core::release::repository;
///
/// assert_eq!(repository("localhost:5000/shop/web:{release}"), Some("localhost:5000/shop/web"));
/// assert_eq!(repository("redis"), Some("redis"));
/// assert_eq!(repository("{registry}/web:1"), None);
/// assert_eq!(repository("sha256:1111"), None);
/// ```
pub fn repository(reference: &str) -> Option<&str> {
    if reference.starts_with("sha256:") {
        return None;
    }
    let name = reference.split('@').next().unwrap_or(reference);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    let name = match name[slash..].find(':') {
        Some(colon) => &name[..slash + colon],
        None => name,
    };
    (!name.is_empty() && !name.contains(['{', '$'])).then_some(name)
}

/// Where steps say what they left on a host for its release record: the
/// images they started, the links they pointed, the backups they wrote,
/// the services they manage (the executor keeps one per host).
///
/// # Examples
///
/// ```
/// use std::sync::Mutex;
/// use deploy_core::release::{HostNotes, ImageRecord, RunLog};
///
/// let log: Mutex<HostNotes> = Mutex::default();
/// log.started(ImageRecord::new("web", "shop/web:1", "sha256:1111"));
/// log.started(ImageRecord::new("web", "shop/web:2", "sha256:2222"));
/// log.linked("/srv/app/current", "/srv/app/releases/r2");
/// log.backed_up("app-20261203T120000.000Z.dump");
/// let notes = log.lock().unwrap();
/// assert_eq!(notes.images.len(), 1, "a later image of a container replaces the earlier");
/// assert_eq!((notes.links.len(), notes.backups.len()), (1, 1));
/// ().started(ImageRecord::new("web", "shop/web:1", "sha256:1111")); // forgets it
/// ```
pub trait RunLog: Send + Sync {
    /// `image` runs now (a later one for the same container replaces it).
    fn started(&self, image: ImageRecord);

    /// `link` points at `target` now (a release directory's `current`), for
    /// `deploy status`. The default: forgotten.
    fn linked(&self, link: &str, target: &str) {
        let _ = (link, target);
    }

    /// A step wrote backup `file` (its name in the backup directory, as
    /// `postgres.backup` does): the release record names it. The default:
    /// forgotten.
    fn backed_up(&self, file: &str) {
        let _ = file;
    }

    /// A step manages `service` (started, stopped, restarted, reloaded it),
    /// for `deploy status`. The default: forgotten.
    fn manages(&self, service: ServiceRecord) {
        let _ = service;
    }
}

impl RunLog for () {
    fn started(&self, _: ImageRecord) {}
}

/// A link a release left pointing somewhere (`current` → its directory).
///
/// # Examples
///
/// ```
/// let link = deploy_core::release::LinkRecord { link: "/srv/app/current".into(), target: "/srv/app/releases/r1".into() };
/// assert_eq!(serde_json::to_value(&link).unwrap()["target"], "/srv/app/releases/r1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkRecord {
    /// The link.
    pub link: String,
    /// Where it points.
    pub target: String,
}

/// A service a release's steps manage under supervisor or systemd.
///
/// # Examples
///
/// ```
/// let app = deploy_core::release::ServiceRecord { name: "randopony".into(), manager: "supervisor".into(), conf: None, sudo: false };
/// assert_eq!(serde_json::to_value(&app).unwrap()["manager"], "supervisor");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceRecord {
    /// The service's (program's, unit's) name.
    pub name: String,
    /// `supervisor` or `systemd`.
    pub manager: String,
    /// supervisorctl's configuration, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<String>,
    /// Its manager is run through sudo.
    #[serde(default)]
    pub sudo: bool,
}

/// What a run's steps left on one host (see [`RunLog`]).
///
/// # Examples
///
/// See [`RunLog`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostNotes {
    /// The images its containers run (one per container).
    pub images: Vec<ImageRecord>,
    /// The links it pointed (one per link).
    pub links: Vec<LinkRecord>,
    /// The backups it wrote.
    pub backups: Vec<String>,
    /// The services it manages (one per name).
    pub services: Vec<ServiceRecord>,
}

impl RunLog for Mutex<HostNotes> {
    fn started(&self, image: ImageRecord) {
        if let Ok(mut notes) = self.lock() {
            notes.images.retain(|i| i.container != image.container);
            notes.images.push(image);
        }
    }

    fn linked(&self, link: &str, target: &str) {
        if let Ok(mut notes) = self.lock() {
            notes.links.retain(|l| l.link != link);
            notes.links.push(LinkRecord {
                link: link.to_owned(),
                target: target.to_owned(),
            });
        }
    }

    fn backed_up(&self, file: &str) {
        if let Ok(mut notes) = self.lock() {
            notes.backups.push(file.to_owned());
        }
    }

    fn manages(&self, service: ServiceRecord) {
        if let Ok(mut notes) = self.lock() {
            notes.services.retain(|s| s.name != service.name);
            notes.services.push(service);
        }
    }
}

/// The code a release was made from: the git commit of the config's
/// repository, and whether the checkout had changes not committed.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// assert!(deploy_core::release::Revision::of(dir.path()).is_none()); // not a repository
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Revision {
    /// The commit id.
    pub commit: String,
    /// True when the checkout had uncommitted changes.
    pub dirty: bool,
}

impl Revision {
    /// The revision of the repository `dir` is in, if it is in one.
    ///
    /// # Examples
    ///
    /// See [`Revision`].
    pub fn of(dir: &std::path::Path) -> Option<Revision> {
        let commit = crate::git::commit(dir).ok()?;
        Some(Revision {
            commit,
            dirty: crate::git::dirty(dir).unwrap_or(true),
        })
    }

    /// `abc1234` or `abc1234 (dirty)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let rev = deploy_core::release::Revision { commit: "abc1234def".into(), dirty: true };
    /// assert_eq!(rev.short(), "abc1234 (dirty)");
    /// ```
    pub fn short(&self) -> String {
        let commit: String = self.commit.chars().take(7).collect();
        if self.dirty {
            format!("{commit} (dirty)")
        } else {
            commit
        }
    }
}

/// How a release ended on one host.
///
/// # Examples
///
/// ```
/// use deploy_core::release::HostOutcome;
///
/// assert_eq!(serde_json::to_string(&HostOutcome::RolledBack).unwrap(), "\"rolled-back\"");
/// assert!(HostOutcome::Succeeded.live());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostOutcome {
    /// Every step on the host finished (or was already done).
    Succeeded,
    /// A step on the host failed.
    Failed,
    /// The run failed and what it did here was undone.
    RolledBack,
    /// The run stopped before the host's steps all ran (another host
    /// failed, the run was interrupted or an approval refused).
    Incomplete,
}

impl HostOutcome {
    /// True when the release is what the host runs after it.
    ///
    /// # Examples
    ///
    /// See [`HostOutcome`].
    pub fn live(self) -> bool {
        self == HostOutcome::Succeeded
    }
}

/// What one run left on one host: the release record.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, release::{HostOutcome, ReleaseRecord}};
///
/// let plan = Plan::builder("production", "deploy").host("web1", ["web"]).param("version", "1.4").build().unwrap();
/// let record = ReleaseRecord::new("run", &plan, "20261203T120000.000Z", "web1", HostOutcome::Succeeded);
/// assert_eq!((record.host.as_str(), record.params["version"].as_str()), ("web1", "1.4"));
/// let line = serde_json::to_string(&record).unwrap();
/// assert_eq!(serde_json::from_str::<ReleaseRecord>(&line).unwrap(), record);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReleaseRecord {
    /// The release id (the run's `${release}`: a UTC time, so ids sort).
    pub id: String,
    /// `run`, `rollback` or `promote`.
    pub command: String,
    /// The environment.
    pub environment: String,
    /// The task.
    pub task: String,
    /// The run's parameters (a secret one as `[REDACTED]`).
    pub params: BTreeMap<String, String>,
    /// The host this record is on.
    pub host: String,
    /// How the release ended on this host.
    pub outcome: HostOutcome,
    /// The first error on this host, when a step failed (masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The images the release's steps started here.
    #[serde(default)]
    pub images: Vec<ImageRecord>,
    /// The links its steps pointed (`current`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkRecord>,
    /// The backups its steps wrote here (file names in their backup
    /// directory, as `postgres.backup` names them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backups: Vec<String>,
    /// The services its steps manage here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceRecord>,
    /// The code it was made from.
    #[serde(default)]
    pub revision: Option<Revision>,
    /// `user@machine`.
    pub who: String,
    /// When it was recorded (UTC, as ids are written).
    pub time: String,
    /// The CI job's URL, when it ran in CI.
    #[serde(default)]
    pub ci_job: Option<String>,
    /// SHA-256 of the rendered plan.
    pub plan_digest: String,
    /// For a rollback or a promotion: where what it shipped came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Pinning>,
}

impl ReleaseRecord {
    /// The record of `plan` run by `command` as release `id` on `host`.
    ///
    /// # Examples
    ///
    /// See [`ReleaseRecord`].
    pub fn new(
        command: &str,
        plan: &Plan,
        id: &str,
        host: &str,
        outcome: HostOutcome,
    ) -> ReleaseRecord {
        ReleaseRecord {
            id: id.to_owned(),
            command: command.to_owned(),
            environment: plan.environment().to_owned(),
            task: plan.task().to_owned(),
            params: plan.params().clone(),
            host: host.to_owned(),
            outcome,
            error: None,
            images: Vec::new(),
            links: Vec::new(),
            backups: Vec::new(),
            services: Vec::new(),
            revision: None,
            who: crate::lock::who(),
            time: crate::RunValues::release_now(),
            ci_job: crate::lock::ci_job_url(),
            plan_digest: crate::audit::plan_digest(plan),
            source: plan.pinning().cloned(),
        }
    }
}

use crate::plan::Plan;
