//! Lookup references: what FUSE (and any front-end that hands out inode numbers) needs.
//!
//! The kernel remembers inode numbers it was given (by lookup, create, mkdir, link, ...) and
//! later says how many of those references it drops (`forget`). An inode whose last name is
//! removed must stay readable while the kernel still refers to it. Front-ends that name files
//! by path (WinFsp, the offline commands: [`crate::PathFs`], [`Fs::child`]) never take such
//! references and never call `forget`.

use crate::error::{FsError, FsResult};
use crate::fs::Fs;
use crate::inode::{Attr, Ino};

impl Fs {
    /// Look `name` up in directory `parent`. The caller receives one reference to the inode
    /// (FUSE lookup semantics), released by [`Fs::forget`].
    pub fn lookup(&self, parent: Ino, name: &[u8]) -> FsResult<Attr> {
        let attr = self.run_read(|tx| {
            Fs::dir_inode(tx, parent)?;
            if name.len() > crate::schema::NAME_MAX {
                return Err(FsError::NameTooLong.into());
            }
            let (ino, _) = tx.dirent(parent, name)?.ok_or(FsError::NotFound)?;
            Ok(tx.inode(ino)?.attr(ino))
        })?;
        self.handles().add_lookup(attr.ino);
        Ok(attr)
    }

    /// Release `n` references obtained from lookup-like calls.
    pub fn forget(&self, ino: Ino, n: u64) {
        let collectable = self.handles().forget(ino, n);
        if let Err(err) = self.reap_if_unreferenced(ino, collectable) {
            log::warn!("could not delete unlinked inode {ino}: {err}");
        }
    }
}
