//! Reading a local directory tree for syncing: which files, their size,
//! modification time and mode, with `.gitignore`, `.deployignore` and extra
//! exclude patterns honoured.
//!
//! Every Target's `sync_dir` starts from the same [`scan`], so what gets
//! shipped does not depend on the transport.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;

/// The name of the per-directory ignore file deploy reads besides `.gitignore`.
pub const DEPLOY_IGNORE: &str = ".deployignore";

/// One entry of a scanned tree.
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

/// Lists `root` recursively in a stable order (sorted by path), skipping what
/// `.gitignore`, `.deployignore` and `exclude` (gitignore syntax) leave out,
/// and the `.git` directory.
pub fn scan(root: &Path, exclude: &[String]) -> Result<Vec<TreeEntry>, ignore::Error> {
    use std::os::unix::fs::PermissionsExt;

    let mut overrides = OverrideBuilder::new(root);
    overrides.add("!.git/")?;
    for pattern in exclude {
        overrides.add(&format!("!{pattern}"))?;
    }
    let walker = WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .parents(false)
        .follow_links(false)
        .add_custom_ignore_filename(DEPLOY_IGNORE)
        .overrides(overrides.build()?)
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
