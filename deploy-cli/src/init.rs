//! `deploy init`: a first `deploy.toml` for a project, so nobody starts from
//! a blank file or a copied one that plans something else.
//!
//! What the directory holds picks the shape: a compose file (brought up with
//! `docker.compose`, its port-publishing services swapped in with
//! `docker.blue-green` instead), else a `Dockerfile` (build, push, pull,
//! blue/green), else plain files (release directories over SSH with a
//! `current` symlink). Each shape is a template with a few `{{NAME}}`
//! substitutions, so the comments read as written; what is generated per
//! project (a compose file's services) is small and quoted here. The file is
//! written under a temporary name and published without ever replacing an
//! existing `deploy.toml`; the tests plan what it writes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use deploy_docker::compose::{ComposeFile, ComposeService, project_name};

use crate::discover::CONFIG_NAME;

/// The compose file names, in the order `docker compose` prefers them.
const COMPOSE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The port an app listens on when nothing says (no `EXPOSE`).
const DEFAULT_PORT: u16 = 8000;

/// What `deploy init` found in the project directory.
#[derive(Debug)]
pub(crate) enum Project {
    /// A compose file: its name in the directory, and what it defines.
    Compose { file: String, compose: ComposeFile },
    /// A `Dockerfile`, and the first port it `EXPOSE`s.
    Dockerfile { port: Option<u16> },
    /// Neither: files shipped as they are.
    Files,
}

/// A generated `deploy.toml`, and what to tell the person who asked.
#[derive(Debug)]
pub(crate) struct Generated {
    /// The file's text.
    pub(crate) text: String,
    /// What was detected and what the file does with it, one line each.
    pub(crate) notes: Vec<String>,
}

/// `deploy init [--dir DIR]`: detects, generates, writes; says what it did.
pub(crate) fn run(dir: Option<&Path>) -> Result<u8, String> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir()
            .map_err(|e| format!("cannot read the working directory: {e}"))?,
    };
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let target = dir.join(CONFIG_NAME);
    if target.exists() {
        return Err(exists(&target));
    }
    let project = detect(&dir)?;
    let generated = generate(&app_name(&dir), &project);
    write_new(&target, &generated.text)?;
    eprintln!("wrote {}", target.display());
    for note in &generated.notes {
        eprintln!("  {note}");
    }
    eprintln!(
        "next: put your hosts in [environments.*], then `deploy plan staging` shows what a deploy would do"
    );
    Ok(crate::exit::OK)
}

fn exists(path: &Path) -> String {
    format!(
        "{} already exists: deploy init never overwrites it (move it away to start again)",
        path.display()
    )
}

/// Looks at `dir`: a compose file (read with deploy-docker's loader, as
/// `docker.compose` will read it), else a `Dockerfile`, else plain files.
pub(crate) fn detect(dir: &Path) -> Result<Project, String> {
    if let Some(name) = COMPOSE_NAMES.iter().find(|n| dir.join(n).is_file()) {
        let path = dir.join(name);
        let compose = ComposeFile::load(&path, None).map_err(|e| {
            format!(
                "{}: cannot read it as a compose file: {e} (deploy init reads it to find the services; fix it or move it away)",
                path.display()
            )
        })?;
        return Ok(Project::Compose {
            file: (*name).to_owned(),
            compose,
        });
    }
    let dockerfile = dir.join("Dockerfile");
    if dockerfile.is_file() {
        let text = std::fs::read_to_string(&dockerfile)
            .map_err(|e| format!("cannot read {}: {e}", dockerfile.display()))?;
        return Ok(Project::Dockerfile {
            port: exposed_port(&text),
        });
    }
    Ok(Project::Files)
}

/// The first port a Dockerfile `EXPOSE`s (`EXPOSE 8000/tcp` → 8000).
///
/// ```text
/// exposed_port("FROM python\nEXPOSE 8000/tcp 9000\n") == Some(8000)
/// ```
fn exposed_port(dockerfile: &str) -> Option<u16> {
    dockerfile.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let instruction = words.next()?;
        if !instruction.eq_ignore_ascii_case("EXPOSE") {
            return None;
        }
        words.find_map(|w| w.split('/').next()?.parse().ok())
    })
}

