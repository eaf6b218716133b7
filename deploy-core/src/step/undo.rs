//! Taking a step back: [`Undo`], and [`Applied`], the memo a step's apply
//! leaves for it.

use std::any::Any;
use std::fmt;

use async_trait::async_trait;

use super::{StepContext, StepError};

/// What [`Step::apply`](super::Step::apply) leaves behind for [`Undo::revert`]: the step's own memo
/// of the state it replaced (the previous link target, the old file).
///
/// # Examples
///
/// ```
/// use deploy_core::Applied;
///
/// let applied = Applied::with_memo(String::from("releases/1"));
/// assert_eq!(applied.memo::<String>().map(String::as_str), Some("releases/1"));
/// assert!(Applied::done().memo::<String>().is_none());
/// ```
#[derive(Default)]
pub struct Applied {
    memo: Option<Box<dyn Any + Send + Sync>>,
}

impl Applied {
    /// Applied, nothing to remember.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Applied;
    ///
    /// assert!(Applied::done().memo::<()>().is_none());
    /// assert_eq!(format!("{:?}", Applied::done()), "Applied");
    /// ```
    pub fn done() -> Self {
        Applied::default()
    }

    /// Applied, remembering `memo` for undo.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Applied;
    ///
    /// let applied = Applied::with_memo(Some(b"old contents".to_vec()));
    /// assert!(applied.memo::<Option<Vec<u8>>>().is_some());
    /// assert_eq!(format!("{applied:?}"), "Applied(memo)");
    /// ```
    pub fn with_memo<T: Any + Send + Sync>(memo: T) -> Self {
        Applied {
            memo: Some(Box::new(memo)),
        }
    }

    /// The memo, if it is a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::Applied;
    ///
    /// let applied = Applied::with_memo(7u32);
    /// assert_eq!(applied.memo::<u32>(), Some(&7));
    /// assert_eq!(applied.memo::<u64>(), None);
    /// ```
    pub fn memo<T: Any>(&self) -> Option<&T> {
        self.memo.as_ref().and_then(|m| m.downcast_ref::<T>())
    }
}

impl fmt::Debug for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.memo.is_some() {
            "Applied(memo)"
        } else {
            "Applied"
        })
    }
}

/// How a step is taken back: what the plan shows, and the work. A step that
/// can be undone implements this and returns itself from [`Step::undoable`](super::Step::undoable);
/// having both methods in one trait means neither half can be left out.
///
/// # Examples
///
/// With `ctx` a [`StepContext`] on a fake host `web1`:
///
/// ```
/// # use deploy_core::testing::{FakeTarget, TestContext};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// # let test = TestContext::new(FakeTarget::new("web1"));
/// # let (ctx, web1) = (test.ctx(), test.target());
/// use deploy_core::{Step, steps::SetEnvVar};
///
/// web1.put_file("/srv/app/.env", "VERSION=1.4.1\n");
/// let step = SetEnvVar::new("/srv/app/.env", "VERSION", "1.4.2");
/// let applied = step.apply(&ctx).await.unwrap();
/// let undo = step.undoable().unwrap();
/// assert_eq!(undo.summary(), "restore the previous /srv/app/.env");
/// undo.revert(&ctx, &applied).await.unwrap();
/// assert_eq!(web1.file("/srv/app/.env").unwrap(), b"VERSION=1.4.1\n");
/// # });
/// ```
#[async_trait]
pub trait Undo: Send + Sync {
    /// How the undo reads in the rendered plan.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Symlink};
    ///
    /// let link = Symlink::new("current", "releases/2");
    /// assert_eq!(link.undoable().unwrap().summary(), "point current back where it pointed before");
    /// ```
    fn summary(&self) -> String;

    /// Takes back what [`Step::apply`](super::Step::apply) did, given what it returned.
    /// [`StepError::NotUndoable`] when this run left nothing to take back.
    ///
    /// # Examples
    ///
    /// With `ctx` a [`StepContext`] on a fake host `web1`:
    ///
    /// ```
    /// # use deploy_core::testing::{FakeTarget, TestContext};
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # let test = TestContext::new(FakeTarget::new("web1"));
    /// # let (ctx, web1) = (test.ctx(), test.target());
    /// use deploy_core::{Step, steps::WriteFile};
    ///
    /// web1.put_file("/etc/motd", "welcome");
    /// let step = WriteFile::new("/etc/motd", "hello");
    /// let applied = step.apply(&ctx).await.unwrap();
    /// step.undoable().unwrap().revert(&ctx, &applied).await.unwrap();
    /// assert_eq!(web1.file("/etc/motd").unwrap(), b"welcome");
    /// # });
    /// ```
    async fn revert(&self, ctx: &StepContext<'_>, applied: &Applied) -> Result<(), StepError>;

    /// Whether this undo waits until every other undo on its host is done:
    /// a restart that must pick up what the others put back (the previous
    /// `current`, the previous start script), as Capistrano's rollback
    /// points the link back and then restarts. Default: no, it runs in
    /// reverse order with the rest.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::{Service, ServiceAction, ServiceManager, Symlink}};
    ///
    /// let restart = Service::new("app", ServiceManager::Supervisor, ServiceAction::Restart);
    /// assert!(restart.undoable().unwrap().after_the_rest());
    /// assert!(!Symlink::new("current", "releases/2").undoable().unwrap().after_the_rest());
    /// ```
    fn after_the_rest(&self) -> bool {
        false
    }
}
