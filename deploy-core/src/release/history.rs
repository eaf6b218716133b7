//! [`History`]: an environment's releases as its hosts recorded them,
//! newest first: which one is live, which one a rollback puts back, which
//! one an id names.

use std::collections::{BTreeMap, BTreeSet};

use super::{HostOutcome, ImageRecord, ReleaseRecord};

/// One release: its record on each host it touched.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, release::{History, HostOutcome, ImageRecord, ReleaseRecord}};
///
/// let plan = Plan::builder("production", "deploy").host("web1", ["web"]).host("web2", ["web"]).build().unwrap();
/// let mut web1 = ReleaseRecord::new("run", &plan, "r1", "web1", HostOutcome::Succeeded);
/// web1.images.push(ImageRecord::new("web", "shop/web:1", "sha256:1111"));
/// let mut web2 = ReleaseRecord::new("run", &plan, "r1", "web2", HostOutcome::Failed);
/// web2.error = Some("`migrate` failed".into());
/// let history = History::new("production", [web1, web2]);
/// let release = &history.releases()[0];
/// assert_eq!(release.record().host, "web1");
/// assert!(!release.succeeded());
/// assert_eq!(release.images().len(), 1);
/// assert_eq!(release.outcome(), "failed on web2 (`migrate` failed); succeeded on web1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// The release id.
    pub id: String,
    /// One record per host, in host-name order.
    pub records: Vec<ReleaseRecord>,
}

impl Release {
    /// The first host's record (task, parameters, who and when are the
    /// same on every host).
    ///
    /// # Examples
    ///
    /// See [`Release`].
    pub fn record(&self) -> &ReleaseRecord {
        &self.records[0]
    }

    /// True when it succeeded on every host it touched.
    ///
    /// # Examples
    ///
    /// See [`Release`].
    pub fn succeeded(&self) -> bool {
        self.records.iter().all(|r| r.outcome.live())
    }

    /// Every image it started, on any host (one per container and image).
    ///
    /// # Examples
    ///
    /// See [`Release`].
    pub fn images(&self) -> Vec<ImageRecord> {
        let mut images: Vec<ImageRecord> = Vec::new();
        for image in self.records.iter().flat_map(|r| &r.images) {
            if !images
                .iter()
                .any(|i| i.container == image.container && i.pinned() == image.pinned())
            {
                images.push(image.clone());
            }
        }
        images
    }

