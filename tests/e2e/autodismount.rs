//! Mounts that end by themselves: after an idle timeout, when the container file disappears,
//! before the computer sleeps; and `unmount --all`, which must touch only the caller's mounts.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Sandbox, daemon_pid, effective_uid, is_mounted, pattern, set_mode};

/// Wait until `mountpoint` is no longer mounted; panics after `limit`.
#[track_caller]
fn wait_unmounted(mountpoint: &Path, limit: Duration) -> Duration {
    let start = Instant::now();
    while is_mounted(mountpoint) {
        assert!(
            start.elapsed() < limit,
            "{} still mounted after {limit:?}",
            mountpoint.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// Wait until process `pid` (a mount daemon) has ended: the container is closed then.
#[track_caller]
fn wait_exited(pid: i32, limit: Duration) {
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.contains(") Z "))
    {
        assert!(
            start.elapsed() < limit,
            "daemon {pid} still running after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The text of the newest mount log.
fn newest_log_text(sandbox: &Sandbox) -> String {
    let dir = sandbox.state_dir().join("secvol");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    logs.sort_by_key(|path| std::fs::metadata(path).unwrap().modified().unwrap());
    std::fs::read_to_string(logs.last().expect("a mount log")).unwrap()
}

#[test]
fn an_idle_mount_dismounts_itself_after_the_timeout_and_use_postpones_it() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let mnt = sandbox.path("idle");
    sandbox
        .try_mount(&container, &mnt, &["--idle-timeout", "3s"])
        .ok();
    let daemon = daemon_pid(&sandbox, &mnt);
    // Used every half second for six seconds: it stays.
    for i in 0..12 {
        std::fs::write(mnt.join(format!("note-{i}.txt")), b"still working").unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert!(is_mounted(&mnt), "dismounted while in use ({i})");
    }
    // Then left alone: gone within the timeout and a poll or two.
    let waited = wait_unmounted(&mnt, Duration::from_secs(15));
    assert!(
        waited >= Duration::from_secs(2),
        "dismounted too early: {waited:?}"
    );
    wait_exited(daemon, Duration::from_secs(30));
    // Other tests' mounts may be listed; this one must not be.
    let run = sandbox.secvol(&["list"]).ok();
    assert!(!run.stdout.contains(&mnt.display().to_string()), "{run:#?}");
    assert!(
        newest_log_text(&sandbox).contains("not used for 3 s: dismounting"),
        "{}",
        newest_log_text(&sandbox)
    );
    sandbox.check_clean(&container);
    sandbox.mount(&container, &mnt);
    assert_eq!(
        std::fs::read(mnt.join("note-11.txt")).unwrap(),
        b"still working"
    );
    sandbox.unmount(&mnt);
}

#[test]
fn an_idle_mount_waits_while_a_program_holds_a_folder_inside() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let mnt = sandbox.path("held");
    sandbox
        .try_mount(&container, &mnt, &["--idle-timeout", "1s"])
        .ok();
    let mut holder = Command::new("sleep")
        .arg("60")
        .current_dir(&mnt)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    assert!(is_mounted(&mnt), "dismounted under a program's feet");
    assert!(newest_log_text(&sandbox).contains("staying mounted until they are closed"));
    holder.kill().unwrap();
    holder.wait().unwrap();
    wait_unmounted(&mnt, Duration::from_secs(10));
}

#[test]
fn a_removed_container_file_leads_to_a_clean_dismount_without_a_hang() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Removable.sec", "16M");
    let mnt = sandbox.path("removable");
    sandbox.mount(&container, &mnt);
    std::fs::write(mnt.join("scan.pdf"), pattern(3, 100_000)).unwrap();
    // At once: the daemon must have noted the file before it said it was ready.
    std::fs::remove_file(&container).unwrap();
    let start = Instant::now();
    while is_mounted(&mnt) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still mounted 30 s after the container file was removed; the daemon's log:\n{}",
            newest_log_text(&sandbox)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let waited = start.elapsed();
    eprintln!("dismounted {waited:?} after the container file was removed");
    // The daemon is gone too, and said why.
    let start = Instant::now();
    while sandbox.secvol(&["list"]).ok().stdout.contains("removable") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the daemon stayed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = newest_log_text(&sandbox);
    assert!(log.contains("the container file is gone"), "{log}");
    assert!(log.contains("dismounting"), "{log}");
}

#[test]
fn a_mount_dismounts_itself_when_logind_announces_sleep() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Sleepy.sec", "16M");
    let mnt = sandbox.path("sleepy");
    // A stand-in for gdbus, talking the same way: the monitor line logind's signal produces.
    let bin = sandbox.path("fake-bin");
    std::fs::create_dir(&bin).unwrap();
    let gdbus = bin.join("gdbus");
    let trigger = sandbox.path("go-to-sleep");
    std::fs::write(
        &gdbus,
        format!(
            "#!/bin/sh\n\
             while [ ! -e '{}' ]; do sleep 0.1; done\n\
             echo '/org/freedesktop/login1: org.freedesktop.login1.Manager.PrepareForSleep (true,)'\n\
             exec sleep 60\n",
            trigger.display()
        ),
    )
    .unwrap();
    set_mode(&gdbus, 0o755);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut mount = sandbox.command(&[
        OsStr::new("mount"),
        container.as_os_str(),
        mnt.as_os_str(),
        OsStr::new("--password-file"),
        sandbox.password_file.as_os_str(),
    ]);
    mount.env("PATH", &path);
    sandbox.run(&mut mount).ok();
    let daemon = daemon_pid(&sandbox, &mnt);
    std::fs::write(mnt.join("draft.txt"), b"written before sleep").unwrap();
    std::fs::write(&trigger, b"").unwrap();
    wait_unmounted(&mnt, Duration::from_secs(20));
    wait_exited(daemon, Duration::from_secs(30));
    assert!(newest_log_text(&sandbox).contains("going to sleep"));
    sandbox.mount(&container, &mnt);
    assert_eq!(
        std::fs::read(mnt.join("draft.txt")).unwrap(),
        b"written before sleep"
    );
    sandbox.unmount(&mnt);
}

/// A user of its own for the `--all` test: its mounts are the only ones `--all` run as it may
/// touch, whatever else runs on the machine.
const ALL_TEST_USER: &str = "secvol-alltest";

fn ensure_user(name: &str) -> Option<(u32, u32)> {
    let lookup = || {
        let out = Command::new("id").arg("-u").arg(name).output().ok()?;
        let uid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        let out = Command::new("id").arg("-g").arg(name).output().ok()?;
        let gid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        Some((uid, gid))
    };
    if let Some(ids) = lookup() {
        return Some(ids);
    }
    // Exit code 9: created meanwhile by a parallel run.
    let _ = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
        ])
        .arg(name)
        .status();
    lookup()
}

