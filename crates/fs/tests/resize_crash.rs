//! Simulated power loss at every write of a resize.
//!
//! A container holding a tree of files is grown (with and without the random fill) and
//! shrunk (after deletions, so the database must be compacted out of the tail) on a
//! [`CrashStorage`]. After *every* write the resize issues, a crash image is taken in which
//! that write is torn and every earlier unsynced write reached the disk; before every sync, one
//! more in which a random subset of the unsynced writes reached the disk (one of them torn)
//! and one in which none did. Each image must
//! * open with the password, at the old or at the new size, both header copies agreeing or the
//!   primary valid (never "damaged", "truncated" or "wrong password"),
//! * hold exactly the tree of files, pass `check`, and offer the space of the size it opened at
//!   (the file system opens read-write and takes on a grown capacity by itself),
//! * and, for a sample, let the resize run again to completion with the tree intact (what the
//!   user does after the crash).

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use common::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use secvol_core::storage::Storage;
use secvol_core::testing::{CrashMode, CrashStorage, MemStorage};
use secvol_core::{Access, BlockDevice, Container, DeviceMode, SecretString, UnlockedContainer};
use secvol_fs::resize::{fit_into, take_on_capacity, usable_bytes_for_capacity};
use secvol_fs::{Fs, OpenFlags, ROOT_INO};

const MIB: u64 = 1 << 20;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// What every crash image is checked against.
struct Expectation {
    tree: Tree,
    old_len: u64,
    new_len: u64,
    /// Run the resize again on every n-th image.
    resume_every: usize,
    quick: bool,
}

#[derive(Debug, Default)]
struct Counts {
    images: usize,
    at_old_size: usize,
    at_new_size: usize,
    resumed: usize,
    writes: usize,
    syncs: usize,
    /// The resize (a shrink) compacted the database.
    compacted: bool,
}

/// A [`CrashStorage`] that verifies a crash image at every write and before every sync.
struct EveryWrite {
    crash: CrashStorage,
    rng: Mutex<StdRng>,
    expect: Expectation,
    counts: Mutex<Counts>,
    /// Off while the test sets the container up.
    armed: Mutex<bool>,
}

impl std::fmt::Debug for EveryWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EveryWrite")
    }
}

impl EveryWrite {
    fn new(image: Vec<u8>, expect: Expectation, seed: u64) -> Self {
        EveryWrite {
            crash: CrashStorage::new(image),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            expect,
            counts: Mutex::new(Counts::default()),
            armed: Mutex::new(true),
        }
    }

    fn image(&self, mode: CrashMode) -> Vec<u8> {
        self.crash.crash_image(mode, &mut *lock(&self.rng))
    }

    fn check(&self, image: Vec<u8>, what: &str) {
        let index = {
            let mut counts = lock(&self.counts);
            counts.images += 1;
            counts.images
        };
        let resume = index % self.expect.resume_every == 0;
        match verify(image, &self.expect, resume) {
            Ok(at_new) => {
                let mut counts = lock(&self.counts);
                if at_new {
                    counts.at_new_size += 1;
                } else {
                    counts.at_old_size += 1;
                }
                if resume {
                    counts.resumed += 1;
                }
            }
            Err(problem) => panic!("crash image {index} ({what}): {problem}"),
        }
    }
}

impl Storage for EveryWrite {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.crash.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.crash.write_at(offset, data)?;
        if *lock(&self.armed) {
            lock(&self.counts).writes += 1;
            let torn = self.crash.pending_writes() - 1;
            let image = self.image(CrashMode::TearAt(torn));
            self.check(
                image,
                &format!("write of {} bytes at {offset} torn", data.len()),
            );
        }
        Ok(())
    }
    fn sync(&self) -> std::io::Result<()> {
        if *lock(&self.armed) && self.crash.pending_writes() > 0 {
            lock(&self.counts).syncs += 1;
            for mode in [CrashMode::Random, CrashMode::DropAll] {
                let image = self.image(mode);
                self.check(image, &format!("before a sync, {mode:?}"));
            }
        }
        self.crash.sync()
    }
    fn len(&self) -> std::io::Result<u64> {
        self.crash.len()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.crash.set_len(len)
    }
}

