//! Mount, unmount, remount: data survives, the lock holds, strangers are kept out.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::process::Command;

use crate::harness::{Sandbox, daemon_pid, is_mounted, make_tree, pattern, run};

#[test]
fn a_tree_copied_with_rsync_is_identical_after_remount() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "64M");
    let mnt = sandbox.path("TimeAcct");
    let src = sandbox.path("records");
    make_tree(&src, 300);

    sandbox.mount(&container, &mnt);
    run(
        "rsync",
        &[
            OsStr::new("-a"),
            OsStr::new("--links"),
            format!("{}/", src.display()).as_ref(),
            format!("{}/", mnt.display()).as_ref(),
        ],
        &sandbox.path(""),
    );
    sandbox.unmount(&mnt);
    sandbox.check_clean(&container);

    sandbox.mount(&container, &mnt);
    // -c: compare contents, not just sizes and times; -n: change nothing. Empty output
    // (besides the summary) means identical.
    let out = run(
        "rsync",
        &[
            OsStr::new("-a"),
            OsStr::new("-c"),
            OsStr::new("-n"),
            OsStr::new("-i"),
            format!("{}/", src.display()).as_ref(),
            format!("{}/", mnt.display()).as_ref(),
        ],
        &sandbox.path(""),
    );
    assert_eq!(out.trim(), "", "rsync found differences: {out}");
    let diff = Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(&src)
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(diff.success());
    sandbox.unmount(&mnt);
}

#[test]
fn a_one_gib_file_is_byte_identical_after_remount() {
    const SIZE: usize = 1 << 30;
    const CHUNK: usize = 4 << 20;
    let sandbox = Sandbox::new();
    let container = sandbox.create("Big.sec", "1200M");
    let mnt = sandbox.path("big");
    sandbox.mount(&container, &mnt);
    {
        let mut file = std::fs::File::create(mnt.join("backup.img")).unwrap();
        for i in 0..SIZE / CHUNK {
            file.write_all(&pattern(i as u64, CHUNK)).unwrap();
        }
        file.sync_all().unwrap();
    }
    sandbox.unmount(&mnt);
    sandbox.mount(&container, &mnt);
    {
        let mut file = std::fs::File::open(mnt.join("backup.img")).unwrap();
        assert_eq!(file.metadata().unwrap().len(), SIZE as u64);
        let mut buffer = vec![0u8; CHUNK];
        for i in 0..SIZE / CHUNK {
            file.read_exact(&mut buffer).unwrap();
            assert!(buffer == pattern(i as u64, CHUNK), "chunk {i} differs");
        }
        assert_eq!(file.read(&mut buffer).unwrap(), 0, "longer than written");
    }
    sandbox.unmount(&mnt);
}

#[test]
fn a_mounted_container_is_locked_against_a_second_mount_and_offline_changes() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let mnt = sandbox.path("first");
    sandbox.mount(&container, &mnt);

    let run = sandbox
        .try_mount(&container, &sandbox.path("second"), &[])
        .fails_with(11);
    assert!(run.stderr.contains("already mounted"), "{run:#?}");
    // A copy of the container's path that the mount table does not name (a symlink) is
    // still refused: the lock on the file decides, not the name.
    let alias = sandbox.path("alias.sec");
    std::os::unix::fs::symlink(&container, &alias).unwrap();
    let run = sandbox.try_mount(&alias, &sandbox.path("third"), &[]);
    assert_eq!(run.code, Some(11), "{run:#?}");
    assert!(!is_mounted(&sandbox.path("third")));

    let pw = sandbox.password_file.clone();
    let run = sandbox.secvol(&[
        OsStr::new("mkdir"),
        format!("{}:/x", container.display()).as_ref(),
        OsStr::new("--password-file"),
        pw.as_os_str(),
    ]);
    assert_eq!(run.code, Some(11), "{run:#?}");

    // list shows the mount and its daemon.
    let run = sandbox.secvol(&["list"]).ok();
    assert!(
        run.stdout.contains(&container.display().to_string()),
        "{run:#?}"
    );
    assert!(run.stdout.contains(" rw "), "{run:#?}");

    sandbox.unmount(&mnt);
    // After unmount the lock is gone.
    sandbox.mount(&container, &mnt);
    sandbox.unmount(&mnt);
}