#[test]
fn unmount_all_unmounts_the_callers_mounts_and_no_one_elses() {
    if effective_uid() != 0 {
        eprintln!("skipped: needs root to run secvol as a user of its own");
        return;
    }
    let Some((uid, gid)) = ensure_user(ALL_TEST_USER) else {
        panic!("cannot create the test user {ALL_TEST_USER} (useradd)");
    };
    let fuse = std::fs::metadata("/dev/fuse").unwrap();
    if std::os::unix::fs::PermissionsExt::mode(&fuse.permissions()) & 0o006 != 0o006 {
        eprintln!(
            "skipped: /dev/fuse is not usable by other users (chmod 0666 /dev/fuse; .ci/run does)"
        );
        return;
    }
    let sandbox = Sandbox::new();
    // Root's own mount, made by this test: --all run by the user must leave it alone.
    let roots = sandbox.create("Root.sec", "16M");
    let root_mnt = sandbox.path("root-mnt");
    sandbox.mount(&roots, &root_mnt);

    let home = sandbox.path("user");
    std::fs::create_dir(&home).unwrap();
    let a = sandbox.create("A.sec", "16M");
    let b = sandbox.create("B.sec", "16M");
    let password = sandbox.path("user/password");
    std::fs::copy(&sandbox.password_file, &password).unwrap();
    for path in [&home, &a, &b, &password] {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
    let as_user = |args: &[&OsStr]| {
        let mut command = Command::new("/usr/bin/setpriv");
        command
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg("--clear-groups")
            .arg(crate::harness::secvol_bin_for_others(&sandbox))
            .args(args)
            .env("HOME", &home)
            .env("XDG_STATE_HOME", home.join("state"))
            .current_dir(&home)
            .stdin(std::process::Stdio::null());
        sandbox.run(&mut command)
    };
    let (mnt_a, mnt_b) = (home.join("a"), home.join("b"));
    for (container, mnt) in [(&a, &mnt_a), (&b, &mnt_b)] {
        as_user(&[
            OsStr::new("mount"),
            container.as_os_str(),
            mnt.as_os_str(),
            OsStr::new("--password-file"),
            password.as_os_str(),
        ])
        .ok();
        assert!(is_mounted(mnt));
    }
    // Other users' mounts need root and --all-users.
    let run = as_user(&[
        OsStr::new("unmount"),
        OsStr::new("--all"),
        OsStr::new("--all-users"),
    ])
    .fails_with(1);
    assert!(run.stderr.contains("only root"), "{run:#?}");

    let run = as_user(&[OsStr::new("unmount"), OsStr::new("--all")]).ok();
    assert_eq!(run.stdout.matches("Unmounted ").count(), 2, "{run:#?}");
    assert!(!is_mounted(&mnt_a) && !is_mounted(&mnt_b));
    assert!(
        is_mounted(&root_mnt),
        "--all unmounted another user's mount"
    );
    let run = as_user(&[OsStr::new("unmount"), OsStr::new("--all")]).ok();
    assert!(
        run.stdout.contains("No secvol container of yours"),
        "{run:#?}"
    );
    sandbox.unmount(&root_mnt);
}
