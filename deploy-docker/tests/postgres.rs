//! `postgres.backup` on the host form against a private PostgreSQL 15
//! cluster (Debian's `postgresql`, started by the test: see
//! `deploy_core::testing::postgres`), over TCP with the password through
//! `PGPASSWORD`: a backup is a custom-format dump, mode 0600, named in the
//! release record's log; keep-N removes the oldest; a restore puts back
//! rows changed since; a dump that fails leaves no file and says pg_dump's
//! words; an unknown id to restore lists the ones there are. The same on
//! a host reached over a real sshd. And the container form, in a
//! container of this machine's PostgreSQL (`testing::postgres_image`): the
//! dump made and restored in there, a temporary file (a killed backup)
//! never listed, and a restore of a cut dump failing with the database as
//! it was and the file kept.
//!
//! Run: `cargo test -p deploy-docker --test postgres`

use std::os::unix::fs::PermissionsExt;

use deploy_core::testing::TestContext;
use deploy_core::testing::postgres::{PASSWORD, Postgres};
use deploy_core::{LocalTarget, Step, StepError};
use deploy_docker::steps::PostgresBackup;

fn backup(pg: &Postgres, dir: &std::path::Path, database: &str) -> PostgresBackup {
    PostgresBackup::new(database, "app", &dir.display().to_string())
        .server("127.0.0.1", Some(pg.port))
        .password("${secret.db_password}")
}

fn context() -> TestContext<LocalTarget> {
    TestContext::new(LocalTarget::new("db1")).secret("db_password", PASSWORD)
}

fn files(dir: &std::path::Path) -> Vec<String> {
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

#[tokio::test]
async fn back_up_change_restore_keep_and_fail_on_the_host() {
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
    let test = context();
    let ctx = test.ctx();
    let step = backup(&pg, &backups, "app").keep(2);
    assert!(
        !step.is_satisfied(&ctx).await.expect("asks"),
        "never already done"
    );
    step.apply(&ctx).await.expect("backs up");
    let listed = step.list(&ctx).await.expect("lists");
    assert_eq!(listed.len(), 1);
    let first = listed[0].clone();
    assert_eq!(test.backups(), std::slice::from_ref(&first.file));
    assert!(first.file.starts_with("app-") && first.file.ends_with(".dump"));
    let meta = std::fs::metadata(&first.path).expect("the file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), first.size);
    let head = std::fs::read(&first.path).expect("read");
    assert_eq!(&head[..5], b"PGDMP", "pg_dump's custom format");

    // Rows change; the restore puts them back.
    pg.psql(
        "app",
        "delete from notes where id = 1; insert into notes values (3, 'three')",
    );
    let started = std::time::Instant::now();
    step.restore(&first.id).apply(&ctx).await.expect("restores");
    eprintln!("restore took {:?}", started.elapsed());
    assert_eq!(
        pg.psql("app", "select string_agg(body, ',' order by id) from notes"),
        "one,two"
    );

    // Keep 2: a third backup removes the first.
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        step.apply(&ctx).await.expect("backs up again");
    }
    let listed = step.list(&ctx).await.expect("lists");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|b| b.id != first.id), "the oldest went");
    assert!(listed[0].id > listed[1].id, "newest first");

    // An unknown id: the ones there are.
    let err = step
        .restore("20000101T000000.000Z")
        .apply(&ctx)
        .await
        .expect_err("fails");
    let message = err.to_string();
    assert!(message.contains(&listed[0].id), "{message}");

    // A dump that fails: no file, pg_dump's words, the password nowhere.
    let before = files(&backups);
    let err = backup(&pg, &backups, "nope")
        .apply(&ctx)
        .await
        .expect_err("fails");
    let message = err.to_string();
    assert!(matches!(err, StepError::Failed(_)), "{err:?}");
    assert!(
        message.contains("pg_dump") && message.contains("\"nope\" does not exist"),
        "{message}"
    );
    assert!(!message.contains(PASSWORD));
    assert_eq!(files(&backups), before, "nothing left by the failed dump");

    // A wrong password: refused, and no file either.
    let wrong = TestContext::new(LocalTarget::new("db1")).secret("db_password", "wrong-one");
    let err = step
        .apply(&wrong.ctx())
        .await
        .expect_err("fails")
        .to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    assert_eq!(files(&backups), before);
}

