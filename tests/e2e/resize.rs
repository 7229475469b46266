//! Growing a mounted container through its mount daemon, with files open; what is refused
//! while mounted.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::harness::{Sandbox, is_mounted, run};

const MIB: u64 = 1 << 20;

/// The size `df` reports for the mount, in bytes.
fn df_size(mountpoint: &Path) -> u64 {
    let out = run(
        "df",
        &[
            OsStr::new("--output=size"),
            OsStr::new("-B1"),
            mountpoint.as_os_str(),
        ],
        mountpoint.parent().unwrap(),
    );
    out.lines()
        .nth(1)
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("cannot read df's output: {out}"))
}

fn resize(
    sandbox: &Sandbox,
    container: &Path,
    size: &str,
    password_file: &Path,
) -> crate::harness::Run {
    sandbox.secvol(&[
        OsStr::new("resize"),
        container.as_os_str(),
        OsStr::new("--size"),
        OsStr::new(size),
        OsStr::new("--password-file"),
        password_file.as_os_str(),
    ])
}

fn chunk(seed: u8) -> Vec<u8> {
    (0..MIB as usize)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

#[test]
fn a_mounted_container_grows_while_a_file_is_open_and_df_follows_at_once() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Grow.sec", "8M");
    let mnt = sandbox.path("grow");
    sandbox.mount(&container, &mnt);

    // A file held open across the grow, written before and after it.
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(true)
        .open(mnt.join("journal.log"))
        .unwrap();
    for seed in 0..3 {
        file.write_all(&chunk(seed)).unwrap();
    }
    file.sync_all().unwrap();
    let before = df_size(&mnt);
    assert!(before < 8 * MIB, "{before}");

    let run = resize(&sandbox, &container, "+24M", &sandbox.password_file).ok();
    assert!(run.stdout.contains("while mounted on"), "{run:#?}");
    assert!(run.stdout.contains("8 MiB -> 32 MiB"), "{run:#?}");
    assert_eq!(std::fs::metadata(&container).unwrap().len(), 32 * MIB);

    // df shows the new size at once, without a remount.
    let after = df_size(&mnt);
    assert!(after > before + 22 * MIB, "df: {before} -> {after}");

    // The open file goes on, far past what the old container could hold.
    for seed in 3..23 {
        file.write_all(&chunk(seed)).unwrap();
    }
    file.sync_all().unwrap();
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut back = Vec::new();
    file.read_to_end(&mut back).unwrap();
    drop(file);
    let expected: Vec<u8> = (0..23).flat_map(chunk).collect();
    assert!(back == expected, "the open file reads back differently");

    sandbox.unmount(&mnt);
    let info = sandbox
        .secvol(&[OsStr::new("info"), container.as_os_str()])
        .ok();
    assert!(info.stdout.contains("32 MiB (33554432 bytes)"), "{info:#?}");
    sandbox.check_clean(&container);
    sandbox.mount(&container, &mnt);
    let again = std::fs::read(mnt.join("journal.log")).unwrap();
    assert!(
        again == expected,
        "the file changed across unmount and mount"
    );
    sandbox.unmount(&mnt);
}

#[test]
fn a_wrong_password_sent_to_the_daemon_changes_nothing_and_the_mount_keeps_working() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Wrong.sec", "8M");
    let mnt = sandbox.path("wrong");
    sandbox.mount(&container, &mnt);
    let wrong = sandbox.path("wrong-password");
    std::fs::write(&wrong, "not-the-password-at-all-77\n").unwrap();
    let run = resize(&sandbox, &container, "+8M", &wrong).fails_with(3);
    assert!(run.stderr.contains("wrong password"), "{run:#?}");
    assert_eq!(std::fs::metadata(&container).unwrap().len(), 8 * MIB);
    std::fs::write(mnt.join("still.txt"), b"works").unwrap();
    assert_eq!(std::fs::read(mnt.join("still.txt")).unwrap(), b"works");
    sandbox.unmount(&mnt);
    sandbox.check_clean(&container);
}

#[test]
fn shrinking_or_destroying_a_mounted_container_is_refused_until_it_is_unmounted() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Busy.sec", "16M");
    let mnt = sandbox.path("busy");
    sandbox.mount(&container, &mnt);
    std::fs::write(mnt.join("a.txt"), b"kept").unwrap();
    let run = resize(&sandbox, &container, "8M", &sandbox.password_file).fails_with(11);
    assert!(
        run.stderr.contains("unmount it first to shrink it"),
        "{run:#?}"
    );
    let run = sandbox
        .secvol(&[
            OsStr::new("destroy"),
            container.as_os_str(),
            OsStr::new("--yes"),
        ])
        .fails_with(11);
    assert!(
        run.stderr.contains("unmount it first to destroy it"),
        "{run:#?}"
    );
    assert!(is_mounted(&mnt));
    assert_eq!(std::fs::read(mnt.join("a.txt")).unwrap(), b"kept");
    sandbox.unmount(&mnt);
    // Unmounted, the shrink goes through.
    resize(&sandbox, &container, "8M", &sandbox.password_file).ok();
    assert_eq!(std::fs::metadata(&container).unwrap().len(), 8 * MIB);
    sandbox.check_clean(&container);
}

#[test]
fn growing_a_read_only_mount_is_refused_with_the_reason() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Ro.sec", "8M");
    let mnt = sandbox.path("ro");
    sandbox.try_mount(&container, &mnt, &["--read-only"]).ok();
    let run = resize(&sandbox, &container, "+8M", &sandbox.password_file).fails_with(11);
    assert!(run.stderr.contains("mounted read-only"), "{run:#?}");
    sandbox.unmount(&mnt);
    assert_eq!(std::fs::metadata(&container).unwrap().len(), 8 * MIB);
}
