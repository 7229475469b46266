//! The encrypted block device: fixed-size logical blocks, each sealed with the container's
//! AEAD under a fresh random nonce, over a [`Storage`].
//!
//! What it promises to the layer above (redb, through `secvol-fs`):
//! * a block reads back exactly what was last written to it, or fails with
//!   [`BlockError::AuthFailed`] naming it (flipped bits, a block moved to another index, a
//!   block from another container); [`ReadMode::Lenient`] turns that failure into a zero
//!   block, counted and logged, for recovery code that verifies what it reads itself;
//! * block 0 is kept in memory and written, together with the device length, to one of two
//!   alternating super slots at each [`BlockDevice::sync`], never to the slot holding the last
//!   synced version: a torn or lost write falls back to that version (redb's header page is
//!   rewritten in place and must survive a torn write);
//! * blocks that become part of the device when it grows read as zeros (redb's `set_len`
//!   contract), without writing the data blocks themselves;
//! * the length may exceed the physical capacity (the layer above may reserve address space
//!   it never writes); such blocks read as zeros and writing one fails with
//!   [`BlockError::NoSpace`].

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::block_set::BlockSet;
use crate::cipher::{Aead, CipherSuite, MAX_NONCE_LEN, TAG_LEN};
use crate::error::BlockError;
use crate::geometry::{BLOCK_SIZE, BLOCK_SIZE_U64, Geometry, SUPER_SLOTS};
use crate::header::FORMAT_VERSION;
use crate::storage::Storage;

/// How a read treats a block that fails authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// Fail with [`BlockError::AuthFailed`].
    Strict,
    /// Return zeros for the block, count it and log a warning.
    Lenient,
}

/// A device of fixed-size blocks with a length, durable on `sync`.
#[allow(
    clippy::len_without_is_empty,
    reason = "a device always has a length; zero is just a value"
)]
pub trait BlockDevice: Send + Sync + std::fmt::Debug {
    /// Bytes per block.
    fn block_size(&self) -> usize {
        BLOCK_SIZE
    }
    /// Number of blocks that can be stored.
    fn capacity_blocks(&self) -> u64;
    /// Current length in bytes (a multiple of the block size).
    fn len(&self) -> u64;
    /// Change the length; new blocks read as zeros. Durable at the next `sync`.
    fn set_len(&self, len: u64) -> Result<(), BlockError>;
    /// Read whole blocks starting at block `first` into `buf`.
    fn read_blocks(&self, first: u64, buf: &mut [u8], mode: ReadMode) -> Result<(), BlockError>;
    /// Write whole blocks starting at block `first`.
    fn write_blocks(&self, first: u64, data: &[u8]) -> Result<(), BlockError>;
    /// Like [`BlockDevice::write_blocks`], handing over the buffer: a device that encrypts
    /// can seal the blocks in place instead of copying them first (a decorator that must keep
    /// the data, like the write-behind queue, then copies once for the whole stack).
    fn write_blocks_owned(&self, first: u64, data: Vec<u8>) -> Result<(), BlockError> {
        self.write_blocks(first, &data)
    }
    /// Make every write and length change so far durable.
    fn sync(&self) -> Result<(), BlockError>;
    /// How many authentication failures lenient reads have turned into zeros so far.
    fn tolerated_failures(&self) -> u64 {
        0
    }
}

/// Domain separation byte of the associated data.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Domain {
    DataBlock = 1,
    SuperSlot = 2,
    ZeroMarker = 3,
}

/// Associated data = container id ‖ domain ‖ index ‖ format version ‖ sequence number.
fn associated_data(container_id: &[u8; 16], domain: Domain, index: u64, seq: u64) -> [u8; 35] {
    let mut aad = [0u8; 35];
    aad[..16].copy_from_slice(container_id);
    aad[16] = domain as u8;
    aad[17..25].copy_from_slice(&index.to_le_bytes());
    aad[25..27].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    aad[27..35].copy_from_slice(&seq.to_le_bytes());
    aad
}

/// Plaintext of a super slot: device length, then block 0.
const SUPER_PLAINTEXT_LEN: usize = 8 + BLOCK_SIZE;
/// Super slot layout: seq ‖ nonce (24-byte field) ‖ tag ‖ ciphertext.
const SUPER_HEADER_LEN: usize = 8 + MAX_NONCE_LEN + TAG_LEN;
const SUPER_RECORD_LEN: usize = SUPER_HEADER_LEN + SUPER_PLAINTEXT_LEN;

