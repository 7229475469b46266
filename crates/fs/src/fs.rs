//! The file-system API every front-end calls: lifecycle, statistics and the shared helpers of
//! the operations (which live in `namespace.rs`, `data.rs`, `attr.rs` and `dir.rs`).

use std::sync::{Arc, Mutex, MutexGuard};

use secvol_core::BlockDevice;

use crate::deferred::DeferredDevice;
use crate::error::{FsError, FsResult};
use crate::handles::Handles;
use crate::inode::{FileKind, Ino, Inode, ROOT_INO, Timestamp};
use crate::overlay::OverlayDevice;
use crate::schema::NAME_MAX;
use crate::store::{FsOptions, Store, Tx, TxResult};

/// Who is asking: owner and group of new files, and ownership rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
}

impl Ctx {
    /// The superuser.
    pub const ROOT: Ctx = Ctx { uid: 0, gid: 0 };

    /// Whether the caller is the superuser.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

/// File-system statistics (`statfs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    /// Block size used for the counts below.
    pub block_size: u32,
    /// Usable blocks in the container.
    pub blocks: u64,
    /// Free blocks.
    pub blocks_free: u64,
    /// Inodes in use plus free inodes.
    pub files: u64,
    /// Free inodes (not a real limit).
    pub files_free: u64,
    /// Longest name.
    pub name_max: u32,
}

/// Health and bookkeeping figures (for `info`, tests and benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    /// Estimated bytes used by file-system records.
    pub used_bytes: u64,
    /// Bytes the file system may use in total.
    pub usable_bytes: u64,
    /// Number of inodes.
    pub inodes: u64,
    /// Durable commits since open.
    pub durable_commits: u64,
    /// Commits without an `fdatasync` (at the dirty limit) since open.
    pub buffered_commits: u64,
    /// Times the storage engine ran out of room although the space account allowed the
    /// write (should stay 0).
    pub safety_net_events: u64,
}

/// A file system inside a container. Cheap to share between threads (`Arc<Fs>`).
pub struct Fs {
    pub(crate) store: Arc<Store>,
    handles: Mutex<Handles>,
    pub(crate) read_only: bool,
}

impl std::fmt::Debug for Fs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fs")
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

/// Validate a directory entry name: 1..=255 bytes, no '/', no NUL, not "." or "..".
pub(crate) fn check_name(name: &[u8]) -> FsResult<()> {
    if name.len() > NAME_MAX {
        return Err(FsError::NameTooLong);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(FsError::Invalid("invalid file name"));
    }
    Ok(())
}

impl Fs {
    /// Create an empty file system (a root directory owned by `owner`, mode 0755) on an
    /// empty device. The device must have length 0 (a fresh container).
    pub fn format(device: Arc<dyn BlockDevice>, owner: Ctx) -> FsResult<()> {
        if device.len() != 0 {
            return Err(FsError::Exists);
        }
        let store = Store::open(device, FsOptions::default(), true)?;
        store.run(true, |tx| {
            let now = Timestamp::now();
            let mut root = Inode::new(FileKind::Directory, 0o755, owner.uid, owner.gid, now);
            root.parent = ROOT_INO;
            tx.put_inode(ROOT_INO, &root, true)?;
            Ok(())
        })?;
        store.close()?;
        crate::backend::extend_to_capacity(store.device().as_ref())
            .map_err(|e| FsError::Storage(format!("cannot size the database: {e}")))
    }

    /// Open the file system on a container's block device. A read-only file system never
    /// writes to `device` (recovery after a crash happens in memory). A read-write one writes
    /// nothing either until it first persists a change (`deferred.rs`), so a mount that
    /// changes nothing leaves the container's bytes and modification time as they were.
    pub fn open(device: Arc<dyn BlockDevice>, options: FsOptions) -> FsResult<Fs> {
        let read_only = options.read_only;
        let needs_recovery = device.len() > 0
            && crate::backend::redb_needs_recovery(&*device)
                .map_err(crate::error::storage_error)?;
        if !read_only && device.len() > 0 && !needs_recovery {
            // redb shrinks its file when it closes with a free tail; give it the whole
            // container again before it opens, or it would grow by doubling past the end.
            match crate::backend::extend_to_capacity(device.as_ref()) {
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {}
                other => {
                    other.map_err(|e| FsError::Storage(format!("cannot size the database: {e}")))?
                }
            }
        }
        // After an unclean shutdown the repair redb makes at open is persisted at once, as
        // before; otherwise writes wait for the first change.
        let deferred = (!read_only && !needs_recovery)
            .then(|| Arc::new(DeferredDevice::new(Arc::clone(&device))));
        let device: Arc<dyn BlockDevice> = if read_only {
            Arc::new(OverlayDevice::new(device))
        } else if let Some(deferred) = &deferred {
            Arc::clone(deferred) as Arc<dyn BlockDevice>
        } else {
            device
        };
        let store = Store::open(device, options, false)?;
        if let Some(deferred) = deferred {
            store
                .before_first_persist(Box::new(move || deferred.go_live().map_err(FsError::Block)));
        }
        let fs = Fs {
            store,
            handles: Mutex::new(Handles::default()),
            read_only,
        };
        if !read_only {
            fs.collect_orphans()?;
        }
        fs.store.start_timer();
        Ok(fs)
    }

