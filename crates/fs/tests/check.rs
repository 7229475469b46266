//! Damage that `check` must find.
//!
//! * A flipped bit in the ciphertext of a block holding file data: the block fails
//!   authentication, reads of the file fail (never return wrong bytes), and `check` names the
//!   damaged file's path.
//! * Replay: one block put back to an older, authentic version of itself (a copy of the
//!   container taken before a file was modified). Authentication cannot see this — the old
//!   ciphertext is genuine — so it is the storage engine's page checksums that must catch it:
//!   `check` must not pass silently for any block that changed.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use common::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use secvol_core::geometry::BLOCK_SIZE_U64;
use secvol_core::storage::Storage;
use secvol_core::testing::MemStorage;
use secvol_core::{CipherSuite, Geometry, ReadMode};
use secvol_fs::{CheckReport, OpenFlags, Problem, ROOT_INO, RenameFlags};

const CONTAINER_SIZE: u64 = 8 << 20;

fn geometry(storage: &MemStorage) -> Geometry {
    Geometry::for_container_len(storage.len().unwrap(), CipherSuite::Aes256Gcm).unwrap()
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill(&mut data[..]);
    data
}

/// Write `data` as the new file `path` (parents must exist).
fn put_file(fs: &secvol_fs::Fs, path: &[u8], data: &[u8]) {
    let (parent, name) = fs.resolve_parent(path).unwrap();
    let (attr, fh) = fs
        .create(parent, name, 0o644, OpenFlags::READ_WRITE, ME)
        .unwrap();
    fs.forget(attr.ino, 1);
    assert_eq!(fs.write(fh, 0, data).unwrap() as usize, data.len());
    fs.release(fh).unwrap();
}

/// The logical block whose plaintext contains `needle`.
fn block_containing(storage: Arc<MemStorage>, needle: &[u8]) -> u64 {
    let device = device(storage, true);
    let mut block = vec![0u8; 4096];
    (1..device.len() / BLOCK_SIZE_U64)
        .find(|&index| {
            device
                .read_blocks(index, &mut block, ReadMode::Strict)
                .unwrap();
            block.windows(needle.len()).any(|w| w == needle)
        })
        .expect("the file's bytes are in some block")
}

