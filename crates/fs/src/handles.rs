//! Open files, open directories, and the references that keep an unlinked inode alive.
//!
//! An inode whose last name is removed stays readable while anything refers to it: an open
//! handle, or (FUSE) the kernel's lookup references, released by `forget`. Such inodes are
//! recorded in the orphans table so a crash cannot leak them; they are deleted when the last
//! reference goes.
//!
//! Lock order: the store's transaction lock may be held while taking this lock, never the
//! other way round.

use std::collections::{HashMap, HashSet};

use crate::inode::{FileKind, Ino};

/// How a file was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenFlags {
    /// Reading allowed.
    pub read: bool,
    /// Writing allowed.
    pub write: bool,
    /// Every write goes to the end of the file.
    pub append: bool,
    /// Truncate to zero length when opening.
    pub truncate: bool,
}

impl OpenFlags {
    /// Read-only.
    pub const READ: OpenFlags = OpenFlags {
        read: true,
        write: false,
        append: false,
        truncate: false,
    };
    /// Read and write.
    pub const READ_WRITE: OpenFlags = OpenFlags {
        read: true,
        write: true,
        append: false,
        truncate: false,
    };

    /// Decode POSIX `open(2)` flags (`O_ACCMODE`, `O_APPEND`, `O_TRUNC`).
    pub fn from_posix(flags: i32) -> Self {
        const O_WRONLY: i32 = 0o1;
        const O_RDWR: i32 = 0o2;
        const O_TRUNC: i32 = 0o1000;
        const O_APPEND: i32 = 0o2000;
        let access = flags & 0o3;
        OpenFlags {
            read: access != O_WRONLY,
            write: access == O_WRONLY || access == O_RDWR,
            append: flags & O_APPEND != 0,
            truncate: flags & O_TRUNC != 0,
        }
    }
}

/// One entry returned by `readdir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Inode number.
    pub ino: Ino,
    /// Kind of the entry.
    pub kind: FileKind,
    /// Name (any bytes but '/' and NUL).
    pub name: Vec<u8>,
    /// The offset to pass to `readdir` to continue after this entry.
    pub next_offset: u64,
}

#[derive(Debug)]
pub(crate) struct OpenFile {
    pub(crate) ino: Ino,
    pub(crate) flags: OpenFlags,
}

#[derive(Debug)]
pub(crate) struct OpenDir {
    pub(crate) ino: Ino,
    /// Taken at the first `readdir` from offset 0: offsets index into it, so a listing stays
    /// consistent while entries are added or removed.
    pub(crate) snapshot: Option<Vec<DirEntry>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Refs {
    opens: u32,
    lookups: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Handles {
    next_handle: u64,
    pub(crate) files: HashMap<u64, OpenFile>,
    pub(crate) dirs: HashMap<u64, OpenDir>,
    refs: HashMap<Ino, Refs>,
    /// Inodes with no name left, kept for their references.
    pub(crate) unlinked: HashSet<Ino>,
}

impl Handles {
    fn new_handle(&mut self) -> u64 {
        self.next_handle += 1;
        self.next_handle
    }

    pub(crate) fn open_file(&mut self, ino: Ino, flags: OpenFlags) -> u64 {
        let fh = self.new_handle();
        self.files.insert(fh, OpenFile { ino, flags });
        self.refs.entry(ino).or_default().opens += 1;
        fh
    }

    pub(crate) fn open_dir(&mut self, ino: Ino) -> u64 {
        let dh = self.new_handle();
        self.dirs.insert(
            dh,
            OpenDir {
                ino,
                snapshot: None,
            },
        );
        self.refs.entry(ino).or_default().opens += 1;
        dh
    }

    /// Drop one open reference; returns true if `ino` is unlinked and now unreferenced.
    pub(crate) fn close(&mut self, ino: Ino) -> bool {
        if let Some(refs) = self.refs.get_mut(&ino) {
            refs.opens = refs.opens.saturating_sub(1);
        }
        self.collectable(ino)
    }

    pub(crate) fn add_lookup(&mut self, ino: Ino) {
        self.refs.entry(ino).or_default().lookups += 1;
    }

    /// Drop `n` lookup references; returns true if `ino` is unlinked and now unreferenced.
    pub(crate) fn forget(&mut self, ino: Ino, n: u64) -> bool {
        if let Some(refs) = self.refs.get_mut(&ino) {
            refs.lookups = refs.lookups.saturating_sub(n);
        }
        self.collectable(ino)
    }

    fn collectable(&mut self, ino: Ino) -> bool {
        let unreferenced = self
            .refs
            .get(&ino)
            .is_none_or(|r| r.opens == 0 && r.lookups == 0);
        if unreferenced {
            self.refs.remove(&ino);
        }
        unreferenced && self.unlinked.contains(&ino)
    }

    pub(crate) fn is_referenced(&self, ino: Ino) -> bool {
        self.refs
            .get(&ino)
            .is_some_and(|r| r.opens > 0 || r.lookups > 0)
    }
}
