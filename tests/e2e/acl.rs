//! POSIX ACLs and `fallocate` through `secvol mount` (the mount daemon), across an unmount.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use crate::harness::{Sandbox, run};

fn statvfs_used(path: &std::path::Path) -> u64 {
    let out = run(
        "stat",
        &[
            OsStr::new("-f"),
            OsStr::new("-c"),
            OsStr::new("%b %f %S"),
            path.as_os_str(),
        ],
        path,
    );
    let fields: Vec<u64> = out.split_whitespace().map(|f| f.parse().unwrap()).collect();
    (fields[0] - fields[1]) * fields[2]
}

#[test]
fn acls_are_enforced_and_space_stays_reserved_across_an_unmount() {
    // Acting as `nobody` needs root, and so does `--allow-other` without `user_allow_other`
    // (ci/suites/e2e-as-user.sh runs this file as a normal user).
    if crate::harness::effective_uid() != 0 {
        eprintln!("skipped: needs root to act as another user");
        return;
    }
    let sandbox = Sandbox::new();
    let container = sandbox.create("Ward.sec", "64M");
    let mnt = sandbox.path("Ward");
    sandbox.try_mount(&container, &mnt, &["--allow-other"]).ok();
    std::fs::write(mnt.join("chart.txt"), b"blood pressure 120/80\n").unwrap();
    crate::harness::set_mode(&mnt.join("chart.txt"), 0o600);
    run(
        "setfacl",
        &[
            OsStr::new("-m"),
            OsStr::new("u:nobody:r--"),
            mnt.join("chart.txt").as_os_str(),
        ],
        &mnt,
    );
    let fallocate = Command::new("fallocate")
        .args(["-l", "20M"])
        .arg(mnt.join("reserved.db"))
        .status()
        .unwrap();
    assert!(fallocate.success());
    let used = statvfs_used(&mnt);
    assert!(used >= 20 << 20, "df shows {used} bytes used");
    sandbox.unmount(&mnt);
    sandbox.check_clean(&container);

    sandbox.try_mount(&container, &mnt, &["--allow-other"]).ok();
    // nobody reads through its ACL entry, which the mode bits alone would refuse.
    let read = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat"])
        .arg("chart.txt")
        .current_dir(&mnt)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_eq!(read.stdout, b"blood pressure 120/80\n");
    let write = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .args(["sh", "-c", "echo x >> chart.txt"])
        .current_dir(&mnt)
        .status()
        .unwrap();
    assert!(!write.success(), "the ACL grants reading only");
    let reserved = std::fs::metadata(mnt.join("reserved.db")).unwrap();
    assert_eq!(reserved.len(), 20 << 20);
    assert!(reserved.blocks() >= (20 << 20) / 512);
    assert!(statvfs_used(&mnt) >= 20 << 20, "the reservation survived");
    sandbox.unmount(&mnt);
}
