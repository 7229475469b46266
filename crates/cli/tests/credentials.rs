//! Recovery keys (`key add --recovery`, `--recovery-key-file`) and keyfiles (`--keyfile`,
//! `key add --new-keyfile`) through the real binary on real containers.

#![cfg(unix)]

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{OTHER_STRONG, STRONG, Sandbox};

/// `key add --recovery`, returning the printed key.
fn add_recovery_key(sandbox: &Sandbox, container: &Path) -> String {
    let pw = sandbox.password_file(STRONG);
    let run = sandbox
        .run(&[
            OsStr::new("key"),
            OsStr::new("add"),
            container.as_os_str(),
            OsStr::new("--password-file"),
            pw.as_os_str(),
            OsStr::new("--recovery"),
        ])
        .ok();
    assert!(run.stdout.contains("shown only this once"), "{run:#?}");
    run.stdout
        .lines()
        .map(str::trim)
        .find(|line| line.len() == 77 && line.matches('-').count() == 12)
        .unwrap_or_else(|| panic!("no recovery key printed: {run:#?}"))
        .to_owned()
}

fn key_file(sandbox: &Sandbox, text: &str) -> std::path::PathBuf {
    let count = std::fs::read_dir(sandbox.path(".")).unwrap().count();
    let path = sandbox.path(&format!("rk-{count}.txt"));
    std::fs::write(&path, format!("{text}\n")).unwrap();
    path
}

#[test]
fn a_recovery_key_opens_the_container_everywhere_a_password_does() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let key = add_recovery_key(&sandbox, &container);
    let file = key_file(&sandbox, &key);
    let name = container.to_str().unwrap();
    let rk = file.to_str().unwrap();

    let info = sandbox.run(&["info", name, "--recovery-key-file", rk]).ok();
    assert!(info.stdout.contains("opened keyslot 1"), "{info:#?}");
    assert!(info.stdout.contains("recovery key"), "{info:#?}");
    sandbox
        .run(&["check", name, "--recovery-key-file", rk])
        .ok();
    sandbox
        .run(&[
            "mkdir",
            &format!("{name}:/notes"),
            "--recovery-key-file",
            rk,
        ])
        .ok();
    let ls = sandbox.run(&["ls", name, "--recovery-key-file", rk]).ok();
    assert_eq!(ls.stdout, "notes\n");
    // Typed (or pasted) on standard input, lowercase and with spaces for dashes.
    let sloppy = key.to_lowercase().replace('-', " ");
    sandbox
        .run_with_stdin(
            &["ls", name, "--recovery-key-file", "-"],
            &format!("{sloppy}\n"),
        )
        .ok();
}

#[test]
fn a_mistyped_group_of_the_recovery_key_is_named_and_exits_3() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let key = add_recovery_key(&sandbox, &container);
    // Change one character of group 4 (characters 18..23 with dashes).
    let mut chars: Vec<char> = key.chars().collect();
    chars[19] = if chars[19] == 'A' { 'B' } else { 'A' };
    let typo: String = chars.into_iter().collect();
    let file = key_file(&sandbox, &typo);
    let run = sandbox
        .run(&[
            "info",
            container.to_str().unwrap(),
            "--recovery-key-file",
            file.to_str().unwrap(),
        ])
        .fails_with(3);
    assert!(
        run.error_line()
            .contains("group 4 of the recovery key is mistyped"),
        "{run:#?}"
    );
}

#[test]
fn a_forgotten_password_is_replaced_with_the_recovery_key() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let key = add_recovery_key(&sandbox, &container);
    let rk = key_file(&sandbox, &key);
    let new = sandbox.password_file(OTHER_STRONG);
    let name = container.to_str().unwrap();
    // passwd cannot change the recovery slot itself, and says what to do.
    let run = sandbox
        .run(&[
            "passwd",
            name,
            "--recovery-key-file",
            rk.to_str().unwrap(),
            "--new-password-file",
            new.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
        ])
        .fails_with(1);
    assert!(run.error_line().contains("secvol key add"), "{run:#?}");
    sandbox
        .run(&[
            "key",
            "add",
            name,
            "--recovery-key-file",
            rk.to_str().unwrap(),
            "--new-password-file",
            new.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
        ])
        .ok();
    sandbox
        .run(&[
            "key",
            "remove",
            name,
            "--recovery-key-file",
            rk.to_str().unwrap(),
            "--slot",
            "0",
        ])
        .ok();
    sandbox.info_with_password(&container, STRONG).fails_with(3);
    sandbox.info_with_password(&container, OTHER_STRONG).ok();
}

