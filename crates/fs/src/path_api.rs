//! The file system seen through paths and open handles: the API of front-ends that speak
//! paths (the WinFsp driver, the offline commands, a future NFS or WebDAV server).
//!
//! FUSE hands out inode numbers and counts the kernel's references to them; WinFsp (like
//! most network protocols) names files by path and keeps an open handle per open file. This
//! module gives the second kind of front-end everything it needs, so that the driver only
//! translates: open or create by path (returning a typed [`NodeHandle`] and the
//! attributes), read, write, flush, set size, set times and Windows attributes through the
//! handle, delete-on-close with a "may this be deleted?" check ([`PathFs::can_delete`]),
//! rename with or without replacing, directory listings with attributes that resume after a
//! name (a "marker"), and volume figures.
//!
//! Names may be matched case-insensitively ([`CaseRule::Insensitive`], what Windows programs
//! expect): an exact match always wins; otherwise the first entry, in byte order of the
//! stored names, that equals the name after simple upper-casing of each character (Windows'
//! own rule, one character to one character). Stored names keep the case they were created
//! with. docs/platforms.md explains how this meets names that differ only in case, created
//! on Linux.
//!
//! It must not know about WinFsp, NTSTATUS or UTF-16: paths are `/`-separated bytes, errors
//! are [`FsError`] and [`CannotDelete`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::attr::{SetAttr, TimeSet};
use crate::error::{FsError, FsResult};
use crate::fs::{Ctx, Fs, check_name};
use crate::handles::OpenFlags;
use crate::inode::{Attr, FileKind, Ino, ROOT_INO, Timestamp};
use crate::namespace::{NewNode, RenameFlags};
use crate::path::components;
use crate::store::TxResult;
use crate::view::Reader;
use crate::winattr::WinAttrs;

/// How names are compared when a path is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaseRule {
    /// Byte for byte (Linux, macOS with a case-sensitive view).
    #[default]
    Sensitive,
    /// Ignoring case, preserving it (Windows): exact match first, then the first stored name
    /// (in byte order) that is equal after simple upper-casing.
    Insensitive,
}

/// An open file or directory of a [`PathFs`]. Plain data: the driver may store it in the
/// OS's per-open context (`raw`/`from_raw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeHandle(u64);

impl NodeHandle {
    /// The number behind the handle (never 0).
    pub fn raw(self) -> u64 {
        self.0
    }

    /// The handle behind a number that [`NodeHandle::raw`] returned.
    pub fn from_raw(raw: u64) -> NodeHandle {
        NodeHandle(raw)
    }
}

/// What a successful open or create returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// The new handle; close it with [`PathFs::close`].
    pub handle: NodeHandle,
    /// The attributes at the time of opening.
    pub attr: Attr,
}

/// What an open accepts at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expect {
    /// A file or a directory.
    #[default]
    Any,
    /// Not a directory (`IsDir` otherwise).
    NonDirectory,
    /// A directory (`NotDir` otherwise).
    Directory,
}

/// What to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewKind {
    /// An empty regular file.
    File,
    /// An empty directory.
    Directory,
}

/// Timestamps to set; `None` leaves one alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Times {
    /// Creation time.
    pub created: Option<Timestamp>,
    /// Last access.
    pub accessed: Option<Timestamp>,
    /// Last write (modification).
    pub written: Option<Timestamp>,
    /// Last change of content or attributes.
    pub changed: Option<Timestamp>,
}

/// Why a file or directory may not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum CannotDelete {
    /// The Windows read-only attribute is set.
    #[error("the file is read-only")]
    ReadOnly,
    /// A directory that still has entries.
    #[error("the directory is not empty")]
    NotEmpty,
    /// The root directory of the container.
    #[error("the root directory cannot be deleted")]
    Root,
    /// The file system refused (read-only mount, I/O error, ...).
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// A directory entry with its attributes, as listings return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The stored name ("." and ".." for the directory itself and its parent).
    pub name: Vec<u8>,
    /// Its attributes.
    pub attr: Attr,
}

/// Capacity and free space of the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeInfo {
    /// Bytes the files may use in total.
    pub total_bytes: u64,
    /// Bytes still free.
    pub free_bytes: u64,
    /// Longest name, in bytes.
    pub name_max: u32,
}

/// The handle a node is opened through in the file system below.
#[derive(Debug, Clone, Copy)]
enum Below {
    File(u64),
    Dir(u64),
}

