//! `postgres.backup`: a PostgreSQL database dumped with `pg_dump -Fc`
//! (custom format: compressed, what `pg_restore` reads) into a timestamped
//! file in a backup directory on the host, as the ICEkit guide does before
//! it migrates. `pg_dump` runs on the host, or in the database's container
//! (a compose service or a container's name) through the engine's exec
//! API as `docker.exec` does. The password goes through the environment
//! (`PGPASSWORD`), never argv. The file is written under a temporary name
//! and renamed only when `pg_dump` succeeded (a failed dump leaves no file
//! and says pg_dump's stderr), mode 0600; the newest `keep` are kept.
//!
//! Beside it, what `deploy backups` and `deploy restore` use:
//! [`list_backups`] (the backups in the directory, newest first) and
//! [`PostgresRestore`] (`pg_restore --clean --if-exists
//! --single-transaction`, so a restore that fails leaves the database as
//! it was).

use std::collections::BTreeMap;

use async_trait::async_trait;
use deploy_core::command::{Command, quote};
use deploy_core::step::{Applied, Description, Kind, Step, StepContext, StepError};
use deploy_core::target::{ExitStatus, OutputSink, OutputStream, Target};
use deploy_core::text::Text;
use serde::Deserialize;

use super::exec::{Resolved, Where};
use super::open_engine;

/// How many backups a directory keeps by default.
const DEFAULT_KEEP: usize = 7;

/// A database dumped into a backup directory.
///
/// From `deploy.toml`: `{ postgres.backup = { database = "app", user =
/// "app", service = "db", backup_dir = "/srv/backups", keep = 7, password =
/// "${secret.db_password}" } }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawBackup")]
pub struct PostgresBackup {
    conn: Connection,
    backup_dir: Text,
    keep: usize,
}

/// How to reach the database: the same for a dump and a restore.
#[derive(Clone, Debug)]
struct Connection {
    database: Text,
    user: Text,
    password: Option<Text>,
    host: Option<Text>,
    port: Option<u16>,
    place: Option<Where>,
    engine: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackup {
    database: Text,
    user: Text,
    password: Option<Text>,
    host: Option<Text>,
    port: Option<u16>,
    container: Option<Text>,
    service: Option<Text>,
    project: Option<Text>,
    engine: Option<Text>,
    backup_dir: Text,
    #[serde(default = "default_keep")]
    keep: usize,
}

fn default_keep() -> usize {
    DEFAULT_KEEP
}

impl TryFrom<RawBackup> for PostgresBackup {
    type Error = String;

    fn try_from(raw: RawBackup) -> Result<Self, String> {
        let place = match (raw.container, raw.service, raw.project) {
            (Some(container), None, None) => Some(Where::Container(container)),
            (None, Some(service), project) => Some(Where::Service { service, project }),
            (Some(_), Some(_), _) => return Err("name `container` or `service`, not both".into()),
            (_, None, Some(_)) => return Err("`project` goes with `service`".into()),
            (None, None, None) => None,
        };
        if place.is_none() && raw.engine.is_some() {
            return Err("`engine` goes with `container` or `service`".into());
        }
        if raw.keep == 0 {
            return Err("keep: at least 1 (the backup just taken)".into());
        }
        Ok(PostgresBackup {
            conn: Connection {
                database: raw.database,
                user: raw.user,
                password: raw.password,
                host: raw.host,
                port: raw.port,
                place,
                engine: raw.engine,
            },
            backup_dir: raw.backup_dir,
            keep: raw.keep,
        })
    }
}

impl PostgresBackup {
    /// Dumps `database` as `user` on the host into `backup_dir`.
    pub fn new(database: &str, user: &str, backup_dir: &str) -> PostgresBackup {
        PostgresBackup {
            conn: Connection {
                database: Text::from(database),
                user: Text::from(user),
                password: None,
                host: None,
                port: None,
                place: None,
                engine: None,
            },
            backup_dir: Text::from(backup_dir),
            keep: DEFAULT_KEEP,
        }
    }

    /// The step from its fields as `deploy.toml` gives them (an
    /// environment's `backup` setting); the error says which is wrong.
    pub fn from_toml(value: toml::Value) -> Result<PostgresBackup, String> {
        value
            .try_into()
            .map_err(|e: toml::de::Error| e.message().to_owned())
    }