/// Decides what a block that fails authentication becomes (zeros, an error, a report).
type OnAuthFailure<'a> = dyn FnMut(u64, &mut [u8]) -> Result<(), BlockError> + 'a;

/// Number of lock stripes serializing readers and writers of the same group.
const STRIPES: usize = 64;

#[derive(Debug)]
struct SuperState {
    /// Sequence number of the newest slot written (synced or not).
    seq: u64,
    /// Slot holding the last synced version; never written until the next sync succeeds.
    protected_slot: usize,
    len: u64,
    block0: Box<[u8; BLOCK_SIZE]>,
    dirty: bool,
}

/// Outcome of [`EncryptedDevice::verify`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Logical blocks checked (block 0 lives in the super slots and is counted there).
    pub blocks_checked: u64,
    /// Ranges of blocks that failed authentication.
    pub damaged: Vec<Range<u64>>,
    /// Whether each super slot authenticates.
    pub super_slots_ok: [bool; SUPER_SLOTS],
}

impl VerifyReport {
    /// Whether nothing is damaged.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty() && self.super_slots_ok.iter().all(|&ok| ok)
    }

    /// Split the damaged blocks into those the layer above uses (`in_use`: real damage) and
    /// the others (stale free blocks: harmless; see [`crate::recorder`]).
    pub fn classify(&self, in_use: &BlockSet) -> DamageByUse {
        let mut classified = DamageByUse::default();
        for range in &self.damaged {
            for (run, used) in in_use.split(range.clone()) {
                if used {
                    classified.in_use.push(run);
                } else {
                    classified.free.push(run);
                }
            }
        }
        classified
    }
}

/// Damaged blocks sorted by whether anything refers to them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DamageByUse {
    /// Damaged blocks the file system refers to: data or structure is lost.
    pub in_use: Vec<Range<u64>>,
    /// Damaged blocks nothing refers to (an interrupted write of a block that was free):
    /// harmless, and made readable again by [`EncryptedDevice::reset_free_blocks`].
    pub free: Vec<Range<u64>>,
}

impl DamageByUse {
    /// Number of blocks in `ranges`.
    pub fn count(ranges: &[Range<u64>]) -> u64 {
        ranges.iter().map(|r| r.end - r.start).sum()
    }
}

/// The AEAD block device over a container file.
#[derive(Debug)]
pub struct EncryptedDevice {
    storage: Arc<dyn Storage>,
    geometry: Geometry,
    /// Logical blocks that can be stored: `geometry.capacity_blocks` until a grow of the
    /// container raises it ([`EncryptedDevice::adopt_grown_geometry`]).
    capacity: AtomicU64,
    aead: Aead,
    container_id: [u8; 16],
    read_only: bool,
    superblock: Mutex<SuperState>,
    super_slots_ok: [bool; SUPER_SLOTS],
    stripes: Box<[RwLock<()>]>,
    tolerated_failures: AtomicU64,
}

impl EncryptedDevice {
    /// Largest length the device accepts: the capacity with room for a layer above that
    /// reserves address space by doubling (redb), bounded to keep arithmetic far from overflow.
    pub fn len_limit(&self) -> u64 {
        (self.capacity() * BLOCK_SIZE_U64)
            .saturating_mul(4)
            .clamp(64 << 30, 1 << 56)
    }

    /// Write the two super slots of a new device (length 0, block 0 zeros).
    pub(crate) fn format(
        storage: &dyn Storage,
        geometry: &Geometry,
        aead: &Aead,
        container_id: &[u8; 16],
    ) -> Result<(), BlockError> {
        let zero = [0u8; BLOCK_SIZE];
        for slot in 0..SUPER_SLOTS {
            let record = seal_super(aead, container_id, slot, slot as u64 + 1, 0, &zero);
            storage.write_at(geometry.super_slot_offset(slot), &record)?;
        }
        Ok(())
    }

