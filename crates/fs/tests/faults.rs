//! Failing storage and full containers.
//!
//! * A host file that starts failing in the middle of a workload (a yanked USB key, a dying
//!   disk): the operation that meets the failure returns an error (never a panic), the file
//!   system refuses further changes, and after reopening the container checks clean and holds
//!   the last commit (or, if the failure hit a commit after its writes were done, that commit).
//! * A full container: writes are refused with "no space" by the file system's own space
//!   account (the storage engine's safety net never fires), a refused operation changes
//!   nothing, the file system stays consistent, and deleting files gives the space back.

mod common;

use std::sync::Arc;

use common::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use secvol_core::DeviceMode;
use secvol_core::storage::Storage;
use secvol_core::testing::{FailingStorage, MemStorage};
use secvol_fs::{Fs, FsError, FsResult, OpenFlags, RenameFlags, SetAttr, XattrMode};

// ---- a small random workload over paths, shared by both parts ---------------------------------

#[derive(Clone)]
enum Op {
    Create {
        path: Vec<u8>,
        data: Vec<u8>,
    },
    Write {
        path: Vec<u8>,
        offset: usize,
        data: Vec<u8>,
    },
    Truncate {
        path: Vec<u8>,
        size: usize,
    },
    Unlink {
        path: Vec<u8>,
    },
    Mkdir {
        path: Vec<u8>,
    },
    Rename {
        from: Vec<u8>,
        to: Vec<u8>,
    },
    SetXattr {
        path: Vec<u8>,
        value: Vec<u8>,
    },
    Sync,
}

impl std::fmt::Debug for Op {
    /// Paths and sizes, not the bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        match self {
            Op::Create { path, data } => write!(f, "create {} ({} bytes)", show(path), data.len()),
            Op::Write { path, offset, data } => {
                write!(f, "write {} at {offset} ({} bytes)", show(path), data.len())
            }
            Op::Truncate { path, size } => write!(f, "truncate {} to {size}", show(path)),
            Op::Unlink { path } => write!(f, "unlink {}", show(path)),
            Op::Mkdir { path } => write!(f, "mkdir {}", show(path)),
            Op::Rename { from, to } => write!(f, "rename {} to {}", show(from), show(to)),
            Op::SetXattr { path, value } => {
                write!(f, "setxattr {} ({} bytes)", show(path), value.len())
            }
            Op::Sync => write!(f, "sync"),
        }
    }
}

fn bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rng.fill(&mut data[..]);
    data
}

fn random_len(rng: &mut StdRng, large: usize) -> usize {
    match rng.random_range(0..10) {
        0..4 => rng.random_range(0..3000),
        4..7 => rng.random_range(3000..65_512),
        _ => rng.random_range(65_512..large.max(65_513)),
    }
}

/// A random operation that is valid for `model` (files at the top level and in /d*).
fn random_op(rng: &mut StdRng, model: &Tree, large: usize) -> Op {
    let files: Vec<&Vec<u8>> = model
        .iter()
        .filter(|(_, n)| matches!(n, Node::File(_)))
        .map(|(p, _)| p)
        .collect();
    let dirs: Vec<Vec<u8>> = std::iter::once(b"/".to_vec())
        .chain(
            model
                .iter()
                .filter(|(_, n)| **n == Node::Dir)
                .map(|(p, _)| p.clone()),
        )
        .collect();
    let new_path = |rng: &mut StdRng, prefix: &str| loop {
        let dir = &dirs[rng.random_range(0..dirs.len())];
        let name = format!("{prefix}{}", rng.random_range(0..1000u32));
        let path = child_path(dir, name.as_bytes());
        if !model.contains_key(&path) {
            break path;
        }
    };
    let any_file = |rng: &mut StdRng| files[rng.random_range(0..files.len())].clone();
    match rng.random_range(0..100) {
        _ if files.is_empty() => {
            let len = random_len(rng, large);
            Op::Create {
                path: new_path(rng, "f"),
                data: bytes(rng, len),
            }
        }
        0..30 => {
            let len = random_len(rng, large);
            Op::Create {
                path: new_path(rng, "f"),
                data: bytes(rng, len),
            }
        }
        30..55 => {
            let path = any_file(rng);
            let Some(Node::File(old)) = model.get(&path) else {
                unreachable!()
            };
            let offset = rng.random_range(0..=old.len() + 10_000);
            let len = random_len(rng, large);
            Op::Write {
                path,
                offset,
                data: bytes(rng, len),
            }
        }
        55..63 => {
            let path = any_file(rng);
            Op::Truncate {
                size: rng.random_range(0..150_000),
                path,
            }
        }
        63..72 => Op::Unlink {
            path: any_file(rng),
        },
        72..77 if dirs.len() < 4 => Op::Mkdir {
            path: new_path(rng, "d"),
        },
        77..85 => Op::Rename {
            from: any_file(rng),
            to: new_path(rng, "r"),
        },
        85..90 => {
            let len = rng.random_range(0..2000);
            Op::SetXattr {
                path: any_file(rng),
                value: bytes(rng, len),
            }
        }
        _ => Op::Sync,
    }
}

