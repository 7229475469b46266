//! The encrypted block device: tamper detection, lenient reads, growth, capacity, and the
//! dual-slot super record under simulated power loss.

mod common;

use std::sync::Arc;

use common::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use secvol_core::storage::Storage;
use secvol_core::testing::{CrashMode, CrashStorage, MemStorage};
use secvol_core::{BlockDevice, BlockError, CipherSuite, EncryptedDevice, ReadMode};

fn read_block(device: &EncryptedDevice, index: u64, mode: ReadMode) -> Result<Vec<u8>, BlockError> {
    let mut buf = vec![0u8; 4096];
    device.read_blocks(index, &mut buf, mode).map(|()| buf)
}

fn device_with_blocks(suite: CipherSuite, blocks: u64) -> (Arc<MemStorage>, EncryptedDevice) {
    let (storage, unlocked) = new_container(suite);
    let device = unlocked.open_device(false).unwrap();
    fill_blocks(&device, blocks);
    (storage, device)
}

fn flip(storage: &MemStorage, offset: u64) {
    let mut byte = [0u8];
    storage.read_at(offset, &mut byte).unwrap();
    storage.poke(offset, &[byte[0] ^ 1]);
}

#[test]
fn flipping_any_ciphertext_byte_fails_that_block_and_names_it() {
    for suite in CipherSuite::ALL {
        let (storage, device) = device_with_blocks(suite, 300);
        let g = *device.geometry();
        for (index, offset_in_block) in [(1u64, 0u64), (57, 4095), (128, 2048), (250, 17)] {
            flip(&storage, g.data_offset(index) + offset_in_block);
            match read_block(&device, index, ReadMode::Strict) {
                Err(BlockError::AuthFailed { index: failed }) => assert_eq!(failed, index),
                other => panic!("{suite}: block {index} not detected: {other:?}"),
            }
            // Its neighbours are untouched.
            assert_eq!(
                read_block(&device, index + 1, ReadMode::Strict).unwrap(),
                pattern(index + 1, 0)
            );
            flip(&storage, g.data_offset(index) + offset_in_block);
            assert_eq!(
                read_block(&device, index, ReadMode::Strict).unwrap(),
                pattern(index, 0)
            );
        }
    }
}

#[test]
fn flipping_a_nonce_or_tag_byte_fails_the_block() {
    let (storage, device) = device_with_blocks(CipherSuite::Aes256Gcm, 20);
    let g = *device.geometry();
    for byte in [0, 15, 16, 31] {
        flip(&storage, g.meta_offset(9) + byte);
        assert!(matches!(
            read_block(&device, 9, ReadMode::Strict),
            Err(BlockError::AuthFailed { index: 9 })
        ));
        flip(&storage, g.meta_offset(9) + byte);
    }
}

#[test]
fn a_block_copied_over_another_index_is_detected() {
    let (storage, device) = device_with_blocks(CipherSuite::XChaCha20Poly1305, 20);
    let g = *device.geometry();
    let meta_len = g.block_meta_len as usize;
    let mut data = vec![0u8; 4096];
    let mut meta = vec![0u8; meta_len];
    storage.read_at(g.data_offset(3), &mut data).unwrap();
    storage.read_at(g.meta_offset(3), &mut meta).unwrap();
    storage.poke(g.data_offset(7), &data);
    storage.poke(g.meta_offset(7), &meta);
    assert!(matches!(
        read_block(&device, 7, ReadMode::Strict),
        Err(BlockError::AuthFailed { index: 7 })
    ));
    assert_eq!(
        read_block(&device, 3, ReadMode::Strict).unwrap(),
        pattern(3, 0)
    );
}

#[test]
fn a_block_copied_from_another_container_is_detected() {
    let (storage_a, device_a) = device_with_blocks(CipherSuite::Aes256Gcm, 10);
    let (storage_b, _device_b) = device_with_blocks(CipherSuite::Aes256Gcm, 10);
    let g = *device_a.geometry();
    let mut data = vec![0u8; 4096];
    let mut meta = vec![0u8; 32];
    storage_b.read_at(g.data_offset(5), &mut data).unwrap();
    storage_b.read_at(g.meta_offset(5), &mut meta).unwrap();
    storage_a.poke(g.data_offset(5), &data);
    storage_a.poke(g.meta_offset(5), &meta);
    assert!(matches!(
        read_block(&device_a, 5, ReadMode::Strict),
        Err(BlockError::AuthFailed { index: 5 })
    ));
}

