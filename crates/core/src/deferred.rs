//! Holding a read-write file system's writes in memory until it first persists a change, so
//! that a mount that changes nothing leaves the container file untouched: the same bytes and
//! the same modification time (backup tools then skip it instead of copying the whole
//! container again).
//!
//! redb writes even when nothing changes: opening marks its header "recovery required"
//! (block 0, synced), and a clean close commits its allocator state and clears the mark. Those
//! writes land here and stay in memory. The file system's store calls
//! [`DeferredDevice::go_live`] (through [`crate::DeviceStack::go_live`]) just before it persists
//! its first change: the held blocks are written to the device below, in
//! order, ahead of that commit's own writes, and from then on every call passes straight
//! through. If that moment never comes, the held writes are dropped with the device: the
//! container keeps the state of its last clean close, which is exactly what it holds.
//!
//! It sits directly on the encrypted device, below the write-behind queue and the read-ahead
//! cache; it knows nothing of redb or files, only "not yet" and "from now on".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::device::{BlockDevice, ReadMode};
use crate::error::BlockError;
use crate::geometry::BLOCK_SIZE;

const BLOCK: u64 = BLOCK_SIZE as u64;

/// A block device whose writes wait in memory until [`DeferredDevice::go_live`].
#[derive(Debug)]
pub struct DeferredDevice {
    inner: Arc<dyn BlockDevice>,
    /// Set once, under the write lock, after the held blocks reached `inner`.
    live: AtomicBool,
    held: RwLock<Held>,
}

#[derive(Debug, Default)]
struct Held {
    live: bool,
    blocks: BTreeMap<u64, Box<[u8]>>,
}

impl DeferredDevice {
    /// Wrap `inner`; writes are held until [`DeferredDevice::go_live`].
    pub fn new(inner: Arc<dyn BlockDevice>) -> Self {
        DeferredDevice {
            inner,
            live: AtomicBool::new(false),
            held: RwLock::new(Held::default()),
        }
    }

    fn read_held(&self) -> RwLockReadGuard<'_, Held> {
        self.held.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_held(&self) -> RwLockWriteGuard<'_, Held> {
        self.held.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether writes pass through (after [`DeferredDevice::go_live`]).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Write the held blocks to the device below (runs of adjacent blocks in one call each)
    /// and pass everything through from now on. Cheap after the first call.
    pub fn go_live(&self) -> Result<(), BlockError> {
        if self.is_live() {
            return Ok(());
        }
        let mut held = self.write_held();
        if held.live {
            return Ok(());
        }
        let blocks = std::mem::take(&mut held.blocks);
        let mut run: Vec<u8> = Vec::new();
        let mut run_first = 0;
        for (index, data) in &blocks {
            if !run.is_empty() && run_first + run.len() as u64 / BLOCK != *index {
                self.inner.write_blocks(run_first, &run)?;
                run.clear();
            }
            if run.is_empty() {
                run_first = *index;
            }
            run.extend_from_slice(data);
        }
        if !run.is_empty() {
            self.inner.write_blocks(run_first, &run)?;
        }
        held.live = true;
        self.live.store(true, Ordering::Release);
        Ok(())
    }
}

