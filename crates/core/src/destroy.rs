//! Crypto-erase: make a container unreadable by destroying what unlocks it, not the data.
//!
//! Every block of the data area is encrypted under the master key, and the master key exists
//! on disk only wrapped in the keyslots of the two header copies. Overwriting those keyslots
//! with random bytes (then the whole header regions, and the two super slots holding the
//! device length and block 0) leaves ciphertext that nobody can decrypt: no password opens
//! the file any more, and restoring a header backup made earlier does not make secvol open
//! it either, because the super slots it needs are gone. That is a few hundred kilobytes of
//! writes, whatever the container's size, which is why it is the right erase for USB keys and
//! SSDs: they remap blocks on write, so overwriting a whole file is no guarantee that the old
//! blocks are gone (docs/threat-model.md).
//!
//! The one remaining risk, stated to the user by the command: someone who holds an old
//! header backup *and* a password valid in it can still unwrap the master key from it and
//! decrypt the data blocks with their own tools. Header backups must be destroyed too.
//!
//! This module knows the header and super-slot places only; it never needs a password.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use crate::container::Container;
use crate::error::{ContainerError, HeaderDamage};
use crate::geometry::{HEADER_REGION_LEN, SUPER_SLOT_LEN, SUPER_SLOTS};
use crate::header::{KEYSLOT_LEN, KEYSLOTS, KEYSLOTS_OFFSET};
use crate::resize::overwrite_random;
use crate::storage::{Access, FileStorage, Storage};

/// What [`destroy`] overwrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestroyReport {
    /// Byte ranges of the file overwritten with random bytes, in the order written.
    pub overwritten: Vec<Range<u64>>,
}

impl DestroyReport {
    /// Total bytes overwritten.
    pub fn bytes(&self) -> u64 {
        self.overwritten.iter().map(|r| r.end - r.start).sum()
    }
}

/// Crypto-erase the container at `path`, taking its exclusive lock (refused while mounted).
/// Refuses a file that carries no secvol header at either end, so a mistyped name cannot
/// damage another file.
pub fn destroy(path: &Path) -> Result<DestroyReport, ContainerError> {
    let storage = match FileStorage::open(path, Access::ReadWrite)? {
        Ok(storage) => storage,
        Err(_locked) => {
            return Err(ContainerError::InUse {
                path: path.to_owned(),
            });
        }
    };
    destroy_on(Arc::new(storage), path)
}

/// [`destroy`] on any storage (`path` is used in messages only).
///
/// Writes, each group synced before the next: the keyslot area of every header copy; then the
/// whole header regions and both super slots.
pub fn destroy_on(storage: Arc<dyn Storage>, path: &Path) -> Result<DestroyReport, ContainerError> {
    let file_len = storage.len()?;
    let container_len = match Container::open_storage(Arc::clone(&storage), path, Access::ReadWrite)
    {
        Ok(container) => Some(container.header().geometry.container_len),
        Err(ContainerError::Truncated { expected, .. }) => Some(expected),
        // A secvol file whose headers are damaged, or of another version, is still erased.
        Err(ContainerError::HeadersDamaged { .. } | ContainerError::UnsupportedVersion { .. }) => {
            None
        }
        Err(err) => return Err(err),
    };
    if file_len < HEADER_REGION_LEN + SUPER_SLOTS as u64 * SUPER_SLOT_LEN {
        return Err(ContainerError::HeadersDamaged {
            primary: HeaderDamage::Missing,
            backup: HeaderDamage::Missing,
        });
    }
    // Header copies: the primary, the backup where the header says, and the last region of
    // the file (where the backup is looked for when the primary is unusable, and where a
    // resize interrupted after its header switch leaves a copy).
    let mut copies = vec![0];
    for end in container_len.into_iter().chain([file_len]) {
        if let Some(offset) = end.checked_sub(HEADER_REGION_LEN)
            && end <= file_len
            && offset >= HEADER_REGION_LEN
            && !copies.contains(&offset)
        {
            copies.push(offset);
        }
    }
    let mut report = DestroyReport {
        overwritten: Vec::new(),
    };
    let keyslots = (KEYSLOTS_OFFSET as u64)..(KEYSLOTS_OFFSET + KEYSLOTS * KEYSLOT_LEN) as u64;
    for &copy in &copies {
        let range = copy + keyslots.start..copy + keyslots.end;
        overwrite_random(&*storage, range.start, range.end - range.start)?;
        report.overwritten.push(range);
    }
    storage.sync()?;
    let super_slots = HEADER_REGION_LEN..HEADER_REGION_LEN + SUPER_SLOTS as u64 * SUPER_SLOT_LEN;
    let regions = copies
        .iter()
        .map(|&copy| copy..copy + HEADER_REGION_LEN)
        .chain([super_slots]);
    for range in regions {
        overwrite_random(&*storage, range.start, range.end - range.start)?;
        report.overwritten.push(range);
    }
    storage.sync()?;
    Ok(report)
}
