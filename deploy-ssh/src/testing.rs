//! A private OpenSSH `sshd` for tests (feature `testing`): its own host key,
//! user key, authorized_keys and config in a temporary directory, on a free
//! port; on drop the listener and every connection's process get SIGTERM
//! and are waited for. It never reads or writes the user's `~/.ssh`. Keys
//! are made in Rust: no `ssh-keygen` is needed.

use deploy_core::testing::free_port;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{HostKeyPolicy, SshOptions};
use deploy_core::testing::server::{Server, Stop, children, log_file};
use russh::keys::PrivateKey;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;

const SSHD: &str = "/usr/sbin/sshd";

/// A fresh ed25519 key from the kernel's random source.
pub fn new_key() -> PrivateKey {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .expect("random seed");
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

/// Writes a private key in OpenSSH format with mode 0600.
pub fn write_key(path: &Path, key: &PrivateKey) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(
        path,
        key.to_openssh(LineEnding::LF).expect("encode").as_bytes(),
    )
    .expect("write key");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
}

/// The user the tests run as (and log in as).
pub fn user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".to_owned())
}

/// A running sshd.
pub struct Sshd {
    // Declared first: stopped before its directory goes.
    server: Server,
    /// Its directory (config, keys, logs); tests may put files here.
    pub dir: tempfile::TempDir,
    /// Its port on 0.0.0.0 (every 127.0.0.x reaches it).
    pub port: u16,
    /// Its host key.
    pub host_key: PrivateKey,
    /// The private key authorized to log in.
    pub user_key_path: PathBuf,
}

impl Sshd {
    /// Starts one, or says loudly why it cannot (and fails under CI=true).
    pub fn start() -> Option<Sshd> {
        Sshd::start_with("")
    }

    /// Starts one whose config begins with `overrides` (sshd takes the first
    /// value of a keyword, so these win), e.g. `"PasswordAuthentication yes\n"`.
    pub fn start_with(overrides: &str) -> Option<Sshd> {
        if !Path::new(SSHD).exists() {
            let message =
                "deploy-ssh: no /usr/sbin/sshd: run scripts/install-peers (the test command does)";
            assert!(std::env::var("CI").is_err(), "{message}");
            eprintln!("SKIPPED, {message}");
            return None;
        }
        std::fs::create_dir_all("/run/sshd").ok();
        let dir = tempfile::tempdir().expect("tempdir");
        let host_key = new_key();
        write_key(&dir.path().join("host_ed25519"), &host_key);
        let user_key = new_key();
        let user_key_path = dir.path().join("id_ed25519");
        write_key(&user_key_path, &user_key);
        std::fs::write(
            dir.path().join("authorized_keys"),
            user_key.public_key().to_openssh().expect("encode"),
        )
        .expect("authorized_keys");
        {
            // Other test users (the sudo tests) read authorized_keys here.
            use std::os::unix::fs::PermissionsExt;
            let readable = |path: &Path, mode| {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .expect("chmod")
            };
            readable(dir.path(), 0o755);
            readable(&dir.path().join("authorized_keys"), 0o644);
        }
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "{overrides}Port {port}\nListenAddress 0.0.0.0\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
                     AuthorizedKeysFile {d}/authorized_keys\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\nStrictModes no\n\
                     LogLevel ERROR\nMaxStartups 1000:30:2000\nMaxSessions 200\nSetEnv SHLVL=1\n\
                     AllowStreamLocalForwarding yes\nAllowTcpForwarding yes\n",
                    d = dir.path().display()
                ),
            )
            .expect("sshd_config");
            let mut server = Server::spawn(
                "sshd",
                Command::new(SSHD)
                    .arg("-f")
                    .arg(&config)
                    .args(["-D", "-e"])
                    .stdout(Stdio::null())
                    .stderr(log_file(&dir.path().join("sshd.log"))),
                Stop::TermAll,
            )
            .expect("sshd starts");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if !server.running() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Sshd {
                        server,
                        dir,
                        port,
                        host_key,
                        user_key_path,
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            server.stop();
        }
        panic!("sshd did not start");
    }

    /// Kills every connection's sshd process (the listener stays): the
    /// network dropping under running commands.
    pub fn drop_connections(&self) {
        for pid in children(self.server.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }

    /// A known_hosts file that lists this sshd's key for 127.0.0.1.
    pub fn known_hosts(&self) -> PathBuf {
        let path = self.dir.path().join("known_hosts");
        if !path.exists() {
            std::fs::write(
                &path,
                format!(
                    "[127.0.0.1]:{} {}\n",
                    self.port,
                    self.host_key.public_key().to_openssh().expect("encode")
                ),
            )
            .expect("known_hosts");
        }
        path
    }

    /// Options that connect as the current user with the test key, strict.
    pub fn options(&self) -> SshOptions {
        SshOptions::new(user())
            .agent(None)
            .port(self.port)
            .identity_file(&self.user_key_path)
            .known_hosts(self.known_hosts())
            .host_keys(HostKeyPolicy::Strict)
            .connect_timeout(Duration::from_secs(10))
    }
}