#[test]
fn a_corrupted_data_block_makes_check_name_the_file_and_reads_fail() {
    let storage = new_storage(CONTAINER_SIZE);
    let fs = open(storage.clone());
    let report_bytes = random_bytes(1, 200_000);
    let other_bytes = random_bytes(2, 30_000);
    let docs = fs.mkdir(ROOT_INO, b"docs", 0o755, ME).unwrap();
    fs.forget(docs.ino, 1);
    put_file(&fs, b"/docs/report.bin", &report_bytes);
    put_file(&fs, b"/other.bin", &other_bytes);
    fs.close().unwrap();

    // A block inside the file's second chunk (offset 70 000).
    let index = block_containing(storage.clone(), &report_bytes[70_000..70_064]);
    let offset = geometry(&storage).data_offset(index) + 1234;
    let mut byte = [0u8; 1];
    storage.read_at(offset, &mut byte).unwrap();
    storage.poke(offset, &[byte[0] ^ 0x10]);

    let report = check_storage(storage.clone()).unwrap();
    assert!(!report.is_clean());
    assert!(report.damaged_blocks >= 1, "{report:?}");
    let damaged: Vec<&str> = report
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::DamagedFile { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(damaged, ["/docs/report.bin"], "{:?}", report.problems);

    // A mounted file system reads the undamaged file and the undamaged start of the damaged
    // one, and answers an error for the damaged range, never other bytes. (The storage engine
    // then refuses everything until the container is reopened.)
    let fs = open(storage.clone());
    let other = fs.resolve(b"/other.bin").unwrap().ino;
    assert!(read_file(&fs, other).unwrap() == other_bytes);
    let ino = fs.resolve(b"/docs/report.bin").unwrap().ino;
    assert_eq!(fs.read_ino(ino, 0, 4096).unwrap(), &report_bytes[..4096]);
    assert!(fs.read_ino(ino, 65_512, 65_512).is_err());
    drop(fs);
}

/// How a damaged container was noticed.
#[derive(Debug)]
enum Detection {
    /// `check` ran and listed problems.
    Reported,
    /// The file system did not open or `check` returned an error.
    Refused,
    /// The storage engine gave up with a panic (the CLI reports this as damage).
    Panicked,
    /// Nothing was noticed.
    Silent(Box<CheckReport>),
}

fn detect(image: Vec<u8>) -> Detection {
    let storage = Arc::new(MemStorage::new(image));
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = catch_unwind(AssertUnwindSafe(|| check_storage(storage)));
    std::panic::set_hook(quiet);
    match outcome {
        Ok(Ok(report)) if report.is_clean() => Detection::Silent(Box::new(report)),
        Ok(Ok(_)) => Detection::Reported,
        Ok(Err(_)) => Detection::Refused,
        Err(_) => Detection::Panicked,
    }
}

/// Logical blocks (block 0 excepted: it lives in the super slots) whose stored ciphertext or
/// nonce and tag differ between two images.
fn changed_blocks(geometry: &Geometry, old: &[u8], new: &[u8]) -> Vec<u64> {
    let meta_len = geometry.block_meta_len as usize;
    (1..geometry.capacity_blocks)
        .filter(|&index| {
            let data = geometry.data_offset(index) as usize;
            let meta = geometry.meta_offset(index) as usize;
            old[data..data + 4096] != new[data..data + 4096]
                || old[meta..meta + meta_len] != new[meta..meta + meta_len]
        })
        .collect()
}

/// `image` with block `index` (ciphertext, nonce and tag) taken from `older`.
fn with_block_from(geometry: &Geometry, image: &[u8], older: &[u8], index: u64) -> Vec<u8> {
    let mut out = image.to_vec();
    let meta_len = geometry.block_meta_len as usize;
    let data = geometry.data_offset(index) as usize;
    let meta = geometry.meta_offset(index) as usize;
    out[data..data + 4096].copy_from_slice(&older[data..data + 4096]);
    out[meta..meta + meta_len].copy_from_slice(&older[meta..meta + meta_len]);
    out
}

#[test]
fn an_older_authentic_block_put_back_is_never_silent() {
    let storage = new_storage(CONTAINER_SIZE);
    let fs = open(storage.clone());
    let big = random_bytes(3, 300_000);
    let dir = fs.mkdir(ROOT_INO, b"archive", 0o755, ME).unwrap();
    fs.forget(dir.ino, 1);
    put_file(&fs, b"/archive/big.bin", &big);
    for i in 0..20u64 {
        let name = format!("/archive/small-{i}.txt");
        put_file(
            &fs,
            name.as_bytes(),
            &random_bytes(100 + i, 200 + 97 * i as usize),
        );
    }
    fs.close().unwrap();
    let older = storage.snapshot();

    // Modify: overwrite inside the big file (two chunks), rewrite a small file, rename one.
    let fs = open(storage.clone());
    let ino = fs.resolve(b"/archive/big.bin").unwrap().ino;
    fs.write_ino(ino, 60_000, &random_bytes(4, 20_000), false)
        .unwrap();
    let small = fs.resolve(b"/archive/small-3.txt").unwrap().ino;
    fs.write_ino(small, 0, b"changed", false).unwrap();
    fs.rename(
        dir.ino,
        b"small-7.txt",
        ROOT_INO,
        b"moved.txt",
        RenameFlags::default(),
    )
    .unwrap();
    fs.sync().unwrap();
    fs.close().unwrap();
    let newer = storage.snapshot();
    assert!(check_storage(storage.clone()).unwrap().is_clean());

    let geometry = geometry(&storage);
    let changed = changed_blocks(&geometry, &older, &newer);
    assert!(changed.len() >= 5, "{changed:?}");
    let mut detected = Vec::new();
    let mut unused = Vec::new();
    // Growing the database file back to the whole container (after the clean close shrank
    // it) rewrites many free blocks; replaying a free block changes nothing readable, so
    // only a sample of them is replayed (the in-use ones all are).
    let mut free_sampled = 0;
    for &index in &changed {
        if is_unused(&geometry, &newer, index) {
            free_sampled += 1;
            if free_sampled > 16 {
                unused.push(index);
                continue;
            }
        }
        let replayed = with_block_from(&geometry, &newer, &older, index);
        match detect(replayed) {
            Detection::Silent(_) => {
                // Only a block the newer file system does not use at all may come back
                // unnoticed: a page the storage engine has freed, whose content nothing reads.
                assert!(
                    is_unused(&geometry, &newer, index),
                    "replaying block {index} was not detected, and the block is in use"
                );
                unused.push(index);
            }
            outcome => detected.push((index, outcome)),
        }
    }
    eprintln!(
        "replay: {} changed blocks; {} detected ({:?}); {} free in the newer image ({unused:?})",
        changed.len(),
        detected.len(),
        detected
            .iter()
            .map(|(i, d)| (i, d.kind()))
            .collect::<Vec<_>>(),
        unused.len()
    );
    let in_use = changed.len() - unused.len();
    assert!(
        in_use >= 5 && detected.len() >= in_use / 2,
        "{in_use} replayed blocks in use, detected {detected:?}"
    );
}

impl Detection {
    fn kind(&self) -> &'static str {
        match self {
            Detection::Reported => "reported",
            Detection::Refused => "refused to open",
            Detection::Panicked => "engine panicked",
            Detection::Silent(_) => "silent",
        }
    }
}

