//! The daemon killed mid-write, and a full container.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::harness::{Sandbox, daemon_pid, is_mounted, pattern};

#[test]
fn kill_9_of_the_daemon_mid_write_keeps_every_fsynced_file() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Crash.sec", "128M");
    let mnt = sandbox.path("crash");
    sandbox.mount(&container, &mnt);

    // Files written and fsynced: they must survive.
    for i in 0..20u64 {
        let mut file = std::fs::File::create(mnt.join(format!("synced-{i}.bin"))).unwrap();
        file.write_all(&pattern(i, 50_000 + i as usize * 3_000))
            .unwrap();
        file.sync_all().unwrap();
    }
    // Then a writer that keeps going (not fsynced) while the daemon is killed.
    let writer_mnt = mnt.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..10_000u64 {
            let Ok(mut file) = std::fs::File::create(writer_mnt.join(format!("pending-{i}.bin")))
            else {
                return i;
            };
            if file.write_all(&pattern(i + 1000, 200_000)).is_err() {
                return i;
            }
        }
        10_000
    });
    std::thread::sleep(Duration::from_millis(700));
    let pid = daemon_pid(&sandbox, &mnt);
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let written = writer.join().unwrap();
    assert!(
        written < 10_000,
        "the writer finished before the kill: the test proved nothing"
    );

    // Auto-unmount: the dead mount goes away by itself.
    let start = Instant::now();
    while is_mounted(&mnt) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the dead mount stayed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sandbox.check_clean(&container);
    sandbox.mount(&container, &mnt);
    for i in 0..20u64 {
        let actual = std::fs::read(mnt.join(format!("synced-{i}.bin"))).unwrap();
        assert!(
            actual == pattern(i, 50_000 + i as usize * 3_000),
            "synced-{i} differs"
        );
    }
    sandbox.unmount(&mnt);
}

#[test]
fn a_full_container_answers_enospc_and_recovers_after_deleting() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Small.sec", "16M");
    let mnt = sandbox.path("small");
    sandbox.mount(&container, &mnt);
    let mut file = std::fs::File::create(mnt.join("too-big.bin")).unwrap();
    let chunk = pattern(1, 1 << 20);
    let mut full = None;
    for _ in 0..64 {
        if let Err(err) = file.write_all(&chunk).and_then(|()| file.sync_all()) {
            full = Some(err);
            break;
        }
    }
    drop(file);
    let err = full.expect("16 MiB of container took 64 MiB of data");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");

    // Nothing else works until space is freed; then it does.
    std::fs::remove_file(mnt.join("too-big.bin")).unwrap();
    let data = pattern(2, 4 << 20);
    std::fs::write(mnt.join("after.bin"), &data).unwrap();
    sandbox.unmount(&mnt);
    sandbox.check_clean(&container);
    sandbox.mount(&container, &mnt);
    assert!(std::fs::read(mnt.join("after.bin")).unwrap() == data);
    sandbox.unmount(&mnt);
}

#[test]
fn sigterm_to_the_daemon_unmounts_cleanly_and_keeps_unsynced_writes() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Term.sec", "32M");
    let mnt = sandbox.path("term");
    sandbox.mount(&container, &mnt);
    // Written, never fsynced: a clean shutdown must still commit it.
    std::fs::write(mnt.join("letter.txt"), pattern(7, 300_000)).unwrap();
    let pid = daemon_pid(&sandbox, &mnt);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    while is_mounted(&mnt) || std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the daemon did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sandbox.check_clean(&container);
    sandbox.mount(&container, &mnt);
    assert!(std::fs::read(mnt.join("letter.txt")).unwrap() == pattern(7, 300_000));
    sandbox.unmount(&mnt);
}

#[test]
fn a_foreground_mount_serves_until_ctrl_c_and_then_commits() {
    use std::os::unix::process::CommandExt;
    let sandbox = Sandbox::new();
    let container = sandbox.create("Fg.sec", "32M");
    let mnt = sandbox.path("fg");
    let mut foreground = std::process::Command::new(crate::harness::secvol_bin())
        .arg("mount")
        .arg(&container)
        .arg(&mnt)
        .arg("--password-file")
        .arg(&sandbox.password_file)
        .arg("--foreground")
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !is_mounted(&mnt) {
        assert!(start.elapsed() < Duration::from_secs(20), "never mounted");
        assert!(
            foreground.try_wait().unwrap().is_none(),
            "mount --foreground exited"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(mnt.join("note.txt"), b"typed in the foreground").unwrap();
    // Ctrl-C in the terminal: SIGINT to the whole foreground process group.
    let group = format!("-{}", foreground.id());
    let status = std::process::Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .unwrap();
    assert!(status.success());
    let output = foreground.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("Unmounted"),
        "{output:?}"
    );
    assert!(!is_mounted(&mnt));
    sandbox.check_clean(&container);
    sandbox.mount(&container, &mnt);
    assert_eq!(
        std::fs::read(mnt.join("note.txt")).unwrap(),
        b"typed in the foreground"
    );
    sandbox.unmount(&mnt);
}
