//! `secvol create` and `secvol info`, passwords, sizes and the errors every command shares.

#![cfg(unix)]

mod common;

use common::{OTHER_STRONG, STRONG, Sandbox};

#[test]
fn create_then_info_shows_the_public_header_facts() {
    let sandbox = Sandbox::new();
    let pw = sandbox.password_file(STRONG);
    let created = sandbox
        .run(&[
            "create",
            "TimeAcct.sec",
            "--size",
            "2M",
            "--password-file",
            pw.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
            "--quick",
        ])
        .ok();
    for fact in [
        "TimeAcct.sec",
        "2 MiB (2097152 bytes)",
        "aes-256-gcm (256-bit key)",
        "scrypt (log2 N = 10",
        "keyslot 0",
    ] {
        assert!(
            created.stdout.contains(fact),
            "{fact:?} missing: {created:#?}"
        );
    }
    assert_eq!(
        std::fs::metadata(sandbox.path("TimeAcct.sec"))
            .unwrap()
            .len(),
        2 << 20
    );

    let info = sandbox.run(&["info", "TimeAcct.sec"]).ok();
    for fact in [
        "Format version:  1",
        "Container UUID:",
        "aes-256-gcm (256-bit key)",
        "Container size:  2 MiB (2097152 bytes)",
        "Usable capacity:",
        "Keyslots in use: 1 of 16: 0",
        "keyslot 0:     scrypt (log2 N = 10, r = 8, p = 1, 1 MiB)",
        "Header copies:   primary OK, backup OK",
        "NOT authenticated",
    ] {
        assert!(info.stdout.contains(fact), "{fact:?} missing: {info:#?}");
    }
    let uuid = info
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("Container UUID:"))
        .unwrap()
        .trim();
    assert_eq!(uuid.len(), 36, "{uuid}");
    assert_eq!(uuid.matches('-').count(), 4, "{uuid}");
    assert!(!info.stdout.contains("Password:"), "no password was given");
    assert_eq!(info.stderr, "", "a healthy container gives no warning");
}

#[test]
fn info_with_the_password_from_stdin_confirms_it_and_names_the_keyslot() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let info = sandbox
        .run_with_stdin(
            &["info", container.to_str().unwrap(), "--password-file", "-"],
            &format!("{STRONG}\nthe rest of standard input is ignored\n"),
        )
        .ok();
    assert!(
        info.stdout
            .contains("Password:        correct: it opened keyslot 0"),
        "{info:#?}"
    );
    assert!(
        info.stdout.contains("authenticated (primary copy"),
        "{info:#?}"
    );
    assert!(!info.stdout.contains("NOT authenticated"), "{info:#?}");
}

#[test]
fn a_password_file_contributes_only_its_first_line_without_the_crlf() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let pw = sandbox.path("windows-pw.txt");
    std::fs::write(&pw, format!("{STRONG}\r\nsecond line\r\n")).unwrap();
    sandbox
        .run(&[
            "info",
            container.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
}

#[test]
fn a_wrong_password_exits_3_with_one_error_line() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let run = sandbox
        .info_with_password(&container, OTHER_STRONG)
        .fails_with(3);
    assert!(run.error_line().contains("wrong password"), "{run:#?}");
    assert_eq!(run.stdout, "", "nothing is reported for a wrong password");
}