/// The app's name: the directory's, as compose names a project (lowercase
/// letters, digits, `-`, `_`), or `app` when that leaves nothing.
fn app_name(dir: &Path) -> String {
    let name = project_name(&dir.join(CONFIG_NAME));
    if name.is_empty() {
        "app".to_owned()
    } else {
        name
    }
}

/// The `deploy.toml` for `project`, named `app`.
pub(crate) fn generate(app: &str, project: &Project) -> Generated {
    let (detected, body, vars, mut notes) = match project {
        Project::Compose { file, compose } => compose_body(file, compose),
        Project::Dockerfile { port } => {
            let port_note = match port {
                Some(p) => format!("the app listens on port {p} (its EXPOSE)"),
                None => format!(
                    "no EXPOSE in the Dockerfile: port {DEFAULT_PORT} assumed (edit `port` in the blue-green step)"
                ),
            };
            let body = fill(
                DOCKERFILE_BODY,
                &[("PORT", port.unwrap_or(DEFAULT_PORT).to_string())],
            );
            (
                "a Dockerfile: build, push, pull and blue/green".to_owned(),
                body,
                DOCKERFILE_VARS.to_owned(),
                vec![
                    "found Dockerfile: the image is built here, pushed to ${registry} (a placeholder in [vars]), pulled on the hosts and swapped in behind nginx (blue/green)".to_owned(),
                    port_note,
                ],
            )
        }
        Project::Files => (
            "no compose file or Dockerfile: release directories over SSH".to_owned(),
            FILES_BODY.to_owned(),
            FILES_VARS.to_owned(),
            vec!["found no compose file and no Dockerfile: this directory is synced into releases/<release> on the hosts, `current` switched to it".to_owned()],
        ),
    };
    notes.push(
        "environments staging (staging.example.com) and production (production.example.com, approval required): placeholders to replace".to_owned(),
    );
    let text = fill(
        FILE,
        &[
            ("DETECTED", detected),
            ("VARS", fill(&vars, &[("APP", quoted(app))])),
            ("BODY", fill(&body, &[("APP", quoted(app))])),
        ],
    );
    Generated { text, notes }
}

/// The compose shape: the services that publish no port brought up by
/// `docker.compose`, each one that does swapped in by `docker.blue-green`.
fn compose_body(file: &str, compose: &ComposeFile) -> (String, String, String, Vec<String>) {
    let (served, plain): (Vec<&ComposeService>, Vec<&ComposeService>) = compose
        .services
        .iter()
        .partition(|s| !s.spec.ports.is_empty());
    let names = |services: &[&ComposeService]| {
        services
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut notes = vec![format!(
        "found {file}: project {}, services {}",
        compose.project,
        names(&compose.services.iter().collect::<Vec<_>>())
    )];
    let mut containers = String::new();
    let mut steps = String::new();
    if plain.is_empty() {
        steps.push_str(
            "  # Every service publishes a port, so each is swapped in below; add a\n  # docker.compose step for services that do not (a database, a worker).\n",
        );
    } else {
        let list: Vec<String> = plain.iter().map(|s| quoted(&s.name)).collect();
        let what = if served.is_empty() {
            "every service".to_owned()
        } else {
            format!("the services that publish no port ({})", names(&plain))
        };
        let _ = writeln!(
            steps,
            "  # Brings up {what}\n  # as `docker compose up -d` would: in dependency order, replacing only what\n  # changed. The file's ${{VAR}}s come from `env = {{ ... }}`, this machine, then .env.\n  {{ docker.compose = {{ file = {}, services = [{}] }} }},",
            quoted(file),
            list.join(", ")
        );
        notes.push(format!("{} brought up with docker.compose", names(&plain)));
    }
    let mut networks: Vec<&String> = served.iter().flat_map(|s| &s.spec.networks).collect();
    networks.sort();
    networks.dedup();
    for network in networks {
        let _ = writeln!(
            steps,
            "  {{ docker.network = {{ name = {} }} }},",
            quoted(network)
        );
    }
    for service in &served {
        let port = service.spec.ports[0].container_port;
        notes.push(format!(
            "{} publishes port {port}: swapped in with docker.blue-green behind nginx",
            service.name
        ));
        containers.push_str(&container_entry(&compose.project, service));
        if let Some(build) = &service.build {
            let context = build
                .context
                .strip_prefix(compose.path.parent().unwrap_or(Path::new("")))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| build.context.display().to_string());
            let context = if context.is_empty() {
                ".".to_owned()
            } else {
                context
            };
            let _ = writeln!(
                steps,
                "  # {} is built (compose's `build:`): on the host's engine, from this directory's files.\n  {{ docker.build = {{ context = {}, dockerfile = {}, tag = {} }} }},",
                service.name,
                quoted(&context),
                quoted(&build.dockerfile),
                quoted(&service.image)
            );
        }
        let _ = writeln!(
            steps,
            "  # {name}: new replicas start beside the old ones; once healthy, nginx is\n  # switched to them, the old ones drain and stop (undo switches back).\n  # nginx must include the upstream file: `proxy_pass http://{upstream};`.\n  {{ docker.blue-green = {{ container = {key}, port = {port}, replicas = 2, proxy = {{ nginx = {{ upstream_file = {file}, upstream = {upstream_q} }} }} }} }},",
            name = service.name,
            key = quoted(&service.name),
            upstream = service.name,
            upstream_q = quoted(&service.name),
            file = quoted(&format!(
                "/etc/nginx/conf.d/{}-{}-upstream.conf",
                compose.project, service.name
            )),
        );
    }
    if served.is_empty() {
        notes.push("no service publishes a port: no blue/green".to_owned());
    }
    let body = fill(
        COMPOSE_BODY,
        &[
            ("FILE", file.to_owned()),
            ("CONTAINERS", containers),
            ("STEPS", steps),
        ],
    );
    let vars = fill(COMPOSE_VARS, &[("PROJECT", quoted(&compose.project))]);
    (
        format!("{file}: docker.compose, blue/green for services that publish a port"),
        body,
        vars,
        notes,
    )
}

