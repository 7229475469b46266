//! What a new user runs into: mount folders left behind by failed mounts, non-empty mount
//! folders, containers rewritten by mounts that changed nothing, invisible errors of
//! background mounts, a missing fusermount3.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::harness::{Sandbox, effective_uid, is_mounted, pattern};

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn a_failed_mount_removes_the_folders_it_created() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let wrong = sandbox.path("wrong");
    std::fs::write(&wrong, "not-the-right-password-at-all\n").unwrap();
    let mnt = sandbox.path("new/deeper/TimeAcct");
    let run = sandbox
        .secvol(&[
            OsStr::new("mount"),
            container.as_os_str(),
            mnt.as_os_str(),
            OsStr::new("--password-file"),
            wrong.as_os_str(),
        ])
        .fails_with(3);
    assert!(run.stderr.contains("Created the mount point"), "{run:#?}");
    assert!(
        !sandbox.path("new").exists(),
        "the folders created for the mount were left behind"
    );
    // A folder that existed before is kept, even when the mount fails.
    let existing = sandbox.path("existing");
    std::fs::create_dir(&existing).unwrap();
    sandbox
        .secvol(&[
            OsStr::new("mount"),
            container.as_os_str(),
            existing.as_os_str(),
            OsStr::new("--password-file"),
            wrong.as_os_str(),
        ])
        .fails_with(3);
    assert!(existing.is_dir());
}

#[test]
fn mount_refuses_a_folder_with_files_unless_asked() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let mnt = sandbox.path("Documents");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::write(mnt.join("letter.txt"), b"plain text on the host").unwrap();
    let run = sandbox.try_mount(&container, &mnt, &[]).fails_with(1);
    assert!(run.stderr.contains("is not empty"), "{run:#?}");
    assert!(run.stderr.contains("--allow-non-empty"), "{run:#?}");
    assert!(!is_mounted(&mnt));
    assert!(
        mnt.join("letter.txt").exists(),
        "the folder's files were touched"
    );

    sandbox
        .try_mount(&container, &mnt, &["--allow-non-empty"])
        .ok();
    assert!(is_mounted(&mnt));
    assert!(
        !mnt.join("letter.txt").exists(),
        "the mount does not cover the folder"
    );
    sandbox.unmount(&mnt);
    assert!(mnt.join("letter.txt").exists());
}

#[test]
fn a_mount_that_changes_nothing_leaves_the_container_bytes_and_mtime_unchanged() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "32M");
    let mnt = sandbox.path("TimeAcct");
    sandbox.mount(&container, &mnt);
    std::fs::create_dir(mnt.join("scans")).unwrap();
    std::fs::write(mnt.join("scans/jan.pdf"), pattern(1, 300_000)).unwrap();
    // Read once now: the first read after a write refreshes the access time (relatime), a
    // change of its own.
    assert_eq!(
        std::fs::read(mnt.join("scans/jan.pdf")).unwrap().len(),
        300_000
    );
    sandbox.unmount(&mnt);
    let bytes = std::fs::read(&container).unwrap();
    let mtime = modified(&container);
    // File systems with coarse time stamps would hide a rewrite that happens at once.
    std::thread::sleep(Duration::from_millis(1100));

    // Looking at everything, reading the file, a refused change: nothing to write.
    sandbox.mount(&container, &mnt);
    assert_eq!(std::fs::read_dir(mnt.join("scans")).unwrap().count(), 1);
    assert!(std::fs::read(mnt.join("scans/jan.pdf")).unwrap() == pattern(1, 300_000));
    assert!(std::fs::create_dir(mnt.join("scans")).is_err());
    let _ = std::fs::metadata(mnt.join("scans/jan.pdf")).unwrap().ino();
    sandbox.unmount(&mnt);
    assert_eq!(
        modified(&container),
        mtime,
        "a mount without changes bumped the container's modification time"
    );
    assert!(
        std::fs::read(&container).unwrap() == bytes,
        "a mount without changes rewrote the container"
    );

    // A change is written, and bumps the time.
    sandbox.mount(&container, &mnt);
    std::fs::write(mnt.join("scans/feb.pdf"), b"new").unwrap();
    sandbox.unmount(&mnt);
    assert!(
        modified(&container) > mtime,
        "a change did not bump the mtime"
    );
    assert!(std::fs::read(&container).unwrap() != bytes);
    sandbox.check_clean(&container);
}

/// The newest mount log in the sandbox's state folder.
fn newest_log(sandbox: &Sandbox) -> PathBuf {
    let dir = sandbox.state_dir().join("secvol");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no state folder {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension() == Some(OsStr::new("log")))
        .collect();
    logs.sort_by_key(|path| std::fs::metadata(path).unwrap().modified().unwrap());
    logs.pop().expect("a mount log")
}