#[test]
fn a_recovery_key_and_a_password_cannot_both_be_given() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let pw = sandbox.password_file(STRONG);
    let rk = key_file(&sandbox, "x");
    let run = sandbox.run(&[
        "info",
        container.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
        "--recovery-key-file",
        rk.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{run:#?}");
}

/// `key add --new-keyfile KEYFILE --create-keyfile` (with a password, or `--keyfile-only`).
fn add_keyfile_slot(sandbox: &Sandbox, container: &Path, keyfile: &Path, alone: bool) {
    let pw = sandbox.password_file(STRONG);
    let new = sandbox.password_file(OTHER_STRONG);
    let mut args = vec![
        OsStr::new("key"),
        OsStr::new("add"),
        container.as_os_str(),
        OsStr::new("--password-file"),
        pw.as_os_str(),
        OsStr::new("--new-keyfile"),
        keyfile.as_os_str(),
        OsStr::new("--create-keyfile"),
        OsStr::new("--scrypt-log-n"),
        OsStr::new("10"),
    ];
    if alone {
        args.push(OsStr::new("--keyfile-only"));
    } else {
        args.extend([OsStr::new("--new-password-file"), new.as_os_str()]);
    }
    let run = sandbox.run(&args).ok();
    assert!(run.stdout.contains("Created the keyfile"), "{run:#?}");
    assert_eq!(std::fs::metadata(keyfile).unwrap().len(), 64);
}

#[test]
fn a_keyfile_alone_opens_its_keyslot_without_any_password() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let keyfile = sandbox.path("clinic.key");
    add_keyfile_slot(&sandbox, &container, &keyfile, true);
    let name = container.to_str().unwrap();
    // No --password-file and no terminal: it would fail if a password were asked for.
    let info = sandbox
        .run(&["info", name, "--keyfile", keyfile.to_str().unwrap()])
        .ok();
    assert!(info.stdout.contains("opened keyslot 1"), "{info:#?}");
    let list = sandbox.run(&["key", "list", name]).ok();
    assert!(list.stdout.contains("keyfile, scrypt"), "{list:#?}");
}

#[test]
fn a_keyfile_with_a_password_needs_both_and_a_wrong_keyfile_exits_3() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let keyfile = sandbox.path("clinic.key");
    add_keyfile_slot(&sandbox, &container, &keyfile, false);
    let name = container.to_str().unwrap();
    let kf = keyfile.to_str().unwrap();
    let pw = sandbox.password_file(OTHER_STRONG);
    let pw = pw.to_str().unwrap();

    let info = sandbox
        .run(&["info", name, "--keyfile", kf, "--password-file", pw])
        .ok();
    assert!(info.stdout.contains("opened keyslot 1"), "{info:#?}");
    assert!(info.stdout.contains("password + keyfile"), "{info:#?}");
    // The password alone is not enough (slot 0 has another password).
    sandbox
        .info_with_password(&container, OTHER_STRONG)
        .fails_with(3);
    // The keyfile without the password: a password is needed and there is no terminal.
    let run = sandbox.run(&["info", name, "--keyfile", kf]).fails_with(1);
    assert!(run.error_line().contains("no terminal"), "{run:#?}");
    // A keyfile that differs in one byte.
    let mut bytes = std::fs::read(&keyfile).unwrap();
    bytes[10] ^= 1;
    let wrong = sandbox.path("wrong.key");
    std::fs::write(&wrong, bytes).unwrap();
    let run = sandbox
        .run(&[
            "info",
            name,
            "--keyfile",
            wrong.to_str().unwrap(),
            "--password-file",
            pw,
        ])
        .fails_with(3);
    assert!(
        run.error_line()
            .contains("no keyslot of this container opens with this password and keyfile"),
        "{run:#?}"
    );
}

