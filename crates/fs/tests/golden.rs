//! A golden file system made once by format 1 and committed under tests/fixtures/: every
//! future version of secvol must open it and read exactly the same tree, attributes and
//! extended attributes. Never regenerate it to make this test pass (see fixtures/README.md).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use secvol_core::storage::Storage;
use secvol_core::testing::MemStorage;
use secvol_core::{
    Access, CipherSuite, Container, CreateOptions, DeviceMode, ScryptParams, SecretString,
};
use secvol_fs::{
    Ctx, FileKind, Fs, FsOptions, OpenFlags, ROOT_INO, SetAttr, TimeSet, Timestamp, WinAttrs,
    XattrMode,
};

const GOLDEN_PASSWORD: &str = "golden fixture password v1";
const GOLDEN_SIZE: u64 = 1 << 20;
const OWNER: Ctx = Ctx {
    uid: 1000,
    gid: 1000,
};
/// 2026-01-01T00:00:00.123456789Z, the modification time of every object but the root.
const GOLDEN_TIME: Timestamp = Timestamp {
    secs: 1_767_225_600,
    nanos: 123_456_789,
};

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden-fs-v1-aes-256-gcm.sec")
}

const README: &[u8] = b"secvol golden file system, format 1\n";
const UNICODE_NAME: &str = "/docs/\u{fc}n\u{ef}c\u{f8}d\u{e9} name.txt";

/// 70 000 bytes: one full chunk and part of a second.
fn two_chunk_content() -> Vec<u8> {
    (0..70_000u32)
        .map(|i| (i.wrapping_mul(7) ^ (i / 251)) as u8)
        .collect()
}

/// 100 000 zero bytes (a hole), then "end".
fn sparse_content() -> Vec<u8> {
    let mut data = vec![0u8; 100_000];
    data.extend_from_slice(b"end");
    data
}

fn expected_tree() -> Tree {
    let mut tree = Tree::new();
    let mut put = |path: &str, node: Node| {
        tree.insert(path.as_bytes().to_vec(), node);
    };
    put("/README.txt", Node::File(README.to_vec()));
    put("/docs", Node::Dir);
    put("/docs/a.txt", Node::File(two_chunk_content()));
    put("/docs/empty", Node::File(Vec::new()));
    put("/docs/hard-link.txt", Node::File(README.to_vec()));
    put("/docs/sub", Node::Dir);
    put("/docs/sub/sparse.bin", Node::File(sparse_content()));
    put(UNICODE_NAME, Node::File(b"unicode\n".to_vec()));
    put("/fifo", Node::Special(FileKind::NamedPipe));
    put("/link", Node::Symlink(b"docs/a.txt".to_vec()));
    tree
}

/// (path, permission bits, link count) of every object.
const EXPECTED_ATTRS: [(&str, u16, u32); 11] = [
    ("/", 0o755, 3),
    ("/README.txt", 0o644, 2),
    ("/docs", 0o750, 3),
    ("/docs/a.txt", 0o640, 1),
    ("/docs/empty", 0o600, 1),
    ("/docs/hard-link.txt", 0o644, 2),
    ("/docs/sub", 0o700, 2),
    ("/docs/sub/sparse.bin", 0o644, 1),
    (UNICODE_NAME, 0o644, 1),
    ("/fifo", 0o600, 1),
    ("/link", 0o777, 1),
];