/// A `[containers]` entry for a compose service that blue/green replaces:
/// what compose runs it with, less the ports (the proxy publishes) and the
/// values that may be secrets (listed by name, to be written by hand).
fn container_entry(project: &str, service: &ComposeService) -> String {
    let spec = &service.spec;
    let mut entry = String::new();
    let _ = writeln!(
        entry,
        "# {}, as the compose file defines it, for blue/green (the proxy publishes its port).",
        service.name
    );
    let _ = writeln!(entry, "[containers.{}]", key(&service.name));
    let _ = writeln!(
        entry,
        "name = {}",
        quoted(&format!("{project}-{}", service.name))
    );
    let _ = writeln!(
        entry,
        "image = {}   # as compose reads it now; a parameter fits here: \"…:${{version}}\"",
        quoted(&service.image)
    );
    if let Some(command) = &spec.command {
        let _ = writeln!(entry, "command = {}", list(command));
    }
    if !spec.networks.is_empty() {
        let _ = writeln!(entry, "networks = {}", list(&spec.networks));
    }
    if !spec.aliases.is_empty() {
        let _ = writeln!(
            entry,
            "aliases = {}   # the other services reach it by its compose name",
            list(&spec.aliases)
        );
    }
    if let Some(restart) = &spec.restart {
        let _ = writeln!(entry, "restart = {}", quoted(restart));
    }
    if let Some(health) = &spec.healthcheck
        && !health.test.is_empty()
    {
        let _ = writeln!(entry, "healthcheck = {{ test = {} }}", list(&health.test));
    }
    if !spec.env.is_empty() {
        let keys: Vec<&str> = spec.env.keys().map(String::as_str).collect();
        let _ = writeln!(
            entry,
            "# compose gives it {}: set what the app needs here, secrets as \"${{secret.NAME}}\" (see [secrets] in the README):\n# env = {{ {} = \"…\" }}",
            keys.join(", "),
            keys[0]
        );
    }
    if !spec.volumes.is_empty() {
        let _ = writeln!(
            entry,
            "# compose mounts {} volume(s) into it: list them here as `volumes = [\"source:target\"]`",
            spec.volumes.len()
        );
    }
    entry.push('\n');
    entry
}