#[derive(Debug)]
struct OpenNode {
    ino: Ino,
    below: Below,
    delete_on_close: bool,
}

/// A file system opened for a path-speaking front-end.
#[derive(Debug)]
pub struct PathFs {
    fs: Arc<Fs>,
    case: CaseRule,
    open: Mutex<HashMap<u64, OpenNode>>,
    next_handle: AtomicU64,
}

/// A name compared the Windows way: each character upper-cased alone, where that gives one
/// character (so "ß" stays "ß", as on NTFS). Names that are not UTF-8 compare as bytes.
fn fold(name: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(name) {
        Ok(text) => {
            let mut out = String::with_capacity(text.len());
            for c in text.chars() {
                let mut upper = c.to_uppercase();
                match (upper.next(), upper.next()) {
                    (Some(single), None) => out.push(single),
                    _ => out.push(c),
                }
            }
            out.into_bytes()
        }
        Err(_) => name.to_vec(),
    }
}

impl PathFs {
    /// A path view of `fs` that compares names by `case`.
    pub fn new(fs: Arc<Fs>, case: CaseRule) -> PathFs {
        PathFs {
            fs,
            case,
            open: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
        }
    }

    /// The file system below.
    pub fn fs(&self) -> &Arc<Fs> {
        &self.fs
    }

    fn table(&self) -> MutexGuard<'_, HashMap<u64, OpenNode>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry `name` of directory `parent` under the case rule: (inode, kind, stored
    /// name).
    fn find_in(
        &self,
        tx: &Reader<'_>,
        parent: Ino,
        name: &[u8],
    ) -> TxResult<Option<(Ino, FileKind, Vec<u8>)>> {
        if let Some((ino, kind)) = tx.dirent(parent, name)? {
            return Ok(Some((ino, kind, name.to_vec())));
        }
        if self.case == CaseRule::Sensitive {
            return Ok(None);
        }
        let wanted = fold(name);
        let mut after: Option<Vec<u8>> = None;
        loop {
            let batch = tx.list_dir(parent, after.as_deref(), 1024)?;
            let Some(last) = batch.last() else {
                return Ok(None);
            };
            after = Some(last.name.clone());
            if let Some(found) = batch.into_iter().find(|e| fold(&e.name) == wanted) {
                return Ok(Some((found.ino, found.kind, found.name)));
            }
        }
    }

    /// Walk `parts` from the root: the inode at the end, with its kind.
    fn walk(&self, tx: &Reader<'_>, parts: &[&[u8]]) -> TxResult<(Ino, FileKind)> {
        let mut at = (ROOT_INO, FileKind::Directory);
        for part in parts {
            if at.1 != FileKind::Directory {
                return Err(FsError::NotDir.into());
            }
            let (ino, kind, _) = self.find_in(tx, at.0, part)?.ok_or(FsError::NotFound)?;
            at = (ino, kind);
        }
        Ok(at)
    }

    /// The attributes of the object at `path` ("/" is the root), without opening it.
    pub fn stat(&self, path: &[u8]) -> FsResult<Attr> {
        let parts = components(path)?;
        self.fs.run_read(|tx| {
            let (ino, _) = self.walk(tx, &parts)?;
            Ok(tx.inode(ino)?.attr(ino))
        })
    }

