//! # deploy-docker
//!
//! The Docker Engine API (on bollard) for deploy: build, pull, push and tag
//! images, run and replace containers, exec and logs, and the `docker.*`
//! step kinds that put them in a plan. An engine is reached locally or
//! through any [`Target`](deploy_core::Target) that can open a stream to its
//! socket (an SSH host, in practice): no `docker` CLI, no parsing of its
//! output, no open Docker TCP port.
//!
//! ```no_run
//! use deploy_docker::{ContainerSpec, Engine};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let engine = Engine::local()?.negotiate().await?;
//! let spec = ContainerSpec::new("web", "shop/web:v1.4").port("127.0.0.1:8080:8080")?;
//! engine.run(&spec).await?;
//! # Ok::<(), deploy_docker::DockerError>(())
//! # });
//! ```

pub mod bluegreen;
pub mod compose;
pub mod container;
mod context;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod image;
mod network;
pub mod proxy;
pub mod status;
pub mod steps;
pub mod swarm;
#[cfg(feature = "testing")]
pub mod testing;

pub use container::ContainerSpec;
pub use credentials::Credentials;
pub use engine::Engine;
pub use error::DockerError;
pub use image::{BuildSpec, ImageRef, sanitize_tag};
pub use steps::register;
