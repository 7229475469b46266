//! Test doubles for [`Storage`]: an in-memory file, a file that simulates power loss, and a
//! file that starts failing after a number of operations.
//!
//! [`CrashStorage`] keeps two images: the *durable* one (as of the last `sync`) and the
//! *live* one (what reads see). Writes since the last sync are remembered in order; a
//! simulated crash builds a new image from the durable one plus an arbitrary subset of those
//! writes, one of them torn (a random subset of its 512-byte sectors new, the rest old), or
//! from an arbitrary subset of the sectors of all those writes.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::{Rng, RngExt};

use crate::storage::Storage;

/// `len` bytes that do not compress and hold no run of zeros (xorshift), the same for the
/// same `seed`, so tests can recompute what they wrote: zero elision and compression cannot
/// make such data smaller.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Sector size used when tearing writes.
pub const SECTOR: usize = 512;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read_image(image: &[u8], offset: u64, buf: &mut [u8]) -> io::Result<()> {
    let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
    let end = start + buf.len();
    if end > image.len() {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    buf.copy_from_slice(&image[start..end]);
    Ok(())
}

fn write_image(image: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = offset as usize;
    let end = start + data.len();
    if end > image.len() {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(data);
}

/// A file held in memory.
#[derive(Debug, Default)]
pub struct MemStorage {
    image: Mutex<Vec<u8>>,
}

impl MemStorage {
    /// A storage holding `image`.
    pub fn new(image: Vec<u8>) -> Self {
        MemStorage {
            image: Mutex::new(image),
        }
    }

    /// A copy of the current bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        lock(&self.image).clone()
    }

    /// Overwrite bytes directly (tamper tests).
    pub fn poke(&self, offset: u64, data: &[u8]) {
        write_image(&mut lock(&self.image), offset, data);
    }
}

impl Storage for MemStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        read_image(&lock(&self.image), offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        write_image(&mut lock(&self.image), offset, data);
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        Ok(lock(&self.image).len() as u64)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        lock(&self.image).resize(len as usize, 0);
        Ok(())
    }
}

/// What a simulated crash does with the writes made since the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// None of them reached the disk.
    DropAll,
    /// All of them reached the disk.
    KeepAll,
    /// Each reached the disk or not at random, and one of the kept ones is torn.
    Random,
    /// Only write number `n` (in issue order) is torn; all earlier ones are kept, later ones
    /// dropped.
    TearAt(usize),
    /// Every 512-byte sector of every write reached the disk or not, independently (a disk
    /// whose write cache lands an arbitrary subset of sectors, in any order): data blocks and
    /// the meta blocks holding their nonces and tags tear apart.
    TornSectors,
}

#[derive(Debug, Default)]
struct CrashState {
    durable: Vec<u8>,
    live: Vec<u8>,
    pending: Vec<(u64, Vec<u8>)>,
    syncs: u64,
    /// Power is "lost" at the next sync: it fails and makes nothing durable.
    fail_syncs: bool,
}

/// A file that can simulate power loss at any point.
#[derive(Debug, Default)]
pub struct CrashStorage {
    state: Mutex<CrashState>,
}

impl CrashStorage {
    /// A storage whose durable and live images are `image`.
    pub fn new(image: Vec<u8>) -> Self {
        CrashStorage {
            state: Mutex::new(CrashState {
                durable: image.clone(),
                live: image,
                pending: Vec::new(),
                syncs: 0,
                fail_syncs: false,
            }),
        }
    }

    /// Number of writes since the last sync.
    pub fn pending_writes(&self) -> usize {
        lock(&self.state).pending.len()
    }

    /// While set, every sync fails and makes nothing durable (power lost during fsync).
    pub fn fail_syncs(&self, fail: bool) {
        lock(&self.state).fail_syncs = fail;
    }

    /// Number of syncs so far.
    pub fn syncs(&self) -> u64 {
        lock(&self.state).syncs
    }

    /// The image a reader sees now (no crash).
    pub fn live_image(&self) -> Vec<u8> {
        lock(&self.state).live.clone()
    }

