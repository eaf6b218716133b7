//! Containers: what to run ([`ContainerSpec`]), and run, stop, remove, list,
//! inspect health, exec and logs on an [`Engine`](crate::Engine).
//!
//! Every container deploy creates carries [`MANAGED_LABEL`], its spec's
//! digest ([`SPEC_LABEL`]) and, when given, a version label, so a later run
//! can tell "already running what we want" from "needs replacing".
//!
//! A file for each part: the spec (`spec`), the create-container body it
//! makes (`body`: no engine needed, so it is tested as data), the lifecycle
//! on an engine (`lifecycle`), `inspect` and list, `exec`, `logs`, one-off
//! containers (`oneoff`), and the line splitting exec and logs share
//! (`stream`).

mod body;
mod exec;
mod inspect;
mod interactive;
mod lifecycle;
mod logs;
mod oneoff;
mod spec;
mod stream;

pub(crate) use body::nanos;
pub use exec::{ExecBytes, ExecOutcome};
pub use inspect::ContainerInfo;
pub use logs::LogRequest;
pub use oneoff::{ONEOFF_LABEL, RunOutcome};
pub use spec::{ContainerSpec, Healthcheck, PortMapping};

/// Marks containers deploy created.
pub const MANAGED_LABEL: &str = "deploy.managed";
/// The digest of the spec a container was created from.
pub const SPEC_LABEL: &str = "deploy.spec-digest";
/// The version a container runs (`ContainerSpec::version`).
pub const VERSION_LABEL: &str = "deploy.version";
