//! The russh client handler: checks the server's host key against
//! `known_hosts` under the configured policy, and remembers why it refused.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::HashAlg;

use crate::known_hosts::{self, HostKeyStatus, KnownHosts};
use crate::options::HostKeyPolicy;

/// Serializes appends to known_hosts files within this process.
static APPEND_LOCK: Mutex<()> = Mutex::new(());

#[derive(Clone)]
pub(crate) struct Checker {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) known_hosts: PathBuf,
    pub(crate) policy: HostKeyPolicy,
    /// Why the key was refused, for the error message.
    pub(crate) refusal: Arc<Mutex<Option<String>>>,
}

impl Checker {
    fn refuse(&self, why: String) -> bool {
        if let Ok(mut refusal) = self.refusal.lock() {
            *refusal = Some(why);
        }
        false
    }
}

impl russh::client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(_) => {
                return Ok(self.refuse(
                    "the host offered a certificate; host certificates are not supported yet"
                        .into(),
                ));
            }
        };
        if self.policy == HostKeyPolicy::Off {
            return Ok(true);
        }
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let known = match KnownHosts::load(&self.known_hosts) {
            Ok(known) => known,
            Err(e) => {
                return Ok(self.refuse(format!("cannot read {}: {e}", self.known_hosts.display())));
            }
        };
        let name = known_hosts::lookup_name(&self.host, self.port);
        Ok(match known.check(&self.host, self.port, key) {
            HostKeyStatus::Known => true,
            HostKeyStatus::Revoked { line } => self.refuse(format!(
                "host key {fingerprint} of {name} is revoked ({line})"
            )),
            HostKeyStatus::Changed { line } => self.refuse(format!(
                "HOST KEY CHANGED for {name}: it now offers {fingerprint}, which {} does not list \
                 (someone may be intercepting the connection; if the host was reinstalled, \
                 remove the old entry at {line})",
                self.known_hosts.display()
            )),
            HostKeyStatus::Unknown if self.policy == HostKeyPolicy::AcceptNew => {
                let _guard = APPEND_LOCK.lock();
                match known_hosts::append(&self.known_hosts, &self.host, self.port, key) {
                    Ok(()) => true,
                    Err(e) => self.refuse(format!(
                        "cannot add {name} to {}: {e}",
                        self.known_hosts.display()
                    )),
                }
            }
            HostKeyStatus::Unknown => self.refuse(format!(
                "{name} is not in {} (its key is {fingerprint}); add it after checking the \
                 fingerprint, or use host_keys = \"accept-new\"",
                self.known_hosts.display()
            )),
        })
    }
}
