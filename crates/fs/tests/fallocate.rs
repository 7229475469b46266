//! `fallocate` reservations: the space is taken when the call succeeds, later writes into the
//! range never fail for lack of space, and truncate and deletion give it back; the account
//! survives a reopen and a crash.

mod common;

use std::sync::Arc;

use common::*;
use secvol_core::storage::Storage;
use secvol_core::testing::{CrashMode, CrashStorage, MemStorage, noise};
use secvol_fs::{Attr, CHUNK_SIZE, Fs, FsError, OpenFlags, ROOT_INO, SetAttr};

const MIB: u64 = 1 << 20;

fn new_file(fs: &Fs, name: &str) -> (Attr, u64) {
    fs.create(ROOT_INO, name.as_bytes(), 0o644, OpenFlags::READ_WRITE, ME)
        .unwrap()
}

/// Write `data` at `offset` in pieces of 1 MiB (as the kernel hands writes over).
fn write_all(fs: &Fs, fh: u64, offset: u64, data: &[u8]) -> Result<(), FsError> {
    for (i, piece) in data.chunks(MIB as usize).enumerate() {
        fs.write(fh, offset + i as u64 * MIB, piece)?;
    }
    Ok(())
}

/// Append noise to a new file until the container says "no space"; returns the bytes written.
fn fill_until_full(fs: &Fs, name: &str) -> u64 {
    let (_, fh) = new_file(fs, name);
    let mut written = 0;
    let mut piece = 256 * 1024;
    loop {
        match fs.write(fh, written, &noise(written, piece)) {
            Ok(n) => written += u64::from(n),
            Err(FsError::NoSpace) if piece > 4096 => piece /= 4,
            Err(FsError::NoSpace) => break,
            Err(other) => panic!("filling: {other}"),
        }
    }
    fs.release(fh).unwrap();
    written
}

fn chunks_of(bytes: u64) -> u64 {
    bytes.div_ceil(CHUNK_SIZE)
}

