//! Reading compose text: [`ComposeFile::parse`] (each service into a
//! container spec; `load.rs` reads the file and its `.env`), then
//! volumes resolved and services put in dependency order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_yaml_ng::Value;

use super::interpolate::interpolate_all;
use super::value::{duration, pairs, text, words};
use super::{ComposeBuild, ComposeFile, ComposeService, PROJECT_LABEL, SERVICE_LABEL, invalid};
use crate::container::{ContainerSpec, Healthcheck, PortMapping};
use crate::error::DockerError;

const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "networks",
    "depends_on",
    "healthcheck",
    "restart",
    "deploy",
    "labels",
    "container_name",
];

impl ComposeFile {
    /// Reads compose text (`path` names it in errors and anchors relative
    /// paths; `env_file`s are read from this machine).
    pub fn parse(
        source: &str,
        path: &Path,
        project: &str,
        vars: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ComposeFile, DockerError> {
        let read = |file: &Path| std::fs::read_to_string(file).map_err(|e| invalid(file, e));
        ComposeFile::parse_with(source, path, project, vars, &read)
    }

    /// [`ComposeFile::parse`] with `env_file`s read by `read_env_file`.
    pub(super) fn parse_with(
        source: &str,
        path: &Path,
        project: &str,
        vars: &dyn Fn(&str) -> Option<String>,
        read_env_file: &dyn Fn(&Path) -> Result<String, DockerError>,
    ) -> Result<ComposeFile, DockerError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut root: Value = serde_yaml_ng::from_str(source).map_err(|e| invalid(path, e))?;
        interpolate_all(&mut root, vars).map_err(|e| invalid(path, e))?;
        let mut ignored = Vec::new();
        let Value::Mapping(top) = &root else {
            return Err(invalid(path, "a compose file is a mapping with `services`"));
        };
        for (key, _) in top {
            let key = text(key).unwrap_or_default();
            if !["version", "services", "networks", "volumes"].contains(&key.as_str()) {
                ignored.push(key);
            }
        }
        let Some(Value::Mapping(services)) = root.get("services") else {
            return Err(invalid(path, "no `services`"));
        };
        let default_network = format!("{project}_default");
        let mut networks: BTreeSet<String> = BTreeSet::new();
        if let Some(Value::Mapping(declared)) = root.get("networks") {
            for (name, config) in declared {
                let name = text(name).unwrap_or_default();
                if let Value::Mapping(config) = config {
                    for (key, _) in config {
                        ignored.push(format!("networks.{name}.{}", text(key).unwrap_or_default()));
                    }
                }
                networks.insert(format!("{project}_{name}"));
            }
        }
        let mut read = Vec::new();
        for (name, service) in services {
            let name = text(name).unwrap_or_default();
            let bad = |key: &str, why: &str| invalid(path, format!("services.{name}.{key}: {why}"));
            let Value::Mapping(fields) = service else {
                return Err(bad("", "a service is a mapping"));
            };
            for (key, _) in fields {
                let key = text(key).unwrap_or_default();
                if !SERVICE_KEYS.contains(&key.as_str()) {
                    ignored.push(format!("services.{name}.{key}"));
                }
            }
            let build = match service.get("build") {
                None => None,
                Some(Value::String(context)) => Some(ComposeBuild {
                    context: dir.join(context),
                    dockerfile: "Dockerfile".to_owned(),
                    args: BTreeMap::new(),
                }),
                Some(Value::Mapping(b)) => {
                    for (key, _) in b {
                        let key = text(key).unwrap_or_default();
                        if !["context", "dockerfile", "args"].contains(&key.as_str()) {
                            ignored.push(format!("services.{name}.build.{key}"));
                        }
                    }
                    Some(ComposeBuild {
                        context: dir.join(
                            b.get("context")
                                .and_then(text)
                                .unwrap_or_else(|| ".".into()),
                        ),
                        dockerfile: b
                            .get("dockerfile")
                            .and_then(text)
                            .unwrap_or_else(|| "Dockerfile".into()),
                        args: match b.get("args") {
                            Some(args) => pairs(args, vars)
                                .ok_or_else(|| bad("build.args", "a mapping or KEY=VALUE list"))?,
                            None => BTreeMap::new(),
                        },
                    })
                }
                Some(_) => return Err(bad("build", "a path or a mapping")),
            };
            let image = match (service.get("image").and_then(text), &build) {
                (Some(image), _) => image,
                (None, Some(_)) => format!("{project}_{name}:latest"),
                (None, None) => return Err(bad("image", "a service needs `image` or `build`")),
            };
            let mut spec = ContainerSpec::new(String::new(), image.clone());
            if let Some(command) = service.get("command") {
                spec.command =
                    Some(words(command).ok_or_else(|| bad("command", "a string or a list"))?);
            }
            if let Some(files) = service.get("env_file") {
                let files = match files {
                    Value::String(f) => vec![f.clone()],
                    other => words(other).ok_or_else(|| bad("env_file", "a path or a list"))?,
                };
                for file in files {
                    let file = dir.join(file);
                    let text = read_env_file(&file)?;
                    for line in text
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    {
                        if let Some((k, v)) = line.split_once('=') {
                            spec.env.insert(k.trim().to_owned(), v.to_owned());
                        }
                    }
                }
            }
            if let Some(environment) = service.get("environment") {
                spec.env.extend(
                    pairs(environment, vars)
                        .ok_or_else(|| bad("environment", "a mapping or KEY=VALUE list"))?,
                );
            }
            if let Some(ports) = service.get("ports") {
                for port in words(ports).ok_or_else(|| bad("ports", "a list of HOST:CONTAINER"))? {
                    spec.ports
                        .push(PortMapping::parse(&port).map_err(|e| bad("ports", &e.to_string()))?);
                }
            }
            if let Some(volumes) = service.get("volumes") {
                for volume in
                    words(volumes).ok_or_else(|| bad("volumes", "a list of SOURCE:TARGET"))?
                {
                    spec.volumes.push(volume_bind(&volume, dir, project));
                }
            }
            let service_networks = match service.get("networks") {
                None => vec![default_network.clone()],
                Some(Value::Sequence(items)) => items
                    .iter()
                    .filter_map(text)
                    .map(|n| format!("{project}_{n}"))
                    .collect(),
                Some(Value::Mapping(map)) => map
                    .iter()
                    .filter_map(|(k, _)| text(k))
                    .map(|n| format!("{project}_{n}"))
                    .collect(),
                Some(_) => return Err(bad("networks", "a list or a mapping")),
            };
            networks.extend(service_networks.iter().cloned());
            spec.networks = service_networks;
            spec.aliases = vec![name.clone()];
            let depends_on = match service.get("depends_on") {
                None => Vec::new(),
                Some(Value::Sequence(items)) => items.iter().filter_map(text).collect(),
                Some(Value::Mapping(map)) => map.iter().filter_map(|(k, _)| text(k)).collect(),
                Some(_) => return Err(bad("depends_on", "a list or a mapping")),
            };
            if let Some(check) = service.get("healthcheck") {
                let disabled = check
                    .get("disable")
                    .is_some_and(|d| d.as_bool() == Some(true));
                let test = match check.get("test") {
                    Some(Value::String(s)) => vec!["CMD-SHELL".to_owned(), s.clone()],
                    Some(other) => {
                        words(other).ok_or_else(|| bad("healthcheck.test", "a string or a list"))?
                    }
                    None => Vec::new(),
                };
                if disabled || test.first().map(String::as_str) == Some("NONE") {
                    spec.healthcheck = Some(Healthcheck::command(["NONE"]));
                } else if !test.is_empty() {
                    let mut h = Healthcheck::command(test);
                    h.interval = check
                        .get("interval")
                        .and_then(duration)
                        .unwrap_or(Duration::from_secs(30));
                    h.timeout = check
                        .get("timeout")
                        .and_then(duration)
                        .unwrap_or(Duration::from_secs(30));
                    h.retries = check
                        .get("retries")
                        .and_then(Value::as_u64)
                        .and_then(|r| u32::try_from(r).ok())
                        .unwrap_or(3);
                    h.start_period = check
                        .get("start_period")
                        .and_then(duration)
                        .unwrap_or_default();
                    spec.healthcheck = Some(h);
                }
            }
            spec.restart = service.get("restart").and_then(text);
            spec.init = service
                .get("init")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if let Some(labels) = service.get("labels") {
                spec.labels.extend(
                    pairs(labels, vars)
                        .ok_or_else(|| bad("labels", "a mapping or KEY=VALUE list"))?,
                );
            }
            let mut replicas = 1;
            if let Some(Value::Mapping(deploy)) = service.get("deploy") {
                for (key, value) in deploy {
                    match text(key).as_deref() {
                        Some("replicas") => {
                            replicas = value
                                .as_u64()
                                .and_then(|r| usize::try_from(r).ok())
                                .ok_or_else(|| bad("deploy.replicas", "a number"))?;
                        }
                        other => ignored.push(format!(
                            "services.{name}.deploy.{}",
                            other.unwrap_or_default()
                        )),
                    }
                }
            }
            spec.labels
                .insert(PROJECT_LABEL.to_owned(), project.to_owned());
            spec.labels.insert(SERVICE_LABEL.to_owned(), name.clone());
            read.push(ComposeService {
                name: name.clone(),
                image,
                build,
                spec,
                depends_on,
                replicas,
                container_name: service.get("container_name").and_then(text),
            });
        }
        let services = dependency_order(read, path)?;
        Ok(ComposeFile {
            project: project.to_owned(),
            path: path.to_path_buf(),
            services,
            networks: networks.into_iter().collect(),
            ignored,
        })
    }
}

