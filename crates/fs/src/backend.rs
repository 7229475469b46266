//! redb's storage backend over the encrypted block device.
//!
//! redb addresses bytes; the device addresses 4 KiB blocks. redb's page I/O is page-aligned
//! except for its 320-byte header at offset 0, which lives in block 0 (the device keeps block 0
//! in memory and writes it to alternating super slots at each sync).
//!
//! Reads are strict (an unauthenticated block is an I/O error naming it) except while redb
//! repairs after an unclean shutdown: then a torn block must read as garbage that fails redb's
//! own checksums, so that redb falls back to the previous commit instead of aborting the open
//! (see ../shared/notes/redb-on-aead.md §2). The owner switches that on with
//! [`DeviceBackend::set_recovering`] around the open, only when redb's header says a repair is
//! due.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use secvol_core::{BLOCK_SIZE, BlockDevice, ReadMode};

const BLOCK: u64 = BLOCK_SIZE as u64;

/// Offset of redb's "god byte" in its header, and the flag saying a repair is required.
const REDB_GOD_BYTE: usize = 9;
const REDB_RECOVERY_REQUIRED: u8 = 2;
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Shared state between the backend handed to redb and its owner.
#[derive(Debug, Default)]
pub(crate) struct BackendState {
    recovering: AtomicBool,
    always_lenient: bool,
}

/// The backend object owned by redb.
#[derive(Debug)]
pub(crate) struct DeviceBackend {
    device: Arc<dyn BlockDevice>,
    state: Arc<BackendState>,
}

impl DeviceBackend {
    pub(crate) fn new(
        device: Arc<dyn BlockDevice>,
        always_lenient: bool,
    ) -> (Self, Arc<BackendState>) {
        let state = Arc::new(BackendState {
            recovering: AtomicBool::new(false),
            always_lenient,
        });
        (
            DeviceBackend {
                device,
                state: Arc::clone(&state),
            },
            state,
        )
    }

    fn mode(&self) -> ReadMode {
        if self.state.always_lenient || self.state.recovering.load(Ordering::Acquire) {
            ReadMode::Lenient
        } else {
            ReadMode::Strict
        }
    }

    fn read_unaligned(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let first = offset / BLOCK;
        let end = offset + out.len() as u64;
        let last = end.div_ceil(BLOCK);
        let mut buf = vec![0u8; ((last - first) * BLOCK) as usize];
        self.device.read_blocks(first, &mut buf, self.mode())?;
        let start = (offset - first * BLOCK) as usize;
        out.copy_from_slice(&buf[start..start + out.len()]);
        Ok(())
    }
}

impl BackendState {
    pub(crate) fn set_recovering(&self, on: bool) {
        self.recovering.store(on, Ordering::Release);
    }
}

/// Whether redb's header in block 0 asks for a repair (an unclean shutdown).
pub(crate) fn redb_needs_recovery(device: &dyn BlockDevice) -> io::Result<bool> {
    if device.len() < BLOCK {
        return Ok(false);
    }
    let mut block0 = vec![0u8; BLOCK_SIZE];
    device.read_blocks(0, &mut block0, ReadMode::Strict)?;
    Ok(block0[..REDB_MAGIC.len()] == REDB_MAGIC
        && block0[REDB_GOD_BYTE] & REDB_RECOVERY_REQUIRED != 0)
}

impl redb::StorageBackend for DeviceBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.device.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        if offset.is_multiple_of(BLOCK) && (out.len() as u64).is_multiple_of(BLOCK) {
            Ok(self.device.read_blocks(offset / BLOCK, out, self.mode())?)
        } else {
            self.read_unaligned(offset, out)
        }
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        Ok(self.device.set_len(len.div_ceil(BLOCK) * BLOCK)?)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        Ok(self.device.sync()?)
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        if offset.is_multiple_of(BLOCK) && (data.len() as u64).is_multiple_of(BLOCK) {
            return Ok(self.device.write_blocks(offset / BLOCK, data)?);
        }
        // Only redb's header (320 bytes at offset 0) is written unaligned: read-modify-write
        // of the covering blocks (block 0 is served from memory by the device).
        let first = offset / BLOCK;
        let end_block = (offset + data.len() as u64).div_ceil(BLOCK);
        let mut buf = vec![0u8; ((end_block - first) * BLOCK) as usize];
        self.device.read_blocks(first, &mut buf, ReadMode::Strict)?;
        let start = (offset - first * BLOCK) as usize;
        buf[start..start + data.len()].copy_from_slice(data);
        Ok(self.device.write_blocks(first, &buf)?)
    }
}
