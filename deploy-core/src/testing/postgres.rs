//! A private PostgreSQL cluster for tests of `postgres.backup`, `deploy
//! backup` and `deploy restore` (Debian's `postgresql`, 15): `initdb` into a
//! temp dir, then `postgres -D DIR -p PORT -k DIR` listening on 127.0.0.1
//! only, both as the `postgres` user (PostgreSQL refuses to run as root).
//! It has a role `app` with password [`PASSWORD`] (asked over TCP:
//! `scram-sha-256`) owning a database `app`. Stopped (SIGTERM to `runuser`
//! and `postgres`: a smart shutdown) and waited for on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::server::{Server, Stop};

/// The password of role `app`.
pub const PASSWORD: &str = "pg-s3cret-4-tests";

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running cluster.
pub struct Postgres {
    // Declared first: stopped before its directory goes.
    _server: Server,
    /// Its directory (data, socket, log).
    pub dir: tempfile::TempDir,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
}

impl Postgres {
    /// Starts one; `None`, said loudly, when PostgreSQL 15 is not installed
    /// outside CI (under `CI=true` that fails the test).
    pub fn start() -> Option<Postgres> {
        if !Path::new(BIN).join("postgres").exists() {
            let message = "no /usr/lib/postgresql/15/bin/postgres: run scripts/install-peers (it installs postgresql)";
            assert!(std::env::var("CI").is_err(), "{message}");
            eprintln!("SKIPPED, {message}");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(chown.success(), "chown the cluster's directory");
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "postgres-only\n").expect("pwfile");
        let _ = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&pwfile)
            .status();
        let initdb = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(BIN).join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(
            initdb.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = super::free_port();
        let log = dir.path().join("postgres.log");
        let server = Server::spawn(
            "postgres",
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(Path::new(BIN).join("postgres"))
                .arg("-D")
                .arg(&data)
                .arg("-p")
                .arg(port.to_string())
                .arg("-k")
                .arg(dir.path())
                .args(["-c", "listen_addresses=127.0.0.1"])
                .stdout(Stdio::null())
                .stderr(super::server::log_file(&log)),
            Stop::TermAll,
        )
        .expect("postgres starts");
        let postgres = Postgres {
            _server: server,
            dir,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while postgres.try_psql("postgres", "select 1").is_err() {
            assert!(
                Instant::now() < deadline,
                "postgres did not answer: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        postgres.psql(
            "postgres",
            &format!("create role app login password '{PASSWORD}'"),
        );
        postgres.psql("postgres", "create database app owner app");
        Some(postgres)
    }

    /// Its socket directory (`host` for a connection without TCP).
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Runs `sql` in `database` as the superuser over the socket; its
    /// output (`psql -At`), or a panic saying psql's error.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        self.try_psql(database, sql)
            .unwrap_or_else(|e| panic!("psql {sql:?}: {e}"))
    }

    /// As [`Postgres::psql`], psql's error as an `Err`.
    pub fn try_psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(Path::new(BIN).join("psql"))
            .arg("-h")
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .args([
                "-U",
                "postgres",
                "-d",
                database,
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}