/// Verify everything the fixture promises.
fn verify_golden(fs: &Fs) {
    let tree = read_tree(fs).unwrap();
    let expected = expected_tree();
    assert!(
        tree == expected,
        "{}",
        describe_difference(&expected, &tree)
    );
    for (path, perm, nlink) in EXPECTED_ATTRS {
        let attr = fs.resolve(path.as_bytes()).unwrap();
        assert_eq!((attr.perm, attr.nlink), (perm, nlink), "{path}");
        assert_eq!((attr.uid, attr.gid), (OWNER.uid, OWNER.gid), "{path}");
        // Bytes 84..88 of format-1 inode records were reserved zeros: no Windows attribute.
        assert_eq!(attr.win_attrs, WinAttrs::NONE, "{path}");
        if path != "/" {
            assert_eq!(attr.mtime, GOLDEN_TIME, "{path}");
        }
    }
    let readme = fs.resolve(b"/README.txt").unwrap().ino;
    assert_eq!(fs.resolve(b"/docs/hard-link.txt").unwrap().ino, readme);
    let a = fs.resolve(b"/docs/a.txt").unwrap();
    assert_eq!(a.crtime, GOLDEN_TIME);
    assert_eq!(fs.listxattr(a.ino).unwrap(), [b"user.comment".to_vec()]);
    assert_eq!(fs.getxattr(a.ino, b"user.comment").unwrap(), b"golden");
    let docs = fs.resolve(b"/docs").unwrap();
    assert_eq!(docs.size, 5, "a directory's size is its number of entries");
    assert_eq!(fs.getxattr(docs.ino, b"user.empty").unwrap(), b"");
    // Format 1 had no reservations (inode bytes 88..96 zeros, no meta total): none, and
    // `check` finds the records agreeing with that.
    assert_eq!(fs.stats().reserved_bytes, 0);
    let report = fs.check(&mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(
        (
            report.files,
            report.directories,
            report.symlinks,
            report.special
        ),
        (5, 3, 1, 1)
    );
}

#[test]
fn the_golden_v1_file_system_opens_read_only_with_exact_contents() {
    let path = fixture_path();
    let before = std::fs::read(&path).unwrap();
    assert_eq!(before.len() as u64, GOLDEN_SIZE);
    let unlocked = Container::open(&path, Access::ReadOnly)
        .unwrap()
        .unlock(&SecretString::from(GOLDEN_PASSWORD))
        .unwrap();
    let stack = unlocked.open_stack(DeviceMode::ReadOnly).unwrap();
    let fs = Fs::open(stack, FsOptions::default()).unwrap();
    verify_golden(&fs);
    fs.close().unwrap();
    drop(unlocked);
    assert!(
        std::fs::read(&path).unwrap() == before,
        "a read-only open changed the fixture"
    );
}

#[test]
fn the_golden_v1_file_system_stays_usable_read_write() {
    // A copy in memory: opened read-write, changed, reopened.
    let storage = Arc::new(MemStorage::new(std::fs::read(fixture_path()).unwrap()));
    let open_golden = || {
        let unlocked = Container::open_storage(
            storage.clone() as Arc<dyn Storage>,
            Path::new("golden.sec"),
            Access::ReadWrite,
        )
        .unwrap()
        .unlock(&SecretString::from(GOLDEN_PASSWORD))
        .unwrap();
        Fs::open(
            unlocked.open_stack(DeviceMode::ReadWrite).unwrap(),
            test_options(),
        )
        .unwrap()
    };
    let fs = open_golden();
    verify_golden(&fs);
    let docs = fs.resolve(b"/docs").unwrap().ino;
    let (attr, fh) = fs
        .create(docs, b"new.txt", 0o644, OpenFlags::READ_WRITE, OWNER)
        .unwrap();
    fs.forget(attr.ino, 1);
    fs.write(fh, 0, b"added by a newer version").unwrap();
    fs.release(fh).unwrap();
    fs.close().unwrap();
    let fs = open_golden();
    let new = fs.resolve(b"/docs/new.txt").unwrap().ino;
    assert_eq!(read_file(&fs, new).unwrap(), b"added by a newer version");
    let report = fs.check(&mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    fs.close().unwrap();
}

/// Regenerates the fixture. Run once per file-system format, never to "fix" a failing test:
/// `cargo test -p secvol-fs --test golden -- --ignored make_golden_fs_fixture`
#[test]
#[ignore = "writes the committed fixture; run only when introducing a new file-system format"]
fn make_golden_fs_fixture() {
    let storage = Arc::new(MemStorage::default());
    let unlocked = secvol_core::create_on(
        storage.clone(),
        &fixture_path(),
        &SecretString::from(GOLDEN_PASSWORD),
        &CreateOptions {
            size: GOLDEN_SIZE,
            suite: CipherSuite::Aes256Gcm,
            kdf: ScryptParams::with_log_n(10),
            quick: true,
        },
        &mut |_, _| {},
    )
    .unwrap();
    let stack = unlocked.open_stack(DeviceMode::ReadWrite).unwrap();
    Fs::format(stack.clone(), OWNER).unwrap();
    let fs = Fs::open(stack, test_options()).unwrap();

    let file = |parent: u64, name: &str, perm: u16, data: &[u8]| {
        let (attr, fh) = fs
            .create(parent, name.as_bytes(), perm, OpenFlags::READ_WRITE, OWNER)
            .unwrap();
        fs.forget(attr.ino, 1);
        if !data.is_empty() {
            fs.write(fh, 0, data).unwrap();
        }
        fs.release(fh).unwrap();
        attr.ino
    };
    let dir = |parent: u64, name: &str, perm: u16| {
        let attr = fs.mkdir(parent, name.as_bytes(), perm, OWNER).unwrap();
        fs.forget(attr.ino, 1);
        attr.ino
    };
    let readme = file(ROOT_INO, "README.txt", 0o644, README);
    let docs = dir(ROOT_INO, "docs", 0o750);
    let a = file(docs, "a.txt", 0o640, &two_chunk_content());
    file(docs, "empty", 0o600, b"");
    let sub = dir(docs, "sub", 0o700);
    let (sparse_attr, fh) = fs
        .create(sub, b"sparse.bin", 0o644, OpenFlags::READ_WRITE, OWNER)
        .unwrap();
    fs.forget(sparse_attr.ino, 1);
    fs.write(fh, 100_000, b"end").unwrap();
    fs.release(fh).unwrap();
    let unicode = UNICODE_NAME.rsplit('/').next().unwrap();
    file(docs, unicode, 0o644, b"unicode\n");
    let link = fs.link(readme, docs, b"hard-link.txt").unwrap();
    fs.forget(link.ino, 1);
    let symlink = fs.symlink(ROOT_INO, b"link", b"docs/a.txt", OWNER).unwrap();
    fs.forget(symlink.ino, 1);
    let fifo = fs
        .mknod(ROOT_INO, b"fifo", FileKind::NamedPipe, 0o600, 0, OWNER)
        .unwrap();
    fs.forget(fifo.ino, 1);
    fs.setxattr(a, b"user.comment", b"golden", XattrMode::Create)
        .unwrap();
    fs.setxattr(docs, b"user.empty", b"", XattrMode::Create)
        .unwrap();
    fs.setattr(
        a,
        SetAttr {
            crtime: Some(GOLDEN_TIME),
            ..SetAttr::default()
        },
    )
    .unwrap();
    // Fixed modification times last (adding entries touches the directories).
    for (path, _, _) in EXPECTED_ATTRS.iter().filter(|(p, _, _)| *p != "/") {
        let ino = fs.resolve(path.as_bytes()).unwrap().ino;
        fs.setattr(
            ino,
            SetAttr {
                mtime: Some(TimeSet::At(GOLDEN_TIME)),
                ..SetAttr::default()
            },
        )
        .unwrap();
    }
    verify_golden(&fs);
    fs.close().unwrap();
    assert_eq!(storage.len().unwrap(), GOLDEN_SIZE);
    std::fs::create_dir_all(fixture_path().parent().unwrap()).unwrap();
    std::fs::write(fixture_path(), storage.snapshot()).unwrap();
}