/// `text` with every `{{NAME}}` replaced by its value.
fn fill(text: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(text.to_owned(), |text, (name, value)| {
        text.replace(&format!("{{{{{name}}}}}"), value)
    })
}

/// A TOML basic string holding `value` as deploy reads it: `\`, `"` and
/// control characters escaped, and `${` written `$${` (deploy would
/// otherwise fill it in).
fn quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.replace("${", "$${").chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML array of strings.
fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| quoted(i)).collect();
    format!("[{}]", items.join(", "))
}

/// A TOML key: bare when it can be, else quoted.
fn key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        name.to_owned()
    } else {
        quoted(name)
    }
}

/// Writes `text` to `path`, which must not exist: into a temporary file
/// beside it first, then published with a hard link (which, unlike a
/// rename, refuses to replace a file that appeared meanwhile; a rename
/// where the filesystem has no hard links). The temporary file is removed
/// whatever happens.
fn write_new(path: &Path, text: &str) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp: PathBuf = dir.join(format!(".{CONFIG_NAME}.init-{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(format!("cannot write {}: {e}", temp.display()));
    }
    let published = match std::fs::hard_link(&temp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists(path)),
        Err(_) if path.exists() => Err(exists(path)),
        Err(_) => std::fs::rename(&temp, path)
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
    };
    let _ = std::fs::remove_file(&temp);
    published
}

/// The file every shape shares: how to use it, the environments.
const FILE: &str = r#"# deploy.toml: written by `deploy init` for {{DETECTED}}.
#
# Nothing here touches a server until `deploy run`; plan first:
#   deploy plan staging          # what a deploy to staging would do, host by host
#   deploy run staging           # do it
#   deploy run production        # asks for approval first (--yes when no one is at a terminal)
#   deploy tasks                 # the tasks, their parameters and the environments
#   deploy releases staging      # what ran; `deploy rollback staging` puts back the one before
#
# Every key is described in the README, section `deploy.toml`; `deploy plan`
# refuses a mistake at its file:line:column before anything runs.

# The environment `deploy plan` and `deploy run` use when none is named.
default_environment = "staging"

# Variables: `${name}` anywhere below; an environment's `vars` win over these.
# Built in: ${release} (this run's id), ${environment}, ${host}, ${git_commit}, ...
[vars]
{{VARS}}
# Hosts are reached over SSH as `ssh NAME` would (~/.ssh/config is read).
# Uncomment to set the user or the key for every host:
# [ssh]
# user = "deploy"
# identity_files = ["~/.ssh/id_ed25519"]

# Secrets: read when a run that uses them starts, never printed. Use one as
# "${secret.NAME}" in env, stdin or a file's content (never on a command line):
# [secrets]
# DATABASE_URL = { env = "DATABASE_URL" }

# Environments: where a task runs. The hosts are placeholders: put yours.
# Several hosts with roles: roles = { web = ["web1.example.com", "web2.example.com"] }
[environments.staging]
hosts = ["staging.example.com"]
vars = { url = "https://staging.example.com" }

[environments.production]
hosts = ["production.example.com"]
approval = "required"                # a person confirms before the first step
# rollout = "one-by-one"             # with several hosts: one at a time (or { batch = 2 })
# on_failure = "rollback"            # undo what completed when a step fails
vars = { url = "https://production.example.com" }

{{BODY}}"#;

const FILES_VARS: &str = r#"app = {{APP}}
deploy_to = "/srv/${app}"            # on each host (a relative path is the SSH user's home's)
"#;

/// Release directories over SSH, Capistrano style.
const FILES_BODY: &str = r#"# The deploy: this directory is copied to each host as a new release
# directory, ${deploy_to}/releases/<release id>, and `current` switched to it
# atomically. `deploy rollback` points `current` back at an older release.
[tasks.deploy]
description = "Copy this directory into a new release, switch current to it, keep 5, check the site"
default = true
steps = [
  # Only what changed is copied; .git, what .gitignore or .deployignore names
  # and `exclude` are left out.
  { sync = { from = ".", to = "${deploy_to}/releases/${release}", exclude = ["deploy.toml"] } },
  # Install, migrate and restart in the new release here, for example:
  # { exec = { cmd = ["./bin/setup"], cwd = "${deploy_to}/releases/${release}" } },
  # { exec = { cmd = ["systemctl", "restart", "${app}"], sudo = true } },
  { symlink = { link = "${deploy_to}/current", to = "${deploy_to}/releases/${release}" } },
  { keep-releases = { dir = "${deploy_to}/releases", keep = 5, current = "${deploy_to}/current" } },
  # Fails the deploy unless the site answers 200 within a minute.
  { http-check = { url = "${url}/", expect = 200, timeout = "60s" } },
]
"#;