    /// Open the device: read both super slots and take the newest that authenticates.
    pub(crate) fn open(
        storage: Arc<dyn Storage>,
        geometry: Geometry,
        aead: Aead,
        container_id: [u8; 16],
        read_only: bool,
    ) -> Result<Self, BlockError> {
        let mut best: Option<(usize, u64, u64, Box<[u8; BLOCK_SIZE]>)> = None;
        let mut super_slots_ok = [false; SUPER_SLOTS];
        for (slot, ok) in super_slots_ok.iter_mut().enumerate() {
            let mut record = vec![0u8; SUPER_RECORD_LEN];
            storage.read_at(geometry.super_slot_offset(slot), &mut record)?;
            let Some((seq, len, block0)) = open_super(&aead, &container_id, slot, &mut record)
            else {
                log::warn!("device super slot {slot} does not authenticate");
                continue;
            };
            *ok = true;
            if best
                .as_ref()
                .is_none_or(|(_, best_seq, _, _)| seq > *best_seq)
            {
                best = Some((slot, seq, len, block0));
            }
        }
        let (protected_slot, seq, len, block0) = best.ok_or(BlockError::SuperRecordDamaged)?;
        Ok(EncryptedDevice {
            storage,
            geometry,
            capacity: AtomicU64::new(geometry.capacity_blocks),
            aead,
            container_id,
            read_only,
            superblock: Mutex::new(SuperState {
                seq,
                protected_slot,
                len,
                block0,
                dirty: false,
            }),
            super_slots_ok,
            stripes: (0..STRIPES).map(|_| RwLock::new(())).collect(),
            tolerated_failures: AtomicU64::new(0),
        })
    }

