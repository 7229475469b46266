//! The file-system API every front-end calls: lifecycle, statistics and the shared helpers of
//! the operations (which live in `namespace.rs`, `data.rs`, `attr.rs` and `dir.rs`).

use std::sync::{Arc, Mutex, MutexGuard};

use secvol_core::{DeviceMode, DeviceStack};

use crate::error::{FsError, FsResult};
use crate::handles::Handles;
use crate::inode::{FileKind, Ino, Inode, ROOT_INO, Timestamp};
use crate::schema::NAME_MAX;
use crate::store::{FsOptions, Store, Tx, TxResult};
use crate::view::Reader;

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
    /// Bytes reserved by `fallocate` (full chunks; counted in `used_bytes` too).
    pub reserved_bytes: u64,
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
    stack: DeviceStack,
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
    /// empty device. The device must have length 0 (a fresh container) and be writable.
    pub fn format(stack: DeviceStack, owner: Ctx) -> FsResult<()> {
        if stack.mode() != DeviceMode::ReadWrite {
            return Err(FsError::ReadOnly);
        }
        if stack.device().len() != 0 {
            return Err(FsError::Exists);
        }
        // A new file system is a change: everything it writes must reach the container.
        stack.go_live()?;
        let store = Store::open(&stack, FsOptions::default(), true)?;
        store.run(true, |tx| {
            let now = Timestamp::now();
            let mut root = Inode::new(FileKind::Directory, 0o755, owner.uid, owner.gid, now);
            root.parent = ROOT_INO;
            tx.put_inode(ROOT_INO, &root, true)?;
            Ok(())
        })?;
        store.close()?;
        crate::backend::extend_to_capacity(stack.device().as_ref()).map_err(crate::error::io_error)
    }

    /// Open the file system on a container's device stack. Its mode decides: a read-write
    /// stack allows changes; a read-only or check stack never writes to the container
    /// (recovery after a crash happens in memory); a check stack also reads damaged blocks as
    /// zeros, for [`Fs::check`]. A read-write stack writes nothing either until the first
    /// change is persisted ([`DeviceStack::go_live`]), so a mount that changes nothing leaves
    /// the container's bytes and modification time as they were.
    pub fn open(stack: DeviceStack, options: FsOptions) -> FsResult<Fs> {
        let read_only = stack.mode().is_read_only();
        let device = stack.device();
        let needs_recovery = device.len() > 0
            && crate::backend::redb_needs_recovery(&**device).map_err(crate::error::io_error)?;
        if needs_recovery && !read_only {
            // The repair redb makes at open is persisted at once, as before.
            stack.go_live()?;
        }
        if !read_only && device.len() > 0 && !needs_recovery {
            // redb shrinks its file when it closes with a free tail; give it the whole
            // container again before it opens, or it would grow by doubling past the end.
            match crate::backend::extend_to_capacity(device.as_ref()) {
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {}
                other => other.map_err(crate::error::io_error)?,
            }
        }
        let store = Store::open(&stack, options, false)?;
        let fs = Fs {
            store,
            handles: Mutex::new(Handles::default()),
            read_only,
            stack,
        };
        if !read_only {
            fs.collect_orphans()?;
        }
        fs.store.start_timer();
        Ok(fs)
    }

    /// Whether the file system refuses every change (opened on a read-only or check stack).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The device stack the file system runs on.
    pub(crate) fn stack(&self) -> &DeviceStack {
        &self.stack
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

    /// Run `f` while holding the writer's lock, as a long changing operation does (for tests
    /// that show readers do not wait for the writer). Refused on a read-only file system.
    #[doc(hidden)]
    pub fn hold_writer_while(&self, f: impl FnOnce()) -> FsResult<()> {
        if self.read_only {
            return Err(FsError::ReadOnly);
        }
        self.store.run(true, |_tx| {
            f();
            Ok(())
        })
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
        let counters = self.store.counters();
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
        let counters = self.store.counters();
        FsStats {
            used_bytes: counters.used_bytes,
            usable_bytes: self.store.usable_bytes(),
            inodes: counters.inode_count,
            reserved_bytes: counters.reserved_chunks * crate::schema::CHUNK_SIZE,
            durable_commits: self.store.durable_commits(),
            buffered_commits: self.store.buffered_commits(),
            safety_net_events: self.store.safety_net_events(),
        }
    }

    /// Run a reading operation: on the last commit, in parallel with others, when it can
    /// (see `view.rs`); `op` may therefore run twice.
    pub(crate) fn run_read<T>(&self, op: impl FnMut(&Reader<'_>) -> TxResult<T>) -> FsResult<T> {
        self.store.read(op)
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
    pub(crate) fn dir_inode(tx: &Reader<'_>, ino: Ino) -> TxResult<Inode> {
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
