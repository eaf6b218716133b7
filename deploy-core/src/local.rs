//! [`LocalTarget`]: this machine, as a [`Target`].
//!
//! It runs commands with tokio in their own process group (so a timeout or
//! Ctrl-C stops everything the command started), writes files atomically, and
//! syncs trees by size and modification time, like `rsync -a` without the
//! network.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};

use crate::command::{Command, Invocation, SUDO_NON_INTERACTIVE};
use crate::target::{
    BoxedStream, Endpoint, ExitStatus, OutputSink, OutputStream, SyncOptions, SyncReport, Target,
    TargetError,
};
use crate::tree::{EntryKind, IgnoreRules, scan};

/// This machine as a deploy target.
///
/// Relative paths are taken from `base_dir` (the process's working directory
/// by default).
///
/// # Examples
///
/// ```
/// use deploy_core::{Command, LocalTarget, Target};
/// use deploy_core::target::DiscardOutput;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let local = LocalTarget::new("localhost");
/// let status = local.run(&Command::new(["true"]), &DiscardOutput).await.unwrap();
/// assert!(status.success());
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct LocalTarget {
    name: String,
    base_dir: Option<PathBuf>,
}

impl LocalTarget {
    /// A local target with this name.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{LocalTarget, Target};
    ///
    /// let local = LocalTarget::new("localhost");
    /// assert_eq!(local.name(), "localhost");
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        LocalTarget {
            name: name.into(),
            base_dir: None,
        }
    }

    /// Resolves relative paths against `dir` instead of the working directory.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::{Command, LocalTarget, Target};
    /// use deploy_core::target::DiscardOutput;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let dir = tempfile::tempdir().unwrap();
    /// let local = LocalTarget::new("demo").with_base_dir(dir.path());
    /// local.write_file("shared/.env", b"VERSION=1\n", None).await.unwrap();
    /// assert!(dir.path().join("shared/.env").is_file());
    /// let status = local.run(&Command::new(["test", "-f", "shared/.env"]), &DiscardOutput).await;
    /// assert!(status.unwrap().success());
    /// # });
    /// ```
    pub fn with_base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    fn path(&self, path: &str) -> PathBuf {
        match &self.base_dir {
            Some(base) => base.join(path),
            None => PathBuf::from(path),
        }
    }
}

/// Kills a command's whole process group if the command is dropped while it
/// still runs (a timeout, a cancelled run).
struct GroupKiller {
    pgid: Option<i32>,
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

async fn pump_lines<R: AsyncRead + Unpin>(
    reader: Option<R>,
    stream: OutputStream,
    output: &dyn OutputSink,
) -> std::io::Result<()> {
    let Some(reader) = reader else { return Ok(()) };
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).await? == 0 {
            return Ok(());
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        output.line(stream, &String::from_utf8_lossy(&buf));
    }
}

fn signal_name(status: &std::process::ExitStatus) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    status.signal().map(|s| {
        nix::sys::signal::Signal::try_from(s)
            .map(|sig| sig.as_str().to_owned())
            .unwrap_or_else(|_| s.to_string())
    })
}

