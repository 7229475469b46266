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
    /// A block of the container failed authentication: its ciphertext was changed, moved or
    /// replaced (damage or tampering).
    #[error("block {index} of the container failed authentication (damaged or tampered)")]
    BlockDamaged {
        /// Logical index of the block.
        index: u64,
    },
    /// Neither copy of the container's super record (its length and first block)
    /// authenticates.
    #[error("both copies of the container's super record are damaged")]
    SuperRecordDamaged,
    /// A stored record that makes no sense: an inode, a directory entry, a counter.
    #[error("damaged record: {what}")]
    RecordDamaged {
        /// Which record, and what is wrong with it.
        what: String,
    },
    /// The database inside the container found its own structures inconsistent (a page
    /// checksum, the shape of a tree).
    #[error("the database inside the container is damaged: {detail}")]
    DatabaseDamaged {
        /// What the storage engine reported.
        detail: String,
    },
    /// The container holds no file system (it was never formatted, or its tables are gone).
    #[error("the container holds no file system")]
    NoFileSystem,
    /// A file system of a format this version of secvol does not read.
    #[error("unsupported file system format {found} (this secvol reads format {supported})")]
    UnsupportedFormat {
        /// The format found, as stored.
        found: String,
        /// The format this build reads.
        supported: u16,
    },
    /// Another failure of the block layer (a length or alignment the device refused).
    #[error(transparent)]
    Block(#[from] BlockError),
    /// Reading or writing the container file failed.
    #[error("I/O error on the container file: {0}")]
    Io(std::io::Error),
    /// An earlier storage failure stopped the file system: it refuses everything until the
    /// container is opened again (unmounted and mounted).
    #[error(
        "the container stopped after an earlier failure ({first}); unmount it and mount it again"
    )]
    Stopped {
        /// The failure that stopped it.
        first: String,
    },
    /// The storage engine refused for a reason that is none of the above: a bug in secvol or
    /// the storage engine.
    #[error("storage engine error: {0}")]
    Engine(String),
}

/// Result of file-system operations.
pub type FsResult<T> = Result<T, FsError>;

/// Convert any redb error into an [`FsError`] named for what happened, keeping "no space"
/// and damage distinguishable from other failures.
pub(crate) fn storage_error(err: impl Into<redb::Error>) -> FsError {
    match err.into() {
        redb::Error::Io(io) => io_error(io),
        redb::Error::Corrupted(detail) => FsError::DatabaseDamaged { detail },
        other => FsError::Engine(other.to_string()),
    }
}

/// An I/O error from the device, as redb or our own code saw it: the block layer's errors
/// travel inside it.
pub(crate) fn io_error(io: std::io::Error) -> FsError {
    if io.kind() == std::io::ErrorKind::StorageFull {
        return FsError::NoSpace;
    }
    match io.get_ref().and_then(|e| e.downcast_ref::<BlockError>()) {
        Some(BlockError::AuthFailed { index }) => FsError::BlockDamaged { index: *index },
        Some(BlockError::SuperRecordDamaged) => FsError::SuperRecordDamaged,
        _ => FsError::Io(io),
    }
}