    /// The image after a power loss now, according to `mode`.
    pub fn crash_image(&self, mode: CrashMode, rng: &mut impl Rng) -> Vec<u8> {
        let state = lock(&self.state);
        let mut image = state.durable.clone();
        let count = state.pending.len();
        let torn = match mode {
            CrashMode::Random if count > 0 => Some(rng.random_range(0..count)),
            CrashMode::TearAt(n) => Some(n),
            _ => None,
        };
        for (i, (offset, data)) in state.pending.iter().enumerate() {
            let keep = match mode {
                CrashMode::DropAll => false,
                CrashMode::KeepAll => true,
                CrashMode::Random => Some(i) == torn || rng.random_bool(0.5),
                CrashMode::TearAt(n) => i <= n,
                CrashMode::TornSectors => true,
            };
            if !keep {
                continue;
            }
            if mode == CrashMode::TornSectors {
                land_random_sectors(&mut image, *offset, data, rng);
            } else if Some(i) == torn {
                tear_into(&mut image, *offset, data, rng);
            } else {
                write_image(&mut image, *offset, data);
            }
        }
        image
    }
}

/// Apply a write of which only a random subset of sectors (never all, unless it is one
/// sector long, and never none) reaches the image.
fn tear_into(image: &mut Vec<u8>, offset: u64, data: &[u8], rng: &mut impl Rng) {
    let sectors = data.len().div_ceil(SECTOR);
    let mut keep: Vec<bool> = (0..sectors).map(|_| rng.random_bool(0.5)).collect();
    if sectors > 1 && keep.iter().all(|&k| k) {
        keep[rng.random_range(0..sectors)] = false;
    }
    if keep.iter().all(|&k| !k) {
        keep[rng.random_range(0..sectors)] = true;
    }
    for (i, chunk) in data.chunks(SECTOR).enumerate() {
        if keep[i] {
            write_image(image, offset + (i * SECTOR) as u64, chunk);
        }
    }
}

/// Apply each sector of a write with probability one half.
fn land_random_sectors(image: &mut Vec<u8>, offset: u64, data: &[u8], rng: &mut impl Rng) {
    for (i, chunk) in data.chunks(SECTOR).enumerate() {
        if rng.random_bool(0.5) {
            write_image(image, offset + (i * SECTOR) as u64, chunk);
        }
    }
}

impl Storage for CrashStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        read_image(&lock(&self.state).live, offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut state = lock(&self.state);
        write_image(&mut state.live, offset, data);
        state.pending.push((offset, data.to_vec()));
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        let mut state = lock(&self.state);
        if state.fail_syncs {
            return Err(io::Error::other("simulated power loss during sync"));
        }
        state.durable = state.live.clone();
        state.pending.clear();
        state.syncs += 1;
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        Ok(lock(&self.state).live.len() as u64)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        // File size changes are treated as metadata that is durable at once (the container
        // file's size is fixed at create time, so the device never depends on this).
        let mut state = lock(&self.state);
        state.live.resize(len as usize, 0);
        state.durable.resize(len as usize, 0);
        Ok(())
    }
}

/// A storage that fails every operation after the first `budget` ones (reads, writes and
/// syncs all count), as a disk that is yanked or dies.
#[derive(Debug)]
pub struct FailingStorage<S> {
    inner: S,
    remaining: AtomicU64,
}

impl<S: Storage> FailingStorage<S> {
    /// Wrap `inner`, allowing `budget` operations.
    pub fn new(inner: S, budget: u64) -> Self {
        FailingStorage {
            inner,
            remaining: AtomicU64::new(budget),
        }
    }

    /// Allow `budget` more operations from now on.
    pub fn reset(&self, budget: u64) {
        self.remaining.store(budget, Ordering::SeqCst);
    }

    /// The wrapped storage.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn spend(&self) -> io::Result<()> {
        let ok = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if ok {
            Ok(())
        } else {
            Err(io::Error::other("injected I/O failure"))
        }
    }
}

impl<S: Storage> Storage for FailingStorage<S> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.spend()?;
        self.inner.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.spend()?;
        self.inner.write_at(offset, data)
    }
    fn sync(&self) -> io::Result<()> {
        self.spend()?;
        self.inner.sync()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.spend()?;
        self.inner.set_len(len)
    }
}