impl BlockDevice for DeferredDevice {
    fn capacity_blocks(&self) -> u64 {
        self.inner.capacity_blocks()
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn set_len(&self, len: u64) -> Result<(), BlockError> {
        // Only growth reaches the device (redb's shrinking stays in the backend), and growth
        // is a change: persist what is held and go on as usual.
        self.go_live()?;
        self.inner.set_len(len)
    }

    fn read_blocks(&self, first: u64, buf: &mut [u8], mode: ReadMode) -> Result<(), BlockError> {
        if self.is_live() || !buf.len().is_multiple_of(BLOCK_SIZE) {
            return self.inner.read_blocks(first, buf, mode);
        }
        let held = self.read_held();
        if held.live || held.blocks.is_empty() {
            drop(held);
            return self.inner.read_blocks(first, buf, mode);
        }
        // Runs of blocks that are not held are read from the device in one call each.
        let count = buf.len() as u64 / BLOCK;
        let mut start = 0;
        while start < count {
            let index = first + start;
            let slice = |from: u64, to: u64| (from * BLOCK) as usize..(to * BLOCK) as usize;
            if let Some(data) = held.blocks.get(&index) {
                buf[slice(start, start + 1)].copy_from_slice(data);
                start += 1;
                continue;
            }
            let end = held
                .blocks
                .range(index..first + count)
                .next()
                .map_or(count, |(&next, _)| next - first);
            self.inner
                .read_blocks(index, &mut buf[slice(start, end)], mode)?;
            start = end;
        }
        Ok(())
    }

    fn write_blocks(&self, first: u64, data: &[u8]) -> Result<(), BlockError> {
        if !self.is_live() {
            let mut held = self.write_held();
            if !held.live {
                if !data.len().is_multiple_of(BLOCK_SIZE) {
                    return Err(BlockError::Unaligned {
                        offset: first * BLOCK,
                        len: data.len() as u64,
                    });
                }
                // The device would refuse these too; refuse them now, not at go_live.
                let end = first + data.len() as u64 / BLOCK;
                let capacity = self.inner.capacity_blocks();
                if end > capacity {
                    return Err(BlockError::NoSpace {
                        index: first.max(capacity),
                        capacity_blocks: capacity,
                    });
                }
                if end > self.inner.len() / BLOCK {
                    return Err(BlockError::OutOfRange {
                        index: end - 1,
                        len_blocks: self.inner.len() / BLOCK,
                    });
                }
                for (i, block) in data.chunks_exact(BLOCK_SIZE).enumerate() {
                    held.blocks.insert(first + i as u64, block.into());
                }
                return Ok(());
            }
        }
        self.inner.write_blocks(first, data)
    }

    fn sync(&self) -> Result<(), BlockError> {
        if self.is_live() {
            self.inner.sync()
        } else {
            // Nothing of ours reached the device: the container is as it was.
            Ok(())
        }
    }

    fn tolerated_failures(&self) -> u64 {
        self.inner.tolerated_failures()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A device in memory that counts writes and syncs.
    #[derive(Debug)]
    struct Counting {
        blocks: Mutex<Vec<u8>>,
        writes: Mutex<Vec<(u64, usize)>>,
        syncs: AtomicBool,
    }

    impl Counting {
        fn new(blocks: u64) -> Arc<Self> {
            let mut data = vec![0u8; (blocks * BLOCK) as usize];
            for (i, byte) in data.iter_mut().enumerate() {
                *byte = (i / BLOCK_SIZE) as u8;
            }
            Arc::new(Counting {
                blocks: Mutex::new(data),
                writes: Mutex::new(Vec::new()),
                syncs: AtomicBool::new(false),
            })
        }
    }

    impl BlockDevice for Counting {
        fn capacity_blocks(&self) -> u64 {
            self.blocks.lock().unwrap().len() as u64 / BLOCK
        }
        fn len(&self) -> u64 {
            self.blocks.lock().unwrap().len() as u64
        }
        fn set_len(&self, len: u64) -> Result<(), BlockError> {
            self.blocks.lock().unwrap().resize(len as usize, 0);
            Ok(())
        }
        fn read_blocks(&self, first: u64, buf: &mut [u8], _: ReadMode) -> Result<(), BlockError> {
            let start = (first * BLOCK) as usize;
            buf.copy_from_slice(&self.blocks.lock().unwrap()[start..start + buf.len()]);
            Ok(())
        }
        fn write_blocks(&self, first: u64, data: &[u8]) -> Result<(), BlockError> {
            let start = (first * BLOCK) as usize;
            self.blocks.lock().unwrap()[start..start + data.len()].copy_from_slice(data);
            self.writes
                .lock()
                .unwrap()
                .push((first, data.len() / BLOCK_SIZE));
            Ok(())
        }
        fn sync(&self) -> Result<(), BlockError> {
            self.syncs.store(true, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn writes_stay_in_memory_until_go_live_and_are_read_back_from_there() {
        let inner = Counting::new(8);
        let device = DeferredDevice::new(inner.clone());
        device.write_blocks(0, &[0xAA; BLOCK_SIZE]).unwrap();
        device.write_blocks(5, &[0xBB; 2 * BLOCK_SIZE]).unwrap();
        device.sync().unwrap();
        assert!(inner.writes.lock().unwrap().is_empty());
        assert!(!inner.syncs.load(Ordering::SeqCst));

        let mut all = vec![0u8; 8 * BLOCK_SIZE];
        device.read_blocks(0, &mut all, ReadMode::Strict).unwrap();
        let block = |i: usize| &all[i * BLOCK_SIZE..(i + 1) * BLOCK_SIZE];
        assert!(block(0).iter().all(|&b| b == 0xAA));
        assert!(block(1).iter().all(|&b| b == 1));
        assert!(block(4).iter().all(|&b| b == 4));
        assert!(block(5).iter().all(|&b| b == 0xBB));
        assert!(block(6).iter().all(|&b| b == 0xBB));
        assert!(block(7).iter().all(|&b| b == 7));

        device.go_live().unwrap();
        assert_eq!(*inner.writes.lock().unwrap(), [(0, 1), (5, 2)]);
        device.write_blocks(2, &[0xCC; BLOCK_SIZE]).unwrap();
        device.sync().unwrap();
        assert_eq!(inner.writes.lock().unwrap().last(), Some(&(2, 1)));
        assert!(inner.syncs.load(Ordering::SeqCst));
    }

    #[test]
    fn a_device_that_never_goes_live_writes_nothing() {
        let inner = Counting::new(4);
        let before = inner.blocks.lock().unwrap().clone();
        {
            let device = DeferredDevice::new(inner.clone());
            device.write_blocks(1, &[9; BLOCK_SIZE]).unwrap();
            device.sync().unwrap();
        }
        assert_eq!(*inner.blocks.lock().unwrap(), before);
        assert!(inner.writes.lock().unwrap().is_empty());
    }

    #[test]
    fn writes_past_the_end_are_refused_at_once() {
        let inner = Counting::new(2);
        let device = DeferredDevice::new(inner.clone());
        assert!(matches!(
            device.write_blocks(2, &[0; BLOCK_SIZE]),
            Err(BlockError::NoSpace { .. })
        ));
        device.go_live().unwrap();
        assert!(inner.writes.lock().unwrap().is_empty());
    }
}