    /// Delete inodes that were unlinked while open when the container was last used (after a
    /// crash they have no references left).
    fn collect_orphans(&self) -> FsResult<()> {
        let orphans = self.store.run(false, |tx| tx.orphans())?;
        if orphans.is_empty() {
            return Ok(());
        }
        log::info!(
            "deleting {} file(s) that were unlinked while open",
            orphans.len()
        );
        self.store.run(true, |tx| {
            for ino in &orphans {
                tx.delete_inode(*ino)?;
            }
            Ok(())
        })?;
        self.store.commit()
    }

    pub(crate) fn handles(&self) -> MutexGuard<'_, Handles> {
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make every change so far durable (one commit of the container).
    pub fn sync(&self) -> FsResult<()> {
        self.store.commit()
    }

    /// Commit, delete the inodes still waiting for their last reference, and close the
    /// database cleanly. The file system must not be used afterwards.
    pub fn close(&self) -> FsResult<()> {
        if !self.read_only {
            let pending: Vec<Ino> = self.handles().unlinked.drain().collect();
            if !pending.is_empty() {
                self.store.run(true, |tx| {
                    for ino in &pending {
                        tx.delete_inode(*ino)?;
                    }
                    Ok(())
                })?;
            }
        }
        self.store.close()
    }

    /// Capacity and free space, in 4 KiB blocks.
    pub fn statfs(&self) -> FsResult<StatFs> {
        let counters = self.store.lock().counters;
        let usable = self.store.usable_bytes();
        let used = (counters.used_bytes + counters.pinned_bytes).min(usable);
        Ok(StatFs {
            block_size: 4096,
            blocks: usable / 4096,
            blocks_free: (usable - used) / 4096,
            files: counters.inode_count + (usable - used) / 4096,
            files_free: (usable - used) / 4096,
            name_max: NAME_MAX as u32,
        })
    }

    /// Bookkeeping figures.
    pub fn stats(&self) -> FsStats {
        let counters = self.store.lock().counters;
        FsStats {
            used_bytes: counters.used_bytes,
            usable_bytes: self.store.usable_bytes(),
            inodes: counters.inode_count,
            durable_commits: self.store.durable_commits(),
            buffered_commits: self.store.buffered_commits(),
            safety_net_events: self.store.safety_net_events(),
        }
    }

    pub(crate) fn run_read<T>(&self, op: impl FnOnce(&mut Tx<'_>) -> TxResult<T>) -> FsResult<T> {
        self.store.run(false, op)
    }

    pub(crate) fn run_write<T>(&self, op: impl FnMut(&mut Tx<'_>) -> TxResult<T>) -> FsResult<T> {
        if self.read_only {
            return Err(FsError::ReadOnly);
        }
        self.store.run_retrying(op)
    }

    /// After a reference to `ino` went away: delete it if it has no name and no reference.
    pub(crate) fn reap_if_unreferenced(&self, ino: Ino, collectable: bool) -> FsResult<()> {
        if !collectable || self.read_only {
            return Ok(());
        }
        self.run_write(|tx| {
            // Re-check under the transaction lock: a new reference may have appeared.
            let mut handles = self.handles();
            if handles.is_referenced(ino) || !handles.unlinked.remove(&ino) {
                return Ok(());
            }
            drop(handles);
            if tx.try_inode(ino)?.is_some_and(|inode| inode.nlink == 0) {
                tx.delete_inode(ino)?;
            }
            Ok(())
        })
    }

    /// Called when an inode lost its last name inside `tx`: delete it now, or keep it as an
    /// orphan while something still refers to it.
    pub(crate) fn unlinked_in(&self, tx: &mut Tx<'_>, ino: Ino) -> TxResult<()> {
        let referenced = {
            let mut handles = self.handles();
            let referenced = handles.is_referenced(ino);
            if referenced {
                handles.unlinked.insert(ino);
            }
            referenced
        };
        if referenced {
            tx.add_orphan(ino)
        } else {
            tx.delete_inode(ino)
        }
    }

    /// The directory `ino`, or NotDir / NotFound.
    pub(crate) fn dir_inode(tx: &Tx<'_>, ino: Ino) -> TxResult<Inode> {
        let inode = tx.inode(ino)?;
        if inode.kind != FileKind::Directory {
            return Err(FsError::NotDir.into());
        }
        if inode.nlink == 0 {
            // A removed directory that is still open accepts no new entries.
            return Err(FsError::NotFound.into());
        }
        Ok(inode)
    }
}