    /// The parent directory of `path` and the name of its last component as typed.
    fn parent_of<'p>(&self, path: &'p [u8]) -> FsResult<(Ino, &'p [u8])> {
        let mut parts = components(path)?;
        let name = parts
            .pop()
            .ok_or(FsError::Invalid("the root has no parent"))?;
        let parent = self.fs.run_read(|tx| {
            let (ino, kind) = self.walk(tx, &parts)?;
            if kind != FileKind::Directory {
                return Err(FsError::NotDir.into());
            }
            Ok(ino)
        })?;
        Ok((parent, name))
    }

    fn register(&self, ino: Ino, below: Below, delete_on_close: bool) -> NodeHandle {
        let raw = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.table().insert(
            raw,
            OpenNode {
                ino,
                below,
                delete_on_close,
            },
        );
        NodeHandle(raw)
    }

    fn access_flags(&self, write: bool) -> OpenFlags {
        if write && !self.fs.read_only {
            OpenFlags::READ_WRITE
        } else {
            OpenFlags::READ
        }
    }

    fn open_below(&self, attr: &Attr, write: bool) -> FsResult<Below> {
        if attr.kind == FileKind::Directory {
            Ok(Below::Dir(self.fs.opendir(attr.ino)?))
        } else {
            Ok(Below::File(
                self.fs.open_file(attr.ino, self.access_flags(write))?,
            ))
        }
    }

    /// Open the file or directory at `path`. `write`: the caller wants to change its data
    /// (refused on a read-only mount, and for a file with the read-only attribute).
    pub fn open(&self, path: &[u8], expect: Expect, write: bool) -> FsResult<Opened> {
        let attr = self.stat(path)?;
        match (expect, attr.kind == FileKind::Directory) {
            (Expect::Directory, false) => return Err(FsError::NotDir),
            (Expect::NonDirectory, true) => return Err(FsError::IsDir),
            _ => {}
        }
        if write && attr.kind != FileKind::Directory {
            if self.fs.read_only {
                return Err(FsError::ReadOnly);
            }
            if attr.win_attrs.contains(WinAttrs::READONLY) {
                return Err(FsError::NotPermitted);
            }
        }
        let below = self.open_below(&attr, write)?;
        Ok(Opened {
            handle: self.register(attr.ino, below, false),
            attr,
        })
    }

    /// Create a file or directory at `path` (its parent must exist; `Exists` if the name is
    /// taken, under the case rule) and open it.
    pub fn create(
        &self,
        path: &[u8],
        kind: NewKind,
        perm: u16,
        win_attrs: WinAttrs,
        ctx: Ctx,
    ) -> FsResult<Opened> {
        let (parent, name) = self.parent_of(path)?;
        check_name(name)?;
        if self.case == CaseRule::Insensitive
            && self
                .fs
                .run_read(|tx| self.find_in(tx, parent, name))?
                .is_some()
        {
            return Err(FsError::Exists);
        }
        let node = NewNode {
            kind: match kind {
                NewKind::File => FileKind::RegularFile,
                NewKind::Directory => FileKind::Directory,
            },
            perm,
            umask: 0,
            rdev: 0,
            symlink_target: None,
        };
        let mut attr = self.fs.create_node_unreferenced(parent, name, node, ctx)?;
        let below = self.open_below(&attr, true)?;
        let handle = self.register(attr.ino, below, false);
        if win_attrs != WinAttrs::NONE {
            attr = self.set_win_attrs(handle, win_attrs)?;
        }
        Ok(Opened { handle, attr })
    }

    fn node(&self, handle: NodeHandle) -> FsResult<(Ino, Below)> {
        let table = self.table();
        let node = table.get(&handle.0).ok_or(FsError::BadHandle)?;
        Ok((node.ino, node.below))
    }

    fn file(&self, handle: NodeHandle) -> FsResult<u64> {
        match self.node(handle)?.1 {
            Below::File(fh) => Ok(fh),
            Below::Dir(_) => Err(FsError::IsDir),
        }
    }

    /// The current attributes of an open node.
    pub fn attr(&self, handle: NodeHandle) -> FsResult<Attr> {
        let (ino, _) = self.node(handle)?;
        self.fs.getattr(ino)
    }

    /// Read up to `len` bytes at `offset` (fewer at the end of the file, none past it).
    pub fn read(&self, handle: NodeHandle, offset: u64, len: u32) -> FsResult<Vec<u8>> {
        self.fs.read(self.file(handle)?, offset, len)
    }

    /// Write `data` at `offset`, or at the end of the file with `at_end`. Returns the new
    /// attributes (the driver reports the new size).
    pub fn write(
        &self,
        handle: NodeHandle,
        offset: u64,
        data: &[u8],
        at_end: bool,
    ) -> FsResult<Attr> {
        let fh = self.file(handle)?;
        let ino = self.fs.handle_ino(fh)?;
        self.fs.write_ino(ino, offset, data, at_end)?;
        self.fs.getattr(ino)
    }

    /// Write `data` at `offset` but never past the current end of the file (WinFsp's
    /// "constrained I/O" of the paging path). Returns the bytes written and the attributes.
    pub fn write_within(
        &self,
        handle: NodeHandle,
        offset: u64,
        data: &[u8],
    ) -> FsResult<(usize, Attr)> {
        let fh = self.file(handle)?;
        let ino = self.fs.handle_ino(fh)?;
        let size = self.fs.getattr(ino)?.size;
        let room = usize::try_from(size.saturating_sub(offset)).unwrap_or(usize::MAX);
        let len = data.len().min(room);
        if len > 0 {
            self.fs.write_ino(ino, offset, &data[..len], false)?;
        }
        Ok((len, self.fs.getattr(ino)?))
    }

    /// Make everything written so far durable (one commit of the container).
    pub fn flush(&self, handle: Option<NodeHandle>) -> FsResult<()> {
        if let Some(handle) = handle {
            self.node(handle)?;
        }
        if self.fs.read_only {
            return Ok(());
        }
        self.fs.sync()
    }

    /// Truncate or extend (with zeros) an open file.
    pub fn set_size(&self, handle: NodeHandle, size: u64) -> FsResult<Attr> {
        let ino = self.fs.handle_ino(self.file(handle)?)?;
        self.fs.setattr(
            ino,
            SetAttr {
                size: Some(size),
                ..SetAttr::default()
            },
        )
    }

    /// Set timestamps of an open node.
    pub fn set_times(&self, handle: NodeHandle, times: Times) -> FsResult<Attr> {
        let (ino, _) = self.node(handle)?;
        if times == Times::default() {
            return self.fs.getattr(ino);
        }
        self.fs.setattr(
            ino,
            SetAttr {
                atime: times.accessed.map(TimeSet::At),
                mtime: times.written.map(TimeSet::At),
                ctime: times.changed,
                crtime: times.created,
                ..SetAttr::default()
            },
        )
    }

    /// Replace the Windows attributes of an open node.
    pub fn set_win_attrs(&self, handle: NodeHandle, attrs: WinAttrs) -> FsResult<Attr> {
        let (ino, _) = self.node(handle)?;
        self.fs.run_write(|tx| {
            let mut inode = tx.inode(ino)?;
            if inode.win_attrs != attrs {
                inode.win_attrs = attrs;
                inode.ctime = Timestamp::now();
                tx.put_inode(ino, &inode, false)?;
            }
            Ok(inode.attr(ino))
        })
    }

    /// Empty an open file and set its Windows attributes (Windows' "overwrite" and
    /// "supersede": `replace` sets exactly `attrs`, otherwise they are added).
    pub fn overwrite(&self, handle: NodeHandle, attrs: WinAttrs, replace: bool) -> FsResult<Attr> {
        let current = self.set_size(handle, 0)?;
        let attrs = if replace {
            attrs
        } else {
            current.win_attrs.union(attrs)
        };
        self.set_win_attrs(handle, attrs.union(WinAttrs::ARCHIVE))
    }

    /// Whether the node may be deleted: not the root, not a non-empty directory, not a file
    /// with the read-only attribute, not on a read-only mount.
    pub fn can_delete(&self, handle: NodeHandle) -> Result<(), CannotDelete> {
        let (ino, _) = self.node(handle)?;
        if ino == ROOT_INO {
            return Err(CannotDelete::Root);
        }
        if self.fs.read_only {
            return Err(CannotDelete::Fs(FsError::ReadOnly));
        }
        let attr = self.fs.getattr(ino)?;
        if attr.win_attrs.contains(WinAttrs::READONLY) {
            return Err(CannotDelete::ReadOnly);
        }
        if attr.kind == FileKind::Directory && !self.fs.run_read(|tx| tx.dir_is_empty(ino))? {
            return Err(CannotDelete::NotEmpty);
        }
        Ok(())
    }

    /// Mark (or unmark) the node to be deleted when it is closed; marking checks
    /// [`PathFs::can_delete`] first.
    pub fn set_delete_on_close(
        &self,
        handle: NodeHandle,
        delete: bool,
    ) -> Result<(), CannotDelete> {
        if delete {
            self.can_delete(handle)?;
        }
        let mut table = self.table();
        let node = table.get_mut(&handle.0).ok_or(FsError::BadHandle)?;
        node.delete_on_close = delete;
        Ok(())
    }

    /// Whether the node is marked to be deleted when closed.
    pub fn delete_on_close(&self, handle: NodeHandle) -> FsResult<bool> {
        let table = self.table();
        Ok(table
            .get(&handle.0)
            .ok_or(FsError::BadHandle)?
            .delete_on_close)
    }

    /// Remove the name `path` of the open node now (Windows deletes at the last cleanup of a
    /// handle marked for deletion; the handle stays usable until closed). Does nothing if
    /// `path` names another object by now.
    pub fn remove(&self, handle: NodeHandle, path: &[u8]) -> FsResult<()> {
        let (ino, below) = self.node(handle)?;
        let (parent, name) = self.parent_of(path)?;
        let found = self.fs.run_read(|tx| self.find_in(tx, parent, name))?;
        let Some((found_ino, _, stored_name)) = found else {
            return Ok(());
        };
        if found_ino != ino {
            return Ok(());
        }
        match below {
            Below::Dir(_) => self.fs.rmdir(parent, &stored_name),
            Below::File(_) => self.fs.unlink(parent, &stored_name),
        }
    }

    /// Close a handle. A node marked for deletion whose name `path` still refers to it is
    /// deleted first (give `None` if the front-end already removed it with
    /// [`PathFs::remove`]).
    pub fn close(&self, handle: NodeHandle, path: Option<&[u8]>) -> FsResult<()> {
        let delete = self.delete_on_close(handle)?;
        let removed = match (delete, path) {
            (true, Some(path)) => self.remove(handle, path),
            _ => Ok(()),
        };
        let node = self.table().remove(&handle.0).ok_or(FsError::BadHandle)?;
        let released = match node.below {
            Below::File(fh) => self.fs.release(fh),
            Below::Dir(dh) => self.fs.releasedir(dh),
        };
        removed.and(released)
    }

    /// Rename `from` to `to`. An existing `to` is replaced only with `replace_if_exists`
    /// (never a directory: `IsDir`; never a read-only file: `NotPermitted`). Under the
    /// case-insensitive rule, renaming to another case of the same name changes the stored
    /// case.
    pub fn rename(&self, from: &[u8], to: &[u8], replace_if_exists: bool) -> FsResult<()> {
        let (from_parent, from_name) = self.parent_of(from)?;
        let (to_parent, to_name) = self.parent_of(to)?;
        check_name(to_name)?;
        let (source, target) = self.fs.run_read(|tx| {
            let source = self
                .find_in(tx, from_parent, from_name)?
                .ok_or(FsError::NotFound)?;
            let target = self.find_in(tx, to_parent, to_name)?;
            let target_attr = match &target {
                Some((ino, _, _)) => Some(tx.inode(*ino)?.attr(*ino)),
                None => None,
            };
            Ok((source, target.zip(target_attr)))
        })?;
        let (source_ino, _, source_name) = source;
        if let Some(((target_ino, target_kind, target_name), target_attr)) = target {
            let same_entry = target_ino == source_ino && to_parent == from_parent;
            if same_entry {
                if target_name == to_name {
                    return Ok(());
                }
                // Only the case changes: rename the entry to the new spelling.
                return self.fs.rename(
                    from_parent,
                    &source_name,
                    to_parent,
                    to_name,
                    RenameFlags::default(),
                );
            }
            if !replace_if_exists {
                return Err(FsError::Exists);
            }
            if target_kind == FileKind::Directory {
                return Err(FsError::IsDir);
            }
            if target_attr.win_attrs.contains(WinAttrs::READONLY) {
                return Err(FsError::NotPermitted);
            }
            if target_name != to_name {
                // Another spelling is stored: remove it, so the new one is what remains.
                self.fs.unlink(to_parent, &target_name)?;
            }
        }
        self.fs.rename(
            from_parent,
            &source_name,
            to_parent,
            to_name,
            RenameFlags::default(),
        )
    }

    /// Entries of an open directory with their attributes, in byte order of the names, after
    /// `marker` (a name returned earlier; `None`: from the start, "." and ".." first for
    /// any directory but the root), at most `limit`. One consistent read.
    pub fn list(
        &self,
        handle: NodeHandle,
        marker: Option<&[u8]>,
        limit: usize,
    ) -> FsResult<Vec<Listed>> {
        let (ino, below) = self.node(handle)?;
        if let Below::File(_) = below {
            return Err(FsError::NotDir);
        }
        self.fs.run_read(|tx| {
            let dir = tx.inode(ino)?;
            let mut out = Vec::new();
            let dots = ino != ROOT_INO;
            let after: Option<&[u8]> = match marker {
                None if dots => {
                    out.push(Listed {
                        name: b".".to_vec(),
                        attr: dir.attr(ino),
                    });
                    let parent = dir.parent.max(ROOT_INO);
                    out.push(Listed {
                        name: b"..".to_vec(),
                        attr: tx.inode(parent)?.attr(parent),
                    });
                    None
                }
                Some(b".") if dots => {
                    let parent = dir.parent.max(ROOT_INO);
                    out.push(Listed {
                        name: b"..".to_vec(),
                        attr: tx.inode(parent)?.attr(parent),
                    });
                    None
                }
                Some(b"..") if dots => None,
                other => other,
            };
            out.truncate(limit);
            let wanted = limit - out.len();
            if wanted > 0 {
                for entry in tx.list_dir(ino, after, wanted)? {
                    let attr = tx.inode(entry.ino)?.attr(entry.ino);
                    out.push(Listed {
                        name: entry.name,
                        attr,
                    });
                }
            }
            Ok(out)
        })
    }

    /// Capacity and free space.
    pub fn volume_info(&self) -> FsResult<VolumeInfo> {
        let statfs = self.fs.statfs()?;
        let block = u64::from(statfs.block_size);
        Ok(VolumeInfo {
            total_bytes: statfs.blocks * block,
            free_bytes: statfs.blocks_free * block,
            name_max: statfs.name_max,
        })
    }

    /// Close every handle still open (unmount): nodes marked for deletion are not deleted
    /// (their paths are unknown here), their references are released.
    pub fn close_all(&self) {
        let nodes: Vec<OpenNode> = self.table().drain().map(|(_, node)| node).collect();
        for node in nodes {
            let released = match node.below {
                Below::File(fh) => self.fs.release(fh),
                Below::Dir(dh) => self.fs.releasedir(dh),
            };
            if let Err(err) = released {
                log::warn!("closing inode {} at unmount: {err}", node.ino);
            }
        }
    }
}