#[async_trait]
impl Target for LocalTarget {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cmd: &Command, output: &dyn OutputSink) -> Result<ExitStatus, TargetError> {
        let Invocation { argv, stdin } = cmd.invocation(true, SUDO_NON_INTERACTIVE);
        let Some(program) = argv.first() else {
            return Err(TargetError::Other("empty command".into()));
        };
        let mut process = tokio::process::Command::new(program);
        process
            .args(&argv[1..])
            .process_group(0)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !cmd.sudo {
            process.envs(cmd.env.iter().map(|(k, v)| (k, v)));
        }
        let dir = cmd
            .cwd
            .as_ref()
            .map(|d| self.path(d))
            .or_else(|| self.base_dir.clone());
        if let Some(dir) = &dir {
            process.current_dir(dir);
        }
        let mut child = process.spawn().map_err(|source| match &dir {
            // spawn reports a missing working directory like a missing program.
            Some(dir) if !dir.is_dir() => TargetError::io("change into", dir, source),
            _ => TargetError::Spawn {
                program: program.clone(),
                source,
            },
        })?;
        let mut killer = GroupKiller {
            pgid: child.id().and_then(|id| i32::try_from(id).ok()),
        };
        let stdin_task = match (child.stdin.take(), stdin) {
            (Some(mut pipe), Some(bytes)) => Some(tokio::spawn(async move {
                // A command that exits without reading its input is not an error.
                let _ = pipe.write_all(&bytes).await;
                let _ = pipe.shutdown().await;
            })),
            _ => None,
        };
        let (out, err) = tokio::join!(
            pump_lines(child.stdout.take(), OutputStream::Stdout, output),
            pump_lines(child.stderr.take(), OutputStream::Stderr, output),
        );
        let status = child
            .wait()
            .await
            .map_err(|e| TargetError::io("wait for", program, e))?;
        killer.pgid = None;
        if let Some(task) = stdin_task {
            let _ = task.await;
        }
        out.and(err)
            .map_err(|e| TargetError::io("read output of", program, e))?;
        Ok(ExitStatus {
            code: status.code(),
            signal: signal_name(&status),
        })
    }

    async fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, TargetError> {
        let full = self.path(path);
        match tokio::fs::read(&full).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TargetError::io("read", full, e)),
        }
    }

    async fn write_file(
        &self,
        path: &str,
        contents: &[u8],
        mode: Option<u32>,
    ) -> Result<(), TargetError> {
        let full = self.path(path);
        let contents = contents.to_vec();
        tokio::task::spawn_blocking(move || write_atomically(&full, &contents, mode))
            .await
            .map_err(|e| TargetError::Other(format!("write task failed: {e}")))?
    }

    async fn sync_dir(
        &self,
        local: &Path,
        dest: &str,
        options: &SyncOptions,
    ) -> Result<SyncReport, TargetError> {
        let (local, dest, options) = (local.to_path_buf(), self.path(dest), options.clone());
        tokio::task::spawn_blocking(move || sync_tree(&local, &dest, &options))
            .await
            .map_err(|e| TargetError::Other(format!("sync task failed: {e}")))?
    }

    fn is_this_machine(&self) -> bool {
        true
    }

    async fn connect(&self, endpoint: &Endpoint) -> Result<BoxedStream, TargetError> {
        let failed = |e: std::io::Error| TargetError::Connect {
            endpoint: endpoint.to_string(),
            source: e.into(),
        };
        match endpoint {
            Endpoint::Unix(path) => Ok(Box::new(
                tokio::net::UnixStream::connect(self.path(path))
                    .await
                    .map_err(failed)?,
            )),
            Endpoint::Tcp { host, port } => Ok(Box::new(
                tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(failed)?,
            )),
        }
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary name beside `path`, unique within this process.
fn temp_path_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.deploy-tmp-{}-{n}", std::process::id()))
}

/// Writes `contents` to a temporary file beside `path`, then renames it into
/// place. On any error the temporary file is removed and `path` is untouched.
pub(crate) fn write_atomically(
    path: &Path,
    contents: &[u8],
    mode: Option<u32>,
) -> Result<(), TargetError> {
    write_file_at(path, contents, mode, None)
}