/// Apply `op` to the file system (several API calls for some).
fn apply_fs(fs: &Fs, op: &Op) -> FsResult<()> {
    match op {
        Op::Create { path, data } => {
            let (parent, name) = fs.resolve_parent(path)?;
            let (attr, fh) = fs.create(parent, name, 0o644, OpenFlags::READ_WRITE, ME)?;
            fs.forget(attr.ino, 1);
            let written = fs.write(fh, 0, data);
            fs.release(fh)?;
            written.map(|_| ())
        }
        Op::Write { path, offset, data } => {
            let ino = fs.resolve(path)?.ino;
            fs.write_ino(ino, *offset as u64, data, false).map(|_| ())
        }
        Op::Truncate { path, size } => {
            let ino = fs.resolve(path)?.ino;
            fs.setattr(
                ino,
                SetAttr {
                    size: Some(*size as u64),
                    ..SetAttr::default()
                },
            )
            .map(|_| ())
        }
        Op::Unlink { path } => {
            let (parent, name) = fs.resolve_parent(path)?;
            fs.unlink(parent, name)
        }
        Op::Mkdir { path } => {
            let (parent, name) = fs.resolve_parent(path)?;
            let attr = fs.mkdir(parent, name, 0o755, ME)?;
            fs.forget(attr.ino, 1);
            Ok(())
        }
        Op::Rename { from, to } => {
            let (parent, name) = fs.resolve_parent(from)?;
            let (new_parent, new_name) = fs.resolve_parent(to)?;
            fs.rename(parent, name, new_parent, new_name, RenameFlags::default())
        }
        Op::SetXattr { path, value } => {
            let ino = fs.resolve(path)?.ino;
            fs.setxattr(ino, b"user.test", value, XattrMode::Any)
        }
        Op::Sync => fs.sync(),
    }
}

/// Apply `op` to the model (extended attributes are not modelled here).
fn apply_model(model: &mut Tree, op: &Op) {
    match op {
        Op::Create { path, data } => {
            model.insert(path.clone(), Node::File(data.clone()));
        }
        Op::Write { path, offset, data } => {
            if let Some(Node::File(content)) = model.get_mut(path)
                && !data.is_empty()
            {
                if content.len() < offset + data.len() {
                    content.resize(offset + data.len(), 0);
                }
                content[*offset..offset + data.len()].copy_from_slice(data);
            }
        }
        Op::Truncate { path, size } => {
            if let Some(Node::File(content)) = model.get_mut(path) {
                content.resize(*size, 0);
            }
        }
        Op::Unlink { path } => {
            model.remove(path);
        }
        Op::Mkdir { path } => {
            model.insert(path.clone(), Node::Dir);
        }
        Op::Rename { from, to } => {
            let node = model.remove(from).expect("renamed file exists");
            model.insert(to.clone(), node);
        }
        Op::SetXattr { .. } | Op::Sync => {}
    }
}

fn check_clean(storage: Arc<dyn Storage>, context: &str) {
    let report = check_storage(storage).unwrap_or_else(|e| panic!("{context}: check failed: {e}"));
    assert!(report.is_clean(), "{context}: {:?}", report.problems);
}

// ---- failing storage ------------------------------------------------------------------------