    /// The container's cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.aead.suite()
    }

    /// The file layout as the device was opened (block offsets never change; after a grow,
    /// [`BlockDevice::capacity_blocks`] is the current capacity).
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    fn capacity(&self) -> u64 {
        self.capacity.load(Ordering::Acquire)
    }

    /// Take on the capacity of a grown container whose header copies already describe
    /// `grown` (`crate::resize`). Blocks keep their offsets (docs/format.md §1), so only the
    /// capacity changes. Blocks past the old capacity but inside the device length read as
    /// zeros until now; they get zero markers first, so they still do.
    pub fn adopt_grown_geometry(&self, grown: &Geometry) -> Result<(), BlockError> {
        let state = self.lock_super();
        let old = self.capacity();
        let same_layout = grown.data_area_offset == self.geometry.data_area_offset
            && grown.blocks_per_group == self.geometry.blocks_per_group
            && grown.block_meta_len == self.geometry.block_meta_len;
        if !same_layout || grown.capacity_blocks < old {
            return Err(BlockError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the grown layout does not extend this device",
            )));
        }
        let len_blocks = state.len / BLOCK_SIZE_U64;
        if len_blocks > old && !self.read_only {
            self.write_zero_markers(old..len_blocks.min(grown.capacity_blocks))?;
        }
        self.capacity
            .store(grown.capacity_blocks, Ordering::Release);
        Ok(())
    }

    fn stripe(&self, group: u64) -> &RwLock<()> {
        &self.stripes[(group % STRIPES as u64) as usize]
    }

    fn lock_super(&self) -> std::sync::MutexGuard<'_, SuperState> {
        self.superblock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn check_aligned(offset_blocks: u64, len: usize) -> Result<u64, BlockError> {
        if !len.is_multiple_of(BLOCK_SIZE) {
            return Err(BlockError::Unaligned {
                offset: offset_blocks * BLOCK_SIZE_U64,
                len: len as u64,
            });
        }
        Ok((len / BLOCK_SIZE) as u64)
    }

    /// Split `[first, first + count)` into runs that stay inside one group.
    fn runs(&self, first: u64, count: u64) -> impl Iterator<Item = Range<u64>> + use<> {
        let per_group = self.geometry.blocks_per_group;
        let end = first + count;
        let mut start = first;
        std::iter::from_fn(move || {
            if start >= end {
                return None;
            }
            let group_end = (start / per_group + 1) * per_group;
            let run = start..end.min(group_end);
            start = run.end;
            Some(run)
        })
    }

    /// Read, authenticate and decrypt one run (inside one group, inside the capacity).
    /// `on_failure` decides what an unauthenticated block becomes.
    fn read_run(
        &self,
        run: Range<u64>,
        buf: &mut [u8],
        on_failure: &mut OnAuthFailure<'_>,
    ) -> Result<(), BlockError> {
        let meta_len = self.geometry.block_meta_len as usize;
        let nonce_len = self.aead.suite().nonce_len();
        let mut meta = vec![0u8; (run.end - run.start) as usize * meta_len];
        {
            let (group, _) = self.geometry.group_of(run.start);
            let _guard = self.stripe(group).read().unwrap_or_else(|p| p.into_inner());
            self.storage
                .read_at(self.geometry.meta_offset(run.start), &mut meta)?;
            self.storage
                .read_at(self.geometry.data_offset(run.start), buf)?;
        }
        for ((index, block), slot) in run
            .zip(buf.chunks_exact_mut(BLOCK_SIZE))
            .zip(meta.chunks_exact(meta_len))
        {
            let (nonce, tag) = slot.split_at(nonce_len);
            let aad = associated_data(&self.container_id, Domain::DataBlock, index, 0);
            if self.aead.open(nonce, &aad, block, tag).is_ok() {
                continue;
            }
            let zero_aad = associated_data(&self.container_id, Domain::ZeroMarker, index, 0);
            if self.aead.open(nonce, &zero_aad, &mut [], tag).is_ok() {
                block.fill(0);
                continue;
            }
            on_failure(index, block)?;
        }
        Ok(())
    }

    fn read_range(
        &self,
        first: u64,
        buf: &mut [u8],
        on_failure: &mut OnAuthFailure<'_>,
    ) -> Result<(), BlockError> {
        let count = buf.len() as u64 / BLOCK_SIZE_U64;
        let capacity = self.capacity();
        let mut rest = buf;
        for run in self.runs(first, count) {
            let (chunk, tail) = rest.split_at_mut((run.end - run.start) as usize * BLOCK_SIZE);
            rest = tail;
            if run.start >= capacity {
                chunk.fill(0);
            } else if run.end > capacity {
                let inside = (capacity - run.start) as usize * BLOCK_SIZE;
                self.read_run(run.start..capacity, &mut chunk[..inside], on_failure)?;
                chunk[inside..].fill(0);
            } else {
                self.read_run(run, chunk, on_failure)?;
            }
        }
        Ok(())
    }

    /// Encrypt in place and write one run (inside one group, inside the capacity).
    fn write_run(&self, run: Range<u64>, sealed: &mut [u8]) -> Result<(), BlockError> {
        let meta_len = self.geometry.block_meta_len as usize;
        let nonce_len = self.aead.suite().nonce_len();
        let mut meta = vec![0u8; (run.end - run.start) as usize * meta_len];
        for ((index, block), slot) in run
            .clone()
            .zip(sealed.chunks_exact_mut(BLOCK_SIZE))
            .zip(meta.chunks_exact_mut(meta_len))
        {
            let aad = associated_data(&self.container_id, Domain::DataBlock, index, 0);
            let (nonce, tag) = slot.split_at_mut(nonce_len);
            tag.copy_from_slice(&self.aead.seal(&aad, block, nonce));
        }
        let (group, _) = self.geometry.group_of(run.start);
        let _guard = self
            .stripe(group)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        self.storage
            .write_at(self.geometry.data_offset(run.start), sealed)?;
        // Only this run's slots are rewritten: the other slots of the meta block keep their
        // bytes, so a torn meta write can only affect blocks written since the last sync.
        self.storage
            .write_at(self.geometry.meta_offset(run.start), &meta)?;
        Ok(())
    }

    /// Make blocks `range` read as zeros by writing zero markers into their meta slots
    /// (an AEAD tag over no data, under the zero-marker domain; indistinguishable from an
    /// ordinary slot without the key).
    fn mark_zero(&self, range: Range<u64>) -> Result<(), BlockError> {
        let end = range.end.min(self.capacity());
        self.write_zero_markers(range.start..end)
    }

    /// The zero markers of [`Self::mark_zero`], for blocks known to lie inside the capacity.
    fn write_zero_markers(&self, range: Range<u64>) -> Result<(), BlockError> {
        let meta_len = self.geometry.block_meta_len as usize;
        let nonce_len = self.aead.suite().nonce_len();
        let end = range.end;
        if range.start >= end {
            return Ok(());
        }
        for run in self.runs(range.start, end - range.start) {
            let mut meta = vec![0u8; (run.end - run.start) as usize * meta_len];
            for (index, slot) in run.clone().zip(meta.chunks_exact_mut(meta_len)) {
                let aad = associated_data(&self.container_id, Domain::ZeroMarker, index, 0);
                let (nonce, tag) = slot.split_at_mut(nonce_len);
                tag.copy_from_slice(&self.aead.seal(&aad, &mut [], nonce));
            }
            let (group, _) = self.geometry.group_of(run.start);
            let _guard = self
                .stripe(group)
                .write()
                .unwrap_or_else(|p| p.into_inner());
            self.storage
                .write_at(self.geometry.meta_offset(run.start), &meta)?;
        }
        Ok(())
    }

    fn read_only_error() -> BlockError {
        BlockError::Io(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the container is open read-only",
        ))
    }

    /// Make blocks `ranges` — damaged blocks that nothing uses, found by `check` — read as
    /// zeros again (a zero marker in each one's meta slot), then sync. Never call it for a
    /// block in use: its content would be replaced by zeros.
    pub fn reset_free_blocks(&self, ranges: &[Range<u64>]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(Self::read_only_error());
        }
        for range in ranges {
            if range.start == 0 {
                // Block 0 lives in the super slots and cannot be damaged this way.
                continue;
            }
            self.mark_zero(range.clone())?;
        }
        self.storage.sync()?;
        Ok(())
    }

    /// Write the super record (device length and block 0) again, into the slot that does not
    /// hold the current version, and sync: after `check` found that slot damaged (a sync that
    /// a power cut interrupted), both slots authenticate again.
    pub fn rewrite_super_record(&self) -> Result<(), BlockError> {
        if self.read_only {
            return Err(Self::read_only_error());
        }
        self.lock_super().dirty = true;
        self.sync()
    }

    /// Authenticate every block of the device (and both super slots), reporting progress as
    /// (blocks done, blocks total).
    pub fn verify(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<VerifyReport, BlockError> {
        const RUN_BLOCKS: u64 = 256;
        // Block 0 lives in the super slots; blocks past the capacity hold no data.
        let end = (self.len() / BLOCK_SIZE_U64).min(self.capacity());
        let total = end.saturating_sub(1);
        let mut report = VerifyReport {
            super_slots_ok: self.super_slots_ok,
            ..VerifyReport::default()
        };
        let mut buf = vec![0u8; RUN_BLOCKS as usize * BLOCK_SIZE];
        let mut first = 1;
        while first < end {
            let count = RUN_BLOCKS.min(end - first);
            let chunk = &mut buf[..count as usize * BLOCK_SIZE];
            let damaged = &mut report.damaged;
            self.read_range(first, chunk, &mut |index, _| {
                match damaged.last_mut() {
                    Some(last) if last.end == index => last.end = index + 1,
                    _ => damaged.push(index..index + 1),
                }
                Ok(())
            })?;
            first += count;
            report.blocks_checked += count;
            progress(report.blocks_checked, total);
        }
        Ok(report)
    }
}

