//! The file system's side of resizing a container.
//!
//! * **Shrink** (offline only): before the core may cut the container, everything the file
//!   system stores must lie below the new capacity. [`fit_into`] checks the space account
//!   against the smaller container, then compacts the database (redb's `Database::compact`
//!   relocates pages towards the start of its file, in durable commits, and shrinks the file
//!   to the last page in use), checks that redb's file now ends within the new capacity, and
//!   lowers the device length to the longest redb layout that fits. Every step leaves a
//!   consistent file system on the old container: a crash in the middle loses nothing.
//! * **Grow**: once the core has rewritten the header copies for the larger size, the device
//!   length is raised over the new capacity (zero markers) and redb adopts the larger layout at
//!   its next open. Offline that is simply the next read-write [`Fs::open`]; in a mounted file
//!   system, [`Fs::adopt_capacity`] closes and reopens the database in place, so `df` shows the
//!   new size at once while files stay open.
//!
//! This module knows nothing of headers or the container file: it sees a [`BlockDevice`] whose
//! capacity someone else changes.

use std::sync::Arc;

use secvol_core::{BLOCK_SIZE, BlockDevice, DeviceStack};

use crate::backend::{DeviceBackend, extend_to_capacity, largest_layout_len, redb_geometry};
use crate::error::{FsError, FsResult, io_error, storage_error};
use crate::fs::Fs;
use crate::store::FsOptions;

const BLOCK: u64 = BLOCK_SIZE as u64;

/// Why a file system cannot be made to fit a smaller container.
#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    /// The files need more room than the smaller container has: `needed` bytes, of which a
    /// container with the new capacity offers `room`.
    #[error(
        "the files need {needed} bytes but the smaller container has room for {room}; \
         free at least {} bytes first",
        needed - room
    )]
    TooFull {
        /// Bytes the file system needs (its space account, or how far its database reaches
        /// after compaction).
        needed: u64,
        /// Bytes the smaller container offers for the same purpose.
        room: u64,
    },
    /// The file system failed while it was being compacted.
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl ShrinkError {
    /// How many bytes must be freed before the shrink can succeed (0 if that is not the
    /// reason).
    pub fn must_free(&self) -> u64 {
        match self {
            ShrinkError::TooFull { needed, room } => needed.saturating_sub(*room),
            ShrinkError::Fs(_) => 0,
        }
    }
}

/// What [`fit_into`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fitted {
    /// The database reached past the new end and was compacted (pages moved down).
    pub compacted: bool,
}

/// Bytes the file system may use in a container of `capacity_blocks` (what `df` shows as
/// its size).
pub fn usable_bytes_for_capacity(capacity_blocks: u64) -> u64 {
    crate::store::usable_for_capacity(capacity_blocks * BLOCK)
}

/// Move the file system on `device` below `capacity_blocks` (smaller than the device's
/// capacity): check the space account, compact the database, lower the device length. The
/// device must be opened read-write and not be in use by anyone else.
///
/// On [`ShrinkError::TooFull`] the database may have been compacted (a durable, harmless
/// change) but the device length is unchanged.
pub fn fit_into(device: Arc<dyn BlockDevice>, capacity_blocks: u64) -> Result<Fitted, ShrinkError> {
    let capacity = capacity_blocks * BLOCK;
    // Open once the normal way: that recovers after a crash and deletes orphans, so the
    // account is current, then closes the database cleanly.
    let used = {
        let fs = Fs::open(DeviceStack::bare(Arc::clone(&device)), FsOptions::default())?;
        let used = fs.stats().used_bytes;
        fs.close()?;
        used
    };
    let room = crate::store::usable_for_capacity(capacity);
    if used > room {
        return Err(ShrinkError::TooFull { needed: used, room });
    }
    let (page, header_pages, max_data_pages) = redb_geometry(&*device).map_err(io_error)?;
    let Some(target) = largest_layout_len(capacity, page, header_pages, max_data_pages) else {
        return Err(ShrinkError::TooFull {
            needed: page * (2 + header_pages),
            room: capacity,
        });
    };
    // Compaction moves pages even when they already lie low enough; it is needed only when
    // the database reaches past the new end.
    let mut reach = reach(&device)?;
    let compacted = reach > target;
    if compacted {
        reach = compact(&device)?;
    }
    if reach > target {
        return Err(ShrinkError::TooFull {
            needed: reach,
            room: target,
        });
    }
    if device.len() > target {
        device.set_len(target).map_err(FsError::from)?;
    }
    device.sync().map_err(FsError::from)?;
    Ok(Fitted { compacted })
}

/// redb's page cache while compacting (its default, 1 GiB, is far more than compaction
/// needs: measured peak 1 GiB RSS for a 1 GiB database with it).
const COMPACT_CACHE: usize = 64 << 20;

/// How far the (cleanly closed) database on `device` reaches once redb has dropped the free
/// tail of its file, which it does when it closes.
fn reach(device: &Arc<dyn BlockDevice>) -> FsResult<u64> {
    let (backend, state) = DeviceBackend::new(Arc::clone(device));
    let db = redb::Builder::new()
        .set_cache_size(COMPACT_CACHE)
        .create_with_backend(backend)
        .map_err(storage_error)?;
    drop(db);
    device.sync()?;
    Ok(state.redb_len())
}

/// Compact the (cleanly closed) database on `device`; returns how far its file reaches now.
fn compact(device: &Arc<dyn BlockDevice>) -> FsResult<u64> {
    let (backend, state) = DeviceBackend::new(Arc::clone(device));
    let mut db = redb::Builder::new()
        .set_cache_size(COMPACT_CACHE)
        .create_with_backend(backend)
        .map_err(storage_error)?;
    let compacted = db
        .compact()
        .map_err(|e| FsError::Engine(format!("compacting the database failed: {e}")))?;
    log::debug!(
        "database compacted ({}): it now ends at {} bytes",
        if compacted {
            "pages moved"
        } else {
            "nothing to move"
        },
        state.redb_len()
    );
    // Dropping the database closes it cleanly: its header records the smaller layout.
    drop(db);
    device.sync()?;
    Ok(state.redb_len())
}

/// After a grow of a container that nobody has open: recover the file system if it was not
/// closed cleanly, then give the database the new blocks (the device length rises over the
/// new capacity, with zero markers).
pub fn take_on_capacity(device: Arc<dyn BlockDevice>) -> FsResult<()> {
    let fs = Fs::open(DeviceStack::bare(Arc::clone(&device)), FsOptions::default())?;
    fs.close()?;
    drop(fs);
    extend_to_capacity(&*device).map_err(io_error)
}

impl Fs {
    /// The container grew under this mounted file system (its device's capacity went up):
    /// give the new blocks to the database and the space account, so that `statfs` shows the
    /// new size at once. Pending changes are committed first; open files are not affected.
    pub fn adopt_capacity(&self) -> FsResult<()> {
        if self.read_only {
            return Err(FsError::ReadOnly);
        }
        self.store
            .reopen_around(|device| extend_to_capacity(device).map_err(io_error))
    }
}