/// A container with a few committed files, as an image, and its tree.
fn populated_image(rng: &mut StdRng) -> (Vec<u8>, Tree) {
    let storage = new_storage(8 << 20);
    let fs = open(storage.clone());
    let mut model = Tree::new();
    for _ in 0..12 {
        let op = random_op(rng, &model, 150_000);
        apply_fs(&fs, &op).unwrap();
        apply_model(&mut model, &op);
    }
    fs.close().unwrap();
    (storage.snapshot(), model)
}

#[test]
fn an_io_failure_is_an_error_and_the_container_reopens_with_its_last_commit() {
    let seed = test_seed("faults/io");
    let mut rng = StdRng::seed_from_u64(seed);
    let (base, base_tree) = populated_image(&mut rng);
    let mut failures_met = 0;
    let mut newer_commit_survived = 0;
    for round in 0..80 {
        let context = format!("seed {seed} (SECVOL_TEST_SEED={seed}), round {round}");
        let failing = Arc::new(FailingStorage::new(MemStorage::new(base.clone()), u64::MAX));
        let stack = stack(failing.clone(), DeviceMode::ReadWrite);
        // Some rounds fail while the file system opens; most in the middle of the workload.
        let fail_at_open = round % 8 == 0;
        if fail_at_open {
            failing.reset(rng.random_range(0..20));
        }
        let fs = match Fs::open(stack, test_options()) {
            Ok(fs) => Some(fs),
            Err(_) if fail_at_open => None,
            Err(e) => panic!("{context}: open failed: {e}"),
        };
        let mut durable = base_tree.clone();
        let mut model = base_tree.clone();
        let mut candidates = vec![durable.clone()];
        if let Some(fs) = fs {
            if !fail_at_open {
                failing.reset(rng.random_range(0..300));
            }
            let mut failed = false;
            // A create is two steps (create, then write), so that a commit between them is
            // tracked too.
            let mut steps: Vec<Op> = Vec::new();
            for _ in 0..200 {
                if steps.is_empty() {
                    steps = match random_op(&mut rng, &model, 150_000) {
                        Op::Create { path, data } => vec![
                            Op::Write {
                                path: path.clone(),
                                offset: 0,
                                data,
                            },
                            Op::Create {
                                path,
                                data: Vec::new(),
                            },
                        ],
                        op => vec![op],
                    };
                }
                let op = steps.pop().expect("a step");
                let commits_before = fs.stats().durable_commits;
                let result = apply_fs(&fs, &op);
                let mut after = model.clone();
                apply_model(&mut after, &op);
                match result {
                    Ok(()) => {
                        model = after;
                        if fs.stats().durable_commits > commits_before {
                            durable = model.clone();
                        }
                    }
                    Err(FsError::NoSpace) => panic!("{context}: unexpected no space"),
                    Err(_) => {
                        // The failure may have hit a commit whose writes were all done.
                        candidates = vec![durable.clone(), after];
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                failures_met += 1;
                // Broken until reopened: nothing more is accepted, nothing panics.
                assert!(fs.sync().is_err(), "{context}: sync after a failure");
                assert!(
                    apply_fs(
                        &fs,
                        &Op::Mkdir {
                            path: b"/after-failure".to_vec()
                        }
                    )
                    .is_err(),
                    "{context}: change after a failure"
                );
                drop(fs);
            } else {
                fs.close().unwrap();
                candidates = vec![model.clone()];
            }
        }
        let image = failing.inner().snapshot();
        let storage = Arc::new(MemStorage::new(image));
        let fs = open(storage.clone());
        let tree = read_tree(&fs).unwrap_or_else(|e| panic!("{context}: reading: {e}"));
        let which = candidates
            .iter()
            .position(|c| *c == tree)
            .unwrap_or_else(|| {
                let diffs: Vec<String> = candidates
                    .iter()
                    .map(|c| describe_difference(c, &tree))
                    .collect();
                panic!("{context}: reopened tree matches no commit: {diffs:?}")
            });
        if which == 1 && candidates[0] != candidates[1] {
            newer_commit_survived += 1;
        }
        fs.close().unwrap();
        check_clean(storage, &context);
    }
    eprintln!(
        "faults/io: {failures_met} failures met, {newer_commit_survived} times the failing \
         commit had reached the disk"
    );
    assert!(failures_met >= 50, "{failures_met}");
}

// ---- full containers ----------------------------------------------------------------------------

const SMALL_CONTAINER: u64 = 3 << 20;

/// Apply random operations until `goal` operations were refused for lack of space. Every
/// refusal must leave the tree unchanged. Returns the number of refusals seen.
fn fill(fs: &Fs, model: &mut Tree, rng: &mut StdRng, large: usize, goal: usize) -> usize {
    let mut refusals = 0;
    for _ in 0..3000 {
        let op = random_op(rng, model, large);
        match apply_fs(fs, &op) {
            Ok(()) => apply_model(model, &op),
            Err(FsError::NoSpace) => {
                refusals += 1;
                if let Op::Create { path, .. } = &op
                    && fs.resolve(path).is_ok()
                {
                    // The file was created, then its write was refused as a whole.
                    model.insert(path.clone(), Node::File(Vec::new()));
                }
                let tree = read_tree(fs).unwrap();
                assert!(
                    tree == *model,
                    "a refused {op:?} changed the tree: {}",
                    describe_difference(model, &tree)
                );
                if refusals >= goal {
                    break;
                }
            }
            Err(e) => panic!("{op:?} failed: {e}"),
        }
    }
    refusals
}

fn file_bytes(model: &Tree) -> usize {
    model
        .values()
        .map(|n| match n {
            Node::File(d) => d.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn a_full_container_refuses_cleanly_and_deleting_gives_the_space_back() {
    let seed = test_seed("faults/full");
    let mut rng = StdRng::seed_from_u64(seed);
    let base = formatted_image(SMALL_CONTAINER);
    // Large writes (whole chunks), then a mix dominated by small files.
    for (large, label) in [(400_000, "large files"), (70_000, "small files")] {
        let context = format!("seed {seed} (SECVOL_TEST_SEED={seed}), {label}");
        let storage = Arc::new(MemStorage::new(base.clone()));
        let fs = open(storage.clone());
        let mut model = Tree::new();
        let refusals = fill(&fs, &mut model, &mut rng, large, 25);
        assert!(refusals >= 25, "{context}: the container never filled up");
        let stats = fs.stats();
        assert_eq!(
            stats.safety_net_events, 0,
            "{context}: the storage engine ran out of room before the account did"
        );
        let stored = file_bytes(&model);
        eprintln!(
            "faults/full {label}: {stored} bytes of files in a {SMALL_CONTAINER}-byte container; \
             account {} of {} usable",
            stats.used_bytes, stats.usable_bytes
        );
        assert!(
            stats.used_bytes * 10 >= stats.usable_bytes * 8,
            "{context}: refused while the account says only {} of {} are used",
            stats.used_bytes,
            stats.usable_bytes
        );
        let report = fs.check(&mut |_, _| {}).unwrap();
        assert!(report.is_clean(), "{context}: {:?}", report.problems);

        // Delete about half of the files: writing works again.
        let files: Vec<Vec<u8>> = model
            .iter()
            .filter(|(_, n)| matches!(n, Node::File(_)))
            .map(|(p, _)| p.clone())
            .collect();
        for path in files.iter().step_by(2) {
            apply_fs(&fs, &Op::Unlink { path: path.clone() }).unwrap();
            model.remove(path);
        }
        let freed = stored - file_bytes(&model);
        let again = Op::Create {
            path: b"/written-after-deleting".to_vec(),
            data: bytes(&mut rng, freed / 3),
        };
        apply_fs(&fs, &again).unwrap_or_else(|e| {
            panic!(
                "{context}: writing {} bytes after freeing {freed}: {e}",
                freed / 3
            )
        });
        apply_model(&mut model, &again);
        // And it fills up again, still without the safety net.
        fill(&fs, &mut model, &mut rng, large, 5);
        assert_eq!(fs.stats().safety_net_events, 0, "{context}");
        fs.close().unwrap();

        let fs = open(storage.clone());
        let tree = read_tree(&fs).unwrap();
        assert!(
            tree == model,
            "{context}: {}",
            describe_difference(&model, &tree)
        );
        assert_eq!(fs.stats().safety_net_events, 0, "{context}");
        fs.close().unwrap();
        check_clean(storage, &context);
    }
}

#[test]
fn one_file_growing_until_full_keeps_every_byte_written_before() {
    let storage = Arc::new(MemStorage::new(formatted_image(SMALL_CONTAINER)));
    let fs = open(storage.clone());
    let (attr, fh) = fs
        .create(
            secvol_fs::ROOT_INO,
            b"growing",
            0o644,
            OpenFlags::READ_WRITE,
            ME,
        )
        .unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut content = Vec::new();
    let refused = loop {
        let piece = bytes(&mut rng, 100_000);
        match fs.write(fh, content.len() as u64, &piece) {
            Ok(n) => {
                assert_eq!(n as usize, piece.len());
                content.extend_from_slice(&piece);
            }
            Err(e) => break e,
        }
        assert!(content.len() < SMALL_CONTAINER as usize, "never refused");
    };
    assert!(matches!(refused, FsError::NoSpace), "{refused}");
    assert_eq!(fs.stats().safety_net_events, 0);
    assert_eq!(fs.getattr(attr.ino).unwrap().size, content.len() as u64);
    assert!(read_file(&fs, attr.ino).unwrap() == content);
    // Shrinking the file gives room back.
    let half = content.len() / 2;
    fs.setattr(
        attr.ino,
        SetAttr {
            size: Some(half as u64),
            ..SetAttr::default()
        },
    )
    .unwrap();
    content.truncate(half);
    let piece = bytes(&mut rng, 200_000);
    fs.write(fh, half as u64, &piece).unwrap();
    content.extend_from_slice(&piece);
    fs.release(fh).unwrap();
    fs.close().unwrap();
    let fs = open(storage.clone());
    let ino = fs.resolve(b"/growing").unwrap().ino;
    assert!(read_file(&fs, ino).unwrap() == content);
    assert_eq!(fs.stats().safety_net_events, 0);
    fs.close().unwrap();
    check_clean(storage, "growing file");
}

/// Fill the container, empty it completely, three times; `reopen` closes and reopens the file
/// system between rounds. Returns how full (percent of the usable space) each round got.
fn fill_and_empty(rng: &mut StdRng, reopen: bool, context: &str) -> Vec<u64> {
    let storage = Arc::new(MemStorage::new(formatted_image(SMALL_CONTAINER)));
    let mut stored = Vec::new();
    let mut fs = open(storage.clone());
    for round in 0..3 {
        let mut model = read_tree(&fs).unwrap();
        fill(&fs, &mut model, rng, 400_000, 10);
        let stats = fs.stats();
        assert_eq!(stats.safety_net_events, 0, "{context}, round {round}");
        stored.push(stats.used_bytes * 100 / stats.usable_bytes);
        for path in model.keys().rev() {
            let removed = if model[path] == Node::Dir {
                let (parent, name) = fs.resolve_parent(path).unwrap();
                fs.rmdir(parent, name)
            } else {
                apply_fs(&fs, &Op::Unlink { path: path.clone() })
            };
            removed.unwrap_or_else(|e| panic!("{context}: removing {path:?}: {e}"));
        }
        fs.sync().unwrap();
        if reopen {
            fs.close().unwrap();
            fs = open(storage.clone());
        }
    }
    fs.close().unwrap();
    check_clean(storage, context);
    stored
}

#[test]
fn an_emptied_container_fills_up_again_as_far_as_the_first_time() {
    // The storage engine shrinks its file when it closes with a free tail; after emptying (and
    // reopening), the file system must still fill the container without the storage engine
    // ever placing pages beyond its end.
    let seed = test_seed("faults/refill");
    let mut rng = StdRng::seed_from_u64(seed);
    for reopen in [false, true] {
        let context = format!("seed {seed} (SECVOL_TEST_SEED={seed}), reopen {reopen}");
        let percent_full = fill_and_empty(&mut rng, reopen, &context);
        eprintln!("faults/refill: reopen {reopen}: percent full per round {percent_full:?}");
        assert!(
            percent_full.iter().all(|&p| p >= 80),
            "{context}: {percent_full:?}"
        );
    }
}
