//! `secvol passwd` and `secvol key add|remove|list`.

#![cfg(unix)]

mod common;

use std::time::{Duration, SystemTime};

use common::{OTHER_STRONG, STRONG, Sandbox};

fn passwd(sandbox: &Sandbox, container: &str, old: &str, new: &str) -> common::Run {
    let old = sandbox.password_file(old);
    let new = sandbox.password_file(new);
    sandbox.run(&[
        "passwd",
        container,
        "--password-file",
        old.to_str().unwrap(),
        "--new-password-file",
        new.to_str().unwrap(),
        "--scrypt-log-n",
        "10",
    ])
}

fn key_add(sandbox: &Sandbox, container: &str, existing: &str, new: &str) -> common::Run {
    let existing = sandbox.password_file(existing);
    let new = sandbox.password_file(new);
    sandbox.run(&[
        "key",
        "add",
        container,
        "--password-file",
        existing.to_str().unwrap(),
        "--new-password-file",
        new.to_str().unwrap(),
        "--scrypt-log-n",
        "10",
    ])
}

fn key_remove(sandbox: &Sandbox, container: &str, password: &str, slot: &str) -> common::Run {
    let pw = sandbox.password_file(password);
    sandbox.run(&[
        "key",
        "remove",
        container,
        "--password-file",
        pw.to_str().unwrap(),
        "--slot",
        slot,
    ])
}

#[test]
fn passwd_replaces_the_old_password_with_the_new_one() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let run = passwd(&sandbox, "TimeAcct.sec", STRONG, OTHER_STRONG).ok();
    assert!(run.stdout.contains("keyslot 0"), "{run:#?}");
    sandbox.info_with_password(&container, STRONG).fails_with(3);
    let info = sandbox.info_with_password(&container, OTHER_STRONG).ok();
    assert!(info.stdout.contains("opened keyslot 0"), "{info:#?}");
    assert!(info.stdout.contains("1 of 16: 0"), "{info:#?}");
}

#[test]
fn passwd_with_a_wrong_current_password_exits_3_and_changes_nothing() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let before = std::fs::read(&container).unwrap();
    passwd(
        &sandbox,
        "TimeAcct.sec",
        "not-the-password-at-all",
        OTHER_STRONG,
    )
    .fails_with(3);
    assert_eq!(std::fs::read(&container).unwrap(), before);
}

#[test]
fn passwd_refuses_a_weak_new_password_and_keeps_the_old_one() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let run = passwd(&sandbox, "TimeAcct.sec", STRONG, "Password1").fails_with(9);
    assert!(run.error_line().contains("too weak"), "{run:#?}");
    sandbox.info_with_password(&container, STRONG).ok();
}

#[test]
fn passwd_changes_the_container_modification_time() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&container)
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    let before = std::fs::metadata(&container).unwrap().modified().unwrap();
    passwd(&sandbox, "TimeAcct.sec", STRONG, OTHER_STRONG).ok();
    let after = std::fs::metadata(&container).unwrap().modified().unwrap();
    assert!(
        after > before + Duration::from_secs(1800),
        "mtime {after:?} not updated from {before:?}"
    );
}

#[test]
fn passwd_reads_the_new_password_from_standard_input() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let old = sandbox.password_file(STRONG);
    sandbox
        .run_with_stdin(
            &[
                "passwd",
                "TimeAcct.sec",
                "--password-file",
                old.to_str().unwrap(),
                "--new-password-file",
                "-",
                "--scrypt-log-n",
                "10",
            ],
            &format!("{OTHER_STRONG}\n"),
        )
        .ok();
    sandbox.info_with_password(&container, OTHER_STRONG).ok();
}

#[test]
fn key_add_fills_all_16_slots_and_the_17th_add_fails_clearly() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let passwords: Vec<String> = (1..16)
        .map(|i| format!("recovery-{i}-walnut-lantern-orbit"))
        .collect();
    for (i, password) in passwords.iter().enumerate() {
        let run = key_add(&sandbox, "TimeAcct.sec", STRONG, password).ok();
        assert!(
            run.stdout.contains(&format!("Added keyslot {}", i + 1)),
            "{run:#?}"
        );
    }
    for (slot, password) in std::iter::once(STRONG)
        .chain(passwords.iter().map(String::as_str))
        .enumerate()
    {
        let info = sandbox.info_with_password(&container, password).ok();
        assert!(
            info.stdout.contains(&format!("opened keyslot {slot}\n")),
            "{password}: {info:#?}"
        );
    }
    let run = key_add(
        &sandbox,
        "TimeAcct.sec",
        STRONG,
        "one-too-many-keys-for-this",
    )
    .fails_with(1);
    assert!(
        run.error_line().contains("all 16 keyslots are in use"),
        "{run:#?}"
    );
    let list = sandbox.run(&["key", "list", "TimeAcct.sec"]).ok();
    assert!(list.stdout.contains("16 of 16"), "{list:#?}");
}

