//! A decorator that remembers which blocks were read through it.
//!
//! `check` stacks it under the file system and then walks everything the file system
//! references (every table, every page the storage engine's integrity check visits): the
//! blocks read are the blocks in use. A block that fails authentication outside that set is a
//! stale free block — typically the half-written remains of a write that a power cut
//! interrupted, which the storage engine (copy-on-write) never references — and is harmless.

use std::sync::{Arc, Mutex};

use crate::block_set::BlockSet;
use crate::device::{BlockDevice, ReadMode};
use crate::error::BlockError;
use crate::forward::{forward_device_changes, forward_device_facts};
use crate::geometry::BLOCK_SIZE;

/// Passes everything through to the device underneath and records the blocks read.
#[derive(Debug)]
pub struct ReadRecorder {
    inner: Arc<dyn BlockDevice>,
    read: Mutex<BlockSet>,
}

impl ReadRecorder {
    /// Wrap `inner`, with nothing recorded yet.
    pub fn new(inner: Arc<dyn BlockDevice>) -> Self {
        ReadRecorder {
            inner,
            read: Mutex::new(BlockSet::new()),
        }
    }

    /// The blocks read so far.
    pub fn blocks_read(&self) -> BlockSet {
        self.read.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forget what was read so far.
    pub fn clear(&self) {
        *self.read.lock().unwrap_or_else(|p| p.into_inner()) = BlockSet::new();
    }
}

impl BlockDevice for ReadRecorder {
    forward_device_facts!(inner);

    forward_device_changes!(inner);

    fn read_blocks(&self, first: u64, buf: &mut [u8], mode: ReadMode) -> Result<(), BlockError> {
        let count = (buf.len() / BLOCK_SIZE) as u64;
        self.read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert_range(first..first + count);
        self.inner.read_blocks(first, buf, mode)
    }
}
