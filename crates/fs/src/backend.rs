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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
    /// The file length redb believes in. The device itself never shrinks under redb: when
    /// redb shrinks its file (at a clean close, or a commit that frees the tail), only this
    /// length goes down, so the blocks stay allocated and the next open adopts the full
    /// layout again without writing zero markers over the whole container (which costs
    /// 1/128 of the container per open: 64 MiB for 8 GiB).
    redb_len: AtomicU64,
}

/// The backend object owned by redb.
#[derive(Debug)]
pub(crate) struct DeviceBackend {
    device: Arc<dyn BlockDevice>,
    state: Arc<BackendState>,
}

impl DeviceBackend {
    pub(crate) fn new(device: Arc<dyn BlockDevice>) -> (Self, Arc<BackendState>) {
        let state = Arc::new(BackendState {
            recovering: AtomicBool::new(false),
            redb_len: AtomicU64::new(device.len()),
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
        if self.state.recovering.load(Ordering::Acquire) {
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

    /// The file length redb believes in (after a compaction: how far its pages reach).
    pub(crate) fn redb_len(&self) -> u64 {
        self.redb_len.load(Ordering::Acquire)
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

// redb's super-header fields describing its region geometry (file format 3, all u32 LE).
const REDB_PAGE_SIZE_OFFSET: usize = 12;
const REDB_REGION_HEADER_PAGES_OFFSET: usize = 16;
const REDB_REGION_MAX_DATA_PAGES_OFFSET: usize = 20;

/// Give a freshly formatted (and cleanly closed) database the whole container.
///
/// redb grows its file by doubling (up to 4 GiB regions) and its buddy allocator then hands
/// out pages anywhere in the new space, often at the top. On a device of fixed capacity a
/// doubling past the capacity leads to writes beyond it long before the container is full
/// (measured: "no space" at 73-77 % full). redb adopts a longer file as a larger layout when
/// it opens a cleanly closed database whose file length is a valid region layout, so the
/// file is extended once, here, to the longest such length that fits: redb never needs to
/// grow again and every page it allocates lies inside the container.
pub(crate) fn extend_to_capacity(device: &dyn BlockDevice) -> io::Result<()> {
    let (page, header_pages, max_data_pages) = redb_geometry(device)?;
    let capacity = device.capacity_blocks() * BLOCK;
    let Some(target) = largest_layout_len(capacity, page, header_pages, max_data_pages) else {
        return Ok(());
    };
    if target > device.len() {
        device.set_len(target)?;
        device.sync()?;
    }
    Ok(())
}

/// Whether redb's file is shorter than the longest layout that fits the container (redb
/// shrank it at a commit).
pub(crate) fn shrunk_below_capacity(
    device: &dyn BlockDevice,
    state: &BackendState,
) -> io::Result<bool> {
    let (page, header_pages, max_data_pages) = redb_geometry(device)?;
    let capacity = device.capacity_blocks() * BLOCK;
    Ok(
        largest_layout_len(capacity, page, header_pages, max_data_pages)
            .is_some_and(|target| state.redb_len.load(Ordering::Acquire) < target),
    )
}

/// redb's page size, region header pages and region data pages, from its super-header.
pub(crate) fn redb_geometry(device: &dyn BlockDevice) -> io::Result<(u64, u64, u64)> {
    let mut block0 = vec![0u8; BLOCK_SIZE];
    device.read_blocks(0, &mut block0, ReadMode::Strict)?;
    if block0[..REDB_MAGIC.len()] != REDB_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a redb database",
        ));
    }
    let field = |at: usize| {
        u64::from(u32::from_le_bytes(
            block0[at..at + 4].try_into().expect("4 bytes"),
        ))
    };
    Ok((
        field(REDB_PAGE_SIZE_OFFSET),
        field(REDB_REGION_HEADER_PAGES_OFFSET),
        field(REDB_REGION_MAX_DATA_PAGES_OFFSET),
    ))
}

/// The longest file length not above `capacity` that redb maps exactly onto a region layout:
/// the super-header page, full regions, then a trailing region of at least one data page.
pub(crate) fn largest_layout_len(
    capacity: u64,
    page: u64,
    header_pages: u64,
    max_data_pages: u64,
) -> Option<u64> {
    if page == 0 || !page.is_multiple_of(BLOCK) || max_data_pages == 0 {
        return None;
    }
    let full_region = (header_pages + max_data_pages) * page;
    let available = capacity.checked_sub(page)?;
    let full_regions = available / full_region;
    let rest = available - full_regions * full_region;
    let trailing_pages = rest / page;
    let trailing = if trailing_pages > header_pages {
        trailing_pages * page
    } else {
        0
    };
    let len = page + full_regions * full_region + trailing;
    (len > page).then_some(len)
}

impl redb::StorageBackend for DeviceBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.state.redb_len.load(Ordering::Acquire))
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        if offset.is_multiple_of(BLOCK) && (out.len() as u64).is_multiple_of(BLOCK) {
            Ok(self.device.read_blocks(offset / BLOCK, out, self.mode())?)
        } else {
            self.read_unaligned(offset, out)
        }
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let blocks = len.div_ceil(BLOCK) * BLOCK;
        if blocks > self.device.len() {
            self.device.set_len(blocks)?;
        }
        self.state.redb_len.store(len, Ordering::Release);
        Ok(())
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

#[cfg(test)]
mod layout_tests {
    use super::largest_layout_len;

    #[test]
    fn layouts_fill_the_capacity_in_whole_pages() {
        // One trailing region: everything but a partial page.
        assert_eq!(
            largest_layout_len(66_441_216, 4096, 3, 1 << 20),
            Some(66_441_216)
        );
        assert_eq!(largest_layout_len(12_388, 4096, 1, 1 << 20), Some(12_288));
        // Too small for a header page, a region header and a data page.
        assert_eq!(largest_layout_len(10_000, 4096, 1, 1 << 20), None);
        // Full regions, then a trailing one.
        let full = (2 + 8) * 4096;
        assert_eq!(
            largest_layout_len(4096 + 2 * full + 5 * 4096, 4096, 2, 8),
            Some(4096 + 2 * full + 5 * 4096)
        );
        // A remainder too small for a trailing region is left unused.
        assert_eq!(
            largest_layout_len(4096 + 2 * full + 2 * 4096, 4096, 2, 8),
            Some(4096 + 2 * full)
        );
    }
}

#[cfg(test)]
mod redb_header_tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use secvol_core::testing::MemStorage;
    use secvol_core::{
        CipherSuite, CreateOptions, DeviceMode, ReadMode, ScryptParams, SecretString,
    };

    use super::*;
    use crate::{Ctx, Fs, FsOptions, OpenFlags, ROOT_INO};

    /// The fields of redb's header this backend reads are where it reads them, with values
    /// that mean what it assumes. redb is pinned to one version in Cargo.toml; this test is
    /// what tells a future upgrade that the private layout moved.
    #[test]
    fn redb_header_layout_is_what_the_backend_reads() {
        let unlocked = secvol_core::create_on(
            Arc::new(MemStorage::default()),
            Path::new("test.sec"),
            &SecretString::from("correct horse battery staple"),
            &CreateOptions {
                size: 8 << 20,
                suite: CipherSuite::Aes256Gcm,
                kdf: ScryptParams::with_log_n(10),
                quick: true,
            },
            &mut |_, _| {},
        )
        .unwrap();
        let stack = unlocked.open_stack(DeviceMode::ReadWrite).unwrap();
        let me = Ctx { uid: 1, gid: 1 };
        Fs::format(stack.clone(), me).unwrap();
        let device = Arc::clone(stack.device());

        // Magic and geometry: a 4 KiB page (the device's block), regions as redb lays them
        // out, and the device sized to exactly the longest layout that fits.
        let mut block0 = vec![0u8; BLOCK_SIZE];
        device
            .read_blocks(0, &mut block0, ReadMode::Strict)
            .unwrap();
        assert_eq!(block0[..REDB_MAGIC.len()], REDB_MAGIC);
        let (page, header_pages, max_data_pages) = redb_geometry(&*device).unwrap();
        assert_eq!(page, BLOCK, "redb's page size field");
        assert!(header_pages <= 64, "{header_pages} region header pages");
        assert!(
            max_data_pages >= 1024,
            "{max_data_pages} data pages per region"
        );
        let capacity = device.capacity_blocks() * BLOCK;
        assert_eq!(
            Some(device.len()),
            largest_layout_len(capacity, page, header_pages, max_data_pages)
        );

        // The "repair required" flag: clear after a clean close, set while the database is
        // open for writing with a change committed (a crash then must be repaired).
        assert!(!redb_needs_recovery(&*device).unwrap());
        let options = FsOptions {
            commit_interval: Duration::from_secs(3600),
            ..FsOptions::default()
        };
        let fs = Fs::open(stack.clone(), options.clone()).unwrap();
        let (attr, fh) = fs
            .create(ROOT_INO, b"f", 0o644, OpenFlags::READ_WRITE, me)
            .unwrap();
        fs.forget(attr.ino, 1);
        fs.write(fh, 0, b"x").unwrap();
        fs.release(fh).unwrap();
        fs.sync().unwrap();
        assert!(redb_needs_recovery(&*device).unwrap());
        fs.close().unwrap();
        assert!(!redb_needs_recovery(&*device).unwrap());
        // And redb takes the full layout back at the next open.
        let fs = Fs::open(stack, options).unwrap();
        assert_eq!(
            fs.stats().usable_bytes,
            crate::store::usable_for_capacity(capacity)
        );
        fs.close().unwrap();
    }
}