    /// The password (`${secret.NAME}`), given to pg_dump as `PGPASSWORD`.
    #[must_use]
    pub fn password(mut self, password: impl Into<Text>) -> PostgresBackup {
        self.conn.password = Some(password.into());
        self
    }

    /// The server's host (or socket directory) and port.
    #[must_use]
    pub fn server(mut self, host: &str, port: Option<u16>) -> PostgresBackup {
        self.conn.host = Some(Text::from(host));
        self.conn.port = port;
        self
    }

    /// Runs pg_dump in this container.
    #[must_use]
    pub fn in_container(mut self, container: &str) -> PostgresBackup {
        self.conn.place = Some(Where::Container(Text::from(container)));
        self
    }

    /// Runs pg_dump in the running container of this compose service.
    #[must_use]
    pub fn in_service(mut self, service: &str, project: Option<&str>) -> PostgresBackup {
        self.conn.place = Some(Where::Service {
            service: Text::from(service),
            project: project.map(Text::from),
        });
        self
    }

    /// Keeps the newest `keep` backups of the database.
    #[must_use]
    pub fn keep(mut self, keep: usize) -> PostgresBackup {
        self.keep = keep.max(1);
        self
    }

    /// The restore of backup `id` (one [`list_backups`] gave) with the same
    /// connection settings.
    pub fn restore(&self, id: &str) -> PostgresRestore {
        PostgresRestore {
            conn: self.conn.clone(),
            backup_dir: self.backup_dir.clone(),
            id: id.to_owned(),
        }
    }

    /// The backups of its database in its directory on `ctx`'s host, newest
    /// first.
    pub async fn list(&self, ctx: &StepContext<'_>) -> Result<Vec<Backup>, StepError> {
        let dir = ctx.host_path(&ctx.resolve(&self.backup_dir)?).await?;
        let database = ctx.resolve(&self.conn.database)?;
        list_backups(ctx.target.as_ref(), &dir, &database).await
    }

    /// Where it runs pg_dump, for people: `service db`, `the host`.
    pub fn place(&self) -> String {
        match &self.conn.place {
            Some(place) => place.to_string(),
            None => "the host".to_owned(),
        }
    }

