//! Header damage, `secvol header backup|restore|repair`, and the exit codes of a bad header.

#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{OTHER_STRONG, STRONG, Sandbox, backup_header_offset, flip_byte, write_at};
use sha2::{Digest, Sha256};

/// Damage the checksummed part of a header copy (offset 100 lies in its fixed fields).
fn damage_primary(path: &Path) {
    flip_byte(path, 100, 0xff);
}

fn damage_backup(path: &Path) {
    flip_byte(path, backup_header_offset(path) + 100, 0xff);
}

fn header_warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("warning:") && line.contains("header"))
        .collect()
}

#[test]
fn a_damaged_primary_header_still_opens_from_the_backup_and_header_repair_fixes_it() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    damage_primary(&container);

    let public = sandbox.run(&["info", "TimeAcct.sec"]).ok();
    assert!(
        public
            .stdout
            .contains("primary damaged (checksum mismatch), backup OK"),
        "{public:#?}"
    );
    let info = sandbox.info_with_password(&container, STRONG).ok();
    let warnings = header_warnings(&info.stderr);
    assert_eq!(warnings.len(), 1, "{info:#?}");
    assert!(
        warnings[0].contains("primary header of")
            && warnings[0].contains("damaged (checksum mismatch)")
            && warnings[0].contains("opened from the backup copy")
            && warnings[0].contains("secvol header repair"),
        "{}",
        warnings[0]
    );
    assert!(
        info.stdout.contains("authenticated (backup copy"),
        "{info:#?}"
    );

    let pw = sandbox.password_file(STRONG);
    let repair = sandbox
        .run(&[
            "header",
            "repair",
            "TimeAcct.sec",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    assert!(
        repair.stdout.contains("from the backup copy"),
        "{repair:#?}"
    );
    assert!(
        repair.stdout.contains("Now:    primary OK, backup OK"),
        "{repair:#?}"
    );

    let info = sandbox.info_with_password(&container, STRONG).ok();
    assert!(header_warnings(&info.stderr).is_empty(), "{info:#?}");
    assert!(info.stdout.contains("primary OK, backup OK"), "{info:#?}");
    assert!(
        info.stdout.contains("authenticated (primary copy"),
        "{info:#?}"
    );
}

#[test]
fn a_damaged_backup_header_is_reported_and_repaired_from_the_primary() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    damage_backup(&container);
    let info = sandbox.info_with_password(&container, STRONG).ok();
    let warnings = header_warnings(&info.stderr);
    assert_eq!(warnings.len(), 1, "{info:#?}");
    assert!(warnings[0].contains("backup header"), "{}", warnings[0]);
    let pw = sandbox.password_file(STRONG);
    let repair = sandbox
        .run(&[
            "header",
            "repair",
            "TimeAcct.sec",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    assert!(
        repair.stdout.contains("from the primary copy"),
        "{repair:#?}"
    );
    let info = sandbox.run(&["info", "TimeAcct.sec"]).ok();
    assert_eq!(info.stderr, "", "{info:#?}");
}

#[test]
fn both_headers_damaged_exits_6_and_points_to_the_header_backup() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    damage_primary(&container);
    damage_backup(&container);
    let run = sandbox.run(&["info", "TimeAcct.sec"]).fails_with(6);
    assert!(
        run.error_line().contains("both header copies are damaged")
            && run.error_line().contains("secvol header restore"),
        "{run:#?}"
    );
    sandbox.info_with_password(&container, STRONG).fails_with(6);
    let pw = sandbox.password_file(STRONG);
    sandbox
        .run(&[
            "header",
            "repair",
            "TimeAcct.sec",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .fails_with(6);
}

#[test]
fn header_backup_then_restore_brings_back_a_container_whose_headers_are_both_damaged() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let pw = sandbox.password_file(STRONG);
    let backup = sandbox
        .run(&[
            "header",
            "backup",
            "TimeAcct.sec",
            "TimeAcct.header",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    assert!(backup.stdout.contains("Saved the header"), "{backup:#?}");
    let meta = std::fs::metadata(sandbox.path("TimeAcct.header")).unwrap();
    assert_eq!(meta.len(), 4096);
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "backup must be private"
    );

    damage_primary(&container);
    damage_backup(&container);
    sandbox.info_with_password(&container, STRONG).fails_with(6);

    let restore = sandbox
        .run(&[
            "header",
            "restore",
            "TimeAcct.sec",
            "TimeAcct.header",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    assert!(
        restore.stdout.contains("Restored the header"),
        "{restore:#?}"
    );
    let info = sandbox.info_with_password(&container, STRONG).ok();
    assert!(info.stdout.contains("primary OK, backup OK"), "{info:#?}");
    assert!(header_warnings(&info.stderr).is_empty(), "{info:#?}");
    let check = sandbox
        .run(&[
            "check",
            "TimeAcct.sec",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    assert!(check.stdout.contains("no damage found"), "{check:#?}");
}

#[test]
fn header_backup_refuses_to_overwrite_an_existing_file_with_exit_12() {
    let sandbox = Sandbox::new();
    sandbox.create("TimeAcct.sec", "1M", STRONG);
    std::fs::write(sandbox.path("TimeAcct.header"), b"keep me").unwrap();
    let pw = sandbox.password_file(STRONG);
    sandbox
        .run(&[
            "header",
            "backup",
            "TimeAcct.sec",
            "TimeAcct.header",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .fails_with(12);
    assert_eq!(
        std::fs::read(sandbox.path("TimeAcct.header")).unwrap(),
        b"keep me"
    );
}

#[test]
fn a_header_backup_keeps_a_changed_password_working_as_its_help_warns() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let old = sandbox.password_file(STRONG);
    let new = sandbox.password_file(OTHER_STRONG);
    sandbox
        .run(&[
            "header",
            "backup",
            "TimeAcct.sec",
            "old.header",
            "--password-file",
            old.to_str().unwrap(),
        ])
        .ok();
    sandbox
        .run(&[
            "passwd",
            "TimeAcct.sec",
            "--password-file",
            old.to_str().unwrap(),
            "--new-password-file",
            new.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
        ])
        .ok();
    sandbox.info_with_password(&container, STRONG).fails_with(3);
    // Whoever holds the old backup and the old password gets back in.
    sandbox
        .run(&[
            "header",
            "restore",
            "TimeAcct.sec",
            "old.header",
            "--password-file",
            old.to_str().unwrap(),
        ])
        .ok();
    sandbox.info_with_password(&container, STRONG).ok();
    sandbox
        .info_with_password(&container, OTHER_STRONG)
        .fails_with(3);
}

#[test]
fn restoring_the_header_backup_of_another_container_exits_6() {
    let sandbox = Sandbox::new();
    let mine = sandbox.create("mine.sec", "1M", STRONG);
    sandbox.create("other.sec", "1M", STRONG);
    let pw = sandbox.password_file(STRONG);
    sandbox
        .run(&[
            "header",
            "backup",
            "other.sec",
            "other.header",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    let before = std::fs::read(&mine).unwrap();
    let run = sandbox
        .run(&[
            "header",
            "restore",
            "mine.sec",
            "other.header",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .fails_with(6);
    assert!(run.error_line().contains("another container"), "{run:#?}");
    assert_eq!(
        std::fs::read(&mine).unwrap(),
        before,
        "nothing may be written"
    );
}

#[test]
fn restoring_from_a_file_that_is_no_header_backup_exits_6_naming_the_file() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    std::fs::write(sandbox.path("notes.txt"), b"shopping list").unwrap();
    let mut garbage = std::fs::read(&container).unwrap();
    garbage.truncate(4096);
    garbage[100] ^= 0xff;
    std::fs::write(sandbox.path("damaged.header"), &garbage).unwrap();
    let pw = sandbox.password_file(STRONG);
    for (file, why) in [
        ("notes.txt", "exactly 4096 bytes"),
        ("damaged.header", "checksum mismatch"),
    ] {
        let run = sandbox
            .run(&[
                "header",
                "restore",
                "TimeAcct.sec",
                file,
                "--password-file",
                pw.to_str().unwrap(),
            ])
            .fails_with(6);
        assert!(
            run.error_line().contains(file) && run.error_line().contains(why),
            "{run:#?}"
        );
    }
}

#[test]
fn an_unsupported_format_version_exits_7() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let backup = backup_header_offset(&container);
    write_at(&container, 8, &[2, 0]);
    write_at(&container, backup + 8, &[2, 0]);
    let run = sandbox.run(&["info", "TimeAcct.sec"]).fails_with(7);
    assert!(
        run.error_line()
            .contains("unsupported container format version 2"),
        "{run:#?}"
    );
    sandbox.info_with_password(&container, STRONG).fails_with(7);
}

/// Rewrite the checksum of the header copy at `offset`, as an attacker can (it is unkeyed).
fn fix_checksum(path: &Path, offset: u64) {
    let bytes = std::fs::read(path).unwrap();
    let start = offset as usize;
    let sum = Sha256::digest(&bytes[start..start + 4096 - 32]);
    write_at(path, offset + 4096 - 32, &sum);
}

#[test]
fn a_header_whose_fields_were_changed_exits_6_as_tampered() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let backup = backup_header_offset(&container);
    // Offset 12 holds the flags; bit 0 (created with --quick) is a valid value either way,
    // so only the header MAC can tell that it was changed.
    for offset in [0, backup] {
        flip_byte(&container, offset + 12, 0x01);
        fix_checksum(&container, offset);
    }
    sandbox.run(&["info", "TimeAcct.sec"]).ok();
    let run = sandbox.info_with_password(&container, STRONG).fails_with(6);
    assert!(
        run.error_line().contains("failed authentication"),
        "{run:#?}"
    );
}
