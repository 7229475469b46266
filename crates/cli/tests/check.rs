//! `secvol check` on clean and damaged containers: the header copies, every block of the
//! encrypted device, and the file system inside.

#![cfg(unix)]

mod common;

use std::path::Path;

use common::{STRONG, Sandbox, backup_header_offset, flip_byte};
use secvol_core::{Access, BlockDevice, Container, SecretString};

/// Put a 400 KiB file into the container (so it holds ~100 data blocks) and return the file
/// offset of the ciphertext of every block of the device.
fn write_blocks(sandbox: &Sandbox, path: &Path) -> Vec<u64> {
    let local = sandbox.path("scan.pdf");
    let data: Vec<u8> = (0..400 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, data).unwrap();
    let pw = sandbox.password_file(STRONG);
    sandbox
        .run(&[
            "put",
            local.to_str().unwrap(),
            &format!("{}:/", path.display()),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    let unlocked = Container::open(path, Access::ReadOnly)
        .unwrap()
        .unlock(&SecretString::from(STRONG))
        .unwrap();
    let device = unlocked.open_device(true).unwrap();
    let blocks = device.len() / 4096;
    assert!(
        blocks > 40,
        "the file system should span more than 40 blocks"
    );
    let geometry = unlocked.header().geometry;
    (0..blocks)
        .map(|index| geometry.data_offset(index))
        .collect()
}

fn check(sandbox: &Sandbox, container: &Path) -> common::Run {
    let pw = sandbox.password_file(STRONG);
    sandbox.run(&[
        "check",
        container.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ])
}

#[test]
fn check_on_a_clean_new_container_exits_0() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let run = check(&sandbox, &container).ok();
    assert!(run.stdout.contains("slot 0 OK, slot 1 OK"), "{run:#?}");
    assert!(run.stdout.contains("primary OK, backup OK"), "{run:#?}");
    assert!(run.stdout.contains("no damage found"), "{run:#?}");
}

#[test]
fn check_reads_every_written_block_of_a_clean_container() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "2M", STRONG);
    let blocks = write_blocks(&sandbox, &container).len();
    let run = check(&sandbox, &container).ok();
    // Block 0 lives in the super slots and is checked with them.
    assert!(
        run.stdout
            .contains(&format!("{} checked, all intact", blocks - 1)),
        "{run:#?}"
    );
    assert!(run.stdout.contains("1 file, 1 directory"), "{run:#?}");
    assert!(run.stdout.contains("no damage found"), "{run:#?}");
}

#[test]
fn check_names_the_damaged_block_range_and_exits_10() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "2M", STRONG);
    let offsets = write_blocks(&sandbox, &container);
    flip_byte(&container, offsets[5] + 17, 0x01);
    flip_byte(&container, offsets[6] + 4000, 0x80);
    flip_byte(&container, offsets[30], 0x01);
    let run = check(&sandbox, &container).fails_with(10);
    assert!(
        run.stdout
            .contains("blocks 5–6 (bytes 20480–28671 of the data area)"),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains("blocks 30–30 (bytes 122880–126975 of the data area)"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("3 damaged"), "{run:#?}");
    assert!(
        run.error_line().contains("3 damaged blocks in 2 ranges"),
        "{run:#?}"
    );
}

#[test]
fn check_counts_a_damaged_header_copy_as_damage() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    flip_byte(&container, backup_header_offset(&container) + 100, 0xff);
    let run = check(&sandbox, &container).fails_with(10);
    assert!(
        run.stdout.contains("backup damaged (checksum mismatch)"),
        "{run:#?}"
    );
    assert!(
        run.error_line().contains("backup header copy damaged"),
        "{run:#?}"
    );
}

#[test]
fn check_counts_a_damaged_super_slot_as_damage() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    // Super slot 1 starts 8 KiB after the data area (64 KiB): damage its ciphertext.
    flip_byte(&container, 64 * 1024 + 8 * 1024 + 100, 0x01);
    let run = check(&sandbox, &container).fails_with(10);
    assert!(run.stdout.contains("slot 0 OK, slot 1 damaged"), "{run:#?}");
    assert!(
        run.error_line().contains("super slot 1 damaged"),
        "{run:#?}"
    );
}

#[test]
fn check_with_both_super_slots_damaged_exits_10() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    flip_byte(&container, 64 * 1024 + 100, 0x01);
    flip_byte(&container, 64 * 1024 + 8 * 1024 + 100, 0x01);
    let run = check(&sandbox, &container).fails_with(10);
    assert!(run.stdout.contains("both damaged"), "{run:#?}");
}

#[test]
fn check_with_a_wrong_password_exits_3() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let pw = sandbox.password_file("some-other-long-passphrase");
    sandbox
        .run(&[
            "check",
            container.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .fails_with(3);
}
