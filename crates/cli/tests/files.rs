//! The offline commands (`ls`, `cat`, `get`, `put`, `mkdir`, `rm`, `mv`) on real containers.

#![cfg(unix)]

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{Run, STRONG, Sandbox};

/// Run `secvol ARGS... --password-file <STRONG>`.
fn with_password(sandbox: &Sandbox, args: &[&OsStr]) -> Run {
    let pw = sandbox.password_file(STRONG);
    let mut all: Vec<&OsStr> = args.to_vec();
    all.push(OsStr::new("--password-file"));
    all.push(pw.as_os_str());
    sandbox.run(&all)
}

fn inside(container: &Path, path: &str) -> std::ffi::OsString {
    format!("{}:{path}", container.display()).into()
}

/// A small local tree: two files with distinct modes and times, a subdirectory, a symlink.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("scans/2026")).unwrap();
    std::fs::write(root.join("notes.txt"), b"patient 17: follow-up in March\n").unwrap();
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(root.join("scans/2026/scan-001.pdf"), &big).unwrap();
    std::fs::set_permissions(
        root.join("notes.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    std::fs::File::options()
        .write(true)
        .open(root.join("notes.txt"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    std::os::unix::fs::symlink("scans/2026/scan-001.pdf", root.join("latest")).unwrap();
}

fn assert_same_tree(a: &Path, b: &Path) {
    let status = Command::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(a)
        .arg(b)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{} and {} differ",
        a.display(),
        b.display()
    );
}

#[test]
fn put_then_get_gives_back_the_same_tree_with_modes_and_times() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "4M", STRONG);
    let src = sandbox.path("records");
    make_tree(&src);

    let run = with_password(
        &sandbox,
        &[OsStr::new("put"), src.as_os_str(), &inside(&container, "/")],
    )
    .ok();
    assert!(
        run.stderr.contains("Copied 2 files (300031 bytes)"),
        "{run:#?}"
    );

    let out = sandbox.path("restored");
    with_password(
        &sandbox,
        &[
            OsStr::new("get"),
            &inside(&container, "/records"),
            out.as_os_str(),
        ],
    )
    .ok();
    assert_same_tree(&src, &out);
    let meta = std::fs::metadata(out.join("notes.txt")).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!(meta.mtime(), 1_700_000_000);
    assert_eq!(
        std::fs::read_link(out.join("latest")).unwrap(),
        Path::new("scans/2026/scan-001.pdf")
    );

    // And the container checks clean.
    with_password(&sandbox, &[OsStr::new("check"), container.as_os_str()]).ok();
}

#[test]
fn ls_and_cat_show_what_is_inside() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "4M", STRONG);
    let src = sandbox.path("records");
    make_tree(&src);
    with_password(
        &sandbox,
        &[OsStr::new("put"), src.as_os_str(), &inside(&container, "/")],
    )
    .ok();

    let run = with_password(&sandbox, &[OsStr::new("ls"), container.as_os_str()]).ok();
    assert_eq!(run.stdout, "records\n");
    let run = with_password(
        &sandbox,
        &[OsStr::new("ls"), &inside(&container, "/records")],
    )
    .ok();
    assert_eq!(run.stdout, "latest\nnotes.txt\nscans\n");
    let run = with_password(
        &sandbox,
        &[
            OsStr::new("ls"),
            OsStr::new("-l"),
            &inside(&container, "/records"),
        ],
    )
    .ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("lrwxrwxrwx"), "{run:#?}");
    assert!(
        lines[0].ends_with("latest -> scans/2026/scan-001.pdf"),
        "{run:#?}"
    );
    assert!(lines[1].starts_with("-rw-r-----"), "{run:#?}");
    assert!(
        lines[1].contains(" 31 2023-11-14 22:13 notes.txt"),
        "{run:#?}"
    );
    assert!(lines[2].starts_with("drwxr-xr-x"), "{run:#?}");

    let run = with_password(
        &sandbox,
        &[OsStr::new("cat"), &inside(&container, "/records/notes.txt")],
    )
    .ok();
    assert_eq!(run.stdout, "patient 17: follow-up in March\n");

    let run = with_password(
        &sandbox,
        &[
            OsStr::new("cat"),
            &inside(&container, "/records/missing.txt"),
        ],
    )
    .fails_with(1);
    assert!(
        run.error_line()
            .contains("/records/missing.txt: no such file or directory"),
        "{run:#?}"
    );
}

