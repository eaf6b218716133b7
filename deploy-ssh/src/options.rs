//! How an [`SshTarget`](crate::SshTarget) connects: user, port, keys,
//! host-key policy, timeouts.

use std::path::PathBuf;
use std::time::Duration;

use deploy_core::Secret;

/// What to do with a host key that `known_hosts` does not vouch for: the
/// type `deploy.toml`'s `[ssh] host_keys` is read into when the file loads.
///
/// # Examples
///
/// ```
/// use deploy_ssh::HostKeyPolicy;
/// assert_eq!(HostKeyPolicy::parse("accept-new"), Ok(HostKeyPolicy::AcceptNew));
/// assert!(HostKeyPolicy::parse("yes").is_err());
/// ```
pub use deploy_core::config::HostKeyPolicy;

/// Connection settings for SSH targets.
///
/// # Examples
///
/// ```
/// use deploy_ssh::{HostKeyPolicy, SshOptions};
///
/// let options = SshOptions::new("deploy")
///     .port(2222)
///     .identity_file("/home/me/.ssh/id_ed25519")
///     .host_keys(HostKeyPolicy::AcceptNew);
/// assert_eq!(options.port, 2222);
/// ```
#[derive(Clone, Debug)]
pub struct SshOptions {
    /// Remote user.
    pub user: String,
    /// Port.
    pub port: u16,
    /// The ssh-agent socket whose keys are offered first (from
    /// `SSH_AUTH_SOCK` by default).
    pub agent: Option<PathBuf>,
    /// Private keys to offer, in order, after the agent's.
    pub identity_files: Vec<PathBuf>,
    /// Passphrase for encrypted keys.
    pub passphrase: Option<Secret>,
    /// Password, tried after the keys.
    pub password: Option<Secret>,
    /// Password for `sudo`, fed on stdin (never argv); without one, sudo
    /// runs non-interactively (`sudo -n`).
    pub sudo_password: Option<Secret>,
    /// The `known_hosts` file.
    pub known_hosts: PathBuf,
    /// Host-key policy.
    pub host_keys: HostKeyPolicy,
    /// How long connecting and authenticating may take.
    pub connect_timeout: Duration,
    /// Keepalive probes this often (ssh_config's `ServerAliveInterval`).
    pub keepalive: Option<Duration>,
    /// Bounds handshakes in flight across every target sharing these
    /// options: sshd drops bursts past its `MaxStartups` (10 by default).
    pub handshakes: std::sync::Arc<tokio::sync::Semaphore>,
    /// Bounds open connections across every target sharing these options
    /// (idle ones are closed to make room).
    pub connections: std::sync::Arc<crate::ConnectionBudget>,
    /// True while `identity_files` holds the defaults, not keys given.
    default_keys: bool,
}

/// Handshakes in flight at once by default: under OpenSSH's default
/// `MaxStartups 10:30:100`, where refusals start.
pub const DEFAULT_HANDSHAKES: usize = 8;

impl SshOptions {
    /// Defaults for `user`: port 22, `~/.ssh/id_ed25519`, `id_ecdsa` and
    /// `id_rsa` when they exist, `~/.ssh/known_hosts`, strict host keys, a
    /// 10 s connect timeout.
    pub fn new(user: impl Into<String>) -> Self {
        let ssh_dir = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(".ssh");
        SshOptions {
            user: user.into(),
            agent: std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
            port: 22,
            identity_files: ["id_ed25519", "id_ecdsa", "id_rsa"]
                .iter()
                .map(|name| ssh_dir.join(name))
                .filter(|path| path.exists())
                .collect(),
            passphrase: None,
            password: None,
            sudo_password: None,
            known_hosts: ssh_dir.join("known_hosts"),
            host_keys: HostKeyPolicy::Strict,
            connect_timeout: Duration::from_secs(10),
            keepalive: None,
            handshakes: std::sync::Arc::new(tokio::sync::Semaphore::new(DEFAULT_HANDSHAKES)),
            connections: std::sync::Arc::new(crate::ConnectionBudget::new(
                crate::budget::DEFAULT_CONNECTIONS,
            )),
            default_keys: true,
        }
    }

    /// Sets the port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Offers this key: the first call replaces the default keys, later
    /// calls add to it.
    pub fn identity_file(mut self, path: impl Into<PathBuf>) -> Self {
        if self.default_keys {
            self.identity_files.clear();
            self.default_keys = false;
        }
        self.identity_files.push(path.into());
        self
    }

    /// Offers the keys of the agent at this socket (`None`: no agent).
    pub fn agent(mut self, socket: Option<PathBuf>) -> Self {
        self.agent = socket;
        self
    }

    /// Uses this `known_hosts` file.
    pub fn known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts = path.into();
        self
    }

    /// Sets the host-key policy.
    pub fn host_keys(mut self, policy: HostKeyPolicy) -> Self {
        self.host_keys = policy;
        self
    }

    /// Keeps at most `n` connections open at once (shared by every clone of
    /// these options): past it, idle connections are closed to make room.
    ///
    /// # Examples
    ///
    /// ```
    /// let options = deploy_ssh::SshOptions::new("deploy").max_connections(900);
    /// assert_eq!(options.connections.limit(), 900);
    /// ```
    pub fn max_connections(mut self, n: usize) -> Self {
        self.connections = std::sync::Arc::new(crate::ConnectionBudget::new(n));
        self
    }

    /// Allows `n` handshakes in flight at once (shared by every clone of
    /// these options).
    pub fn max_handshakes(mut self, n: usize) -> Self {
        self.handshakes = std::sync::Arc::new(tokio::sync::Semaphore::new(n.max(1)));
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets a password to try after the keys.
    pub fn password(mut self, password: Secret) -> Self {
        self.password = Some(password);
        self
    }

    /// Sets the password `sudo` is given on stdin.
    pub fn sudo_password(mut self, password: Secret) -> Self {
        self.sudo_password = Some(password);
        self
    }

    /// Sets the passphrase of encrypted keys.
    pub fn passphrase(mut self, passphrase: Secret) -> Self {
        self.passphrase = Some(passphrase);
        self
    }
}

/// True when the private key at `path` is encrypted (it needs a passphrase).
///
/// # Examples
///
/// ```
/// assert!(!deploy_ssh::key_is_encrypted(std::path::Path::new("/no/such/key")));
/// ```
pub fn key_is_encrypted(path: &std::path::Path) -> bool {
    matches!(
        russh::keys::load_secret_key(path, None),
        Err(russh::keys::Error::KeyIsEncrypted)
    )
}
