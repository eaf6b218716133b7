//! # deploy-core
//!
//! Deployments as data. A [`Step`] is a typed unit of intent that can
//! describe itself, tell whether it is already done, apply itself through a
//! [`Target`] and, where that makes sense, undo itself. A [`Plan`] binds steps
//! to hosts with order, dependencies, rollout and failure policies, and is
//! built without touching any network. [`render`] prints a plan as stable
//! text and JSON (what `deploy plan` shows and what insta snapshots pin); the
//! [`Executor`] runs it, streaming [`Event`](event::Event)s.
//!
//! This crate knows no transport and no command line: `deploy-ssh` and
//! `deploy-docker` add targets and step kinds, `deploy-cli` is the binary.
//!
//! ```
//! use deploy_core::{Plan, PlannedStep, render, steps::{Exec, Symlink}};
//!
//! let plan = Plan::builder("production", "release")
//!     .host("web1", ["web"])
//!     .host("web2", ["web"])
//!     .step(PlannedStep::new(Symlink::new("/srv/app/current", "/srv/app/releases/${release}")))
//!     .step(PlannedStep::new(Exec::argv(["./manage.py", "migrate"])).roles(["web"]).once().barrier())
//!     .build()?;
//! println!("{}", render::text(&plan));
//! # Ok::<(), deploy_core::PlanError>(())
//! ```

// The five core ideas.
pub mod executor;
pub mod plan;
pub mod render;
pub mod step;
pub mod target;

// What they are made of and what builds them.
pub mod command;
pub mod config;
pub mod event;
pub mod registry;
pub mod report;
pub mod secret;
pub mod steps;
pub mod text;

// Helpers the step kinds and transports share.
pub mod audit;
pub mod cause;
pub mod dotenv;
pub mod duration;
pub mod git;
pub mod lock;
pub mod mode;
pub mod release;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tree;

mod local;
mod location;
mod suggest;

pub use command::Command;
pub use config::{Config, ConfigError};
pub use executor::{Executor, Targets};
pub use local::LocalTarget;
pub use location::Location;
pub use plan::{FailurePolicy, Host, Plan, PlanError, PlannedStep, Rollout, Selector};
pub use registry::StepRegistry;
pub use report::RunReport;
pub use secret::Secret;
pub use step::{Applied, Description, Kind, Step, StepContext, StepError, Undo};
pub use target::Target;
pub use text::{RunValues, Text};
