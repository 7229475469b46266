//! Conversions between the kernel's values (as fuser hands them over) and the file-system
//! API's types. Pure functions, no file-system logic.

use std::time::Duration;

use fuser::{FileAttr, FileType, INodeNo, TimeOrNow};
use secvol_fs::{Attr, FileKind, FsError, RenameFlags, TimeSet, Timestamp, XattrMode};

/// How long the kernel may cache attributes and names. Every change goes through this mount
/// (the container is locked while mounted), and the kernel updates or invalidates its caches
/// on its own changes, so a short TTL only bounds how stale `atime` and the like can look.
pub(crate) const TTL: Duration = Duration::from_secs(1);

/// Block size reported by `stat` (`st_blksize`): the preferred I/O size.
const BLKSIZE: u32 = 4096;

// File-type bits of a mode (POSIX values, the same on Linux and macOS; libc's constants
// differ in type between the two).
const S_IFMT: u32 = 0o170_000;
const S_IFIFO: u32 = 0o010_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFSOCK: u32 = 0o140_000;

/// fuser's file type of a file-system kind.
pub(crate) fn file_type(kind: FileKind) -> FileType {
    match kind {
        FileKind::RegularFile => FileType::RegularFile,
        FileKind::Directory => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
        FileKind::NamedPipe => FileType::NamedPipe,
        FileKind::Socket => FileType::Socket,
        FileKind::CharDevice => FileType::CharDevice,
        FileKind::BlockDevice => FileType::BlockDevice,
    }
}

/// The attributes the kernel sees.
pub(crate) fn file_attr(attr: &Attr) -> FileAttr {
    FileAttr {
        ino: INodeNo(attr.ino),
        size: attr.size,
        blocks: attr.blocks,
        atime: attr.atime.to_system(),
        mtime: attr.mtime.to_system(),
        ctime: attr.ctime.to_system(),
        crtime: attr.crtime.to_system(),
        kind: file_type(attr.kind),
        perm: attr.perm,
        nlink: attr.nlink,
        uid: attr.uid,
        gid: attr.gid,
        rdev: attr.rdev,
        blksize: BLKSIZE,
        flags: 0,
    }
}

/// Permission bits of a mode (the kernel already applied the umask unless told otherwise).
pub(crate) fn perm(mode: u32) -> u16 {
    (mode & 0o7777) as u16
}

/// The kind of node `mknod` asks for. A mode without type bits means a regular file.
pub(crate) fn kind_from_mode(mode: u32) -> Result<FileKind, FsError> {
    Ok(match mode & S_IFMT {
        0 | S_IFREG => FileKind::RegularFile,
        S_IFDIR => FileKind::Directory,
        S_IFLNK => FileKind::Symlink,
        S_IFIFO => FileKind::NamedPipe,
        S_IFSOCK => FileKind::Socket,
        S_IFCHR => FileKind::CharDevice,
        S_IFBLK => FileKind::BlockDevice,
        _ => return Err(FsError::Invalid("unknown file type in mode")),
    })
}

/// A time to set (`utimensat`): `UTIME_NOW` arrives as `Now`; `UTIME_OMIT` as no value at all.
pub(crate) fn time_set(time: TimeOrNow) -> TimeSet {
    match time {
        TimeOrNow::Now => TimeSet::Now,
        TimeOrNow::SpecificTime(t) => TimeSet::At(Timestamp::from_system(t)),
    }
}

#[cfg(target_os = "linux")]
const RENAME_NOREPLACE: u32 = libc::RENAME_NOREPLACE;
#[cfg(target_os = "linux")]
const RENAME_EXCHANGE: u32 = libc::RENAME_EXCHANGE;
// macOS `renamex_np`: RENAME_EXCL and RENAME_SWAP (not compiled on the Linux machines).
#[cfg(target_os = "macos")]
const RENAME_NOREPLACE: u32 = libc::RENAME_EXCL;
#[cfg(target_os = "macos")]
const RENAME_EXCHANGE: u32 = libc::RENAME_SWAP;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
const RENAME_NOREPLACE: u32 = 1;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
const RENAME_EXCHANGE: u32 = 2;

/// Flags of `renameat2`. Anything besides "no replace" and "exchange" (`RENAME_WHITEOUT`,
/// unknown bits) is refused.
pub(crate) fn rename_flags(flags: fuser::RenameFlags) -> Result<RenameFlags, FsError> {
    let bits = flags.bits();
    if bits & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0 {
        return Err(FsError::Invalid("unsupported rename flags"));
    }
    Ok(RenameFlags {
        no_replace: bits & RENAME_NOREPLACE != 0,
        exchange: bits & RENAME_EXCHANGE != 0,
    })
}

