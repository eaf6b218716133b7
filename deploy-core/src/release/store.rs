//! [`ReleaseStore`]: release records on one host, one JSON file each in
//! `<state_dir>/releases/` (`<id>.<host>.json`), written under a temporary name and renamed (a
//! killed run leaves the old set or the new one, never half a record).

use std::sync::Arc;

use super::ReleaseRecord;
use crate::target::{Target, TargetError};

/// How many records a host keeps (the oldest go first).
const KEPT: usize = 100;

/// The release records in state directory `dir` on `target`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use deploy_core::{LocalTarget, Plan};
/// use deploy_core::release::{HostOutcome, ReleaseRecord, ReleaseStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = ReleaseStore::new(Arc::new(LocalTarget::new("web1")), dir.path().display().to_string());
/// let plan = Plan::builder("staging", "deploy").host("web1", ["web"]).build().unwrap();
/// for id in ["20261203T120000.000Z", "20261203T130000.000Z"] {
///     store.record(&ReleaseRecord::new("run", &plan, id, "web1", HostOutcome::Succeeded)).await.unwrap();
/// }
/// assert_eq!(store.host(), "web1");
/// let records = store.list().await.unwrap();
/// assert_eq!(records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["20261203T120000.000Z", "20261203T130000.000Z"]);
/// # });
/// ```
pub struct ReleaseStore {
    target: Arc<dyn Target>,
    dir: String,
}

impl ReleaseStore {
    /// The records in `dir` (`~/` is the host's `$HOME`) on `target`.
    ///
    /// # Examples
    ///
    /// See [`ReleaseStore`].
    pub fn new(target: Arc<dyn Target>, dir: impl Into<String>) -> ReleaseStore {
        ReleaseStore {
            target,
            dir: dir.into(),
        }
    }

    /// The host's name.
    ///
    /// # Examples
    ///
    /// See [`ReleaseStore`].
    pub fn host(&self) -> &str {
        self.target.name()
    }

    /// Writes `record` (atomically), and drops the oldest beyond the
    /// newest hundred.
    ///
    /// # Examples
    ///
    /// See [`ReleaseStore`].
    pub async fn record(&self, record: &ReleaseRecord) -> Result<(), TargetError> {
        let json = serde_json::to_string(record).unwrap_or_default();
        let d = crate::lock::dir_word(&self.dir);
        // The host in the name too: hosts sharing a home directory (NFS)
        // keep their own records.
        let id = crate::command::quote(&format!(
            "{}.{}.json",
            file_name(&record.id),
            file_name(&record.host)
        ));
        let script = format!(
            "set -e; mkdir -p {d}/releases; cd {d}/releases; tmp=.{id}.tmp-$$; \
             trap 'rm -f \"$tmp\"' EXIT; cat > \"$tmp\"; mv -f \"$tmp\" {id}; trap - EXIT; \
             ls -1 | grep '\\.json$' | sort | head -n -{KEPT} | while read -r old; do rm -f \"$old\"; done"
        );
        self.script(&script, json.as_bytes()).await.map(|_| ())
    }

    /// Every record on the host, oldest first (files that are not records
    /// are left out).
    ///
    /// # Examples
    ///
    /// See [`ReleaseStore`].
    pub async fn list(&self) -> Result<Vec<ReleaseRecord>, TargetError> {
        let d = crate::lock::dir_word(&self.dir);
        let script = format!(
            "if [ -d {d}/releases ]; then cd {d}/releases; \
             for f in $(ls -1 | grep '\\.json$' | sort); do cat \"$f\"; echo; done; fi"
        );
        let lines = self.script(&script, b"").await?;
        Ok(lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    async fn script(&self, script: &str, stdin: &[u8]) -> Result<Vec<String>, TargetError> {
        let what = format!("release records in {}/releases", self.dir);
        crate::lock::state_lines(self.target.as_ref(), &what, script, stdin).await
    }
}

/// A release id or host name as part of a file name (anything that is not
/// a letter, digit, `.`, `-` or `_` becomes `_`).
fn file_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}
