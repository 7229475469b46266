//! What an operation reads from: the open write transaction, or the last commit.
//!
//! redb allows one write transaction and any number of read transactions beside it. The file
//! system keeps its one write transaction open across operations (it is the write-back cache),
//! so a read transaction sees the last *commit*, not the changes since. Reading operations
//! (getattr, lookup, read, readdir, readlink, xattrs) still run on a read transaction whenever
//! they can, without the store's lock: they run in parallel with each other and with the
//! writer. [`DirtySet`] makes that safe: it lists the inodes the open write transaction
//! changed, and a [`Reader`] on the last commit refuses to read those (the operation is then
//! run on the write transaction, under the lock, and sees the changes).

use std::borrow::Borrow;
use std::ops::RangeBounds;
use std::collections::HashSet;
use std::sync::Mutex;

use redb::{
    AccessGuard, Key, ReadOnlyTable, ReadTransaction, ReadableTable, StorageError,
    Table, TableDefinition, TableError, Value, WriteTransaction,
};

use crate::inode::Ino;
use crate::store::{InodeCache, TxError, TxResult};

/// The inodes changed by one write transaction (their records, directory entries, data,
/// symlink target or extended attributes). When the transaction commits, the store starts a
/// new set; readers that began before hold on to the old one, which still tells them what
/// their snapshot lacks.
#[derive(Debug, Default)]
pub(crate) struct DirtySet {
    inodes: Mutex<HashSet<Ino>>,
}

impl DirtySet {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Ino>> {
        self.inodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record that the write transaction changed something of `ino`.
    pub(crate) fn mark(&self, ino: Ino) {
        self.lock().insert(ino);
    }

    fn contains(&self, ino: Ino) -> bool {
        self.lock().contains(&ino)
    }

    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// The transaction a [`Reader`] reads from.
pub(crate) enum View<'a> {
    /// The open write transaction: sees every change so far.
    Write(&'a WriteTransaction),
    /// A read transaction on the last commit, and what the write transaction open at its
    /// start had changed since.
    Committed(&'a ReadTransaction, &'a DirtySet),
}

/// Read access to the tables (see `tables.rs` for the records it reads).
pub(crate) struct Reader<'a> {
    view: View<'a>,
    /// Decoded inodes of the write transaction (only for [`View::Write`]).
    pub(crate) inodes: Option<&'a InodeCache>,
}

impl<'a> Reader<'a> {
    /// A reader of the open write transaction, with its inode cache.
    pub(crate) fn of_write(txn: &'a WriteTransaction, inodes: &'a InodeCache) -> Self {
        Reader {
            view: View::Write(txn),
            inodes: Some(inodes),
        }
    }

    /// A reader of the last commit.
    pub(crate) fn of_commit(txn: &'a ReadTransaction, dirty: &'a DirtySet) -> Self {
        Reader {
            view: View::Committed(txn, dirty),
            inodes: None,
        }
    }

    /// Refuse (so the operation runs again on the write transaction) if `ino` changed since
    /// the commit this reader sees.
    pub(crate) fn check_clean(&self, ino: Ino) -> TxResult<()> {
        match self.view {
            View::Committed(_, dirty) if dirty.contains(ino) => Err(TxError::NeedsWriteView),
            _ => Ok(()),
        }
    }

    /// Refuse a whole-table scan on the last commit if anything changed since.
    pub(crate) fn check_nothing_dirty(&self) -> TxResult<()> {
        match self.view {
            View::Committed(_, dirty) if !dirty.is_empty() => Err(TxError::NeedsWriteView),
            _ => Ok(()),
        }
    }

    /// Open table `definition` for reading. A table that was never created reads as empty.
    pub(crate) fn table<K: Key + 'static, V: Value + 'static>(
        &self,
        definition: TableDefinition<K, V>,
    ) -> TxResult<TableView<'a, K, V>> {
        match self.view {
            View::Write(txn) => Ok(TableView::Write(txn.open_table(definition)?)),
            View::Committed(txn, _) => match txn.open_table(definition) {
                Ok(table) => Ok(TableView::Committed(table)),
                Err(TableError::TableDoesNotExist(_)) => Ok(TableView::Missing),
                Err(err) => Err(err.into()),
            },
        }
    }
}

/// A table opened for reading in either kind of transaction.
pub(crate) enum TableView<'t, K: Key + 'static, V: Value + 'static> {
    Write(Table<'t, K, V>),
    Committed(ReadOnlyTable<K, V>),
    /// Never created: empty.
    Missing,
}

/// Rows of a range of a [`TableView`].
pub(crate) enum Rows<'r, K: Key + 'static, V: Value + 'static> {
    Some(redb::Range<'r, K, V>),
    None,
}

impl<'r, K: Key + 'static, V: Value + 'static> Iterator for Rows<'r, K, V> {
    type Item = Result<(AccessGuard<'r, K>, AccessGuard<'r, V>), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Rows::Some(range) => range.next(),
            Rows::None => None,
        }
    }
}

impl<K: Key + 'static, V: Value + 'static> TableView<'_, K, V> {
    pub(crate) fn get<'k>(
        &self,
        key: impl Borrow<K::SelfType<'k>>,
    ) -> Result<Option<AccessGuard<'_, V>>, StorageError> {
        match self {
            TableView::Write(table) => table.get(key),
            TableView::Committed(table) => table.get(key),
            TableView::Missing => Ok(None),
        }
    }

    pub(crate) fn range<'k, KR>(
        &self,
        range: impl RangeBounds<KR> + 'k,
    ) -> Result<Rows<'_, K, V>, StorageError>
    where
        KR: Borrow<K::SelfType<'k>> + 'k,
    {
        Ok(match self {
            TableView::Write(table) => Rows::Some(table.range(range)?),
            TableView::Committed(table) => Rows::Some(table.range(range)?),
            TableView::Missing => Rows::None,
        })
    }

    pub(crate) fn iter(&self) -> Result<Rows<'_, K, V>, StorageError> {
        Ok(match self {
            TableView::Write(table) => Rows::Some(table.iter()?),
            TableView::Committed(table) => Rows::Some(table.iter()?),
            TableView::Missing => Rows::None,
        })
    }
}