    /// The database's name as written (it may hold `${…}`).
    pub fn database(&self) -> String {
        self.conn.database.to_string()
    }
}

/// One backup file in a backup directory.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Backup {
    /// Its id: the UTC time it was taken, as release ids are written
    /// (`20261203T120000.000Z`).
    pub id: String,
    /// Its file name in the directory (`app-20261203T120000.000Z.dump`).
    pub file: String,
    /// Its full path on the host.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

impl Backup {
    /// The time it was taken, for people: `2026-12-03 12:00:00 UTC`.
    pub fn time(&self) -> String {
        let id = &self.id;
        if id.len() >= 15 && id.as_bytes().get(8) == Some(&b'T') {
            format!(
                "{}-{}-{} {}:{}:{} UTC",
                &id[0..4],
                &id[4..6],
                &id[6..8],
                &id[9..11],
                &id[11..13],
                &id[13..15]
            )
        } else {
            id.clone()
        }
    }
}

/// `app` for a file name: what is not a letter, digit, `_` or `.` is `_`.
fn file_word(database: &str) -> String {
    database
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The shell pattern of the ids a backup directory holds.
const ID_PATTERN: &str = "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9]*Z";

/// The backups of `database` in `dir` on `target`, newest first (none
/// when the directory does not exist). Files under a temporary name (a
/// dump that did not finish) are not backups.
pub async fn list_backups(
    target: &dyn Target,
    dir: &str,
    database: &str,
) -> Result<Vec<Backup>, StepError> {
    let word = file_word(database);
    let script = format!(
        "cd {} 2>/dev/null || exit 0; for f in {word}-{ID_PATTERN}.dump; do \
         [ -f \"$f\" ] && stat -c '%s %n' -- \"$f\"; done; exit 0",
        quote(dir)
    );
    let lines = Lines::default();
    let status = target.run(&Command::shell(script), &lines).await?;
    let (stdout, stderr) = lines.take();
    if !status.success() {
        return Err(StepError::Failed(format!(
            "cannot list the backups in {dir}: {}",
            stderr.join(" ")
        )));
    }
    let prefix = format!("{word}-");
    let mut backups: Vec<Backup> = stdout
        .iter()
        .filter_map(|line| {
            let (size, file) = line.split_once(' ')?;
            let id = file.strip_prefix(&prefix)?.strip_suffix(".dump")?;
            Some(Backup {
                id: id.to_owned(),
                file: file.to_owned(),
                path: format!("{}/{file}", dir.trim_end_matches('/')),
                size: size.parse().ok()?,
            })
        })
        .collect();
    backups.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(backups)
}

impl Connection {
    /// pg_dump's or pg_restore's connection options (no password: that is
    /// `PGPASSWORD`).
    fn options(&self, ctx: &StepContext<'_>) -> Result<Vec<String>, StepError> {
        let mut argv = vec!["--no-password".to_owned()];
        if let Some(host) = &self.host {
            argv.push(format!("--host={}", ctx.resolve(host)?));
        }
        if let Some(port) = self.port {
            argv.push(format!("--port={port}"));
        }
        argv.push(format!("--username={}", ctx.resolve(&self.user)?));
        argv.push(format!("--dbname={}", ctx.resolve(&self.database)?));
        Ok(argv)
    }

    fn env(&self, ctx: &StepContext<'_>) -> Result<BTreeMap<String, String>, StepError> {
        let mut env = BTreeMap::new();
        if let Some(password) = &self.password {
            env.insert("PGPASSWORD".to_owned(), ctx.resolve(password)?);
        }
        Ok(env)
    }

    fn resolved_place(&self, ctx: &StepContext<'_>) -> Result<Option<Resolved>, StepError> {
        Ok(match &self.place {
            None => None,
            Some(Where::Container(name)) => Some(Resolved::Container(ctx.resolve(name)?)),
            Some(Where::Service { service, project }) => Some(Resolved::Service {
                service: ctx.resolve(service)?,
                project: project.as_ref().map(|p| ctx.resolve(p)).transpose()?,
            }),
        })
    }

    fn secrets_in_argv(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        for (field, text) in [
            ("database", Some(&self.database)),
            ("user", Some(&self.user)),
            ("host", self.host.as_ref()),
        ] {
            if text.is_some_and(Text::has_secret) {
                fields.push(field);
            }
        }
        fields
    }

    fn describe_fields(&self, description: Description) -> Description {
        let server = match (&self.host, self.port) {
            (Some(host), Some(port)) => Some(format!("{host}:{port}")),
            (Some(host), None) => Some(host.to_string()),
            (None, Some(port)) => Some(format!("port {port}")),
            (None, None) => None,
        };
        description
            .field("user", self.user.to_string())
            .field_opt("server", server)
            .field_opt(
                "password",
                self.password
                    .as_ref()
                    .map(|p| format!("{p} (as PGPASSWORD)")),
            )
            .field_opt("engine", self.engine.as_ref())
    }
}

fn place_of(place: Option<&Where>) -> String {
    place.map_or_else(|| "on the host".to_owned(), |w| format!("in {w}"))
}

impl Kind for PostgresBackup {
    const KIND: &'static str = "postgres.backup";
}

#[async_trait]
impl Step for PostgresBackup {
    fn secrets_in_argv(&self) -> Vec<&'static str> {
        self.conn.secrets_in_argv()
    }

    fn describe(&self) -> Description {
        let summary = format!(
            "back up database {} (pg_dump -Fc {}) into {}, keeping the newest {}",
            self.conn.database,
            place_of(self.conn.place.as_ref()),
            self.backup_dir,
            self.keep
        );
        self.conn.describe_fields(Description::new(summary))
    }

    async fn is_satisfied(&self, _ctx: &StepContext<'_>) -> Result<bool, StepError> {
        // A backup is of the data as it is now: never already done.
        Ok(false)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let dir = ctx.host_path(&ctx.resolve(&self.backup_dir)?).await?;
        let database = ctx.resolve(&self.conn.database)?;
        let word = file_word(&database);
        // The time now, not `${release}`: a rollback runs as the release it
        // puts back, whose backup must not be overwritten.
        let id = deploy_core::RunValues::release_now();
        let file = format!("{word}-{id}.dump");
        let d = quote(&dir);
        let tmp = quote(&format!(".{file}.tmp-{}", std::process::id()));
        let name = quote(&file);
        let prune = format!(
            "for f in {word}-{ID_PATTERN}.dump; do [ -f \"$f\" ] && echo \"$f\"; done | sort -r | \
             tail -n +{} | while read -r old; do rm -f -- \"$old\"; done",
            self.keep + 1
        );
        let options = self.conn.options(ctx)?;
        let env = self.conn.env(ctx)?;
        match self.conn.resolved_place(ctx)? {
            None => {
                let mut argv = vec!["pg_dump".to_owned(), "--format=custom".to_owned()];
                argv.extend(options);
                let script = format!(
                    "set -e; umask 077; mkdir -p {d}; cd {d}; tmp={tmp}; \
                     [ ! -e {name} ] || {{ echo \"{file} exists already\" >&2; exit 1; }}; \
                     trap 'rm -f \"$tmp\"' EXIT; {} > \"$tmp\"; chmod 600 \"$tmp\"; \
                     mv -f \"$tmp\" {name}; trap - EXIT; {prune}",
                    deploy_core::command::quote_argv(&argv)
                );
                let mut cmd = Command::shell(script);
                for (k, v) in env {
                    cmd = cmd.env(k, v);
                }
                ctx.run(&cmd).await.map_err(|e| dump_failed(e, &database))?;
            }
            Some(place) => {
                let mut argv = vec!["pg_dump".to_owned(), "--format=custom".to_owned()];
                argv.extend(options);
                let engine = open_engine(ctx, self.conn.engine.as_ref()).await?;
                let container = place.name(&engine).await?;
                let out = engine
                    .exec_bytes(&container, &argv, &env, None, &Masked(ctx))
                    .await?;
                if out.exit_code != 0 {
                    return Err(StepError::Failed(format!(
                        "pg_dump of {database} in {container} failed (exit {}): {}",
                        out.exit_code,
                        ctx.masker.mask(&out.stderr_tail.join("\n"))
                    )));
                }
                // The dump is complete: write it under a temporary name,
                // then rename.
                let tmp_path = format!(
                    "{}/.{file}.tmp-{}",
                    dir.trim_end_matches('/'),
                    std::process::id()
                );
                let mkdir = Command::shell(format!("umask 077; mkdir -p {d}"));
                ctx.run(&mkdir).await?;
                ctx.target
                    .write_file(&tmp_path, &out.stdout, Some(0o600))
                    .await?;
                let script = format!(
                    "set -e; cd {d}; tmp={tmp}; trap 'rm -f \"$tmp\"' EXIT; \
                     [ ! -e {name} ] || {{ echo \"{file} exists already\" >&2; exit 1; }}; \
                     chmod 600 \"$tmp\"; mv -f \"$tmp\" {name}; trap - EXIT; {prune}"
                );
                ctx.run(&Command::shell(script)).await?;
            }
        }
        ctx.output.line(
            OutputStream::Stdout,
            &format!(
                "backed up {database} to {}/{file}",
                dir.trim_end_matches('/')
            ),
        );
        ctx.log.backed_up(&file);
        Ok(Applied::done())
    }
}

/// A failed pg_dump: its stderr, and that no file was left.
fn dump_failed(error: StepError, database: &str) -> StepError {
    match error {
        StepError::CommandFailed {
            status,
            stderr_tail,
            ..
        } => StepError::Failed(format!(
            "pg_dump of {database} failed ({}), no backup written: {}",
            exit_text(&status),
            stderr_tail.join("\n")
        )),
        other => other,
    }
}

fn exit_text(status: &ExitStatus) -> String {
    match (&status.code, &status.signal) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by {signal}"),
        (None, None) => "no exit status".to_owned(),
    }
}