impl BlockDevice for EncryptedDevice {
    fn capacity_blocks(&self) -> u64 {
        self.capacity()
    }

    fn tolerated_failures(&self) -> u64 {
        self.tolerated_failures.load(Ordering::Relaxed)
    }

    fn len(&self) -> u64 {
        self.lock_super().len
    }

    fn set_len(&self, len: u64) -> Result<(), BlockError> {
        if self.read_only {
            return Err(Self::read_only_error());
        }
        if !len.is_multiple_of(BLOCK_SIZE_U64) {
            return Err(BlockError::Unaligned {
                offset: len,
                len: 0,
            });
        }
        if len > self.len_limit() {
            return Err(BlockError::LengthTooLarge {
                requested: len,
                limit: self.len_limit(),
            });
        }
        let mut state = self.lock_super();
        let old_blocks = state.len / BLOCK_SIZE_U64;
        let new_blocks = len / BLOCK_SIZE_U64;
        if new_blocks > old_blocks {
            if old_blocks == 0 {
                state.block0.fill(0);
            }
            self.mark_zero(old_blocks.max(1)..new_blocks)?;
        }
        state.len = len;
        state.dirty = true;
        Ok(())
    }

    fn read_blocks(&self, first: u64, buf: &mut [u8], mode: ReadMode) -> Result<(), BlockError> {
        let count = Self::check_aligned(first, buf.len())?;
        let len_blocks = self.len() / BLOCK_SIZE_U64;
        if first + count > len_blocks {
            return Err(BlockError::OutOfRange {
                index: (first + count - 1).max(len_blocks),
                len_blocks,
            });
        }
        if count == 0 {
            return Ok(());
        }
        let (rest_first, rest) = if first == 0 {
            let (block0, rest) = buf.split_at_mut(BLOCK_SIZE);
            block0.copy_from_slice(&self.lock_super().block0[..]);
            (1, rest)
        } else {
            (first, buf)
        };
        let tolerated = &self.tolerated_failures;
        self.read_range(rest_first, rest, &mut |index, block| match mode {
            ReadMode::Strict => Err(BlockError::AuthFailed { index }),
            ReadMode::Lenient => {
                log::warn!("block {index} failed authentication; reading it as zeros (recovery)");
                tolerated.fetch_add(1, Ordering::Relaxed);
                block.fill(0);
                Ok(())
            }
        })
    }

