//! The NTSTATUS of every file-system error, chosen in one exhaustive match per error type
//! (no catch-all arm: a new error variant does not compile until it is mapped here).
//!
//! Plain numbers (from the Windows SDK's ntstatus.h), so the mapping is compiled and tested
//! on Linux too.

use secvol_fs::{CannotDelete, FsError};

/// An NTSTATUS value.
pub type NtStatus = i32;

// The `as` casts reinterpret the documented unsigned values as the signed NTSTATUS type.
/// The operation succeeded.
pub const STATUS_SUCCESS: NtStatus = 0;
/// The handle is not (or no longer) valid.
pub const STATUS_INVALID_HANDLE: NtStatus = 0xC000_0008_u32 as i32;
/// An invalid parameter was passed.
pub const STATUS_INVALID_PARAMETER: NtStatus = 0xC000_000D_u32 as i32;
/// Access denied (ownership rules, read-only attribute, replacing a directory).
pub const STATUS_ACCESS_DENIED: NtStatus = 0xC000_0022_u32 as i32;
/// The output buffer is too small.
pub const STATUS_BUFFER_TOO_SMALL: NtStatus = 0xC000_0023_u32 as i32;
/// The object name is invalid (too long, forbidden characters).
pub const STATUS_OBJECT_NAME_INVALID: NtStatus = 0xC000_0033_u32 as i32;
/// No such file or directory.
pub const STATUS_OBJECT_NAME_NOT_FOUND: NtStatus = 0xC000_0034_u32 as i32;
/// The name is already taken.
pub const STATUS_OBJECT_NAME_COLLISION: NtStatus = 0xC000_0035_u32 as i32;
/// The extended attributes are too large.
pub const STATUS_EA_TOO_LARGE: NtStatus = 0xC000_0050_u32 as i32;
/// The file has no such extended attribute.
pub const STATUS_NONEXISTENT_EA_ENTRY: NtStatus = 0xC000_0051_u32 as i32;
/// The disk is full.
pub const STATUS_DISK_FULL: NtStatus = 0xC000_007F_u32 as i32;
/// The volume is write-protected (mounted read-only).
pub const STATUS_MEDIA_WRITE_PROTECTED: NtStatus = 0xC000_00A2_u32 as i32;
/// A directory was found where a file was needed.
pub const STATUS_FILE_IS_A_DIRECTORY: NtStatus = 0xC000_00BA_u32 as i32;
/// The request is not supported.
pub const STATUS_NOT_SUPPORTED: NtStatus = 0xC000_00BB_u32 as i32;
/// The directory is not empty.
pub const STATUS_DIRECTORY_NOT_EMPTY: NtStatus = 0xC000_0101_u32 as i32;
/// The file or directory is corrupt and unreadable.
pub const STATUS_FILE_CORRUPT_ERROR: NtStatus = 0xC000_0102_u32 as i32;
/// A file was found where a directory was needed.
pub const STATUS_NOT_A_DIRECTORY: NtStatus = 0xC000_0103_u32 as i32;
/// The file cannot be deleted (read-only attribute, the root).
pub const STATUS_CANNOT_DELETE: NtStatus = 0xC000_0121_u32 as i32;
/// An I/O error on the device (the container file).
pub const STATUS_IO_DEVICE_ERROR: NtStatus = 0xC000_0185_u32 as i32;
/// Too many links to the file.
pub const STATUS_TOO_MANY_LINKS: NtStatus = 0xC000_0265_u32 as i32;
/// The file would become larger than the file system allows.
pub const STATUS_FILE_TOO_LARGE: NtStatus = 0xC000_0904_u32 as i32;

