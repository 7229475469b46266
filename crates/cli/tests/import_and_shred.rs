//! `secvol import` (offline) and `secvol shred` through the real binary on real containers.
//! Importing through a mount is in tests/e2e/lifecycle.rs.

#![cfg(unix)]

mod common;

use std::fs;

use common::{STRONG, Sandbox};

fn tree(sandbox: &Sandbox) -> std::path::PathBuf {
    let src = sandbox.path("Scans");
    fs::create_dir_all(src.join("2026/march")).unwrap();
    fs::write(
        src.join("2026/march/smith.pdf"),
        b"%PDF diagnosis ".repeat(70_000),
    )
    .unwrap();
    fs::write(src.join("2026/jones.txt"), b"allergies: penicillin\n").unwrap();
    fs::write(src.join("empty.txt"), b"").unwrap();
    std::os::unix::fs::symlink("2026/jones.txt", src.join("latest")).unwrap();
    src
}

#[test]
fn import_with_shred_source_moves_a_tree_into_the_container() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "8M", STRONG);
    let src = tree(&sandbox);
    let pdf = fs::read(src.join("2026/march/smith.pdf")).unwrap();
    // A hard link outside the tree shows what the original's blocks hold afterwards.
    let witness = sandbox.path("witness");
    fs::hard_link(src.join("2026/march/smith.pdf"), &witness).unwrap();
    let pw = sandbox.password_file(STRONG);
    let dest = format!("{}:/", container.display());
    let run = sandbox
        .run(&[
            "import",
            src.to_str().unwrap(),
            &dest,
            "--password-file",
            pw.to_str().unwrap(),
            "--shred-source",
        ])
        .ok();
    assert!(run.stdout.contains("Copied 3 files"), "{run:#?}");
    assert!(
        run.stdout.contains("deleted the 3 original files"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("SSDs, USB keys"), "{run:#?}");
    assert!(!src.exists(), "the originals must be gone");
    let left = fs::read(&witness).unwrap();
    assert_eq!(left.len(), pdf.len());
    assert!(
        left.iter().all(|&b| b == 0),
        "the original was not overwritten"
    );

    let cat = |inside: &str| {
        sandbox
            .run(&[
                "cat",
                &format!("{}:{inside}", container.display()),
                "--password-file",
                pw.to_str().unwrap(),
            ])
            .ok()
            .stdout
    };
    assert_eq!(cat("/Scans/2026/march/smith.pdf").as_bytes(), &pdf[..]);
    assert_eq!(cat("/Scans/2026/jones.txt"), "allergies: penicillin\n");
    let ls = sandbox
        .run(&[
            "ls",
            "-l",
            &format!("{}:/Scans", container.display()),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    assert!(ls.stdout.contains("latest -> 2026/jones.txt"), "{ls:#?}");
    assert_eq!(cat("/Scans/empty.txt"), "");
}

#[test]
fn import_without_shred_source_keeps_the_originals() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "8M", STRONG);
    let src = tree(&sandbox);
    let pw = sandbox.password_file(STRONG);
    sandbox
        .run(&[
            "import",
            src.join("2026").to_str().unwrap(),
            src.join("empty.txt").to_str().unwrap(),
            &format!("{}:/", container.display()),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    assert!(src.join("2026/march/smith.pdf").is_file());
    let ls = sandbox
        .run(&[
            "ls",
            container.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    assert_eq!(ls.stdout, "2026\nempty.txt\n");
}

#[test]
fn import_refuses_a_plain_folder_and_an_existing_name_without_deleting_anything() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "8M", STRONG);
    let src = tree(&sandbox);
    let plain = sandbox.path("plain");
    fs::create_dir(&plain).unwrap();
    let run = sandbox
        .run(&[
            "import",
            src.to_str().unwrap(),
            plain.to_str().unwrap(),
            "--shred-source",
        ])
        .fails_with(1);
    assert!(
        run.error_line()
            .contains("not inside a mounted secvol container"),
        "{run:#?}"
    );
    let pw = sandbox.password_file(STRONG);
    let dest = format!("{}:/", container.display());
    let args = [
        "import",
        src.to_str().unwrap(),
        &dest,
        "--password-file",
        pw.to_str().unwrap(),
    ];
    sandbox.run(&args).ok();
    // The same again: the files exist in the container; nothing is shredded.
    let mut again = args.to_vec();
    again.push("--shred-source");
    sandbox.run(&again).fails_with(12);
    assert!(src.join("2026/march/smith.pdf").is_file());
}

#[test]
fn import_with_a_wrong_password_exits_3_and_keeps_the_originals() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "8M", STRONG);
    let src = tree(&sandbox);
    let pw = sandbox.password_file("not the password at all");
    sandbox
        .run(&[
            "import",
            src.to_str().unwrap(),
            &format!("{}:/", container.display()),
            "--password-file",
            pw.to_str().unwrap(),
            "--shred-source",
        ])
        .fails_with(3);
    assert!(src.join("2026/march/smith.pdf").is_file());
}

#[test]
fn shred_overwrites_in_place_then_deletes() {
    let sandbox = Sandbox::new();
    let file = sandbox.path("Smith, Jane - results.pdf");
    fs::write(&file, b"secret lab results ".repeat(10_000)).unwrap();
    let witness = sandbox.path("witness");
    fs::hard_link(&file, &witness).unwrap();
    let run = sandbox.run(&["shred", file.to_str().unwrap()]).ok();
    assert!(run.stdout.contains("deleted 1 file"), "{run:#?}");
    assert!(run.stderr.contains("magnetic hard disks only"), "{run:#?}");
    assert!(!file.exists());
    let left = fs::read(&witness).unwrap();
    assert_eq!(left.len(), 190_000);
    assert!(left.iter().all(|&b| b == 0));
}

#[test]
fn shred_refuses_folders_without_r_and_containers_and_changes_nothing() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let src = tree(&sandbox);
    let loose = sandbox.path("loose.txt");
    fs::write(&loose, b"leftover").unwrap();
    let before = fs::read(&container).unwrap();
    // All arguments are checked first: the loose file survives a refused folder.
    let run = sandbox
        .run(&["shred", loose.to_str().unwrap(), src.to_str().unwrap()])
        .fails_with(1);
    assert!(run.error_line().contains("use -r"), "{run:#?}");
    assert_eq!(fs::read(&loose).unwrap(), b"leftover");
    let run = sandbox
        .run(&["shred", container.to_str().unwrap()])
        .fails_with(1);
    assert!(run.error_line().contains("secvol destroy"), "{run:#?}");
    assert_eq!(fs::read(&container).unwrap(), before);

    sandbox
        .run(&[
            "shred",
            "-r",
            src.to_str().unwrap(),
            loose.to_str().unwrap(),
        ])
        .ok();
    assert!(!src.exists() && !loose.exists());
}
