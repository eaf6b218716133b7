//! Approval gates: [`Approver`] asks a person; [`Unattended`] answers for
//! runs with nobody to ask.

use async_trait::async_trait;

/// Asks a person whether a gated step may go ahead.
///
/// # Examples
///
/// ```
/// use async_trait::async_trait;
/// use deploy_core::step::Approver;
///
/// struct OnlyStaging;
///
/// #[async_trait]
/// impl Approver for OnlyStaging {
///     async fn approve(&self, prompt: &str) -> Result<(), String> {
///         if prompt.contains("staging") { Ok(()) } else { Err("staging only".into()) }
///     }
/// }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// assert!(OnlyStaging.approve("Run task `deploy` on staging?").await.is_ok());
/// assert!(OnlyStaging.approve("Run task `deploy` on production?").await.is_err());
/// # });
/// ```
#[async_trait]
pub trait Approver: Send + Sync {
    /// Returns `Ok(())` to go ahead, or the reason it may not.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::step::{Approver, Unattended};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let refusal = Unattended::default().approve("Ship 1.4.2?").await.unwrap_err();
    /// assert!(refusal.starts_with("Ship 1.4.2? needs approval and this run is unattended"));
    /// # });
    /// ```
    async fn approve(&self, prompt: &str) -> Result<(), String>;
}

/// An [`Approver`] for unattended runs: refuses, unless the run was approved
/// in advance (`deploy run --yes`).
///
/// # Examples
///
/// ```
/// use deploy_core::step::{Approver, Unattended};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// assert!(Unattended { pre_approved: true }.approve("ship?").await.is_ok());
/// assert!(Unattended { pre_approved: false }.approve("ship?").await.is_err());
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Unattended {
    /// Approved in advance.
    pub pre_approved: bool,
}

#[async_trait]
impl Approver for Unattended {
    async fn approve(&self, prompt: &str) -> Result<(), String> {
        if self.pre_approved {
            Ok(())
        } else {
            Err(format!(
                "{prompt} needs approval and this run is unattended (pass --yes to approve in advance)"
            ))
        }
    }
}
