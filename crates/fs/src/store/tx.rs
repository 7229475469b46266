//! What an operation sees of the store: the open write transaction (or, through [`Reader`],
//! the last commit), and the errors an operation can end with.

use std::cell::RefCell;
use std::collections::HashMap;

use redb::WriteTransaction;

use super::space::Counters;
use crate::error::{FsError, storage_error};
use crate::inode::{Ino, Inode};
use crate::view::{DirtySet, Reader};

/// An error inside an operation: the operation's own refusal (nothing was changed), a
/// failure of the storage engine (the transaction can no longer be trusted), or a reader of
/// the last commit that must run on the write transaction instead.
#[derive(Debug)]
pub(crate) enum TxError {
    Fs(FsError),
    Storage(redb::Error),
    /// A reader of the last commit met something the open write transaction changed: the
    /// operation must run on the write transaction instead (see `view.rs`).
    NeedsWriteView,
}

impl From<FsError> for TxError {
    fn from(err: FsError) -> Self {
        TxError::Fs(err)
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for TxError {
            fn from(err: $t) -> Self {
                TxError::Storage(err.into())
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::CommitError,
    redb::TransactionError
);

pub(crate) type TxResult<T> = Result<T, TxError>;

impl TxError {
    /// The error a caller outside the store sees.
    pub(crate) fn into_fs_error(self) -> FsError {
        match self {
            TxError::Fs(err) => err,
            TxError::Storage(err) => storage_error(err),
            TxError::NeedsWriteView => FsError::Engine(
                "a reader of the write transaction asked for the write transaction".into(),
            ),
        }
    }
}

/// Decoded inode records as the open transaction holds them. Nearly every operation reads
/// one or two inodes, and a redb lookup plus decoding costs more than the rest of a small
/// operation. It mirrors the transaction exactly, because every inode record is written or
/// removed through `Tx::put_inode` / `Tx::delete_inode`, which update it; so it survives
/// commits and is cleared only when the transaction is thrown away (a storage failure).
pub(crate) type InodeCache = RefCell<HashMap<Ino, Inode>>;

/// Inodes kept in the [`InodeCache`] (about 150 bytes each); past it the cache starts over.
pub(crate) const INODE_CACHE_LIMIT: usize = 65_536;

/// What a changing operation sees: the open transaction (to read through [`Reader`], which
/// `Tx` dereferences to, and to write), the counters, and the set of inodes it changed.
pub(crate) struct Tx<'a> {
    pub(crate) reader: Reader<'a>,
    pub(crate) txn: &'a WriteTransaction,
    pub(crate) counters: &'a mut Counters,
    pub(crate) dirty: &'a DirtySet,
    pub(super) modified: &'a mut bool,
    pub(super) written: &'a mut u64,
    pub(super) usable_bytes: u64,
}

impl<'a> std::ops::Deref for Tx<'a> {
    type Target = Reader<'a>;

    fn deref(&self) -> &Reader<'a> {
        &self.reader
    }
}
