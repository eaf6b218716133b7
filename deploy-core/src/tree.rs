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
pub struct IgnoreRules {
    root: PathBuf,
    overrides: Override,
    /// Each directory's `.gitignore` and `.deployignore`, by absolute path.
    files: Vec<(PathBuf, Gitignore)>,
}

impl IgnoreRules {
    /// Reads the rules of the tree at `root`.
    pub fn new(root: &Path, exclude: &[String]) -> Result<Self, ignore::Error> {
        let mut dirs = vec![root.to_path_buf()];
        dirs.extend(
            scan(root, exclude)?
                .into_iter()
                .filter(|e| e.kind == EntryKind::Dir)
                .map(|e| root.join(e.path)),
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
/// and the `.git` directory.
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
