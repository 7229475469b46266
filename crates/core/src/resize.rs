//! Growing and shrinking a container file: the two header copies and the file length move
//! together, so that a crash at any write leaves either the old or the new size
//! (docs/format.md §11 lists the writes in order and why each state opens).
//!
//! What makes it possible is that the layout is prefix-stable (docs/format.md §1): where a
//! logical block lives does not depend on the container's length, only the capacity and the
//! place of the backup header do. So resizing never moves a data block; it rewrites the
//! header copies for the new length and changes the file's length around them.
//!
//! This module must not know about the file system inside the container. Before a shrink,
//! the caller (secvol-fs `resize`) moves the file system's data out of the tail and lowers the
//! device length under the new capacity; this module refuses a shrink that would cut off
//! blocks the device still covers. After a grow, the caller hands the new blocks to the file
//! system (the device length grows over them, with zero markers).

use std::sync::Arc;

use rand::Rng;

use crate::container::{Container, HeaderStatus, Progress, UnlockedContainer};
use crate::device::BlockDevice;
use crate::error::ContainerError;
use crate::geometry::{BLOCK_SIZE_U64, Geometry, HEADER_REGION_LEN, MIN_CONTAINER_LEN};
use crate::header::{FLAG_QUICK, Header};
use crate::kdf::{KeyPurpose, derive_subkey};
use crate::storage::Storage;

/// Bytes of random filler written per call while filling a grown area.
const FILL_CHUNK: usize = 1 << 20;

impl Container {
    /// Read the header copies again from the same open file (keeping its lock): the mount
    /// daemon unlocks the result with the password of a grow request.
    pub fn reread(&self) -> Result<Container, ContainerError> {
        Container::open_storage(Arc::clone(&self.storage), &self.path, self.access)
    }
}

impl UnlockedContainer {
    /// The layout of this container at `len` bytes (rounded down to a whole number of 4 KiB
    /// blocks, as `create` does).
    pub fn geometry_for_len(&self, len: u64) -> Result<Geometry, ContainerError> {
        let too_small = ContainerError::TooSmall {
            requested: len,
            minimum: MIN_CONTAINER_LEN,
        };
        if len < MIN_CONTAINER_LEN {
            return Err(too_small);
        }
        Geometry::for_container_len(len - len % BLOCK_SIZE_U64, self.header.suite).ok_or(too_small)
    }

    /// Forget the master key and keep only the open file (and its lock): the mount daemon
    /// keeps this to unlock the header again when asked to grow the container.
    pub fn relock(self) -> Result<Container, ContainerError> {
        Container::open_storage(self.storage, &self.path, self.access)
    }

    /// Grow the container file to `new_len` bytes (rounded down to 4 KiB). The new area is
    /// filled with random bytes (`progress` gets bytes done and total) unless `quick`, which
    /// leaves it sparse and sets the header's quick flag. Returns the new layout.
    ///
    /// The writes, each step synced before the next (a crash between any two leaves a
    /// container that opens at the old or the new size):
    /// 1. the file is extended and the new area filled: the old header copies still rule;
    /// 2. the new backup header is written at the new end;
    /// 3. the primary header is rewritten for the new length: from here the new size rules
    ///    (a torn primary falls back to the copy at the end of the file, which is the new one);
    /// 4. the old backup header region, now inside the data area, is overwritten with random
    ///    bytes.
    ///
    /// The device length is not touched: blocks past it are not read, and the file system
    /// extends it over the new capacity when it next opens read-write (or at once, online,
    /// through [`crate::EncryptedDevice::adopt_grown_geometry`]).
    pub fn grow(
        &mut self,
        new_len: u64,
        quick: bool,
        progress: Progress<'_>,
    ) -> Result<Geometry, ContainerError> {
        self.ensure_writable()?;
        let old = self.header.geometry;
        let new = self.geometry_for_len(new_len)?;
        if new.container_len <= old.container_len {
            return Err(ContainerError::BadResize {
                current: old.container_len,
                requested: new.container_len,
                direction: "grow",
            });
        }
        let storage = Arc::clone(&self.storage);
        storage.set_len(new.container_len)?;
        if !quick {
            fill_random(
                &*storage,
                old.container_len..new.container_len,
                &mut *progress,
            )?;
        }
        let mut header = self.header.clone();
        header.geometry = new;
        if quick {
            header.flags |= FLAG_QUICK;
        }
        let bytes = self.sealed(&mut header);
        storage.write_at(new.backup_header_offset(), &bytes)?;
        storage.sync()?;
        storage.write_at(0, &bytes)?;
        storage.sync()?;
        self.adopt(header);
        // The old backup copy now lies inside the data area, past every block in use: it must
        // not linger there (it holds the keyslots as they are today). After a grow by less
        // than a header region, the new backup region begins inside the old one: stop there.
        let stale = old.backup_header_offset()..old.container_len.min(new.backup_header_offset());
        overwrite_random(&*storage, stale.start, stale.end - stale.start)?;
        storage.sync()?;
        Ok(new)
    }