/// The container form: pg_dump and pg_restore run in the database's
/// container through the engine (the djangopackages and ICEkit shape), the
/// dump landing on the host; a restore there puts back rows changed since.
#[tokio::test]
async fn back_up_and_restore_in_a_container() {
    let Some(engine) = deploy_docker::testing::engine().await else {
        return;
    };
    let image = deploy_docker::testing::postgres_image(&engine).await;
    let pid = std::process::id();
    let (name, test) = (format!("deploy-test-pg-{pid}"), format!("pg-{pid}"));
    let mut spec = deploy_docker::ContainerSpec::new(name.clone(), image);
    spec.labels
        .insert(deploy_docker::testing::TEST_LABEL.to_owned(), test.clone());
    engine.run(&spec).await.expect("the database starts");
    let psql = |sql: &str| {
        let (engine, name, sql) = (&engine, name.clone(), sql.to_owned());
        async move {
            engine
                .exec_bytes(
                    &name,
                    &[
                        "psql".into(),
                        "-v".into(),
                        "ON_ERROR_STOP=1".into(),
                        "-At".into(),
                        "-d".into(),
                        "app".into(),
                        "-c".into(),
                        sql,
                    ],
                    &Default::default(),
                    None,
                    &deploy_core::target::DiscardOutput,
                )
                .await
                .expect("psql runs")
        }
    };
    // Up once `app` answers (initdb, then the server).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let made = engine
            .exec_bytes(
                &name,
                &[
                    "psql".into(),
                    "-d".into(),
                    "postgres".into(),
                    "-c".into(),
                    "create database app".into(),
                ],
                &Default::default(),
                None,
                &deploy_core::target::DiscardOutput,
            )
            .await
            .expect("exec");
        if made.exit_code == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database never answered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    psql("create table notes (id int primary key, body text); insert into notes values (1, 'one')")
        .await;

    let dir = tempfile::tempdir().expect("tempdir");
    let backups = dir.path().join("backups");
    let step = PostgresBackup::new("app", "app", &backups.display().to_string())
        .in_container(&name)
        .server("/tmp", None);
    let test_ctx = TestContext::new(LocalTarget::new("db1"));
    let ctx = test_ctx.ctx();
    step.apply(&ctx).await.expect("backs up in the container");
    let made = files(&backups);
    assert_eq!(made.len(), 1, "{made:?}");
    let dump = std::fs::read(backups.join(&made[0])).expect("the dump");
    assert!(dump.starts_with(b"PGDMP"), "a custom-format dump");
    let mode = std::fs::metadata(backups.join(&made[0]))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    psql("update notes set body = 'changed'; insert into notes values (2, 'two')").await;
    let id = step.list(&ctx).await.expect("lists")[0].id.clone();
    step.restore(&id)
        .apply(&ctx)
        .await
        .expect("restores in the container");
    let rows = psql("select id, body from notes order by id").await;
    assert_eq!(
        String::from_utf8_lossy(&rows.stdout).trim(),
        "1|one",
        "the rows as they were"
    );

    // A backup killed midway leaves only its temporary file: never listed.
    std::fs::write(
        backups.join(format!(".{}.tmp-4242", made[0])),
        &dump[..dump.len() / 2],
    )
    .expect("stale");
    // A restore that fails halfway (a dump cut short) says the database is
    // as it was and keeps the file.
    let cut = "app-20991231T000000.000Z.dump";
    std::fs::write(backups.join(cut), &dump[..dump.len() / 2]).expect("cut");
    let listed: Vec<String> = step
        .list(&ctx)
        .await
        .expect("lists")
        .into_iter()
        .map(|b| b.file)
        .collect();
    assert_eq!(
        listed,
        [cut.to_owned(), made[0].clone()],
        "newest first, no temporary file"
    );
    psql("insert into notes values (3, 'three')").await;
    let err = step
        .restore("20991231T000000.000Z")
        .apply(&ctx)
        .await
        .expect_err("a cut dump does not restore");
    let said = err.to_string();
    assert!(
        said.contains("is as it was before") && said.contains("is kept"),
        "{said}"
    );
    assert!(backups.join(cut).exists(), "the backup is kept");
    let rows = psql("select count(*) from notes").await;
    assert_eq!(
        String::from_utf8_lossy(&rows.stdout).trim(),
        "2",
        "nothing changed"
    );
    deploy_docker::testing::clean_up(&engine, &test).await;
}

/// The host form on a host reached over SSH (a real sshd): pg_dump runs
/// there with the password through the environment (never its command
/// line), the dump lands in the host's backup directory, and the restore
/// there puts the rows back.
#[tokio::test]
async fn back_up_and_restore_over_ssh() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let Some(sshd) = deploy_ssh::testing::Sshd::start() else {
        return;
    };
    pg.psql(
        "app",
        "set role app; create table notes (id int primary key, body text); insert into notes values (1, 'one')",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let backups = dir.path().join("backups");
    let db1 = deploy_ssh::SshTarget::new("db1", sshd.options()).with_address("127.0.0.1");
    let test = TestContext::new(db1).secret("db_password", PASSWORD);
    let ctx = test.ctx();
    let step = backup(&pg, &backups, "app");
    step.apply(&ctx).await.expect("backs up over ssh");
    let listed = step.list(&ctx).await.expect("lists over ssh");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let mode = std::fs::metadata(&listed[0].path)
        .expect("on the host")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    pg.psql("app", "update notes set body = 'changed'");
    step.restore(&listed[0].id)
        .apply(&ctx)
        .await
        .expect("restores over ssh");
    assert_eq!(pg.psql("app", "select body from notes"), "one");
}
