//! Malformed settings are refused when `deploy.toml` loads (or, for a step
//! body, when the plan is built after `${…}` is filled in): `deploy plan`
//! and `deploy run` exit 2 at `deploy.toml:LINE:COLUMN`, naming the key, what
//! it got and what it accepts. Nothing here needs a network or a peer.

mod common;

use assert_cmd::Command;

/// An environment and a task the cases below add to or change.
const TASK: &str = "[tasks.t]\nsteps = [{ exec = { cmd = [\"true\"] } }]\n";

/// Runs `deploy plan e t` and `deploy run e t` on `config`; both must exit 2
/// with `deploy.toml:{at}: {message}` (and the caret snippet) on stderr.
fn refused(config: &str, at: &str, message: &str) {
    let line: usize = at
        .split(':')
        .next()
        .and_then(|l| l.parse().ok())
        .expect("LINE:COLUMN");
    let source = config.lines().nth(line - 1).expect("the line exists");
    for (sub, err) in common::refused_by_both(config, at, message) {
        assert!(
            err.contains(&format!("{line} | {source}")),
            "{sub}: no snippet in {err}"
        );
    }
}

fn with_ssh(setting: &str) -> String {
    format!("[ssh]\n{setting}\n\n[environments.e]\nhosts = [\"web1\"]\n\n{TASK}")
}

#[test]
fn ssh_host_keys() {
    refused(
        &with_ssh("host_keys = \"yes\""),
        "2:13",
        r#"[ssh] host_keys: "yes" is not a host-key policy (expected "strict", "accept-new" or "off")"#,
    );
}

#[test]
fn ssh_connect_timeout() {
    refused(
        &with_ssh("connect_timeout = \"ten\""),
        "2:19",
        r#"[ssh] connect_timeout: "ten" is not a duration (expected e.g. "10s", "500ms", "2m")"#,
    );
    refused(
        &with_ssh("connect_timeout = 10"),
        "2:19",
        r#"[ssh] connect_timeout: 10 is not a duration (write it as a string with a unit: "10s", "10ms"; expected e.g. "10s", "500ms", "2m")"#,
    );
}

#[test]
fn ssh_handshakes() {
    for (value, got) in [
        ("0", "0 is too few"),
        ("-2", "-2 is too few"),
        ("\"many\"", "\"many\" is not a number"),
    ] {
        refused(
            &with_ssh(&format!("handshakes = {value}")),
            "2:14",
            &format!("[ssh] handshakes: {got} (expected a whole number from 1, e.g. 8)"),
        );
    }
}

#[test]
fn ssh_max_connections() {
    refused(
        &with_ssh("max_connections = 0"),
        "2:19",
        "[ssh] max_connections: 0 is too few (expected a whole number from 1, e.g. 4000)",
    );
    refused(
        &with_ssh("max_connections = \"lots\""),
        "2:19",
        "[ssh] max_connections: \"lots\" is not a number (expected a whole number from 1, e.g. 4000)",
    );
}

#[test]
fn ssh_port_and_proxy_jump() {
    refused(
        &with_ssh("port = 70000"),
        "2:8",
        "[ssh] port: 70000 is out of range (expected a port from 1 to 65535, e.g. 22)",
    );
    refused(
        &with_ssh("proxy_jump = \"deploy@bastion:ssh\""),
        "2:14",
        r#"[ssh] proxy_jump: hop "deploy@bastion:ssh" is not a host: the port "ssh" is not a number (expected "name", "name:port" or "user@name:port", with a port from 1 to 65535)"#,
    );
}

const HOST_EXPECTED: &str =
    r#"(expected "name", "name:port" or "user@name:port", with a port from 1 to 65535)"#;

#[test]
fn host_with_a_port_that_is_not_a_number() {
    refused(
        &format!("[environments.e]\nhosts = [\"web0\", \"web1:notaport\"]\n{TASK}"),
        "2:18",
        &format!(
            r#"[environments.e] hosts: "web1:notaport" is not a host: the port "notaport" is not a number {HOST_EXPECTED}"#
        ),
    );
}

