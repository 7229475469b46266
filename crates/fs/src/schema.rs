//! The redb tables that hold the file system (docs/fs-format.md describes them).

use redb::TableDefinition;

/// Format version of the file system inside the container.
pub(crate) const FS_FORMAT: u16 = 1;

/// File data is cut into chunks of this many bytes: 65 512 = 64 KiB − 24, so that a chunk
/// value plus its 16-byte key and redb's leaf overhead fills exactly one 64 KiB page
/// (an exactly-64 KiB value would spill into a 128 KiB page and double every write).
pub const CHUNK_SIZE: u64 = 65_512;

/// Largest file size accepted (1 PiB; far beyond any container).
pub const MAX_FILE_SIZE: u64 = 1 << 50;

/// Longest name of a directory entry, in bytes.
pub const NAME_MAX: usize = 255;

/// Largest extended attribute value.
pub const XATTR_VALUE_MAX: usize = 64 * 1024;

/// Key-value facts about the file system: format, chunk size, counters.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Inode number → inode record.
pub(crate) const INODES: TableDefinition<u64, &[u8]> = TableDefinition::new("inodes");
/// (parent inode, name) → (child inode, kind code).
pub(crate) const DIRENTS: TableDefinition<(u64, &[u8]), (u64, u8)> =
    TableDefinition::new("dirents");
/// (inode, chunk index) → chunk bytes (trailing zeros trimmed; a missing chunk is a hole).
pub(crate) const CHUNKS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("chunks");
/// Symlink inode → target.
pub(crate) const SYMLINKS: TableDefinition<u64, &[u8]> = TableDefinition::new("symlinks");
/// (inode, attribute name) → value.
pub(crate) const XATTRS: TableDefinition<(u64, &[u8]), &[u8]> = TableDefinition::new("xattrs");
/// Inodes with no name left but still open when last committed; deleted at the next open.
pub(crate) const ORPHANS: TableDefinition<u64, ()> = TableDefinition::new("orphans");
/// Space reserved by `fallocate`: (inode, first chunk index) → end chunk index (exclusive).
/// The ranges of one inode never overlap or touch (adjacent ranges are merged). Absent in
/// containers that never had a reservation.
pub(crate) const RESERVED: TableDefinition<(u64, u64), u64> = TableDefinition::new("reserved");

pub(crate) const META_FORMAT: &str = "format";
pub(crate) const META_CHUNK_SIZE: &str = "chunk_size";
pub(crate) const META_NEXT_INO: &str = "next_ino";
pub(crate) const META_USED_BYTES: &str = "used_bytes";
pub(crate) const META_INODE_COUNT: &str = "inode_count";
/// Chunks reserved by `fallocate` in the whole file system (absent: none).
pub(crate) const META_RESERVED_CHUNKS: &str = "reserved_chunks";

/// Estimated bytes of redb pages a stored entry of `entry_len` bytes (key + value) occupies:
/// entries of 1 KiB and more get leaf pages of their own (rounded up to a power-of-two number
/// of 4 KiB pages); smaller ones share leaves that are at least half full.
pub(crate) fn entry_cost(entry_len: usize) -> u64 {
    // A leaf holding one entry spends 8 bytes on its header and offsets (measured: a 65 512
    // byte value with a 16-byte key fills a 64 KiB page exactly); shared leaves also keep
    // per-entry offsets, counted generously.
    const SINGLE_ENTRY_LEAF_OVERHEAD: usize = 8;
    const SHARED_ENTRY_OVERHEAD: usize = 16;
    if entry_len >= 1024 {
        let pages = (entry_len + SINGLE_ENTRY_LEAF_OVERHEAD)
            .div_ceil(4096)
            .next_power_of_two();
        (pages * 4096) as u64
    } else {
        (2 * (entry_len + SHARED_ENTRY_OVERHEAD)) as u64
    }
}

/// Cost of a data chunk of `len` bytes.
pub(crate) fn chunk_cost(len: usize) -> u64 {
    if len == 0 { 0 } else { entry_cost(16 + len) }
}

/// Cost of a full data chunk: what each reserved chunk counts for, whatever it holds.
pub(crate) const FULL_CHUNK_COST: u64 = 65_536;

/// Cost of one entry of the reserved-ranges table (a 16-byte key and an 8-byte value).
pub(crate) fn reserved_range_cost() -> u64 {
    entry_cost(16 + 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_chunk_costs_exactly_one_64_kib_page() {
        assert_eq!(chunk_cost(CHUNK_SIZE as usize), 65_536);
        assert_eq!(chunk_cost(CHUNK_SIZE as usize), FULL_CHUNK_COST);
        assert_eq!(chunk_cost(0), 0);
        assert_eq!(chunk_cost(100), 2 * (16 + 100 + 16));
        assert_eq!(chunk_cost(5000), 8192);
    }
}
