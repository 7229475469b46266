//! POSIX ACLs through real FUSE, driven by the real tools (`setfacl`, `getfacl`, `rsync -A`,
//! `tar --acls`, `setpriv` to act as another user): the mode follows the ACL and the kernel's
//! access checks agree with what `getfacl` shows, default ACLs are inherited, the
//! set-group-ID bit is cleared for callers outside the group, and ACLs round-trip through the
//! backup tools and a remount. The scenarios follow xfstests generic/099, 319 and 375.
//!
//! Needs root (switching users), /dev/fuse, fusermount3 and the Debian packages `acl`,
//! `rsync`, `tar` and `util-linux` (setpriv).
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use secvol_fuse::MountOptions;

const MIB: u64 = 1 << 20;
/// The user the tests act as besides root (`nobody`) and its group (`nogroup`).
const NOBODY: u32 = 65534;

/// A new container mounted so that other users may use it (as `--allow-other`).
fn mount_shared() -> Mounted {
    Mounted::mount(
        new_storage(32 * MIB),
        MountOptions {
            allow_other: true,
            ..MountOptions::default()
        },
    )
}

/// Run `program args` in `dir` (relative paths resolve there even where another user could
/// not reach `dir` from the root).
fn run_in(dir: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

#[track_caller]
fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Run `args` in `dir` as user `uid`, group `gid`, with supplementary `groups`.
fn as_user(dir: &Path, uid: u32, gid: u32, groups: &[u32], args: &[&str]) -> Output {
    let groups = if groups.is_empty() {
        "--clear-groups".to_string()
    } else {
        let list: Vec<String> = groups.iter().map(u32::to_string).collect();
        format!("--groups={}", list.join(","))
    };
    let mut full = vec![
        format!("--reuid={uid}"),
        format!("--regid={gid}"),
        groups,
        "--".to_string(),
    ];
    full.extend(args.iter().map(|s| (*s).to_string()));
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    run_in(dir, "setpriv", &full)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `getfacl` of `rel` in `dir`, numeric ids, without the comment header.
fn acl_of(dir: &Path, rel: &str) -> String {
    ok(run_in(dir, "getfacl", &["-n", "--omit-header", rel]))
}

#[test]
fn setfacl_sets_the_mode_and_the_kernel_checks_access_by_the_acl() {
    let m = mount_shared();
    let dir = m.mountpoint();
    fs::write(m.path("f"), b"patient record\n").unwrap();
    chmod(&m.path("f"), 0o764);
    // generic/099: the mode follows a minimal ACL (ext4 shows -r--rwxrw-).
    ok(run_in(dir, "setfacl", &["-m", "u::r--,g::rwx,o::rw-", "f"]));
    assert_eq!(mode(&m.path("f")), 0o476);
    assert_eq!(acl_of(dir, "f"), "user::r--\ngroup::rwx\nother::rw-\n\n");

    // A named entry grants what the mode bits alone would refuse...
    chmod(&m.path("f"), 0o640);
    let read = || as_user(dir, NOBODY, NOBODY, &[], &["cat", "f"]);
    assert!(!read().status.success(), "other has no read permission");
    ok(run_in(
        dir,
        "setfacl",
        &["-m", &format!("u:{NOBODY}:r--"), "f"],
    ));
    assert_eq!(ok(read()), "patient record\n");
    assert_eq!(
        mode(&m.path("f")) & 0o070,
        0o040,
        "group bits show the mask"
    );
    // ...within the mask, which chmod of the group bits sets.
    chmod(&m.path("f"), 0o600);
    assert!(
        acl_of(dir, "f").contains("mask::---"),
        "{}",
        acl_of(dir, "f")
    );
    assert!(
        !read().status.success(),
        "the mask takes the named entry's read away"
    );
    ok(run_in(dir, "setfacl", &["-m", "m::r--", "f"]));
    assert_eq!(ok(read()), "patient record\n");
    // Writing stays refused: the entry grants reading only.
    let write = as_user(dir, NOBODY, NOBODY, &[], &["sh", "-c", "echo x >> f"]);
    assert!(!write.status.success());
    // Removing the ACL takes the access away again.
    ok(run_in(dir, "setfacl", &["-b", "f"]));
    assert!(!read().status.success());
    m.unmount();
}

#[test]
fn new_files_inherit_the_default_acl_and_keep_it_after_a_remount() {
    let m = mount_shared();
    let dir = m.mountpoint();
    fs::create_dir(m.path("ward")).unwrap();
    // generic/319
    ok(run_in(
        dir,
        "setfacl",
        &["-d", "--set", "u::rwx,g::rwx,o::-", "ward"],
    ));
    ok(run_in(
        dir,
        "setfacl",
        &["-d", "-m", &format!("u:{NOBODY}:rwx"), "ward"],
    ));
    ok(run_in(
        dir,
        "sh",
        &["-c", "umask 022 && mkdir ward/sub && echo x > ward/notes"],
    ));
    let sub = acl_of(dir, "ward/sub");
    for line in [
        "user::rwx",
        &format!("user:{NOBODY}:rwx"),
        "group::rwx",
        "mask::rwx",
        "other::---",
        "default:user::rwx",
        &format!("default:user:{NOBODY}:rwx"),
        "default:group::rwx",
        "default:mask::rwx",
        "default:other::---",
    ] {
        assert!(sub.lines().any(|l| l == line), "{line} missing in\n{sub}");
    }
    assert_eq!(mode(&m.path("ward/sub")), 0o770, "the umask is ignored");
    let notes = acl_of(dir, "ward/notes");
    let named = notes
        .lines()
        .find(|l| l.starts_with(&format!("user:{NOBODY}:rwx")))
        .unwrap_or_else(|| panic!("no entry for nobody in\n{notes}"));
    assert!(named.ends_with("#effective:rw-"), "{notes}");
    assert!(!notes.contains("default:"), "{notes}");
    assert_eq!(mode(&m.path("ward/notes")), 0o660);
    // nobody may write through the inherited entry.
    ok(as_user(
        dir,
        NOBODY,
        NOBODY,
        &[],
        &["sh", "-c", "echo y >> ward/notes"],
    ));
    // Outside the directory the umask applies as usual.
    ok(run_in(dir, "sh", &["-c", "umask 027 && mkdir plain"]));
    assert_eq!(mode(&m.path("plain")), 0o750);

    let storage = m.unmount();
    let m = Mounted::mount(
        storage,
        MountOptions {
            allow_other: true,
            ..MountOptions::default()
        },
    );
    assert_eq!(acl_of(m.mountpoint(), "ward/sub"), sub);
    assert_eq!(acl_of(m.mountpoint(), "ward/notes"), notes);
    reopen_checked(m.unmount()).close().unwrap();
}

#[test]
fn an_acl_set_by_an_owner_outside_the_group_clears_the_setgid_bit() {
    let m = mount_shared();
    let dir = m.mountpoint();
    let reset = |name: &str| {
        let path = m.path(name);
        fs::write(&path, b"").unwrap();
        std::os::unix::fs::chown(&path, Some(NOBODY), Some(0)).unwrap();
        chmod(&path, 0o2755);
        assert_eq!(mode(&path), 0o2755);
    };
    // generic/375: owner nobody, group root; nobody is not in group root.
    reset("a");
    ok(as_user(
        dir,
        NOBODY,
        NOBODY,
        &[],
        &["setfacl", "-m", "u::rwx,g::rwx,o::rwx", "a"],
    ));
    assert_eq!(mode(&m.path("a")), 0o777);
    reset("b");
    ok(as_user(dir, NOBODY, NOBODY, &[], &["chmod", "2777", "b"]));
    assert_eq!(mode(&m.path("b")), 0o777);
    reset("c");
    ok(as_user(
        dir,
        NOBODY,
        NOBODY,
        &[],
        &[
            "setfacl",
            "-m",
            &format!("u::rwx,g::rwx,o::rwx,u:{NOBODY}:rwx"),
            "c",
        ],
    ));
    assert_eq!(mode(&m.path("c")), 0o777);
    // In the group (as a supplementary group) or privileged: the bit stays.
    reset("d");
    ok(as_user(
        dir,
        NOBODY,
        NOBODY,
        &[0],
        &["setfacl", "-m", "u::rwx,g::rwx,o::rwx", "d"],
    ));
    assert_eq!(mode(&m.path("d")), 0o2777);
    reset("e");
    ok(run_in(dir, "setfacl", &["-m", "u::rwx,g::rwx,o::rwx", "e"]));
    assert_eq!(mode(&m.path("e")), 0o2777);
    m.unmount();
}

/// A tree on the local disk with ACLs of every kind: named users and groups, a mask, a
/// default ACL inherited below.
fn make_tree_with_acls(root: &Path) {
    fs::create_dir_all(root.join("records/2024")).unwrap();
    fs::write(root.join("records/2024/smith.pdf"), b"%PDF smith").unwrap();
    fs::write(root.join("records/index.txt"), b"index").unwrap();
    fs::write(root.join("plain.txt"), b"no acl here").unwrap();
    for args in [
        vec!["-m", "u:65534:rw-,g:100:r--", "records/index.txt"],
        vec!["-m", "u:65534:r-x,g:0:rwx,m::r-x", "records"],
        vec!["-d", "-m", "u:65534:rwx,g:100:r-x", "records"],
        vec!["-m", "u:1234:r--", "records/2024/smith.pdf"],
    ] {
        ok(run_in(root, "setfacl", &args));
    }
    // Created after the default ACL: inherits it.
    fs::write(root.join("records/2024/jones.pdf"), b"%PDF jones").unwrap();
}

/// Every ACL below `root`, as getfacl prints them (relative names, numeric ids), one block
/// per file, sorted by name (directories list in another order on another file system).
fn all_acls(root: &Path) -> String {
    let text = ok(run_in(root, "getfacl", &["-R", "-n", "."]));
    let mut blocks: Vec<&str> = text.split("\n\n").filter(|b| !b.is_empty()).collect();
    blocks.sort_unstable();
    blocks.join("\n\n")
}

#[test]
fn acls_round_trip_through_rsync_and_tar_and_a_remount() {
    let local = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let source = local.path().join("source");
    make_tree_with_acls(&source);
    let expected = all_acls(&source);
    assert!(
        expected.contains("user:65534:rw-"),
        "the local file system lost ACLs"
    );

    let m = mount_shared();
    let rsync_to = format!("{}/", m.path("copy").display());
    ok(run_in(
        local.path(),
        "rsync",
        &["-aA", "source/", &rsync_to],
    ));
    assert_eq!(all_acls(&m.path("copy")), expected);

    let storage = m.unmount();
    let m = Mounted::mount(storage, MountOptions::default());
    assert_eq!(all_acls(&m.path("copy")), expected, "after a remount");

    // Back out with rsync, and through a tar archive.
    let rsync_from = format!("{}/", m.path("copy").display());
    ok(run_in(
        local.path(),
        "rsync",
        &["-aA", &rsync_from, "from-rsync/"],
    ));
    assert_eq!(all_acls(&local.path().join("from-rsync")), expected);
    let archive = local.path().join("copy.tar");
    ok(run_in(
        &m.path("copy"),
        "tar",
        &["--acls", "-cf", archive.to_str().unwrap(), "."],
    ));
    fs::create_dir(local.path().join("from-tar")).unwrap();
    ok(run_in(
        &local.path().join("from-tar"),
        "tar",
        &["--acls", "-xf", archive.to_str().unwrap()],
    ));
    assert_eq!(all_acls(&local.path().join("from-tar")), expected);
    // And into the container through tar.
    fs::create_dir(m.path("untarred")).unwrap();
    ok(run_in(
        &m.path("untarred"),
        "tar",
        &["--acls", "-xf", archive.to_str().unwrap()],
    ));
    assert_eq!(all_acls(&m.path("untarred")), expected);
    reopen_checked(m.unmount()).close().unwrap();
}
