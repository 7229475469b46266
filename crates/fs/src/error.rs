//! The file system's typed errors. Front-ends map them to errno / NTSTATUS in one exhaustive
//! match each; nothing here knows those numbers.

use secvol_core::BlockError;

/// Errors of file-system operations.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// No such file, directory, inode or handle target.
    #[error("no such file or directory")]
    NotFound,
    /// The name is already taken.
    #[error("file exists")]
    Exists,
    /// A directory was needed.
    #[error("not a directory")]
    NotDir,
    /// A non-directory was needed.
    #[error("is a directory")]
    IsDir,
    /// rmdir or rename over a directory that still has entries.
    #[error("directory not empty")]
    NotEmpty,
    /// A name longer than 255 bytes.
    #[error("file name too long (more than 255 bytes)")]
    NameTooLong,
    /// Invalid argument: an empty name, "." or "..", a rename into its own subtree, a bad offset.
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// The container is full.
    #[error("no space left in the container")]
    NoSpace,
    /// The file system was opened read-only.
    #[error("the container is mounted read-only")]
    ReadOnly,
    /// The caller may not do this (ownership rules the file system itself enforces).
    #[error("operation not permitted")]
    NotPermitted,
    /// Too many hard links to one inode.
    #[error("too many links")]
    TooManyLinks,
    /// A file would exceed the largest supported size.
    #[error("file too large")]
    FileTooLarge,
    /// An unknown or already closed file or directory handle.
    #[error("bad file handle")]
    BadHandle,
    /// The extended attribute does not exist.
    #[error("no such extended attribute")]
    NoXattr,
    /// A buffer is too small for the value, or an attribute name is too long (extended
    /// attributes).
    #[error("result too large for the buffer")]
    Range,
    /// An extended attribute value larger than 64 KiB.
    #[error("argument list too long (extended attribute value above 64 KiB)")]
    TooBig,
    /// A feature the file system deliberately lacks.
    #[error("operation not supported")]
    NotSupported,
    /// Data that failed authentication or a structure that makes no sense.
    #[error("container damaged: {0}")]
    Corrupt(String),
    /// A block of the container failed authentication.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The storage engine failed (I/O error on the container file, for example). After such
    /// an error the file system refuses further changes until it is reopened.
    #[error("storage failure: {0}")]
    Storage(String),
}

/// Result of file-system operations.
pub type FsResult<T> = Result<T, FsError>;

/// Convert any redb error into an [`FsError`], keeping "no space" distinguishable.
pub(crate) fn storage_error(err: impl Into<redb::Error>) -> FsError {
    let err: redb::Error = err.into();
    if let redb::Error::Io(io) = &err
        && io.kind() == std::io::ErrorKind::StorageFull
    {
        return FsError::NoSpace;
    }
    // A block that failed authentication reaches us through redb as an I/O error carrying the
    // block layer's error: it is damage (exit code 10, EIO), not an ordinary I/O failure.
    if let redb::Error::Io(io) = &err
        && let Some(block) = io.get_ref().and_then(|e| e.downcast_ref::<BlockError>())
        && matches!(
            block,
            BlockError::AuthFailed { .. } | BlockError::SuperRecordDamaged
        )
    {
        return FsError::Corrupt(block.to_string());
    }
    if let redb::Error::Corrupted(detail) = &err {
        return FsError::Corrupt(detail.clone());
    }
    FsError::Storage(err.to_string())
}
