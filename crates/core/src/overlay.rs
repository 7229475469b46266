//! A read-only view of a block device that accepts writes into memory.
//!
//! A read-only mount must never write to the container, yet the layer above may need to write
//! while it opens (the storage engine's recovery after an unclean shutdown, its clean-shutdown
//! header). This decorator keeps such writes in RAM and drops them when it is dropped, so the
//! container stays byte-identical.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::device::{BlockDevice, ReadMode};
use crate::error::BlockError;
use crate::geometry::BLOCK_SIZE;

/// Reads fall through to the device unless the block was written since; writes stay in memory.
#[derive(Debug)]
pub struct OverlayDevice {
    inner: Arc<dyn BlockDevice>,
    state: Mutex<OverlayState>,
}

#[derive(Debug)]
struct OverlayState {
    len: u64,
    blocks: HashMap<u64, Box<[u8]>>,
}

impl OverlayDevice {
    /// Wrap `inner`; nothing will be written to it.
    pub fn new(inner: Arc<dyn BlockDevice>) -> Self {
        let len = inner.len();
        OverlayDevice {
            inner,
            state: Mutex::new(OverlayState {
                len,
                blocks: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OverlayState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The number of whole blocks in a buffer of `len` bytes at block `first`, or why not.
fn block_count(first: u64, len: usize) -> Result<u64, BlockError> {
    if !len.is_multiple_of(BLOCK_SIZE) {
        return Err(BlockError::Unaligned {
            offset: first * BLOCK_SIZE as u64,
            len: len as u64,
        });
    }
    Ok((len / BLOCK_SIZE) as u64)
}

impl BlockDevice for OverlayDevice {
    fn capacity_blocks(&self) -> u64 {
        self.inner.capacity_blocks()
    }

    fn len(&self) -> u64 {
        self.lock().len
    }

    fn set_len(&self, len: u64) -> Result<(), BlockError> {
        let mut state = self.lock();
        let old_blocks = state.len.div_ceil(BLOCK_SIZE as u64);
        let new_blocks = len.div_ceil(BLOCK_SIZE as u64);
        // Blocks that leave and re-enter the device must read as zeros.
        for index in new_blocks..old_blocks.max(new_blocks) {
            state.blocks.remove(&index);
        }
        for index in old_blocks..new_blocks {
            state
                .blocks
                .insert(index, vec![0u8; BLOCK_SIZE].into_boxed_slice());
        }
        state.len = len;
        Ok(())
    }

    fn read_blocks(&self, first: u64, buf: &mut [u8], mode: ReadMode) -> Result<(), BlockError> {
        let count = block_count(first, buf.len())?;
        let state = self.lock();
        let len_blocks = state.len / BLOCK_SIZE as u64;
        if first + count > len_blocks {
            return Err(BlockError::OutOfRange {
                index: (first + count - 1).max(len_blocks),
                len_blocks,
            });
        }
        let inner_len_blocks = self.inner.len() / BLOCK_SIZE as u64;
        for (i, block) in buf.chunks_exact_mut(BLOCK_SIZE).enumerate() {
            let index = first + i as u64;
            if let Some(data) = state.blocks.get(&index) {
                block.copy_from_slice(data);
            } else if index < inner_len_blocks {
                self.inner.read_blocks(index, block, mode)?;
            } else {
                block.fill(0);
            }
        }
        Ok(())
    }

    fn write_blocks(&self, first: u64, data: &[u8]) -> Result<(), BlockError> {
        let count = block_count(first, data.len())?;
        // The same limits as the container's, though nothing is written to it: the layer
        // above must meet the same device whether or not it may change the container.
        let capacity = self.inner.capacity_blocks();
        if first + count > capacity {
            return Err(BlockError::NoSpace {
                index: first.max(capacity),
                capacity_blocks: capacity,
            });
        }
        let mut state = self.lock();
        let len_blocks = state.len / BLOCK_SIZE as u64;
        if first + count > len_blocks {
            return Err(BlockError::OutOfRange {
                index: first + count - 1,
                len_blocks,
            });
        }
        for (i, block) in data.chunks_exact(BLOCK_SIZE).enumerate() {
            state.blocks.insert(first + i as u64, block.into());
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), BlockError> {
        Ok(())
    }

    fn tolerated_failures(&self) -> u64 {
        self.inner.tolerated_failures()
    }
}