#[test]
fn fallocate_takes_the_space_at_once_and_truncate_gives_it_back() {
    let fs = open(new_storage(16 * MIB));
    let (attr, fh) = new_file(&fs, "db");
    let before = fs.stats().used_bytes;
    let free_before = fs.statfs().unwrap().blocks_free;

    fs.fallocate(attr.ino, 0, 4 * MIB, false).unwrap();
    let after = fs.getattr(attr.ino).unwrap();
    assert_eq!(
        after.size,
        4 * MIB,
        "fallocate without keep-size extends the file"
    );
    assert!(after.blocks >= 4 * MIB / 512, "st_blocks: {}", after.blocks);
    let stats = fs.stats();
    assert_eq!(stats.reserved_bytes, chunks_of(4 * MIB) * CHUNK_SIZE);
    // The chunks of the range, and (the first reservation) 1.1 MiB set aside for rewriting
    // reserved data.
    let taken = stats.used_bytes - before;
    let headroom = 18 * 65_536;
    assert!(
        (4 * MIB + headroom..4 * MIB + headroom + 2 * 65_536).contains(&taken),
        "the account grew by {taken}"
    );
    let free_after = fs.statfs().unwrap().blocks_free;
    assert!(
        free_before - free_after >= 4 * MIB / 4096,
        "statfs free blocks went from {free_before} to {free_after}"
    );
    // Nothing was written: the range reads as zeros.
    assert_eq!(fs.read(fh, 0, 1 << 16).unwrap(), vec![0; 1 << 16]);

    fs.setattr(
        attr.ino,
        SetAttr {
            size: Some(0),
            ..SetAttr::default()
        },
    )
    .unwrap();
    assert_eq!(
        fs.stats().used_bytes,
        before,
        "truncate gave everything back"
    );
    assert_eq!(fs.stats().reserved_bytes, 0);
    assert_eq!(fs.getattr(attr.ino).unwrap().blocks, 0);
    fs.release(fh).unwrap();
    let report = fs.check(&mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn a_reserved_range_can_be_written_after_the_container_was_filled_with_random_data() {
    let storage = new_storage(32 * MIB);
    let fs = open(storage.clone());
    let (db, db_fh) = new_file(&fs, "database");
    let (log, log_fh) = new_file(&fs, "journal");
    fs.fallocate(db.ino, 0, 8 * MIB, false).unwrap();
    fs.fallocate(log.ino, 0, 2 * MIB, true).unwrap();
    assert_eq!(fs.getattr(log.ino).unwrap().size, 0, "keep-size");

    let filled = fill_until_full(&fs, "filler");
    assert!(
        filled > 10 * MIB,
        "only {filled} bytes fitted beside the reservations"
    );
    // The container really is full: an unreserved write is refused...
    let (_, other) = new_file(&fs, "unreserved");
    assert!(matches!(
        write_all(&fs, other, 0, &noise(1, MIB as usize)),
        Err(FsError::NoSpace)
    ));
    fs.release(other).unwrap();

    // ...but the reserved ranges take their data, twice over (a rewrite keeps the promise too),
    // in pieces of every size.
    let data = noise(7, 8 * MIB as usize);
    write_all(&fs, db_fh, 0, &data).unwrap();
    let mut second = noise(8, 8 * MIB as usize);
    for (i, piece) in second.chunks(4096 * 3 + 5).enumerate() {
        fs.write(db_fh, (i * (4096 * 3 + 5)) as u64, piece).unwrap();
    }
    // Rewrites of 1 MiB (what the kernel sends at most), unaligned: 17 chunks each.
    let third = noise(10, 6 * MIB as usize);
    for (i, piece) in third.chunks(MIB as usize).enumerate() {
        fs.write(db_fh, 5 + i as u64 * MIB, piece).unwrap();
    }
    second[5..5 + third.len()].copy_from_slice(&third);
    let journal = noise(9, 2 * MIB as usize);
    for piece in journal.chunks(100_000) {
        let size = fs.getattr(log.ino).unwrap().size;
        fs.write(log_fh, size, piece).unwrap();
    }
    assert_eq!(fs.read(db_fh, 0, 8 * MIB as u32).unwrap(), second);
    assert_eq!(fs.read(log_fh, 0, 2 * MIB as u32).unwrap(), journal);
    assert_eq!(fs.stats().safety_net_events, 0);
    fs.release(db_fh).unwrap();
    fs.release(log_fh).unwrap();
    fs.close().unwrap();

    let fs = open(storage.clone());
    let db = fs.resolve(b"/database").unwrap();
    assert_eq!(fs.read_ino(db.ino, 0, 8 * MIB as u32).unwrap(), second);
    let log = fs.resolve(b"/journal").unwrap();
    assert_eq!(fs.read_ino(log.ino, 0, 2 * MIB as u32).unwrap(), journal);
    fs.close().unwrap();
    let report = check_storage(storage).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn without_a_reservation_the_same_writes_run_out_of_space() {
    // The counterpart of the test above: it proves the filled container has no room left
    // for the writes that the reservation made possible.
    let fs = open(new_storage(32 * MIB));
    let (_, fh) = new_file(&fs, "database");
    fill_until_full(&fs, "filler");
    assert!(matches!(
        write_all(&fs, fh, 0, &noise(7, 8 * MIB as usize)),
        Err(FsError::NoSpace)
    ));
    fs.release(fh).unwrap();
}

#[test]
fn a_reservation_that_does_not_fit_is_refused_and_changes_nothing() {
    let fs = open(new_storage(16 * MIB));
    let (attr, fh) = new_file(&fs, "big");
    fs.write(fh, 0, b"kept").unwrap();
    let before = fs.stats();
    assert!(matches!(
        fs.fallocate(attr.ino, 0, 64 * MIB, false),
        Err(FsError::NoSpace)
    ));
    assert!(matches!(
        fs.fallocate(attr.ino, 0, 0, false),
        Err(FsError::Invalid(_))
    ));
    let after = fs.stats();
    assert_eq!(after.used_bytes, before.used_bytes);
    assert_eq!(after.reserved_bytes, 0);
    assert_eq!(fs.getattr(attr.ino).unwrap().size, 4);
    let dir = fs.mkdir(ROOT_INO, b"dir", 0o755, ME).unwrap();
    assert!(matches!(
        fs.fallocate(dir.ino, 0, MIB, false),
        Err(FsError::IsDir)
    ));
    fs.release(fh).unwrap();
}

#[test]
fn overlapping_reservations_count_each_chunk_once_and_data_already_there_is_not_counted_twice() {
    let fs = open(new_storage(32 * MIB));
    let (attr, fh) = new_file(&fs, "f");
    fs.fallocate(attr.ino, 0, MIB, true).unwrap();
    fs.fallocate(attr.ino, MIB / 2, 2 * MIB, true).unwrap();
    fs.fallocate(attr.ino, MIB, MIB, true).unwrap();
    assert_eq!(
        fs.stats().reserved_bytes,
        chunks_of(5 * MIB / 2) * CHUNK_SIZE
    );

    // A file full of data: reserving it costs almost nothing more.
    let (full, full_fh) = new_file(&fs, "full");
    fs.write(full_fh, 0, &noise(3, 2 * MIB as usize)).unwrap();
    let before = fs.stats().used_bytes;
    fs.fallocate(full.ino, 0, 2 * MIB, false).unwrap();
    let extra = fs.stats().used_bytes - before;
    assert!(
        extra <= 65_536 + 1024,
        "reserving written data cost {extra}"
    );
    // A gap between two reservations, then a third that bridges it.
    let (gappy, gappy_fh) = new_file(&fs, "gappy");
    fs.fallocate(gappy.ino, 0, CHUNK_SIZE, true).unwrap();
    fs.fallocate(gappy.ino, 3 * CHUNK_SIZE, CHUNK_SIZE, true)
        .unwrap();
    fs.fallocate(gappy.ino, 0, 4 * CHUNK_SIZE, true).unwrap();
    assert_eq!(
        fs.stats().reserved_bytes,
        (chunks_of(5 * MIB / 2) + chunks_of(2 * MIB) + 4) * CHUNK_SIZE
    );
    for fh in [fh, full_fh, gappy_fh] {
        fs.release(fh).unwrap();
    }
    let report = fs.check(&mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn keep_size_reservations_show_in_st_blocks_and_a_truncate_ends_them() {
    let fs = open(new_storage(16 * MIB));
    let (attr, fh) = new_file(&fs, "log");
    fs.fallocate(attr.ino, 0, MIB, true).unwrap();
    let reserved = fs.getattr(attr.ino).unwrap();
    assert_eq!(reserved.size, 0);
    assert!(
        reserved.blocks >= MIB / 512,
        "st_blocks {}",
        reserved.blocks
    );
    fs.write(fh, 0, b"first line\n").unwrap();
    assert!(fs.getattr(attr.ino).unwrap().blocks >= MIB / 512);
    // Truncating to the current size gives up what lies past the end, as ext4 does.
    fs.setattr(
        attr.ino,
        SetAttr {
            size: Some(11),
            ..SetAttr::default()
        },
    )
    .unwrap();
    assert_eq!(fs.getattr(attr.ino).unwrap().blocks, 8);
    assert_eq!(
        fs.stats().reserved_bytes,
        CHUNK_SIZE,
        "the first chunk holds data"
    );
    fs.release(fh).unwrap();
    let report = fs.check(&mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn truncating_into_a_reservation_keeps_the_part_before_the_new_end() {
    let fs = open(new_storage(16 * MIB));
    let (attr, fh) = new_file(&fs, "f");
    fs.fallocate(attr.ino, 0, 40 * CHUNK_SIZE, false).unwrap();
    fs.write(fh, 0, &noise(1, (40 * CHUNK_SIZE) as usize))
        .unwrap();
    let cut = 10 * CHUNK_SIZE + 100;
    fs.setattr(
        attr.ino,
        SetAttr {
            size: Some(cut),
            ..SetAttr::default()
        },
    )
    .unwrap();
    assert_eq!(fs.stats().reserved_bytes, 11 * CHUNK_SIZE);
    assert_eq!(
        fs.read(fh, 0, cut as u32 + 10).unwrap(),
        noise(1, cut as usize)
    );
    // Growing the file again does not bring the reservation back.
    fs.setattr(
        attr.ino,
        SetAttr {
            size: Some(40 * CHUNK_SIZE),
            ..SetAttr::default()
        },
    )
    .unwrap();
    assert_eq!(fs.stats().reserved_bytes, 11 * CHUNK_SIZE);
    fs.release(fh).unwrap();
    let report = fs.check(&mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn deleting_a_file_gives_its_reservation_back_when_the_last_handle_closes() {
    let fs = open(new_storage(16 * MIB));
    let before = fs.stats().used_bytes;
    let (attr, fh) = new_file(&fs, "tmp");
    fs.fallocate(attr.ino, 0, 4 * MIB, false).unwrap();
    fs.write(fh, MIB, &noise(2, 300_000)).unwrap();
    fs.unlink(ROOT_INO, b"tmp").unwrap();
    assert!(
        fs.stats().reserved_bytes > 0,
        "an open file keeps its space"
    );
    fs.release(fh).unwrap();
    fs.forget(attr.ino, 1);
    let stats = fs.stats();
    assert_eq!(stats.reserved_bytes, 0);
    assert_eq!(stats.used_bytes, before);
    let report = fs.check(&mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn reservations_survive_a_reopen() {
    let storage = new_storage(16 * MIB);
    let fs = open(storage.clone());
    let (attr, fh) = new_file(&fs, "db");
    fs.fallocate(attr.ino, MIB, 2 * MIB, true).unwrap();
    fs.release(fh).unwrap();
    // Committed: pages the transaction pinned are free again, as after a reopen.
    fs.sync().unwrap();
    let stats = fs.stats();
    let blocks = fs.getattr(attr.ino).unwrap().blocks;
    let free = fs.statfs().unwrap().blocks_free;
    fs.close().unwrap();

    let fs = open(storage.clone());
    let again = fs.stats();
    assert_eq!(again.reserved_bytes, stats.reserved_bytes);
    assert_eq!(again.used_bytes, stats.used_bytes);
    assert_eq!(fs.getattr(attr.ino).unwrap().blocks, blocks);
    assert_eq!(fs.statfs().unwrap().blocks_free, free);
    fs.close().unwrap();
    let report = check_storage(storage).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn after_a_crash_the_reservations_are_those_of_the_last_commit_and_check_is_clean() {
    let base = formatted_image(16 * MIB);
    let storage = Arc::new(CrashStorage::new(base));
    let fs = open(storage.clone() as Arc<dyn Storage>);
    let (attr, fh) = new_file(&fs, "db");
    fs.fallocate(attr.ino, 0, 2 * MIB, false).unwrap();
    fs.fsync(fh).unwrap();
    fs.release(fh).unwrap();
    let committed = fs.stats();
    // Changed after the last commit: lost in the crash.
    fs.fallocate(attr.ino, 0, 6 * MIB, false).unwrap();
    fs.setattr(
        attr.ino,
        SetAttr {
            size: Some(MIB),
            ..SetAttr::default()
        },
    )
    .unwrap();
    let mut rng = rand::rng();
    for mode in [CrashMode::DropAll, CrashMode::Random, CrashMode::KeepAll] {
        let image = storage.crash_image(mode, &mut rng);
        let crashed = Arc::new(MemStorage::new(image));
        let fs = open(crashed.clone());
        let stats = fs.stats();
        assert_eq!(stats.reserved_bytes, committed.reserved_bytes, "{mode:?}");
        assert_eq!(stats.used_bytes, committed.used_bytes, "{mode:?}");
        assert_eq!(fs.resolve(b"/db").unwrap().size, 2 * MIB, "{mode:?}");
        fs.close().unwrap();
        let report = check_storage(crashed).unwrap();
        assert!(report.is_clean(), "{mode:?}: {:?}", report.problems);
    }
}

#[test]
fn check_names_an_inode_record_that_disagrees_with_its_reservations() {
    use secvol_core::ReadMode;
    // An owner nobody else has, so that the inode record can be found in the plaintext.
    const MARK: secvol_fs::Ctx = secvol_fs::Ctx {
        uid: 0x5EC0_1A11,
        gid: 0x0DD5_EED5,
    };
    let storage = new_storage(8 * MIB);
    let fs = open(storage.clone());
    let (attr, fh) = fs
        .create(ROOT_INO, b"db", 0o644, OpenFlags::READ_WRITE, MARK)
        .unwrap();
    fs.fallocate(attr.ino, 0, 3 * CHUNK_SIZE, true).unwrap();
    fs.release(fh).unwrap();
    fs.close().unwrap();

    // Change the record's reserved-chunk count (bytes 88..92) from 3 to 2, as a bug would:
    // re-encrypted, so only the file system's own consistency can tell.
    let device = device(storage.clone() as Arc<dyn Storage>, false);
    let mut ids = MARK.uid.to_le_bytes().to_vec();
    ids.extend_from_slice(&MARK.gid.to_le_bytes());
    let mut block = vec![0u8; 4096];
    let mut patched = 0;
    for index in 1..device.len() / 4096 {
        device
            .read_blocks(index, &mut block, ReadMode::Strict)
            .unwrap();
        // The record starts 4 bytes before the owner; its count and end are 3 and 3.
        let Some(at) = block.windows(8).position(|w| w == ids).map(|p| p - 4) else {
            continue;
        };
        if block.get(at + 88..at + 96) == Some(&[3, 0, 0, 0, 3, 0, 0, 0][..]) {
            block[at + 88] = 2;
            device.write_blocks(index, &block).unwrap();
            patched += 1;
        }
    }
    device.sync().unwrap();
    assert!(patched >= 1, "the inode record was not found");

    let report = check_storage(storage).unwrap();
    assert!(
        report.problems.iter().any(|p| matches!(
            p,
            secvol_fs::Problem::Reservations { detail }
                if detail.contains("records 2 reserved chunk(s)")
        )),
        "{:?}",
        report.problems
    );
}
