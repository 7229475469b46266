//! Helpers of the file-system tests: containers in memory with a cheap KDF.
#![allow(dead_code, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use secvol_core::storage::Storage;
use secvol_core::testing::MemStorage;
use secvol_core::{
    Access, BlockDevice, CipherSuite, Container, CreateOptions, DeviceMode, DeviceStack,
    ScryptParams, SecretString,
};
use secvol_fs::{Ctx, Fs, FsOptions};

pub const PASSWORD: &str = "correct horse battery staple";

/// A new container of `size` bytes in memory with an empty file system on it.
pub fn new_storage(size: u64) -> Arc<MemStorage> {
    let storage = Arc::new(MemStorage::default());
    let unlocked = secvol_core::create_on(
        storage.clone(),
        Path::new("test.sec"),
        &SecretString::from(PASSWORD),
        &CreateOptions {
            size,
            suite: CipherSuite::Aes256Gcm,
            kdf: ScryptParams::with_log_n(10),
            quick: true,
        },
        &mut |_, _| {},
    )
    .unwrap();
    Fs::format(
        unlocked.open_stack(DeviceMode::ReadWrite).unwrap(),
        Ctx {
            uid: 1000,
            gid: 1000,
        },
    )
    .unwrap();
    storage
}

fn unlock(storage: Arc<dyn Storage>) -> secvol_core::UnlockedContainer {
    Container::open_storage(storage, Path::new("test.sec"), Access::ReadWrite)
        .unwrap()
        .unlock(&SecretString::from(PASSWORD))
        .unwrap()
}

/// The encrypted block device of the container in `storage`, without decorators.
pub fn device(storage: Arc<dyn Storage>, read_only: bool) -> Arc<dyn BlockDevice> {
    Arc::new(unlock(storage).open_device(read_only).unwrap())
}

/// The device stack of the container in `storage`, built for `mode`.
pub fn stack(storage: Arc<dyn Storage>, mode: DeviceMode) -> DeviceStack {
    unlock(storage).open_stack(mode).unwrap()
}

/// Options for tests: no timer commits, so commits happen only where the test asks.
pub fn test_options() -> FsOptions {
    FsOptions {
        commit_interval: std::time::Duration::from_secs(3600),
        ..FsOptions::default()
    }
}

/// Open the file system in `storage`.
pub fn open(storage: Arc<dyn Storage>) -> Fs {
    Fs::open(stack(storage, DeviceMode::ReadWrite), test_options()).unwrap()
}

pub const ME: Ctx = Ctx {
    uid: 1000,
    gid: 1000,
};

// ---- helpers shared by the crash, fault, model, damage and golden tests ----------------------

/// What a path names, as far as the tests compare contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file and its bytes.
    File(Vec<u8>),
    /// A directory (its entries are the paths below it).
    Dir,
    /// A symbolic link and its target.
    Symlink(Vec<u8>),
    /// A FIFO, socket or device node.
    Special(secvol_fs::FileKind),
}

/// Every object below the root by absolute path ("/a/b"); the root itself is not listed.
pub type Tree = std::collections::BTreeMap<Vec<u8>, Node>;

/// `parent` + "/" + `name` ("/" + name for the root).
pub fn child_path(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = if parent == b"/" {
        Vec::new()
    } else {
        parent.to_vec()
    };
    path.push(b'/');
    path.extend_from_slice(name);
    path
}

/// Every name of a directory, in name order.
pub fn list_all(fs: &Fs, dir: secvol_fs::Ino) -> secvol_fs::FsResult<Vec<secvol_fs::DirEntry>> {
    let mut out: Vec<secvol_fs::DirEntry> = Vec::new();
    loop {
        let after = out.last().map(|e| e.name.clone());
        let batch = fs.list_dir(dir, after.as_deref(), 1000)?;
        if batch.is_empty() {
            return Ok(out);
        }
        out.extend(batch);
    }
}

/// Read the whole tree of a file system: names, kinds, file bytes and symlink targets.
pub fn read_tree(fs: &Fs) -> secvol_fs::FsResult<Tree> {
    use secvol_fs::FileKind;
    let mut tree = Tree::new();
    let mut pending = vec![(secvol_fs::ROOT_INO, b"/".to_vec())];
    while let Some((dir, dir_path)) = pending.pop() {
        for entry in list_all(fs, dir)? {
            let path = child_path(&dir_path, &entry.name);
            let node = match entry.kind {
                FileKind::Directory => {
                    pending.push((entry.ino, path.clone()));
                    Node::Dir
                }
                FileKind::RegularFile => Node::File(read_file(fs, entry.ino)?),
                FileKind::Symlink => Node::Symlink(fs.readlink(entry.ino)?),
                other => Node::Special(other),
            };
            tree.insert(path, node);
        }
    }
    Ok(tree)
}

/// The whole content of regular file `ino`.
pub fn read_file(fs: &Fs, ino: secvol_fs::Ino) -> secvol_fs::FsResult<Vec<u8>> {
    let size = fs.getattr(ino)?.size;
    let mut data = Vec::with_capacity(size as usize);
    while (data.len() as u64) < size {
        let piece = fs.read_ino(ino, data.len() as u64, 1 << 20)?;
        if piece.is_empty() {
            break;
        }
        data.extend_from_slice(&piece);
    }
    Ok(data)
}

/// A readable account of how two trees differ (for failure messages).
pub fn describe_difference(expected: &Tree, actual: &Tree) -> String {
    let mut lines = Vec::new();
    for (path, node) in expected {
        match actual.get(path) {
            None => lines.push(format!("missing {}", String::from_utf8_lossy(path))),
            Some(found) if found != node => lines.push(format!(
                "differs {}: expected {}, found {}",
                String::from_utf8_lossy(path),
                summary(node),
                summary(found)
            )),
            Some(_) => {}
        }
    }
    for path in actual.keys().filter(|p| !expected.contains_key(*p)) {
        lines.push(format!("unexpected {}", String::from_utf8_lossy(path)));
    }
    lines.truncate(12);
    lines.join("; ")
}

fn summary(node: &Node) -> String {
    match node {
        Node::File(data) => format!("file of {} bytes", data.len()),
        Node::Dir => "directory".into(),
        Node::Symlink(target) => format!("symlink to {}", String::from_utf8_lossy(target)),
        Node::Special(kind) => format!("{kind:?}"),
    }
}

/// A fresh container of `size` bytes with an empty file system, as an image.
pub fn formatted_image(size: u64) -> Vec<u8> {
    new_storage(size).snapshot()
}

/// Open the container in `storage` on a check stack (read-only, damaged blocks read as zeros
/// and counted, blocks read recorded: as the CLI) and run `check`.
pub fn check_storage(storage: Arc<dyn Storage>) -> secvol_fs::FsResult<secvol_fs::CheckReport> {
    let fs = Fs::open(stack(storage, DeviceMode::Check), test_options())?;
    let report = fs.check(&mut |_, _| {})?;
    fs.close()?;
    Ok(report)
}

/// The seed of a randomized test: `SECVOL_TEST_SEED` if set, otherwise a fresh one. Printed,
/// so a failing run can be repeated with `SECVOL_TEST_SEED=<seed>`.
pub fn test_seed(test: &str) -> u64 {
    let seed = match std::env::var("SECVOL_TEST_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .expect("SECVOL_TEST_SEED must be an unsigned integer"),
        Err(_) => rand::random(),
    };
    eprintln!("{test}: seed {seed} (repeat with SECVOL_TEST_SEED={seed})");
    seed
}
