//! Typed errors of the container layer, named for what happened.
//!
//! Decryption failures are deliberately opaque: they say *which* block or keyslot failed to
//! authenticate, never why (wrong key and tampering are indistinguishable by design).

use std::io;
use std::path::PathBuf;

/// Why one copy of the header could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderDamage {
    /// The copy's region lies (partly) outside the file.
    Missing,
    /// The copy does not start with the secvol magic bytes.
    BadMagic,
    /// The magic is there but the checksum over the header does not match.
    BadChecksum,
    /// The checksum matches but a field holds an impossible value.
    BadField(&'static str),
}

impl std::fmt::Display for HeaderDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderDamage::Missing => f.write_str("missing (file too short)"),
            HeaderDamage::BadMagic => f.write_str("no secvol magic"),
            HeaderDamage::BadChecksum => f.write_str("checksum mismatch"),
            HeaderDamage::BadField(field) => write!(f, "invalid field `{field}`"),
        }
    }
}

/// Errors of the scrypt wrapper.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KdfError {
    /// The parameters ask for more memory or work than secvol allows (a hostile or corrupt
    /// header must not make us allocate gigabytes or spin for minutes).
    #[error(
        "scrypt parameters out of bounds (log2 N = {log_n}, r = {r}, p = {p}; {reason}); \
         the header may be corrupt or hostile"
    )]
    ParamsOutOfBounds {
        /// log2 of the scrypt cost N.
        log_n: u8,
        /// scrypt block size.
        r: u32,
        /// scrypt parallelism.
        p: u32,
        /// Which bound was crossed.
        reason: &'static str,
    },
}

/// Errors of the encrypted block device.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A block failed authentication: it was modified, moved, or belongs to another container.
    #[error("block {index} failed authentication (damaged or tampered ciphertext)")]
    AuthFailed {
        /// Logical index of the block.
        index: u64,
    },
    /// A read past the device's current length.
    #[error("block {index} is beyond the device length ({len_blocks} blocks)")]
    OutOfRange {
        /// Logical index of the block.
        index: u64,
        /// Current length in blocks.
        len_blocks: u64,
    },
    /// A write past the container's physical capacity.
    #[error(
        "no space left in the container: block {index} is beyond its capacity of {capacity_blocks} blocks"
    )]
    NoSpace {
        /// Logical index of the block.
        index: u64,
        /// Physical capacity in blocks.
        capacity_blocks: u64,
    },
    /// An offset or length that is not a whole number of blocks.
    #[error("unaligned block access: offset {offset}, length {len}")]
    Unaligned {
        /// Offset in bytes.
        offset: u64,
        /// Length in bytes.
        len: u64,
    },
    /// Neither copy of the device's super record (length and block 0) authenticates.
    #[error("both copies of the device super record are damaged")]
    SuperRecordDamaged,
    /// A length larger than the device can describe.
    #[error("device length {requested} bytes exceeds the limit of {limit} bytes")]
    LengthTooLarge {
        /// Requested length.
        requested: u64,
        /// Largest allowed length.
        limit: u64,
    },
    /// The host file failed.
    #[error("I/O error on the container file: {0}")]
    Io(#[from] io::Error),
}

impl From<BlockError> for io::Error {
    /// Keeps the kind that callers (the redb backend) need to tell "full" from "damaged".
    fn from(err: BlockError) -> Self {
        match err {
            BlockError::Io(inner) => inner,
            BlockError::NoSpace { .. } => io::Error::new(io::ErrorKind::StorageFull, err),
            BlockError::AuthFailed { .. } | BlockError::SuperRecordDamaged => {
                io::Error::new(io::ErrorKind::InvalidData, err)
            }
            BlockError::OutOfRange { .. } => io::Error::new(io::ErrorKind::UnexpectedEof, err),
            BlockError::Unaligned { .. } | BlockError::LengthTooLarge { .. } => {
                io::Error::new(io::ErrorKind::InvalidInput, err)
            }
        }
    }
}

