//! # deploy-ssh
//!
//! The SSH transport for deploy: a [`Target`](deploy_core::Target) over
//! russh. It arrives with issue #3; until then this crate only holds its
//! place in the workspace the design card fixes, and `deploy run` reports
//! SSH environments as not yet runnable (their plans render already).
