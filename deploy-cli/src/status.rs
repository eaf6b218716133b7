//! `deploy status`: per host, whether it answers, the release it runs (its
//! record), the containers deploy manages there (image and digest, state,
//! health, uptime, restarts, version) and the links a release pointed
//! (`current`), and whatever runs differently from the release (a
//! container replaced by hand, one that is down, a moved link). Hosts are
//! asked at once, each within a timeout, and each host's lines are printed
//! as soon as it has answered.

use std::sync::Arc;

use deploy_core::config::Config;
use deploy_core::release::{ReleaseRecord, ReleaseStore};
use deploy_core::{Command, Target};
use deploy_docker::status::ContainerStatus;

use crate::args::StatusArgs;
use crate::exit;

/// A service under supervisor or systemd, as its manager says it.
#[derive(serde::Serialize)]
struct ServiceStatus {
    name: String,
    manager: String,
    running: bool,
    /// The manager's line, or why it could not be asked.
    said: String,
}

/// What one host said.
#[derive(serde::Serialize)]
struct HostStatus {
    host: String,
    /// `None` when it answered; else why not.
    unreachable: Option<String>,
    live: Option<ReleaseRecord>,
    /// The containers deploy manages there, or why they could not be read
    /// (a host without Docker).
    containers: Result<Vec<ContainerStatus>, String>,
    /// Each link the live release pointed, and where it points now.
    links: Vec<(String, Option<String>)>,
    /// Each service the live release manages, as its manager says it.
    services: Vec<ServiceStatus>,
    /// What runs differently from the live release.
    differs: Vec<String>,
}

/// `deploy status [ENV] [-H …] [-R …] [--json] [--timeout 10s]`.
pub(crate) async fn status(config: &Config, args: &StatusArgs) -> Result<u8, String> {
    let env = config
        .environment(args.environment.as_deref())
        .map_err(|e| e.with_snippet())?;
    let targets = crate::targets::for_environment(&env, &config.ssh(), config.dir())?;
    let hosts = crate::targets::selected(&env, &args.on)?;
    let timeout = deploy_core::duration::parse(&args.timeout)?;
    let mut asked = tokio::task::JoinSet::new();
    for host in &hosts {
        let Some(target) = targets.get(&host.name).cloned() else {
            continue;
        };
        let (name, dir) = (host.name.clone(), env.state_dir.clone());
        asked.spawn(async move {
            match tokio::time::timeout(timeout, host_status(target, &dir)).await {
                Ok(status) => status,
                Err(_) => HostStatus::unreachable(
                    &name,
                    format!(
                        "no answer within {}",
                        deploy_core::duration::format(timeout)
                    ),
                ),
            }
        });
    }
    let mut troubled = false;
    while let Some(done) = asked.join_next().await {
        let Ok(status) = done else { continue };
        troubled |= status.unreachable.is_some() || !status.differs.is_empty();
        if args.json {
            println!("{}", crate::output::json_line(&status));
        } else {
            print!("{}", status.render());
        }
    }
    Ok(if troubled { exit::FAILURE } else { exit::OK })
}

async fn host_status(target: Arc<dyn Target>, state_dir: &str) -> HostStatus {
    let host = target.name().to_owned();
    if let Err(e) = target
        .run(&Command::new(["true"]), &deploy_core::target::DiscardOutput)
        .await
    {
        return HostStatus::unreachable(&host, deploy_core::cause::chain(&e));
    }
    let records = ReleaseStore::new(target.clone(), state_dir.to_owned())
        .list()
        .await
        .unwrap_or_default();
    let live = records
        .into_iter()
        .rev()
        .find(|r| r.host == host && r.outcome.live());
    let containers = deploy_docker::status::containers(target.clone())
        .await
        .map_err(|e| deploy_core::cause::chain(&e));
    let mut links = Vec::new();
    for link in live.iter().flat_map(|r| &r.links) {
        let now = read_link(target.as_ref(), &link.link).await;
        links.push((link.link.clone(), now));
    }
    let mut services = Vec::new();
    for record in live.iter().flat_map(|r| &r.services) {
        let (running, said) = match deploy_core::steps::service_status(target.clone(), record).await
        {
            Ok(answer) => answer,
            Err(e) => (false, deploy_core::cause::chain(&e)),
        };
        services.push(ServiceStatus {
            name: record.name.clone(),
            manager: record.manager.clone(),
            running,
            said,
        });
    }
    let mut differs = differences(live.as_ref(), &containers, &links);
    differs.extend(
        services
            .iter()
            .filter(|s| !s.running)
            .map(|s| format!("service {} is not running ({})", s.name, s.said)),
    );
    HostStatus {
        host,
        unreachable: None,
        live,
        containers,
        links,
        services,
        differs,
    }
}