/// Errors of opening, creating and managing a container.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// Neither end of the file carries a secvol header.
    #[error(
        "{}: not a secvol container (if it is one whose both headers were destroyed, \
         'secvol header restore' puts a header backup back)",
        path.display()
    )]
    NotAContainer {
        /// The file.
        path: PathBuf,
    },
    /// The file is shorter than its header says.
    #[error(
        "{}: container file is truncated ({actual} bytes, its header says {expected})",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Length recorded in the header.
        expected: u64,
        /// Actual length of the file.
        actual: u64,
    },
    /// The header was written by a newer (or unknown) format.
    #[error("unsupported container format version {found} (this secvol reads version {supported})")]
    UnsupportedVersion {
        /// Version found in the header.
        found: u16,
        /// The version this build supports.
        supported: u16,
    },
    /// Both header copies are unusable.
    #[error(
        "both header copies are damaged (primary: {primary}; backup: {backup}); \
         restore a header backup with `secvol header restore`"
    )]
    HeadersDamaged {
        /// What is wrong with the primary copy.
        primary: HeaderDamage,
        /// What is wrong with the backup copy.
        backup: HeaderDamage,
    },
    /// No keyslot opened with the given password.
    #[error("wrong password: no keyslot of this container opens with it")]
    WrongPassword,
    /// No keyslot opened with the keyfile or recovery key given (with or without a password).
    #[error("no keyslot of this container opens with {with}")]
    WrongCredential {
        /// What was tried: "this keyfile", "this password and keyfile", "this recovery key".
        with: &'static str,
    },
    /// The container has no keyslot of the kind the given secret opens.
    #[error("this container has no keyslot opened by {needs}")]
    NoKeyslotOfKind {
        /// "a recovery key", "a keyfile", ...
        needs: &'static str,
    },
    /// The keyslot is not of a kind the operation applies to.
    #[error("keyslot {slot} is opened by {needs}, not by a password alone; {hint}")]
    WrongKeyslotKind {
        /// The slot.
        slot: usize,
        /// What opens it.
        needs: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// KDF parameters in a keyslot or requested by the user are out of bounds.
    #[error(transparent)]
    Kdf(#[from] KdfError),
    /// The header MAC did not verify after unlocking: header fields were modified.
    #[error(
        "the header failed authentication after unlocking: its fields were modified; restore a \
         header backup with 'secvol header restore'"
    )]
    HeaderTampered,
    /// A header backup file belongs to another container.
    #[error("the header backup belongs to another container (UUID {found}, container {expected})")]
    ForeignHeader {
        /// UUID in the backup file.
        found: String,
        /// UUID of the container.
        expected: String,
    },
    /// All keyslots are in use.
    #[error("all {0} keyslots are in use; remove one first")]
    NoFreeKeyslot(usize),
    /// Refused: removing the only remaining keyslot would lock the data away forever.
    #[error("refusing to remove keyslot {0}: it is the last one, the data would be lost forever")]
    LastKeyslot(usize),
    /// The keyslot index is not in use or out of range.
    #[error("keyslot {slot} is {state}")]
    BadKeyslot {
        /// The slot index asked for.
        slot: usize,
        /// "empty" or "out of range".
        state: &'static str,
    },
    /// The container file already exists.
    #[error("{}: file already exists; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// The requested container size is unusable.
    #[error("container size {requested} bytes is too small: the minimum is {minimum} bytes")]
    TooSmall {
        /// Requested size.
        requested: u64,
        /// Minimum size.
        minimum: u64,
    },
    /// A resize asked for a size on the wrong side of the current one (an internal misuse:
    /// the command decides between growing and shrinking).
    #[error("cannot {direction} the container from {current} bytes to {requested} bytes")]
    BadResize {
        /// Current container length.
        current: u64,
        /// Requested container length.
        requested: u64,
        /// "grow" or "shrink".
        direction: &'static str,
    },
    /// A shrink would cut off blocks the device still covers: the file system has not been
    /// moved out of the tail.
    #[error(
        "the file system still reaches {device_len} bytes into the container, but the smaller \
         container would hold only {capacity} bytes; nothing was changed"
    )]
    TailInUse {
        /// Device length in bytes.
        device_len: u64,
        /// Capacity of the smaller container in bytes.
        capacity: u64,
    },
    /// The container is opened by another process (mounted, or being changed).
    #[error("{}: the container is in use by another process (is it mounted?)", path.display())]
    InUse {
        /// The file.
        path: PathBuf,
    },
    /// The block device could not be opened or used.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The host file failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}
