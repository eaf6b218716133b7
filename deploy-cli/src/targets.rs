//! Making targets for an environment's hosts, by its transport: this
//! machine, or SSH with `deploy.toml`'s `[ssh]` settings over what
//! `~/.ssh/config` says for each host (as `ssh name` would resolve it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use deploy_core::config::{EnvironmentInfo, HostAddress, SshSettings, Transport, ssh_jump_hops};
use deploy_core::{LocalTarget, Secret, Target, Targets};
use deploy_ssh::ssh_config::{HostConfig, SshConfig};
use deploy_ssh::{HostKeyPolicy, SshOptions, SshTarget};

/// The environment variable an encrypted key's passphrase is read from
/// (never from the command line).
const PASSPHRASE_VAR: &str = "DEPLOY_SSH_PASSPHRASE";

/// The environment variable a sudo password is read from (fed to `sudo -S`
/// on stdin; without it, sudo runs as `sudo -n`).
const SUDO_PASSWORD_VAR: &str = "DEPLOY_SUDO_PASSWORD";

/// The targets of `env`'s hosts; under `transport = "local"` they take
/// relative paths from `config_dir` (and run commands there).
pub(crate) fn for_environment(
    env: &EnvironmentInfo,
    ssh: &SshSettings,
    config_dir: &std::path::Path,
) -> Result<Targets, String> {
    match env.transport {
        Transport::Local => Ok(env
            .hosts
            .iter()
            .map(|host| {
                let target = LocalTarget::new(&host.name).with_base_dir(config_dir);
                (host.name.clone(), Arc::new(target) as Arc<dyn Target>)
            })
            .collect()),
        Transport::Ssh => SshFleet::new(ssh)?.targets(env),
    }
}

/// Builds SSH targets sharing one handshake bound and one connection per
/// jump host.
struct SshFleet<'a> {
    settings: &'a SshSettings,
    ssh_config: SshConfig,
    local_user: String,
    base: SshOptions,
    jumps: BTreeMap<String, Arc<SshTarget>>,
    reported: BTreeSet<String>,
}

impl<'a> SshFleet<'a> {
    fn new(settings: &'a SshSettings) -> Result<Self, String> {
        let local_user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
        let config_path = settings
            .config
            .as_deref()
            .map(expand_home)
            .unwrap_or_else(|| expand_home("~/.ssh/config"));
        let mut base = SshOptions::new(local_user.clone())
            .max_connections(settings.max_connections.unwrap_or_else(connection_budget));
        if let Some(handshakes) = settings.handshakes {
            base = base.max_handshakes(handshakes);
        }
        if let Ok(passphrase) = std::env::var(PASSPHRASE_VAR) {
            base = base.passphrase(Secret::new(passphrase));
        }
        if let Ok(password) = std::env::var(SUDO_PASSWORD_VAR) {
            base = base.sudo_password(Secret::new(password));
        }
        Ok(SshFleet {
            settings,
            ssh_config: SshConfig::load(&PathBuf::from(config_path)),
            local_user,
            base,
            jumps: BTreeMap::new(),
            reported: BTreeSet::new(),
        })
    }

    fn targets(mut self, env: &EnvironmentInfo) -> Result<Targets, String> {
        let mut targets = Targets::new();
        let mut off_warned = false;
        for host in &env.hosts {
            // Checked when deploy.toml loaded; the same parse, so it holds.
            let address = HostAddress::parse(&host.name)
                .map_err(|why| format!("host {:?}: {why}", host.name))?;
            let (target, options) = self.target(&host.name, &address)?;
            if options.host_keys == HostKeyPolicy::Off && !off_warned {
                off_warned = true;
                eprintln!(
                    "warning: host keys are not checked (host_keys = \"off\" or StrictHostKeyChecking no): anyone on the path can impersonate these hosts"
                );
            }
            targets.insert(host.name.clone(), Arc::new(target) as Arc<dyn Target>);
        }
        Ok(targets)
    }

    /// Asks once on the terminal for the passphrase of the first encrypted
    /// key, when none came from the environment.
    fn ask_passphrase(&mut self, keys: &[PathBuf]) -> Result<(), String> {
        use std::io::IsTerminal;
        if self.base.passphrase.is_some() || !std::io::stdin().is_terminal() {
            return Ok(());
        }
        if let Some(key) = keys.iter().find(|k| deploy_ssh::key_is_encrypted(k)) {
            let passphrase = rpassword::prompt_password(format!(
                "Passphrase for {} ({PASSPHRASE_VAR} skips this): ",
                key.display()
            ))
            .map_err(|e| format!("cannot read the passphrase: {e}"))?;
            self.base = self.base.clone().passphrase(Secret::new(passphrase));
        }
        Ok(())
    }

