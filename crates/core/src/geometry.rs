//! Where every byte of a container file lives (docs/format.md draws it).
//!
//! ```text
//! 0                  primary header region (64 KiB; the header is its first 4 KiB)
//! 64 KiB             super slot 0 (8 KiB)   } the device super record: length + block 0,
//! 72 KiB             super slot 1 (8 KiB)   } written alternately (dual slot)
//! 80 KiB             group 0: meta block, then K data blocks
//!                    group 1: meta block, then K data blocks
//!                    ...    (the last group may be partial)
//! len - 64 KiB       backup header region (identical header copy)
//! ```
//!
//! A meta block holds, for each of the K data blocks of its group, the nonce and tag of the
//! block's current ciphertext (K = 4096 / (nonce + tag): 128 for AES-256-GCM, 102 for
//! XChaCha20-Poly1305), so data blocks stay 4 KiB-aligned on the host.

use crate::cipher::CipherSuite;

/// Size of a logical block, the unit of encryption.
pub const BLOCK_SIZE: usize = 4096;
/// `BLOCK_SIZE` as a file offset.
pub const BLOCK_SIZE_U64: u64 = BLOCK_SIZE as u64;
/// Size of each header region (primary at the start, backup at the end).
pub const HEADER_REGION_LEN: u64 = 64 * 1024;
/// Size of a serialized header (the start of its region; the rest is reserved filler).
pub const HEADER_LEN: usize = 4096;
/// Size of one super slot.
pub const SUPER_SLOT_LEN: u64 = 8 * 1024;
/// Number of super slots.
pub const SUPER_SLOTS: usize = 2;
/// The smallest container accepted by `create`.
pub const MIN_CONTAINER_LEN: u64 = 1024 * 1024;

/// The layout of one container file, derived entirely from its length and cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Total length of the container file in bytes.
    pub container_len: u64,
    /// Offset of the data area (super slots, then groups).
    pub data_area_offset: u64,
    /// Length of the data area.
    pub data_area_len: u64,
    /// Data blocks per group (K).
    pub blocks_per_group: u64,
    /// Bytes of nonce + tag kept per data block in the meta block.
    pub block_meta_len: u64,
    /// Number of logical blocks the device can hold.
    pub capacity_blocks: u64,
}

impl Geometry {
    /// Lay out a container of exactly `container_len` bytes (a whole number of blocks).
    /// `None` if the length is below the minimum or not block-aligned.
    pub fn for_container_len(container_len: u64, suite: CipherSuite) -> Option<Geometry> {
        if container_len < MIN_CONTAINER_LEN || !container_len.is_multiple_of(BLOCK_SIZE_U64) {
            return None;
        }
        let block_meta_len = suite.block_meta_len() as u64;
        let blocks_per_group = BLOCK_SIZE_U64 / block_meta_len;
        let data_area_offset = HEADER_REGION_LEN;
        let data_area_len = container_len - 2 * HEADER_REGION_LEN;
        let group_area = data_area_len - SUPER_SLOTS as u64 * SUPER_SLOT_LEN;
        let physical_blocks = group_area / BLOCK_SIZE_U64;
        let full_groups = physical_blocks / (blocks_per_group + 1);
        let rest = physical_blocks % (blocks_per_group + 1);
        let capacity_blocks = full_groups * blocks_per_group + rest.saturating_sub(1);
        Some(Geometry {
            container_len,
            data_area_offset,
            data_area_len,
            blocks_per_group,
            block_meta_len,
            capacity_blocks,
        })
    }

    /// Usable bytes of the device.
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_blocks * BLOCK_SIZE_U64
    }

    /// Offset of the backup header.
    pub fn backup_header_offset(&self) -> u64 {
        self.container_len - HEADER_REGION_LEN
    }

    /// Offset of super slot `slot` (0 or 1).
    pub fn super_slot_offset(&self, slot: usize) -> u64 {
        self.data_area_offset + slot as u64 * SUPER_SLOT_LEN
    }

    fn groups_offset(&self) -> u64 {
        self.data_area_offset + SUPER_SLOTS as u64 * SUPER_SLOT_LEN
    }

    /// The group holding logical block `index`, and the block's position inside it.
    pub fn group_of(&self, index: u64) -> (u64, u64) {
        (index / self.blocks_per_group, index % self.blocks_per_group)
    }

    fn group_offset(&self, group: u64) -> u64 {
        self.groups_offset() + group * (self.blocks_per_group + 1) * BLOCK_SIZE_U64
    }

    /// Offset of the ciphertext of logical block `index`.
    pub fn data_offset(&self, index: u64) -> u64 {
        let (group, position) = self.group_of(index);
        self.group_offset(group) + (1 + position) * BLOCK_SIZE_U64
    }

    /// Offset of the nonce and tag of logical block `index`.
    pub fn meta_offset(&self, index: u64) -> u64 {
        let (group, position) = self.group_of(index);
        self.group_offset(group) + position * self.block_meta_len
    }

    /// Offset just past the last byte of the data area.
    pub fn data_area_end(&self) -> u64 {
        self.data_area_offset + self.data_area_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_64_mib_aes_matches_format_doc() {
        let g = Geometry::for_container_len(64 << 20, CipherSuite::Aes256Gcm).unwrap();
        assert_eq!(g.blocks_per_group, 128);
        assert_eq!(g.block_meta_len, 32);
        assert_eq!(g.data_area_len, (64 << 20) - 131_072);
        // 16 348 physical blocks = 126 full groups of 129 + 94 → 126·128 + 93.
        assert_eq!(g.capacity_blocks, 16_221);
        assert_eq!(g.data_offset(0), 81_920 + 4096);
        assert_eq!(g.meta_offset(1), 81_920 + 32);
        assert_eq!(g.data_offset(128), 81_920 + 129 * 4096 + 4096);
        assert_eq!(g.backup_header_offset(), (64 << 20) - 65_536);
    }

    #[test]
    fn worked_example_1_mib_xchacha() {
        let g = Geometry::for_container_len(1 << 20, CipherSuite::XChaCha20Poly1305).unwrap();
        assert_eq!(g.blocks_per_group, 102);
        // 1 MiB − 144 KiB = 880 KiB = 220 blocks = 2 groups of 103 + 14 → 204 + 13.
        assert_eq!(g.capacity_blocks, 217);
    }

    #[test]
    fn every_block_lands_inside_the_data_area_without_overlap() {
        for suite in CipherSuite::ALL {
            for len in [1u64 << 20, (1 << 20) + 4096 * 77, 3 << 20] {
                let g = Geometry::for_container_len(len, suite).unwrap();
                let mut taken = std::collections::HashSet::new();
                for index in 0..g.capacity_blocks {
                    let data = g.data_offset(index);
                    assert!(data >= g.super_slot_offset(1) + SUPER_SLOT_LEN);
                    assert!(
                        data + BLOCK_SIZE_U64 <= g.data_area_end(),
                        "{suite} {len} {index}"
                    );
                    assert!(taken.insert(data / BLOCK_SIZE_U64));
                    let meta = g.meta_offset(index);
                    assert!(
                        meta + g.block_meta_len
                            <= data - (index % g.blocks_per_group) * BLOCK_SIZE_U64
                    );
                }
                assert_eq!(g.data_area_end(), g.backup_header_offset());
            }
        }
    }

    #[test]
    fn lengths_below_minimum_or_unaligned_are_refused() {
        assert!(Geometry::for_container_len(1 << 19, CipherSuite::Aes256Gcm).is_none());
        assert!(Geometry::for_container_len((1 << 20) + 1, CipherSuite::Aes256Gcm).is_none());
    }
}
