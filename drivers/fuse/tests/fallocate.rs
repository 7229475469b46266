//! `fallocate` through real FUSE: the reserved space shows in `df` (statfs) and `du`
//! (st_blocks) at once, writes into it succeed after the container was filled with random
//! data, truncate and unlink give it back; and writing zeros takes no space (zero elision).
#![cfg(target_os = "linux")]

mod common;

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use common::*;
use secvol_core::testing::noise;

const MIB: u64 = 1 << 20;

/// Used bytes of the mounted file system, per `statvfs(3)`.
#[allow(unsafe_code)]
fn used_bytes(path: &Path) -> u64 {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: statvfs is plain data; all-zero is a valid value that the call overwrites.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `st` a valid, writable statvfs.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    assert_eq!(rc, 0, "statvfs: {}", io::Error::last_os_error());
    (st.f_blocks - st.f_bfree) * st.f_frsize
}

/// `fallocate(2)` with `mode` (0 or `FALLOC_FL_KEEP_SIZE`).
#[allow(unsafe_code)]
fn fallocate(file: &File, mode: i32, offset: u64, len: u64) -> io::Result<()> {
    // SAFETY: a plain system call on an open descriptor.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), mode, offset as i64, len as i64) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// How far the storage engine's own pages may move `df`'s "used" between two readings.
const SLACK: u64 = MIB;

/// Commit (fsync of any file in the mount), so that statfs no longer counts pages the open
/// transaction pinned.
fn commit(m: &Mounted) {
    let marker = m.path(".commit");
    File::create(&marker).unwrap().sync_all().unwrap();
    fs::remove_file(&marker).unwrap();
    File::open(m.mountpoint()).unwrap().sync_all().unwrap();
}

fn no_space(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ENOSPC)
}

#[test]
fn fallocated_space_shows_in_df_and_du_and_truncate_and_unlink_give_it_back() {
    let m = Mounted::new(64 * MIB);
    commit(&m);
    let before = used_bytes(m.mountpoint());

    let db = File::create(m.path("db")).unwrap();
    fallocate(&db, 0, 0, 16 * MIB).unwrap();
    let meta = db.metadata().unwrap();
    assert_eq!(meta.len(), 16 * MIB);
    assert!(
        meta.blocks() >= 16 * MIB / 512,
        "du: {} blocks",
        meta.blocks()
    );
    // Within a little: the storage engine's own pages come and go with each commit
    // (SLACK), the reservations are whole mebibytes.
    let after = used_bytes(m.mountpoint());
    assert!(
        after + SLACK >= before + 16 * MIB,
        "df: {before} -> {after}"
    );

    let log = File::create(m.path("log")).unwrap();
    fallocate(&log, libc::FALLOC_FL_KEEP_SIZE, 0, 8 * MIB).unwrap();
    let meta = log.metadata().unwrap();
    assert_eq!(meta.len(), 0, "keep-size");
    assert!(
        meta.blocks() >= 8 * MIB / 512,
        "du: {} blocks",
        meta.blocks()
    );
    assert!(used_bytes(m.mountpoint()) + SLACK >= after + 8 * MIB);

    // Other modes are refused plainly.
    let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    let err = fallocate(&db, punch, 0, MIB).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EOPNOTSUPP));

    log.set_len(0).unwrap();
    assert_eq!(log.metadata().unwrap().blocks(), 0);
    drop((db, log));
    fs::remove_file(m.path("db")).unwrap();
    fs::remove_file(m.path("log")).unwrap();
    // The kernel sends a closed file's release after close() returns: until it arrives, the
    // unlinked file is still open and keeps its reservation. Wait for it (a CI run read df
    // in between and saw the 16 MiB still reserved).
    let start = std::time::Instant::now();
    let end = loop {
        commit(&m);
        let end = used_bytes(m.mountpoint());
        if end.abs_diff(before) < SLACK || start.elapsed() > std::time::Duration::from_secs(10) {
            break end;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        end.abs_diff(before) < SLACK,
        "df after truncate and rm: {before} -> {end}"
    );
    reopen_checked(m.unmount()).close().unwrap();
}

#[test]
fn a_fallocated_file_can_be_written_after_the_container_was_filled_with_random_data() {
    let m = Mounted::new(32 * MIB);
    let db = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.path("database"))
        .unwrap();
    fallocate(&db, 0, 0, 8 * MIB).unwrap();

    // Fill the rest with random data until "no space".
    let mut filler = File::create(m.path("filler")).unwrap();
    let mut piece = 1 << 18;
    let mut seed = 0;
    loop {
        match filler.write_all(&noise(seed, piece)) {
            Ok(()) => seed += 1,
            Err(err) if no_space(&err) && piece > 4096 => piece /= 4,
            Err(err) if no_space(&err) => break,
            Err(err) => panic!("filling: {err}"),
        }
    }
    drop(filler);
    let mut other = File::create(m.path("unreserved")).unwrap();
    let err = other.write_all(&noise(1, MIB as usize)).unwrap_err();
    assert!(no_space(&err), "{err}");
    drop(other);

    // The reserved 8 MiB take their data, and an in-place rewrite of it.
    let data = noise(99, 8 * MIB as usize);
    db.write_all_at(&data, 0).unwrap();
    db.sync_all().unwrap();
    let rewrite = noise(100, 3 * MIB as usize);
    db.write_all_at(&rewrite, 2 * MIB).unwrap();
    db.sync_all().unwrap();
    drop(db);
    let mut expected = data;
    expected[2 * MIB as usize..5 * MIB as usize].copy_from_slice(&rewrite);
    assert!(fs::read(m.path("database")).unwrap() == expected);

    let fs = reopen_checked(m.unmount());
    let attr = fs.resolve(b"/database").unwrap();
    assert!(fs.read_ino(attr.ino, 0, 8 * MIB as u32).unwrap() == expected);
    assert_eq!(fs.stats().safety_net_events, 0);
    fs.close().unwrap();
}

#[test]
fn writing_zeros_takes_no_space_and_du_shows_the_file_size() {
    // Zero elision: a file of zeros larger than the container fits, and df barely moves.
    let m = Mounted::new(16 * MIB);
    commit(&m);
    let before = used_bytes(m.mountpoint());
    let mut zeros = File::create(m.path("zeros")).unwrap();
    let block = vec![0u8; MIB as usize];
    for _ in 0..64 {
        zeros.write_all(&block).unwrap();
    }
    zeros.sync_all().unwrap();
    let meta = zeros.metadata().unwrap();
    assert_eq!(meta.len(), 64 * MIB);
    // du counts the size: a file never looks smaller than its data.
    assert_eq!(meta.blocks(), 64 * MIB / 512);
    drop(zeros);
    commit(&m);
    // The storage engine may also have freed pages since `before` (used can go down).
    let grew = used_bytes(m.mountpoint()).saturating_sub(before);
    assert!(grew < MIB, "64 MiB of zeros took {grew} bytes");
    m.unmount();
}
