//! `LocalTarget::write_file` and `read_file`: parents, modes, concurrent
//! writes, failures that leave things intact.
//!
//! Run: `cargo test -p deploy-core --test local_target files::`.

use super::*;

// ---------------------------------------------------------------------------
// LocalTarget::write_file / read_file
// ---------------------------------------------------------------------------

/// write_file creates missing parent directories and applies the mode given.
#[tokio::test]
async fn write_file_creates_parents_and_applies_mode() {
    let dir = tempdir();
    let path = dir.path().join("a/b/app.conf");
    local()
        .write_file(&s(&path), b"x = 1\n", Some(0o640))
        .await
        .expect("write");
    assert_eq!(read(&path), "x = 1\n");
    assert_mode(&path, 0o640);
    assert_eq!(names_in(&dir.path().join("a/b")), ["app.conf"]);
}

/// A new file written without a mode gets 0644.
#[tokio::test]
async fn write_file_new_file_defaults_to_0644() {
    let dir = tempdir();
    let path = dir.path().join("new.txt");
    local()
        .write_file(&s(&path), b"new", None)
        .await
        .expect("write");
    assert_mode(&path, 0o644);
}

/// Without a mode, an existing file keeps its mode (0600) and gets the new contents; nothing is left beside it.
#[tokio::test]
async fn write_file_without_mode_keeps_existing_mode() {
    let dir = tempdir();
    let path = dir.path().join("secret.env");
    write(&path, "OLD=1\n");
    set_mode(&path, 0o600);
    local()
        .write_file(&s(&path), b"NEW=2\n", None)
        .await
        .expect("write");
    assert_eq!(read(&path), "NEW=2\n");
    assert_mode(&path, 0o600);
    assert_eq!(names_in(dir.path()), ["secret.env"]);
}

/// A mode given replaces an existing file's mode.
#[tokio::test]
async fn write_file_with_mode_replaces_existing_mode() {
    let dir = tempdir();
    let path = dir.path().join("run.sh");
    write(&path, "old");
    set_mode(&path, 0o600);
    local()
        .write_file(&s(&path), b"#!/bin/sh\n", Some(0o755))
        .await
        .expect("write");
    assert_mode(&path, 0o755);
    assert_eq!(read(&path), "#!/bin/sh\n");
}

/// Many concurrent writes to one path all succeed, one of them wins whole, and no temporary file is left.
#[tokio::test]
async fn write_file_concurrent_writes_leave_one_whole_file() {
    let dir = tempdir();
    let path = s(&dir.path().join("race.txt"));
    let target = Arc::new(local());
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let (target, path) = (target.clone(), path.clone());
            tokio::spawn(async move {
                let body = format!("writer {i}\n").repeat(1000);
                target.write_file(&path, body.as_bytes(), None).await
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("join").expect("write");
    }
    let text = read(Path::new(&path));
    let first = text.lines().next().expect("a line").to_owned();
    assert_eq!(text, format!("{first}\n").repeat(1000));
    assert_eq!(names_in(dir.path()), ["race.txt"]);
}

/// A write that fails (the path is an existing directory) is an error and leaves the directory, its files and its neighbours intact, with no temporary file.
#[tokio::test]
async fn write_file_failure_leaves_everything_intact() {
    let dir = tempdir();
    let target_dir = dir.path().join("target");
    write(&target_dir.join("keep.txt"), "keep\n");
    write(&dir.path().join("other.txt"), "other\n");
    let err = local()
        .write_file(&s(&target_dir), b"clobber", None)
        .await
        .expect_err("cannot replace a directory with a file");
    assert!(matches!(err, TargetError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(&s(&target_dir)), "{err}");
    assert!(target_dir.is_dir());
    assert_eq!(names_in(&target_dir), ["keep.txt"]);
    assert_eq!(read(&target_dir.join("keep.txt")), "keep\n");
    assert_eq!(read(&dir.path().join("other.txt")), "other\n");
    assert_eq!(names_in(dir.path()), ["other.txt", "target"]);
}

/// read_file: a missing file is Ok(None), a file its bytes, a directory an error.
#[tokio::test]
async fn read_file_missing_present_and_directory() {
    let dir = tempdir();
    let target = local();
    assert_eq!(
        target
            .read_file(&s(&dir.path().join("missing")))
            .await
            .expect("read"),
        None
    );
    write(&dir.path().join("bytes.bin"), [0u8, 159, 146, 150, b'\n']);
    assert_eq!(
        target
            .read_file(&s(&dir.path().join("bytes.bin")))
            .await
            .expect("read"),
        Some(vec![0u8, 159, 146, 150, b'\n'])
    );
    let err = target
        .read_file(&s(dir.path()))
        .await
        .expect_err("a directory is not a file");
    assert!(matches!(err, TargetError::Io { .. }), "{err:?}");
}
