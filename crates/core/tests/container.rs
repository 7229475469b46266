//! Containers: create, open, unlock, keyslots, header damage and restore.

mod common;

use std::sync::Arc;

use common::*;
use secvol_core::container::restore_header_on;
use secvol_core::geometry::HEADER_REGION_LEN;
use secvol_core::storage::Storage;
use secvol_core::testing::MemStorage;
use secvol_core::{BlockDevice, CipherSuite, ContainerError, HeaderDamage, ReadMode, ScryptParams};

fn cheap() -> ScryptParams {
    ScryptParams::with_log_n(10)
}

#[test]
fn a_new_container_reopens_with_its_password_and_keeps_written_blocks() {
    for suite in CipherSuite::ALL {
        let (storage, unlocked) = new_container(suite);
        let device = unlocked.open_device(false).unwrap();
        fill_blocks(&device, 40);
        drop(device);

        let unlocked = unlock(storage.clone(), PASSWORD).unwrap();
        assert_eq!(unlocked.opened_slot(), 0);
        assert_eq!(unlocked.header().suite, suite);
        assert!(!unlocked.opened_from_backup());
        let device = unlocked.open_device(false).unwrap();
        assert_eq!(device.len(), 40 * 4096);
        let mut buf = vec![0u8; 40 * 4096];
        device.read_blocks(0, &mut buf, ReadMode::Strict).unwrap();
        for (index, block) in buf.chunks(4096).enumerate() {
            assert_eq!(
                block,
                &pattern(index as u64, 0)[..],
                "{suite} block {index}"
            );
        }
    }
}

#[test]
fn the_wrong_password_is_reported_as_such() {
    let (storage, _) = new_container(CipherSuite::Aes256Gcm);
    assert!(matches!(
        unlock(storage, "correct horse battery stapler"),
        Err(ContainerError::WrongPassword)
    ));
}

#[test]
fn nothing_secret_is_stored_in_clear() {
    let (storage, unlocked) = new_container(CipherSuite::Aes256Gcm);
    let device = unlocked.open_device(false).unwrap();
    device.set_len(8 * 4096).unwrap();
    let marker = b"PATIENT-RECORD-0042".repeat(216);
    let mut block = vec![0u8; 4096];
    block[..marker.len().min(4096)].copy_from_slice(&marker[..4096]);
    device.write_blocks(3, &block).unwrap();
    device.sync().unwrap();
    let image = storage.snapshot();
    assert!(!image.windows(19).any(|w| w == b"PATIENT-RECORD-0042"));
    assert!(
        !image
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes())
    );
}

#[test]
fn sixteen_keyslots_each_open_the_same_data_and_a_seventeenth_is_refused() {
    let (storage, mut unlocked) = new_container(CipherSuite::XChaCha20Poly1305);
    fill_blocks(&unlocked.open_device(false).unwrap(), 3);
    for i in 1..16 {
        let slot = unlocked
            .add_keyslot(&password(&format!("password number {i} of many")), cheap())
            .unwrap();
        assert_eq!(slot, i);
    }
    assert!(matches!(
        unlocked.add_keyslot(&password("one too many passwords"), cheap()),
        Err(ContainerError::NoFreeKeyslot(16))
    ));
    for i in 0..16 {
        let pw = if i == 0 {
            PASSWORD.to_string()
        } else {
            format!("password number {i} of many")
        };
        let opened = unlock(storage.clone(), &pw).unwrap();
        assert_eq!(opened.opened_slot(), i);
        let mut buf = vec![0u8; 4096];
        opened
            .open_device(true)
            .unwrap()
            .read_blocks(2, &mut buf, ReadMode::Strict)
            .unwrap();
        assert_eq!(buf, pattern(2, 0));
    }
}