    /// `succeeded`, or per outcome the hosts: `failed on web2 (…); succeeded on web1`.
    ///
    /// # Examples
    ///
    /// See [`Release`].
    pub fn outcome(&self) -> String {
        if self.succeeded() {
            return "succeeded".to_owned();
        }
        let mut by: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for r in &self.records {
            let word = match r.outcome {
                HostOutcome::Succeeded => "succeeded",
                HostOutcome::Failed => "failed",
                HostOutcome::RolledBack => "rolled back",
                HostOutcome::Incomplete => "incomplete",
            };
            let host = match &r.error {
                Some(e) => format!("{} ({e})", r.host),
                None => r.host.clone(),
            };
            by.entry(word).or_default().push(host);
        }
        by.iter()
            .map(|(word, hosts)| format!("{word} on {}", hosts.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// What it runs, for telling two releases apart: task, parameters,
    /// images, revision. A release that started no image (files in a
    /// release directory) or was made from a dirty checkout is only itself.
    fn content(&self) -> (String, String, BTreeSet<String>, Option<String>) {
        let r = self.record();
        let dirty = r.revision.as_ref().is_some_and(|v| v.dirty);
        if self.images().is_empty() || dirty {
            return (self.id.clone(), String::new(), BTreeSet::new(), None);
        }
        (
            r.task.clone(),
            serde_json::to_string(&r.params).unwrap_or_default(),
            self.images()
                .iter()
                .map(|i| format!("{}={}", i.container, i.pinned()))
                .collect(),
            r.revision.as_ref().map(|v| v.commit.clone()),
        )
    }
}

/// Why a release could not be chosen.
///
/// # Examples
///
/// ```
/// use deploy_core::release::{History, HistoryError};
///
/// let history = History::new("production", []);
/// let err = history.find("20261203").unwrap_err();
/// assert!(matches!(err, HistoryError::NotFound { .. }));
/// assert_eq!(err.to_string(), "no release `20261203` in production (there are none yet)");
/// assert!(matches!(history.rollback_target(), Err(HistoryError::NoLive { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// No release has this id (or prefix).
    #[error("no release `{id}` in {environment} ({})", known_text(.known))]
    NotFound {
        /// The environment.
        environment: String,
        /// What was asked for.
        id: String,
        /// The ids there are, newest first.
        known: Vec<String>,
    },
    /// A prefix names more than one release.
    #[error("`{id}` names more than one release of {environment}: {}", .matches.join(", "))]
    Ambiguous {
        /// The environment.
        environment: String,
        /// What was asked for.
        id: String,
        /// The releases it names.
        matches: Vec<String>,
    },
    /// Nothing succeeded yet.
    #[error("{environment} has no live release (no run of it has succeeded yet{})", known_hint(.known))]
    NoLive {
        /// The environment.
        environment: String,
        /// The releases there are.
        known: Vec<String>,
    },
    /// Nothing before the live release differs from it.
    #[error(
        "nothing to roll back to in {environment}: no successful release before the live one ({live}) runs anything else"
    )]
    NothingToRollBackTo {
        /// The environment.
        environment: String,
        /// The live release.
        live: String,
    },
}

fn known_text(known: &[String]) -> String {
    match known {
        [] => "there are none yet".to_owned(),
        ids => format!("releases: {}", ids.join(", ")),
    }
}

fn known_hint(known: &[String]) -> String {
    match known {
        [] => String::new(),
        ids => format!("; releases: {}", ids.join(", ")),
    }
}

/// An environment's releases, newest first.
///
/// # Examples
///
/// ```
/// use deploy_core::{Plan, release::{History, HostOutcome, ReleaseRecord}};
///
/// let plan = |v: &str| Plan::builder("production", "deploy").host("web1", ["web"]).param("version", v).build().unwrap();
/// let record = |id: &str, v: &str, outcome| ReleaseRecord::new("run", &plan(v), id, "web1", outcome);
/// let history = History::new("production", [
///     record("20261203T100000.000Z", "1.0", HostOutcome::Succeeded),
///     record("20261203T110000.000Z", "1.1", HostOutcome::Succeeded),
///     record("20261203T120000.000Z", "1.2", HostOutcome::Failed),
/// ]);
/// assert_eq!(history.releases()[0].id, "20261203T120000.000Z");
/// assert_eq!(history.live().unwrap().id, "20261203T110000.000Z");
/// assert_eq!(history.rollback_target().unwrap().id, "20261203T100000.000Z");
/// assert_eq!(history.find("20261203T10").unwrap().id, "20261203T100000.000Z");
/// assert!(history.find("2025").is_err());
/// let live = history.require_live().unwrap();
/// assert_eq!(history.live_on(live), ["web1"]);
/// assert_eq!(history.hosts().len(), 1);
/// assert_eq!(history.rollback_candidates().unwrap().len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct History {
    environment: String,
    releases: Vec<Release>,
}

impl History {
    /// The history of `environment` from its hosts' records.
    ///
    /// # Examples
    ///
    /// See [`History`].
    pub fn new(environment: &str, records: impl IntoIterator<Item = ReleaseRecord>) -> History {
        let mut by_id: BTreeMap<String, Vec<ReleaseRecord>> = BTreeMap::new();
        for record in records {
            if record.environment == environment {
                by_id.entry(record.id.clone()).or_default().push(record);
            }
        }
        let releases = by_id
            .into_iter()
            .rev()
            .map(|(id, mut records)| {
                records.sort_by(|a, b| a.host.cmp(&b.host));
                records.dedup_by(|a, b| a.host == b.host);
                Release { id, records }
            })
            .collect();
        History {
            environment: environment.to_owned(),
            releases,
        }
    }

