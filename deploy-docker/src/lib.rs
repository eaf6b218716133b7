//! # deploy-docker
//!
//! Docker Engine steps for deploy, on bollard, reaching an engine locally or
//! through any [`Target`](deploy_core::Target) that can open a stream to its
//! socket. It arrives with issue #4; until then this crate only holds its
//! place in the workspace the design card fixes.
