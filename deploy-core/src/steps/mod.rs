//! The built-in steps of deploy-core: commands, files, links, releases,
//! checks, services and gates. Each file holds one step; each step is a registered kind
//! (see [`crate::registry`]) and can be built in Rust as well.

mod approve;
mod exec;
mod http_check;
mod releases;
mod service;
mod set_env;
mod symlink;
mod sync;
mod upload;
mod write_file;

pub use approve::Approve;
pub use exec::Exec;
pub use http_check::{CheckFrom, HttpCheck};
pub use releases::{KeepReleases, RollbackRelease};
pub use service::{Action as ServiceAction, Manager as ServiceManager, Service, service_status};
pub use set_env::SetEnvVar;
pub use symlink::Symlink;
pub use sync::Sync;
pub use upload::Upload;
pub use write_file::WriteFile;
