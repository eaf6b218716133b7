//! The [`Step`] trait: one typed unit of intent.
//!
//! A step knows what it will do before anything runs ([`Step::describe`]),
//! whether it is already done ([`Step::is_satisfied`]), how to do it through a
//! [`Target`](crate::Target) ([`Step::apply`]) and, where that makes sense, how to take it
//! back ([`Step::undoable`], [`Undo`]). Steps never do I/O except through the
//! [`StepContext`] they are handed.

use std::fmt;

use async_trait::async_trait;

mod approver;
mod context;
mod description;
mod error;
mod undo;

pub use approver::{Approver, Unattended};
pub use context::{CommandOutput, StepContext};
pub use description::Description;
pub use error::StepError;
pub use undo::{Applied, Undo};

/// The name a step kind is registered and reported under (`exec`,
/// `set-env`, `docker.pull`): written once, on the type.
/// [`StepRegistry::register_serde`](crate::StepRegistry::register_serde)
/// registers the type under it and [`Step::kind`] reports it, so the two
/// cannot disagree.
///
/// # Examples
///
/// ```
/// use deploy_core::step::Kind;
/// use deploy_core::steps::{Exec, SetEnvVar};
///
/// assert_eq!(Exec::KIND, "exec");
/// assert_eq!(SetEnvVar::KIND, "set-env");
/// ```
pub trait Kind {
    /// The kind's name.
    const KIND: &'static str;

    /// The keys a `deploy.toml` entry of this kind accepts, when they are
    /// not simply those of the struct its `Deserialize` reads (a kind
    /// that flattens several structs, or refuses some of a shared
    /// struct's keys). `None`, the default, lets
    /// [`StepRegistry::register_serde`](crate::StepRegistry::register_serde)
    /// take them from serde ([`struct_fields`](crate::registry::struct_fields)).
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::step::Kind;
    /// use deploy_core::steps::Exec;
    ///
    /// assert_eq!(Exec::fields(), None);
    ///
    /// struct Notify;
    /// impl Kind for Notify {
    ///     const KIND: &'static str = "notify";
    ///     fn fields() -> Option<Vec<&'static str>> { Some(vec!["channel", "text"]) }
    /// }
    /// assert_eq!(Notify::fields(), Some(vec!["channel", "text"]));
    /// ```
    fn fields() -> Option<Vec<&'static str>>
    where
        Self: Sized,
    {
        None
    }
}

/// [`Kind::KIND`] for a step behind `dyn Step`; implemented for every
/// [`Kind`], never by hand.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use deploy_core::{Step, steps::Symlink};
///
/// let step: Arc<dyn Step> = Arc::new(Symlink::new("current", "releases/2"));
/// assert_eq!(step.kind(), "symlink");
/// ```
pub trait KindName {
    /// The kind's name.
    fn kind(&self) -> &'static str;
}

impl<T: Kind> KindName for T {
    fn kind(&self) -> &'static str {
        T::KIND
    }
}

/// One typed unit of intent. Its name comes from its [`Kind`].
///
/// # Examples
///
/// A step that appends a line to a log file on the target:
///
/// ```
/// use async_trait::async_trait;
/// use deploy_core::{Applied, Description, Step, StepContext, StepError, Text, step::Kind};
///
/// #[derive(Debug)]
/// struct Note { file: Text, line: Text }
///
/// impl Kind for Note { const KIND: &'static str = "note"; }
///
/// #[async_trait]
/// impl Step for Note {
///     fn describe(&self) -> Description {
///         Description::new(format!("append a line to {}", self.file)).field("line", &self.line)
///     }
///     async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
///         let file = ctx.resolve(&self.file)?;
///         let mut text = ctx.target.read_file(&file).await?.unwrap_or_default();
///         text.extend_from_slice(ctx.resolve(&self.line)?.as_bytes());
///         text.push(b'\n');
///         ctx.target.write_file(&file, &text, None).await?;
///         Ok(Applied::done())
///     }
/// }
/// ```
#[async_trait]
pub trait Step: KindName + Send + Sync + fmt::Debug {
    /// What the step will do, deterministically, without I/O. Run-time values
    /// appear as `{name}` placeholders and secrets as `[REDACTED]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::WriteFile};
    ///
    /// let step = WriteFile::new("/srv/app/db.ini", "password = ${secret.db}");
    /// let d = step.describe();
    /// assert_eq!(d.summary, "write /srv/app/db.ini");
    /// assert_eq!(d.fields, [("content".to_string(), "password = [REDACTED]".to_string())]);
    /// ```
    fn describe(&self) -> Description;