    fn write_blocks(&self, first: u64, data: &[u8]) -> Result<(), BlockError> {
        self.write_blocks_owned(first, data.to_vec())
    }

    fn write_blocks_owned(&self, first: u64, mut data: Vec<u8>) -> Result<(), BlockError> {
        if self.read_only {
            return Err(Self::read_only_error());
        }
        let count = Self::check_aligned(first, data.len())?;
        if count == 0 {
            return Ok(());
        }
        let capacity = self.capacity();
        if first + count > capacity {
            return Err(BlockError::NoSpace {
                index: first.max(capacity),
                capacity_blocks: capacity,
            });
        }
        let len_blocks = self.len() / BLOCK_SIZE_U64;
        if first + count > len_blocks {
            return Err(BlockError::OutOfRange {
                index: first + count - 1,
                len_blocks,
            });
        }
        let (rest_first, rest) = if first == 0 {
            let (block0, rest) = data.split_at_mut(BLOCK_SIZE);
            let mut state = self.lock_super();
            state.block0.copy_from_slice(block0);
            state.dirty = true;
            (1, rest)
        } else {
            (first, &mut data[..])
        };
        let mut rest = rest;
        for run in self.runs(rest_first, rest.len() as u64 / BLOCK_SIZE_U64) {
            let (chunk, tail) = rest.split_at_mut((run.end - run.start) as usize * BLOCK_SIZE);
            rest = tail;
            self.write_run(run, chunk)?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), BlockError> {
        if self.read_only {
            return Ok(());
        }
        let mut state = self.lock_super();
        if !state.dirty {
            self.storage.sync()?;
            return Ok(());
        }
        let slot = 1 - state.protected_slot;
        state.seq += 1;
        let record = seal_super(
            &self.aead,
            &self.container_id,
            slot,
            state.seq,
            state.len,
            &state.block0,
        );
        self.storage
            .write_at(self.geometry.super_slot_offset(slot), &record)?;
        self.storage.sync()?;
        state.protected_slot = slot;
        state.dirty = false;
        Ok(())
    }
}

fn seal_super(
    aead: &Aead,
    container_id: &[u8; 16],
    slot: usize,
    seq: u64,
    len: u64,
    block0: &[u8; BLOCK_SIZE],
) -> Vec<u8> {
    let nonce_len = aead.suite().nonce_len();
    let mut record = vec![0u8; SUPER_RECORD_LEN];
    record[..8].copy_from_slice(&seq.to_le_bytes());
    let (head, body) = record.split_at_mut(SUPER_HEADER_LEN);
    body[..8].copy_from_slice(&len.to_le_bytes());
    body[8..].copy_from_slice(block0);
    let aad = associated_data(container_id, Domain::SuperSlot, slot as u64, seq);
    let tag = aead.seal(&aad, body, &mut head[8..8 + nonce_len]);
    head[8 + MAX_NONCE_LEN..].copy_from_slice(&tag);
    record
}

fn open_super(
    aead: &Aead,
    container_id: &[u8; 16],
    slot: usize,
    record: &mut [u8],
) -> Option<(u64, u64, Box<[u8; BLOCK_SIZE]>)> {
    let nonce_len = aead.suite().nonce_len();
    let (head, body) = record.split_at_mut(SUPER_HEADER_LEN);
    let seq = u64::from_le_bytes(head[..8].try_into().ok()?);
    let aad = associated_data(container_id, Domain::SuperSlot, slot as u64, seq);
    aead.open(
        &head[8..8 + nonce_len],
        &aad,
        body,
        &head[8 + MAX_NONCE_LEN..],
    )
    .ok()?;
    let len = u64::from_le_bytes(body[..8].try_into().ok()?);
    let mut block0 = Box::new([0u8; BLOCK_SIZE]);
    block0.copy_from_slice(&body[8..]);
    Some((seq, len, block0))
}