fn unlock(storage: Arc<dyn Storage>) -> Result<UnlockedContainer, String> {
    Container::open_storage(storage, Path::new("crash.sec"), Access::ReadWrite)
        .map_err(|e| format!("the container does not open: {e}"))?
        .unlock(&SecretString::from(PASSWORD))
        .map_err(|e| format!("the password does not open it: {e}"))
}

/// Check one crash image; `Ok(true)` if it opened at the new size.
fn verify(image: Vec<u8>, expect: &Expectation, resume: bool) -> Result<bool, String> {
    let storage = Arc::new(MemStorage::new(image));
    let container = Container::open_storage(
        storage.clone() as Arc<dyn Storage>,
        Path::new("crash.sec"),
        Access::ReadWrite,
    )
    .map_err(|e| format!("the container does not open: {e}"))?;
    // The copy that decides is always whole; only the primary may be torn (the write in
    // flight), and two whole copies never disagree.
    let status = container.header_status();
    if let Err(damage) = status.backup {
        return Err(format!(
            "the backup header copy is damaged ({damage}; primary: {:?})",
            status.primary
        ));
    }
    if status.copies_differ {
        return Err("the two header copies differ".into());
    }
    let mut unlocked = container
        .unlock(&SecretString::from(PASSWORD))
        .map_err(|e| format!("the password does not open it: {e}"))?;
    let len = unlocked.header().geometry.container_len;
    let at_new = if len == expect.new_len {
        true
    } else if len == expect.old_len {
        false
    } else {
        return Err(format!(
            "it opened at {len} bytes, neither {} nor {}",
            expect.old_len, expect.new_len
        ));
    };
    let capacity = unlocked.header().geometry.capacity_blocks;
    check_files(&unlocked, expect, capacity)?;
    if resume {
        finish_resize(&mut unlocked, expect)?;
        let capacity = unlocked.header().geometry.capacity_blocks;
        if unlocked.header().geometry.container_len != expect.new_len {
            return Err("resuming the resize did not reach the new size".into());
        }
        if storage.len().unwrap() != expect.new_len {
            return Err(format!(
                "after resuming the file is {} bytes long",
                storage.len().unwrap()
            ));
        }
        check_files(&unlocked, expect, capacity)?;
    }
    Ok(at_new)
}

/// Open the file system read-write, compare the tree, run `check`, compare the space offered.
fn check_files(
    unlocked: &UnlockedContainer,
    expect: &Expectation,
    capacity_blocks: u64,
) -> Result<(), String> {
    let stack = unlocked
        .open_stack(DeviceMode::ReadWrite)
        .map_err(|e| format!("the device does not open: {e}"))?;
    let fs = Fs::open(stack, test_options())
        .map_err(|e| format!("the file system does not open: {e}"))?;
    let tree = read_tree(&fs).map_err(|e| format!("reading the tree failed: {e}"))?;
    if tree != expect.tree {
        return Err(format!(
            "the files changed: {}",
            describe_difference(&expect.tree, &tree)
        ));
    }
    let report = fs.check(&mut |_, _| {}).map_err(|e| e.to_string())?;
    if !report.is_clean() {
        return Err(format!("check found: {:?}", report.problems));
    }
    let blocks = fs.statfs().map_err(|e| e.to_string())?.blocks;
    if blocks != usable_bytes_for_capacity(capacity_blocks) / 4096 {
        return Err(format!(
            "the file system offers {blocks} blocks, not the space of its container"
        ));
    }
    fs.close().map_err(|e| format!("close failed: {e}"))
}

/// What `secvol resize` does, on any storage. Returns whether a shrink compacted the
/// database.
fn resize(unlocked: &mut UnlockedContainer, new_len: u64, quick: bool) -> Result<bool, String> {
    let old = unlocked.header().geometry;
    unlocked
        .discard_leftover_tail()
        .map_err(|e| e.to_string())?;
    if new_len > old.container_len {
        unlocked
            .grow(new_len, quick, &mut |_, _| {})
            .map_err(|e| format!("grow: {e}"))?;
        let device: Arc<dyn BlockDevice> =
            Arc::new(unlocked.open_device(false).map_err(|e| e.to_string())?);
        take_on_capacity(device).map_err(|e| format!("taking on the capacity: {e}"))?;
    } else if new_len < old.container_len {
        let target = unlocked
            .geometry_for_len(new_len)
            .map_err(|e| e.to_string())?;
        let device: Arc<dyn BlockDevice> =
            Arc::new(unlocked.open_device(false).map_err(|e| e.to_string())?);
        let fitted = fit_into(device, target.capacity_blocks).map_err(|e| format!("fit: {e}"))?;
        unlocked
            .shrink(new_len)
            .map_err(|e| format!("shrink: {e}"))?;
        return Ok(fitted.compacted);
    }
    Ok(false)
}

