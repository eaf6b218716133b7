//! Reading a local directory tree for syncing: which files, their size,
//! modification time and mode, with `.gitignore`, `.deployignore` and extra
//! exclude patterns honoured.
//!
//! Every Target's `sync_dir` starts from the same [`scan`], so what gets
//! shipped does not depend on the transport.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ignore::WalkBuilder;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::overrides::{Override, OverrideBuilder};

/// The name of the per-directory ignore file deploy reads besides `.gitignore`.
///
/// # Examples
///
/// ```
/// use deploy_core::tree::{DEPLOY_IGNORE, scan};
///
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join(DEPLOY_IGNORE), "*.psd\n").unwrap();
/// std::fs::write(dir.path().join("logo.psd"), "layers").unwrap();
/// std::fs::write(dir.path().join("logo.png"), "pixels").unwrap();
/// let paths: Vec<String> = scan(dir.path(), &[]).unwrap().into_iter().map(|e| e.path).collect();
/// assert_eq!(paths, [DEPLOY_IGNORE, "logo.png"]);
/// ```
pub const DEPLOY_IGNORE: &str = ".deployignore";

/// One entry of a scanned tree.
///
/// # Examples
///
/// ```
/// use deploy_core::tree::{EntryKind, scan};
///
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::create_dir(dir.path().join("static")).unwrap();
/// std::fs::write(dir.path().join("static/app.css"), "body {}").unwrap();
/// let entries = scan(dir.path(), &[]).unwrap();
/// assert_eq!((entries[1].path.as_str(), entries[1].mode & 0o400), ("static/app.css", 0o400));
/// assert!(matches!(entries[1].kind, EntryKind::File { size: 7, .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    /// Path relative to the tree's root, with `/` separators.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Unix permission bits.
    pub mode: u32,
}

/// The kind of a [`TreeEntry`].
///
/// # Examples
///
/// ```
/// use std::path::PathBuf;
/// use deploy_core::tree::{EntryKind, scan};
///
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::create_dir(dir.path().join("releases")).unwrap();
/// std::os::unix::fs::symlink("releases", dir.path().join("current")).unwrap();
/// let entries = scan(dir.path(), &[]).unwrap();
/// assert_eq!(entries[0].kind, EntryKind::Symlink(PathBuf::from("releases")));
/// assert_eq!(entries[1].kind, EntryKind::Dir);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File {
        /// Size in bytes.
        size: u64,
        /// Modification time.
        modified: SystemTime,
    },
    /// A symbolic link and where it points.
    Symlink(PathBuf),
}

/// `.git/` and the `exclude` patterns, as ignore rules.
fn overrides(root: &Path, exclude: &[String]) -> Result<Override, ignore::Error> {
    let mut overrides = OverrideBuilder::new(root);
    overrides.add("!.git/")?;
    for pattern in exclude {
        overrides.add(&format!("!{pattern}"))?;
    }
    overrides.build()
}

/// The rules [`scan`] leaves paths out by, to ask about paths the tree does
/// not have (files only a sync's destination has).
///
/// # Examples
///
/// ```
/// use deploy_core::tree::IgnoreRules;
///
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join(".gitignore"), "node_modules/\n").unwrap();
/// let rules = IgnoreRules::new(dir.path(), &["*.log".to_string()]).unwrap();
/// assert!(rules.ignores("node_modules", true));
/// assert!(rules.ignores("server.log", false));
/// assert!(!rules.ignores("index.html", false));
/// ```
pub struct IgnoreRules {
    root: PathBuf,
    overrides: Override,
    /// Each directory's `.gitignore` and `.deployignore`, by absolute path.
    files: Vec<(PathBuf, Gitignore)>,
}

impl IgnoreRules {
    /// Reads the rules of the tree at `root`.
    ///
    /// # Examples
    ///
    /// Ignore files in subdirectories count for their own subtree:
    ///
    /// ```
    /// use deploy_core::tree::IgnoreRules;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::create_dir(dir.path().join("assets")).unwrap();
    /// std::fs::write(dir.path().join("assets/.deployignore"), "*.psd\n").unwrap();
    /// let rules = IgnoreRules::new(dir.path(), &[]).unwrap();
    /// assert!(rules.ignores("assets/logo.psd", false));
    /// assert!(!rules.ignores("logo.psd", false));
    /// ```
    pub fn new(root: &Path, exclude: &[String]) -> Result<Self, ignore::Error> {
        Self::from_scan(root, exclude, &scan(root, exclude)?)
    }