    /// A target called `label` (the host as deploy.toml lists it) for
    /// `name` (as ssh would be given it), with its jump hosts.
    fn target(
        &mut self,
        label: &str,
        address: &HostAddress,
    ) -> Result<(SshTarget, SshOptions), String> {
        let name = address.name.as_str();
        let resolved = self.ssh_config.resolve(name, &self.local_user);
        for line in &resolved.unapplied {
            if self.reported.insert(line.clone()) {
                eprintln!("warning: ssh config {line}");
            }
        }
        let mut options = self.options(&resolved, address.port);
        if let Some(user) = &address.user {
            options.user = user.clone();
        }
        if options.passphrase.is_none() {
            self.ask_passphrase(&options.identity_files)?;
            options.passphrase = self.base.passphrase.clone();
        }
        let address = resolved.hostname.clone().unwrap_or_else(|| name.to_owned());
        let mut target = SshTarget::new(label, options.clone()).with_address(address);
        let jump = self
            .settings
            .proxy_jump
            .clone()
            .or_else(|| resolved.proxy_jump.clone());
        if let Some(spec) = jump {
            target = target.via(self.jump_chain(&spec)?);
        }
        Ok((target, options))
    }

    /// `user@host:port,host2` → host2 reached through host (shared per spec).
    fn jump_chain(&mut self, spec: &str) -> Result<Arc<SshTarget>, String> {
        if let Some(existing) = self.jumps.get(spec) {
            return Ok(Arc::clone(existing));
        }
        let mut previous: Option<Arc<SshTarget>> = None;
        // deploy.toml's proxy_jump was checked when it loaded; ssh_config's
        // ProxyJump is read here, with the same parse.
        for (hop, hop_address) in ssh_jump_hops(spec).map_err(|e| format!("proxy_jump: {e}"))? {
            let name = hop_address.name.as_str();
            let resolved = self.ssh_config.resolve(name, &self.local_user);
            let mut options = self.options(&resolved, hop_address.port);
            if let Some(user) = &hop_address.user {
                options.user = user.clone();
            }
            let address = resolved.hostname.clone().unwrap_or_else(|| name.to_owned());
            let mut target = SshTarget::new(format!("jump {hop}"), options).with_address(address);
            if let Some(previous) = previous.take() {
                target = target.via(previous);
            }
            previous = Some(Arc::new(target));
        }
        let last = previous.ok_or_else(|| format!("empty proxy_jump `{spec}`"))?;
        self.jumps.insert(spec.to_owned(), Arc::clone(&last));
        Ok(last)
    }

    /// deploy.toml's `[ssh]` first, then ssh_config, then defaults.
    fn options(&self, resolved: &HostConfig, port: Option<u16>) -> SshOptions {
        let s = self.settings;
        let mut options = self.base.clone();
        if let Some(user) = s.user.clone().or_else(|| resolved.user.clone()) {
            options.user = user;
        }
        if let Some(port) = port.or(s.port).or(resolved.port) {
            options = options.port(port);
        }
        let identity_files: Vec<String> = if s.identity_files.is_empty() {
            resolved
                .identity_files
                .iter()
                .map(|p| p.display().to_string())
                .collect()
        } else {
            s.identity_files.iter().map(|f| expand_home(f)).collect()
        };
        if !identity_files.is_empty() {
            let defaults = options.identity_files.clone();
            for file in &identity_files {
                options = options.identity_file(file);
            }
            if s.identity_files.is_empty() && !resolved.identities_only {
                // As ssh: the configured keys first, then the default ones.
                options.identity_files.extend(defaults);
                options.identity_files.dedup();
            }
        }
        let policy = match (s.host_keys, &resolved.strict_host_key_checking) {
            (Some(policy), _) => policy,
            (None, Some(ssh)) => match ssh.as_str() {
                "no" | "off" => HostKeyPolicy::Off,
                "accept-new" => HostKeyPolicy::AcceptNew,
                _ => HostKeyPolicy::Strict,
            },
            (None, None) => HostKeyPolicy::Strict,
        };
        options = options.host_keys(policy);
        if let Some(path) = s.known_hosts.as_deref().map(expand_home).or_else(|| {
            resolved
                .user_known_hosts_file
                .as_ref()
                .map(|p| p.display().to_string())
        }) {
            options = options.known_hosts(path);
        }
        match (s.connect_timeout, resolved.connect_timeout) {
            (Some(timeout), _) => options = options.connect_timeout(timeout),
            (None, Some(secs)) => options = options.connect_timeout(Duration::from_secs(secs)),
            (None, None) => {}
        }
        options.keepalive = resolved.server_alive_interval.map(Duration::from_secs);
        options
    }
}

fn expand_home(path: &str) -> String {
    deploy_ssh::ssh_config::expand_tilde(path)
        .display()
        .to_string()
}

/// Open connections allowed: one descriptor each, within the open-file limit
/// (main raises it to the hard limit) less room for everything else.
fn connection_budget() -> usize {
    use nix::sys::resource::{Resource, getrlimit};
    const RESERVED: u64 = 256;
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .and_then(|(soft, _)| usize::try_from(soft.saturating_sub(RESERVED)).ok())
        .map_or(deploy_ssh::DEFAULT_CONNECTIONS, |n| n.max(16))
}

/// The hosts of `env` that `-H` / `-R` select (all without them); an
/// unknown name is an error listing the names there are.
pub(crate) fn selected(
    env: &EnvironmentInfo,
    on: &crate::args::HostSelection,
) -> Result<Vec<deploy_core::Host>, String> {
    let mut builder = deploy_core::Plan::builder(&env.name, "select").ships(false);
    for host in &env.hosts {
        builder = builder.host(host.name.clone(), host.roles.clone());
    }
    builder
        .build()
        .and_then(|p| p.limited(&on.limit()))
        .map(|p| p.hosts().to_vec())
        .map_err(|e| e.to_string())
}
