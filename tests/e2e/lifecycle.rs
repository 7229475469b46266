//! Keyfiles and recovery keys at mount time, importing through a mount, and shredding
//! refused inside a mount.

use std::ffi::OsStr;
use std::fs;

use crate::harness::{Sandbox, is_mounted};

/// `key add` of a keyfile-only keyslot (the keyfile created by secvol) and of a recovery key;
/// returns (keyfile path, recovery key file path).
fn add_keyfile_and_recovery_key(
    sandbox: &Sandbox,
    container: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let keyfile = sandbox.path("clinic.key");
    sandbox
        .secvol(&[
            OsStr::new("key"),
            OsStr::new("add"),
            container.as_os_str(),
            OsStr::new("--password-file"),
            sandbox.password_file.as_os_str(),
            OsStr::new("--new-keyfile"),
            keyfile.as_os_str(),
            OsStr::new("--create-keyfile"),
            OsStr::new("--keyfile-only"),
            OsStr::new("--scrypt-log-n"),
            OsStr::new("10"),
        ])
        .ok();
    let run = sandbox
        .secvol(&[
            OsStr::new("key"),
            OsStr::new("add"),
            container.as_os_str(),
            OsStr::new("--password-file"),
            sandbox.password_file.as_os_str(),
            OsStr::new("--recovery"),
        ])
        .ok();
    let key = run
        .stdout
        .lines()
        .map(str::trim)
        // 13 groups of 5 characters joined by dashes (not any line of that length: the
        // "Added keyslot" line names the container's path, which can have 77 characters).
        .find(|line| {
            let groups: Vec<&str> = line.split('-').collect();
            groups.len() == 13
                && groups
                    .iter()
                    .all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_alphanumeric()))
        })
        .expect("the recovery key is printed")
        .to_owned();
    let key_file = sandbox.path("recovery.txt");
    fs::write(&key_file, format!("{key}\n")).unwrap();
    (keyfile, key_file)
}

fn mount_with(
    sandbox: &Sandbox,
    container: &std::path::Path,
    mnt: &std::path::Path,
    flag: &str,
    file: &std::path::Path,
) {
    sandbox
        .secvol(&[
            OsStr::new("mount"),
            container.as_os_str(),
            mnt.as_os_str(),
            OsStr::new(flag),
            file.as_os_str(),
        ])
        .ok();
    assert!(is_mounted(mnt));
}

#[test]
fn a_keyfile_alone_and_a_recovery_key_each_mount_the_container() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let (keyfile, recovery) = add_keyfile_and_recovery_key(&sandbox, &container);
    let mnt = sandbox.path("TimeAcct");

    mount_with(&sandbox, &container, &mnt, "--keyfile", &keyfile);
    fs::write(
        mnt.join("via-keyfile.txt"),
        b"written through a keyfile mount",
    )
    .unwrap();
    sandbox.unmount(&mnt);

    mount_with(&sandbox, &container, &mnt, "--recovery-key-file", &recovery);
    assert_eq!(
        fs::read(mnt.join("via-keyfile.txt")).unwrap(),
        b"written through a keyfile mount"
    );
    sandbox.unmount(&mnt);

    // A wrong keyfile: the daemon's refusal comes back with exit code 3, nothing mounted.
    let wrong = sandbox.path("wrong.key");
    fs::write(&wrong, [7u8; 64]).unwrap();
    let run = sandbox.secvol(&[
        OsStr::new("mount"),
        container.as_os_str(),
        mnt.as_os_str(),
        OsStr::new("--keyfile"),
        wrong.as_os_str(),
    ]);
    assert_eq!(run.code, Some(3), "{run:#?}");
    assert!(!is_mounted(&mnt));
    sandbox.check_clean(&container);
}

