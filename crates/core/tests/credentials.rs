//! Keyslots opened by something other than a password alone: a password with a keyfile, a
//! keyfile alone, a recovery key. Real containers (in memory), real key derivations.

mod common;

use std::sync::Arc;

use common::*;
use secvol_core::container::restore_header_on_with;
use secvol_core::header::{Header, Keyslot};
use secvol_core::recovery;
use secvol_core::storage::Storage;
use secvol_core::{
    CipherSuite, ContainerError, Credential, Keyfile, KeyslotKind, RecoveryKey, ScryptParams,
};

fn cheap() -> ScryptParams {
    ScryptParams::with_log_n(10)
}

fn keyfile(bytes: &[u8]) -> Keyfile {
    Keyfile::from_reader(&mut &bytes[..]).unwrap()
}

fn unlock_with(
    storage: &Arc<secvol_core::testing::MemStorage>,
    credentials: &[Credential<'_>],
) -> Result<secvol_core::UnlockedContainer, ContainerError> {
    reopen(storage.clone())?.unlock_with(credentials)
}

#[test]
fn a_password_and_keyfile_slot_opens_only_with_both() {
    let (storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    let pw = password("second person's passphrase");
    let kf = keyfile(b"a keyfile with some random-looking bytes: 8f3a91c2");
    let slot = unlocked
        .add_keyslot_with(&Credential::PasswordAndKeyfile(&pw, &kf), cheap())
        .unwrap();
    assert_eq!(slot, 1);

    let opened = unlock_with(&storage, &[Credential::PasswordAndKeyfile(&pw, &kf)]).unwrap();
    assert_eq!(opened.opened_slot(), 1);
    assert_eq!(
        opened.opened_kind(),
        KeyslotKind::PasswordAndKeyfile(cheap())
    );

    // The password alone does not open it (slot 0 has another password).
    assert!(matches!(
        unlock_with(&storage, &[Credential::Password(&pw)]),
        Err(ContainerError::WrongPassword)
    ));
    // The keyfile alone does not open it, and no keyfile-only slot exists.
    assert!(matches!(
        unlock_with(&storage, &[Credential::Keyfile(&kf)]),
        Err(ContainerError::NoKeyslotOfKind { needs: "a keyfile" })
    ));
    // A keyfile that differs by one byte does not open it.
    let wrong = keyfile(b"a keyfile with some random-looking bytes: 8f3a91c3");
    let err = unlock_with(&storage, &[Credential::PasswordAndKeyfile(&pw, &wrong)]).unwrap_err();
    assert!(matches!(
        err,
        ContainerError::WrongCredential {
            with: "this password and keyfile"
        }
    ));
    assert_eq!(
        err.to_string(),
        "no keyslot of this container opens with this password and keyfile"
    );
}

#[test]
fn a_keyfile_alone_opens_its_slot_and_a_wrong_keyfile_is_refused() {
    let (storage, mut unlocked) = new_container(CipherSuite::XChaCha20Poly1305);
    let kf = keyfile(&[0x5a; 64]);
    let slot = unlocked
        .add_keyslot_with(&Credential::Keyfile(&kf), cheap())
        .unwrap();
    let opened = unlock_with(&storage, &[Credential::Keyfile(&kf)]).unwrap();
    assert_eq!(opened.opened_slot(), slot);
    assert!(matches!(
        unlock_with(&storage, &[Credential::Keyfile(&keyfile(&[0x5b; 64]))]),
        Err(ContainerError::WrongCredential {
            with: "this keyfile"
        })
    ));
    // The first password still opens slot 0.
    assert_eq!(unlock(storage.clone(), PASSWORD).unwrap().opened_slot(), 0);
}

#[test]
fn several_credentials_are_each_tried_on_the_slots_of_their_kind() {
    let (storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    let kf = keyfile(b"keyfile for both kinds of slot....");
    let pw = password("password that goes with the keyfile");
    unlocked
        .add_keyslot_with(&Credential::PasswordAndKeyfile(&pw, &kf), cheap())
        .unwrap();
    let keyfile_slot = unlocked
        .add_keyslot_with(&Credential::Keyfile(&kf), cheap())
        .unwrap();
    // A wrong password with the right keyfile still opens the keyfile-only slot.
    let wrong_pw = password("not the password");
    let opened = unlock_with(
        &storage,
        &[
            Credential::PasswordAndKeyfile(&wrong_pw, &kf),
            Credential::Keyfile(&kf),
        ],
    )
    .unwrap();
    assert_eq!(opened.opened_slot(), keyfile_slot);
}

#[test]
fn a_recovery_key_round_trips_through_its_printed_form() {
    let (storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    let key = RecoveryKey::generate();
    let slot = unlocked
        .add_keyslot_with(&Credential::RecoveryKey(&key), cheap())
        .unwrap();
    let printed = recovery::Printable::of(&key);
    drop(key);

    let typed = recovery::parse(&printed.expose().to_lowercase()).unwrap();
    let opened = unlock_with(&storage, &[Credential::RecoveryKey(&typed)]).unwrap();
    assert_eq!(opened.opened_slot(), slot);
    assert_eq!(opened.opened_kind(), KeyslotKind::RecoveryKey);

    // The slot stores no scrypt cost, and the header says what opens it.
    let header = reopen(storage.clone()).unwrap();
    let Keyslot::Active(active) = &header.header().keyslots[slot] else {
        panic!("slot {slot} is empty");
    };
    assert_eq!(active.kind, KeyslotKind::RecoveryKey);
    assert_eq!(
        active.kind.to_string(),
        "recovery key (256-bit, HKDF-SHA256)"
    );

    // Another random key does not open it.
    assert!(matches!(
        unlock_with(
            &storage,
            &[Credential::RecoveryKey(&RecoveryKey::generate())]
        ),
        Err(ContainerError::WrongCredential {
            with: "this recovery key"
        })
    ));
}

#[test]
fn a_recovery_key_is_refused_plainly_where_no_recovery_slot_exists() {
    let (storage, _) = new_container(CipherSuite::Aes256Gcm);
    let err = unlock_with(
        &storage,
        &[Credential::RecoveryKey(&RecoveryKey::generate())],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "this container has no keyslot opened by a recovery key"
    );
}

#[test]
fn a_forgotten_password_is_replaced_through_the_recovery_key() {
    let (storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    let key = RecoveryKey::generate();
    unlocked
        .add_keyslot_with(&Credential::RecoveryKey(&key), cheap())
        .unwrap();
    drop(unlocked);

    let mut opened = unlock_with(&storage, &[Credential::RecoveryKey(&key)]).unwrap();
    // The recovery slot itself has no password to change.
    assert!(matches!(
        opened.change_password(&password("x"), cheap()),
        Err(ContainerError::WrongKeyslotKind { slot: 1, .. })
    ));
    let new_pw = password("a brand new passphrase for reception");
    let new_slot = opened.add_keyslot(&new_pw, cheap()).unwrap();
    opened.remove_keyslot(0).unwrap();
    drop(opened);
    assert!(matches!(
        unlock(storage.clone(), PASSWORD),
        Err(ContainerError::WrongPassword)
    ));
    assert_eq!(
        unlock(storage.clone(), "a brand new passphrase for reception")
            .unwrap()
            .opened_slot(),
        new_slot
    );
}

#[test]
fn changing_the_password_of_a_keyfile_slot_keeps_the_keyfile() {
    let (storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    let kf = keyfile(b"the keyfile stays the same across passwd");
    let old = password("old password with keyfile");
    unlocked
        .add_keyslot_with(&Credential::PasswordAndKeyfile(&old, &kf), cheap())
        .unwrap();
    let mut opened = unlock_with(&storage, &[Credential::PasswordAndKeyfile(&old, &kf)]).unwrap();
    let new = password("new password with keyfile");
    // A password alone would silently drop the keyfile: refused.
    assert!(matches!(
        opened.change_password(&new, cheap()),
        Err(ContainerError::WrongKeyslotKind { .. })
    ));
    opened
        .change_password_with(&Credential::PasswordAndKeyfile(&new, &kf), cheap())
        .unwrap();
    assert!(unlock_with(&storage, &[Credential::PasswordAndKeyfile(&new, &kf)]).is_ok());
    assert!(unlock_with(&storage, &[Credential::PasswordAndKeyfile(&old, &kf)]).is_err());
}

#[test]
fn a_header_backup_is_restored_with_a_recovery_key() {
    let (storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    let key = RecoveryKey::generate();
    unlocked
        .add_keyslot_with(&Credential::RecoveryKey(&key), cheap())
        .unwrap();
    let exported = unlocked.export_header();
    drop(unlocked);
    // Both copies destroyed.
    let len = storage.len().unwrap();
    storage.write_at(0, &[0u8; 4096]).unwrap();
    storage.write_at(len - 65536, &[0u8; 4096]).unwrap();
    let restored = restore_header_on_with(
        storage.clone(),
        std::path::Path::new("test.sec"),
        &exported,
        &[Credential::RecoveryKey(&key)],
    )
    .unwrap();
    assert_eq!(restored.opened_kind(), KeyslotKind::RecoveryKey);
    assert!(unlock(storage.clone(), PASSWORD).is_ok());
}

#[test]
fn every_kind_of_keyslot_survives_a_header_round_trip() {
    let (_storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    let kf = keyfile(b"round trip keyfile");
    let pw = password("round trip password");
    let key = RecoveryKey::generate();
    unlocked
        .add_keyslot_with(&Credential::PasswordAndKeyfile(&pw, &kf), cheap())
        .unwrap();
    unlocked
        .add_keyslot_with(&Credential::Keyfile(&kf), cheap())
        .unwrap();
    unlocked
        .add_keyslot_with(&Credential::RecoveryKey(&key), cheap())
        .unwrap();
    let bytes = unlocked.export_header();
    let parsed = Header::parse(&bytes).unwrap();
    let kinds: Vec<KeyslotKind> = parsed.active_slots().map(|(_, s)| s.kind).collect();
    assert_eq!(
        kinds,
        vec![
            KeyslotKind::Password(cheap()),
            KeyslotKind::PasswordAndKeyfile(cheap()),
            KeyslotKind::Keyfile(cheap()),
            KeyslotKind::RecoveryKey,
        ]
    );
    // KDF ids at keyslot byte 1 (docs/format.md §3): 1, 2, 3, 4; a recovery slot stores no
    // scrypt cost.
    for (index, id) in [1u8, 2, 3, 4].into_iter().enumerate() {
        assert_eq!(bytes[128 + index * 128 + 1], id);
    }
    assert!(
        bytes[128 + 3 * 128 + 2..128 + 3 * 128 + 16]
            .iter()
            .all(|&b| b == 0)
    );
}

#[test]
fn a_recovery_slot_with_a_scrypt_cost_is_damage() {
    let (_storage, mut unlocked) = new_container(CipherSuite::Aes256Gcm);
    unlocked
        .add_keyslot_with(&Credential::RecoveryKey(&RecoveryKey::generate()), cheap())
        .unwrap();
    let mut bytes = unlocked.export_header();
    bytes[128 + 128 + 2] = 10;
    use sha2::Digest;
    let sum = sha2::Sha256::digest(&bytes[..4064]);
    bytes[4064..].copy_from_slice(&sum);
    assert!(Header::parse(&bytes).is_err());
}
