//! Making targets for an environment's hosts, by its transport: this
//! machine, or SSH with the `[ssh]` settings of `deploy.toml`.

use std::sync::Arc;
use std::time::Duration;

use deploy_core::config::{EnvironmentInfo, SshSettings, Transport};
use deploy_core::{LocalTarget, Secret, Target, Targets};
use deploy_ssh::{HostKeyPolicy, SshOptions, SshTarget};

/// The environment variable an encrypted key's passphrase is read from
/// (never from the command line).
const PASSPHRASE_VAR: &str = "DEPLOY_SSH_PASSPHRASE";

pub(crate) fn for_environment(env: &EnvironmentInfo, ssh: &SshSettings) -> Result<Targets, String> {
    match env.transport {
        Transport::Local => Ok(env
            .hosts
            .iter()
            .map(|host| {
                let target = LocalTarget::new(&host.name).with_roles(host.roles.clone());
                (host.name.clone(), Arc::new(target) as Arc<dyn Target>)
            })
            .collect()),
        Transport::Ssh => {
            let options = ssh_options(ssh)?;
            if options.host_keys == HostKeyPolicy::Off {
                eprintln!(
                    "warning: host keys are not checked ([ssh] host_keys = \"off\"): anyone on the path can impersonate these hosts"
                );
            }
            Ok(env
                .hosts
                .iter()
                .map(|host| {
                    let (address, port) = split_port(&host.name);
                    let mut options = options.clone();
                    if let Some(port) = port {
                        options = options.port(port);
                    }
                    let target = SshTarget::new(&host.name, options)
                        .with_address(address)
                        .with_roles(host.roles.clone());
                    (host.name.clone(), Arc::new(target) as Arc<dyn Target>)
                })
                .collect())
        }
    }
}

/// `host:port` → (`host`, port); a plain name → (name, None).
fn split_port(name: &str) -> (&str, Option<u16>) {
    match name.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (name, None),
        },
        _ => (name, None),
    }
}

fn ssh_options(ssh: &SshSettings) -> Result<SshOptions, String> {
    if ssh.proxy_jump.is_some() {
        return Err("[ssh] proxy_jump is not supported yet (deploy-ssh, issue #3)".into());
    }
    let user = ssh
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .ok_or("no SSH user: set [ssh] user in deploy.toml")?;
    let mut options = SshOptions::new(user);
    if let Some(port) = ssh.port {
        options = options.port(port);
    }
    for file in &ssh.identity_files {
        options = options.identity_file(expand_home(file));
    }
    if let Some(policy) = &ssh.host_keys {
        options = options.host_keys(HostKeyPolicy::parse(policy)?);
    }
    if let Some(path) = &ssh.known_hosts {
        options = options.known_hosts(expand_home(path));
    }
    if let Some(timeout) = &ssh.connect_timeout {
        let timeout: Duration = deploy_core::duration::parse(timeout)?;
        options = options.connect_timeout(timeout);
    }
    if let Ok(passphrase) = std::env::var(PASSPHRASE_VAR) {
        options = options.passphrase(Secret::new(passphrase));
    }
    Ok(options)
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_owned(),
    }
}