const DOCKERFILE_VARS: &str = r#"app = {{APP}}
registry = "registry.example.com"   # a placeholder: your registry (logins from ~/.docker/config.json)
image = "${registry}/${app}"
"#;

/// Build here, push, pull on the hosts, blue/green behind nginx.
const DOCKERFILE_BODY: &str = r#"# The container blue/green runs: defined once, used by every task.
[containers.app]
name = "${app}"
image = "${image}:${release}"
networks = ["${app}"]
restart = "unless-stopped"
# env = { DATABASE_URL = "${secret.DATABASE_URL}" }
# volumes = ["${app}-data:/data"]
# healthcheck = { test = ["CMD", "curl", "-f", "http://localhost:{{PORT}}/health"] }   # else the image's

# The deploy: the image is built and pushed from this machine, then pulled on
# every host and swapped in without downtime. `deploy rollback` runs it again
# with the images a release ran, by digest.
[tasks.deploy]
description = "Build the image, push it, pull it on the hosts, switch nginx to it (blue/green)"
default = true
steps = [
  # On this machine, once (local = true): build from ./Dockerfile and push.
  # A registry login: docker.push = { image = ..., login = { user = "ci", password = "${secret.REGISTRY_PASSWORD}" } }
  { docker.build = { context = ".", tag = "${image}:${release}" }, local = true },
  { docker.push = { image = "${image}:${release}" }, local = true },
  # On each host, through its SSH connection to the Docker engine.
  { docker.pull = { image = "${image}:${release}" } },
  { docker.network = { name = "${app}" } },
  # New replicas start beside the old ones; once healthy, nginx is switched to
  # them, the old ones drain and stop (undo switches back). nginx must include
  # the upstream file and `proxy_pass http://app;` (or use proxy = { caddy = { id = "..." } }).
  { docker.blue-green = { container = "app", port = {{PORT}}, replicas = 2, proxy = { nginx = { upstream_file = "/etc/nginx/conf.d/${app}-upstream.conf", upstream = "app" } } } },
  # Keeps the newest 5 images on each host, for rollback.
  { docker.prune = { repository = "${image}", keep = 5 } },
  # Fails the deploy unless the site answers 200 within a minute.
  { http-check = { url = "${url}/", expect = 200, timeout = "60s" } },
]
"#;

const COMPOSE_VARS: &str = r#"app = {{APP}}
project = {{PROJECT}}   # the compose project (its containers are named after it)
"#;

/// The compose file's services on each host.
const COMPOSE_BODY: &str = r#"{{CONTAINERS}}# The deploy: {{FILE}} (read here when the plan is built) run on each
# host's Docker engine through its SSH connection; no docker CLI is needed there.
[tasks.deploy]
description = "Bring up {{FILE}}; swap the services that publish a port in with blue/green"
default = true
steps = [
{{STEPS}}  # Fails the deploy unless the site answers 200 within a minute.
  { http-check = { url = "${url}/", expect = 200, timeout = "60s" } },
]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// EXPOSE is read case-insensitively, with or without a protocol.
    #[test]
    fn reads_the_first_exposed_port() {
        assert_eq!(exposed_port("FROM x\nexpose 9000/tcp 80\n"), Some(9000));
        assert_eq!(exposed_port("FROM x\n# EXPOSE 1\n"), None);
    }

    /// Quoting escapes TOML's specials and deploy's `${`.
    #[test]
    fn quotes_for_toml_and_deploy() {
        assert_eq!(quoted("a\"b\\c${d}"), r#""a\"b\\c$${d}""#);
        assert_eq!(key("web"), "web");
        assert_eq!(key("my.svc"), "\"my.svc\"");
    }
}
