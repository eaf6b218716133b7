//! Directory sync over SSH: compare against a manifest the remote `find`
//! prints (size, whole-second mtime, mode), send only what changed as one tar
//! stream into `tar -x` on an exec channel, then delete what the source no
//! longer has (never what its ignore rules leave out).
//!
//! Tar carries whole seconds, so mtimes are compared to the second.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::UNIX_EPOCH;

use deploy_core::command::quote;
use deploy_core::target::{SyncOptions, SyncReport, TargetError};
use deploy_core::tree::{EntryKind, IgnoreRules, TreeEntry, scan};

use crate::target::{Input, SshTarget};

/// The size of the pieces the archive is sent in.
const CHUNK: usize = 256 * 1024;

/// A `Write` that hands full chunks to the sending side.
struct ChunkWriter {
    chunks: tokio::sync::mpsc::Sender<Vec<u8>>,
    buffer: Vec<u8>,
}

impl ChunkWriter {
    fn new(chunks: tokio::sync::mpsc::Sender<Vec<u8>>) -> Self {
        ChunkWriter {
            chunks,
            buffer: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.chunks
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::other("the remote tar stopped reading"))
    }

    fn finish(mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One remote file as `find -printf` describes it.
#[derive(Debug, PartialEq, Eq)]
struct Remote {
    kind: char,
    size: u64,
    mtime: u64,
    mode: u32,
}

fn parse_manifest(bytes: &[u8]) -> BTreeMap<String, Remote> {
    bytes
        .split(|b| *b == 0)
        .filter_map(|record| {
            let text = std::str::from_utf8(record).ok()?;
            let mut fields = text.splitn(5, '\t');
            let kind = fields.next()?.chars().next()?;
            let size = fields.next()?.parse().ok()?;
            let mtime = fields.next()?.split('.').next()?.parse().ok()?;
            let mode = u32::from_str_radix(fields.next()?, 8).ok()?;
            let path = fields.next()?.to_owned();
            Some((
                path,
                Remote {
                    kind,
                    size,
                    mtime,
                    mode,
                },
            ))
        })
        .collect()
}

fn unchanged(entry: &TreeEntry, remote: Option<&Remote>) -> bool {
    let Some(remote) = remote else { return false };
    match &entry.kind {
        EntryKind::File { size, modified } => {
            let secs = modified
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            remote.kind == 'f'
                && remote.size == *size
                && remote.mtime == secs
                && remote.mode == entry.mode
        }
        EntryKind::Dir => remote.kind == 'd' && remote.mode == entry.mode,
        EntryKind::Symlink(_) => false,
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> TargetError {
    TargetError::Io {
        op: "sync",
        path: path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    }
}

pub(crate) async fn sync_dir(
    target: &SshTarget,
    local: &Path,
    dest: &str,
    options: &SyncOptions,
) -> Result<SyncReport, TargetError> {
    let entries = scan(local, &options.exclude).map_err(|e| io(local, e))?;
    let d = quote(dest);
    let manifest = target
        .exec_script(
            "list",
            dest,
            &format!(
                "mkdir -p -- {d} && cd {d} && find . -mindepth 1 -printf '%y\\t%s\\t%T@\\t%m\\t%P\\0'"
            ),
            Input::Nothing,
        )
        .await?;
    let remote = parse_manifest(&manifest);
    let mut report = SyncReport::default();
    let mut changed: Vec<String> = Vec::new();
    for entry in &entries {
        if unchanged(entry, remote.get(&entry.path)) {
            if matches!(entry.kind, EntryKind::File { .. }) {
                report.unchanged += 1;
            }
            continue;
        }
        match entry.kind {
            EntryKind::File { size, .. } => {
                report.copied += 1;
                report.bytes += size;
            }
            EntryKind::Symlink(_) => report.copied += 1,
            EntryKind::Dir => {}
        }
        changed.push(entry.path.clone());
    }
    if !changed.is_empty() {
        // The archive is built on a blocking thread and sent chunk by chunk
        // while it is built: reading here overlaps extracting there.
        let (chunks, receiver) = tokio::sync::mpsc::channel(8);
        let root = local.to_path_buf();
        let producer = tokio::task::spawn_blocking(move || {
            let mut archive = tar::Builder::new(ChunkWriter::new(chunks));
            archive.follow_symlinks(false);
            for path in &changed {
                let source = root.join(path);
                archive
                    .append_path_with_name(&source, path)
                    .map_err(|e| io(&source, e))?;
            }
            archive
                .into_inner()
                .and_then(ChunkWriter::finish)
                .map_err(|e| io(&root, e))
        });
        let sent = target
            .exec_script(
                "extract into",
                dest,
                &format!("cd {d} && tar -x -p --no-same-owner -f -"),
                Input::Chunks(receiver),
            )
            .await;
        producer
            .await
            .map_err(|e| io(local, format!("archive task failed: {e}")))??;
        sent?;
    }
    if options.delete {
        let wanted: BTreeSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        let rules =
            IgnoreRules::from_scan(local, &options.exclude, &entries).map_err(|e| io(local, e))?;
        let doomed: Vec<&String> = remote
            .iter()
            .filter(|(path, r)| {
                !wanted.contains(path.as_str())
                    && !rules.ignores(path, r.kind == 'd')
                    && !path
                        .match_indices('/')
                        .any(|(i, _)| rules.ignores(&path[..i], true))
            })
            .filter(|(path, _)| {
                // A directory goes only when nothing under it is kept.
                !remote.keys().any(|other| {
                    other.starts_with(&format!("{path}/"))
                        && (wanted.contains(other.as_str()) || rules.ignores(other, false))
                })
            })
            .map(|(path, _)| path)
            .collect();
        if !doomed.is_empty() {
            let list: Vec<u8> = doomed
                .iter()
                .flat_map(|p| p.as_bytes().iter().copied().chain([0]))
                .collect();
            target
                .exec_script(
                    "delete from",
                    dest,
                    &format!("cd {d} && xargs -0 -r rm -rf --"),
                    Input::Bytes(&list),
                )
                .await?;
            report.deleted = doomed
                .iter()
                .filter(|p| remote.get(p.as_str()).is_some_and(|r| r.kind != 'd'))
                .count();
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_records_parse() {
        let text =
            b"f\t5\t1700000000.5000000000\t644\tapp/a.txt\0d\t4096\t1700000000.0\t755\tapp\0";
        let manifest = parse_manifest(text);
        assert_eq!(
            manifest.get("app/a.txt"),
            Some(&Remote {
                kind: 'f',
                size: 5,
                mtime: 1_700_000_000,
                mode: 0o644
            })
        );
        assert_eq!(manifest.get("app").map(|r| r.kind), Some('d'));
    }
}