/// `XATTR_CREATE` / `XATTR_REPLACE` of `setxattr`. Other bits (macOS's `XATTR_NOFOLLOW` and
/// the like concern the path lookup, which the kernel already did) are ignored.
pub(crate) fn xattr_mode(flags: i32) -> Result<XattrMode, FsError> {
    let create = flags & libc::XATTR_CREATE != 0;
    let replace = flags & libc::XATTR_REPLACE != 0;
    match (create, replace) {
        (false, false) => Ok(XattrMode::Any),
        (true, false) => Ok(XattrMode::Create),
        (false, true) => Ok(XattrMode::Replace),
        (true, true) => Err(FsError::Invalid("XATTR_CREATE with XATTR_REPLACE")),
    }
}

/// `keep_size` for a `fallocate` mode: plain allocation (0) or `FALLOC_FL_KEEP_SIZE`.
/// Punching holes, zeroing or collapsing ranges are not supported by the file system.
pub(crate) fn fallocate_keep_size(mode: i32) -> Result<bool, FsError> {
    #[cfg(target_os = "linux")]
    const KEEP_SIZE: i32 = libc::FALLOC_FL_KEEP_SIZE;
    #[cfg(not(target_os = "linux"))]
    const KEEP_SIZE: i32 = 1;
    match mode {
        0 => Ok(false),
        KEEP_SIZE => Ok(true),
        _ => Err(FsError::NotSupported),
    }
}

/// A reply buffer for an xattr value or name list: its size for a size query (`size` 0),
/// the bytes if they fit, or `Range`.
pub(crate) enum XattrReply {
    /// Answer with the length only.
    Size(u32),
    /// Answer with the bytes.
    Data(Vec<u8>),
}

/// What to answer for xattr bytes `data` to a request with buffer size `size`.
pub(crate) fn xattr_reply(data: Vec<u8>, size: u32) -> Result<XattrReply, FsError> {
    let len = u32::try_from(data.len()).map_err(|_| FsError::Range)?;
    if size == 0 {
        Ok(XattrReply::Size(len))
    } else if len > size {
        Err(FsError::Range)
    } else {
        Ok(XattrReply::Data(data))
    }
}

/// The `listxattr` format: every name followed by a NUL.
pub(crate) fn xattr_name_list(names: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(names.iter().map(|n| n.len() + 1).sum());
    for name in names {
        out.extend_from_slice(&name);
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_kinds() {
        assert_eq!(kind_from_mode(0o644).unwrap(), FileKind::RegularFile);
        assert_eq!(
            kind_from_mode(S_IFREG | 0o600).unwrap(),
            FileKind::RegularFile
        );
        assert_eq!(
            kind_from_mode(S_IFIFO | 0o600).unwrap(),
            FileKind::NamedPipe
        );
        assert_eq!(kind_from_mode(S_IFSOCK).unwrap(), FileKind::Socket);
        assert_eq!(kind_from_mode(S_IFCHR).unwrap(), FileKind::CharDevice);
        assert_eq!(kind_from_mode(S_IFBLK).unwrap(), FileKind::BlockDevice);
        assert!(kind_from_mode(0o170_000).is_err());
        assert_eq!(perm(S_IFREG | 0o4755), 0o4755);
    }

    #[test]
    fn rename_flags_are_checked() {
        let none = rename_flags(fuser::RenameFlags::empty()).unwrap();
        assert_eq!(none, RenameFlags::default());
        let excl = rename_flags(fuser::RenameFlags::from_bits_retain(RENAME_NOREPLACE)).unwrap();
        assert!(excl.no_replace && !excl.exchange);
        let swap = rename_flags(fuser::RenameFlags::from_bits_retain(RENAME_EXCHANGE)).unwrap();
        assert!(swap.exchange && !swap.no_replace);
        assert!(rename_flags(fuser::RenameFlags::from_bits_retain(1 << 20)).is_err());
    }

    #[test]
    fn xattr_sizes_follow_the_protocol() {
        assert!(matches!(
            xattr_reply(b"abc".to_vec(), 0).unwrap(),
            XattrReply::Size(3)
        ));
        assert!(matches!(
            xattr_reply(b"abc".to_vec(), 3).unwrap(),
            XattrReply::Data(_)
        ));
        assert!(matches!(
            xattr_reply(b"abc".to_vec(), 2),
            Err(FsError::Range)
        ));
        assert_eq!(
            xattr_name_list(vec![b"user.a".to_vec(), b"user.bc".to_vec()]),
            b"user.a\0user.bc\0"
        );
        assert_eq!(xattr_mode(0).unwrap(), XattrMode::Any);
        assert_eq!(xattr_mode(libc::XATTR_CREATE).unwrap(), XattrMode::Create);
        assert_eq!(xattr_mode(libc::XATTR_REPLACE).unwrap(), XattrMode::Replace);
    }

    #[test]
    fn fallocate_modes() {
        assert!(!fallocate_keep_size(0).unwrap());
        assert!(fallocate_keep_size(1).unwrap());
        assert!(matches!(fallocate_keep_size(2), Err(FsError::NotSupported)));
    }
}
