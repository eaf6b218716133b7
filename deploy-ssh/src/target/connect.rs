//! Opening the one connection a host's commands share: the budget's place
//! and handshake slot, the handshake, host-key check and authentication
//! (keys, agent, password), through jump hosts, retried when sshd drops it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use deploy_core::target::{Cause, TargetError};
use russh::client::{self, Handle};
use russh::keys::PrivateKeyWithHashAlg;
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;

use crate::budget::Open;
use crate::handler::Checker;

use super::SshTarget;

/// A random pause of up to `most` ms, so that hosts reset together do not
/// retry together (std's hasher keys are random per instance).
fn jitter_ms(most: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    hasher.finish() % most.max(1)
}

/// True when the server closed the connection before the SSH handshake
/// finished and no host key was refused: sshd's MaxStartups drop.
fn reset_before_handshake(e: &russh::Error, refusal: &Mutex<Option<String>>) -> bool {
    let refused = refusal.lock().map(|r| r.is_some()).unwrap_or(true);
    let reset = match e {
        russh::Error::IO(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
        ),
        russh::Error::Disconnect | russh::Error::HUP => true,
        _ => false,
    };
    reset && !refused
}
impl SshTarget {
    /// The shared connection, opened (or reopened) when needed.
    pub(super) async fn handle(&self) -> Result<Arc<Handle<Checker>>, TargetError> {
        let mut slot = self.connection.lock().await;
        if let Some(open) = slot.as_ref().filter(|o| !o.handle.is_closed()) {
            return Ok(Arc::clone(&open.handle));
        }
        // A closed connection gives its place back before we ask for one.
        *slot = None;
        // The jump host first, outside our handshake slot: targets behind one
        // jump host must not hold every slot while waiting for it. Its
        // connection is held for as long as ours is open.
        let via = match &self.via {
            Some(jump) => Some(Box::pin(jump.handle()).await?),
            None => None,
        };
        // A place among the open connections, then a handshake slot; the
        // connect timeout starts once both are ours.
        let place = self.options.connections.reserve(&self.connection).await;
        let _handshaking =
            self.options
                .handshakes
                .acquire()
                .await
                .map_err(|e| TargetError::Connect {
                    endpoint: self.who(),
                    source: e.into(),
                })?;
        let handle = Arc::new(
            tokio::time::timeout(
                self.options.connect_timeout,
                self.connect_and_authenticate(via.as_ref()),
            )
            .await
            .map_err(|_| TargetError::Connect {
                endpoint: self.who(),
                source: format!(
                    "no SSH session within the connect timeout ({}s)",
                    self.options.connect_timeout.as_secs_f32()
                )
                .into(),
            })??,
        );
        *slot = Some(Open::new(Arc::clone(&handle), place, via));
        Ok(handle)
    }

