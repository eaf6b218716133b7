//! `LocalTarget::sync_dir` and the Sync step: what ships, ignore rules,
//! copying only what changed, `delete`, read-only files, FIFOs.
//!
//! Run: `cargo test -p deploy-core --test local_target sync::`.

use super::*;

// ---------------------------------------------------------------------------
// LocalTarget::sync_dir
// ---------------------------------------------------------------------------

/// What `source_tree` ships with `options(..)`: files and links, not directories.
const SHIPPED: [&str; 7] = [
    ".deployignore",
    ".gitignore",
    "app.txt",
    "link",
    "private.conf",
    "run.sh",
    "sub/nested.txt",
];

/// A source tree with an executable, a private file, a symlink, a
/// subdirectory, and things that must not ship: gitignored, deployignored,
/// excluded by option, and `.git` directories.
fn source_tree() -> TempDir {
    let dir = tempdir();
    let root = dir.path();
    write(&root.join("app.txt"), "hello\n");
    write(&root.join("run.sh"), "#!/bin/sh\necho run\n");
    set_mode(&root.join("run.sh"), 0o755);
    write(&root.join("private.conf"), "key = value\n");
    set_mode(&root.join("private.conf"), 0o600);
    write(&root.join("sub/nested.txt"), "nested\n");
    symlink("app.txt", &root.join("link"));
    write(&root.join(".gitignore"), "*.log\nbuild/\n");
    write(&root.join(".deployignore"), "secret.txt\n");
    write(&root.join("debug.log"), "log\n");
    write(&root.join("sub/deep.log"), "log\n");
    write(&root.join("build/out.bin"), "binary");
    write(&root.join("secret.txt"), "hunter2\n");
    write(&root.join("scratch.tmp"), "tmp\n");
    write(&root.join(".git/HEAD"), "ref: refs/heads/main\n");
    write(&root.join("sub/.git/config"), "[core]\n");
    dir
}

/// Sync options that also exclude `*.tmp`.
fn options(delete: bool) -> SyncOptions {
    SyncOptions {
        delete,
        exclude: vec!["*.tmp".to_owned()],
    }
}

