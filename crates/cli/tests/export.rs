//! `secvol export`: archives opened by the real 7-Zip (Debian package `7zip`, command `7zz`;
//! `7z` elsewhere). The test passwords go to 7-Zip with -p: test passwords only.

#![cfg(unix)]

mod common;

use std::fs;
use std::process::{Command, Output};

use common::{STRONG, Sandbox};

const ARCHIVE_PASSWORD: &str = "orchard-saddle-quartz-meadow-58";

fn seven_zip() -> &'static str {
    for name in ["7zz", "7z"] {
        if Command::new(name).arg("i").output().is_ok() {
            return name;
        }
    }
    panic!("7-Zip is needed for this test (Debian package 7zip; .ci/run installs it)");
}

fn seven(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(seven_zip())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("7-Zip runs")
}

/// A container holding /2026/smith.pdf, /2026/labs/{a.csv,empty.txt} and /other.txt.
fn filled_container(sandbox: &Sandbox) -> (std::path::PathBuf, std::path::PathBuf) {
    let container = sandbox.create("TimeAcct.sec", "8M", STRONG);
    let src = sandbox.path("src");
    fs::create_dir_all(src.join("2026/labs")).unwrap();
    fs::write(
        src.join("2026/smith.pdf"),
        b"%PDF Smith diagnosis ".repeat(40_000),
    )
    .unwrap();
    fs::write(src.join("2026/labs/a.csv"), b"glucose,5.4\n".repeat(1000)).unwrap();
    fs::write(src.join("2026/labs/empty.txt"), b"").unwrap();
    fs::write(src.join("other.txt"), b"not exported").unwrap();
    let pw = sandbox.password_file(STRONG);
    sandbox
        .run(&[
            "put",
            src.join("2026").to_str().unwrap(),
            src.join("other.txt").to_str().unwrap(),
            &format!("{}:/", container.display()),
            "--password-file",
            pw.to_str().unwrap(),
        ])
        .ok();
    (container, src)
}

fn export(
    sandbox: &Sandbox,
    container: &std::path::Path,
    paths: &[&str],
    out: &str,
    archive_pw: &str,
) -> common::Run {
    let pw = sandbox.password_file(STRONG);
    let apw = sandbox.password_file(archive_pw);
    let mut args: Vec<String> = vec!["export".into()];
    args.extend(paths.iter().map(|p| format!("{}:{p}", container.display())));
    args.extend([
        out.to_owned(),
        "--password-file".into(),
        pw.to_str().unwrap().into(),
        "--archive-password-file".into(),
        apw.to_str().unwrap().into(),
    ]);
    sandbox.run(&args)
}

#[test]
fn an_exported_archive_opens_in_7_zip_with_the_same_bytes() {
    let sandbox = Sandbox::new();
    let (container, src) = filled_container(&sandbox);
    let run = export(
        &sandbox,
        &container,
        &["/2026"],
        "smith.7z",
        ARCHIVE_PASSWORD,
    )
    .ok();
    assert!(run.stdout.contains("3 files"), "{run:#?}");
    let out = sandbox.path("unpacked");
    let x = seven(
        &sandbox.path(""),
        &[
            "x",
            &format!("-p{ARCHIVE_PASSWORD}"),
            &format!("-o{}", out.display()),
            "smith.7z",
        ],
    );
    assert!(x.status.success(), "{x:?}");
    for file in ["2026/smith.pdf", "2026/labs/a.csv", "2026/labs/empty.txt"] {
        assert_eq!(
            fs::read(out.join(file)).unwrap(),
            fs::read(src.join(file)).unwrap(),
            "{file}"
        );
    }
    assert!(!out.join("other.txt").exists());
    // 7-Zip's own integrity test with the password passes too.
    let t = seven(
        &sandbox.path(""),
        &["t", &format!("-p{ARCHIVE_PASSWORD}"), "smith.7z"],
    );
    assert!(t.status.success(), "{t:?}");
    assert!(String::from_utf8_lossy(&t.stdout).contains("Everything is Ok"));
}

#[test]
fn without_the_password_7_zip_cannot_open_the_archive_or_list_its_names() {
    let sandbox = Sandbox::new();
    let (container, _) = filled_container(&sandbox);
    export(
        &sandbox,
        &container,
        &["/2026/smith.pdf", "/2026/labs"],
        "out.7z",
        ARCHIVE_PASSWORD,
    )
    .ok();
    let dir = sandbox.path("");
    let wrong = seven(&dir, &["x", "-pnot-the-password", "-owrong", "out.7z"]);
    assert!(!wrong.status.success(), "{wrong:?}");
    assert!(!sandbox.path("wrong/smith.pdf").exists());
    // Listing without any password (-p with nothing: no prompt) fails: the names are
    // encrypted too.
    let list = seven(&dir, &["l", "-p", "out.7z"]);
    assert!(!list.status.success(), "{list:?}");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(!listed.contains("smith"), "{listed}");
    // Nor are the names anywhere in the file's bytes (ASCII or UTF-16).
    let bytes = fs::read(sandbox.path("out.7z")).unwrap();
    let utf16: Vec<u8> = "smith".encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert!(!bytes.windows(5).any(|w| w == b"smith"));
    assert!(!bytes.windows(utf16.len()).any(|w| w == utf16.as_slice()));
    assert!(!bytes.windows(5).any(|w| w == b"%PDF "));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(sandbox.path("out.7z"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_weak_archive_password_is_refused_and_no_archive_is_left() {
    let sandbox = Sandbox::new();
    let (container, _) = filled_container(&sandbox);
    let run = export(&sandbox, &container, &["/2026"], "weak.7z", "password1").fails_with(9);
    assert!(
        run.error_line().contains("--allow-weak-password"),
        "{run:#?}"
    );
    assert!(!sandbox.path("weak.7z").exists());
    // The container's own password is refused for the archive.
    let run = export(&sandbox, &container, &["/2026"], "same.7z", STRONG).fails_with(1);
    assert!(
        run.error_line().contains("container's password"),
        "{run:#?}"
    );
    assert!(!sandbox.path("same.7z").exists());
}

#[test]
fn an_existing_archive_is_never_overwritten() {
    let sandbox = Sandbox::new();
    let (container, _) = filled_container(&sandbox);
    fs::write(sandbox.path("there.7z"), b"keep").unwrap();
    export(
        &sandbox,
        &container,
        &["/2026"],
        "there.7z",
        ARCHIVE_PASSWORD,
    )
    .fails_with(12);
    assert_eq!(fs::read(sandbox.path("there.7z")).unwrap(), b"keep");
}