#[test]
fn another_user_cannot_list_the_mount() {
    if crate::harness::effective_uid() != 0 {
        eprintln!("skipped: needs root to act as another user");
        return;
    }
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let mnt = sandbox.path("private");
    sandbox.mount(&container, &mnt);
    std::fs::write(mnt.join("secret.txt"), b"diagnosis").unwrap();
    crate::harness::set_mode(&mnt, 0o777);

    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(args)
            .output()
            .unwrap()
    };
    let listing = as_nobody(&["ls", mnt.to_str().unwrap()]);
    assert!(!listing.status.success(), "nobody could list the mount");
    assert!(
        String::from_utf8_lossy(&listing.stderr).contains("Permission denied"),
        "{listing:?}"
    );
    // The owner can.
    assert!(mnt.join("secret.txt").exists());
    sandbox.unmount(&mnt);
}

#[test]
fn unmount_refuses_while_files_are_open_and_names_the_process() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let mnt = sandbox.path("busy");
    sandbox.mount(&container, &mnt);
    let mut holder = Command::new("sleep")
        .arg("30")
        .current_dir(&mnt)
        .spawn()
        .unwrap();
    let run = sandbox
        .secvol(&[OsStr::new("unmount"), mnt.as_os_str()])
        .fails_with(11);
    assert!(
        run.stderr.contains(&format!("sleep (pid {})", holder.id())),
        "{run:#?}"
    );
    assert!(is_mounted(&mnt));
    holder.kill().unwrap();
    holder.wait().unwrap();
    sandbox.unmount(&mnt);
}

#[test]
fn the_daemon_runs_with_two_malloc_arenas() {
    // The daemon's peak memory depends on it (crates/cli/src/commands/mount.rs).
    if crate::harness::effective_uid() != 0 {
        // The daemon turns core dumps off (not dumpable), which makes its /proc files root's.
        eprintln!("skipped: needs root to read the daemon's environment");
        return;
    }
    let sandbox = Sandbox::new();
    let container = sandbox.create("Arenas.sec", "64M");
    let mnt = sandbox.path("arenas");
    sandbox.mount(&container, &mnt);
    let pid = daemon_pid(&sandbox, &mnt);
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(
        environ
            .split(|&b| b == 0)
            .any(|entry| entry == b"MALLOC_ARENA_MAX=2"),
        "{}",
        String::from_utf8_lossy(&environ)
    );
    sandbox.unmount(&mnt);
}

#[test]
fn a_read_only_mount_refuses_changes_and_writes_nothing() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let mnt = sandbox.path("ro");
    sandbox.mount(&container, &mnt);
    std::fs::write(mnt.join("kept.txt"), b"before").unwrap();
    sandbox.unmount(&mnt);
    let before = std::fs::read(&container).unwrap();

    sandbox.try_mount(&container, &mnt, &["--read-only"]).ok();
    assert_eq!(std::fs::read(mnt.join("kept.txt")).unwrap(), b"before");
    let err = std::fs::write(mnt.join("new.txt"), b"x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    let run = sandbox.secvol(&["list"]).ok();
    assert!(run.stdout.contains(" ro "), "{run:#?}");
    sandbox.unmount(&mnt);
    assert!(
        std::fs::read(&container).unwrap() == before,
        "a read-only mount changed the container"
    );
}

#[test]
fn mount_errors_come_back_to_the_caller_with_their_exit_code() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let wrong = sandbox.path("wrong");
    std::fs::write(&wrong, "not-the-right-password-at-all\n").unwrap();
    let mnt = sandbox.path("m");
    let run = sandbox
        .secvol(&[
            OsStr::new("mount"),
            container.as_os_str(),
            mnt.as_os_str(),
            OsStr::new("--password-file"),
            wrong.as_os_str(),
        ])
        .fails_with(3);
    assert!(run.stderr.contains("wrong password"), "{run:#?}");
    assert!(!is_mounted(&mnt));

    let not_container = sandbox.path("notes.txt");
    std::fs::write(&not_container, vec![b'x'; 200_000]).unwrap();
    sandbox.try_mount(&not_container, &mnt, &[]).fails_with(4);
}