/// A backup put back into its database: `pg_restore --clean --if-exists
/// --single-transaction` (the objects the backup has are dropped and made
/// again, all or nothing), with the backup's connection settings. Built
/// with [`PostgresBackup::restore`]; `deploy restore` and `deploy rollback
/// --with-data` run it.
#[derive(Clone, Debug)]
pub struct PostgresRestore {
    conn: Connection,
    backup_dir: Text,
    id: String,
}

impl Kind for PostgresRestore {
    const KIND: &'static str = "postgres.restore";
}

#[async_trait]
impl Step for PostgresRestore {
    fn secrets_in_argv(&self) -> Vec<&'static str> {
        self.conn.secrets_in_argv()
    }

    fn describe(&self) -> Description {
        let summary = format!(
            "restore database {} from backup {} in {} (pg_restore --clean {})",
            self.conn.database,
            self.id,
            self.backup_dir,
            place_of(self.conn.place.as_ref()),
        );
        self.conn.describe_fields(Description::new(summary))
    }

    async fn is_satisfied(&self, _ctx: &StepContext<'_>) -> Result<bool, StepError> {
        Ok(false)
    }

    async fn apply(&self, ctx: &StepContext<'_>) -> Result<Applied, StepError> {
        let dir = ctx.host_path(&ctx.resolve(&self.backup_dir)?).await?;
        let database = ctx.resolve(&self.conn.database)?;
        let backups = list_backups(ctx.target.as_ref(), &dir, &database).await?;
        let Some(backup) = backups.iter().find(|b| b.id == self.id) else {
            return Err(StepError::Failed(format!(
                "no backup {} of {database} in {dir} (there are: {})",
                self.id,
                ids(&backups)
            )));
        };
        let mut argv = vec![
            "pg_restore".to_owned(),
            "--clean".to_owned(),
            "--if-exists".to_owned(),
            "--single-transaction".to_owned(),
        ];
        argv.extend(self.conn.options(ctx)?);
        let env = self.conn.env(ctx)?;
        let failed = |how: String, stderr: &[String]| {
            StepError::Failed(format!(
                "pg_restore of {} into {database} failed ({how}): {}\n\
                 the restore ran in one transaction, so {database} is as it was before; \
                 the backup {} is kept",
                backup.file,
                ctx.masker.mask(&stderr.join("\n")),
                backup.path
            ))
        };
        match self.conn.resolved_place(ctx)? {
            None => {
                argv.push(backup.path.clone());
                let mut cmd = Command::new(argv);
                for (k, v) in env {
                    cmd = cmd.env(k, v);
                }
                match ctx.run(&cmd).await {
                    Ok(_) => {}
                    Err(StepError::CommandFailed {
                        status,
                        stderr_tail,
                        ..
                    }) => return Err(failed(exit_text(&status), &stderr_tail)),
                    Err(other) => return Err(other),
                }
            }
            Some(place) => {
                let bytes = ctx.target.read_file(&backup.path).await?.ok_or_else(|| {
                    StepError::Failed(format!("{} went away before it was read", backup.path))
                })?;
                let engine = open_engine(ctx, self.conn.engine.as_ref()).await?;
                let container = place.name(&engine).await?;
                let out = engine
                    .exec_bytes(&container, &argv, &env, Some(&bytes), &Masked(ctx))
                    .await?;
                if out.exit_code != 0 {
                    return Err(failed(format!("exit {}", out.exit_code), &out.stderr_tail));
                }
            }
        }
        Ok(Applied::done())
    }
}

/// `a, b` or `none`.
pub(crate) fn ids(backups: &[Backup]) -> String {
    if backups.is_empty() {
        "none".to_owned()
    } else {
        backups
            .iter()
            .map(|b| b.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A step's output with its secrets masked (an exec's stderr through the
/// engine does not pass through the step context's capture).
struct Masked<'a, 'c>(&'a StepContext<'c>);

impl OutputSink for Masked<'_, '_> {
    fn line(&self, stream: OutputStream, line: &str) {
        self.0.output.line(stream, &self.0.masker.mask(line));
    }
}

/// Stdout and stderr lines kept apart.
#[derive(Default)]
struct Lines(std::sync::Mutex<(Vec<String>, Vec<String>)>);

impl Lines {
    fn take(self) -> (Vec<String>, Vec<String>) {
        self.0.into_inner().unwrap_or_default()
    }
}

impl OutputSink for Lines {
    fn line(&self, stream: OutputStream, line: &str) {
        if let Ok(mut lines) = self.0.lock() {
            match stream {
                OutputStream::Stderr => lines.1.push(line.to_owned()),
                _ => lines.0.push(line.to_owned()),
            }
        }
    }
}
