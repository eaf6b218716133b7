//! # deploy-ssh
//!
//! The SSH transport for deploy: [`SshTarget`], a
//! [`Target`](deploy_core::Target) over russh. One connection per host with
//! many channels, within a budget of open connections and handshakes in
//! flight; host keys checked against `known_hosts` (strict by
//! default); commands run in their own process group so a timeout ends them
//! on the remote side too; files written atomically; directories synced as a
//! tar stream of what changed. No `ssh`, `scp`, `rsync` or `sftp` binary is
//! needed on the deploying side.

mod budget;
mod handler;
pub mod known_hosts;
mod options;
pub mod ssh_config;
mod sync;
mod target;
#[cfg(feature = "testing")]
pub mod testing;

pub use budget::{ConnectionBudget, DEFAULT_CONNECTIONS};
pub use options::{DEFAULT_HANDSHAKES, HostKeyPolicy, SshOptions, key_is_encrypted};
pub use target::SshTarget;
