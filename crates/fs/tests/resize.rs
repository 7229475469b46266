//! Growing and shrinking containers, offline and under a live file system: the files stay
//! intact, the new size is usable to the last block, and a shrink that cannot fit is refused
//! before anything changes.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use secvol_core::storage::Storage;
use secvol_core::testing::MemStorage;
use secvol_core::{
    Access, BlockDevice, Container, ContainerError, DeviceMode, DeviceStack, Geometry,
    SecretString, UnlockedContainer,
};
use secvol_fs::resize::{fit_into, usable_bytes_for_capacity};
use secvol_fs::{CHUNK_SIZE, Fs, FsError, OpenFlags, ROOT_INO, ShrinkError};

const MIB: u64 = 1 << 20;

fn unlock(storage: &Arc<MemStorage>) -> UnlockedContainer {
    Container::open_storage(
        storage.clone() as Arc<dyn Storage>,
        Path::new("test.sec"),
        Access::ReadWrite,
    )
    .unwrap()
    .unlock(&SecretString::from(PASSWORD))
    .unwrap()
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

fn write_file(fs: &Fs, name: &str, data: &[u8]) {
    let (attr, fh) = fs
        .create(ROOT_INO, name.as_bytes(), 0o644, OpenFlags::READ_WRITE, ME)
        .unwrap();
    for (i, piece) in data.chunks(1 << 20).enumerate() {
        fs.write(fh, (i << 20) as u64, piece).unwrap();
    }
    fs.release(fh).unwrap();
    fs.forget(attr.ino, 1);
}

fn read_path(fs: &Fs, name: &str) -> Vec<u8> {
    let attr = fs.resolve(format!("/{name}").as_bytes()).unwrap();
    read_file(fs, attr.ino).unwrap()
}

fn assert_clean(fs: &Fs) {
    let report = fs.check(&mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "check found: {:?}", report.problems);
}

/// Write `name` in 1 MiB pieces until the file system says "no space"; returns the bytes
/// written.
fn fill_until_full(fs: &Fs, name: &str) -> u64 {
    let (attr, fh) = fs
        .create(ROOT_INO, name.as_bytes(), 0o644, OpenFlags::READ_WRITE, ME)
        .unwrap();
    let piece = pattern(9, 1 << 20);
    let mut written = 0u64;
    loop {
        match fs.write(fh, written, &piece) {
            Ok(n) => written += u64::from(n),
            Err(FsError::NoSpace) => break,
            Err(err) => panic!("unexpected error while filling: {err}"),
        }
    }
    fs.release(fh).unwrap();
    fs.forget(attr.ino, 1);
    written
}

#[test]
fn a_grown_container_keeps_its_files_and_offers_the_new_space() {
    let storage = new_storage(4 * MIB);
    let kept = pattern(1, 1_500_000);
    let before = {
        let fs = open(storage.clone());
        write_file(&fs, "kept.bin", &kept);
        let before = fs.statfs().unwrap();
        fs.close().unwrap();
        before
    };

    let mut unlocked = unlock(&storage);
    let mut reported = 0;
    let grown = unlocked
        .grow(12 * MIB, false, &mut |done, total| {
            assert!(done <= total);
            reported = done;
        })
        .unwrap();
    assert_eq!(grown.container_len, 12 * MIB);
    assert_eq!(reported, 8 * MIB, "the whole new area was filled");
    assert_eq!(storage.len().unwrap(), 12 * MIB);
    drop(unlocked);

    let fs = open(storage.clone());
    let after = fs.statfs().unwrap();
    assert_eq!(
        after.blocks,
        usable_bytes_for_capacity(grown.capacity_blocks) / 4096
    );
    assert!(after.blocks > before.blocks * 2, "{before:?} -> {after:?}");
    assert_eq!(read_path(&fs, "kept.bin"), kept);
    // More than the old container could hold in total.
    let more = pattern(2, 6 << 20);
    write_file(&fs, "more.bin", &more);
    assert_clean(&fs);
    fs.close().unwrap();

    let fs = open(storage.clone());
    assert_eq!(read_path(&fs, "kept.bin"), kept);
    assert_eq!(read_path(&fs, "more.bin"), more);
    let filled = fill_until_full(&fs, "fill.bin");
    assert!(filled > 0);
    assert_eq!(fs.stats().safety_net_events, 0);
    assert_clean(&fs);
    fs.close().unwrap();
    assert_eq!(unlock(&storage).header().geometry.container_len, 12 * MIB);
}

#[test]
fn a_live_file_system_takes_on_a_grown_container_while_a_file_is_open() {
    let storage = new_storage(4 * MIB);
    let unlocked = unlock(&storage);
    let device = Arc::new(unlocked.open_device(false).unwrap());
    drop(unlocked);
    let stack = DeviceStack::build(
        device.clone() as Arc<dyn BlockDevice>,
        DeviceMode::ReadWrite,
    )
    .unwrap();
    let fs = Fs::open(stack, test_options()).unwrap();
    let (attr, fh) = fs
        .create(ROOT_INO, b"open.bin", 0o644, OpenFlags::READ_WRITE, ME)
        .unwrap();
    let first = pattern(3, 1 << 20);
    fs.write(fh, 0, &first).unwrap();
    let before = fs.statfs().unwrap();

    // What the mount daemon does on a grow request: the header (through another unlock of
    // the same file), then the device's capacity, then the database.
    let grown = unlock(&storage)
        .grow(16 * MIB, true, &mut |_, _| {})
        .unwrap();
    device.adopt_grown_geometry(&grown).unwrap();
    fs.adopt_capacity().unwrap();

    let after = fs.statfs().unwrap();
    assert_eq!(
        after.blocks,
        usable_bytes_for_capacity(grown.capacity_blocks) / 4096
    );
    assert!(after.blocks > before.blocks * 3, "{before:?} -> {after:?}");
    // The open handle keeps working, past what the old container could hold.
    let second = pattern(4, 8 << 20);
    for (i, piece) in second.chunks(1 << 20).enumerate() {
        fs.write(fh, (1 << 20) + (i << 20) as u64, piece).unwrap();
    }
    fs.release(fh).unwrap();
    fs.forget(attr.ino, 1);
    assert_eq!(fs.stats().safety_net_events, 0);
    fs.close().unwrap();
    drop(fs);
    drop(device);

    let fs = open(storage.clone());
    let mut expected = first;
    expected.extend_from_slice(&second);
    assert_eq!(read_path(&fs, "open.bin"), expected);
    assert_clean(&fs);
    fs.close().unwrap();
}

#[test]
fn a_shrunk_container_keeps_its_files_after_the_tail_was_moved() {
    let storage = new_storage(24 * MIB);
    let files: Vec<Vec<u8>> = (0..10).map(|i| pattern(i as u8, 1 << 20)).collect();
    {
        let fs = open(storage.clone());
        for (i, data) in files.iter().enumerate() {
            write_file(&fs, &format!("f{i}"), data);
            fs.sync().unwrap();
        }
        // Leave holes: the remaining files are spread over the database.
        for i in (0..10).step_by(2) {
            fs.unlink(ROOT_INO, format!("f{i}").as_bytes()).unwrap();
        }
        fs.close().unwrap();
    }

    let target =
        Geometry::for_container_len(12 * MIB, secvol_core::CipherSuite::Aes256Gcm).unwrap();
    let fitted = fit_into(device(storage.clone(), false), target.capacity_blocks).unwrap();
    assert!(
        fitted.compacted,
        "the files must have been moved out of the tail"
    );
    let shrunk = unlock(&storage).shrink(12 * MIB).unwrap();
    assert_eq!(shrunk, target);
    assert_eq!(storage.len().unwrap(), 12 * MIB);

    let fs = open(storage.clone());
    for i in (1..10).step_by(2) {
        assert_eq!(read_path(&fs, &format!("f{i}")), files[i], "file f{i}");
    }
    assert_eq!(
        fs.statfs().unwrap().blocks,
        usable_bytes_for_capacity(target.capacity_blocks) / 4096
    );
    assert_clean(&fs);
    // The smaller container is usable to its end without the storage engine running out.
    fill_until_full(&fs, "fill.bin");
    assert_eq!(fs.stats().safety_net_events, 0);
    assert_clean(&fs);
    fs.close().unwrap();
    let fs = open(storage);
    assert_eq!(read_path(&fs, "f1"), files[1]);
    fs.close().unwrap();
}

#[test]
fn a_shrink_below_what_the_files_need_is_refused_with_the_amount_and_changes_nothing() {
    let storage = new_storage(16 * MIB);
    let data = pattern(7, 8 << 20);
    {
        let fs = open(storage.clone());
        write_file(&fs, "big.bin", &data);
        fs.close().unwrap();
    }
    let target = Geometry::for_container_len(6 * MIB, secvol_core::CipherSuite::Aes256Gcm).unwrap();
    let err = fit_into(device(storage.clone(), false), target.capacity_blocks).unwrap_err();
    let must_free = err.must_free();
    assert!(matches!(err, ShrinkError::TooFull { .. }), "{err}");
    // 8 MiB of data in a container with room for less than 6 MiB.
    assert!(
        (2 * MIB..4 * MIB).contains(&must_free),
        "must free {must_free} bytes"
    );
    assert!(err.to_string().contains(&must_free.to_string()), "{err}");

    // The core refuses on its own as well: the device still reaches past the new end.
    match unlock(&storage).shrink(6 * MIB) {
        Err(ContainerError::TailInUse { .. }) => {}
        other => panic!("expected TailInUse, got {other:?}"),
    }
    assert_eq!(storage.len().unwrap(), 16 * MIB);
    let fs = open(storage.clone());
    assert_eq!(read_path(&fs, "big.bin"), data);
    assert_clean(&fs);
    fs.close().unwrap();
}

#[test]
fn a_shrink_counts_the_space_fallocate_reserved_and_the_reservation_holds_afterwards() {
    let storage = new_storage(16 * MIB);
    let reserved_len = 6 * MIB;
    {
        let fs = open(storage.clone());
        let (attr, fh) = fs
            .create(ROOT_INO, b"reserved.db", 0o644, OpenFlags::READ_WRITE, ME)
            .unwrap();
        fs.fallocate(attr.ino, 0, reserved_len, false).unwrap();
        fs.release(fh).unwrap();
        fs.forget(attr.ino, 1);
        write_file(&fs, "chart.bin", &pattern(3, 1 << 20));
        fs.close().unwrap();
    }
    // The reserved file holds no data, yet its 6 MiB were promised: a container with room
    // for less than that is refused (without the reservation, the 1 MiB file would fit).
    let small = Geometry::for_container_len(6 * MIB, secvol_core::CipherSuite::Aes256Gcm).unwrap();
    let err = fit_into(device(storage.clone(), false), small.capacity_blocks).unwrap_err();
    assert!(matches!(err, ShrinkError::TooFull { .. }), "{err}");
    assert!(err.must_free() > MIB, "must free {} bytes", err.must_free());

    let target =
        Geometry::for_container_len(12 * MIB, secvol_core::CipherSuite::Aes256Gcm).unwrap();
    fit_into(device(storage.clone(), false), target.capacity_blocks).unwrap();
    unlock(&storage).shrink(12 * MIB).unwrap();
    let fs = open(storage.clone());
    assert_eq!(
        fs.stats().reserved_bytes,
        reserved_len.div_ceil(CHUNK_SIZE) * CHUNK_SIZE
    );
    assert_clean(&fs);
    // Everything else taken, the reserved file can still be written in full.
    fill_until_full(&fs, "fill.bin");
    let ino = fs.resolve(b"/reserved.db").unwrap().ino;
    let data = pattern(5, reserved_len as usize);
    let fh = fs.open_file(ino, OpenFlags::READ_WRITE).unwrap();
    for (i, piece) in data.chunks(1 << 20).enumerate() {
        fs.write(fh, (i << 20) as u64, piece).unwrap();
    }
    fs.release(fh).unwrap();
    assert_eq!(read_path(&fs, "reserved.db"), data);
    assert_eq!(fs.stats().safety_net_events, 0);
    assert_clean(&fs);
    fs.close().unwrap();
}
