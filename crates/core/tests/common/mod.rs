//! Shared helpers of the core integration tests.
#![allow(dead_code, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use secvol_core::storage::Storage;
use secvol_core::testing::MemStorage;
use secvol_core::{
    Access, BlockDevice, CipherSuite, Container, CreateOptions, ScryptParams, SecretString,
    UnlockedContainer, create_on,
};

pub const PASSWORD: &str = "correct horse battery staple";
pub const SIZE: u64 = 2 << 20;

pub fn password(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

pub fn options(suite: CipherSuite) -> CreateOptions {
    CreateOptions {
        size: SIZE,
        suite,
        kdf: ScryptParams::with_log_n(10),
        quick: false,
    }
}

/// A fresh container in memory.
pub fn new_container(suite: CipherSuite) -> (Arc<MemStorage>, UnlockedContainer) {
    let storage = Arc::new(MemStorage::default());
    let unlocked = create_on(
        storage.clone(),
        Path::new("test.sec"),
        &password(PASSWORD),
        &options(suite),
        &mut |_, _| {},
    )
    .expect("create");
    (storage, unlocked)
}

pub fn reopen(storage: Arc<dyn Storage>) -> Result<Container, secvol_core::ContainerError> {
    Container::open_storage(storage, Path::new("test.sec"), Access::ReadWrite)
}

pub fn unlock(
    storage: Arc<dyn Storage>,
    pw: &str,
) -> Result<UnlockedContainer, secvol_core::ContainerError> {
    reopen(storage)?.unlock(&password(pw))
}

/// A deterministic, block-specific pattern.
pub fn pattern(index: u64, version: u8) -> Vec<u8> {
    (0..4096u64)
        .map(|i| (i.wrapping_mul(31) ^ index.wrapping_mul(7) ^ (u64::from(version) * 101)) as u8)
        .collect()
}

/// Grow the device to `blocks` blocks and write the pattern into blocks 0..blocks.
pub fn fill_blocks(device: &dyn BlockDevice, blocks: u64) {
    device.set_len(blocks * 4096).unwrap();
    let mut data = Vec::new();
    for index in 0..blocks {
        data.extend_from_slice(&pattern(index, 0));
    }
    device.write_blocks(0, &data).unwrap();
    device.sync().unwrap();
}
