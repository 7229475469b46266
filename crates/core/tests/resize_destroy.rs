//! The container layer of resize and destroy: header copies, file length, device capacity,
//! and what a crypto-erase leaves.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use secvol_core::destroy::destroy_on;
use secvol_core::geometry::HEADER_REGION_LEN;
use secvol_core::storage::Storage;
use secvol_core::testing::MemStorage;
use secvol_core::{BlockDevice, CipherSuite, ContainerError, ReadMode};

const MIB: u64 = 1 << 20;

#[test]
fn a_grown_device_keeps_its_blocks_and_takes_on_the_new_capacity_in_place() {
    for suite in CipherSuite::ALL {
        let (storage, mut unlocked) = new_container(suite);
        let device = unlocked.open_device(false).unwrap();
        let old_capacity = device.capacity_blocks();
        fill_blocks(&device, old_capacity);
        let grown = unlocked.grow(5 * MIB, true, &mut |_, _| {}).unwrap();
        assert_eq!(storage.len().unwrap(), 5 * MIB);
        // The live device cannot write past its old capacity until it adopts the new one.
        assert!(device.capacity_blocks() == old_capacity);
        device.adopt_grown_geometry(&grown).unwrap();
        assert_eq!(device.capacity_blocks(), grown.capacity_blocks);
        device.set_len(grown.capacity_blocks * 4096).unwrap();
        let mut block = vec![0u8; 4096];
        // New blocks read as zeros; old ones are intact.
        device
            .read_blocks(grown.capacity_blocks - 1, &mut block, ReadMode::Strict)
            .unwrap();
        assert!(block.iter().all(|&b| b == 0), "{suite}");
        device
            .write_blocks(grown.capacity_blocks - 1, &pattern(1, 9))
            .unwrap();
        device.sync().unwrap();
        drop(device);

        let reopened = unlock(storage.clone(), PASSWORD).unwrap();
        assert_eq!(reopened.header().geometry, grown);
        let device = reopened.open_device(true).unwrap();
        for index in [1, old_capacity / 2, old_capacity - 1] {
            device
                .read_blocks(index, &mut block, ReadMode::Strict)
                .unwrap();
            assert_eq!(block, pattern(index, 0), "{suite} block {index}");
        }
        device
            .read_blocks(grown.capacity_blocks - 1, &mut block, ReadMode::Strict)
            .unwrap();
        assert_eq!(block, pattern(1, 9));
        let report = device.verify(&mut |_, _| {}).unwrap();
        assert!(report.is_clean(), "{suite}: {report:?}");
    }
}

#[test]
fn resize_refuses_sizes_on_the_wrong_side_or_below_the_minimum() {
    let (storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    let before = storage.snapshot();
    assert!(matches!(
        unlocked.grow(SIZE, false, &mut |_, _| {}),
        Err(ContainerError::BadResize { .. })
    ));
    assert!(matches!(
        unlocked.shrink(SIZE + MIB),
        Err(ContainerError::BadResize { .. })
    ));
    assert!(matches!(
        unlocked.shrink(MIB / 2),
        Err(ContainerError::TooSmall { .. })
    ));
    assert_eq!(storage.snapshot(), before);
}

#[test]
fn a_shrink_is_refused_while_the_device_reaches_past_the_new_end() {
    let (storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    let device = unlocked.open_device(false).unwrap();
    fill_blocks(&device, device.capacity_blocks());
    drop(device);
    let before = storage.snapshot();
    match unlocked.shrink(MIB) {
        Err(ContainerError::TailInUse {
            device_len,
            capacity,
        }) => assert!(device_len > capacity),
        other => panic!("expected TailInUse, got {other:?}"),
    }
    assert_eq!(storage.snapshot(), before);
}

#[test]
fn a_leftover_tail_of_an_interrupted_resize_is_cut_off() {
    let (storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    storage.set_len(SIZE + 3 * 65536).unwrap();
    storage.poke(SIZE + 2 * 65536, &[0xAB; 4096]);
    assert_eq!(unlocked.discard_leftover_tail().unwrap(), 3 * 65536);
    assert_eq!(storage.len().unwrap(), SIZE);
    assert_eq!(unlocked.discard_leftover_tail().unwrap(), 0);
    unlock(storage, PASSWORD).unwrap();
}

#[test]
fn destroy_overwrites_every_header_copy_and_both_super_slots_and_nothing_else() {
    let (storage, unlocked) = new_container(CipherSuite::Aes256Gcm);
    let device = unlocked.open_device(false).unwrap();
    fill_blocks(&device, 64);
    drop(device);
    drop(unlocked);
    // A copy left at the end of a longer file by an interrupted resize.
    let tail_copy = storage.snapshot()[..4096].to_vec();
    storage.set_len(SIZE + 2 * HEADER_REGION_LEN).unwrap();
    storage.poke(SIZE + HEADER_REGION_LEN, &tail_copy);
    let before = storage.snapshot();

    let report = destroy_on(storage.clone(), Path::new("test.sec")).unwrap();
    let after = storage.snapshot();
    assert_eq!(after.len(), before.len());
    let regions = [
        0..HEADER_REGION_LEN + 16 * 1024,
        SIZE - HEADER_REGION_LEN..SIZE,
        SIZE + HEADER_REGION_LEN..SIZE + 2 * HEADER_REGION_LEN,
    ];
    for region in &regions {
        let (start, end) = (region.start as usize, region.end as usize);
        let same = before[start..end]
            .chunks(16)
            .zip(after[start..end].chunks(16))
            .filter(|(a, b)| a == b)
            .count();
        assert_eq!(same, 0, "{region:?} not overwritten");
    }
    assert_eq!(report.bytes(), 3 * HEADER_REGION_LEN + 3 * 2048 + 16 * 1024);
    // Everything else is untouched.
    let data = (HEADER_REGION_LEN + 16 * 1024) as usize..(SIZE - HEADER_REGION_LEN) as usize;
    assert_eq!(before[data.clone()], after[data]);
    let between = SIZE as usize..(SIZE + HEADER_REGION_LEN) as usize;
    assert_eq!(before[between.clone()], after[between]);

    assert!(matches!(
        unlock(storage, PASSWORD),
        Err(ContainerError::NotAContainer { .. })
    ));
}

#[test]
fn destroy_erases_a_container_whose_headers_are_damaged_but_refuses_other_files() {
    let (storage, _) = new_container(CipherSuite::XChaCha20Poly1305);
    // Both copies damaged: still a secvol file (the magic is there).
    storage.poke(100, &[0xFF]);
    storage.poke(SIZE - HEADER_REGION_LEN + 100, &[0xFF]);
    assert!(matches!(
        reopen(storage.clone()),
        Err(ContainerError::HeadersDamaged { .. })
    ));
    let before = storage.snapshot();
    destroy_on(storage.clone(), Path::new("test.sec")).unwrap();
    assert_ne!(storage.snapshot()[..8], before[..8]);

    let noise: Vec<u8> = (0..3 * MIB).map(|i| (i * 7919 % 251) as u8).collect();
    let other = Arc::new(MemStorage::new(noise.clone()));
    assert!(matches!(
        destroy_on(other.clone(), Path::new("photo.jpg")),
        Err(ContainerError::NotAContainer { .. })
    ));
    assert_eq!(other.snapshot(), noise);
}
