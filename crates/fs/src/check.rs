//! `check`: verify a whole file system and name what is damaged.
//!
//! Run on a file system opened read-only with `lenient_reads`, so that a block failing
//! authentication reads as zeros (counted by the device) instead of stopping the walk: every
//! damaged file can then be named. Steps: walk the tree from the root (entries point to
//! existing inodes of the right kind, directory parents agree, link counts agree); scan the
//! tables for records nothing refers to; read every file's data, and only then scan the data
//! chunks for strays (a damaged data block must first be met while reading its file, or the
//! file could not be named); finally run redb's own integrity check, which verifies the
//! checksum of every page — the one check that catches an older, authentic copy of a block
//! put back in place (replay).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::data::read_range;
use crate::error::FsResult;
use crate::fs::Fs;
use crate::inode::{FileKind, Ino, Inode, ROOT_INO};
use crate::schema::CHUNK_SIZE;
use secvol_core::BlockSet;

/// One problem found by `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A file whose data (or record) failed authentication or could not be read.
    DamagedFile {
        /// Path of the file.
        path: String,
        /// What failed.
        detail: String,
    },
    /// A directory entry naming an inode that does not exist or has another kind.
    BadEntry {
        /// Path of the entry.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// An inode whose stored link count differs from the names pointing to it.
    LinkCount {
        /// A path of the inode.
        path: String,
        /// Stored count.
        stored: u32,
        /// Counted names (directories: 2 + subdirectories).
        counted: u32,
    },
    /// An inode no directory entry reaches and that is not an orphan.
    Unreachable {
        /// The inode number.
        ino: Ino,
    },
    /// Data, symlink targets or attributes that belong to no inode, or chunks past a file's
    /// end.
    StrayRecords {
        /// What kind of record, and where.
        detail: String,
    },
    /// Space reserved by `fallocate` that the inode records, the reserved-ranges table and
    /// the file system's total disagree about.
    Reservations {
        /// What disagrees.
        detail: String,
    },
    /// The storage engine's own check failed (page checksums: a block was modified or
    /// replaced by an older copy of itself).
    Integrity {
        /// Details.
        detail: String,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::DamagedFile { path, detail } => write!(f, "damaged file {path}: {detail}"),
            Problem::BadEntry { path, detail } => write!(f, "bad directory entry {path}: {detail}"),
            Problem::LinkCount {
                path,
                stored,
                counted,
            } => {
                write!(
                    f,
                    "wrong link count on {path}: stored {stored}, counted {counted}"
                )
            }
            Problem::Unreachable { ino } => write!(f, "inode {ino} is not reachable from the root"),
            Problem::StrayRecords { detail } => write!(f, "stray records: {detail}"),
            Problem::Reservations { detail } => write!(f, "reserved space: {detail}"),
            Problem::Integrity { detail } => write!(f, "storage integrity check failed: {detail}"),
        }
    }
}

/// Result of `check`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Everything found wrong.
    pub problems: Vec<Problem>,
    /// Inodes unlinked while open, waiting to be deleted at the next read-write open.
    pub orphans: Vec<Ino>,
    /// Regular files.
    pub files: u64,
    /// Directories (the root included).
    pub directories: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Other special files.
    pub special: u64,
    /// Sum of regular file sizes.
    pub bytes: u64,
    /// Blocks that failed authentication and were read as zeros during the check.
    pub damaged_blocks: u64,
    /// On a check stack ([`secvol_core::DeviceMode::Check`]): every block of the container
    /// the walk read, i.e. every block the file system uses. A damaged block outside this set
    /// holds nothing (see [`secvol_core::VerifyReport::classify`]).
    pub blocks_in_use: Option<BlockSet>,
}

