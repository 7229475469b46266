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
use std::cell::OnceCell;
use std::collections::HashSet;
use std::ops::RangeBounds;
use std::sync::Mutex;

use redb::{
    AccessGuard, Database, Key, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    StorageError, Table, TableDefinition, TableError, Value, WriteTransaction,
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
    /// A read transaction on the last commit (begun at the first table the operation opens),
    /// and what the write transaction open before it had changed since.
    Committed(&'a LazySnapshot<'a>, &'a DirtySet),
}

/// A read transaction begun only when an operation first opens a table: an operation that
/// meets a changed inode first (its first step is [`Reader::check_clean`]) goes to the write
/// transaction without paying for a snapshot it would not use.
pub(crate) struct LazySnapshot<'a> {
    db: &'a Database,
    txn: OnceCell<ReadTransaction>,
}

impl<'a> LazySnapshot<'a> {
    pub(crate) fn new(db: &'a Database) -> Self {
        LazySnapshot {
            db,
            txn: OnceCell::new(),
        }
    }

    fn txn(&self) -> TxResult<&ReadTransaction> {
        if let Some(txn) = self.txn.get() {
            return Ok(txn);
        }
        // Without a snapshot the operation simply runs on the write transaction.
        let txn = self.db.begin_read().map_err(|err| {
            log::debug!("no read transaction ({err}); reading under the lock");
            TxError::NeedsWriteView
        })?;
        Ok(self.txn.get_or_init(|| txn))
    }
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
    pub(crate) fn of_commit(snapshot: &'a LazySnapshot<'a>, dirty: &'a DirtySet) -> Self {
        Reader {
            view: View::Committed(snapshot, dirty),
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
            View::Committed(snapshot, _) => match snapshot.txn()?.open_table(definition) {
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

/// Rows of a range of a [`TableView`] (none for a table that does not exist).
pub(crate) type Rows<'r, K, V> = std::iter::Flatten<std::option::IntoIter<redb::Range<'r, K, V>>>;

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
        let rows = match self {
            TableView::Write(table) => Some(table.range(range)?),
            TableView::Committed(table) => Some(table.range(range)?),
            TableView::Missing => None,
        };
        Ok(rows.into_iter().flatten())
    }

    pub(crate) fn iter(&self) -> Result<Rows<'_, K, V>, StorageError> {
        let rows = match self {
            TableView::Write(table) => Some(table.iter()?),
            TableView::Committed(table) => Some(table.iter()?),
            TableView::Missing => None,
        };
        Ok(rows.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::time::Duration;

    use secvol_core::testing::MemStorage;
    use secvol_core::{CipherSuite, CreateOptions, DeviceMode, ScryptParams, SecretString};

    use crate::{Ctx, Fs, FsOptions, OpenFlags, ROOT_INO};

    const ME: Ctx = Ctx {
        uid: 1000,
        gid: 1000,
    };

    fn new_fs() -> Fs {
        let unlocked = secvol_core::create_on(
            Arc::new(MemStorage::default()),
            Path::new("test.sec"),
            &SecretString::from("correct horse battery staple"),
            &CreateOptions {
                size: 16 << 20,
                suite: CipherSuite::Aes256Gcm,
                kdf: ScryptParams::with_log_n(10),
                quick: true,
            },
            &mut |_, _| {},
        )
        .unwrap();
        let stack = unlocked.open_stack(DeviceMode::ReadWrite).unwrap();
        Fs::format(stack.clone(), ME).unwrap();
        let options = FsOptions {
            commit_interval: Duration::from_secs(3600),
            ..FsOptions::default()
        };
        Fs::open(stack, options).unwrap()
    }

    fn put(fs: &Fs, name: &[u8], data: &[u8]) {
        put_in(fs, ROOT_INO, name, data);
    }

    fn put_in(fs: &Fs, parent: u64, name: &[u8], data: &[u8]) {
        let (attr, fh) = fs
            .create(parent, name, 0o644, OpenFlags::READ_WRITE, ME)
            .unwrap();
        fs.forget(attr.ino, 1);
        fs.write(fh, 0, data).unwrap();
        fs.release(fh).unwrap();
    }

    fn pattern(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    #[test]
    fn readers_of_committed_files_progress_while_the_writer_holds_the_store() {
        let fs = Arc::new(new_fs());
        let docs = fs.mkdir(ROOT_INO, b"docs", 0o755, ME).unwrap().ino;
        put_in(&fs, docs, b"a", &pattern(1, 300_000));
        put_in(&fs, docs, b"b", &pattern(2, 300_000));
        fs.sync().unwrap();
        // The write transaction is open and has changed something else (the root directory,
        // whose readers do wait for the writer).
        put(&fs, b"c", &pattern(3, 10_000));

        // A writer inside a long operation: it holds the store until told to go on.
        let (holding, held) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let writer = {
            let fs = Arc::clone(&fs);
            std::thread::spawn(move || {
                fs.store
                    .run(true, |_tx| {
                        holding.send(()).unwrap();
                        // Bounded, so a failing test ends instead of hanging.
                        let _ = released.recv_timeout(Duration::from_secs(60));
                        Ok(())
                    })
                    .unwrap();
            })
        };
        held.recv().unwrap();
        let (done, finished) = mpsc::channel();
        for (name, seed) in [(b"a", 1u8), (b"b", 2u8)] {
            let (fs, done) = (Arc::clone(&fs), done.clone());
            std::thread::spawn(move || {
                let attr = fs.lookup(docs, name).unwrap();
                let data = fs.read_ino(attr.ino, 0, 400_000).unwrap();
                let listed = fs.list_dir(docs, None, 100).unwrap().len();
                fs.forget(attr.ino, 1);
                done.send((data == pattern(seed, 300_000), listed)).unwrap();
            });
        }
        for _ in 0..2 {
            let (same, listed) = finished
                .recv_timeout(Duration::from_secs(30))
                .expect("a reader waited for the writer: reads are not independent of it");
            assert!(same, "a reader read wrong bytes");
            assert_eq!(listed, 2, "a and b are listed");
        }
        release.send(()).unwrap();
        writer.join().unwrap();
        // And with the writer gone, the changed root lists docs and c.
        assert_eq!(fs.list_dir(ROOT_INO, None, 100).unwrap().len(), 2);
        fs.forget(docs, 1);
    }

    #[test]
    fn a_read_sees_every_change_made_before_it_even_uncommitted() {
        let fs = new_fs();
        put(&fs, b"a", &pattern(1, 100_000));
        fs.sync().unwrap();
        let a = fs.lookup(ROOT_INO, b"a").unwrap().ino;
        // Changes after the commit: an overwrite, a new file, a rename, a removal.
        let fh = fs.open_file(a, OpenFlags::READ_WRITE).unwrap();
        fs.write(fh, 5, b"changed").unwrap();
        fs.release(fh).unwrap();
        put(&fs, b"new", b"fresh");
        assert_eq!(&fs.read_ino(a, 5, 7).unwrap(), b"changed");
        assert_eq!(fs.getattr(a).unwrap().size, 100_000);
        let new = fs.lookup(ROOT_INO, b"new").unwrap();
        assert_eq!(fs.read_ino(new.ino, 0, 10).unwrap(), b"fresh");
        fs.rename(
            ROOT_INO,
            b"new",
            ROOT_INO,
            b"renamed",
            crate::RenameFlags::default(),
        )
        .unwrap();
        assert!(fs.lookup(ROOT_INO, b"new").is_err());
        assert_eq!(fs.lookup(ROOT_INO, b"renamed").unwrap().ino, new.ino);
        fs.unlink(ROOT_INO, b"a").unwrap();
        assert!(fs.lookup(ROOT_INO, b"a").is_err());
        let names: Vec<Vec<u8>> = fs
            .list_dir(ROOT_INO, None, 100)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, [b"renamed".to_vec()]);
        fs.forget(a, 1);
        fs.forget(new.ino, 2);
    }
}
