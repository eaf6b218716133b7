//! A build context as the engine wants it: one tar of the context directory,
//! less what `.dockerignore` excludes (patterns from the context root,
//! `**`, `!` exceptions, the last match winning, as the docker CLI reads
//! them); the Dockerfile and `.dockerignore` are always sent.
//!
//! Its content digest (paths, modes, bytes; not mtimes) lets a build of an
//! unchanged context be skipped.

use std::path::Path;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use sha2::Digest;

use crate::error::DockerError;

/// A packed context.
#[derive(Debug)]
pub(crate) struct ContextArchive {
    /// The tar.
    pub(crate) bytes: Vec<u8>,
    /// SHA-256 over paths, modes and contents.
    pub(crate) content_digest: Vec<u8>,
}

fn local(path: &Path, e: impl std::fmt::Display) -> DockerError {
    DockerError::Local {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// `.dockerignore` as gitignore rules anchored at the context root.
fn dockerignore(root: &Path) -> Result<Gitignore, DockerError> {
    let file = root.join(".dockerignore");
    rules(root, std::fs::read_to_string(&file).ok().as_deref())
}

/// `.dockerignore`'s patterns (`text`), anchored at `root`.
fn rules(root: &Path, text: Option<&str>) -> Result<Gitignore, DockerError> {
    let file = root.join(".dockerignore");
    let mut builder = GitignoreBuilder::new(root);
    if let Some(text) = text {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pattern) = match line.strip_prefix('!') {
                Some(rest) => ("!", rest.trim()),
                None => ("", line),
            };
            let pattern = pattern.trim_start_matches("./");
            let anchored = if pattern.starts_with('/') {
                format!("{negate}{pattern}")
            } else {
                format!("{negate}/{pattern}")
            };
            builder
                .add_line(Some(file.clone()), &anchored)
                .map_err(|e| local(&file, format!("line {}: {e}", n + 1)))?;
        }
    }
    builder.build().map_err(|e| local(&file, e))
}

impl ContextArchive {
    /// Packs `root`; `dockerfile` (relative to it) must exist.
    pub(crate) fn pack(root: &Path, dockerfile: &str) -> Result<ContextArchive, DockerError> {
        if !root.join(dockerfile).is_file() {
            return Err(local(
                &root.join(dockerfile),
                "no such Dockerfile in the build context",
            ));
        }
        let rules = dockerignore(root)?;
        let mut paths = Vec::new();
        collect(root, root, &rules, dockerfile, &mut paths)?;
        paths.sort();
        let mut digest = sha2::Sha256::new();
        let mut archive = tar::Builder::new(Vec::new());
        archive.follow_symlinks(false);
        for relative in &paths {
            let full = root.join(relative);
            let meta = std::fs::symlink_metadata(&full).map_err(|e| local(&full, e))?;
            digest.update(relative.as_bytes());
            digest.update(b"\0");
            {
                use std::os::unix::fs::PermissionsExt;
                digest.update(meta.permissions().mode().to_le_bytes());
            }
            if meta.is_file() {
                digest.update(std::fs::read(&full).map_err(|e| local(&full, e))?);
            } else if meta.file_type().is_symlink() {
                let link = std::fs::read_link(&full).map_err(|e| local(&full, e))?;
                digest.update(link.as_os_str().as_encoded_bytes());
            }
            archive
                .append_path_with_name(&full, relative)
                .map_err(|e| local(&full, e))?;
        }
        let bytes = archive.into_inner().map_err(|e| local(root, e))?;
        Ok(ContextArchive {
            bytes,
            content_digest: digest.finalize().to_vec(),
        })
    }
}

