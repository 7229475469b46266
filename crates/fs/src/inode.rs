//! Inodes: the record stored per file, and the attributes handed to front-ends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{FsError, FsResult};
use crate::schema::CHUNK_SIZE;
use crate::winattr::WinAttrs;

/// An inode number. Never reused within a container.
pub type Ino = u64;

/// The root directory's inode number (FUSE's root id).
pub const ROOT_INO: Ino = 1;

/// What kind of object an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    RegularFile,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A named pipe (FIFO).
    NamedPipe,
    /// A Unix domain socket.
    Socket,
    /// A character device node.
    CharDevice,
    /// A block device node.
    BlockDevice,
}

impl FileKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            FileKind::RegularFile => 1,
            FileKind::Directory => 2,
            FileKind::Symlink => 3,
            FileKind::NamedPipe => 4,
            FileKind::Socket => 5,
            FileKind::CharDevice => 6,
            FileKind::BlockDevice => 7,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => FileKind::RegularFile,
            2 => FileKind::Directory,
            3 => FileKind::Symlink,
            4 => FileKind::NamedPipe,
            5 => FileKind::Socket,
            6 => FileKind::CharDevice,
            7 => FileKind::BlockDevice,
            _ => return None,
        })
    }
}

/// A point in time with nanoseconds, as POSIX timestamps are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (negative before it).
    pub secs: i64,
    /// Nanoseconds, 0..1e9.
    pub nanos: u32,
}

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    /// Convert from `SystemTime`.
    pub fn from_system(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp {
                secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: d.subsec_nanos(),
            },
            Err(before) => {
                let d = before.duration();
                let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                if d.subsec_nanos() == 0 {
                    Timestamp { secs, nanos: 0 }
                } else {
                    Timestamp {
                        secs: secs - 1,
                        nanos: 1_000_000_000 - d.subsec_nanos(),
                    }
                }
            }
        }
    }

    /// Convert to `SystemTime`.
    pub fn to_system(self) -> SystemTime {
        if self.secs >= 0 {
            UNIX_EPOCH + Duration::new(self.secs.unsigned_abs(), self.nanos)
        } else {
            UNIX_EPOCH - Duration::from_secs(self.secs.unsigned_abs())
                + Duration::from_nanos(u64::from(self.nanos))
        }
    }
}

/// The stored inode record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// Kind of object.
    pub kind: FileKind,
    /// Permission bits including setuid, setgid and sticky (mode & 0o7777).
    pub perm: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Number of directory entries naming this inode (directories: 2 + subdirectories).
    pub nlink: u32,
    /// Size in bytes (directories: number of entries, symlinks: target length).
    pub size: u64,
    /// Last access.
    pub atime: Timestamp,
    /// Last content change.
    pub mtime: Timestamp,
    /// Last status change.
    pub ctime: Timestamp,
    /// Creation.
    pub crtime: Timestamp,
    /// Device number of device nodes.
    pub rdev: u32,
    /// Directories: the parent directory (the root is its own parent). Others: 0.
    pub parent: Ino,
    /// Windows attributes (read-only, hidden, system, archive); stored, not enforced here.
    pub win_attrs: WinAttrs,
    /// Regular files: how many chunks `fallocate` reserved (in the reserved-ranges table).
    pub reserved_chunks: u32,
    /// Regular files: the chunk index just past the last reserved range (0: none).
    pub reserved_end: u32,
}

const RECORD_VERSION: u8 = 1;
/// Serialized size of an inode record.
pub(crate) const RECORD_LEN: usize = 96;

impl Inode {
    /// A new inode with all timestamps set to `now`.
    pub fn new(kind: FileKind, perm: u16, uid: u32, gid: u32, now: Timestamp) -> Self {
        Inode {
            kind,
            perm: perm & 0o7777,
            uid,
            gid,
            nlink: if kind == FileKind::Directory { 2 } else { 1 },
            size: 0,
            atime: now,
            mtime: now,
            ctime: now,
            crtime: now,
            rdev: 0,
            parent: 0,
            win_attrs: WinAttrs::NONE,
            reserved_chunks: 0,
            reserved_end: 0,
        }
    }