#[test]
fn mkdir_mv_and_rm_change_the_tree() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "4M", STRONG);
    let src = sandbox.path("records");
    make_tree(&src);
    with_password(
        &sandbox,
        &[OsStr::new("put"), src.as_os_str(), &inside(&container, "/")],
    )
    .ok();

    with_password(
        &sandbox,
        &[
            OsStr::new("mkdir"),
            OsStr::new("-p"),
            &inside(&container, "/archive/2025/q4"),
        ],
    )
    .ok();
    // mkdir of an existing directory without -p: exit 12.
    with_password(
        &sandbox,
        &[OsStr::new("mkdir"), &inside(&container, "/archive")],
    )
    .fails_with(12);
    // Into an existing directory, mv keeps the name.
    with_password(
        &sandbox,
        &[
            OsStr::new("mv"),
            &inside(&container, "/records/notes.txt"),
            OsStr::new("/archive/2025/q4"),
        ],
    )
    .ok();
    let run = with_password(
        &sandbox,
        &[OsStr::new("ls"), &inside(&container, "/archive/2025/q4")],
    )
    .ok();
    assert_eq!(run.stdout, "notes.txt\n");

    // rm of a directory needs -r.
    let run = with_password(
        &sandbox,
        &[OsStr::new("rm"), &inside(&container, "/records")],
    )
    .fails_with(1);
    assert!(run.error_line().contains("is a directory"), "{run:#?}");
    with_password(
        &sandbox,
        &[
            OsStr::new("rm"),
            OsStr::new("-r"),
            &inside(&container, "/records"),
        ],
    )
    .ok();
    let run = with_password(&sandbox, &[OsStr::new("ls"), container.as_os_str()]).ok();
    assert_eq!(run.stdout, "archive\n");
    let run = with_password(&sandbox, &[OsStr::new("check"), container.as_os_str()]).ok();
    assert!(run.stdout.contains("1 file, 4 directories"), "{run:#?}");
}

#[test]
fn existing_files_are_not_replaced_without_force() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "4M", STRONG);
    let local = sandbox.path("letter.txt");
    std::fs::write(&local, b"first version").unwrap();
    with_password(
        &sandbox,
        &[
            OsStr::new("put"),
            local.as_os_str(),
            &inside(&container, "/"),
        ],
    )
    .ok();
    std::fs::write(&local, b"second version").unwrap();
    let run = with_password(
        &sandbox,
        &[
            OsStr::new("put"),
            local.as_os_str(),
            &inside(&container, "/"),
        ],
    )
    .fails_with(12);
    assert!(run.error_line().contains("--force"), "{run:#?}");
    with_password(
        &sandbox,
        &[
            OsStr::new("put"),
            OsStr::new("--force"),
            local.as_os_str(),
            &inside(&container, "/"),
        ],
    )
    .ok();
    let run = with_password(
        &sandbox,
        &[OsStr::new("cat"), &inside(&container, "/letter.txt")],
    )
    .ok();
    assert_eq!(run.stdout, "second version");

    // get refuses to overwrite a local file too.
    with_password(
        &sandbox,
        &[
            OsStr::new("get"),
            &inside(&container, "/letter.txt"),
            local.as_os_str(),
        ],
    )
    .fails_with(12);
}

#[test]
fn a_wrong_password_is_refused_before_anything_is_touched() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "4M", STRONG);
    let pw = sandbox.password_file("not-the-password-at-all-99");
    let run = sandbox
        .run(&[
            OsStr::new("ls"),
            container.as_os_str(),
            OsStr::new("--password-file"),
            pw.as_os_str(),
        ])
        .fails_with(3);
    assert!(run.error_line().contains("wrong password"), "{run:#?}");
}

#[test]
fn a_killed_put_leaves_a_container_that_opens_and_checks_clean() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "96M", STRONG);
    // Many files, so the kill lands in the middle of the copy (after some commits).
    let src = sandbox.path("many");
    std::fs::create_dir(&src).unwrap();
    for i in 0..400 {
        let data = vec![(i % 251) as u8; 100_000 + i * 37];
        std::fs::write(src.join(format!("file-{i:04}.bin")), data).unwrap();
    }
    let pw = sandbox.password_file(STRONG);
    let mut killed_while_copying = 0;
    for delay_ms in [150u64, 400, 900] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_secvol"))
            .arg("put")
            .arg("--force")
            .arg(&src)
            .arg(inside(&container, "/"))
            .arg("--password-file")
            .arg(&pw)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            killed_while_copying += 1;
        }
        let _ = child.kill();
        child.wait().unwrap();
        let run = with_password(&sandbox, &[OsStr::new("check"), container.as_os_str()]).ok();
        assert!(run.stdout.contains("no damage found"), "{run:#?}");
    }
    assert!(
        killed_while_copying > 0,
        "every put finished before it was killed: the test proved nothing"
    );
    // Every file present after the kills is a complete, correct copy or was being
    // written; a final complete put makes the whole tree equal.
    with_password(
        &sandbox,
        &[
            OsStr::new("put"),
            OsStr::new("--force"),
            src.as_os_str(),
            &inside(&container, "/"),
        ],
    )
    .ok();
    let out = sandbox.path("out");
    with_password(
        &sandbox,
        &[
            OsStr::new("get"),
            &inside(&container, "/many"),
            out.as_os_str(),
        ],
    )
    .ok();
    assert_same_tree(&src, &out);
}