#[test]
fn lenient_reads_turn_a_failed_block_into_zeros_and_count_it() {
    let (storage, device) = device_with_blocks(CipherSuite::Aes256Gcm, 10);
    flip(&storage, device.geometry().data_offset(4) + 100);
    let mut buf = vec![0u8; 3 * 4096];
    device.read_blocks(3, &mut buf, ReadMode::Lenient).unwrap();
    assert_eq!(&buf[..4096], &pattern(3, 0)[..]);
    assert!(buf[4096..8192].iter().all(|&b| b == 0));
    assert_eq!(&buf[8192..], &pattern(5, 0)[..]);
    assert_eq!(device.tolerated_failures(), 1);
    assert!(device.read_blocks(3, &mut buf, ReadMode::Strict).is_err());
}

#[test]
fn verify_reports_damaged_ranges() {
    let (storage, device) = device_with_blocks(CipherSuite::Aes256Gcm, 400);
    let g = *device.geometry();
    for index in [10, 11, 12, 300] {
        flip(&storage, g.data_offset(index) + 7);
    }
    let report = device.verify(&mut |_, _| {}).unwrap();
    assert_eq!(report.blocks_checked, 399);
    assert_eq!(report.damaged, vec![10..13, 300..301]);
    assert!(!report.is_clean());
}

#[test]
fn grown_blocks_read_as_zeros_even_over_random_fill_and_stale_data() {
    let (_storage, device) = device_with_blocks(CipherSuite::Aes256Gcm, 50);
    device.set_len(20 * 4096).unwrap();
    device.set_len(80 * 4096).unwrap();
    for index in [0, 19] {
        assert_eq!(
            read_block(&device, index, ReadMode::Strict).unwrap(),
            pattern(index, 0)
        );
    }
    for index in [20, 49, 50, 79] {
        assert!(
            read_block(&device, index, ReadMode::Strict)
                .unwrap()
                .iter()
                .all(|&b| b == 0),
            "{index}"
        );
    }
    device.set_len(0).unwrap();
    device.set_len(4096).unwrap();
    assert!(
        read_block(&device, 0, ReadMode::Strict)
            .unwrap()
            .iter()
            .all(|&b| b == 0)
    );
}

#[test]
fn the_length_may_exceed_the_capacity_but_writes_there_fail_with_no_space() {
    let (_storage, unlocked) = new_container(CipherSuite::Aes256Gcm);
    let device = unlocked.open_device(false).unwrap();
    let capacity = device.capacity_blocks();
    device.set_len((capacity + 100) * 4096).unwrap();
    device.write_blocks(capacity - 1, &pattern(1, 1)).unwrap();
    assert!(
        read_block(&device, capacity + 5, ReadMode::Strict)
            .unwrap()
            .iter()
            .all(|&b| b == 0)
    );
    assert!(matches!(
        device.write_blocks(capacity, &pattern(1, 1)),
        Err(BlockError::NoSpace { .. })
    ));
    assert!(matches!(
        device.read_blocks(capacity + 100, &mut [0u8; 4096], ReadMode::Strict),
        Err(BlockError::OutOfRange { .. })
    ));
    let err: std::io::Error = BlockError::NoSpace {
        index: 1,
        capacity_blocks: 1,
    }
    .into();
    assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
}

#[test]
fn length_and_block_zero_persist_only_through_sync() {
    let (storage, unlocked) = new_container(CipherSuite::Aes256Gcm);
    let device = unlocked.open_device(false).unwrap();
    device.set_len(4 * 4096).unwrap();
    device.write_blocks(0, &pattern(0, 9)).unwrap();
    device.sync().unwrap();
    device.set_len(8 * 4096).unwrap();
    device.write_blocks(0, &pattern(0, 10)).unwrap();
    drop(device);
    let reopened = unlock(storage, PASSWORD)
        .unwrap()
        .open_device(false)
        .unwrap();
    assert_eq!(reopened.len(), 4 * 4096);
    assert_eq!(
        read_block(&reopened, 0, ReadMode::Strict).unwrap(),
        pattern(0, 9)
    );
}

/// A crash-simulating container: returns the storage and an unlocked container on it.
fn crash_container() -> (Arc<CrashStorage>, secvol_core::UnlockedContainer) {
    let (mem, _) = new_container(CipherSuite::Aes256Gcm);
    let storage = Arc::new(CrashStorage::new(mem.snapshot()));
    let unlocked = unlock(storage.clone(), PASSWORD).unwrap();
    (storage, unlocked)
}

fn recovered(image: Vec<u8>) -> (u64, Vec<u8>) {
    let device = unlock(Arc::new(MemStorage::new(image)), PASSWORD)
        .unwrap()
        .open_device(true)
        .expect("the device must open after any crash");
    let block0 = if device.len() > 0 {
        read_block(&device, 0, ReadMode::Strict).unwrap()
    } else {
        vec![0u8; 4096]
    };
    (device.len(), block0)
}

