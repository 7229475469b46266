//! Real programs on a mounted container: sqlite3, git, many threads at once.

use std::ffi::OsStr;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use crate::harness::{Sandbox, pattern, run};

#[test]
fn sqlite_transactions_and_integrity_check() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Emr.sec", "64M");
    let mnt = sandbox.path("emr");
    sandbox.mount(&container, &mnt);
    let db = mnt.join("emr.sqlite");
    let mut script = String::from(
        "PRAGMA journal_mode=WAL;\nCREATE TABLE visits(id INTEGER PRIMARY KEY, patient TEXT, note TEXT);\n",
    );
    for batch in 0..20 {
        script.push_str("BEGIN;\n");
        for i in 0..500 {
            script.push_str(&format!(
                "INSERT INTO visits(patient, note) VALUES('p{}', '{}');\n",
                (batch * 500 + i) % 977,
                "x".repeat(i % 300)
            ));
        }
        script.push_str("COMMIT;\n");
    }
    script.push_str("BEGIN; DELETE FROM visits WHERE id % 3 = 0; ROLLBACK;\n");
    script.push_str("BEGIN; UPDATE visits SET note = 'seen' WHERE id % 5 = 0; COMMIT;\n");
    let script_path = sandbox.path("script.sql");
    std::fs::write(&script_path, script).unwrap();
    run(
        "sh",
        &[
            OsStr::new("-c"),
            format!("sqlite3 '{}' < '{}'", db.display(), script_path.display()).as_ref(),
        ],
        &mnt,
    );
    sandbox.unmount(&mnt);
    sandbox.mount(&container, &mnt);
    let query = |sql: &str| run("sqlite3", &[db.as_os_str(), OsStr::new(sql)], &mnt);
    assert_eq!(query("PRAGMA integrity_check;").trim(), "ok");
    assert_eq!(query("SELECT count(*) FROM visits;").trim(), "10000");
    assert_eq!(
        query("SELECT count(*) FROM visits WHERE note = 'seen';").trim(),
        "2000"
    );
    sandbox.unmount(&mnt);
    sandbox.check_clean(&container);
}

#[test]
fn git_init_commit_and_fsck() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Repo.sec", "64M");
    let mnt = sandbox.path("repo");
    sandbox.mount(&container, &mnt);
    let repo = mnt.join("project");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| {
        let args: Vec<&OsStr> = [
            "-c",
            "user.name=Clinic",
            "-c",
            "user.email=it@clinic.example",
        ]
        .iter()
        .chain(args)
        .map(OsStr::new)
        .collect();
        run("git", &args, &repo)
    };
    git(&["init", "-q"]);
    for i in 0..40 {
        std::fs::write(
            repo.join(format!("file{i}.txt")),
            pattern(i, 5000 + i as usize * 100),
        )
        .unwrap();
    }
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "first"]);
    std::fs::rename(repo.join("file1.txt"), repo.join("renamed.txt")).unwrap();
    std::fs::remove_file(repo.join("file2.txt")).unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "second"]);
    git(&["gc", "-q"]);
    sandbox.unmount(&mnt);
    sandbox.mount(&container, &mnt);
    git(&["fsck", "--full", "--strict"]);
    assert_eq!(git(&["rev-list", "--count", "HEAD"]).trim(), "2");
    assert_eq!(git(&["status", "--porcelain"]).trim(), "");
    sandbox.unmount(&mnt);
}

#[test]
fn concurrent_readers_and_writers() {
    const WRITERS: u64 = 4;
    const READERS: u64 = 4;
    const FILE: usize = 8 << 20;
    let sandbox = Sandbox::new();
    let container = sandbox.create("Busy.sec", "128M");
    let mnt = Arc::new(sandbox.path("busy"));
    sandbox.mount(&container, &mnt);
    std::fs::write(mnt.join("shared.bin"), pattern(999, FILE)).unwrap();

    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let mnt = Arc::clone(&mnt);
        threads.push(std::thread::spawn(move || {
            let path = mnt.join(format!("writer-{w}.bin"));
            let mut file = std::fs::File::create(&path).unwrap();
            for i in 0..32u64 {
                file.write_all(&pattern(w * 1000 + i, 256 << 10)).unwrap();
            }
            // Rewrite a middle range in place.
            file.seek(SeekFrom::Start(1 << 20)).unwrap();
            file.write_all(&pattern(w + 77, 100_000)).unwrap();
            file.sync_all().unwrap();
        }));
    }
    for r in 0..READERS {
        let mnt = Arc::clone(&mnt);
        threads.push(std::thread::spawn(move || {
            let expected = pattern(999, FILE);
            for round in 0..4 {
                let mut file = std::fs::File::open(mnt.join("shared.bin")).unwrap();
                let offset = ((r * 4 + round) * 1_000_003) as usize % (FILE - 300_000);
                file.seek(SeekFrom::Start(offset as u64)).unwrap();
                let mut buffer = vec![0u8; 300_000];
                file.read_exact(&mut buffer).unwrap();
                assert!(
                    buffer == expected[offset..offset + 300_000],
                    "reader {r} saw wrong bytes"
                );
            }
        }));
    }
    for thread in threads {
        thread.join().unwrap();
    }
    sandbox.unmount(&mnt);
    sandbox.mount(&container, &mnt);
    for w in 0..WRITERS {
        let mut expected = Vec::new();
        for i in 0..32u64 {
            expected.extend(pattern(w * 1000 + i, 256 << 10));
        }
        expected[1 << 20..(1 << 20) + 100_000].copy_from_slice(&pattern(w + 77, 100_000));
        let actual = std::fs::read(mnt.join(format!("writer-{w}.bin"))).unwrap();
        assert!(
            actual == expected,
            "writer {w}'s file differs after remount"
        );
    }
    sandbox.unmount(&mnt);
    sandbox.check_clean(&container);
}
