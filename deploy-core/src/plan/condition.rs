//! [`Condition`]: a probe on the host that decides whether steps run
//! (`when = { succeeds = ["test", "-d", "/srv/app/prod"] }`). The executor
//! asks each probe command once per host, when the first step it guards is
//! reached: a branch's first step cannot change whether its later steps run,
//! and `succeeds`/`fails` of one command pick exactly one branch.

use crate::text::Text;

/// A probe command and the outcome that lets the guarded steps run.
///
/// # Examples
///
/// ```
/// use deploy_core::plan::Condition;
///
/// let first_release = Condition::fails(["test", "-d", "/srv/app/prod/current"]);
/// assert_eq!(first_release.describe(), "$ test -d /srv/app/prod/current fails");
/// assert!(!first_release.runs_when(true));
/// assert!(first_release.runs_when(false));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Condition {
    /// The probe, as argv.
    pub argv: Vec<Text>,
    /// Whether the guarded steps run when the probe succeeds (or when it
    /// fails).
    pub on_success: bool,
}

impl Condition {
    /// The guarded steps run when `argv` succeeds on the host.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::plan::Condition;
    ///
    /// assert!(Condition::succeeds(["true"]).runs_when(true));
    /// ```
    pub fn succeeds<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Text>,
    {
        Condition {
            argv: argv.into_iter().map(Into::into).collect(),
            on_success: true,
        }
    }

    /// The guarded steps run when `argv` fails on the host.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::plan::Condition;
    ///
    /// assert!(Condition::fails(["false"]).runs_when(false));
    /// ```
    pub fn fails<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Text>,
    {
        Condition {
            on_success: false,
            ..Condition::succeeds(argv)
        }
    }

    /// Whether the guarded steps run, given whether the probe succeeded.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::plan::Condition;
    ///
    /// assert!(!Condition::succeeds(["test", "-e", "/x"]).runs_when(false));
    /// ```
    pub fn runs_when(&self, probe_succeeded: bool) -> bool {
        probe_succeeded == self.on_success
    }

    /// How the plan shows it.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::plan::Condition;
    ///
    /// assert_eq!(Condition::succeeds(["test", "-d", "/srv"]).describe(), "$ test -d /srv succeeds");
    /// ```
    pub fn describe(&self) -> String {
        let argv: Vec<String> = self
            .argv
            .iter()
            .map(|t| crate::command::quote(&t.to_string()))
            .collect();
        format!(
            "$ {} {}",
            argv.join(" "),
            if self.on_success { "succeeds" } else { "fails" }
        )
    }
}