#[test]
fn a_mounted_container_grows_with_a_keyfile_or_a_recovery_key_and_a_wrong_keyfile_changes_nothing()
{
    let sandbox = Sandbox::new();
    let container = sandbox.create("Grow.sec", "8M");
    let (keyfile, recovery) = add_keyfile_and_recovery_key(&sandbox, &container);
    let mnt = sandbox.path("grow");
    sandbox.mount(&container, &mnt);
    let grow = |flag: &str, file: &std::path::Path| {
        sandbox.secvol(&[
            OsStr::new("resize"),
            container.as_os_str(),
            OsStr::new("--size"),
            OsStr::new("+8M"),
            OsStr::new("--quick"),
            OsStr::new(flag),
            file.as_os_str(),
        ])
    };
    let len = || fs::metadata(&container).unwrap().len();

    let wrong = sandbox.path("wrong.key");
    fs::write(&wrong, [7u8; 64]).unwrap();
    grow("--keyfile", &wrong).fails_with(3);
    assert_eq!(len(), 8 << 20, "a refused grow changed the container");

    let run = grow("--keyfile", &keyfile).ok();
    assert!(run.stdout.contains("while mounted"), "{run:#?}");
    assert_eq!(len(), 16 << 20);
    grow("--recovery-key-file", &recovery).ok();
    assert_eq!(len(), 24 << 20);

    // The mount uses the new space: 12 MiB do not fit the first 8 MiB.
    let data = crate::harness::pattern(5, 12 << 20);
    fs::write(mnt.join("big.bin"), &data).unwrap();
    sandbox.unmount(&mnt);
    sandbox.mount(&container, &mnt);
    assert!(fs::read(mnt.join("big.bin")).unwrap() == data);
    sandbox.unmount(&mnt);
    sandbox.check_clean(&container);
}

#[test]
fn import_through_a_mount_verifies_then_shreds_and_shred_refuses_inside_the_mount() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let mnt = sandbox.path("TimeAcct");
    let src = sandbox.path("Scans");
    fs::create_dir_all(src.join("2026")).unwrap();
    let pdf = b"%PDF diagnosis ".repeat(50_000);
    fs::write(src.join("2026/smith.pdf"), &pdf).unwrap();
    fs::write(src.join("notes.txt"), b"call back on Monday").unwrap();

    sandbox.mount(&container, &mnt);
    // CONTAINER:/ of a mounted container goes through the mount: no password needed.
    let run = sandbox
        .secvol(&[
            OsStr::new("import"),
            src.as_os_str(),
            OsStr::new(&format!("{}:/", container.display())),
            OsStr::new("--shred-source"),
        ])
        .ok();
    assert!(run.stdout.contains("Copied 2 files"), "{run:#?}");
    assert!(!src.exists());
    assert_eq!(fs::read(mnt.join("Scans/2026/smith.pdf")).unwrap(), pdf);

    // A folder inside the mount as DEST works too.
    let more = sandbox.path("more.txt");
    fs::write(&more, b"second batch").unwrap();
    sandbox
        .secvol(&[
            OsStr::new("import"),
            more.as_os_str(),
            mnt.join("Scans").as_os_str(),
            OsStr::new("--shred-source"),
        ])
        .ok();
    assert!(!more.exists());

    // Inside the mount there is nothing to shred: refused, file kept.
    let inside = mnt.join("Scans/notes.txt");
    let run = sandbox.secvol(&[OsStr::new("shred"), inside.as_os_str()]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("stored encrypted"), "{run:#?}");
    assert_eq!(fs::read(&inside).unwrap(), b"call back on Monday");
    sandbox.unmount(&mnt);

    // After unmounting, the files are in the container file.
    let cat = sandbox
        .secvol(&[
            OsStr::new("cat"),
            OsStr::new(&format!("{}:/Scans/more.txt", container.display())),
            OsStr::new("--password-file"),
            sandbox.password_file.as_os_str(),
        ])
        .ok();
    assert_eq!(cat.stdout, "second batch");
    sandbox.check_clean(&container);
}
