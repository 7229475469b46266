//! `secvol resize` and `secvol destroy` on real container files (offline; growing while
//! mounted is in tests/e2e/resize.rs).

#![cfg(unix)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{OTHER_STRONG, STRONG, Sandbox};

const MIB: u64 = 1 << 20;

fn len(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2] ^ seed)
        .collect()
}

/// `secvol resize CONTAINER --size SIZE --password-file <password> [extra]`.
fn resize(
    sandbox: &Sandbox,
    container: &str,
    size: &str,
    password: &str,
    extra: &[&str],
) -> common::Run {
    let pw = sandbox.password_file(password);
    let mut args = vec![
        "resize",
        container,
        "--size",
        size,
        "--password-file",
        pw.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    sandbox.run(&args)
}

/// Put a local file named `name` holding `data` into the root of `container`.
fn put(sandbox: &Sandbox, container: &str, name: &str, data: &[u8]) {
    let local = sandbox.path(name);
    std::fs::write(&local, data).unwrap();
    let pw = sandbox.password_file(STRONG);
    sandbox
        .run(&[
            "put",
            local.to_str().unwrap(),
            &format!("{container}:/"),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    std::fs::remove_file(local).unwrap();
}

/// The bytes of `CONTAINER:/name`.
fn cat(sandbox: &Sandbox, container: &str, name: &str) -> Vec<u8> {
    let pw = sandbox.password_file(STRONG);
    let output = Command::new(env!("CARGO_BIN_EXE_secvol"))
        .args([
            "cat",
            &format!("{container}:/{name}"),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .current_dir(sandbox.path(""))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    output.stdout
}

fn check_clean(sandbox: &Sandbox, container: &str) {
    let pw = sandbox.password_file(STRONG);
    let run = sandbox
        .run(&["check", container, "--password-file", pw.to_str().unwrap()])
        .ok();
    assert!(run.stdout.contains("no damage found"), "{run:#?}");
}

fn info(sandbox: &Sandbox, container: &str) -> String {
    sandbox.run(&["info", container]).ok().stdout
}

#[test]
fn resize_grows_a_container_fills_the_new_space_and_keeps_the_files() {
    let sandbox = Sandbox::new();
    let path = sandbox.create("grow.sec", "2M", STRONG);
    let data = pattern(1, 1_200_000);
    put(&sandbox, "grow.sec", "scan.pdf", &data);

    let run = resize(&sandbox, "grow.sec", "+4M", STRONG, &[]).ok();
    assert!(run.stdout.contains("2 MiB -> 6 MiB"), "{run:#?}");
    assert!(run.stdout.contains("filled with random bytes"), "{run:#?}");
    assert_eq!(len(&path), 6 * MIB);
    assert!(info(&sandbox, "grow.sec").contains("6 MiB (6291456 bytes)"));
    // The added space was filled: no 4 KiB of zeros between the old end and the new header.
    let bytes = std::fs::read(&path).unwrap();
    let added = &bytes[(2 * MIB) as usize..(6 * MIB - 64 * 1024) as usize];
    let zero_blocks = added
        .chunks(4096)
        .filter(|block| block.iter().all(|&b| b == 0))
        .count();
    assert_eq!(zero_blocks, 0, "the new space was not filled");

    assert_eq!(cat(&sandbox, "grow.sec", "scan.pdf"), data);
    // More than the old container could hold in all.
    let more = pattern(2, 3_000_000);
    put(&sandbox, "grow.sec", "more.pdf", &more);
    assert_eq!(cat(&sandbox, "grow.sec", "more.pdf"), more);
    check_clean(&sandbox, "grow.sec");
}

#[test]
fn resize_quick_leaves_the_added_space_sparse_and_says_what_that_reveals() {
    let sandbox = Sandbox::new();
    let path = sandbox.create("quick.sec", "2M", STRONG);
    let run = resize(&sandbox, "quick.sec", "10M", STRONG, &["--quick"]).ok();
    assert!(run.stdout.contains("left sparse (--quick)"), "{run:#?}");
    assert_eq!(len(&path), 10 * MIB);
    let bytes = std::fs::read(&path).unwrap();
    let added = &bytes[(2 * MIB) as usize..(10 * MIB - 64 * 1024) as usize];
    let zero_blocks = added
        .chunks(4096)
        .filter(|block| block.iter().all(|&b| b == 0))
        .count();
    // Only the meta blocks (1 in 129) hold zero markers; the data blocks stay zeros.
    assert!(
        zero_blocks * 10 > added.len() / 4096 * 9,
        "{zero_blocks} of {} blocks are zeros",
        added.len() / 4096
    );
    check_clean(&sandbox, "quick.sec");
}

#[test]
fn resize_shrinks_a_container_whose_files_fit_the_smaller_size() {
    let sandbox = Sandbox::new();
    let path = sandbox.create("shrink.sec", "16M", STRONG);
    let kept = pattern(3, 2_000_000);
    put(&sandbox, "shrink.sec", "kept.pdf", &pattern(4, 6_000_000));
    put(&sandbox, "shrink.sec", "kept2.pdf", &kept);
    let pw = sandbox.password_file(STRONG);
    sandbox
        .run(&[
            "rm",
            "shrink.sec:/kept.pdf",
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();

    let run = resize(&sandbox, "shrink.sec", "4M", STRONG, &[]).ok();
    assert!(run.stdout.contains("16 MiB -> 4 MiB"), "{run:#?}");
    assert!(!run.stdout.contains("Added space"), "{run:#?}");
    assert_eq!(len(&path), 4 * MIB);
    assert_eq!(cat(&sandbox, "shrink.sec", "kept2.pdf"), kept);
    check_clean(&sandbox, "shrink.sec");
}

#[test]
fn resize_refuses_a_shrink_the_files_do_not_fit_naming_what_to_free() {
    let sandbox = Sandbox::new();
    let path = sandbox.create("full.sec", "8M", STRONG);
    let data = pattern(5, 5_000_000);
    put(&sandbox, "full.sec", "big.pdf", &data);
    let before = std::fs::read(&path).unwrap();

    let run = resize(&sandbox, "full.sec", "4M", STRONG, &[]).fails_with(13);
    let line = run.error_line();
    assert!(
        line.contains("cannot shrink to 4 MiB")
            && line.contains("Delete or move out at least")
            && line.contains("nothing was changed"),
        "{line}"
    );
    // 5 MB of files in a container with room for under 4 MiB: between 1 and 2 MiB to free.
    let amount = line
        .split("at least ")
        .nth(1)
        .and_then(|rest| rest.split(" of files").next())
        .unwrap();
    assert!(amount.ends_with("MiB"), "{amount}");
    let mib: f64 = amount.trim_end_matches(" MiB").parse().unwrap();
    assert!((1.0..2.0).contains(&mib), "{amount}");

    assert_eq!(len(&path), 8 * MIB);
    assert_eq!(cat(&sandbox, "full.sec", "big.pdf"), data);
    // The data area may have been compacted (a harmless durable change), never the headers.
    let after = std::fs::read(&path).unwrap();
    assert_eq!(before[..4096], after[..4096]);
    assert_eq!(
        before[before.len() - 65536..before.len() - 61440],
        after[after.len() - 65536..after.len() - 61440]
    );
    check_clean(&sandbox, "full.sec");
}

#[test]
fn resize_with_a_wrong_password_or_a_bad_size_changes_nothing() {
    let sandbox = Sandbox::new();
    let path = sandbox.create("same.sec", "2M", STRONG);
    let before = std::fs::read(&path).unwrap();
    resize(&sandbox, "same.sec", "+2M", OTHER_STRONG, &[]).fails_with(3);
    // Usage errors (clap's own message, then its hint).
    assert_eq!(resize(&sandbox, "same.sec", "512K", STRONG, &[]).code, 2);
    assert_eq!(resize(&sandbox, "same.sec", "+0", STRONG, &[]).code, 2);
    let run = resize(&sandbox, "same.sec", "2M", STRONG, &[]).ok();
    assert!(run.stdout.contains("nothing to change"), "{run:#?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    sandbox
        .run(&["resize", "missing.sec", "--size", "+1M"])
        .fails_with(1);
}

#[test]
fn resize_and_destroy_are_refused_while_another_process_holds_the_container() {
    let sandbox = Sandbox::new();
    let path = sandbox.create("busy.sec", "2M", STRONG);
    let before = std::fs::read(&path).unwrap();
    // What a mount holds: the exclusive lock of the container file.
    let holder = std::fs::File::open(&path).unwrap();
    holder.try_lock().unwrap();
    resize(&sandbox, "busy.sec", "+1M", STRONG, &[]).fails_with(11);
    sandbox
        .run(&["destroy", "busy.sec", "--yes"])
        .fails_with(11);
    drop(holder);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn destroy_leaves_no_password_and_no_earlier_header_backup_that_opens_the_container() {
    let sandbox = Sandbox::new();
    let path = sandbox.create("gone.sec", "2M", STRONG);
    put(
        &sandbox,
        "gone.sec",
        "record.txt",
        b"patient 4711: allergic to penicillin\n",
    );
    // Named files: both passwords are needed at once.
    let first = sandbox.path("first-password");
    std::fs::write(&first, format!("{STRONG}\n")).unwrap();
    let second = sandbox.path("second-password");
    std::fs::write(&second, format!("{OTHER_STRONG}\n")).unwrap();
    sandbox
        .run(&[
            "key",
            "add",
            "gone.sec",
            "--password-file",
            first.to_str().unwrap(),
            "--new-password-file",
            second.to_str().unwrap(),
            "--scrypt-log-n",
            "10",
        ])
        .ok();
    let backup = sandbox.path("gone.sec.header");
    sandbox
        .run(&[
            "header",
            "backup",
            "gone.sec",
            backup.to_str().unwrap(),
            "--password-file",
            first.to_str().unwrap(),
        ])
        .ok();
    let before = std::fs::read(&path).unwrap();

    let run = sandbox.run(&["destroy", "gone.sec", "--yes"]).ok();
    assert!(run.stdout.contains("Destroyed gone.sec"), "{run:#?}");
    assert!(
        run.stdout.contains("header backup made earlier")
            && run.stdout.contains("Destroy every header backup"),
        "the remaining risk must be said: {run:#?}"
    );
    let after = std::fs::read(&path).unwrap();
    assert_eq!(after.len(), before.len());
    // Both header regions and both super slots hold new bytes; the data area is untouched.
    let region = 64 * 1024;
    let tail = before.len() - region;
    for (what, range) in [
        ("primary header region", 0..region),
        ("super slots", region..region + 16 * 1024),
        ("backup header region", tail..before.len()),
    ] {
        let same = before[range.clone()]
            .chunks(16)
            .zip(after[range.clone()].chunks(16))
            .filter(|(a, b)| a == b)
            .count();
        assert_eq!(same, 0, "{what}: {same} 16-byte pieces unchanged");
    }
    assert_eq!(
        before[region + 16 * 1024..tail],
        after[region + 16 * 1024..tail]
    );

    for password in [&first, &second] {
        sandbox
            .run(&[
                "ls",
                "gone.sec",
                "--password-file",
                password.to_str().unwrap(),
            ])
            .fails_with(4);
    }
    sandbox.run(&["info", "gone.sec"]).fails_with(4);
    // The header backup is authentic and its password right, but the container it belonged
    // to is gone: restoring it does not bring the data back.
    let run = sandbox
        .run(&[
            "header",
            "restore",
            "gone.sec",
            backup.to_str().unwrap(),
            "--password-file",
            first.to_str().unwrap(),
        ])
        .fails_with(6);
    assert!(run.error_line().contains("destroyed"), "{run:#?}");
    sandbox
        .run(&["ls", "gone.sec", "--password-file", first.to_str().unwrap()])
        .fails_with(4);
}

#[test]
fn destroy_without_a_terminal_wants_yes_and_changes_nothing() {
    let sandbox = Sandbox::new();
    let path = sandbox.create("keep.sec", "1M", STRONG);
    let before = std::fs::read(&path).unwrap();
    let run = sandbox.run(&["destroy", "keep.sec"]).fails_with(2);
    assert!(run.error_line().contains("--yes"), "{run:#?}");
    let run = sandbox
        .run_with_stdin(&["destroy", "keep.sec"], "keep.sec\n")
        .fails_with(2);
    assert!(run.error_line().contains("no terminal"), "{run:#?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Run `secvol destroy NAME` on a pseudo-terminal (util-linux `script`), typing `typed`.
fn destroy_on_a_terminal(sandbox: &Sandbox, name: &str, typed: &str) -> (i32, String) {
    let binary = env!("CARGO_BIN_EXE_secvol");
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--command"])
        .arg(format!("{binary} destroy {name}"))
        .arg("/dev/null")
        .current_dir(sandbox.path(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux script runs");
    use std::io::Write;
    // The terminal echoes what is typed; the prompt must be up before the line arrives.
    std::thread::sleep(std::time::Duration::from_millis(300));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{typed}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn destroy_on_a_terminal_asks_for_the_file_name_typed_back() {
    let sandbox = Sandbox::new();
    let path = sandbox.create("ask.sec", "1M", STRONG);
    let before = std::fs::read(&path).unwrap();

    let (code, screen) = destroy_on_a_terminal(&sandbox, "ask.sec", "yes");
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("Type the file name (ask.sec)"), "{screen}");
    assert!(screen.contains("nothing was destroyed"), "{screen}");
    assert_eq!(std::fs::read(&path).unwrap(), before);

    let (code, screen) = destroy_on_a_terminal(&sandbox, "ask.sec", "ask.sec");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Destroyed ask.sec"), "{screen}");
    sandbox.run(&["info", "ask.sec"]).fails_with(4);
}

#[test]
fn destroy_refuses_a_file_that_is_not_a_container() {
    let sandbox = Sandbox::new();
    let path = sandbox.path("letter.odt");
    let data = pattern(6, 300_000);
    std::fs::write(&path, &data).unwrap();
    sandbox
        .run(&["destroy", "letter.odt", "--yes"])
        .fails_with(4);
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

#[test]
fn a_header_backup_made_before_a_resize_still_restores_at_the_current_size() {
    let sandbox = Sandbox::new();
    let path = sandbox.create("moved.sec", "2M", STRONG);
    let data = pattern(7, 500_000);
    put(&sandbox, "moved.sec", "a.pdf", &data);
    let pw = sandbox.password_file(STRONG);
    let backup = sandbox.path("moved.header");
    sandbox
        .run(&[
            "header",
            "backup",
            "moved.sec",
            backup.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    resize(&sandbox, "moved.sec", "+3M", STRONG, &[]).ok();
    put(&sandbox, "moved.sec", "b.pdf", &pattern(8, 2_500_000));
    sandbox
        .run(&[
            "header",
            "restore",
            "moved.sec",
            backup.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    assert_eq!(len(&path), 5 * MIB);
    assert!(info(&sandbox, "moved.sec").contains("5 MiB (5242880 bytes)"));
    assert_eq!(cat(&sandbox, "moved.sec", "a.pdf"), data);
    assert_eq!(cat(&sandbox, "moved.sec", "b.pdf"), pattern(8, 2_500_000));
    check_clean(&sandbox, "moved.sec");
}

#[test]
fn the_help_of_resize_and_destroy_says_what_they_do_and_what_remains() {
    let sandbox = Sandbox::new();
    let resize_help = sandbox.run(&["resize", "--help"]).ok().stdout;
    for needle in [
        "+SIZE",
        "while the container is mounted",
        "--quick",
        "how much must",
        "exit code 13",
        "old or at its new size",
        "13  not enough room",
    ] {
        assert!(
            resize_help.contains(needle),
            "resize --help lacks {needle:?}"
        );
    }
    let destroy_help = sandbox.run(&["destroy", "--help"]).ok().stdout;
    for needle in [
        "every keyslot",
        "super slots",
        "USB key or an SSD",
        "ONE REMAINING RISK",
        "header backup",
        "--yes",
        "exit code 2",
    ] {
        assert!(
            destroy_help.contains(needle),
            "destroy --help lacks {needle:?}"
        );
    }
    let short = sandbox.run(&["--help"]).ok().stdout;
    assert!(
        short.contains("resize") && short.contains("destroy"),
        "{short}"
    );
}