#[test]
fn passwd_replaces_the_password_and_the_old_one_stops_working() {
    let (storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    let before = storage.snapshot();
    unlocked
        .change_password(&password("a brand new passphrase here"), cheap())
        .unwrap();
    assert!(matches!(
        unlock(storage.clone(), PASSWORD),
        Err(ContainerError::WrongPassword)
    ));
    assert_eq!(
        unlock(storage.clone(), "a brand new passphrase here")
            .unwrap()
            .opened_slot(),
        0
    );
    // Only the two header copies changed.
    let after = storage.snapshot();
    let changed: Vec<usize> = (0..after.len())
        .filter(|&i| before[i] != after[i])
        .collect();
    let backup = after.len() - HEADER_REGION_LEN as usize;
    assert!(
        changed
            .iter()
            .all(|&i| i < 4096 || (backup..backup + 4096).contains(&i))
    );
}

#[test]
fn the_last_keyslot_cannot_be_removed_but_others_can() {
    let (storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    assert!(matches!(
        unlocked.remove_keyslot(0),
        Err(ContainerError::LastKeyslot(0))
    ));
    let slot = unlocked
        .add_keyslot(&password("second password for the clinic"), cheap())
        .unwrap();
    unlocked.remove_keyslot(0).unwrap();
    assert!(matches!(
        unlock(storage.clone(), PASSWORD),
        Err(ContainerError::WrongPassword)
    ));
    let mut reopened = unlock(storage, "second password for the clinic").unwrap();
    assert_eq!(reopened.opened_slot(), slot);
    assert!(matches!(
        reopened.remove_keyslot(slot),
        Err(ContainerError::LastKeyslot(_))
    ));
    assert!(matches!(
        reopened.remove_keyslot(5),
        Err(ContainerError::BadKeyslot { state: "empty", .. })
    ));
    assert!(matches!(
        reopened.remove_keyslot(99),
        Err(ContainerError::BadKeyslot { .. })
    ));
}

fn damage(storage: &MemStorage, offset: u64) {
    let mut byte = [0u8];
    storage.read_at(offset, &mut byte).unwrap();
    storage.poke(offset, &[byte[0] ^ 0x40]);
}

#[test]
fn a_damaged_primary_header_opens_from_the_backup_and_says_so() {
    let (storage, _) = new_container(CipherSuite::Aes256Gcm);
    damage(&storage, 100);
    let container = reopen(storage.clone()).unwrap();
    assert_eq!(
        container.header_status().primary,
        Err(HeaderDamage::BadChecksum)
    );
    assert_eq!(container.header_status().backup, Ok(()));
    let mut unlocked = container.unlock(&password(PASSWORD)).unwrap();
    assert!(unlocked.opened_from_backup());
    unlocked.write_headers().unwrap();
    let repaired = reopen(storage).unwrap();
    assert_eq!(repaired.header_status().primary, Ok(()));
    assert!(!repaired.header_status().copies_differ);
}

#[test]
fn both_headers_damaged_is_a_clear_error() {
    let (storage, _) = new_container(CipherSuite::Aes256Gcm);
    let len = storage.len().unwrap();
    damage(&storage, 200);
    damage(&storage, len - HEADER_REGION_LEN + 200);
    match reopen(storage) {
        Err(ContainerError::HeadersDamaged { primary, backup }) => {
            assert_eq!(primary, HeaderDamage::BadChecksum);
            assert_eq!(backup, HeaderDamage::BadChecksum);
        }
        other => panic!("expected HeadersDamaged, got {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_a_container_is_named_as_such() {
    let mut noise = vec![0u8; 3 << 20];
    for (i, b) in noise.iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    assert!(matches!(
        reopen(Arc::new(MemStorage::new(noise))),
        Err(ContainerError::NotAContainer { .. })
    ));
    assert!(matches!(
        reopen(Arc::new(MemStorage::new(vec![]))),
        Err(ContainerError::NotAContainer { .. })
    ));
}

#[test]
fn a_truncated_container_is_reported_with_both_lengths() {
    let (storage, _) = new_container(CipherSuite::Aes256Gcm);
    storage.set_len(SIZE - 4096 * 10).unwrap();
    match reopen(storage) {
        Err(ContainerError::Truncated {
            expected, actual, ..
        }) => {
            assert_eq!(expected, SIZE);
            assert_eq!(actual, SIZE - 40960);
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[test]
fn a_header_of_another_format_version_is_unsupported() {
    let (storage, _) = new_container(CipherSuite::Aes256Gcm);
    storage.poke(8, &[2, 0]);
    storage.poke(SIZE - HEADER_REGION_LEN + 8, &[2, 0]);
    assert!(matches!(
        reopen(storage),
        Err(ContainerError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    ));
}

/// Rewrite a header copy's field and recompute its unkeyed checksum, as an attacker would.
fn forge(storage: &MemStorage, copy_offset: u64, field: u64, value: &[u8]) {
    use sha2::{Digest, Sha256};
    storage.poke(copy_offset + field, value);
    let mut header = vec![0u8; 4096];
    storage.read_at(copy_offset, &mut header).unwrap();
    let sum = Sha256::digest(&header[..4064]);
    storage.poke(copy_offset + 4064, &sum);
}

#[test]
fn a_forged_cipher_id_is_caught_and_the_backup_copy_is_used() {
    let (storage, _) = new_container(CipherSuite::Aes256Gcm);
    // The geometry no longer matches the forged suite: the copy is damaged, the backup used.
    forge(&storage, 0, 32, &2u16.to_le_bytes());
    let unlocked = unlock(storage.clone(), PASSWORD).unwrap();
    assert!(unlocked.opened_from_backup());
    assert_eq!(unlocked.header().suite, CipherSuite::Aes256Gcm);
}

#[test]
fn a_forged_field_that_still_parses_fails_authentication_after_unlock() {
    let (storage, _) = new_container(CipherSuite::Aes256Gcm);
    // Flags live at offset 12; setting the "quick" flag keeps the header well-formed.
    forge(&storage, 0, 12, &1u32.to_le_bytes());
    let unlocked = unlock(storage.clone(), PASSWORD).unwrap();
    assert!(
        unlocked.opened_from_backup(),
        "the authentic backup copy must win"
    );
    // Both copies forged: tampering is reported, not a wrong password.
    forge(&storage, SIZE - HEADER_REGION_LEN, 12, &1u32.to_le_bytes());
    assert!(matches!(
        unlock(storage, PASSWORD),
        Err(ContainerError::HeaderTampered)
    ));
}

#[test]
fn a_header_backup_restores_a_container_whose_headers_are_both_destroyed() {
    let (storage, unlocked) = new_container(CipherSuite::XChaCha20Poly1305);
    fill_blocks(&unlocked.open_device(false).unwrap(), 5);
    let exported = unlocked.export_header();
    drop(unlocked);
    storage.poke(0, &[0u8; 4096]);
    storage.poke(SIZE - HEADER_REGION_LEN, &[0u8; 4096]);
    assert!(reopen(storage.clone()).is_err());
    let restored = restore_header_on(
        storage.clone(),
        std::path::Path::new("t"),
        &exported,
        &password(PASSWORD),
    )
    .unwrap();
    drop(restored);
    let unlocked = unlock(storage, PASSWORD).unwrap();
    let mut buf = vec![0u8; 4096];
    unlocked
        .open_device(true)
        .unwrap()
        .read_blocks(4, &mut buf, ReadMode::Strict)
        .unwrap();
    assert_eq!(buf, pattern(4, 0));
}

#[test]
fn a_header_backup_of_another_container_is_refused() {
    let (storage_a, _) = new_container(CipherSuite::Aes256Gcm);
    let (_, unlocked_b) = new_container(CipherSuite::Aes256Gcm);
    let exported_b = unlocked_b.export_header();
    // Headers intact: the ids differ.
    assert!(matches!(
        restore_header_on(
            storage_a.clone(),
            std::path::Path::new("a"),
            &exported_b,
            &password(PASSWORD)
        ),
        Err(ContainerError::ForeignHeader { .. })
    ));
    // Headers destroyed: the data does not authenticate under B's key.
    storage_a.poke(0, &[0u8; 4096]);
    storage_a.poke(SIZE - HEADER_REGION_LEN, &[0u8; 4096]);
    assert!(matches!(
        restore_header_on(
            storage_a,
            std::path::Path::new("a"),
            &exported_b,
            &password(PASSWORD)
        ),
        Err(ContainerError::ForeignHeader { .. })
    ));
}

#[test]
fn hostile_kdf_parameters_in_a_header_are_refused_without_running_them() {
    let (storage, _) = new_container(CipherSuite::Aes256Gcm);
    // Keyslot 0 starts at 128; log2 N is its byte 2. 30 would ask for 128 GiB.
    forge(&storage, 0, 128 + 2, &[30]);
    forge(&storage, SIZE - HEADER_REGION_LEN, 128 + 2, &[30]);
    match unlock(storage, PASSWORD) {
        Err(ContainerError::Kdf(err)) => {
            assert!(err.to_string().contains("out of bounds"), "{err}")
        }
        other => panic!("expected a KDF bounds error, got {other:?}"),
    }
}

#[test]
fn a_size_below_the_minimum_is_refused() {
    let storage = Arc::new(MemStorage::default());
    let mut opts = options(CipherSuite::Aes256Gcm);
    opts.size = 512 * 1024;
    assert!(matches!(
        secvol_core::create_on(
            storage,
            std::path::Path::new("t"),
            &password(PASSWORD),
            &opts,
            &mut |_, _| {}
        ),
        Err(ContainerError::TooSmall { .. })
    ));
}

#[test]
fn the_random_fill_leaves_no_long_runs_of_zeros_and_quick_does() {
    let (storage, _) = new_container(CipherSuite::Aes256Gcm);
    let image = storage.snapshot();
    let zero_blocks = image
        .chunks(4096)
        .filter(|b| b.iter().all(|&x| x == 0))
        .count();
    assert_eq!(zero_blocks, 0);

    let quick = Arc::new(MemStorage::default());
    let mut opts = options(CipherSuite::Aes256Gcm);
    opts.quick = true;
    secvol_core::create_on(
        quick.clone(),
        std::path::Path::new("q"),
        &password(PASSWORD),
        &opts,
        &mut |_, _| {},
    )
    .unwrap();
    let zero_blocks = quick
        .snapshot()
        .chunks(4096)
        .filter(|b| b.iter().all(|&x| x == 0))
        .count();
    assert!(zero_blocks > 400, "{zero_blocks}");
}
