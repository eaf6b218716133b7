//! # deploy-ssh
//!
//! The SSH transport for deploy: a [`Target`](deploy_core::Target) over
//! russh, one connection per host with many channels, host keys checked
//! against `known_hosts` by default.

pub mod known_hosts;