    async fn connect_and_authenticate(
        &self,
        via: Option<&Arc<Handle<Checker>>>,
    ) -> Result<Handle<Checker>, TargetError> {
        let options = &self.options;
        let refusal = Arc::new(Mutex::new(None));
        let checker = Checker {
            host: self.address.clone(),
            port: options.port,
            known_hosts: options.known_hosts.clone(),
            policy: options.host_keys,
            refusal: Arc::clone(&refusal),
        };
        let mut config = client::Config {
            nodelay: true,
            keepalive_interval: options.keepalive,
            ..client::Config::default()
        };
        if let Ok(known) = crate::known_hosts::KnownHosts::load(&options.known_hosts) {
            let mut preferred: Vec<_> = known.algorithms_for(&self.address, options.port);
            for algorithm in config.preferred.key.iter() {
                if !preferred.contains(algorithm) {
                    preferred.push(algorithm.clone());
                }
            }
            config.preferred.key = preferred.into();
        }
        let failed = |source: Cause| TargetError::Connect {
            endpoint: self.who(),
            source,
        };
        let refused = |e: russh::Error| {
            let refused = refusal.lock().ok().and_then(|r| r.clone());
            match refused {
                Some(refusal) => failed(refusal.into()),
                None => failed(e.into()),
            }
        };
        let config = Arc::new(config);
        let mut handle = match via {
            None => {
                // sshd resets connections past its MaxStartups before the
                // banner: nothing ran, so try again after a short pause.
                let mut attempt = 0u32;
                loop {
                    let checker = Checker {
                        refusal: Arc::clone(&refusal),
                        ..checker.clone()
                    };
                    match client::connect(
                        Arc::clone(&config),
                        (self.address.as_str(), options.port),
                        checker,
                    )
                    .await
                    {
                        Ok(handle) => break handle,
                        Err(e) if attempt < 4 && reset_before_handshake(&e, &refusal) => {
                            attempt += 1;
                            let jitter = jitter_ms(40);
                            tokio::time::sleep(std::time::Duration::from_millis(
                                (50 << attempt) + jitter,
                            ))
                            .await;
                        }
                        Err(e) => return Err(refused(e)),
                    }
                }
            }
            Some(jump_handle) => {
                let jump = self
                    .via
                    .as_ref()
                    .map_or("the jump host", |j| j.name.as_str());
                let tunnel = jump_handle
                    .channel_open_direct_tcpip(
                        self.address.clone(),
                        u32::from(options.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| failed(format!("through {jump}: {e}").into()))?;
                client::connect_stream(config, tunnel.into_stream(), checker)
                    .await
                    .map_err(refused)?
            }
        };
        let mut tried = Vec::new();
        if let Some(socket) = &options.agent
            && self
                .authenticate_with_agent(&mut handle, socket, &mut tried)
                .await?
        {
            return Ok(handle);
        }
        for path in &options.identity_files {
            let key = match russh::keys::load_secret_key(
                path,
                options.passphrase.as_ref().map(|p| p.expose()),
            ) {
                Ok(key) => key,
                Err(e) => {
                    tried.push(format!("key {} (unreadable: {e})", path.display()));
                    continue;
                }
            };
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| failed(e.into()))?
                .flatten();
            let result = handle
                .authenticate_publickey(
                    options.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
                .map_err(|e| failed(e.into()))?;
            if result.success() {
                return Ok(handle);
            }
            tried.push(format!("key {}", path.display()));
        }
        if let Some(password) = &options.password {
            let result = handle
                .authenticate_password(options.user.clone(), password.expose())
                .await
                .map_err(|e| failed(e.into()))?;
            if result.success() {
                return Ok(handle);
            }
            tried.push("password".to_owned());
        }
        Err(failed(
            format!(
                "authentication refused for {}@{} (tried: {})",
                options.user,
                self.address,
                if tried.is_empty() {
                    "nothing: no identity file or password configured".to_owned()
                } else {
                    tried.join(", ")
                }
            )
            .into(),
        ))
    }

    /// Offers each of the agent's keys; true when one was accepted.
    async fn authenticate_with_agent(
        &self,
        handle: &mut Handle<Checker>,
        socket: &Path,
        tried: &mut Vec<String>,
    ) -> Result<bool, TargetError> {
        let mut agent = match AgentClient::connect_uds(socket).await {
            Ok(agent) => agent,
            Err(e) => {
                tried.push(format!("agent {} (unreachable: {e})", socket.display()));
                return Ok(false);
            }
        };
        let identities = agent.request_identities().await.unwrap_or_default();
        if identities.is_empty() {
            tried.push(format!("agent {} (no keys)", socket.display()));
        }
        for identity in identities {
            let AgentIdentity::PublicKey { key, comment } = identity else {
                continue;
            };
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten();
            match handle
                .authenticate_publickey_with(self.options.user.clone(), key, hash, &mut agent)
                .await
            {
                Ok(result) if result.success() => return Ok(true),
                Ok(_) => tried.push(format!("agent key {comment}")),
                Err(e) => tried.push(format!("agent key {comment} ({e:?})")),
            }
        }
        Ok(false)
    }
}