/// Sums the sizes of the regular files among `SHIPPED`.
fn shipped_bytes(root: &Path) -> u64 {
    SHIPPED
        .iter()
        .map(|p| std::fs::symlink_metadata(root.join(p)).expect("stat"))
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// A first sync copies every file (contents, modes incl. the executable bit, mtimes) and the symlink as a link, into a destination it creates.
#[tokio::test]
async fn sync_dir_first_copy() {
    let src = source_tree();
    let out = tempdir();
    let dest = out.path().join("deep/app");
    let report = local()
        .sync_dir(src.path(), &s(&dest), &options(false))
        .await
        .expect("sync");
    assert_eq!(report.copied, SHIPPED.len());
    assert_eq!(report.unchanged, 0);
    assert_eq!(report.deleted, 0);
    assert_eq!(report.bytes, shipped_bytes(src.path()));
    assert_eq!(files_under(&dest), SHIPPED);
    for path in SHIPPED.iter().filter(|p| **p != "link") {
        let (from, to) = (src.path().join(path), dest.join(path));
        assert_eq!(read(&to), read(&from), "{path}");
        assert_eq!(mode_of(&to), mode_of(&from), "{path}");
        let modified = |p: &Path| {
            std::fs::metadata(p)
                .expect("stat")
                .modified()
                .expect("mtime")
        };
        assert_eq!(modified(&to), modified(&from), "{path}");
    }
    assert_mode(&dest.join("run.sh"), 0o755);
    assert_mode(&dest.join("private.conf"), 0o600);
    assert!(
        std::fs::symlink_metadata(dest.join("link"))
            .expect("stat")
            .file_type()
            .is_symlink()
    );
    assert_eq!(link_of(&dest.join("link")), PathBuf::from("app.txt"));
}

/// `.gitignore`, `.deployignore` and `exclude` patterns are honoured and `.git/` is never copied, at any depth.
#[tokio::test]
async fn sync_dir_honours_ignore_rules_and_skips_git() {
    let src = source_tree();
    let out = tempdir();
    local()
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("sync");
    for left_out in [
        "debug.log",
        "sub/deep.log",
        "build",
        "secret.txt",
        "scratch.tmp",
        ".git",
        "sub/.git",
    ] {
        assert!(
            std::fs::symlink_metadata(out.path().join(left_out)).is_err(),
            "{left_out} should not have been copied"
        );
    }
    // Without the exclude option, the `*.tmp` file ships: the option is what left it out.
    let out = tempdir();
    let report = local()
        .sync_dir(src.path(), &s(out.path()), &SyncOptions::default())
        .await
        .expect("sync");
    assert_eq!(report.copied, SHIPPED.len() + 1);
    assert_eq!(read(&out.path().join("scratch.tmp")), "tmp\n");
    assert!(!out.path().join(".git").exists());
}

/// A second sync with no change copies nothing; changing one file (or only its mode) copies just that file.
#[tokio::test]
async fn sync_dir_copies_only_what_changed() {
    let src = source_tree();
    let out = tempdir();
    let target = local();
    target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("first sync");
    let again = target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("second sync");
    assert_eq!(
        (again.copied, again.unchanged, again.deleted, again.bytes),
        (0, SHIPPED.len(), 0, 0)
    );

    write(&src.path().join("app.txt"), "hello, world\n");
    let changed = target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("third sync");
    assert_eq!(
        (changed.copied, changed.unchanged, changed.bytes),
        (1, SHIPPED.len() - 1, 13)
    );
    assert_eq!(read(&out.path().join("app.txt")), "hello, world\n");

    set_mode(&src.path().join("app.txt"), 0o640);
    let chmodded = target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("fourth sync");
    assert_eq!(
        (chmodded.copied, chmodded.unchanged),
        (1, SHIPPED.len() - 1)
    );
    assert_mode(&out.path().join("app.txt"), 0o640);
}

/// A symlink whose target changed at the source is re-pointed at the destination.
#[tokio::test]
async fn sync_dir_repoints_a_changed_symlink() {
    let src = source_tree();
    let out = tempdir();
    let target = local();
    target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("first sync");
    std::fs::remove_file(src.path().join("link")).expect("rm link");
    symlink("run.sh", &src.path().join("link"));
    let report = target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("second sync");
    assert_eq!(report.copied, 1);
    assert_eq!(link_of(&out.path().join("link")), PathBuf::from("run.sh"));
    assert_eq!(files_under(out.path()), SHIPPED);
}

/// A file removed at the source stays at the destination without `delete` and is removed with it (as are destination-only files).
#[tokio::test]
async fn sync_dir_delete_removes_what_the_source_lost() {
    let src = source_tree();
    let out = tempdir();
    let target = local();
    target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("first sync");
    std::fs::remove_file(src.path().join("sub/nested.txt")).expect("rm");
    write(&out.path().join("stray.txt"), "only here\n");

    let kept = target
        .sync_dir(src.path(), &s(out.path()), &options(false))
        .await
        .expect("sync without delete");
    assert_eq!(kept.deleted, 0);
    assert!(out.path().join("sub/nested.txt").exists());
    assert!(out.path().join("stray.txt").exists());

    let deleted = target
        .sync_dir(src.path(), &s(out.path()), &options(true))
        .await
        .expect("sync with delete");
    assert_eq!(deleted.deleted, 2);
    assert_eq!(deleted.copied, 0);
    assert!(!out.path().join("sub/nested.txt").exists());
    assert!(!out.path().join("stray.txt").exists());
    assert!(out.path().join("sub").is_dir(), "the source still has sub/");
    let mut expected: Vec<&str> = SHIPPED.to_vec();
    expected.retain(|p| *p != "sub/nested.txt");
    assert_eq!(files_under(out.path()), expected);
}

/// With `delete`, a destination file that the source's ignore rules leave out (a server-only `.env`) is protected, as `rsync --delete --exclude` protects it.
#[tokio::test]
async fn sync_dir_delete_keeps_ignored_destination_files() {
    let src = source_tree();
    write(&src.path().join(".gitignore"), "*.log\nbuild/\n.env\n");
    let out = tempdir();
    write(&out.path().join(".env"), "DATABASE_URL=postgres://prod\n");
    write(&out.path().join("debug.log"), "server log\n");
    local()
        .sync_dir(src.path(), &s(out.path()), &options(true))
        .await
        .expect("sync");
    for kept in [".env", "debug.log"] {
        assert!(
            out.path().join(kept).exists(),
            "{kept} (ignored at the source) was deleted at the destination"
        );
    }
    assert_eq!(
        read(&out.path().join(".env")),
        "DATABASE_URL=postgres://prod\n"
    );
}

/// The Sync step copies a local tree into `releases/${release}`; a missing source fails.
#[tokio::test]
async fn sync_step_ships_a_release() {
    let src = source_tree();
    let out = tempdir();
    let to = format!("{}/releases/${{release}}", s(out.path()));
    let step = Sync::new(&s(src.path()), &to)
        .expect("a valid sync")
        .exclude("*.tmp");
    let ran = execute(&plan(FailurePolicy::Stop, [PlannedStep::new(step)]), "r3").await;
    assert_eq!(ran.statuses(), [StepStatus::Done]);
    assert_eq!(files_under(&out.path().join("releases/r3")), SHIPPED);
    let stdout = ran.output(OutputStream::Stdout);
    assert!(
        stdout
            .iter()
            .any(|l| l.contains(&format!("{} copied", SHIPPED.len()))),
        "{stdout:?}"
    );

    let missing = s(&out.path().join("no-such-source"));
    let step = Sync::new(&missing, &to).expect("a valid sync");
    let ran = execute(&plan(FailurePolicy::Stop, [PlannedStep::new(step)]), "r4").await;
    assert_eq!(ran.statuses(), [StepStatus::Failed]);
    assert!(
        ran.error(0).contains("is not a directory"),
        "{}",
        ran.error(0)
    );
}

/// A read-only file and a read-only directory sync with their modes and mtimes kept.
#[tokio::test]
async fn sync_dir_keeps_read_only_files_and_directories() {
    let src = tempdir();
    let dest = tempdir();
    std::fs::create_dir(src.path().join("locked")).expect("mkdir");
    write(&src.path().join("locked/secret.ini"), "k = v\n");
    set_mode(&src.path().join("locked/secret.ini"), 0o444);
    set_mode(&src.path().join("locked"), 0o555);
    let to = dest.path().join("out");
    let report = local()
        .sync_dir(src.path(), &s(&to), &SyncOptions::default())
        .await
        .expect("syncs");
    assert_eq!(report.copied, 1);
    assert_mode(&to.join("locked/secret.ini"), 0o444);
    assert_mode(&to.join("locked"), 0o555);
    let again = local()
        .sync_dir(src.path(), &s(&to), &SyncOptions::default())
        .await
        .expect("syncs again");
    assert_eq!((again.copied, again.unchanged), (0, 1));
    set_mode(&src.path().join("locked"), 0o755);
    set_mode(&to.join("locked"), 0o755);
}

/// A FIFO in the source tree is left out instead of hanging the sync.
#[tokio::test]
async fn sync_dir_skips_fifos() {
    let src = tempdir();
    let dest = tempdir();
    write(&src.path().join("app.txt"), "app");
    let fifo = src.path().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let report = tokio::time::timeout(
        Duration::from_secs(10),
        local().sync_dir(src.path(), &s(dest.path()), &SyncOptions::default()),
    )
    .await
    .expect("the sync does not hang")
    .expect("syncs");
    assert_eq!(report.copied, 1);
    assert!(!dest.path().join("pipe").exists());
}
