//! Windows file attributes stored with each inode, and the owner that files made on Windows
//! get.
//!
//! Windows programs (Explorer, robocopy, backup software) read and set four attribute bits
//! that POSIX has no place for: read-only, hidden, system and archive. They are kept in the
//! inode record (docs/fs-format.md, bytes 84..88) with the values Windows itself uses
//! (`FILE_ATTRIBUTE_*`), so a file keeps them across a mount on Linux and a mount on Windows.
//! On Linux and macOS they are stored but have no effect. This module knows the bits; it
//! knows nothing of WinFsp or NTSTATUS.

use crate::fs::Ctx;

/// The Windows attribute bits secvol stores for a file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct WinAttrs(u32);

impl WinAttrs {
    /// No attribute set (every file of a container made before attributes were stored).
    pub const NONE: WinAttrs = WinAttrs(0);
    /// `FILE_ATTRIBUTE_READONLY`: Windows refuses to write or delete the file.
    pub const READONLY: WinAttrs = WinAttrs(0x1);
    /// `FILE_ATTRIBUTE_HIDDEN`: Explorer does not show it by default.
    pub const HIDDEN: WinAttrs = WinAttrs(0x2);
    /// `FILE_ATTRIBUTE_SYSTEM`: an operating-system file.
    pub const SYSTEM: WinAttrs = WinAttrs(0x4);
    /// `FILE_ATTRIBUTE_ARCHIVE`: changed since the last backup (backup software clears it).
    pub const ARCHIVE: WinAttrs = WinAttrs(0x20);

    /// Every bit that is stored; other bits are dropped.
    pub const STORED: WinAttrs = WinAttrs(0x1 | 0x2 | 0x4 | 0x20);

    /// The stored bits of a Windows attribute word (others, such as `DIRECTORY` or `NORMAL`,
    /// are facts about the file rather than settings, and are dropped).
    pub const fn from_bits_truncate(bits: u32) -> WinAttrs {
        WinAttrs(bits & WinAttrs::STORED.0)
    }

    /// The attribute word (only stored bits).
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: WinAttrs) -> bool {
        self.0 & other.0 == other.0
    }

    /// These bits and those of `other`.
    #[must_use]
    pub const fn union(self, other: WinAttrs) -> WinAttrs {
        WinAttrs(self.0 | other.0)
    }

    /// These bits without those of `other`.
    #[must_use]
    pub const fn without(self, other: WinAttrs) -> WinAttrs {
        WinAttrs(self.0 & !other.0)
    }
}

/// Owner and group of files created through a Windows front-end (and of the root of a
/// container created on Windows). Windows has no numeric user ids; 1000 is the first user
/// of most Linux systems, so a container filled on Windows is usable by that user when it is
/// mounted on Linux (others use `chown`). See docs/platforms.md.
pub const WINDOWS_OWNER: Ctx = Ctx {
    uid: 1000,
    gid: 1000,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_four_stored_bits_survive() {
        // DIRECTORY (0x10), NORMAL (0x80) and TEMPORARY (0x100) are dropped.
        let attrs = WinAttrs::from_bits_truncate(0x1 | 0x10 | 0x20 | 0x80 | 0x100);
        assert_eq!(attrs, WinAttrs::READONLY.union(WinAttrs::ARCHIVE));
        assert!(attrs.contains(WinAttrs::READONLY));
        assert!(!attrs.contains(WinAttrs::HIDDEN));
        assert_eq!(attrs.without(WinAttrs::READONLY), WinAttrs::ARCHIVE);
    }
}