impl CheckReport {
    /// Whether nothing is wrong (orphans are normal after a crash and not counted).
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = parent.to_vec();
    if path != b"/" {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

impl Fs {
    /// Verify the whole file system. `progress` receives (files read, files total) during the
    /// data pass. Open the file system on a [`secvol_core::DeviceMode::Check`] stack for this
    /// (damaged blocks read as zeros, so every damaged file can be named, and the blocks in use
    /// are recorded); on another stack the first damaged block ends the walk of its file.
    pub fn check(&self, progress: &mut dyn FnMut(u64, u64)) -> FsResult<CheckReport> {
        let mut report = CheckReport::default();
        // Only what the walk reads is in use. Pages cached since the open and not read again
        // are read again by the storage engine's integrity check (pass 5), which starts from
        // an empty cache.
        self.stack().restart_recording();
        let device = std::sync::Arc::clone(self.store.device());
        let failures_before = device.tolerated_failures();

        // Pass 1: tables. The data chunks are scanned only after pass 4 has read every file:
        // scanning them reads (and caches) every data page, and a damaged block must first be
        // met while reading its file, or the file could not be named.
        let (inodes, (symlinks, xattr_owners), orphans) = self.run_read(|tx| {
            Ok((
                tx.all_inodes()?,
                tx.symlink_and_xattr_owners()?,
                tx.orphans()?,
            ))
        })?;
        report.orphans = orphans.clone();
        let mut records: HashMap<Ino, Inode> = HashMap::new();
        for (ino, record) in inodes {
            match record {
                Ok(inode) => {
                    records.insert(ino, inode);
                }
                Err(detail) => report.problems.push(Problem::DamagedFile {
                    path: format!("<inode {ino}>"),
                    detail,
                }),
            }
        }

        // Pass 2: walk the tree from the root.
        let mut paths: HashMap<Ino, Vec<u8>> = HashMap::new();
        let mut names: HashMap<Ino, u32> = HashMap::new();
        let mut subdirs: HashMap<Ino, u32> = HashMap::new();
        let mut queue = VecDeque::from([ROOT_INO]);
        paths.insert(ROOT_INO, b"/".to_vec());
        if !records.contains_key(&ROOT_INO) {
            report.problems.push(Problem::BadEntry {
                path: "/".into(),
                detail: "the root directory is missing".into(),
            });
            queue.clear();
        }
        let mut visited_dirs = HashSet::new();
        while let Some(dir) = queue.pop_front() {
            if !visited_dirs.insert(dir) {
                continue;
            }
            let dir_path = paths.get(&dir).cloned().unwrap_or_default();
            let mut after: Option<Vec<u8>> = None;
            loop {
                let batch = match self.run_read(|tx| tx.list_dir(dir, after.as_deref(), 4096)) {
                    Ok(batch) => batch,
                    Err(err) => {
                        report.problems.push(Problem::DamagedFile {
                            path: show(&dir_path),
                            detail: format!("directory unreadable: {err}"),
                        });
                        break;
                    }
                };
                let Some(last) = batch.last() else { break };
                after = Some(last.name.clone());
                for entry in batch {
                    let path = join(&dir_path, &entry.name);
                    let Some(inode) = records.get(&entry.ino) else {
                        report.problems.push(Problem::BadEntry {
                            path: show(&path),
                            detail: format!("names inode {} which does not exist", entry.ino),
                        });
                        continue;
                    };
                    if inode.kind != entry.kind {
                        report.problems.push(Problem::BadEntry {
                            path: show(&path),
                            detail: "entry kind differs from the inode's".into(),
                        });
                    }
                    *names.entry(entry.ino).or_default() += 1;
                    paths.entry(entry.ino).or_insert_with(|| path.clone());
                    if inode.kind == FileKind::Directory {
                        *subdirs.entry(dir).or_default() += 1;
                        if inode.parent != dir {
                            report.problems.push(Problem::BadEntry {
                                path: show(&path),
                                detail: format!(
                                    "directory's parent is {} instead of {dir}",
                                    inode.parent
                                ),
                            });
                        }
                        if visited_dirs.contains(&entry.ino) || names[&entry.ino] > 1 {
                            report.problems.push(Problem::BadEntry {
                                path: show(&path),
                                detail: "directory reachable by more than one name".into(),
                            });
                        } else {
                            queue.push_back(entry.ino);
                        }
                    }
                }
            }
        }

        // Pass 3: every inode: reachable, link count, kind-specific records.
        let orphan_set: HashSet<Ino> = orphans.iter().copied().collect();
        let symlink_set: HashSet<Ino> = symlinks.iter().copied().collect();
        let mut sorted: BTreeMap<Ino, &Inode> = BTreeMap::new();
        for (ino, inode) in &records {
            sorted.insert(*ino, inode);
        }
        for (&ino, inode) in &sorted {
            let path = paths
                .get(&ino)
                .map_or_else(|| format!("<inode {ino}>"), |p| show(p));
            match inode.kind {
                FileKind::Directory => report.directories += 1,
                FileKind::RegularFile => {
                    report.files += 1;
                    report.bytes += inode.size;
                }
                FileKind::Symlink => report.symlinks += 1,
                _ => report.special += 1,
            }
            if !paths.contains_key(&ino) {
                if !orphan_set.contains(&ino) {
                    report.problems.push(Problem::Unreachable { ino });
                }
                continue;
            }
            let counted = if inode.kind == FileKind::Directory {
                2 + subdirs.get(&ino).copied().unwrap_or(0)
            } else {
                names.get(&ino).copied().unwrap_or(0)
            };
            if counted != inode.nlink {
                report.problems.push(Problem::LinkCount {
                    path: path.clone(),
                    stored: inode.nlink,
                    counted,
                });
            }
            if inode.kind == FileKind::Symlink && !symlink_set.contains(&ino) {
                report.problems.push(Problem::DamagedFile {
                    path,
                    detail: "symbolic link without target".into(),
                });
            }
        }
        for ino in orphans.iter().filter(|ino| !records.contains_key(ino)) {
            report.problems.push(Problem::StrayRecords {
                detail: format!("orphan mark for missing inode {ino}"),
            });
        }
        for ino in symlinks
            .iter()
            .filter(|ino| records.get(ino).is_none_or(|i| i.kind != FileKind::Symlink))
        {
            report.problems.push(Problem::StrayRecords {
                detail: format!("symlink target for inode {ino}, which is not a symlink"),
            });
        }
        for ino in xattr_owners.iter().filter(|ino| !records.contains_key(ino)) {
            report.problems.push(Problem::StrayRecords {
                detail: format!("extended attributes of missing inode {ino}"),
            });
        }
        // fallocate reservations: the records, the ranges and the total agree.
        // The total as loaded from the meta table at open, plus changes since (which the
        // ranges read here include too).
        let total = self.store.counters().reserved_chunks;
        match self.run_read(|tx| tx.all_reserved_ranges()) {
            Ok(ranges) => {
                for detail in crate::reserve::check_reservations(&records, &ranges, total) {
                    report.problems.push(Problem::Reservations { detail });
                }
            }
            Err(err) => report.problems.push(Problem::Reservations {
                detail: format!("unreadable: {err}"),
            }),
        }
        // Pass 4: read every file's data.
        let files: Vec<(Ino, u64)> = sorted
            .iter()
            .filter(|(_, inode)| inode.kind == FileKind::RegularFile)
            .map(|(&ino, inode)| (ino, inode.size))
            .collect();
        let total = files.len() as u64;
        for (done, (ino, size)) in files.into_iter().enumerate() {
            let before = device.tolerated_failures();
            let mut buf = vec![0u8; CHUNK_SIZE as usize];
            let result = self.run_read(|tx| {
                let mut offset = 0;
                while offset < size {
                    let n = (size - offset).min(CHUNK_SIZE);
                    read_range(tx, ino, offset, &mut buf[..n as usize])?;
                    offset += n;
                }
                Ok(())
            });
            let path = paths
                .get(&ino)
                .map_or_else(|| format!("<inode {ino}>"), |p| show(p));
            let damaged = device.tolerated_failures() - before;
            if damaged > 0 {
                report.problems.push(Problem::DamagedFile {
                    path,
                    detail: format!("{damaged} block(s) failed authentication"),
                });
            } else if let Err(err) = result {
                report.problems.push(Problem::DamagedFile {
                    path,
                    detail: err.to_string(),
                });
            }
            progress(done as u64 + 1, total);
        }

        // Data chunks that belong to no file, or lie past a file's end.
        let chunks = self.run_read(|tx| tx.all_chunk_keys())?;
        let mut stray_chunks: BTreeMap<Ino, u64> = BTreeMap::new();
        for (ino, index, len) in &chunks {
            let ok = records.get(ino).is_some_and(|inode| {
                inode.kind == FileKind::RegularFile
                    && index * CHUNK_SIZE + *len as u64 <= inode.size
            });
            if !ok {
                *stray_chunks.entry(*ino).or_default() += 1;
            }
        }
        for (ino, count) in stray_chunks {
            let path = paths
                .get(&ino)
                .map_or_else(|| format!("<inode {ino}>"), |p| show(p));
            report.problems.push(Problem::StrayRecords {
                detail: format!("{count} data chunk(s) of {path} outside the file"),
            });
        }

        // Pass 5: the storage engine's page checksums.
        let integrity = self.store.with_database(|db| db.check_integrity());
        match integrity {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => report.problems.push(Problem::Integrity { detail: "page checksums did not match; a block was modified or replaced by an older copy of itself".into() }),
            Ok(Err(err)) => report.problems.push(Problem::Integrity { detail: err.to_string() }),
            Err(err) => report.problems.push(Problem::Integrity { detail: err.to_string() }),
        }
        report.damaged_blocks = device.tolerated_failures() - failures_before;
        report.blocks_in_use = self.stack().blocks_read();
        if report.damaged_blocks > 0 && report.problems.is_empty() {
            report.problems.push(Problem::Integrity {
                detail: format!("{} block(s) failed authentication", report.damaged_blocks),
            });
        }
        Ok(report)
    }
}