fn finish_resize(unlocked: &mut UnlockedContainer, expect: &Expectation) -> Result<(), String> {
    resize(unlocked, expect.new_len, expect.quick)
        .map(drop)
        .map_err(|e| format!("resuming: {e}"))
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(u64::from(seed));
    (0..len).map(|_| rng.random()).collect()
}

/// A container of `len` bytes holding a few files (written with holes when `holes`), and its
/// tree.
fn populated(len: u64, holes: bool) -> (Vec<u8>, Tree) {
    let storage = new_storage(len);
    let fs = open(storage.clone());
    let dir = fs.mkdir(ROOT_INO, b"records", 0o755, ME).unwrap();
    for i in 0..8u8 {
        let size = [300_000, 4096, 700_000, 90_000][usize::from(i) % 4];
        let (attr, fh) = fs
            .create(
                dir.ino,
                format!("scan-{i}.pdf").as_bytes(),
                0o644,
                OpenFlags::READ_WRITE,
                ME,
            )
            .unwrap();
        fs.write(fh, 0, &pattern(i, size)).unwrap();
        fs.release(fh).unwrap();
        fs.forget(attr.ino, 1);
        fs.sync().unwrap();
    }
    if holes {
        for i in (0..8u8).step_by(2) {
            fs.unlink(dir.ino, format!("scan-{i}.pdf").as_bytes())
                .unwrap();
        }
    }
    let tree = read_tree(&fs).unwrap();
    fs.close().unwrap();
    (storage.snapshot(), tree)
}

fn run_with_crashes(old_len: u64, new_len: u64, quick: bool, holes: bool, seed: u64) -> Counts {
    let (image, tree) = populated(old_len, holes);
    let storage = Arc::new(EveryWrite::new(
        image,
        Expectation {
            tree,
            old_len,
            new_len,
            resume_every: 7,
            quick,
        },
        seed,
    ));
    let mut unlocked = unlock(storage.clone() as Arc<dyn Storage>).unwrap();
    let compacted = resize(&mut unlocked, new_len, quick).unwrap();
    drop(unlocked);
    *lock(&storage.armed) = false;
    // The finished resize itself.
    let done = storage.crash.live_image();
    assert_eq!(done.len() as u64, new_len);
    assert!(verify(done, &storage.expect, false).unwrap());
    let mut counts = std::mem::take(&mut *lock(&storage.counts));
    counts.compacted = compacted;
    counts
}

fn assert_both_sizes_seen(counts: &Counts) {
    assert!(
        counts.at_old_size > 0 && counts.at_new_size > 0,
        "crash images must fall on both sides of the switch: {counts:?}"
    );
    assert!(counts.resumed > 0, "{counts:?}");
}

#[test]
fn a_crash_at_any_write_of_a_grow_leaves_the_old_or_the_new_size_with_every_file() {
    let counts = run_with_crashes(3 * MIB, 6 * MIB, false, false, 1);
    eprintln!("grow: {counts:?}");
    assert!(counts.writes >= 8, "{counts:?}");
    assert_both_sizes_seen(&counts);
}

#[test]
fn a_crash_at_any_write_of_a_quick_grow_by_less_than_a_header_region_is_safe_too() {
    // The new backup header lands inside the old backup region.
    let counts = run_with_crashes(3 * MIB, 3 * MIB + 40 * 1024, true, false, 2);
    eprintln!("small quick grow: {counts:?}");
    assert_both_sizes_seen(&counts);
}

#[test]
fn a_crash_at_any_write_of_a_shrink_leaves_the_old_or_the_new_size_with_every_file() {
    let counts = run_with_crashes(8 * MIB, 3 * MIB, false, true, 3);
    eprintln!("shrink: {counts:?}");
    assert!(
        counts.compacted,
        "the shrink must move the database out of the tail"
    );
    assert!(counts.writes >= 8, "{counts:?}");
    assert_both_sizes_seen(&counts);
}