    /// The same rules from a [`scan`] of `root` already made (a sync has
    /// one), so the tree is not walked twice.
    ///
    /// # Examples
    ///
    /// ```
    /// use deploy_core::tree::{IgnoreRules, scan};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join(".deployignore"), "*.log\n").unwrap();
    /// let entries = scan(dir.path(), &[]).unwrap();
    /// let rules = IgnoreRules::from_scan(dir.path(), &[], &entries).unwrap();
    /// assert!(rules.ignores("debug.log", false));
    /// ```
    pub fn from_scan(
        root: &Path,
        exclude: &[String],
        entries: &[TreeEntry],
    ) -> Result<Self, ignore::Error> {
        let mut dirs = vec![root.to_path_buf()];
        dirs.extend(
            entries
                .iter()
                .filter(|e| e.kind == EntryKind::Dir)
                .map(|e| root.join(&e.path)),
        );
        let mut files = Vec::new();
        for dir in dirs {
            let mut builder = GitignoreBuilder::new(&dir);
            let mut any = false;
            for name in [".gitignore", DEPLOY_IGNORE] {
                let file = dir.join(name);
                if file.is_file() {
                    any = true;
                    if let Some(e) = builder.add(&file) {
                        return Err(e);
                    }
                }
            }
            if any {
                files.push((dir, builder.build()?));
            }
        }
        Ok(IgnoreRules {
            root: root.to_path_buf(),
            overrides: overrides(root, exclude)?,
            files,
        })
    }

    /// True when `rel` (relative to the root, `/`-separated) is left out.
    ///
    /// # Examples
    ///
    /// A path the tree does not have (only a sync's destination does) can be asked about:
    ///
    /// ```
    /// use deploy_core::tree::IgnoreRules;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// std::fs::write(dir.path().join(".gitignore"), "uploads/\n").unwrap();
    /// let rules = IgnoreRules::new(dir.path(), &[]).unwrap();
    /// assert!(rules.ignores("uploads/avatar.png", false));
    /// assert!(rules.ignores(".git", true));
    /// assert!(!rules.ignores("index.html", false));
    /// ```
    pub fn ignores(&self, rel: &str, is_dir: bool) -> bool {
        let path = self.root.join(rel);
        self.overrides.matched(&path, is_dir).is_ignore()
            || self.files.iter().any(|(dir, rules)| {
                path.starts_with(dir)
                    && path != *dir
                    && rules.matched_path_or_any_parents(&path, is_dir).is_ignore()
            })
    }
}

/// Lists `root` recursively in a stable order (sorted by path), skipping what
/// `.gitignore`, `.deployignore` and `exclude` (gitignore syntax) leave out,
/// the `.git` directory, and anything that is not a file, directory or link
/// (FIFOs, sockets, devices).
///
/// # Examples
///
/// ```
/// use deploy_core::tree::scan;
///
/// let dir = tempfile::tempdir().unwrap();
/// for file in ["b.txt", "a.txt", "debug.log", ".git/HEAD"] {
///     let path = dir.path().join(file);
///     std::fs::create_dir_all(path.parent().unwrap()).unwrap();
///     std::fs::write(path, "x").unwrap();
/// }
/// let entries = scan(dir.path(), &["*.log".to_string()]).unwrap();
/// assert_eq!(entries.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["a.txt", "b.txt"]);
/// ```
pub fn scan(root: &Path, exclude: &[String]) -> Result<Vec<TreeEntry>, ignore::Error> {
    use std::os::unix::fs::PermissionsExt;

    let walker = WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .parents(false)
        .follow_links(false)
        .add_custom_ignore_filename(DEPLOY_IGNORE)
        .overrides(overrides(root, exclude)?)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    let mut entries = Vec::new();
    for item in walker {
        let item = item?;
        if item.depth() == 0 {
            continue;
        }
        let rel = item
            .path()
            .strip_prefix(root)
            .map_err(|e| ignore::Error::from(std::io::Error::other(e.to_string())))?;
        let path = rel.to_string_lossy().replace('\\', "/");
        let meta = std::fs::symlink_metadata(item.path()).map_err(ignore::Error::from)?;
        let mode = meta.permissions().mode() & 0o7777;
        let kind = if meta.file_type().is_symlink() {
            EntryKind::Symlink(std::fs::read_link(item.path()).map_err(ignore::Error::from)?)
        } else if meta.is_dir() {
            EntryKind::Dir
        } else if !meta.is_file() {
            // FIFOs, sockets and devices are not shipped (reading a FIFO
            // would hang the sync).
            continue;
        } else {
            EntryKind::File {
                size: meta.len(),
                modified: meta.modified().map_err(ignore::Error::from)?,
            }
        };
        entries.push(TreeEntry { path, kind, mode });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}
