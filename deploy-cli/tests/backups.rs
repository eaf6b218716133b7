//! `deploy backup`, `deploy backups`, `deploy restore` and `deploy
//! rollback --with-data` through the binary on a `transport = "local"`
//! environment, against a private PostgreSQL 15 cluster (see
//! `deploy_core::testing::postgres`): a run's `postgres.backup` step names
//! its backup in the release record; backups lists them with the release
//! that took each; changed rows come back with a restore (refused
//! unattended without --yes); an unknown id lists the ones there are; a
//! failing dump leaves no file; the password is nowhere in the state dir.
//!
//! Run: `cargo test -p deploy-cli --test backups`

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use deploy_core::testing::postgres::{PASSWORD, Postgres};

fn config(pg: &Postgres, backups: &Path) -> String {
    let fields = format!(
        "database = \"app\", user = \"app\", host = \"127.0.0.1\", port = {}, backup_dir = \"{}\", keep = 5, password = \"${{secret.db_password}}\"",
        pg.port,
        backups.display()
    );
    format!(
        r#"default_environment = "production"

[secrets]
db_password = {{ env = "TEST_DB_PASSWORD" }}

[environments.production]
transport = "local"
hosts = ["web1", "db1"]
backup = {{ on = "db1", {fields} }}

[environments.broken]
transport = "local"
hosts = ["db1"]
backup = {{ database = "nope", user = "app", host = "127.0.0.1", port = {port}, backup_dir = "{dir}", password = "${{secret.db_password}}" }}

[tasks.plain]
steps = [{{ exec = {{ cmd = ["true"] }} }}]

[tasks.deploy]
default = true
steps = [
  {{ postgres.backup = {{ {fields} }}, hosts = ["db1"] }},
  {{ exec = {{ cmd = ["true"] }} }},
]
"#,
        port = pg.port,
        dir = backups.display()
    )
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn deploy(&self, args: &[&str]) -> Output {
        Command::cargo_bin("deploy")
            .expect("deploy binary")
            .current_dir(self.dir.path())
            .env_remove("DEPLOY_CONFIG")
            .env("DEPLOY_STATE_DIR", self.dir.path().join(".state"))
            .env("TEST_DB_PASSWORD", PASSWORD)
            .args(args)
            .output()
            .expect("runs")
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn rows(pg: &Postgres) -> String {
    pg.psql("app", "select string_agg(body, ',' order by id) from notes")
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn grep_dir(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in walk(dir) {
        if std::fs::read(&entry).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle)) {
            hits.push(entry.display().to_string());
        }
    }
    hits
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn backup_list_restore_and_rollback_with_data() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    pg.psql(
        "app",
        "set role app; create table notes (id int primary key, body text); \
         insert into notes values (1, 'one'), (2, 'two')",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let backups = dir.path().join("backups");
    std::fs::write(dir.path().join("deploy.toml"), config(&pg, &backups)).expect("config");
    let project = Project { dir };

    // A release without a backup, then one whose step takes one.
    let out = project.deploy(&["run", "production", "plain", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let plain = project.deploy(&["releases", "production", "--json"]);
    let plain: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&plain.stdout)
            .lines()
            .next()
            .expect("present"),
    )
    .expect("json");
    let plain_id = plain["id"].as_str().expect("present").to_owned();
    let out = project.deploy(&["run", "production", "deploy", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let releases = project.deploy(&["releases", "production", "--json"]);
    let newest: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&releases.stdout)
            .lines()
            .next()
            .expect("present"),
    )
    .expect("json");
    let release_id = newest["id"].as_str().expect("present").to_owned();
    let db1 = newest["records"]
        .as_array()
        .expect("present")
        .iter()
        .find(|r| r["host"] == "db1")
        .expect("db1's record")
        .clone();
    let taken = db1["backups"][0]
        .as_str()
        .expect("the record names the backup")
        .to_owned();

    // `deploy backup`: one more, by the command.
    pg.psql("app", "insert into notes values (3, 'three')");
    let out = project.deploy(&["backup", "production"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("backed up app on db1"),
        "{}",
        text(&out)
    );

    let out = project.deploy(&["backups", "production", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let listed: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed[0]["id"].as_str() > listed[1]["id"].as_str(),
        "newest first"
    );
    assert_eq!(
        listed[0]["release"],
        serde_json::Value::Null,
        "taken by deploy backup"
    );
    assert_eq!(listed[1]["file"].as_str(), Some(taken.as_str()));
    assert_eq!(listed[1]["release"].as_str(), Some(release_id.as_str()));
    assert!(listed[1]["size"].as_u64().expect("present") > 0);
    let text_list = text(&project.deploy(&["backups"]));
    assert!(
        text_list.contains(&format!("release {release_id}")),
        "{text_list}"
    );
    let newest_backup = listed[0]["id"].as_str().expect("present").to_owned();

    // Rows change; a restore without --yes and no terminal is refused.
    pg.psql(
        "app",
        "delete from notes where id = 1; update notes set body = 'TWO' where id = 2",
    );
    let out = project.deploy(&["restore", "production", &newest_backup]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("database app on db1"), "{}", text(&out));
    assert_eq!(rows(&pg), "TWO,three", "nothing restored");
    let out = project.deploy(&["restore", "production", &newest_backup, "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("restored app on db1 from backup"),
        "{}",
        text(&out)
    );
    assert_eq!(rows(&pg), "one,two,three");

    // An unknown id lists the ones there are.
    let out = project.deploy(&["restore", "production", "20000101T000000.000Z", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&newest_backup)
            && text(&out).contains("no backup 20000101T000000.000Z"),
        "{}",
        text(&out)
    );

    // A failing dump leaves no file.
    let before = files(&backups);
    let out = project.deploy(&["backup", "broken"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("\"nope\" does not exist"),
        "{}",
        text(&out)
    );
    assert_eq!(files(&backups), before);

    // rollback --with-data: the live release's backup (rows one,two),
    // and the code of the release before.
    pg.psql("app", "delete from notes");
    let out = project.deploy(&["rollback", "production", &plain_id, "--with-data", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rows(&pg), "one,two", "{}", text(&out));
    // Now the live release is the rollback, which took no backup.
    let out = project.deploy(&[
        "rollback",
        "production",
        &release_id,
        "--with-data",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("took no backup"), "{}", text(&out));

    // The audit log has each command; the password is nowhere in the state.
    let audit = text(&project.deploy(&["audit", "production", "-n", "50"]));
    for command in ["backup", "backups", "restore", "rollback --with-data"] {
        assert!(audit.contains(command), "{command} in {audit}");
    }
    let state = project.dir.path().join(".state");
    assert!(
        grep_dir(&state, PASSWORD).is_empty(),
        "{:?}",
        grep_dir(&state, PASSWORD)
    );
    for file in files(&backups) {
        let meta = std::fs::metadata(backups.join(&file)).expect("present");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
    }
}
