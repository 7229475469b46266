//! Helpers of the file-system tests: containers in memory with a cheap KDF.
#![allow(dead_code, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use secvol_core::storage::Storage;
use secvol_core::testing::MemStorage;
use secvol_core::{
    Access, BlockDevice, CipherSuite, Container, CreateOptions, ScryptParams, SecretString,
};
use secvol_fs::{Ctx, Fs, FsOptions};

pub const PASSWORD: &str = "correct horse battery staple";

/// A new container of `size` bytes in memory with an empty file system on it.
pub fn new_storage(size: u64) -> Arc<MemStorage> {
    let storage = Arc::new(MemStorage::default());
    let unlocked = secvol_core::create_on(
        storage.clone(),
        Path::new("test.sec"),
        &SecretString::from(PASSWORD),
        &CreateOptions {
            size,
            suite: CipherSuite::Aes256Gcm,
            kdf: ScryptParams::with_log_n(10),
            quick: true,
        },
        &mut |_, _| {},
    )
    .unwrap();
    let device: Arc<dyn BlockDevice> = Arc::new(unlocked.open_device(false).unwrap());
    Fs::format(
        device,
        Ctx {
            uid: 1000,
            gid: 1000,
        },
    )
    .unwrap();
    storage
}

/// The block device of the container in `storage`.
pub fn device(storage: Arc<dyn Storage>, read_only: bool) -> Arc<dyn BlockDevice> {
    let unlocked = Container::open_storage(storage, Path::new("test.sec"), Access::ReadWrite)
        .unwrap()
        .unlock(&SecretString::from(PASSWORD))
        .unwrap();
    Arc::new(unlocked.open_device(read_only).unwrap())
}

/// Options for tests: no timer commits, so commits happen only where the test asks.
pub fn test_options() -> FsOptions {
    FsOptions {
        commit_interval: std::time::Duration::from_secs(3600),
        ..FsOptions::default()
    }
}

/// Open the file system in `storage`.
pub fn open(storage: Arc<dyn Storage>) -> Fs {
    Fs::open(device(storage, false), test_options()).unwrap()
}

pub const ME: Ctx = Ctx {
    uid: 1000,
    gid: 1000,
};