    /// Serialize (little-endian, fixed layout; docs/fs-format.md).
    pub(crate) fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        let mut pos = 0;
        let mut put = |bytes: &[u8]| {
            out[pos..pos + bytes.len()].copy_from_slice(bytes);
            pos += bytes.len();
        };
        put(&[RECORD_VERSION, self.kind.code()]);
        put(&self.perm.to_le_bytes());
        put(&self.uid.to_le_bytes());
        put(&self.gid.to_le_bytes());
        put(&self.nlink.to_le_bytes());
        put(&self.size.to_le_bytes());
        for t in [self.atime, self.mtime, self.ctime, self.crtime] {
            put(&t.secs.to_le_bytes());
            put(&t.nanos.to_le_bytes());
        }
        put(&self.rdev.to_le_bytes());
        put(&self.parent.to_le_bytes());
        put(&self.win_attrs.bits().to_le_bytes());
        put(&self.reserved_chunks.to_le_bytes());
        put(&self.reserved_end.to_le_bytes());
        debug_assert_eq!(pos, RECORD_LEN);
        out
    }

    /// Parse a stored record.
    pub(crate) fn decode(bytes: &[u8]) -> FsResult<Self> {
        let bad = |what: &str| FsError::RecordDamaged {
            what: format!("inode record: {what}"),
        };
        if bytes.len() != RECORD_LEN {
            return Err(bad("wrong length"));
        }
        if bytes[0] != RECORD_VERSION {
            return Err(bad("unknown record version"));
        }
        let kind = FileKind::from_code(bytes[1]).ok_or_else(|| bad("unknown kind"))?;
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let ts_at = |at: usize| Timestamp {
            secs: i64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes")),
            nanos: u32_at(at + 8),
        };
        Ok(Inode {
            kind,
            perm: u16_at(2),
            uid: u32_at(4),
            gid: u32_at(8),
            nlink: u32_at(12),
            size: u64_at(16),
            atime: ts_at(24),
            mtime: ts_at(36),
            ctime: ts_at(48),
            crtime: ts_at(60),
            rdev: u32_at(72),
            parent: u64_at(76),
            // Zero in records written before these fields existed: no Windows attribute
            // set, nothing reserved.
            win_attrs: WinAttrs::from_bits_truncate(u32_at(84)),
            reserved_chunks: u32_at(88),
            reserved_end: u32_at(92),
        })
    }

    /// Allocated size in 512-byte units: every 4 KiB block up to the size (holes and elided
    /// zeros included: never less than the data), plus the chunks `fallocate` reserved past
    /// the end of the file. The reserved chunks past the end are counted from the end of the
    /// last reserved range, capped at the number of reserved chunks: exact for one range past
    /// the end, an overestimate by at most the gap when ranges past the end have gaps.
    pub(crate) fn blocks(&self) -> u64 {
        let eof_chunks = self.size.div_ceil(CHUNK_SIZE);
        let beyond = u64::from(self.reserved_end)
            .saturating_sub(eof_chunks)
            .min(u64::from(self.reserved_chunks));
        self.size.div_ceil(4096) * 8 + (beyond * CHUNK_SIZE).div_ceil(4096) * 8
    }

    /// The attributes a front-end reports for this inode.
    pub fn attr(&self, ino: Ino) -> Attr {
        Attr {
            ino,
            kind: self.kind,
            perm: self.perm,
            uid: self.uid,
            gid: self.gid,
            nlink: self.nlink,
            size: self.size,
            blocks: self.blocks(),
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            crtime: self.crtime,
            rdev: self.rdev,
            win_attrs: self.win_attrs,
        }
    }
}