#[test]
fn host_with_an_empty_name() {
    refused(
        &format!("[environments.e]\nhosts = [\"\"]\n{TASK}"),
        "2:10",
        &format!(r#"[environments.e] hosts: "" is not a host: the name is empty {HOST_EXPECTED}"#),
    );
    refused(
        &format!("[environments.e]\nroles = {{ web = [\":2222\"] }}\n{TASK}"),
        "2:18",
        &format!(
            r#"[environments.e] roles.web: ":2222" is not a host: the name is empty {HOST_EXPECTED}"#
        ),
    );
}

#[test]
fn host_with_a_port_out_of_range() {
    refused(
        &format!("[environments.e]\nroles = {{ web = [\"web1:70000\"] }}\n{TASK}"),
        "2:18",
        &format!(
            r#"[environments.e] roles.web: "web1:70000" is not a host: the port 70000 is out of range {HOST_EXPECTED}"#
        ),
    );
}

const URL_EXPECTED: &str = r#"(expected an http or https URL, e.g. "https://example.com/health")"#;

#[test]
fn http_check_url_that_does_not_parse() {
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [\n  { http-check = { url = \"http://exa mple/\" } },\n]\n",
        "5:26",
        &format!(
            r#"invalid `http-check` step: url: "http://exa mple/" is not a URL: invalid uri character {URL_EXPECTED}"#
        ),
    );
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [{ http-check = { url = \"ftp://web1/\" } }]\n",
        "4:33",
        &format!(
            r#"invalid `http-check` step: url: "ftp://web1/" is not a URL: the scheme "ftp" is not http or https {URL_EXPECTED}"#
        ),
    );
}

#[test]
fn http_check_url_after_interpolation() {
    // The URL is judged once `${port}` is filled in; the error still points
    // at the step's `url` as written.
    refused(
        "[vars]\nport = \"80x\"\n[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [\n  { http-check = { url = \"http://${host}:${port}/\" } },\n]\n",
        "7:26",
        &format!(
            r#"invalid `http-check` step: url: "http://{{host}}:80x/" is not a URL: the port "80x" is not a number from 1 to 65535 {URL_EXPECTED}"#
        ),
    );
}

const DURATION_EXPECTED: &str = r#"(expected e.g. "10s", "500ms", "2m")"#;

#[test]
fn step_durations() {
    let env = "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\n";
    refused(
        &format!("{env}steps = [{{ exec = {{ cmd = [\"true\"] }}, timeout = \"ten\" }}]\n"),
        "4:49",
        &format!(r#"step timeout: "ten" is not a duration {DURATION_EXPECTED}"#),
    );
    refused(
        &format!(
            "{env}steps = [{{ exec = {{ cmd = [\"true\"] }}, retries = 3, backoff = \"2x\" }}]\n"
        ),
        "4:62",
        &format!(r#"step backoff: "2x" is not a duration {DURATION_EXPECTED}"#),
    );
    refused(
        &format!(
            "{env}steps = [{{ http-check = {{ url = \"http://web1/\", interval = \"1 sec\" }} }}]\n"
        ),
        "4:60",
        &format!(
            r#"invalid `http-check` step: interval: "1 sec" is not a duration {DURATION_EXPECTED}"#
        ),
    );
    refused(
        &format!("{env}steps = [{{ http-check = {{ url = \"http://web1/\", timeout = 60 }} }}]\n"),
        "4:59",
        r#"invalid `http-check` step: timeout: 60 is not a duration (write it as a string with a unit: "60s""#,
    );
}

#[test]
fn a_docker_step_duration_points_at_its_field() {
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [\n  { docker.ensure-running = { name = \"web\", image = \"web:1\", healthcheck = { test = [\"CMD\", \"true\"], interval = \"often\" } } },\n]\n",
        "5:113",
        &format!(
            r#"invalid `docker.ensure-running` step: healthcheck.interval: "often" is not a duration {DURATION_EXPECTED}"#
        ),
    );
}

#[test]
fn a_mode_that_is_not_octal() {
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [\n  { write-file = { path = \"/srv/app/key\", content = \"x\", mode = \"0999\" } },\n]\n",
        "5:65",
        r#"invalid `write-file` step: mode: "0999" is not a file mode (expected octal digits, e.g. "0640", "0755" or "0o600", at most "7777")"#,
    );
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [{ write-file = { path = \"/srv/app/key\", content = \"x\", mode = 0o640 } }]\n",
        "4:72",
        r#"invalid `write-file` step: mode: the number 416 is not a file mode (write it as a string: "0640" if you meant 0o640; expected octal digits"#,
    );
}

#[test]
fn a_role_no_environment_defines() {
    // `db` is a role of no host in any environment (staging's list is
    // empty); the error points at the step and suggests the nearest role.
    refused(
        "[environments.e]\nroles = { web = [\"web1\"], dbs = [\"db1\"] }\n[environments.staging]\nroles = { db = [] }\n[tasks.t]\nsteps = [\n  { exec = { cmd = [\"true\"] } },\n  { exec = { cmd = [\"migrate\"] }, roles = [\"db\"] },\n]\n",
        "8:3",
        "unknown role `db` (did you mean `dbs`?): no environment gives it to a host (roles: dbs, web)",
    );
}

// Parameters and variables (issue 9).

#[test]
fn a_required_parameter_not_given() {
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nparams = { app = { required = true, description = \"the app to ship\" } }\nsteps = [{ exec = { cmd = [\"echo\", \"${app}\"] } }]\n",
        "4:18",
        "task `t` needs the parameter `app` (the app to ship): give it as app=VALUE",
    );
    // A parameter of a task `t` runs is needed by `t` too.
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [{ task = \"u\" }]\n[tasks.u]\nparams = { app = { required = true } }\nsteps = [{ exec = { cmd = [\"echo\", \"${app}\"] } }]\n",
        "6:18",
        "task `u` needs the parameter `app`: give it as app=VALUE",
    );
}

#[test]
fn a_parameter_table_that_is_not_one() {
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nparams = { app = { required = true, default = \"shop\" } }\n",
        "4:18",
        "a parameter cannot be both required (`required = true` or a `prompt`) and have a `default`",
    );
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nparams = { app = { requird = true } }\n",
        "4:18",
        "a parameter table takes `default`, `required`, `description`, `prompt` and `secret`: unknown field `requird`",
    );
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nparams = { app = { description = \"what\" } }\n",
        "4:18",
        "a parameter table needs `default = ...`, `required = true` or a `prompt`",
    );
}

#[test]
fn a_typed_field_filled_with_a_value_of_another_type() {
    refused(
        "[vars]\nlines = \"fifty\"\n[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [\n  { docker.logs = { service = \"web\", tail = \"${lines}\" } },\n]\n",
        "7:45",
        "invalid `docker.logs` step: tail: \"fifty\" (from `${lines}`) is not a whole number",
    );
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nparams = { delete = \"yes\" }\nsteps = [{ sync = { from = \"/dist\", to = \"/srv\", delete = \"${delete}\" } }]\n",
        "5:59",
        "invalid `sync` step: delete: \"yes\" (from `${delete}`) is not true or false",
    );
}

#[test]
fn a_transform_that_does_not_exist_or_parse() {
    let config = |expr: &str| {
        format!(
            "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [\n  {{ exec = {{ cmd = [\"echo\", '{expr}'] }} }},\n]\n"
        )
    };
    const KNOWN: &str =
        r#"(transforms: default("value"), lower, replace("from", "to"), sanitize_tag, upper)"#;
    refused(
        &config("${docker_tag | lowr}"),
        "5:30",
        &format!(
            "${{docker_tag | lowr}}: unknown transform `lowr` (did you mean `lower`?) {KNOWN}"
        ),
    );
    refused(
        &config("${docker_tag | replace(\"/\")}"),
        "5:30",
        &format!(
            r#"${{docker_tag | replace("/")}}: `replace` takes 2 arguments: replace("from", "to") {KNOWN}"#
        ),
    );
    // Refused at load, in a task that is not the one asked for.
    refused(
        &format!(
            "{}[tasks.other]\nsteps = [{{ exec = {{ cmd = ['${{x | default(develop)}}'] }} }}]\n",
            config("fine")
        ),
        "8:29",
        r#"${x | default(develop)}: arguments are quoted strings, e.g. ("/", "-")"#,
    );
    refused(
        "[vars]\ntag = \"${branch | sanitize_tag('x')}\"\n[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\n",
        "2:8",
        "${branch | sanitize_tag('x')}: `sanitize_tag` takes 0 arguments: sanitize_tag",
    );
}

#[test]
fn a_transform_on_a_run_time_value_or_secret() {
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [{ exec = { cmd = [\"echo\", \"${release | lower}\"] } }]\n",
        "4:37",
        "${release | lower}: `${release}` is filled in at run time, so it takes no transforms (transforms apply to config variables)",
    );
    refused(
        "[secrets.db]\nenv = \"DB\"\n[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [{ exec = { cmd = [\"echo\", \"${secret.db|upper}\"] } }]\n",
        "6:37",
        "${secret.db|upper}: `${secret.db}` is filled in at run time, so it takes no transforms",
    );
}

#[test]
fn a_variable_named_like_a_built_in() {
    for (setting, at, name) in [
        ("[vars]\nrelease = \"1.0\"\n", "2:1", "release"),
        ("[vars]\nproject = \"x\"\nhost = \"web1\"\n", "3:1", "host"),
        ("[vars]\ngit_tag = \"v1\"\n", "2:1", "git_tag"),
    ] {
        refused(
            &format!("{setting}[environments.e]\nhosts = [\"web1\"]\n{TASK}"),
            at,
            &format!("`{name}` is a built-in variable ("),
        );
    }
    refused(
        &format!(
            "[environments.e]\nhosts = [\"web1\"]\nvars = {{ environment = \"prod\" }}\n{TASK}"
        ),
        "3:10",
        "`environment` is a built-in variable (the environment the run is for); a variable or parameter cannot take its name (built-ins: ci.branch, ci.ref_tag, ci.sha, ci.tag, config_dir, environment, git_branch, git_branch_tag, git_commit, git_short_commit, git_tag, host, release, task)",
    );
    refused(
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nparams = { task = \"x\" }\n",
        "4:12",
        "`task` is a built-in variable (the task that runs)",
    );
}

/// A task reference says only what applies: an unknown key, a parameter
/// the called task does not declare, or `roles` that would not reach a
/// step choosing its own hosts are refused where they are written.
#[test]
fn a_task_reference_with_what_does_not_apply() {
    let env =
        "[environments.e]\nhosts = [\"web1\"]\nroles = { web = [\"web1\"], db = [\"web1\"] }\n";
    let callee = "[tasks.stop]\nparams = { instance = \"staging\" }\nsteps = [{ exec = { cmd = [\"stop\", \"${instance}\"] }, roles = [\"db\"] }]\n";
    refused(
        &format!("{env}[tasks.t]\nsteps = [{{ task = \"stop\", role = [\"web\"] }}]\n{callee}"),
        "5:27",
        "a task reference takes task, params, roles, hosts, once, when, not `role` (did you mean `roles`?)",
    );
    refused(
        &format!(
            "{env}[tasks.t]\nsteps = [{{ task = \"stop\", params = {{ instanse = \"prod\" }} }}]\n{callee}"
        ),
        "5:38",
        "unknown parameter `instanse` (did you mean `instance`?) for task `stop` (parameters: instance)",
    );
    refused(
        &format!("{env}[tasks.t]\nsteps = [{{ task = \"stop\", roles = [\"web\"] }}]\n{callee}"),
        "5:27",
        "the reference to task `stop` chooses hosts for every step it runs, but one of them (line 8) has its own roles (db): choose on the reference or on the step",
    );
}

/// A `when` that is not a comparison, a probe or true/false is refused
/// when the file loads; one using a run-time value when the plan is built.
#[test]
fn a_when_that_does_not_parse() {
    let env = "[environments.e]\nhosts = [\"web1\"]\n";
    refused(
        &format!(
            "{env}[tasks.t]\nsteps = [{{ exec = {{ cmd = [\"x\"] }}, when = \"${{a}} is set\" }}]\n"
        ),
        "4:43",
        "when: \"${a} is set\" is not a comparison (expected `A == B` or `A != B`",
    );
    refused(
        &format!(
            "{env}[tasks.t]\nsteps = [{{ exec = {{ cmd = [\"x\"] }}, when = {{ exists = \"/srv\" }} }}]\n"
        ),
        "4:43",
        "when: expected a comparison",
    );
    refused(
        &format!(
            "{env}[tasks.t]\nsteps = [{{ exec = {{ cmd = [\"x\"] }}, when = \"${{release}} != ''\" }}]\n"
        ),
        "4:43",
        "when: \"${release} != ''\" is decided when the plan is built, so it cannot use a value filled in at run time",
    );
}

/// `[ci]` is checked when deploy.toml loads, whichever command runs.
fn with_ci(ci: &str) -> String {
    format!("[ci]\n{ci}\n\n[environments.e]\nhosts = [\"web1\"]\n\n{TASK}")
}

#[test]
fn ci_unknown_key() {
    refused(
        &with_ci("rules = []\non_nomatch = \"fail\""),
        "3:1",
        "unknown field `on_nomatch`, expected `rules` or `on_no_match`",
    );
}

#[test]
fn ci_rule_with_neither_branch_nor_tag() {
    refused(
        &with_ci("rules = [{ environment = \"e\" }]"),
        "2:10",
        "[ci] rules[0]: a rule needs `branch` or `tag` (a glob such as \"develop\" or \"v*\")",
    );
}

#[test]
fn ci_rule_with_an_environment_that_does_not_exist() {
    refused(
        &with_ci("rules = [{ tag = \"v*\", environment = \"production\" }]"),
        "2:38",
        "unknown environment `production` (environments: e)",
    );
}

#[test]
fn ci_rule_with_an_unknown_key() {
    refused(
        &with_ci("rules = [{ tags = \"v*\", environment = \"e\" }]"),
        "2:12",
        "unknown field `tags`, expected one of `branch`, `tag`, `environment`, `task`, `vars`",
    );
}

/// A `[secrets]` entry gives exactly one source: two, or none, is refused
/// when the file loads, at the entry.
#[test]
fn a_secret_with_two_sources_or_none() {
    let sources = "give exactly one of `env = \"VARIABLE\"`, `file = \"path\"`, `dotenv = { file = \"path\", key = \"KEY\" }`, `command = [\"program\", \"arg\"]`";
    refused(
        &format!(
            "[secrets.db]\nenv = \"DB\"\ncommand = [\"pass\", \"show\", \"db\"]\n[environments.e]\nhosts = [\"web1\"]\n{TASK}"
        ),
        "1:1",
        &format!("secret `db` has 2 sources (`env`, `command`): {sources}"),
    );
    refused(
        &format!("[secrets]\ndb = {{}}\n[environments.e]\nhosts = [\"web1\"]\n{TASK}"),
        "2:6",
        &format!("secret `db` has no source: {sources}"),
    );
    refused(
        &format!(
            "[secrets]\ndb = {{ command = [] }}\n[environments.e]\nhosts = [\"web1\"]\n{TASK}"
        ),
        "2:6",
        "secret `db`: `command` names no program",
    );
    refused(
        &format!(
            "[secrets]\ndb = {{ dotenv = {{ file = \".env\" }} }}\n[environments.e]\nhosts = [\"web1\"]\n{TASK}"
        ),
        "2:17",
        "missing field `key`",
    );
}

/// A secret on a command line (anyone on the host can read argv with `ps`)
/// is refused when the plan is built, at the step (or its `when`), saying
/// to pass it through `env` or `stdin`: an `exec` `cmd` or `shell` script
/// (the argv of `sh -c`), directly or through a variable, `docker.exec`
/// `cmd`, `docker.run` `command`, a `when` probe.
#[test]
fn a_secret_in_argv() {
    let head = "[secrets.db]\nenv = \"DB\"\n[vars]\ndsn = \"postgres://app:${secret.db}@db1/app\"\n[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nsteps = [\n";
    let advice = "is on the command line, where anyone on the host can read it (ps): pass it through `env` (\"$NAME\" in a script) or `stdin` instead";
    for (step, at, field) in [
        (
            "{ exec = { cmd = [\"psql\", \"-W\", \"${secret.db}\"] } },",
            "9:3",
            "exec.cmd",
        ),
        (
            "{ exec = { cmd = [\"psql\", \"${dsn}\"] } },",
            "9:3",
            "exec.cmd",
        ),
        (
            "{ exec = { shell = \"PGPASSWORD=${secret.db} psql\" } },",
            "9:3",
            "exec.shell",
        ),
        (
            "{ exec = { cmd = [\"migrate\"], unless = [\"check\", \"${secret.db}\"] } },",
            "9:3",
            "exec.unless",
        ),
        (
            "{ docker.exec = { container = \"web\", cmd = [\"psql\", \"${dsn}\"] } },",
            "9:3",
            "docker.exec.cmd",
        ),
        (
            "{ docker.run = { image = \"shop/web:1\", command = [\"migrate\", \"--db\", \"${dsn}\"] } },",
            "9:3",
            "docker.run.command",
        ),
    ] {
        refused(
            &format!("{head}  {step}\n]\n"),
            at,
            &format!("step `t.1`: a secret in `{field}` {advice}"),
        );
    }
    refused(
        &format!(
            "{head}  {{ exec = {{ cmd = [\"migrate\"] }}, when = {{ succeeds = [\"check\", \"${{secret.db}}\"] }} }},\n]\n"
        ),
        "9:42",
        &format!("a secret in `when.succeeds` {advice}"),
    );
    // A secret parameter is a secret too (given, so nothing is asked).
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("deploy.toml"),
        "[environments.e]\nhosts = [\"web1\"]\n[tasks.t]\nparams = { password = { prompt = \"Password\", secret = true } }\nsteps = [{ exec = { cmd = [\"./upload\", \"--password\", \"${password}\"] } }]\n",
    )
    .expect("write config");
    for sub in ["plan", "run"] {
        let out = Command::cargo_bin("deploy")
            .expect("deploy binary")
            .current_dir(dir.path())
            .env_remove("DEPLOY_CONFIG")
            .args([sub, "e", "t", "password=hunter2"])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sub}: {err}");
        let want = format!("deploy.toml:5:10: step `t.1`: a secret in `exec.cmd` {advice}");
        assert!(err.contains(&want), "{sub}: {err}");
        assert!(!err.contains("hunter2"), "{sub}: {err}");
    }
}

#[test]
fn a_lock_host_that_is_not_a_host() {
    refused(
        &format!("[environments.e]\nhosts = [\"web1\", \"web2\"]\nlock_host = \"web3\"\n{TASK}"),
        "3:13",
        "[environments.e] lock_host: `web3` is not one of its hosts (did you mean `web2`?) (hosts: web1, web2)",
    );
}

#[test]
fn a_ci_rule_giving_a_secret_parameter() {
    refused(
        "[ci]\nrules = [{ tag = \"v*\", environment = \"e\", vars = { password = \"x\" } }]\n\n[environments.e]\nhosts = [\"web1\"]\n\n[tasks.t]\nparams = { password = { prompt = \"Password\", secret = true } }\nsteps = [{ exec = { cmd = [\"true\"] } }]\n",
        "2:52",
        "[ci] rule vars: `password` is a secret parameter: a rule cannot give it (it would be written in deploy.toml); give it a `[secrets]` source",
    );
}

#[test]
fn a_backup_on_a_host_that_is_not_one() {
    refused(
        &format!(
            "[environments.e]\nhosts = [\"web1\", \"db1\"]\nbackup = {{ on = \"db2\", database = \"app\", user = \"app\", backup_dir = \"/srv/backups\" }}\n{TASK}"
        ),
        "3:10",
        "[environments.e] backup: `on = \"db2\"` is not one of its hosts (did you mean `db1`?) (hosts: web1, db1)",
    );
}