/// Interrupt a sequence of block-0 updates at every point — between writes, and inside each
/// sync with the super slot write dropped, kept, or torn — and check that what comes back is
/// always the last synced version or one whose sync had started (never older, never damaged).
#[test]
fn block_zero_always_recovers_the_last_synced_version_after_a_crash() {
    let (storage, unlocked) = crash_container();
    let device = unlocked.open_device(false).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut synced = (0u64, vec![0u8; 4096]);
    // Versions whose sync failed since the last good one: their slot write may have landed.
    let mut issued: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut crashes = 0;
    for version in 1..=24u8 {
        let len = u64::from(version % 5 + 2) * 4096;
        device.set_len(len).unwrap();
        device.write_blocks(0, &pattern(0, version)).unwrap();
        if version % 3 == 0 {
            // A second rewrite in the same sync epoch, plus a data block.
            device.write_blocks(0, &pattern(0, version + 100)).unwrap();
            device.write_blocks(1, &pattern(1, version)).unwrap();
        }
        let expected_new = (len, device_block0(&device));
        let allowed =
            |got: &(u64, Vec<u8>), issued: &[(u64, Vec<u8>)], new: Option<&(u64, Vec<u8>)>| {
                *got == synced || issued.contains(got) || new == Some(got)
            };

        // Crash before the sync: nothing newer than the issued slot writes may come back.
        for mode in [CrashMode::DropAll, CrashMode::KeepAll, CrashMode::Random] {
            let got = recovered(storage.crash_image(mode, &mut rng));
            assert!(
                allowed(&got, &issued, None),
                "v{version} {mode:?} before sync"
            );
            if mode == CrashMode::DropAll {
                assert!(
                    got == synced,
                    "v{version}: dropping every unsynced write must give the synced version"
                );
            }
            crashes += 1;
        }

        // Power lost inside the sync: the super slot write is pending.
        storage.fail_syncs(true);
        assert!(device.sync().is_err());
        storage.fail_syncs(false);
        let pending = storage.pending_writes();
        for mode in [CrashMode::DropAll, CrashMode::KeepAll, CrashMode::Random] {
            let got = recovered(storage.crash_image(mode, &mut rng));
            assert!(
                allowed(&got, &issued, Some(&expected_new)),
                "v{version} {mode:?} in sync"
            );
            if mode == CrashMode::KeepAll {
                assert!(
                    got == expected_new,
                    "v{version}: a fully written slot must win"
                );
            }
            crashes += 1;
        }
        for torn in 0..pending {
            for _ in 0..4 {
                let got = recovered(storage.crash_image(CrashMode::TearAt(torn), &mut rng));
                assert!(
                    allowed(&got, &issued, Some(&expected_new)),
                    "v{version} tear {torn}"
                );
                crashes += 1;
            }
        }
        issued.push(expected_new.clone());
        // Every other round, retry the sync: after a failed sync the next one must still
        // spare the slot holding the last durable version.
        if version % 2 == 0 {
            device.sync().unwrap();
            synced = expected_new;
            issued.clear();
            assert!(recovered(storage.crash_image(CrashMode::DropAll, &mut rng)) == synced);
        }
    }
    assert!(crashes > 200, "{crashes}");
}

fn device_block0(device: &EncryptedDevice) -> Vec<u8> {
    read_block(device, 0, ReadMode::Strict).unwrap()
}

#[test]
fn data_blocks_written_before_a_completed_sync_survive_any_later_crash() {
    let (storage, unlocked) = crash_container();
    let device = unlocked.open_device(false).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    device.set_len(300 * 4096).unwrap();
    for index in 1..300 {
        device.write_blocks(index, &pattern(index, 1)).unwrap();
    }
    device.sync().unwrap();
    // Rewrite some of them and crash with torn writes: synced blocks in untouched groups and
    // untouched blocks of touched groups must still authenticate.
    for index in (1..300).step_by(3) {
        device.write_blocks(index, &pattern(index, 2)).unwrap();
    }
    for _ in 0..20 {
        let image = storage.crash_image(CrashMode::Random, &mut rng);
        let device = unlock(Arc::new(MemStorage::new(image)), PASSWORD)
            .unwrap()
            .open_device(true)
            .unwrap();
        for index in 1..300u64 {
            let got = read_block(&device, index, ReadMode::Strict);
            if (index - 1) % 3 == 0 {
                // Rewritten since the sync: old, new, or (torn) detectably damaged.
                match got {
                    Ok(block) => assert!(block == pattern(index, 1) || block == pattern(index, 2)),
                    Err(BlockError::AuthFailed { index: i }) => assert_eq!(i, index),
                    Err(other) => panic!("{other}"),
                }
            } else {
                assert_eq!(
                    got.unwrap(),
                    pattern(index, 1),
                    "untouched block {index} damaged"
                );
            }
        }
    }
}
