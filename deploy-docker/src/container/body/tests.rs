//! Each spec and the exact create-container body (as JSON) it makes: what
//! deploy asks the engine for, checked without one.

use std::time::Duration;

use serde_json::{Value, json};

use super::super::{Healthcheck, PortMapping};
use super::*;

const DIGEST: &str = "<digest>";

fn spec() -> ContainerSpec {
    ContainerSpec::new("web", "shop/web:v1")
}

fn ports(mappings: &[&str]) -> Vec<PortMapping> {
    mappings
        .iter()
        .map(|m| PortMapping::parse(m).expect("a valid mapping"))
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The body as JSON, its digest label (checked to be the spec's digest)
/// replaced by [`DIGEST`].
fn body_json(spec: &ContainerSpec) -> Value {
    let body = spec.body().expect("a valid spec");
    let mut body = serde_json::to_value(body).expect("serializes");
    let digest = &mut body["Labels"][SPEC_LABEL];
    assert_eq!(*digest, json!(spec.digest()), "{}", spec.name);
    *digest = json!(DIGEST);
    body
}

/// `base` with the keys of `more` put in (over its own).
fn with(mut base: Value, more: Value) -> Value {
    if let (Some(base), Value::Object(more)) = (base.as_object_mut(), more) {
        base.extend(more);
    }
    base
}

/// The labels every container gets, with `more`.
fn labels(more: Value) -> Value {
    with(json!({ MANAGED_LABEL: "true", SPEC_LABEL: DIGEST }), more)
}

/// The body of the least spec, with the top-level keys of `more` put in.
fn least(more: Value) -> Value {
    let body = json!({
        "Image": "shop/web:v1",
        "Env": [],
        "Labels": labels(json!({})),
        "HostConfig": {}
    });
    with(body, more)
}

#[test]
fn each_spec_makes_its_body() {
    let mut cases: Vec<(&str, ContainerSpec, Value)> = vec![
        (
            "the least: the image, no env, the labels, an empty host config",
            spec(),
            json!({
                "Image": "shop/web:v1",
                "Env": [],
                "Labels": labels(json!({})),
                "HostConfig": {}
            }),
        ),
        (
            "env: NAME=value, in name order",
            spec()
                .env("PORT", "8080")
                .env("DATABASE_URL", "postgres://db/shop")
                .env("EMPTY", ""),
            least(json!({
                "Env": ["DATABASE_URL=postgres://db/shop", "EMPTY=", "PORT=8080"]
            })),
        ),
        (
            "a command replaces the image's",
            ContainerSpec {
                command: Some(strings(&["/app", "--port", "8080"])),
                ..spec()
            },
            least(json!({
                "Cmd": ["/app", "--port", "8080"]
            })),
        ),
        (
            "ports: exposed and bound; no host port is an ephemeral one, no ip all addresses",
            ContainerSpec {
                ports: ports(&["127.0.0.1:8080:80", "443:443", "53/udp", "127.0.0.1::9000"]),
                ..spec()
            },
            least(json!({
                "ExposedPorts": { "80/tcp": {}, "443/tcp": {}, "53/udp": {}, "9000/tcp": {} },
                "HostConfig": {
                    "PortBindings": {
                        "80/tcp": [{ "HostIp": "127.0.0.1", "HostPort": "8080" }],
                        "443/tcp": [{ "HostPort": "443" }],
                        "53/udp": [{}],
                        "9000/tcp": [{ "HostIp": "127.0.0.1" }]
                    }
                }
            })),
        ),
        (
            "one container port published twice: both bindings, in the spec's order",
            ContainerSpec {
                ports: ports(&["127.0.0.1:8080:80", "127.0.0.2:8080:80", "8081:80/tcp"]),
                ..spec()
            },
            least(json!({
                "ExposedPorts": { "80/tcp": {} },
                "HostConfig": {
                    "PortBindings": {
                        "80/tcp": [
                            { "HostIp": "127.0.0.1", "HostPort": "8080" },
                            { "HostIp": "127.0.0.2", "HostPort": "8080" },
                            { "HostPort": "8081" }
                        ]
                    }
                }
            })),
        ),
        (
            "the same port number over tcp and udp: two ports",
            ContainerSpec {
                ports: ports(&["5353:53/tcp", "5353:53/udp"]),
                ..spec()
            },
            least(json!({
                "ExposedPorts": { "53/tcp": {}, "53/udp": {} },
                "HostConfig": {
                    "PortBindings": {
                        "53/tcp": [{ "HostPort": "5353" }],
                        "53/udp": [{ "HostPort": "5353" }]
                    }
                }
            })),
        ),
        (
            "volumes: binds and named volumes as given",
            ContainerSpec {
                volumes: strings(&[
                    "/srv/shop/uploads:/app/uploads",
                    "cache:/cache",
                    "/etc/shop:/etc/shop:ro",
                ]),
                ..spec()
            },
            least(json!({
                "HostConfig": {
                    "Binds": ["/srv/shop/uploads:/app/uploads", "cache:/cache", "/etc/shop:/etc/shop:ro"]
                }
            })),
        ),
        (
            "one network: its mode, and an endpoint without aliases",
            spec().network("shop"),
            least(json!({
                "HostConfig": { "NetworkMode": "shop" },
                "NetworkingConfig": { "EndpointsConfig": { "shop": {} } }
            })),
        ),
        (
            "networks and aliases: the first network at creation, with the aliases \
             (the others are joined after, by Engine::run)",
            ContainerSpec {
                aliases: strings(&["web", "shop-web"]),
                ..spec().network("front").network("back")
            },
            least(json!({
                "HostConfig": { "NetworkMode": "front" },
                "NetworkingConfig": {
                    "EndpointsConfig": { "front": { "Aliases": ["web", "shop-web"] } }
                }
            })),
        ),
        (
            "aliases without a network: nowhere to put them",
            ContainerSpec {
                aliases: strings(&["web"]),
                ..spec()
            },
            least(json!({})),
        ),
        (
            "labels: the spec's, beside deploy's",
            spec().label("team", "shop").label("tier", "front"),
            least(json!({
                "Labels": labels(json!({ "team": "shop", "tier": "front" }))
            })),
        ),
        (
            "a spec cannot unmark itself: deploy's labels win over the spec's",
            spec()
                .label(MANAGED_LABEL, "false")
                .label(SPEC_LABEL, "forged")
                .label(VERSION_LABEL, "forged"),
            least(json!({
                // No version: the spec's own label stays.
                "Labels": labels(json!({ VERSION_LABEL: "forged" }))
            })),
        ),
        (
            "the version label",
            ContainerSpec {
                version: Some("v1.4".to_owned()),
                ..spec().label(VERSION_LABEL, "old")
            },
            least(json!({
                "Labels": labels(json!({ VERSION_LABEL: "v1.4" }))
            })),
        ),
        (
            "restart: on-failure with a retry count",
            ContainerSpec {
                restart: Some("on-failure:5".to_owned()),
                ..spec()
            },
            least(json!({
                "HostConfig": {
                    "RestartPolicy": { "Name": "on-failure", "MaximumRetryCount": 5 }
                }
            })),
        ),
        (
            "a health check: durations in nanoseconds",
            ContainerSpec {
                healthcheck: Some(Healthcheck {
                    start_period: Duration::from_millis(1500),
                    ..Healthcheck::command(["CMD-SHELL", "wget -qO- localhost:8080/up"])
                }),
                ..spec()
            },
            least(json!({
                "Healthcheck": {
                    "Test": ["CMD-SHELL", "wget -qO- localhost:8080/up"],
                    "Interval": 2_000_000_000_u64,
                    "Timeout": 5_000_000_000_u64,
                    "Retries": 3,
                    "StartPeriod": 1_500_000_000_u64
                }
            })),
        ),
        (
            "init",
            ContainerSpec {
                init: true,
                ..spec()
            },
            least(json!({
                "HostConfig": { "Init": true }
            })),
        ),
        (
            "everything at once",
            ContainerSpec {
                command: Some(strings(&["/app", "--port", "8080"])),
                ports: ports(&["127.0.0.1:8080:8080", "9100:9100/udp"]),
                volumes: strings(&["/srv/shop:/data"]),
                aliases: strings(&["web"]),
                restart: Some("unless-stopped".to_owned()),
                healthcheck: Some(Healthcheck::command(["CMD", "/app", "--check"])),
                version: Some("v2".to_owned()),
                init: true,
                ..spec()
                    .env("PORT", "8080")
                    .network("shop")
                    .network("metrics")
                    .label("team", "shop")
            },
            json!({
                "Image": "shop/web:v1",
                "Cmd": ["/app", "--port", "8080"],
                "Env": ["PORT=8080"],
                "Labels": labels(json!({ "team": "shop", VERSION_LABEL: "v2" })),
                "ExposedPorts": { "8080/tcp": {}, "9100/udp": {} },
                "Healthcheck": {
                    "Test": ["CMD", "/app", "--check"],
                    "Interval": 2_000_000_000_u64,
                    "Timeout": 5_000_000_000_u64,
                    "Retries": 3,
                    "StartPeriod": 0
                },
                "HostConfig": {
                    "Binds": ["/srv/shop:/data"],
                    "PortBindings": {
                        "8080/tcp": [{ "HostIp": "127.0.0.1", "HostPort": "8080" }],
                        "9100/udp": [{ "HostPort": "9100" }]
                    },
                    "RestartPolicy": { "Name": "unless-stopped" },
                    "NetworkMode": "shop",
                    "Init": true
                },
                "NetworkingConfig": { "EndpointsConfig": { "shop": { "Aliases": ["web"] } } }
            }),
        ),
    ];
    for (what, name) in [
        ("restart: no", "no"),
        ("restart: always", "always"),
        ("restart: unless-stopped", "unless-stopped"),
        ("restart: on-failure, retrying for ever", "on-failure"),
    ] {
        let spec = ContainerSpec {
            restart: Some(name.to_owned()),
            ..spec()
        };
        let body = least(json!({ "HostConfig": { "RestartPolicy": { "Name": name } } }));
        cases.push((what, spec, body));
    }
    let mut wrong = Vec::new();
    for (what, spec, want) in cases {
        let got = body_json(&spec);
        if got != want {
            let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
            wrong.push(format!(
                "{what}:\n  want {}\n  got  {}",
                pretty(&want),
                pretty(&got)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// A restart policy the engine would refuse is refused here, naming it
/// (Docker 20.10: "maximum retry count cannot be used with restart policy
/// 'always'", "maximum retry count cannot be negative").
#[test]
fn a_bad_restart_policy_is_refused() {
    for (restart, says) in [
        (
            "sometimes",
            "restart policy `sometimes` is not one of no, always, unless-stopped, on-failure[:N]",
        ),
        (
            "on-failure:many",
            "container web: `on-failure:many`: the retry count is a whole number",
        ),
        (
            "on-failure:-1",
            "container web: `on-failure:-1`: the retry count is a whole number",
        ),
        (
            "always:3",
            "container web: `always:3`: only on-failure takes a retry count",
        ),
        ("no:0", "`no:0`: only on-failure takes a retry count"),
        ("", "restart policy `` is not one of"),
    ] {
        let spec = ContainerSpec {
            restart: Some(restart.to_owned()),
            ..spec()
        };
        let error = spec.body().expect_err(restart).to_string();
        assert!(error.contains(says), "{restart}: {error}");
    }
}

/// The digest is pinned: a change to it (to what it covers or how) makes
/// every container deploy runs look changed, and the next deploy recreates
/// them all.
#[test]
fn the_digest_is_stable() {
    assert_eq!(spec().digest(), "472b63466103c96177dc2fe2");
    let full = ContainerSpec {
        restart: Some("always".to_owned()),
        init: true,
        ..spec()
            .env("PORT", "8080")
            .network("shop")
            .label("team", "shop")
    };
    assert_eq!(full.digest(), "5f959dee912dcf7098a21a52");
    assert_ne!(full.digest(), spec().digest());
}