#[test]
fn create_refuses_to_overwrite_an_existing_file_with_exit_12() {
    let sandbox = Sandbox::new();
    let existing = sandbox.path("TimeAcct.sec");
    std::fs::write(&existing, b"precious data").unwrap();
    let pw = sandbox.password_file(STRONG);
    let run = sandbox
        .run(&[
            "create",
            "TimeAcct.sec",
            "--size",
            "1M",
            "--password-file",
            pw.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
            "--quick",
        ])
        .fails_with(12);
    assert!(run.error_line().contains("already exists"), "{run:#?}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"precious data");
}

#[test]
fn weak_passwords_are_refused_with_exit_9_and_a_reason() {
    let sandbox = Sandbox::new();
    for weak in ["password", "Password1", "michael1987", "12345678"] {
        let pw = sandbox.password_file(weak);
        let run = sandbox
            .run(&[
                "create",
                "TimeAcct.sec",
                "--size",
                "1M",
                "--password-file",
                pw.to_str().unwrap(),
                "--scrypt-log-n",
                "10",
                "--quick",
            ])
            .fails_with(9);
        let line = run.error_line();
        assert!(line.contains("too weak"), "{weak}: {run:#?}");
        // A reason beyond the score: "password too weak (strength n/4, need 3): <reason>".
        let reason = line.split_once("need 3): ").map(|(_, r)| r).unwrap_or("");
        assert!(reason.len() > 20, "{weak}: no reason given: {line}");
        assert!(line.contains("--allow-weak-password"), "{line}");
        assert!(
            !sandbox.path("TimeAcct.sec").exists(),
            "{weak}: file created"
        );
    }
}

#[test]
fn weak_passwords_are_accepted_with_allow_weak_password_and_a_warning() {
    let sandbox = Sandbox::new();
    for (i, weak) in ["password", "Password1", "michael1987", "12345678"]
        .into_iter()
        .enumerate()
    {
        let pw = sandbox.password_file(weak);
        let name = format!("c{i}.sec");
        let run = sandbox
            .run(&[
                "create",
                &name,
                "--size",
                "1M",
                "--password-file",
                pw.to_str().unwrap(),
                "--scrypt-log-n",
                "10",
                "--quick",
                "--allow-weak-password",
            ])
            .ok();
        assert!(
            run.stderr.starts_with("warning: password too weak"),
            "{weak}: {run:#?}"
        );
        sandbox.info_with_password(&sandbox.path(&name), weak).ok();
    }
}

#[test]
fn the_container_name_counts_as_a_guessable_word() {
    let sandbox = Sandbox::new();
    let pw = sandbox.password_file("TimeAcct2024");
    sandbox
        .run(&[
            "create",
            "TimeAcct.sec",
            "--size",
            "1M",
            "--password-file",
            pw.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
            "--quick",
        ])
        .fails_with(9);
}

/// Fraction of zero bytes between the two header regions.
fn zero_fraction_of_data_area(path: &std::path::Path) -> f64 {
    let bytes = std::fs::read(path).unwrap();
    let region = common::HEADER_REGION as usize;
    // Skip the super slots too: they are written in either case.
    let data = &bytes[region + 16 * 1024..bytes.len() - region];
    data.iter().filter(|&&b| b == 0).count() as f64 / data.len() as f64
}

#[test]
fn create_without_quick_fills_the_container_with_random_bytes() {
    let sandbox = Sandbox::new();
    let pw = sandbox.password_file(STRONG);
    sandbox
        .run(&[
            "create",
            "filled.sec",
            "--size",
            "2M",
            "--password-file",
            pw.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
        ])
        .ok();
    let filled = zero_fraction_of_data_area(&sandbox.path("filled.sec"));
    // Random bytes are zero 1/256 of the time.
    assert!(filled < 0.01, "{filled} of the filled data area is zeros");
    let info = sandbox.run(&["info", "filled.sec"]).ok();
    assert!(
        info.stdout.contains("filled with random bytes"),
        "{info:#?}"
    );

    let quick = sandbox.create("quick.sec", "2M", STRONG);
    let quick_zeros = zero_fraction_of_data_area(&quick);
    assert!(
        quick_zeros > 0.9,
        "{quick_zeros} of the quick data area is zeros"
    );
    let info = sandbox.run(&["info", "quick.sec"]).ok();
    assert!(info.stdout.contains("sparse (--quick)"), "{info:#?}");
}

#[test]
fn the_xchacha20_cipher_can_be_chosen_and_is_reported() {
    let sandbox = Sandbox::new();
    let pw = sandbox.password_file(STRONG);
    sandbox
        .run(&[
            "create",
            "x.sec",
            "--size",
            "1MiB",
            "--cipher",
            "xchacha20-poly1305",
            "--password-file",
            pw.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
            "--quick",
        ])
        .ok();
    let info = sandbox
        .info_with_password(&sandbox.path("x.sec"), STRONG)
        .ok();
    assert!(
        info.stdout.contains("xchacha20-poly1305 (256-bit key)"),
        "{info:#?}"
    );
}

#[test]
fn sizes_below_one_mib_or_not_a_multiple_of_4096_are_usage_errors() {
    let sandbox = Sandbox::new();
    let pw = sandbox.password_file(STRONG);
    for (size, expected) in [
        ("512K", "at least 1 MiB"),
        ("1048577", "multiple of 4096"),
        ("64Q", "not a size"),
    ] {
        let run = sandbox.run(&[
            "create",
            "c.sec",
            "--size",
            size,
            "--password-file",
            pw.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
            "--quick",
        ]);
        assert_eq!(run.code, 2, "{size}: {run:#?}");
        assert!(run.stderr.starts_with("error: "), "{run:#?}");
        assert!(run.stderr.contains(expected), "{size}: {run:#?}");
        assert!(!sandbox.path("c.sec").exists());
    }
}

#[test]
fn scrypt_cost_out_of_bounds_exits_8_before_asking_for_a_password() {
    let sandbox = Sandbox::new();
    for log_n in ["30", "9", "23", "300"] {
        // No --password-file and no terminal: had a password been asked for, the error would
        // be "no terminal" with exit code 1.
        let run = sandbox
            .run(&[
                "create",
                "c.sec",
                "--size",
                "1M",
                "--scrypt-log-n",
                log_n,
                "--quick",
            ])
            .fails_with(8);
        assert!(run.error_line().contains("out of bounds"), "{run:#?}");
        assert!(run.error_line().contains("10 to 22"), "{run:#?}");
    }
    assert!(!sandbox.path("c.sec").exists());
}

#[test]
#[cfg(target_os = "linux")]
fn without_a_terminal_or_password_file_the_error_says_to_use_password_file() {
    assert!(
        std::path::Path::new("/usr/bin/setsid").exists(),
        "the tests detach secvol from the terminal with setsid (util-linux)"
    );
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    for args in [
        vec!["create", "new.sec", "--size", "1M", "--scrypt-log-n", "10"],
        vec!["passwd", container.to_str().unwrap()],
        vec!["check", container.to_str().unwrap()],
    ] {
        let run = sandbox.run(&args).fails_with(1);
        assert!(
            run.error_line().contains("no terminal")
                && run.error_line().contains("--password-file"),
            "{args:?}: {run:#?}"
        );
    }
}

#[test]
fn an_empty_password_file_is_refused() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let run = sandbox
        .run(&[
            "info",
            container.to_str().unwrap(),
            "--password-file",
            "/dev/null",
        ])
        .fails_with(1);
    assert!(run.error_line().contains("no password"), "{run:#?}");
}

