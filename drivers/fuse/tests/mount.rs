//! The driver through real FUSE: a container in memory is mounted on a temporary directory
//! and used with ordinary system calls (std::fs, libc), then unmounted, reopened and compared.
//!
//! Needs /dev/fuse and fusermount3 (the fuse3 package); the CI installs them.
#![cfg(target_os = "linux")]

mod common;

use std::ffi::CString;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use secvol_fuse::MountOptions;

const MIB: u64 = 1 << 20;

fn errno(err: &io::Error) -> i32 {
    err.raw_os_error().unwrap_or(0)
}

fn cstring(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// `renameat2(2)` with flags (std has no way to pass them).
#[allow(unsafe_code)]
fn rename2(from: &Path, to: &Path, flags: u32) -> io::Result<()> {
    let (from, to) = (cstring(from), cstring(to));
    // SAFETY: both paths are NUL-terminated strings alive across the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `truncate(2)` on a path (no open file handle involved).
#[allow(unsafe_code)]
fn truncate_path(path: &Path, len: i64) -> io::Result<()> {
    let path = cstring(path);
    // SAFETY: `path` is a NUL-terminated string alive across the call.
    let rc = unsafe { libc::truncate(path.as_ptr(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `statvfs(3)`.
#[allow(unsafe_code)]
fn statvfs(path: &Path) -> libc::statvfs {
    let path = cstring(path);
    // SAFETY: statvfs is plain data; all-zero is a valid value that the call overwrites.
    let mut out: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `out` a valid, writable statvfs.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut out) };
    assert_eq!(rc, 0, "statvfs: {}", io::Error::last_os_error());
    out
}

/// Deterministic test data.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn the_mount_table_shows_the_container_with_private_options() {
    let m = Mounted::mount(
        new_storage(16 * MIB),
        MountOptions {
            fs_name: "/media/usb/Time,Acct.sec".into(),
            ..MountOptions::default()
        },
    );
    let line = mount_line(m.mountpoint()).expect("mounted");
    // "... <mount options> ... - <type> <source> <super options>"
    let (per_mount, after) = line.split_once(" - ").unwrap();
    let mut fields = after.split(' ');
    assert_eq!(fields.next(), Some("fuse.secvol"), "{line}");
    assert_eq!(fields.next(), Some("/media/usb/Time,Acct.sec"), "{line}");
    let super_options = fields.next().unwrap();
    let mount_options = per_mount.split(' ').nth(5).unwrap();
    for option in ["nosuid", "nodev", "rw"] {
        assert!(mount_options.split(',').any(|o| o == option), "{line}");
    }
    assert!(
        super_options.split(',').any(|o| o == "default_permissions"),
        "{line}"
    );
    // The readahead window was widened (the tests run as root, who may set it).
    let dev = fs::metadata(m.mountpoint()).unwrap().dev();
    let readahead = fs::read_to_string(format!(
        "/sys/class/bdi/{}:{}/read_ahead_kb",
        libc::major(dev),
        libc::minor(dev)
    ))
    .unwrap();
    assert_eq!(readahead.trim(), secvol_fuse::READ_AHEAD_KIB.to_string());
    m.unmount();
}

#[test]
fn files_directories_links_and_attributes_work_and_survive_a_remount() {
    let m = Mounted::new(32 * MIB);

    // Create, write, read back, append.
    let hello = m.path("hello.txt");
    fs::write(&hello, b"hello, world\n").unwrap();
    assert_eq!(fs::read(&hello).unwrap(), b"hello, world\n");
    let mut f = OpenOptions::new().append(true).open(&hello).unwrap();
    f.write_all(b"second line\n").unwrap();
    drop(f);
    assert_eq!(fs::read(&hello).unwrap(), b"hello, world\nsecond line\n");
    assert_eq!(fs::metadata(&hello).unwrap().len(), 25);
    // Exclusive create of an existing name.
    let err = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&hello)
        .unwrap_err();
    assert_eq!(errno(&err), libc::EEXIST);
    // Overwrite in the middle, read at an offset.
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&hello)
        .unwrap();
    f.seek(SeekFrom::Start(7)).unwrap();
    f.write_all(b"WORLD").unwrap();
    f.seek(SeekFrom::Start(7)).unwrap();
    let mut five = [0u8; 5];
    f.read_exact(&mut five).unwrap();
    assert_eq!(&five, b"WORLD");
    f.sync_all().unwrap();
    drop(f);

    // Directories.
    fs::create_dir(m.path("docs")).unwrap();
    fs::create_dir_all(m.path("docs/a/b/c")).unwrap();
    for name in ["one", "two", "three"] {
        fs::write(m.path(&format!("docs/{name}.txt")), name).unwrap();
    }
    let mut names: Vec<String> = fs::read_dir(m.path("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "one.txt", "three.txt", "two.txt"]);
    assert_eq!(fs::metadata(m.path("docs")).unwrap().nlink(), 3);
    let err = fs::remove_dir(m.path("docs/a")).unwrap_err();
    assert_eq!(errno(&err), libc::ENOTEMPTY);
    let err = fs::remove_file(m.path("docs/a")).unwrap_err();
    assert!(matches!(errno(&err), libc::EISDIR | libc::EPERM), "{err}");
    fs::remove_dir(m.path("docs/a/b/c")).unwrap();
    assert!(!m.path("docs/a/b/c").exists());
    let err = fs::read_dir(m.path("missing")).unwrap_err();
    assert_eq!(errno(&err), libc::ENOENT);

    // Rename, with and without flags.
    fs::rename(m.path("docs/one.txt"), m.path("docs/a/uno.txt")).unwrap();
    assert!(!m.path("docs/one.txt").exists());
    assert_eq!(fs::read(m.path("docs/a/uno.txt")).unwrap(), b"one");
    fs::rename(m.path("docs/two.txt"), m.path("docs/three.txt")).unwrap();
    assert_eq!(fs::read(m.path("docs/three.txt")).unwrap(), b"two");
    fs::write(m.path("docs/x"), b"x").unwrap();
    fs::write(m.path("docs/y"), b"y").unwrap();
    let err = rename2(&m.path("docs/x"), &m.path("docs/y"), libc::RENAME_NOREPLACE).unwrap_err();
    assert_eq!(errno(&err), libc::EEXIST);
    rename2(&m.path("docs/x"), &m.path("docs/y"), libc::RENAME_EXCHANGE).unwrap();
    assert_eq!(fs::read(m.path("docs/x")).unwrap(), b"y");
    assert_eq!(fs::read(m.path("docs/y")).unwrap(), b"x");
    rename2(&m.path("docs/x"), &m.path("docs/z"), libc::RENAME_NOREPLACE).unwrap();
    let err = fs::rename(m.path("docs"), m.path("docs/a/inside")).unwrap_err();
    assert_eq!(errno(&err), libc::EINVAL);

    // Symlinks.
    std::os::unix::fs::symlink("docs/three.txt", m.path("link")).unwrap();
    assert_eq!(
        fs::read_link(m.path("link")).unwrap(),
        Path::new("docs/three.txt")
    );
    assert!(fs::symlink_metadata(m.path("link")).unwrap().is_symlink());
    assert_eq!(fs::read(m.path("link")).unwrap(), b"two");
    let err = fs::read_link(&hello).unwrap_err();
    assert_eq!(errno(&err), libc::EINVAL);

    // Hard links.
    fs::hard_link(&hello, m.path("docs/hello-again.txt")).unwrap();
    let (a, b) = (
        fs::metadata(&hello).unwrap(),
        fs::metadata(m.path("docs/hello-again.txt")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.nlink(), 2);
    let err = fs::hard_link(m.path("docs"), m.path("docs-link")).unwrap_err();
    assert_eq!(errno(&err), libc::EPERM);

    // Extended attributes (the crate asks for sizes with empty buffers first).
    xattr::set(&hello, "user.colour", b"blue").unwrap();
    xattr::set(&hello, "user.empty", b"").unwrap();
    assert_eq!(
        xattr::get(&hello, "user.colour").unwrap().as_deref(),
        Some(&b"blue"[..])
    );
    assert_eq!(
        xattr::get(&hello, "user.empty").unwrap().as_deref(),
        Some(&b""[..])
    );
    assert_eq!(xattr::get(&hello, "user.missing").unwrap(), None);
    let mut listed: Vec<String> = xattr::list(&hello)
        .unwrap()
        .map(|n| n.into_string().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, ["user.colour", "user.empty"]);
    xattr::remove(&hello, "user.empty").unwrap();
    let err = xattr::remove(&hello, "user.empty").unwrap_err();
    assert_eq!(errno(&err), libc::ENODATA);
    let big = vec![7u8; 10_000];
    xattr::set(m.path("docs"), "user.big", &big).unwrap();
    assert_eq!(xattr::get(m.path("docs"), "user.big").unwrap(), Some(big));

    // Truncate: through a path, through an open handle, and by O_TRUNC.
    fs::write(m.path("trunc"), pattern(200_000, 1)).unwrap();
    truncate_path(&m.path("trunc"), 70_000).unwrap();
    assert_eq!(
        fs::read(m.path("trunc")).unwrap(),
        pattern(200_000, 1)[..70_000]
    );
    let f = OpenOptions::new()
        .write(true)
        .open(m.path("trunc"))
        .unwrap();
    f.set_len(100_000).unwrap();
    drop(f);
    let data = fs::read(m.path("trunc")).unwrap();
    assert_eq!(data.len(), 100_000);
    assert_eq!(data[..70_000], pattern(200_000, 1)[..70_000]);
    assert!(data[70_000..].iter().all(|&b| b == 0));
    let f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(m.path("trunc"))
        .unwrap();
    assert_eq!(f.metadata().unwrap().len(), 0);
    drop(f);

    // chmod, chown, utimens (one time set, the other omitted), UTIME_NOW.
    fs::set_permissions(&hello, fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(fs::metadata(&hello).unwrap().mode() & 0o7777, 0o640);
    let me = me();
    if me.uid == 0 {
        std::os::unix::fs::chown(&hello, Some(4321), Some(8765)).unwrap();
        let meta = fs::metadata(&hello).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4321, 8765));
        std::os::unix::fs::chown(&hello, Some(me.uid), Some(me.gid)).unwrap();
    }
    let before = fs::metadata(&hello).unwrap();
    let when = UNIX_EPOCH + Duration::new(1_500_000_000, 123_456_789);
    let f = File::options().write(true).open(&hello).unwrap();
    f.set_times(FileTimes::new().set_modified(when)).unwrap();
    drop(f);
    let after = fs::metadata(&hello).unwrap();
    assert_eq!(after.modified().unwrap(), when);
    assert_eq!(after.atime(), before.atime());
    assert_eq!(after.atime_nsec(), before.atime_nsec());
    let status = Command::new("touch")
        .arg("-a")
        .arg(&hello)
        .status()
        .unwrap();
    assert!(status.success());
    let touched = fs::metadata(&hello).unwrap();
    assert!(touched.accessed().unwrap() > SystemTime::now() - Duration::from_secs(60));
    assert_eq!(touched.modified().unwrap(), when);

    // statfs.
    let st = statvfs(m.mountpoint());
    assert_eq!(st.f_bsize, 4096);
    assert_eq!(st.f_namemax, 255);
    assert!(st.f_blocks > 0 && st.f_bfree > 0 && st.f_bfree <= st.f_blocks);
    assert!(st.f_bavail > 0);

    // Special files and fallocate.
    assert!(
        Command::new("mkfifo")
            .arg(m.path("fifo"))
            .status()
            .unwrap()
            .success()
    );
    assert!(fs::metadata(m.path("fifo")).unwrap().file_type().is_fifo());
    assert!(
        Command::new("fallocate")
            .args(["-l", "300000"])
            .arg(m.path("prealloc"))
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(fs::metadata(m.path("prealloc")).unwrap().len(), 300_000);
    assert!(
        Command::new("fallocate")
            .args(["-n", "-o", "300000", "-l", "100000"])
            .arg(m.path("prealloc"))
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(fs::metadata(m.path("prealloc")).unwrap().len(), 300_000);
    let punch = Command::new("fallocate")
        .args(["-p", "-o", "0", "-l", "4096"])
        .arg(m.path("prealloc"))
        .output()
        .unwrap();
    assert!(!punch.status.success(), "punching holes is not supported");

    // A file removed while open stays readable through the open handle.
    fs::write(m.path("ghost"), b"boo").unwrap();
    let mut ghost = File::open(m.path("ghost")).unwrap();
    fs::remove_file(m.path("ghost")).unwrap();
    assert!(!m.path("ghost").exists());
    let mut text = String::new();
    ghost.read_to_string(&mut text).unwrap();
    assert_eq!(text, "boo");
    drop(ghost);

    // Unmount, reopen the container, compare.
    let storage = m.unmount();
    let fs = reopen_checked(storage);
    let attr = fs.resolve(b"/hello.txt").unwrap();
    assert_eq!(
        fs.read_ino(attr.ino, 0, 1000).unwrap(),
        b"hello, WORLD\nsecond line\n"
    );
    assert_eq!(attr.perm, 0o640);
    assert_eq!(attr.nlink, 2);
    assert_eq!(attr.mtime.secs, 1_500_000_000);
    assert_eq!(attr.mtime.nanos, 123_456_789);
    assert_eq!(fs.resolve(b"/docs/hello-again.txt").unwrap().ino, attr.ino);
    assert_eq!(
        fs.getxattr(attr.ino, b"user.colour").unwrap(),
        b"blue".to_vec()
    );
    assert!(fs.getxattr(attr.ino, b"user.empty").is_err());
    let link = fs.resolve(b"/link").unwrap();
    assert_eq!(fs.readlink(link.ino).unwrap(), b"docs/three.txt");
    let uno = fs.resolve(b"/docs/a/uno.txt").unwrap();
    assert_eq!(fs.read_ino(uno.ino, 0, 100).unwrap(), b"one");
    assert_eq!(
        fs.read_ino(fs.resolve(b"/docs/y").unwrap().ino, 0, 10)
            .unwrap(),
        b"x"
    );
    assert_eq!(
        fs.read_ino(fs.resolve(b"/docs/z").unwrap().ino, 0, 10)
            .unwrap(),
        b"y"
    );
    assert!(fs.resolve(b"/ghost").is_err());
    assert!(fs.resolve(b"/docs/a/b/c").is_err());
    assert_eq!(fs.resolve(b"/trunc").unwrap().size, 0);
    assert_eq!(fs.resolve(b"/prealloc").unwrap().size, 300_000);
    fs.close().unwrap();
}

#[test]
fn a_20_mib_file_is_byte_identical_through_the_mount_and_after_a_remount() {
    let m = Mounted::new(96 * MIB);
    let data = pattern(20 * MIB as usize, 42);
    let big = m.path("big.bin");
    fs::write(&big, &data).unwrap();
    assert_eq!(fs::metadata(&big).unwrap().len(), data.len() as u64);
    // Read back in odd-sized pieces at unaligned offsets, and whole.
    let mut f = File::open(&big).unwrap();
    let mut piece = vec![0u8; 100_003];
    f.seek(SeekFrom::Start(65_511)).unwrap();
    f.read_exact(&mut piece).unwrap();
    assert_eq!(piece[..], data[65_511..65_511 + 100_003]);
    drop(f);
    assert!(fs::read(&big).unwrap() == data, "content differs");
    // A copy through the kernel (cp uses copy_file_range or read/write).
    assert!(
        Command::new("cp")
            .arg(&big)
            .arg(m.path("copy.bin"))
            .status()
            .unwrap()
            .success()
    );
    assert!(
        fs::read(m.path("copy.bin")).unwrap() == data,
        "copy differs"
    );

    let storage = m.unmount();
    let fs = reopen_checked(storage);
    for name in [&b"/big.bin"[..], b"/copy.bin"] {
        let attr = fs.resolve(name).unwrap();
        assert_eq!(attr.size, data.len() as u64);
        let mut read = Vec::with_capacity(data.len());
        while (read.len() as u64) < attr.size {
            read.extend(fs.read_ino(attr.ino, read.len() as u64, 1 << 20).unwrap());
        }
        assert!(read == data, "content differs after the remount");
    }
    fs.close().unwrap();
}

#[test]
fn reads_are_served_while_another_request_waits_for_the_writer() {
    // Three committed files, then a fresh mount (nothing in the kernel's page cache).
    let m = Mounted::new(64 * MIB);
    fs::create_dir(m.path("docs")).unwrap();
    for t in 0..3u64 {
        fs::write(m.path(&format!("docs/{t}")), pattern(MIB as usize, t)).unwrap();
    }
    fs::write(m.path("stuck"), b"").unwrap();
    let m = Mounted::mount(m.unmount(), MountOptions::default());
    // Opened now: the write below then holds no directory lock in the kernel.
    let mut stuck = OpenOptions::new()
        .write(true)
        .open(m.path("stuck"))
        .unwrap();
    let (holding, held) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        // A long changing operation holds the writer...
        let fs = m.fs.clone();
        scope.spawn(move || {
            fs.hold_writer_while(|| {
                holding.send(()).unwrap();
                let _ = released.recv_timeout(Duration::from_secs(60));
            })
            .unwrap();
        });
        held.recv().unwrap();
        // ...a write through the mount waits for it, occupying one request thread...
        scope.spawn(move || stuck.write_all(b"written after the writer").unwrap());
        std::thread::sleep(Duration::from_millis(200));
        // ...and reads through the mount are served meanwhile, by the other request threads,
        // without the writer.
        let (done, finished) = std::sync::mpsc::channel();
        for t in 0..3u64 {
            let (path, done) = (m.path(&format!("docs/{t}")), done.clone());
            scope.spawn(move || {
                done.send(fs::read(path).unwrap() == pattern(MIB as usize, t))
                    .unwrap()
            });
        }
        for _ in 0..3 {
            let same = finished
                .recv_timeout(Duration::from_secs(30))
                .expect("a read waited behind the writer");
            assert!(same, "a read returned wrong bytes");
        }
        release.send(()).unwrap();
    });
    assert_eq!(
        fs::read(m.path("stuck")).unwrap(),
        b"written after the writer"
    );
    m.unmount();
}

#[test]
fn many_entries_list_completely_and_parallel_io_works() {
    let m = Mounted::new(64 * MIB);
    fs::create_dir(m.path("many")).unwrap();
    for i in 0..1500 {
        fs::write(
            m.path(&format!("many/file-{i:05}-with-a-longer-name")),
            i.to_string(),
        )
        .unwrap();
    }
    // `ls -l`: names and attributes (readdirplus where the kernel uses it).
    let mut seen = 0;
    for entry in fs::read_dir(m.path("many")).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        assert!(meta.is_file());
        seen += 1;
    }
    assert_eq!(seen, 1500);
    let ls = Command::new("ls")
        .arg("-la")
        .arg(m.path("many"))
        .output()
        .unwrap();
    assert!(ls.status.success());
    assert_eq!(String::from_utf8_lossy(&ls.stdout).lines().count(), 1503);

    // Writers and readers on several threads at once.
    std::thread::scope(|scope| {
        for t in 0..6u64 {
            let path = m.path(&format!("parallel-{t}"));
            scope.spawn(move || {
                let data = pattern(3 * MIB as usize, t);
                let mut f = File::create(&path).unwrap();
                for chunk in data.chunks(128 * 1024) {
                    f.write_all(chunk).unwrap();
                }
                drop(f);
                for _ in 0..3 {
                    assert!(fs::read(&path).unwrap() == data);
                }
            });
        }
    });

    fs::remove_dir_all(m.path("many")).unwrap();
    assert!(!m.path("many").exists());
    let storage = m.unmount();
    let fs = reopen_checked(storage);
    assert!(fs.resolve(b"/many").is_err());
    assert_eq!(fs.resolve(b"/parallel-5").unwrap().size, 3 * MIB);
    fs.close().unwrap();
}

#[test]
fn a_busy_mount_refuses_a_clean_unmount_until_released() {
    let m = Mounted::new(16 * MIB);
    fs::write(m.path("open.txt"), b"data").unwrap();
    let f = File::open(m.path("open.txt")).unwrap();
    let unmounter = m.handle().unmounter();
    let err = unmounter.unmount().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ResourceBusy, "{err}");
    assert!(mount_line(m.mountpoint()).is_some());
    drop(f);
    // Unmounting from another thread ends wait().
    let unmounter2 = unmounter.clone();
    std::thread::spawn(move || unmount_retrying(&unmounter2))
        .join()
        .unwrap();
    let storage = m.unmount(); // already unmounted: unmount() is a no-op, wait() returns
    reopen_checked(storage).close().unwrap();
}

#[test]
fn an_unmount_from_outside_ends_wait() {
    let m = Mounted::new(16 * MIB);
    fs::write(m.path("a"), b"a").unwrap();
    let status = Command::new("fusermount3")
        .arg("-u")
        .arg(m.mountpoint())
        .status()
        .unwrap();
    assert!(status.success());
    let storage = m.unmount();
    let fs = reopen_checked(storage);
    assert_eq!(
        fs.read_ino(fs.resolve(b"/a").unwrap().ino, 0, 10).unwrap(),
        b"a"
    );
    fs.close().unwrap();
}

#[test]
fn a_read_only_mount_refuses_changes() {
    let storage = new_storage(16 * MIB);
    let m = Mounted::mount(storage.clone(), MountOptions::default());
    fs::write(m.path("kept"), b"kept").unwrap();
    let storage = m.unmount();
    let m = Mounted::mount_as(storage, true, MountOptions::default());
    assert_eq!(fs::read(m.path("kept")).unwrap(), b"kept");
    let err = fs::write(m.path("new"), b"x").unwrap_err();
    assert_eq!(errno(&err), libc::EROFS);
    let err = OpenOptions::new()
        .write(true)
        .open(m.path("kept"))
        .unwrap_err();
    assert_eq!(errno(&err), libc::EROFS);
    let err = fs::remove_file(m.path("kept")).unwrap_err();
    assert_eq!(errno(&err), libc::EROFS);
    m.unmount();
}