/// Whether the file system in `image` never reads block `index`: with the block made
/// unauthentic, a lenient `check` still counts no damaged block and finds nothing.
fn is_unused(geometry: &Geometry, image: &[u8], index: u64) -> bool {
    let mut damaged = image.to_vec();
    damaged[geometry.data_offset(index) as usize + 7] ^= 1;
    match detect(damaged) {
        Detection::Silent(report) => report.damaged_blocks == 0,
        _ => false,
    }
}

/// Every file in a populated container, with its bytes.
fn snapshot_files(storage: Arc<MemStorage>, paths: &[&[u8]]) -> Vec<Vec<u8>> {
    let fs = open(storage);
    let files = paths
        .iter()
        .map(|path| read_file(&fs, fs.resolve(path).unwrap().ino).unwrap())
        .collect();
    fs.close().unwrap();
    files
}

#[test]
fn the_blocks_check_calls_in_use_are_all_the_file_system_needs() {
    // If the set of blocks in use that check records missed one, a "stale free block" repair
    // could wipe live data. So wipe every block outside the set (make it read as zeros) and
    // require the file system to be exactly as before and to check clean.
    let storage = new_storage(CONTAINER_SIZE);
    let fs = open(storage.clone());
    let docs = fs.mkdir(ROOT_INO, b"docs", 0o755, ME).unwrap();
    fs.forget(docs.ino, 1);
    let paths: [&[u8]; 4] = [b"/docs/a.bin", b"/docs/b.bin", b"/c.bin", b"/small"];
    for (seed, path) in paths.iter().enumerate() {
        let len = [300_000, 70_000, 1_000_000, 100][seed];
        put_file(&fs, path, &random_bytes(seed as u64, len));
    }
    fs.sync().unwrap();
    // Churn, so that freed pages exist between live ones.
    fs.unlink(docs.ino, b"b.bin").unwrap();
    put_file(&fs, b"/docs/b.bin", &random_bytes(9, 150_000));
    fs.close().unwrap();
    let before = snapshot_files(storage.clone(), &paths);

    let report = check_storage(storage.clone()).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let in_use = report.blocks_in_use.expect("a check stack records reads");
    let device = device(storage.clone(), false);
    let len_blocks = device.len() / BLOCK_SIZE_U64;
    assert!(
        in_use.len() > 10 && in_use.len() < len_blocks / 2,
        "{} of {len_blocks} blocks in use",
        in_use.len()
    );
    let free: Vec<std::ops::Range<u64>> = in_use
        .split(1..len_blocks)
        .into_iter()
        .filter(|(_, used)| !used)
        .map(|(range, _)| range)
        .collect();
    let geometry = geometry(&storage);
    let encrypted = secvol_core::Container::open_storage(
        storage.clone() as Arc<dyn Storage>,
        std::path::Path::new("test.sec"),
        secvol_core::Access::ReadWrite,
    )
    .unwrap()
    .unlock(&secvol_core::SecretString::from(PASSWORD))
    .unwrap()
    .open_device(false)
    .unwrap();
    // First make them fail authentication (flip a bit of each one's tag: a never-written
    // block's zero marker ignores its data bytes), as a torn write would.
    for range in &free {
        for index in range.clone() {
            let offset = geometry.meta_offset(index) + 20;
            let mut byte = [0u8; 1];
            storage.read_at(offset, &mut byte).unwrap();
            storage.poke(offset, &[byte[0] ^ 0x01]);
        }
    }
    let damaged = encrypted.verify(&mut |_, _| {}).unwrap();
    let damage = damaged.classify(&in_use);
    assert!(damage.in_use.is_empty(), "{:?}", damage.in_use);
    assert_eq!(
        secvol_core::DamageByUse::count(&damage.free),
        secvol_core::DamageByUse::count(&free)
    );
    // Check still finds nothing wrong in the file system, then the repair wipes them all.
    let report = check_storage(storage.clone()).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    encrypted.reset_free_blocks(&damage.free).unwrap();
    assert!(encrypted.verify(&mut |_, _| {}).unwrap().is_clean());
    drop(encrypted);
    assert!(snapshot_files(storage.clone(), &paths) == before);
    let report = check_storage(storage).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
