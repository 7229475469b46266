//! Basic operations of the file system through its API.

mod common;

use common::*;
use secvol_fs::{FileKind, FsError, OpenFlags, ROOT_INO, RenameFlags};

#[test]
fn a_written_file_reads_back_after_close_and_reopen() {
    let storage = new_storage(16 << 20);
    let fs = open(storage.clone());
    let (attr, fh) = fs
        .create(ROOT_INO, b"hello.txt", 0o644, OpenFlags::READ_WRITE, ME)
        .unwrap();
    assert_eq!(attr.kind, FileKind::RegularFile);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(fs.write(fh, 0, &data).unwrap(), data.len() as u32);
    assert_eq!(fs.read(fh, 0, 300_000).unwrap(), data);
    assert_eq!(fs.read(fh, 65_000, 1000).unwrap(), &data[65_000..66_000]);
    fs.release(fh).unwrap();
    let dir = fs.mkdir(ROOT_INO, b"docs", 0o755, ME).unwrap();
    fs.rename(
        ROOT_INO,
        b"hello.txt",
        dir.ino,
        b"moved.txt",
        RenameFlags::default(),
    )
    .unwrap();
    fs.close().unwrap();

    let fs = open(storage);
    let moved = fs.resolve(b"/docs/moved.txt").unwrap();
    assert_eq!(moved.size, data.len() as u64);
    assert_eq!(fs.read_ino(moved.ino, 0, 300_000).unwrap(), data);
    assert!(matches!(fs.resolve(b"/hello.txt"), Err(FsError::NotFound)));
    fs.close().unwrap();
}

#[test]
fn the_database_keeps_the_whole_container_across_close_and_reopen() {
    // redb shrinks its file when it closes with a free tail. The device must not follow: the
    // next open would otherwise cover the whole container with zero markers again (1/128 of
    // the container written at every mount).
    let storage = new_storage(16 << 20);
    let full = device(storage.clone(), true).len();
    assert!(
        full > 15 << 20,
        "the formatted database should span the container: {full}"
    );
    for round in 0..3 {
        let fs = open(storage.clone());
        let (attr, fh) = fs
            .create(ROOT_INO, b"big.bin", 0o644, OpenFlags::READ_WRITE, ME)
            .unwrap();
        fs.write(fh, 0, &vec![round as u8 + 1; 3 << 20]).unwrap();
        fs.release(fh).unwrap();
        fs.forget(attr.ino, 1);
        fs.sync().unwrap();
        fs.unlink(ROOT_INO, b"big.bin").unwrap();
        fs.close().unwrap();
        assert_eq!(device(storage.clone(), true).len(), full, "round {round}");
    }
}

#[test]
fn a_read_that_starts_past_the_stored_bytes_of_a_chunk_returns_zeros() {
    // Chunks are stored without their trailing zeros: a chunk holding 10 bytes is 10 bytes
    // long, yet the file goes on (zeros, then the byte far behind). sqlite's -shm file is
    // such a file, read through mmap: an error here is a SIGBUS in the program.
    let storage = new_storage(16 << 20);
    let fs = open(storage.clone());
    let (_, fh) = fs
        .create(ROOT_INO, b"sparse", 0o644, OpenFlags::READ_WRITE, ME)
        .unwrap();
    fs.write(fh, 0, b"0123456789").unwrap();
    fs.write(fh, 150_000, b"!").unwrap();
    let check = |fs: &secvol_fs::Fs, read: &dyn Fn(&secvol_fs::Fs, u64, u32) -> Vec<u8>| {
        assert_eq!(read(fs, 100, 50), vec![0; 50]);
        assert_eq!(read(fs, 5, 10), b"56789\0\0\0\0\0");
        assert_eq!(read(fs, 149_999, 10), b"\0!");
    };
    check(&fs, &|fs, offset, len| fs.read(fh, offset, len).unwrap());
    fs.release(fh).unwrap();
    fs.close().unwrap();

    let fs = open(storage);
    let ino = fs.resolve(b"/sparse").unwrap().ino;
    check(&fs, &|fs, offset, len| {
        fs.read_ino(ino, offset, len).unwrap()
    });
    fs.close().unwrap();
}
