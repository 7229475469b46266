//! The one place where file-system errors become errno values.
//!
//! Every error the driver replies with is an [`FsError`], including the driver's own refusals
//! of requests it cannot parse (those are expressed as `FsError::Invalid`, `NotSupported`,
//! `Range`), so the mapping below is the complete list of errno values this driver produces
//! (apart from `EACCES`, which fuser itself answers for callers outside the session's ACL, and
//! `ENOSYS` for the operations left to the kernel: locks, `lseek`, `copy_file_range`, ioctl,
//! poll, bmap).

use fuser::Errno;
use secvol_fs::FsError;

/// How loudly a failed request is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    /// A normal answer (ENOENT on lookup, EEXIST, ...): trace level only.
    Expected,
    /// The container is full, read-only or refused something: worth a warning.
    Notable,
    /// Damage or a failure of the storage engine: an error.
    Failure,
}

/// The errno for `err`, with its severity. One exhaustive match: a new `FsError` variant does
/// not compile until it is mapped here.
fn classify(err: &FsError) -> (Errno, Severity) {
    use Severity::{Expected, Failure, Notable};
    match err {
        FsError::NotFound => (Errno::ENOENT, Expected),
        FsError::Exists => (Errno::EEXIST, Expected),
        FsError::NotDir => (Errno::ENOTDIR, Expected),
        FsError::IsDir => (Errno::EISDIR, Expected),
        FsError::NotEmpty => (Errno::ENOTEMPTY, Expected),
        FsError::NameTooLong => (Errno::ENAMETOOLONG, Expected),
        FsError::Invalid(_) => (Errno::EINVAL, Expected),
        FsError::NoSpace => (Errno::ENOSPC, Notable),
        FsError::ReadOnly => (Errno::EROFS, Expected),
        FsError::NotPermitted => (Errno::EPERM, Expected),
        FsError::TooManyLinks => (Errno::EMLINK, Expected),
        FsError::FileTooLarge => (Errno::EFBIG, Expected),
        FsError::BadHandle => (Errno::EBADF, Notable),
        // ENODATA on Linux, ENOATTR on macOS.
        FsError::NoXattr => (Errno::NO_XATTR, Expected),
        FsError::Range => (Errno::ERANGE, Expected),
        FsError::TooBig => (Errno::E2BIG, Expected),
        FsError::NotSupported => (Errno::ENOTSUP, Expected),
        FsError::BlockDamaged { .. }
        | FsError::SuperRecordDamaged
        | FsError::RecordDamaged { .. }
        | FsError::DatabaseDamaged { .. }
        | FsError::NoFileSystem
        | FsError::UnsupportedFormat { .. }
        | FsError::Block(_)
        | FsError::Io(_)
        | FsError::Stopped { .. }
        | FsError::Engine(_) => (Errno::EIO, Failure),
    }
}

/// The errno to reply for `err` from operation `op` on inode `ino`; logs it.
///
/// Logs name the operation, the inode number and the error, never a file name or file
/// contents (names are as confidential as the data).
pub(crate) fn errno(op: &'static str, ino: u64, err: &FsError) -> Errno {
    let (errno, severity) = classify(err);
    match severity {
        Severity::Expected => log::trace!("{op} (inode {ino}): {err}"),
        Severity::Notable => log::warn!("{op} (inode {ino}): {err}"),
        Severity::Failure => log::error!("{op} (inode {ino}): {err}"),
    }
    errno
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_is_an_io_error_and_space_is_enospc() {
        assert_eq!(
            errno("read", 2, &FsError::BlockDamaged { index: 7 }),
            Errno::EIO
        );
        assert_eq!(
            errno(
                "read",
                2,
                &FsError::Stopped {
                    first: "gone".into()
                }
            ),
            Errno::EIO
        );
        assert_eq!(errno("write", 2, &FsError::NoSpace), Errno::ENOSPC);
        assert_eq!(errno("getxattr", 2, &FsError::NoXattr), Errno::NO_XATTR);
        assert_eq!(errno("rmdir", 2, &FsError::NotEmpty), Errno::ENOTEMPTY);
    }
}