#[test]
fn both_passwords_cannot_come_from_standard_input() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    let run = sandbox
        .run_with_stdin(
            &[
                "passwd",
                container.to_str().unwrap(),
                "--password-file",
                "-",
                "--new-password-file",
                "-",
                "--scrypt-log-n",
                "10",
            ],
            &format!("{STRONG}\n{OTHER_STRONG}\n"),
        )
        .fails_with(2);
    assert!(run.error_line().contains("standard input"), "{run:#?}");
    sandbox.info_with_password(&container, STRONG).ok();
}

#[test]
fn a_file_that_is_not_a_container_exits_4() {
    let sandbox = Sandbox::new();
    let random: Vec<u8> = (0..(1u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(sandbox.path("holiday.jpg"), &random).unwrap();
    std::fs::write(sandbox.path("tiny.txt"), b"hello").unwrap();
    for name in ["holiday.jpg", "tiny.txt"] {
        let run = sandbox.run(&["info", name]).fails_with(4);
        assert!(
            run.error_line().contains("not a secvol container"),
            "{run:#?}"
        );
        let pw = sandbox.password_file(STRONG);
        sandbox
            .run(&["check", name, "--password-file", pw.to_str().unwrap()])
            .fails_with(4);
    }
}

#[test]
fn a_missing_container_is_an_error_naming_the_file() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["info", "nowhere.sec"]).fails_with(1);
    assert!(run.error_line().contains("nowhere.sec"), "{run:#?}");
}