    /// Shrink the container file to `new_len` bytes (rounded down to 4 KiB). Refused with
    /// [`ContainerError::TailInUse`] unless the device length already lies within the new
    /// capacity (secvol-fs `resize` moves the file system out of the tail first). Returns the
    /// new layout.
    ///
    /// The writes, each synced before the next:
    /// 1. the new backup header is written at the new end, inside the old data area but past
    ///    every block in use: the old copies still rule;
    /// 2. the primary header is rewritten for the new length: from here the new size rules (a
    ///    torn primary falls back to the last header region of the file, which is still the old
    ///    backup copy: the old size, which is still whole);
    /// 3. the old backup header region, past the new end, is overwritten with random bytes;
    /// 4. the file is cut to the new length.
    pub fn shrink(&mut self, new_len: u64) -> Result<Geometry, ContainerError> {
        self.ensure_writable()?;
        let old = self.header.geometry;
        let new = self.geometry_for_len(new_len)?;
        if new.container_len >= old.container_len {
            return Err(ContainerError::BadResize {
                current: old.container_len,
                requested: new.container_len,
                direction: "shrink",
            });
        }
        let device_len = self.open_device(true)?.len();
        if device_len > new.capacity_bytes() {
            return Err(ContainerError::TailInUse {
                device_len,
                capacity: new.capacity_bytes(),
            });
        }
        let storage = Arc::clone(&self.storage);
        let mut header = self.header.clone();
        header.geometry = new;
        let bytes = self.sealed(&mut header);
        storage.write_at(new.backup_header_offset(), &bytes)?;
        storage.sync()?;
        storage.write_at(0, &bytes)?;
        storage.sync()?;
        self.adopt(header);
        overwrite_random(&*storage, old.backup_header_offset(), HEADER_REGION_LEN)?;
        storage.sync()?;
        storage.set_len(new.container_len)?;
        storage.sync()?;
        Ok(new)
    }

    /// Cut off bytes past the container's length, left by a resize that was interrupted
    /// after its header switch (a grow that went back, or a shrink before its last step).
    /// Returns how many bytes were removed.
    pub fn discard_leftover_tail(&mut self) -> Result<u64, ContainerError> {
        self.ensure_writable()?;
        let len = self.header.geometry.container_len;
        let file_len = self.storage.len()?;
        if file_len <= len {
            return Ok(0);
        }
        // A header copy of the interrupted resize may sit in the tail; do not leave it in the
        // freed space of the host file either.
        let tail_header = file_len.saturating_sub(HEADER_REGION_LEN).max(len);
        overwrite_random(&*self.storage, tail_header, file_len - tail_header)?;
        self.storage.sync()?;
        self.storage.set_len(len)?;
        self.storage.sync()?;
        Ok(file_len - len)
    }

    /// Fill in the MAC of `header` (under this container's key) and serialize it.
    fn sealed(&self, header: &mut Header) -> [u8; crate::geometry::HEADER_LEN] {
        let mac_key = derive_subkey(&self.master, &header.container_id, KeyPurpose::HeaderMac);
        header.mac = header.compute_mac(&mac_key);
        header.to_bytes()
    }

    /// Both copies now hold `header`.
    fn adopt(&mut self, header: Header) {
        self.header = header;
        self.status = HeaderStatus {
            primary: Ok(()),
            backup: Ok(()),
            copies_differ: false,
        };
    }
}

/// Fill `range` of the file with random bytes, reporting (bytes done, total), then sync.
fn fill_random(
    storage: &dyn Storage,
    range: std::ops::Range<u64>,
    progress: Progress<'_>,
) -> Result<(), ContainerError> {
    let total = range.end - range.start;
    let mut buf = vec![0u8; FILL_CHUNK];
    let mut rng = rand::rng();
    let mut offset = range.start;
    while offset < range.end {
        let n = FILL_CHUNK.min((range.end - offset) as usize);
        rng.fill_bytes(&mut buf[..n]);
        storage.write_at(offset, &buf[..n])?;
        offset += n as u64;
        progress(offset - range.start, total);
    }
    storage.sync()?;
    Ok(())
}

/// Overwrite `len` bytes at `offset` with random bytes (not synced).
pub(crate) fn overwrite_random(
    storage: &dyn Storage,
    offset: u64,
    len: u64,
) -> Result<(), ContainerError> {
    let mut buf = vec![0u8; len as usize];
    rand::rng().fill_bytes(&mut buf);
    storage.write_at(offset, &buf)?;
    Ok(())
}