impl ContextArchive {
    /// A context a host tarred (`tar -C dir -cf - .`), with `.dockerignore`
    /// applied as for a context here; `origin` names it in errors.
    pub(crate) fn from_tar(
        bytes: &[u8],
        dockerfile: &str,
        origin: &str,
    ) -> Result<ContextArchive, DockerError> {
        let bad = |e: &dyn std::fmt::Display| DockerError::Local {
            path: origin.to_owned(),
            message: format!("reading the context's tar: {e}"),
        };
        let mut entries = Vec::new();
        let mut archive = tar::Archive::new(bytes);
        for entry in archive.entries().map_err(|e| bad(&e))? {
            let mut entry = entry.map_err(|e| bad(&e))?;
            let path = entry.path().map_err(|e| bad(&e))?.display().to_string();
            let path = path
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_owned();
            if path.is_empty() || path == "." {
                continue;
            }
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).map_err(|e| bad(&e))?;
            entries.push((path, entry.header().clone(), data));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        if !entries
            .iter()
            .any(|(p, h, _)| p == dockerfile && h.entry_type().is_file())
        {
            return Err(DockerError::Local {
                path: format!("{origin}/{dockerfile}"),
                message: "no such Dockerfile in the build context".to_owned(),
            });
        }
        let root = Path::new("/context");
        let ignore = entries
            .iter()
            .find(|(p, _, _)| p == ".dockerignore")
            .map(|(_, _, d)| String::from_utf8_lossy(d).into_owned());
        let rules = rules(root, ignore.as_deref())?;
        let mut digest = sha2::Sha256::new();
        let mut out = tar::Builder::new(Vec::new());
        for (path, header, data) in &entries {
            let is_dir = header.entry_type().is_dir();
            let always = path == dockerfile || path == ".dockerignore";
            if !always && rules.matched_path_or_any_parents(path, is_dir).is_ignore() {
                continue;
            }
            digest.update(path.as_bytes());
            digest.update(b"\0");
            digest.update(header.mode().unwrap_or_default().to_le_bytes());
            digest.update(data);
            if let Ok(Some(link)) = header.link_name() {
                digest.update(link.as_os_str().as_encoded_bytes());
            }
            let mut header = header.clone();
            out.append_data(&mut header, path, &data[..])
                .map_err(|e| bad(&e))?;
        }
        Ok(ContextArchive {
            bytes: out.into_inner().map_err(|e| bad(&e))?,
            content_digest: digest.finalize().to_vec(),
        })
    }
}

fn collect(
    root: &Path,
    dir: &Path,
    rules: &Gitignore,
    dockerfile: &str,
    out: &mut Vec<String>,
) -> Result<(), DockerError> {
    let entries = std::fs::read_dir(dir).map_err(|e| local(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| local(dir, e))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| local(&path, e))?;
        let relative = path
            .strip_prefix(root)
            .map_err(|e| local(&path, e))?
            .to_string_lossy()
            .into_owned();
        let always = relative == dockerfile || relative == ".dockerignore";
        let ignored = rules
            .matched_path_or_any_parents(&relative, file_type.is_dir())
            .is_ignore();
        if file_type.is_dir() {
            // A directory may be ignored while an exception inside it is not.
            if !ignored {
                out.push(relative.clone());
            }
            collect(root, &path, rules, dockerfile, out)?;
        } else if always || !ignored {
            out.push(relative);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(archive: &ContextArchive) -> Vec<String> {
        let mut reader = tar::Archive::new(&archive.bytes[..]);
        let mut names: Vec<String> = reader
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn dockerignore_is_honoured_with_exceptions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for (path, text) in [
            ("Dockerfile", "FROM scratch\n"),
            (
                ".dockerignore",
                "*.log\nnode_modules\n**/*.pyc\nsecrets/\n!secrets/public.pem\n",
            ),
            ("app.py", "print()\n"),
            ("debug.log", "x\n"),
            ("sub/debug.log", "kept: patterns are anchored at the root\n"),
            ("sub/mod.pyc", "x\n"),
            ("node_modules/x/index.js", "x\n"),
            ("secrets/key.pem", "private\n"),
            ("secrets/public.pem", "public\n"),
        ] {
            let full = root.join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, text).expect("write");
        }
        let archive = ContextArchive::pack(root, "Dockerfile").expect("pack");
        assert_eq!(
            names(&archive),
            [
                ".dockerignore",
                "Dockerfile",
                "app.py",
                "secrets/public.pem",
                "sub",
                "sub/debug.log"
            ]
        );
        // Same content, new mtimes: same digest; changed content: another.
        let again = ContextArchive::pack(root, "Dockerfile").expect("pack");
        assert_eq!(archive.content_digest, again.content_digest);
        std::fs::write(root.join("app.py"), "print(1)\n").expect("write");
        let changed = ContextArchive::pack(root, "Dockerfile").expect("pack");
        assert_ne!(archive.content_digest, changed.content_digest);
    }

    #[test]
    fn a_missing_dockerfile_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = ContextArchive::pack(dir.path(), "Dockerfile").expect_err("no Dockerfile");
        assert!(err.to_string().contains("no such Dockerfile"), "{err}");
    }
}