/// Flip one byte in the middle of the longest run of 4 KiB blocks that differ between two
/// images of a container: the encrypted data of the file written between them.
fn damage_the_written_data(container: &Path, before: &[u8], after: &[u8]) {
    const BLOCK: usize = 4096;
    let differs =
        |i: usize| before[i * BLOCK..(i + 1) * BLOCK] != after[i * BLOCK..(i + 1) * BLOCK];
    let blocks = before.len().min(after.len()) / BLOCK;
    let (mut best, mut best_len, mut run_start, mut run_len) = (0, 0, 0, 0);
    for i in 0..blocks {
        if differs(i) {
            if run_len == 0 {
                run_start = i;
            }
            run_len += 1;
            if run_len > best_len {
                (best, best_len) = (run_start, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    assert!(best_len >= 16, "no run of written data found");
    let mut image = after.to_vec();
    image[(best + best_len / 2) * BLOCK + 100] ^= 0x40;
    std::fs::write(container, image).unwrap();
}

#[test]
fn list_shows_a_healthy_mount_as_clean() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let mnt = sandbox.path("TimeAcct");
    sandbox.mount(&container, &mnt);
    std::fs::write(mnt.join("a.txt"), b"fine").unwrap();
    let run = sandbox.secvol(&["list"]).ok();
    assert!(run.stdout.contains(" clean "), "{run:#?}");
    assert!(
        run.stdout
            .contains(&newest_log(&sandbox).display().to_string()),
        "{run:#?}"
    );
    sandbox.unmount(&mnt);
}

#[test]
fn list_shows_each_mounts_health_and_its_log_names_the_first_error() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "32M");
    let mnt = sandbox.path("TimeAcct");
    let before = std::fs::read(&container).unwrap();
    sandbox.mount(&container, &mnt);
    std::fs::write(mnt.join("xray.jpg"), pattern(7, 2 << 20)).unwrap();
    sandbox.unmount(&mnt);
    let after = std::fs::read(&container).unwrap();
    damage_the_written_data(&container, &before, &after);

    sandbox.mount(&container, &mnt);
    let log = newest_log(&sandbox);
    let err = std::fs::read(mnt.join("xray.jpg")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");

    let run = sandbox.secvol(&["list"]).ok();
    assert!(run.stdout.contains(&log.display().to_string()), "{run:#?}");
    assert!(run.stdout.contains("error(s)"), "{run:#?}");
    assert!(run.stdout.contains("failed authentication"), "{run:#?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(" error: "), "{text}");
    assert!(
        !text.contains("xray"),
        "a file name inside the container reached the log"
    );
    sandbox.unmount(&mnt);
    // The log stays after the unmount, for whoever looks into the problem, and says how the
    // mount ended.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("the container is closed") || text.contains("last changes"),
        "{text}"
    );
    eprintln!("{text}");
}

/// A folder of links to the programs a mount needs, without fusermount3.
fn path_without_fusermount(sandbox: &Sandbox) -> PathBuf {
    let bin = sandbox.path("bin-without-fuse");
    std::fs::create_dir(&bin).unwrap();
    for program in ["umount", "mount", "sleep", "cat", "sh"] {
        for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
            let target = Path::new(dir).join(program);
            if target.exists() {
                std::os::unix::fs::symlink(&target, bin.join(program)).unwrap();
                break;
            }
        }
    }
    bin
}

#[test]
fn without_fusermount3_root_mounts_with_a_warning_and_list_and_unmount_find_the_mount() {
    if effective_uid() != 0 {
        eprintln!("skipped: needs root (a normal user cannot mount without fusermount3)");
        return;
    }
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let mnt = sandbox.path("nofuse");
    let bin = path_without_fusermount(&sandbox);
    let mut mount = sandbox.command(&[
        OsStr::new("mount"),
        container.as_os_str(),
        mnt.as_os_str(),
        OsStr::new("--password-file"),
        sandbox.password_file.as_os_str(),
    ]);
    mount.env("PATH", &bin);
    let run = sandbox.run(&mut mount).ok();
    assert!(
        run.stderr.contains("fusermount3 is not installed"),
        "{run:#?}"
    );
    assert!(is_mounted(&mnt));
    let mut list = sandbox.command(&["list"]);
    list.env("PATH", &bin);
    let run = sandbox.run(&mut list).ok();
    assert!(run.stdout.contains(&mnt.display().to_string()), "{run:#?}");
    let mut unmount = sandbox.command(&[OsStr::new("unmount"), mnt.as_os_str()]);
    unmount.env("PATH", &bin);
    sandbox.run(&mut unmount).ok();
    assert!(!is_mounted(&mnt));
}

#[test]
fn without_fusermount3_a_normal_user_is_told_what_to_install() {
    if effective_uid() != 0 {
        eprintln!("skipped: needs root to run the command as another user");
        return;
    }
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    crate::harness::set_mode(&container, 0o644);
    let bin = path_without_fusermount(&sandbox);
    let mnt = sandbox.path("nobody-mnt");
    let mut command = std::process::Command::new("/usr/bin/setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(crate::harness::secvol_bin_for_others(&sandbox))
        .arg("mount")
        .arg(&container)
        .arg(&mnt)
        .arg("--password-file")
        .arg("/dev/null")
        .env("PATH", &bin)
        .env("HOME", "/nonexistent")
        .stdin(std::process::Stdio::null());
    let run = sandbox.run(&mut command).fails_with(1);
    assert!(run.stderr.contains("install the fuse3 package"), "{run:#?}");
    assert!(!mnt.exists());
}
