//! Space accounting: how many bytes the records occupy, and refusing a change before the
//! storage engine would run out of room.
//!
//! redb grows its file by doubling and cannot be told how large the container is, and a write
//! the container cannot hold makes redb refuse all further use until it is reopened. So the
//! file system keeps its own conservative account of the bytes its records occupy and refuses
//! to grow past the container's capacity *before* redb would run out. If the account is ever
//! too optimistic, the safety net (`engine.rs`, `Store::storage_failure`) reopens the database
//! from its last commit and reports "no space" (logged loudly; tests assert it never fires).

use super::tx::{Tx, TxError, TxResult};
use crate::error::FsError;

/// Each change copies the leaf and its branch path: a few pages pinned per change.
const PATH_COPY: u64 = 3 * 4096;

/// Room set aside in the account while any `fallocate` reservation exists, for rewriting
/// reserved chunks that already hold data: the old copies stay until the next commit, so a
/// write of 1 MiB (the most the kernel sends at once: 17 chunks when unaligned) needs up to
/// 17 chunks more for a moment, plus the pages of its tree path. Without it a reserved file
/// could not be rewritten in a full container.
pub(crate) const REWRITE_HEADROOM: u64 = 18 * 65_536;

/// Counters kept in memory and written to the meta table at each commit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) next_ino: u64,
    /// Estimated bytes of redb pages occupied by live records (schema::entry_cost), plus the
    /// space `fallocate` reserved: each reserved chunk counts as a full chunk whatever it
    /// holds (see `reserve.rs`).
    pub(crate) used_bytes: u64,
    pub(crate) inode_count: u64,
    /// Chunks reserved by `fallocate`, in all files.
    pub(crate) reserved_chunks: u64,
    /// Estimated bytes of pages that the open transaction freed or copied: they cannot be
    /// reused until it commits.
    pub(crate) pinned_bytes: u64,
}

/// Usable bytes: the device capacity minus what redb itself needs (its header page,
/// allocator state, system tables and branch pages) and a reserve that keeps deletions
/// possible when the container is full.
pub(crate) fn usable_for_capacity(capacity: u64) -> u64 {
    let overhead = 192 * 1024 + capacity / 64;
    capacity.saturating_sub(overhead)
}

/// Whether the container is so full that every change is committed at once, so that a
/// surprise "no space" from the storage engine can lose at most that change.
pub(crate) fn near_full(counters: &Counters, usable_bytes: u64) -> bool {
    let band = (usable_bytes / 16).max(1 << 20);
    counters.used_bytes + counters.pinned_bytes + band > usable_bytes
}

impl Tx<'_> {
    /// Record that the operation changed something, with its space effect: `added` bytes of
    /// new records, `freed` bytes of records removed or replaced (pinned until commit).
    pub(crate) fn account(&mut self, added: u64, freed: u64) {
        *self.modified = true;
        self.counters.used_bytes = (self.counters.used_bytes + added).saturating_sub(freed);
        self.counters.pinned_bytes += freed + PATH_COPY;
        *self.written += added + PATH_COPY;
    }

    /// Record a change of data inside a `fallocate` reservation: the reservation already
    /// counts the chunk as full, so the records occupy no more than before; `stored` bytes
    /// were written, and `freed` bytes of replaced records stay pinned until commit.
    pub(crate) fn account_in_reservation(&mut self, stored: u64, freed: u64) {
        *self.modified = true;
        self.counters.pinned_bytes += freed + PATH_COPY;
        *self.written += stored + PATH_COPY;
    }

    /// Record that reservations grew by `added` bytes of the account and shrank by `released`
    /// (no pages are freed: a reservation is only a promise, apart from its table entries,
    /// which are accounted with [`Tx::account`]).
    pub(crate) fn account_reservation(&mut self, added: u64, released: u64) {
        *self.modified = true;
        self.counters.used_bytes = (self.counters.used_bytes + added).saturating_sub(released);
    }

    /// Refuse with "no space" if `needed` more bytes would not fit, or if rewriting data in
    /// reserved chunks (`rewrite`: what the old copies occupy) would not fit beside them.
    /// Rewriting is copy-on-write: until the next commit the old copy of each chunk stays
    /// where it is, so a rewrite of reserved data needs room of its own for a moment. The
    /// [`REWRITE_HEADROOM`] counted in the account while reservations exist is that room.
    pub(crate) fn reserve_with_rewrite(&self, needed: u64, rewrite: u64) -> TxResult<()> {
        self.reserve(needed)?;
        if rewrite == 0 {
            return Ok(());
        }
        let projected = self.counters.used_bytes + self.counters.pinned_bytes + needed + rewrite;
        if projected > self.usable_bytes + REWRITE_HEADROOM {
            return Err(TxError::Fs(FsError::NoSpace));
        }
        Ok(())
    }

    /// Refuse with "no space" if `needed` more bytes would not fit. Called before changing
    /// anything.
    pub(crate) fn reserve(&self, needed: u64) -> TxResult<()> {
        let projected = self.counters.used_bytes + self.counters.pinned_bytes + needed;
        if projected > self.usable_bytes {
            return Err(TxError::Fs(FsError::NoSpace));
        }
        Ok(())
    }
}
