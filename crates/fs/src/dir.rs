//! Reading directories through handles: `opendir`, `readdir`, `releasedir`.
//!
//! The listing is taken when `readdir` is called at offset 0 and served from memory after
//! that, so offsets stay meaningful while entries are added or removed (POSIX leaves it open
//! whether such entries are listed). Offsets are positions in the listing, starting with "."
//! and "..".

use crate::error::{FsError, FsResult};
use crate::fs::Fs;
use crate::handles::DirEntry;
use crate::inode::{FileKind, Ino};

impl Fs {
    /// Open directory `ino` for listing; returns a directory handle.
    pub fn opendir(&self, ino: Ino) -> FsResult<u64> {
        self.run_read(|tx| {
            let inode = tx.inode(ino)?;
            if inode.kind != FileKind::Directory {
                return Err(FsError::NotDir.into());
            }
            Ok(())
        })?;
        Ok(self.handles().open_dir(ino))
    }

    /// Entries of an open directory from `offset` on (at most `limit`).
    pub fn readdir(&self, dh: u64, offset: u64, limit: usize) -> FsResult<Vec<DirEntry>> {
        let (ino, cached) = {
            let handles = self.handles();
            let dir = handles.dirs.get(&dh).ok_or(FsError::BadHandle)?;
            (dir.ino, offset != 0 && dir.snapshot.is_some())
        };
        if !cached {
            let listing = self.list_all(ino)?;
            let mut handles = self.handles();
            let dir = handles.dirs.get_mut(&dh).ok_or(FsError::BadHandle)?;
            dir.snapshot = Some(listing);
        }
        let handles = self.handles();
        let dir = handles.dirs.get(&dh).ok_or(FsError::BadHandle)?;
        let snapshot = dir.snapshot.as_deref().unwrap_or_default();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(snapshot.len());
        Ok(snapshot[start..].iter().take(limit).cloned().collect())
    }

    /// Every entry of directory `ino`, with "." and ".." first.
    fn list_all(&self, ino: Ino) -> FsResult<Vec<DirEntry>> {
        self.run_read(|tx| {
            let inode = tx.inode(ino)?;
            let mut out = vec![
                DirEntry {
                    ino,
                    kind: FileKind::Directory,
                    name: b".".to_vec(),
                    next_offset: 1,
                },
                DirEntry {
                    ino: inode.parent.max(1),
                    kind: FileKind::Directory,
                    name: b"..".to_vec(),
                    next_offset: 2,
                },
            ];
            let mut after: Option<Vec<u8>> = None;
            loop {
                let batch = tx.list_dir(ino, after.as_deref(), 4096)?;
                let Some(last) = batch.last() else { break };
                after = Some(last.name.clone());
                for entry in batch {
                    let next_offset = out.len() as u64 + 1;
                    out.push(DirEntry {
                        ino: entry.ino,
                        kind: entry.kind,
                        name: entry.name,
                        next_offset,
                    });
                }
            }
            Ok(out)
        })
    }

    /// Entries of directory `ino` in name order after `after` (exclusive), without "." and
    /// "..": for front-ends that resume listings by name (WinFsp) and for offline tools.
    pub fn list_dir(
        &self,
        ino: Ino,
        after: Option<&[u8]>,
        limit: usize,
    ) -> FsResult<Vec<DirEntry>> {
        self.run_read(|tx| {
            Fs::dir_inode(tx, ino).or_else(|e| match e {
                crate::store::TxError::Fs(FsError::NotFound) => Ok(tx.inode(ino)?),
                other => Err(other),
            })?;
            Ok(tx
                .list_dir(ino, after, limit)?
                .into_iter()
                .map(|e| DirEntry {
                    ino: e.ino,
                    kind: e.kind,
                    name: e.name,
                    next_offset: 0,
                })
                .collect())
        })
    }

    /// Close a directory handle.
    pub fn releasedir(&self, dh: u64) -> FsResult<()> {
        let (ino, collectable) = {
            let mut handles = self.handles();
            let dir = handles.dirs.remove(&dh).ok_or(FsError::BadHandle)?;
            (dir.ino, handles.close(dir.ino))
        };
        self.reap_if_unreferenced(ino, collectable)
    }

    /// Make the directory durable (commits everything pending).
    pub fn fsyncdir(&self, _dh: u64) -> FsResult<()> {
        self.sync()
    }
}
