//! A read-write open that changes nothing writes nothing to the container (not even redb's
//! open and close bookkeeping), so backup tools that compare the container's bytes or
//! modification time leave it alone; the first real change is written as usual.

mod common;

use std::sync::Arc;

use common::*;
use secvol_core::storage::Storage;
use secvol_fs::{FsError, ROOT_INO};

#[test]
fn a_read_write_open_that_changes_nothing_leaves_the_container_byte_identical() {
    let storage = new_storage(4 << 20);
    {
        let fs = open(storage.clone());
        fs.mkdir(ROOT_INO, b"records", 0o755, ME).unwrap();
        fs.close().unwrap();
    }
    let before = storage.snapshot();

    let fs = open(storage.clone());
    let records = fs.lookup(ROOT_INO, b"records").unwrap();
    assert!(list_all(&fs, records.ino).unwrap().is_empty());
    fs.getattr(ROOT_INO).unwrap();
    fs.statfs().unwrap();
    // Refused operations change nothing either.
    assert!(matches!(
        fs.mkdir(ROOT_INO, b"records", 0o755, ME),
        Err(FsError::Exists)
    ));
    fs.sync().unwrap();
    fs.close().unwrap();
    drop(fs);
    assert!(
        storage.snapshot() == before,
        "an open without changes wrote to the container"
    );
}

#[test]
fn the_first_change_after_an_unchanged_open_is_written_and_survives() {
    let storage = new_storage(4 << 20);
    let before = storage.snapshot();
    {
        let fs = open(storage.clone());
        fs.lookup(ROOT_INO, b"nothing").unwrap_err();
        fs.mkdir(ROOT_INO, b"2026", 0o755, ME).unwrap();
        fs.sync().unwrap();
        // Durable at the sync, before the close.
        assert!(storage.snapshot() != before, "the change was not written");
        fs.close().unwrap();
    }
    let storage: Arc<dyn Storage> = storage;
    let fs = open(storage.clone());
    assert!(fs.lookup(ROOT_INO, b"2026").is_ok());
    fs.close().unwrap();
    assert!(check_storage(storage).unwrap().is_clean());
}
