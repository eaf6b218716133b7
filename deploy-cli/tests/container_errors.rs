//! Malformed `docker.*` container settings are refused before anything
//! runs: `deploy plan` and `deploy run` exit 2 at `deploy.toml:LINE:COLUMN`
//! naming the field. A reference to a container no `[containers]` entry
//! defines is refused when the file loads, whichever task is chosen.

mod common;

/// `deploy plan e t` and `deploy run e t` on `config` both exit 2 with
/// `deploy.toml:{at}: {message}` on stderr and print no plan.
fn refused(config: &str, at: &str, message: &str) {
    common::refused_by_both(config, at, message);
}

const ENV: &str = "[environments.e]\nhosts = [\"web1\"]\n";

#[test]
fn a_one_off_needs_an_image_or_a_service() {
    refused(
        &format!("{ENV}[tasks.t]\nsteps = [{{ docker.run = {{ command = [\"pytest\"] }} }}]\n"),
        "4:12",
        "invalid `docker.run` step: name the `image` to run (or a compose `service` with its `compose` file)",
    );
    refused(
        &format!(
            "{ENV}[tasks.t]\nsteps = [{{ docker.run = {{ service = \"db\", command = [\"backup\"] }} }}]\n"
        ),
        "4:12",
        "invalid `docker.run` step: `service` needs `compose`",
    );
    refused(
        &format!(
            "{ENV}[tasks.t]\nsteps = [{{ docker.run = {{ image = \"shop/web:1\", rm = \"yes\" }} }}]\n"
        ),
        "4:54",
        "invalid `docker.run` step: rm: invalid type: string \"yes\", expected a boolean",
    );
}

/// A `[containers.web]` entry and a task `t` that uses it; `other` is a
/// second task the cases below break (the file is checked whichever task
/// runs).
const DEFINED: &str = "[environments.e]\nhosts = [\"web1\"]\n[containers.web]\nimage = \"shop/web:${version}\"\nwait = \"20s\"\n[tasks.t]\nparams = { version = \"1\" }\nsteps = [{ docker.recreate = { container = \"web\" } }]\n";

#[test]
fn a_container_no_entry_defines_is_refused_at_load() {
    refused(
        &format!(
            "{DEFINED}[tasks.other]\nsteps = [\n  {{ docker.restart = {{ container = \"wbe\" }} }},\n  {{ docker.restart = {{ container = \"webb\" }} }},\n]\n"
        ),
        "11:36",
        "unknown container `wbe`: no [containers] entry defines it (containers: web)",
    );
    refused(
        &format!(
            "{DEFINED}[tasks.other]\nsteps = [{{ docker.restart = {{ container = \"webb\" }} }}]\n"
        ),
        "10:43",
        "unknown container `webb` (did you mean `web`?): no [containers] entry defines it (containers: web)",
    );
}

#[test]
fn container_fields_beside_a_reference_are_refused() {
    refused(
        &DEFINED.replace(
            "container = \"web\" }",
            "container = \"web\", env = { DEBUG = \"1\" } }",
        ),
        "8:57",
        "invalid `docker.recreate` step: env: `env` cannot go beside `container`: a step that names a [containers] entry takes the container's settings from the entry alone (set `env` there); beside `container` go only: force",
    );
}

#[test]
fn a_bad_field_in_an_entry_points_into_the_entry() {
    refused(
        &DEFINED.replace("wait = \"20s\"", "wait = \"soon\""),
        "5:8",
        "invalid `docker.recreate` step: [containers.web] wait: \"soon\" is not a duration",
    );
    refused(
        &DEFINED.replace("image = \"shop/web:${version}\"\n", ""),
        "3:1",
        "invalid `docker.recreate` step: [containers.web]: missing field `image`",
    );
    refused(
        &DEFINED.replace("${version}", "${versoin}"),
        "4:19",
        "undefined variable `versoin` (did you mean `version`?)",
    );
}

#[test]
fn replicas_that_cannot_work_are_refused() {
    refused(
        &format!(
            "{ENV}[tasks.t]\nsteps = [{{ docker.recreate = {{ name = \"web\", image = \"shop/web:1\", replicas = 0 }} }}]\n"
        ),
        "4:79",
        "invalid `docker.recreate` step: replicas: at least 1 container (got 0)",
    );
    refused(
        &format!(
            "{ENV}[tasks.t]\nsteps = [{{ docker.ensure-running = {{ name = \"web\", image = \"shop/web:1\", ports = [\"127.0.0.1:8000:8000\"], replicas = 2 }} }}]\n"
        ),
        "4:118",
        "invalid `docker.ensure-running` step: replicas: replicas = 2 with port `127.0.0.1:8000:8000`: 2 containers cannot bind one host port (publish only the container port, `8000`",
    );
}

#[test]
fn swarm_mounts_and_secrets_are_checked() {
    let swarm = |extra: &str| {
        format!(
            "{ENV}[tasks.t]\nsteps = [{{ docker.swarm-service = {{ name = \"web\", image = \"shop/web:1\", {extra} }} }}]\n"
        )
    };
    refused(
        &swarm("volumes = [\"media:app/media\"]"),
        "4:83",
        "invalid `docker.swarm-service` step: volumes: volume `media:app/media`: the target `app/media` is not an absolute path",
    );
    refused(
        &swarm("mounts = [{ type = \"nfs\", target = \"/x\" }]"),
        "4:82",
        "invalid `docker.swarm-service` step: mounts: type `nfs`: volume, bind or tmpfs",
    );
    refused(
        &swarm("secrets = [42]"),
        "4:83",
        "invalid `docker.swarm-service` step: secrets: a secret is its name or { source = NAME, target = FILE }, not integer",
    );
}