/// Where `link` points on `target`.
async fn read_link(target: &dyn Target, link: &str) -> Option<String> {
    let lines = Lines::default();
    let status = target
        .run(&Command::new(["readlink", "--", link]), &lines)
        .await
        .ok()?;
    status
        .success()
        .then(|| lines.0.lock().ok()?.first().cloned())
        .flatten()
}

#[derive(Default)]
struct Lines(std::sync::Mutex<Vec<String>>);

impl deploy_core::target::OutputSink for Lines {
    fn line(&self, stream: deploy_core::target::OutputStream, line: &str) {
        if stream == deploy_core::target::OutputStream::Stdout
            && let Ok(mut lines) = self.0.lock()
        {
            lines.push(line.to_owned());
        }
    }
}

/// What runs otherwise than `live` recorded.
fn differences(
    live: Option<&ReleaseRecord>,
    containers: &Result<Vec<ContainerStatus>, String>,
    links: &[(String, Option<String>)],
) -> Vec<String> {
    let Some(live) = live else {
        return Vec::new();
    };
    let mut differs = Vec::new();
    for image in &live.images {
        let Ok(containers) = containers else {
            differs.push(format!("{}: the engine cannot be asked", image.container));
            continue;
        };
        match containers.iter().find(|c| c.name == image.container) {
            None => differs.push(format!("{} is not there", image.container)),
            Some(c) if c.state != "running" => {
                differs.push(format!("{} is {}", image.container, c.state));
            }
            Some(c) if c.image_id != image.id => differs.push(format!(
                "{} runs {} ({}), the release ran {} ({})",
                c.name,
                c.image,
                short(&c.image_id),
                image.image,
                short(&image.id)
            )),
            Some(_) => {}
        }
    }
    for (link, now) in links {
        let Some(recorded) = live.links.iter().find(|l| &l.link == link) else {
            continue;
        };
        if now.as_deref() != Some(recorded.target.as_str()) {
            differs.push(format!(
                "{link} points at {}, the release pointed it at {}",
                now.as_deref().unwrap_or("nothing"),
                recorded.target
            ));
        }
    }
    differs
}

fn short(id: &str) -> String {
    id.chars().take("sha256:".len() + 12).collect()
}

fn uptime(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

impl HostStatus {
    fn unreachable(host: &str, why: String) -> HostStatus {
        HostStatus {
            host: host.to_owned(),
            unreachable: Some(why),
            live: None,
            containers: Ok(Vec::new()),
            links: Vec::new(),
            services: Vec::new(),
            differs: Vec::new(),
        }
    }

    fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        if let Some(why) = &self.unreachable {
            let _ = writeln!(out, "{}: unreachable: {why}", self.host);
            return out;
        }
        let _ = writeln!(out, "{}:", self.host);
        match &self.live {
            Some(r) => {
                let params: String = r.params.iter().map(|(k, v)| format!(" {k}={v}")).collect();
                let _ = writeln!(
                    out,
                    "  live release {} ({} {}{params}, by {} at {})",
                    r.id, r.command, r.task, r.who, r.time
                );
            }
            None => {
                let _ = writeln!(out, "  no live release recorded here");
            }
        }
        for (link, now) in &self.links {
            let _ = writeln!(out, "  {link} → {}", now.as_deref().unwrap_or("(missing)"));
        }
        for s in &self.services {
            let _ = writeln!(out, "  service {} ({}): {}", s.name, s.manager, s.said);
        }
        match &self.containers {
            Ok(containers) => {
                for c in containers {
                    let mut parts = vec![c.state.clone()];
                    if c.health != "none" {
                        parts.push(c.health.clone());
                    }
                    if let Some(up) = c.uptime_s {
                        parts.push(format!("up {}", uptime(up)));
                    }
                    parts.push(format!("{} restarts", c.restarts));
                    let digest = c
                        .repo_digests
                        .first()
                        .map_or_else(|| short(&c.image_id), |d| d.clone());
                    let version = c
                        .version
                        .as_ref()
                        .map(|v| format!(" · version {v}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  {}  {} · {} ({digest}){version}",
                        c.name,
                        parts.join(", "),
                        c.image
                    );
                }
            }
            Err(why) => {
                let _ = writeln!(out, "  containers: {why}");
            }
        }
        for d in &self.differs {
            let _ = writeln!(out, "  differs from the release: {d}");
        }
        out
    }
}