    /// Newest first.
    ///
    /// # Examples
    ///
    /// See [`History`].
    pub fn releases(&self) -> &[Release] {
        &self.releases
    }

    fn ids(&self) -> Vec<String> {
        self.releases.iter().map(|r| r.id.clone()).collect()
    }

    /// The newest release that succeeded on every host it touched.
    ///
    /// # Examples
    ///
    /// See [`History`].
    pub fn live(&self) -> Option<&Release> {
        self.releases.iter().find(|r| r.succeeded())
    }

    /// The live release, or an error saying there is none.
    ///
    /// # Examples
    ///
    /// See [`History`].
    pub fn require_live(&self) -> Result<&Release, HistoryError> {
        self.live().ok_or_else(|| HistoryError::NoLive {
            environment: self.environment.clone(),
            known: self.ids(),
        })
    }

    /// The hosts on which `release` is what runs now: the newest release
    /// that succeeded there.
    ///
    /// # Examples
    ///
    /// See [`History`].
    pub fn live_on(&self, release: &Release) -> Vec<String> {
        let mut hosts = Vec::new();
        let mut seen = BTreeSet::new();
        for r in &self.releases {
            for record in &r.records {
                if record.outcome.live() && seen.insert(record.host.clone()) && r.id == release.id {
                    hosts.push(record.host.clone());
                }
            }
        }
        hosts
    }

    /// Every host any release touched.
    ///
    /// # Examples
    ///
    /// See [`History`].
    pub fn hosts(&self) -> BTreeSet<String> {
        self.releases
            .iter()
            .flat_map(|r| r.records.iter().map(|x| x.host.clone()))
            .collect()
    }

    /// The release `id` names (an id, or a prefix of only one).
    ///
    /// # Examples
    ///
    /// See [`History`].
    pub fn find(&self, id: &str) -> Result<&Release, HistoryError> {
        if let Some(exact) = self.releases.iter().find(|r| r.id == id) {
            return Ok(exact);
        }
        let matches: Vec<&Release> = self
            .releases
            .iter()
            .filter(|r| r.id.starts_with(id))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(HistoryError::NotFound {
                environment: self.environment.clone(),
                id: id.to_owned(),
                known: self.ids(),
            }),
            many => Err(HistoryError::Ambiguous {
                environment: self.environment.clone(),
                id: id.to_owned(),
                matches: many.iter().map(|r| r.id.clone()).collect(),
            }),
        }
    }

    /// The releases a rollback may put back, newest first: those that
    /// succeeded before the live one (before the release the live one put
    /// back, when it is a rollback) and run something else than it.
    ///
    /// # Examples
    ///
    /// See [`History`].
    pub fn rollback_candidates(&self) -> Result<Vec<&Release>, HistoryError> {
        let live = self.require_live()?;
        let from = live
            .record()
            .source
            .as_ref()
            .filter(|s| s.command == "rollback")
            .map_or(live.id.as_str(), |s| s.release.as_str());
        let content = live.content();
        let mut seen = BTreeSet::new();
        Ok(self
            .releases
            .iter()
            .filter(|r| r.id.as_str() < from && r.succeeded() && r.content() != content)
            .filter(|r| seen.insert(r.content()))
            .collect())
    }

    /// The release `deploy rollback` puts back by default: the newest
    /// [`History::rollback_candidates`].
    ///
    /// # Examples
    ///
    /// See [`History`].
    pub fn rollback_target(&self) -> Result<&Release, HistoryError> {
        let candidates = self.rollback_candidates()?;
        candidates
            .first()
            .copied()
            .ok_or_else(|| HistoryError::NothingToRollBackTo {
                environment: self.environment.clone(),
                live: self.live().map(|r| r.id.clone()).unwrap_or_default(),
            })
    }
}