/// [`write_atomically`], optionally setting the modification time before the
/// rename (so a read-only file needs no second open). A path that is a
/// symbolic link is written through: the file it points at is replaced and
/// the link stays (Capistrano's `shared/.env` links keep working).
fn write_file_at(
    path: &Path,
    contents: &[u8],
    mode: Option<u32>,
    modified: Option<std::time::SystemTime>,
) -> Result<(), TargetError> {
    let resolved;
    let path = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            resolved =
                std::fs::canonicalize(path).map_err(|e| TargetError::io("follow link", path, e))?;
            resolved.as_path()
        }
        _ => path,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| TargetError::io("create directory", parent, e))?;
    }
    let mode = match mode {
        Some(mode) => mode,
        None => match std::fs::metadata(path) {
            Ok(meta) => meta.permissions().mode() & 0o7777,
            Err(_) => 0o644,
        },
    };
    let temp = temp_path_beside(path);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| TargetError::io("create", &temp, e))?;
        file.write_all(contents)
            .map_err(|e| TargetError::io("write", &temp, e))?;
        if let Some(modified) = modified {
            file.set_modified(modified)
                .map_err(|e| TargetError::io("set mtime of", &temp, e))?;
        }
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| TargetError::io("set mode of", &temp, e))?;
        file.sync_all()
            .map_err(|e| TargetError::io("flush", &temp, e))?;
        std::fs::rename(&temp, path).map_err(|e| TargetError::io("rename into", path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Copies `from` into `dest` on this machine: new and changed files (size or
/// mtime differ) are copied atomically with mode and mtime kept; with
/// `delete`, files the source no longer has are removed after every copy
/// succeeded.
fn sync_tree(from: &Path, dest: &Path, options: &SyncOptions) -> Result<SyncReport, TargetError> {
    let entries = scan(from, &options.exclude)
        .map_err(|e| TargetError::io("scan", from, std::io::Error::other(e.to_string())))?;
    std::fs::create_dir_all(dest).map_err(|e| TargetError::io("create directory", dest, e))?;
    let mut report = SyncReport::default();
    let mut wanted = BTreeSet::new();
    for entry in &entries {
        wanted.insert(entry.path.clone());
        let target = dest.join(&entry.path);
        let source = from.join(&entry.path);
        match &entry.kind {
            EntryKind::Dir => {
                // Modes are set after every file is in place: a read-only
                // directory must still receive its files.
                std::fs::create_dir_all(&target)
                    .map_err(|e| TargetError::io("create directory", &target, e))?;
            }
            EntryKind::Symlink(points_to) => {
                if std::fs::read_link(&target).ok().as_ref() == Some(points_to) {
                    report.unchanged += 1;
                    continue;
                }
                let temp = temp_path_beside(&target);
                std::os::unix::fs::symlink(points_to, &temp)
                    .map_err(|e| TargetError::io("create link", &temp, e))?;
                std::fs::rename(&temp, &target)
                    .map_err(|e| TargetError::io("rename into", &target, e))?;
                report.copied += 1;
            }
            EntryKind::File { size, modified } => {
                let same = std::fs::symlink_metadata(&target)
                    .ok()
                    .filter(|m| m.is_file())
                    .is_some_and(|m| {
                        m.len() == *size
                            && m.modified().ok() == Some(*modified)
                            && m.permissions().mode() & 0o7777 == entry.mode
                    });
                if same {
                    report.unchanged += 1;
                    continue;
                }
                let bytes =
                    std::fs::read(&source).map_err(|e| TargetError::io("read", &source, e))?;
                if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
                    // A link where the source has a file: replace the link itself.
                    std::fs::remove_file(&target)
                        .map_err(|e| TargetError::io("remove", &target, e))?;
                }
                write_file_at(&target, &bytes, Some(entry.mode), Some(*modified))?;
                report.copied += 1;
                report.bytes += bytes.len() as u64;
            }
        }
    }
    for entry in entries.iter().rev() {
        if entry.kind == EntryKind::Dir {
            let target = dest.join(&entry.path);
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(entry.mode))
                .map_err(|e| TargetError::io("set mode of", &target, e))?;
        }
    }
    if options.delete {
        let rules = IgnoreRules::from_scan(from, &options.exclude, &entries)
            .map_err(|e| TargetError::io("scan", from, std::io::Error::other(e.to_string())))?;
        report.deleted = delete_unwanted(dest, dest, &wanted, &rules)?;
    }
    Ok(report)
}

/// Removes everything under `dir` whose path relative to `root` is not in
/// `wanted`, except what the source's ignore rules leave out (as `rsync
/// --delete --exclude` keeps excluded files); returns how many files were
/// removed.
fn delete_unwanted(
    root: &Path,
    dir: &Path,
    wanted: &BTreeSet<String>,
    rules: &IgnoreRules,
) -> Result<usize, TargetError> {
    let mut deleted = 0;
    let listing = std::fs::read_dir(dir).map_err(|e| TargetError::io("list", dir, e))?;
    for item in listing {
        let item = item.map_err(|e| TargetError::io("list", dir, e))?;
        let path = item.path();
        let rel = path
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let is_dir = item.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if rules.ignores(&rel, is_dir) {
            continue;
        }
        if is_dir {
            deleted += delete_unwanted(root, &path, wanted, rules)?;
            if !wanted.contains(&rel) {
                match std::fs::remove_dir(&path) {
                    // It still holds files the ignore rules protect.
                    Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {}
                    other => other.map_err(|e| TargetError::io("remove", &path, e))?,
                }
            }
        } else if !wanted.contains(&rel) {
            std::fs::remove_file(&path).map_err(|e| TargetError::io("remove", &path, e))?;
            deleted += 1;
        }
    }
    Ok(deleted)
}
