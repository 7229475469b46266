//! The storage engine's lifecycle: opening redb on the device (recovering after a crash),
//! writing and checking the file system's format record, reopening it, closing it.
//!
//! The database lives behind a read-write lock (in `Store`): every reader of the last commit
//! holds it shared while its read transaction runs, and closing or replacing the database
//! takes it exclusively, so no reader is ever left on a database that is being replaced.

use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable};
use secvol_core::BlockDevice;

use super::FsOptions;
use super::space::Counters;
use super::tx::{TxError, TxResult};
use crate::backend::{BackendState, DeviceBackend, redb_needs_recovery};
use crate::error::{FsError, FsResult, io_error, storage_error};
use crate::schema::{
    CHUNK_SIZE, FS_FORMAT, META, META_CHUNK_SIZE, META_FORMAT, META_INODE_COUNT, META_NEXT_INO,
    META_RESERVED_CHUNKS, META_USED_BYTES,
};

/// The database, or why it is gone.
pub(crate) struct Engine {
    db: Option<Database>,
    backend: Option<Arc<BackendState>>,
    /// Set by the first storage failure: every later operation is refused until the file
    /// system is opened again.
    broken: Option<String>,
}

impl Engine {
    /// Open redb on `device`; after an unclean shutdown its repair reads torn pages leniently
    /// (they fail redb's checksums and it falls back to the previous commit).
    pub(crate) fn open(device: &Arc<dyn BlockDevice>, options: &FsOptions) -> FsResult<Engine> {
        let recovering = redb_needs_recovery(&**device).map_err(io_error)?;
        let (backend, state) = DeviceBackend::new(Arc::clone(device));
        if recovering {
            log::info!("the container was not unmounted cleanly; recovering the last commit");
        }
        state.set_recovering(recovering);
        let db = redb::Builder::new()
            .set_cache_size(options.cache_size)
            .create_with_backend(backend);
        state.set_recovering(false);
        Ok(Engine {
            db: Some(db.map_err(storage_error)?),
            backend: Some(state),
            broken: None,
        })
    }

    /// The database, unless a failure stopped it.
    pub(crate) fn db(&self) -> FsResult<&Database> {
        match (&self.db, &self.broken) {
            (Some(db), None) => Ok(db),
            (_, Some(reason)) => Err(FsError::Stopped {
                first: reason.clone(),
            }),
            (None, None) => Err(FsError::Stopped {
                first: "the database was closed".into(),
            }),
        }
    }

    /// The database for exclusive use (redb's integrity check).
    pub(crate) fn db_mut(&mut self) -> FsResult<&mut Database> {
        self.db()?;
        Ok(self.db.as_mut().expect("checked above"))
    }

    /// Stop: refuse everything from now on, for `reason`.
    pub(crate) fn stop(&mut self, reason: String) {
        self.broken.get_or_insert(reason);
    }

    /// Close the database cleanly (redb writes its clean-shutdown header).
    pub(crate) fn close(&mut self) {
        self.db = None;
        self.backend = None;
    }

    /// Close and open again on `device`. On failure the engine stays stopped.
    pub(crate) fn reopen(&mut self, device: &Arc<dyn BlockDevice>, options: &FsOptions) {
        self.close();
        match Engine::open(device, options) {
            Ok(engine) => *self = engine,
            Err(err) => {
                log::error!("cannot reopen the database: {err}");
                self.stop(err.to_string());
            }
        }
    }

    /// Whether redb shrank its file below the longest layout that fits the container (see
    /// [`crate::backend::extend_to_capacity`]).
    pub(crate) fn shrunk(&self, device: &dyn BlockDevice) -> bool {
        self.backend.as_ref().is_some_and(|backend| {
            crate::backend::shrunk_below_capacity(device, backend).unwrap_or(false)
        })
    }

    /// Write the file system's format record and zero counters into a new database.
    pub(crate) fn format_meta(&self) -> FsResult<()> {
        let db = self.db()?;
        let run = || -> TxResult<()> {
            let txn = db.begin_write()?;
            {
                let mut meta = txn.open_table(META)?;
                if meta.get(META_FORMAT)?.is_some() {
                    return Err(FsError::Exists.into());
                }
                meta.insert(META_FORMAT, &FS_FORMAT.to_le_bytes()[..])?;
                meta.insert(META_CHUNK_SIZE, &CHUNK_SIZE.to_le_bytes()[..])?;
                meta.insert(META_NEXT_INO, &2u64.to_le_bytes()[..])?;
                meta.insert(META_USED_BYTES, &0u64.to_le_bytes()[..])?;
                meta.insert(META_INODE_COUNT, &0u64.to_le_bytes()[..])?;
            }
            txn.commit()?;
            Ok(())
        };
        run().map_err(TxError::into_fs_error)
    }

    /// Check the format record (a file system of another format is refused as such) and load
    /// the counters of the last commit.
    pub(crate) fn load_counters(&self) -> FsResult<Counters> {
        let db = self.db()?;
        let load = || -> TxResult<Counters> {
            let txn = db.begin_read().map_err(redb::Error::from)?;
            let meta = txn.open_table(META).map_err(|e| match e {
                redb::TableError::TableDoesNotExist(_) => TxError::Fs(FsError::NoFileSystem),
                other => other.into(),
            })?;
            let format = match meta.get(META_FORMAT)? {
                Some(v) => v.value().to_vec(),
                None => return Err(FsError::NoFileSystem.into()),
            };
            if format != FS_FORMAT.to_le_bytes() {
                let found = match <[u8; 2]>::try_from(&format[..]) {
                    Ok(bytes) => u16::from_le_bytes(bytes).to_string(),
                    Err(_) => format!("{format:02x?}"),
                };
                return Err(FsError::UnsupportedFormat {
                    found,
                    supported: FS_FORMAT,
                }
                .into());
            }
            let chunk_size = read_u64(&meta, META_CHUNK_SIZE)?;
            if chunk_size != Some(CHUNK_SIZE) {
                return Err(FsError::UnsupportedFormat {
                    found: format!(
                        "{FS_FORMAT} with chunks of {} bytes",
                        chunk_size.unwrap_or(0)
                    ),
                    supported: FS_FORMAT,
                }
                .into());
            }
            Ok(Counters {
                next_ino: read_u64(&meta, META_NEXT_INO)?.unwrap_or(2),
                used_bytes: read_u64(&meta, META_USED_BYTES)?.unwrap_or(0),
                inode_count: read_u64(&meta, META_INODE_COUNT)?.unwrap_or(0),
                reserved_chunks: read_u64(&meta, META_RESERVED_CHUNKS)?.unwrap_or(0),
                pinned_bytes: 0,
            })
        };
        load().map_err(TxError::into_fs_error)
    }
}

fn read_u64(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> TxResult<Option<u64>> {
    Ok(match meta.get(key)? {
        Some(v) => Some(u64::from_le_bytes(v.value().try_into().map_err(|_| {
            FsError::RecordDamaged {
                what: format!("meta record `{key}` has the wrong length"),
            }
        })?)),
        None => None,
    })
}