/// Attributes of an inode as front-ends see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    /// Inode number.
    pub ino: Ino,
    /// Kind of object.
    pub kind: FileKind,
    /// Permission bits (mode & 0o7777).
    pub perm: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Size in bytes.
    pub size: u64,
    /// Allocated size in 512-byte units: the size rounded up to 4 KiB (an estimate: sparse
    /// regions and elided zeros are not subtracted) plus space `fallocate` reserved past the
    /// end of the file.
    pub blocks: u64,
    /// Last access.
    pub atime: Timestamp,
    /// Last modification.
    pub mtime: Timestamp,
    /// Last status change.
    pub ctime: Timestamp,
    /// Creation.
    pub crtime: Timestamp,
    /// Device number.
    pub rdev: u32,
    /// Windows attributes (read-only, hidden, system, archive).
    pub win_attrs: WinAttrs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_records_round_trip() {
        let mut inode = Inode::new(
            FileKind::Directory,
            0o4755,
            1000,
            100,
            Timestamp { secs: -5, nanos: 7 },
        );
        inode.size = u64::MAX;
        inode.parent = 42;
        inode.reserved_chunks = 7;
        inode.reserved_end = u32::MAX;
        inode.rdev = 0x0801;
        inode.win_attrs = WinAttrs::HIDDEN.union(WinAttrs::ARCHIVE);
        inode.mtime = Timestamp {
            secs: 1_700_000_000,
            nanos: 999_999_999,
        };
        assert_eq!(Inode::decode(&inode.encode()).unwrap(), inode);
        assert!(Inode::decode(&inode.encode()[..50]).is_err());
        // Records written before Windows attributes existed have zeros there.
        let mut old = inode.encode();
        old[84..88].fill(0);
        assert_eq!(Inode::decode(&old).unwrap().win_attrs, WinAttrs::NONE);
        let mut bad = inode.encode();
        bad[1] = 99;
        assert!(Inode::decode(&bad).is_err());
        // Records written before reservations existed have zeros there.
        let mut old = inode.encode();
        old[88..96].fill(0);
        let old = Inode::decode(&old).unwrap();
        assert_eq!((old.reserved_chunks, old.reserved_end), (0, 0));
    }

    #[test]
    fn blocks_cover_the_size_and_reservations_past_the_end() {
        let mut inode = Inode::new(FileKind::RegularFile, 0o644, 0, 0, Timestamp::default());
        assert_eq!(inode.blocks(), 0);
        inode.size = 1;
        assert_eq!(inode.blocks(), 8);
        // A reservation inside the file adds nothing: its blocks are counted by the size.
        inode.size = 10 * CHUNK_SIZE;
        inode.reserved_chunks = 10;
        inode.reserved_end = 10;
        let by_size = (10 * CHUNK_SIZE).div_ceil(4096) * 8;
        assert_eq!(inode.blocks(), by_size);
        // Five more chunks reserved past the end (keep-size) are counted.
        inode.reserved_chunks = 15;
        inode.reserved_end = 15;
        assert_eq!(
            inode.blocks(),
            by_size + (5 * CHUNK_SIZE).div_ceil(4096) * 8
        );
        // Never more past the end than was reserved.
        inode.reserved_chunks = 2;
        inode.reserved_end = 1000;
        assert_eq!(
            inode.blocks(),
            by_size + (2 * CHUNK_SIZE).div_ceil(4096) * 8
        );
    }

    #[test]
    fn timestamps_convert_both_ways_including_before_1970() {
        for t in [
            Timestamp { secs: 0, nanos: 0 },
            // Multiples of 100 ns: Windows' SystemTime has that resolution.
            Timestamp {
                secs: 1_700_000_000,
                nanos: 123_400,
            },
            Timestamp {
                secs: -1,
                nanos: 500,
            },
            Timestamp {
                secs: -86_400,
                nanos: 0,
            },
        ] {
            assert_eq!(Timestamp::from_system(t.to_system()), t);
        }
    }
}