/// Name operations without lookup references, for front-ends that name files by path and
/// hand no inode numbers to a kernel (the offline commands). Unlike [`Fs::lookup`],
/// [`Fs::mkdir`] and [`Fs::symlink`], nothing is to be forgotten afterwards.
impl Fs {
    /// The entry `name` of directory `parent`.
    pub fn child(&self, parent: Ino, name: &[u8]) -> FsResult<Attr> {
        if name.len() > crate::schema::NAME_MAX {
            return Err(FsError::NameTooLong);
        }
        self.run_read(|tx| {
            Fs::dir_inode(tx, parent)?;
            let (ino, _) = tx.dirent(parent, name)?.ok_or(FsError::NotFound)?;
            Ok(tx.inode(ino)?.attr(ino))
        })
    }

    /// Create the directory `name` in `parent`.
    pub fn make_dir(&self, parent: Ino, name: &[u8], perm: u16, ctx: Ctx) -> FsResult<Attr> {
        let node = NewNode {
            kind: FileKind::Directory,
            perm,
            umask: 0,
            rdev: 0,
            symlink_target: None,
        };
        self.create_node_unreferenced(parent, name, node, ctx)
    }

    /// Create the regular file `name` in `parent` and open it; returns its attributes and a
    /// file handle (close it with [`Fs::release`]).
    pub fn make_file(
        &self,
        parent: Ino,
        name: &[u8],
        perm: u16,
        flags: OpenFlags,
        ctx: Ctx,
    ) -> FsResult<(Attr, u64)> {
        let node = NewNode {
            kind: FileKind::RegularFile,
            perm,
            umask: 0,
            rdev: 0,
            symlink_target: None,
        };
        let attr = self.create_node_unreferenced(parent, name, node, ctx)?;
        let fh = self.open_file(attr.ino, flags)?;
        Ok((attr, fh))
    }

    /// Create the symbolic link `name` in `parent`, pointing at `target`.
    pub fn make_symlink(
        &self,
        parent: Ino,
        name: &[u8],
        target: &[u8],
        ctx: Ctx,
    ) -> FsResult<Attr> {
        crate::namespace::check_symlink_target(target)?;
        let node = NewNode {
            kind: FileKind::Symlink,
            perm: 0o777,
            umask: 0,
            rdev: 0,
            symlink_target: Some(target),
        };
        self.create_node_unreferenced(parent, name, node, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn names_fold_one_character_to_one_character() {
        assert_eq!(fold("Akte-ä.txt".as_bytes()), "AKTE-Ä.TXT".as_bytes());
        // "ß" upper-cases to two characters ("SS"): Windows leaves it, so do we.
        assert_eq!(fold("straße".as_bytes()), "STRAßE".as_bytes());
        assert_eq!(fold(&[0xff, b'a']), vec![0xff, b'a']);
    }
}