/// The NTSTATUS that Windows programs see for `err`.
pub fn status(err: &FsError) -> NtStatus {
    match err {
        FsError::NotFound => STATUS_OBJECT_NAME_NOT_FOUND,
        FsError::Exists => STATUS_OBJECT_NAME_COLLISION,
        FsError::NotDir => STATUS_NOT_A_DIRECTORY,
        FsError::IsDir => STATUS_FILE_IS_A_DIRECTORY,
        FsError::NotEmpty => STATUS_DIRECTORY_NOT_EMPTY,
        FsError::NameTooLong => STATUS_OBJECT_NAME_INVALID,
        FsError::Invalid(_) => STATUS_INVALID_PARAMETER,
        FsError::NoSpace => STATUS_DISK_FULL,
        FsError::ReadOnly => STATUS_MEDIA_WRITE_PROTECTED,
        FsError::NotPermitted => STATUS_ACCESS_DENIED,
        FsError::TooManyLinks => STATUS_TOO_MANY_LINKS,
        FsError::FileTooLarge => STATUS_FILE_TOO_LARGE,
        FsError::BadHandle => STATUS_INVALID_HANDLE,
        FsError::NoXattr => STATUS_NONEXISTENT_EA_ENTRY,
        FsError::Range => STATUS_BUFFER_TOO_SMALL,
        FsError::TooBig => STATUS_EA_TOO_LARGE,
        FsError::NotSupported => STATUS_NOT_SUPPORTED,
        // Damage is reported as such (never as data): Explorer says "the file is corrupt".
        FsError::BlockDamaged { .. }
        | FsError::SuperRecordDamaged
        | FsError::RecordDamaged { .. }
        | FsError::DatabaseDamaged { .. }
        | FsError::NoFileSystem
        | FsError::Block(_) => STATUS_FILE_CORRUPT_ERROR,
        FsError::UnsupportedFormat { .. } => STATUS_NOT_SUPPORTED,
        FsError::Io(_) | FsError::Stopped { .. } | FsError::Engine(_) => STATUS_IO_DEVICE_ERROR,
    }
}

/// The NTSTATUS of a refused deletion.
pub fn cannot_delete_status(err: &CannotDelete) -> NtStatus {
    match err {
        CannotDelete::ReadOnly => STATUS_CANNOT_DELETE,
        CannotDelete::NotEmpty => STATUS_DIRECTORY_NOT_EMPTY,
        CannotDelete::Root => STATUS_CANNOT_DELETE,
        CannotDelete::Fs(err) => status(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_errors_windows_programs_act_on_get_their_own_status() {
        assert_eq!(status(&FsError::NotFound), STATUS_OBJECT_NAME_NOT_FOUND);
        assert_eq!(status(&FsError::Exists), STATUS_OBJECT_NAME_COLLISION);
        assert_eq!(status(&FsError::NoSpace), STATUS_DISK_FULL);
        assert_eq!(status(&FsError::ReadOnly), STATUS_MEDIA_WRITE_PROTECTED);
        assert_eq!(status(&FsError::NotEmpty), STATUS_DIRECTORY_NOT_EMPTY);
        assert_eq!(
            status(&FsError::BlockDamaged { index: 3 }),
            STATUS_FILE_CORRUPT_ERROR
        );
        assert_eq!(
            status(&FsError::Stopped {
                first: "gone".into()
            }),
            STATUS_IO_DEVICE_ERROR
        );
        assert_eq!(
            cannot_delete_status(&CannotDelete::ReadOnly),
            STATUS_CANNOT_DELETE
        );
        assert_eq!(
            cannot_delete_status(&CannotDelete::Fs(FsError::ReadOnly)),
            STATUS_MEDIA_WRITE_PROTECTED
        );
    }

    #[test]
    fn every_error_is_an_error_status() {
        // NTSTATUS errors have the two top bits set (severity "error").
        for err in [
            FsError::NotFound,
            FsError::Invalid("x"),
            FsError::BadHandle,
            FsError::NoXattr,
            FsError::Range,
            FsError::TooBig,
            FsError::NotSupported,
            FsError::TooManyLinks,
            FsError::FileTooLarge,
            FsError::NameTooLong,
            FsError::IsDir,
            FsError::NotDir,
            FsError::NotPermitted,
        ] {
            assert_eq!(status(&err) as u32 >> 30, 0b11, "{err:?}");
        }
    }
}
