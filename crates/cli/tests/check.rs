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

fn check_repair(sandbox: &Sandbox, container: &Path) -> common::Run {
    let pw = sandbox.password_file(STRONG);
    sandbox
        .run(&[
            "check",
            container.to_str().unwrap(),
            "--repair",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok()
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

/// The blocks holding the data of the file `write_blocks` put in (they are in use).
fn file_data_blocks(path: &Path) -> Vec<u64> {
    let unlocked = Container::open(path, Access::ReadOnly)
        .unwrap()
        .unlock(&SecretString::from(STRONG))
        .unwrap();
    let device = unlocked.open_device(true).unwrap();
    let mut block = vec![0u8; 4096];
    (1..device.len() / 4096)
        .filter(|&index| {
            if device
                .read_blocks(index, &mut block, secvol_core::ReadMode::Strict)
                .is_err()
            {
                return false;
            }
            // Nothing but the file's pattern (i % 251): a block in the middle of its data,
            // not the head of a storage-engine page.
            block
                .windows(2)
                .all(|p| u16::from(p[1]) == (u16::from(p[0]) + 1) % 251)
        })
        .collect()
}

#[test]
fn check_names_the_damaged_block_range_and_exits_10() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "2M", STRONG);
    let offsets = write_blocks(&sandbox, &container);
    let data = file_data_blocks(&container);
    let pair = data
        .windows(2)
        .find(|w| w[1] == w[0] + 1)
        .expect("two adjacent data blocks")[0];
    let single = data[data.iter().position(|&b| b > pair + 2).unwrap()];
    flip_byte(&container, offsets[pair as usize] + 17, 0x01);
    flip_byte(&container, offsets[pair as usize + 1] + 4000, 0x80);
    flip_byte(&container, offsets[single as usize], 0x01);
    let run = check(&sandbox, &container).fails_with(10);
    let text = |first: u64, last: u64| {
        format!(
            "blocks {first}–{last} (bytes {}–{} of the data area)",
            first * 4096,
            (last + 1) * 4096 - 1
        )
    };
    assert!(run.stdout.contains(&text(pair, pair + 1)), "{run:#?}");
    assert!(run.stdout.contains(&text(single, single)), "{run:#?}");
    assert!(run.stdout.contains("3 fail authentication"), "{run:#?}");
    assert!(
        run.error_line()
            .contains("3 damaged blocks in use in 2 ranges"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("damaged file /scan.pdf"), "{run:#?}");
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
fn a_super_slot_that_does_not_authenticate_is_stale_when_the_files_check_clean() {
    // The two super slots alternate: a sync writes the new version into the one that does not
    // hold the current version, so a power cut there leaves exactly this and loses nothing.
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    // Super slot 1 starts 8 KiB after the data area (64 KiB): damage its ciphertext.
    flip_byte(&container, 64 * 1024 + 8 * 1024 + 100, 0x01);
    let run = check(&sandbox, &container).ok();
    assert!(run.stdout.contains("slot 0 OK, slot 1 stale"), "{run:#?}");
    assert!(run.stdout.contains("no damage found"), "{run:#?}");
    let repaired = check_repair(&sandbox, &container);
    assert!(
        repaired
            .stdout
            .contains("the stale super slot was rewritten"),
        "{repaired:#?}"
    );
    let run = check(&sandbox, &container).ok();
    assert!(run.stdout.contains("slot 0 OK, slot 1 OK"), "{run:#?}");
}

#[test]
fn a_damaged_block_that_nothing_uses_is_stale_and_repair_rewrites_it() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "4M", STRONG);
    write_blocks(&sandbox, &container);
    // A 4 MiB container holding 400 KiB has many blocks that were never written: they read as
    // zeros (their meta slot holds a zero marker). A torn write leaves such a block with a tag
    // that does not match: flip a bit of the tag of the last one.
    let unlocked = Container::open(&container, Access::ReadOnly)
        .unwrap()
        .unlock(&SecretString::from(STRONG))
        .unwrap();
    let geometry = unlocked.header().geometry;
    let device = unlocked.open_device(true).unwrap();
    let mut block = vec![0u8; 4096];
    let unused = (1..device.len() / 4096)
        .rev()
        .find(|&index| {
            device
                .read_blocks(index, &mut block, secvol_core::ReadMode::Strict)
                .unwrap();
            block.iter().all(|&b| b == 0)
        })
        .expect("a never-written block");
    drop(device);
    drop(unlocked);
    flip_byte(&container, geometry.meta_offset(unused) + 20, 0x01);
    let run = check(&sandbox, &container).ok();
    assert!(run.stdout.contains("1 fail authentication"), "{run:#?}");
    assert!(
        run.stdout
            .contains("1 block that nothing uses (harmless: left by an interrupted write"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("no damage found"), "{run:#?}");
    let repaired = check_repair(&sandbox, &container);
    assert!(
        repaired
            .stdout
            .contains("Repair: 1 stale free block rewritten"),
        "{repaired:#?}"
    );
    let run = check(&sandbox, &container).ok();
    assert!(run.stdout.contains("all intact"), "{run:#?}");
}

#[test]
fn a_damaged_super_slot_is_damage_when_the_files_do_not_check_clean() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "2M", STRONG);
    let offsets = write_blocks(&sandbox, &container);
    flip_byte(&container, 64 * 1024 + 8 * 1024 + 100, 0x01);
    flip_byte(&container, offsets[20] + 17, 0x01);
    let run = check(&sandbox, &container).fails_with(10);
    assert!(
        run.stdout.contains("slot 1 damaged") || run.stdout.contains("slot 0 damaged"),
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