#[test]
fn passwd_keeps_the_keyfile_of_a_password_and_keyfile_keyslot() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let keyfile = sandbox.path("clinic.key");
    add_keyfile_slot(&sandbox, &container, &keyfile, false);
    let name = container.to_str().unwrap();
    let kf = keyfile.to_str().unwrap();
    let old = sandbox.password_file(OTHER_STRONG);
    let new_password = "ferry-lantern-orchid-basalt-93";
    let new = sandbox.password_file(new_password);
    sandbox
        .run(&[
            "passwd",
            name,
            "--keyfile",
            kf,
            "--password-file",
            old.to_str().unwrap(),
            "--new-password-file",
            new.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
        ])
        .ok();
    let with_new = sandbox.password_file(new_password);
    sandbox
        .run(&[
            "info",
            name,
            "--keyfile",
            kf,
            "--password-file",
            with_new.to_str().unwrap(),
        ])
        .ok();
    // Without the keyfile the new password does not open anything.
    sandbox
        .info_with_password(&container, new_password)
        .fails_with(3);
}

#[test]
fn a_short_keyfile_is_refused_for_a_keyfile_only_keyslot() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let short = sandbox.path("short.key");
    std::fs::write(&short, b"password123").unwrap();
    let pw = sandbox.password_file(STRONG);
    let run = sandbox
        .run(&[
            "key",
            "add",
            container.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
            "--new-keyfile",
            short.to_str().unwrap(),
            "--keyfile-only",
            "--scrypt-log-n",
            "10",
        ])
        .fails_with(9);
    assert!(run.error_line().contains("only 11 bytes"), "{run:#?}");
}

#[test]
fn create_with_a_keyfile_makes_keyslot_0_need_it_alone_or_with_the_password() {
    let sandbox = Sandbox::new();
    let pw = sandbox.password_file(STRONG);
    let pw = pw.to_str().unwrap();
    // `create NAME --size 1M --quick --keyfile KEYFILE EXTRA... --scrypt-log-n 10`
    let create = |name: &str, keyfile: &Path, extra: &[&str]| {
        let container = sandbox.path(name);
        let mut args = vec![
            "create",
            container.to_str().unwrap(),
            "--size",
            "1M",
            "--quick",
            "--keyfile",
            keyfile.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
        ];
        args.extend_from_slice(extra);
        (sandbox.run(&args), container)
    };

    // Keyfile alone: created by secvol, no password asked (no terminal here).
    let keyfile = sandbox.path("alone.key");
    let (run, alone) = create(
        "Alone.sec",
        &keyfile,
        &["--create-keyfile", "--keyfile-only"],
    );
    let run = run.ok();
    assert!(
        run.stdout.contains("Keyslot 0:") && run.stdout.contains("the keyfile alone"),
        "{run:#?}"
    );
    assert_eq!(std::fs::metadata(&keyfile).unwrap().len(), 64);
    let (alone, kf) = (alone.to_str().unwrap(), keyfile.to_str().unwrap());
    let info = sandbox.run(&["info", alone, "--keyfile", kf]).ok();
    assert!(info.stdout.contains("opened keyslot 0"), "{info:#?}");
    sandbox
        .run(&["info", alone, "--password-file", pw])
        .fails_with(3);

    // Keyfile with a password: both are needed.
    let keyfile = sandbox.path("both.key");
    let (run, both) = create(
        "Both.sec",
        &keyfile,
        &["--create-keyfile", "--password-file", pw],
    );
    run.ok();
    let (both, kf) = (both.to_str().unwrap(), keyfile.to_str().unwrap());
    let info = sandbox
        .run(&["info", both, "--keyfile", kf, "--password-file", pw])
        .ok();
    assert!(info.stdout.contains("password + keyfile"), "{info:#?}");
    sandbox
        .run(&["info", both, "--password-file", pw])
        .fails_with(3);
    let other = sandbox.path("alone.key");
    sandbox
        .run(&[
            "info",
            both,
            "--keyfile",
            other.to_str().unwrap(),
            "--password-file",
            pw,
        ])
        .fails_with(3);

    // An existing keyfile is never overwritten by --create-keyfile, and nothing is created.
    let (run, third) = create(
        "Third.sec",
        &keyfile,
        &["--create-keyfile", "--keyfile-only"],
    );
    let run = run.fails_with(12);
    assert!(run.error_line().contains("both.key"), "{run:#?}");
    assert!(!third.exists());
    // A short keyfile cannot open a container alone.
    let short = sandbox.path("short.key");
    std::fs::write(&short, b"password123").unwrap();
    let (run, fourth) = create("Fourth.sec", &short, &["--keyfile-only"]);
    run.fails_with(9);
    assert!(!fourth.exists());
}