#[test]
fn key_add_refuses_a_weak_new_password() {
    let sandbox = Sandbox::new();
    sandbox.create("TimeAcct.sec", "1M", STRONG);
    key_add(&sandbox, "TimeAcct.sec", STRONG, "12345678").fails_with(9);
    let list = sandbox.run(&["key", "list", "TimeAcct.sec"]).ok();
    assert!(list.stdout.contains("1 of 16"), "{list:#?}");
}

#[test]
fn key_remove_refuses_to_remove_the_last_keyslot() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let run = key_remove(&sandbox, "TimeAcct.sec", STRONG, "0").fails_with(1);
    assert!(run.error_line().contains("last one"), "{run:#?}");
    sandbox.info_with_password(&container, STRONG).ok();
}

#[test]
fn key_remove_frees_a_slot_and_warns_when_it_is_the_callers_own() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    key_add(&sandbox, "TimeAcct.sec", STRONG, OTHER_STRONG).ok();

    // Removing another slot: no warning.
    let run = key_remove(&sandbox, "TimeAcct.sec", STRONG, "1").ok();
    assert!(!run.stderr.contains("warning"), "{run:#?}");
    assert!(
        run.stdout.contains("Keyslots in use: 1 of 16: 0"),
        "{run:#?}"
    );
    sandbox
        .info_with_password(&container, OTHER_STRONG)
        .fails_with(3);

    // Removing one's own slot: done, with a warning.
    key_add(&sandbox, "TimeAcct.sec", STRONG, OTHER_STRONG).ok();
    let run = key_remove(&sandbox, "TimeAcct.sec", OTHER_STRONG, "1").ok();
    assert!(
        run.stderr
            .contains("warning: keyslot 1 held the password you just typed"),
        "{run:#?}"
    );
    sandbox
        .info_with_password(&container, OTHER_STRONG)
        .fails_with(3);
    sandbox.info_with_password(&container, STRONG).ok();
}

#[test]
fn key_remove_of_an_empty_slot_fails_with_1_and_of_a_nonexistent_one_with_2() {
    let sandbox = Sandbox::new();
    sandbox.create("TimeAcct.sec", "1M", STRONG);
    key_add(&sandbox, "TimeAcct.sec", STRONG, OTHER_STRONG).ok();
    let run = key_remove(&sandbox, "TimeAcct.sec", STRONG, "5").fails_with(1);
    assert!(run.error_line().contains("keyslot 5 is empty"), "{run:#?}");
    // Refused by the argument parser, before any password is asked.
    let run = key_remove(&sandbox, "TimeAcct.sec", STRONG, "16");
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("16 is not in 0..16"), "{run:#?}");
}

#[test]
fn key_list_shows_every_slot_with_its_state_and_cost_without_a_password() {
    let sandbox = Sandbox::new();
    sandbox.create("TimeAcct.sec", "1M", STRONG);
    let existing = sandbox.password_file(STRONG);
    let new = sandbox.password_file(OTHER_STRONG);
    sandbox
        .run(&[
            "key",
            "add",
            "TimeAcct.sec",
            "--password-file",
            existing.to_str().unwrap(),
            "--new-password-file",
            new.to_str().unwrap(),
            "--scrypt-log-n",
            "11",
        ])
        .ok();
    let list = sandbox.run(&["key", "list", "TimeAcct.sec"]).ok();
    assert!(list.stdout.contains("(2 of 16: 0, 1)"), "{list:#?}");
    assert!(
        list.stdout
            .contains("     0  active  scrypt (log2 N = 10, r = 8, p = 1, 1 MiB)"),
        "{list:#?}"
    );
    assert!(
        list.stdout
            .contains("     1  active  scrypt (log2 N = 11, r = 8, p = 1, 2 MiB)"),
        "{list:#?}"
    );
    for slot in 2..16 {
        assert!(
            list.stdout.contains(&format!("  {slot:>4}  empty")),
            "slot {slot}: {list:#?}"
        );
    }
    assert!(list.stdout.contains("not authenticated"), "{list:#?}");
}