    /// Whether the target is already in the state this step would produce;
    /// the executor then skips it. The default: never.
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
    /// let step = SetEnvVar::new("/srv/app/.env", "VERSION", "1.4.2");
    /// assert!(!step.is_satisfied(&ctx).await.unwrap());
    /// web1.put_file("/srv/app/.env", "VERSION=1.4.2\n");
    /// assert!(step.is_satisfied(&ctx).await.unwrap());
    /// # });
    /// ```
    async fn is_satisfied(&self, ctx: &StepContext<'_>) -> Result<bool, StepError> {
        let _ = ctx;
        Ok(false)
    }

    /// Does the work.
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
    /// web1.put_file("/srv/app/.env", "DEBUG=0\nVERSION=1.4.1\n");
    /// SetEnvVar::new("/srv/app/.env", "VERSION", "1.4.2").apply(&ctx).await.unwrap();
    /// assert_eq!(web1.file("/srv/app/.env").unwrap(), b"DEBUG=0\nVERSION=1.4.2\n");
    /// # });
    /// ```
    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError>;

    /// How this step is taken back, or `None` when it cannot be: the one
    /// answer both the rendered plan and the executor's rollback read.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::{Exec, Symlink}};
    ///
    /// let link = Symlink::new("/srv/app/current", "/srv/app/releases/2");
    /// assert_eq!(link.undoable().unwrap().summary(), "point /srv/app/current back where it pointed before");
    /// assert!(Exec::argv(["./notify-slack"]).undoable().is_none());
    /// ```
    fn undoable(&self) -> Option<&dyn Undo> {
        None
    }

    /// True for a step that only ends when it is stopped (a followed log):
    /// an interrupt stops it at once instead of granting it the grace
    /// period running steps get to finish. The default: false.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Exec};
    ///
    /// assert!(!Exec::argv(["make"]).runs_until_interrupted());
    /// ```
    fn runs_until_interrupted(&self) -> bool {
        false
    }

    /// The fields of this step that put a secret (`${secret.NAME}`) on a
    /// command line, where anyone on the host can read it (`ps`): a plan
    /// with such a step is refused when it is built. A kind that runs
    /// commands names its argv fields here; the default: none.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, steps::Exec};
    ///
    /// assert_eq!(Exec::argv(["psql", "-W", "${secret.db}"]).secrets_in_argv(), ["cmd"]);
    /// assert!(Exec::argv(["psql"]).env("PGPASSWORD", "${secret.db}").secrets_in_argv().is_empty());
    /// ```
    fn secrets_in_argv(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// This step for a plan that puts back (or ships on) what a release
    /// ran: a kind that starts containers pins their image to the digest
    /// the release recorded, one that builds or pushes a pinned image is
    /// left out. The default: unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Step, release::{Pinned, Pinning}, steps::Exec};
    ///
    /// let pinning = Pinning::rollback("production", "20261203T120000.000Z", vec![]);
    /// assert!(matches!(Exec::argv(["./manage.py", "migrate"]).pin_images(&pinning.pins()), Pinned::Unchanged));
    /// ```
    fn pin_images(&self, pins: &crate::release::Pins<'_>) -> crate::release::Pinned {
        let _ = pins;
        crate::release::Pinned::Unchanged
    }
}