/// `./data:/data` → an absolute bind; `db:/var/lib/db` → the project's volume.
fn volume_bind(volume: &str, dir: &Path, project: &str) -> String {
    let (source, rest) = match volume.split_once(':') {
        Some((source, rest)) => (source, Some(rest)),
        None => (volume, None),
    };
    let source = if source.starts_with('.') || source.starts_with('~') {
        dir.join(source).display().to_string()
    } else if source.starts_with('/') || rest.is_none() {
        source.to_owned()
    } else {
        format!("{project}_{source}")
    };
    match rest {
        Some(rest) => format!("{source}:{rest}"),
        None => source,
    }
}

fn dependency_order(
    services: Vec<ComposeService>,
    path: &Path,
) -> Result<Vec<ComposeService>, DockerError> {
    let names: BTreeSet<String> = services.iter().map(|s| s.name.clone()).collect();
    for service in &services {
        if let Some(missing) = service.depends_on.iter().find(|d| !names.contains(*d)) {
            return Err(invalid(
                path,
                format!(
                    "services.{}.depends_on: no service `{missing}`",
                    service.name
                ),
            ));
        }
    }
    let mut ordered: Vec<ComposeService> = Vec::new();
    let mut left = services;
    while !left.is_empty() {
        let (ready, waiting): (Vec<_>, Vec<_>) = left.into_iter().partition(|s| {
            s.depends_on
                .iter()
                .all(|d| ordered.iter().any(|o| &o.name == d))
        });
        if ready.is_empty() {
            let cycle: Vec<&str> = waiting.iter().map(|s| s.name.as_str()).collect();
            return Err(invalid(
                path,
                format!("depends_on has a cycle among: {}", cycle.join(", ")),
            ));
        }
        ordered.extend(ready);
        left = waiting;
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_services_with_substitution_and_lists_what_it_ignores() {
        let vars = |name: &str| match name {
            "VERSION" => Some("v2".to_owned()),
            _ => None,
        };
        let text = r#"
version: "3.8"
x-common: &common
  restart: unless-stopped
services:
  web:
    image: shop/web:${VERSION}
    command: gunicorn app:wsgi --bind 0.0.0.0:8000
    environment:
      DEBUG: "false"
      LEVEL: ${LEVEL:-info}
    ports: ["127.0.0.1:8000:8000"]
    volumes: ["./static:/srv/static:ro", "media:/srv/media"]
    depends_on: [db]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8000/health"]
      interval: 5s
    logging: { driver: json-file }
    deploy: { replicas: 2, resources: { limits: { cpus: "1" } } }
  db:
    image: postgres:15
    environment: ["POSTGRES_PASSWORD=$${NOT_A_VAR}"]
networks:
  backend: {}
"#;
        let file = ComposeFile::parse(
            text,
            Path::new("/srv/shop/docker-compose.yml"),
            "shop",
            &vars,
        )
        .expect("parses");
        let names: Vec<&str> = file.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["db", "web"], "dependencies first");
        let web = &file.services[1];
        assert_eq!(web.image, "shop/web:v2");
        assert_eq!(web.replicas, 2);
        assert_eq!(web.spec.env.get("LEVEL").map(String::as_str), Some("info"));
        assert_eq!(
            web.spec.volumes,
            ["/srv/shop/./static:/srv/static:ro", "shop_media:/srv/media"]
        );
        assert_eq!(web.spec.networks, ["shop_default"]);
        assert_eq!(web.spec.aliases, ["web"]);
        assert_eq!(web.spec.command.as_deref().map(<[String]>::len), Some(4));
        assert_eq!(
            file.services[0]
                .spec
                .env
                .get("POSTGRES_PASSWORD")
                .map(String::as_str),
            Some("${NOT_A_VAR}")
        );
        assert_eq!(
            file.ignored,
            [
                "x-common",
                "services.web.logging",
                "services.web.deploy.resources"
            ]
        );
        assert!(file.networks.contains(&"shop_backend".to_owned()));
    }

    #[test]
    fn bad_files_are_named() {
        let none = |_: &str| None;
        let err = ComposeFile::parse(
            "services:\n  web:\n    depends_on: [db]\n    image: x\n",
            Path::new("c.yml"),
            "p",
            &none,
        )
        .expect_err("no db");
        assert!(
            err.to_string()
                .contains("services.web.depends_on: no service `db`"),
            "{err}"
        );
        let err = ComposeFile::parse(
            "services:\n  web:\n    ports: [\"http\"]\n    image: x\n",
            Path::new("c.yml"),
            "p",
            &none,
        )
        .expect_err("bad port");
        assert!(err.to_string().contains("services.web.ports"), "{err}");
        let err =
            ComposeFile::parse("services: [", Path::new("c.yml"), "p", &none).expect_err("yaml");
        assert!(err.to_string().starts_with("c.yml: "), "{err}");
    }
}