#[test]
fn a_truncated_container_exits_5() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "2M", STRONG);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&container)
        .unwrap();
    file.set_len((1 << 20) + 12_345).unwrap();
    drop(file);
    let run = sandbox.run(&["info", "TimeAcct.sec"]).fails_with(5);
    assert!(run.error_line().contains("truncated"), "{run:#?}");
    sandbox.info_with_password(&container, STRONG).fails_with(5);
}

#[test]
fn a_container_in_use_by_another_process_exits_11() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "1M", STRONG);
    // What a mount holds: an exclusive lock on the container file.
    let holder = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&container)
        .unwrap();
    holder.lock().unwrap();
    let old = sandbox.password_file(STRONG);
    let new = sandbox.password_file(OTHER_STRONG);
    let run = sandbox
        .run(&[
            "passwd",
            container.to_str().unwrap(),
            "--password-file",
            old.to_str().unwrap(),
            "--new-password-file",
            new.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
        ])
        .fails_with(11);
    assert!(run.error_line().contains("in use"), "{run:#?}");
    sandbox
        .run(&[
            "check",
            container.to_str().unwrap(),
            "--password-file",
            old.to_str().unwrap(),
        ])
        .fails_with(11);
    // Reading the header needs no lock: info works while mounted.
    sandbox.info_with_password(&container, STRONG).ok();
    holder.unlock().unwrap();
}

#[test]
fn version_and_help_speak_to_users_and_scripts() {
    let sandbox = Sandbox::new();
    let version = sandbox.run(&["--version"]).ok();
    assert_eq!(
        version.stdout.trim(),
        format!("secvol {}", env!("CARGO_PKG_VERSION"))
    );
    let help = sandbox.run(&["header", "backup", "--help"]).ok();
    assert!(
        help.stdout.contains("valid WHEN THE BACKUP WAS MADE"),
        "{help:#?}"
    );
    assert!(help.stdout.contains("Exit codes:"), "{help:#?}");
    assert!(help.stdout.contains("first line"), "{help:#?}");
    let help = sandbox.run(&["create", "--help"]).ok();
    assert!(help.stdout.contains("roughly how much data"), "{help:#?}");
    for command in [
        vec!["info"],
        vec!["passwd"],
        vec!["key", "add"],
        vec!["key", "remove"],
        vec!["key", "list"],
        vec!["header", "restore"],
        vec!["header", "repair"],
        vec!["check"],
    ] {
        let mut args = command.clone();
        args.push("--help");
        let help = sandbox.run(&args).ok();
        assert!(
            help.stdout.contains("Exit codes:"),
            "{command:?}: {help:#?}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let sandbox = Sandbox::new();
    assert_eq!(sandbox.run(&["create", "c.sec"]).code, 2, "missing --size");
    assert_eq!(sandbox.run(&["frobnicate"]).code, 2);
    assert_eq!(
        sandbox
            .run(&["create", "c.sec", "--size", "1M", "--cipher", "des"])
            .code,
        2
    );
    assert_eq!(
        sandbox.run(&["key", "remove", "c.sec"]).code,
        2,
        "missing --slot"
    );
}
