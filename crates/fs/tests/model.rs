//! Model-based test: random sequences of operations applied both to the file system and to a
//! small in-memory model of what POSIX says should happen, compared after every step: every
//! path's kind, bytes, symlink target, size, link count, hard-link identity and extended
//! attributes, directory listings, and the exact error of every refused operation (rmdir of a
//! non-empty directory, unlink of a missing name, a rename into its own subdirectory, ...).
//! Closing and reopening the container is one of the operations.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use common::*;
use proptest::prelude::*;
use secvol_core::testing::MemStorage;
use secvol_fs::{
    FileKind, Fs, FsError, FsResult, Ino, OpenFlags, ROOT_INO, RenameFlags, SetAttr, XattrMode,
};

const CONTAINER_SIZE: u64 = 16 << 20;
const NAMES: [&str; 3] = ["a", "b", "c"];
const XATTR_NAMES: [&str; 2] = ["user.one", "user.two"];

/// The refusals the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotFound,
    Exists,
    NotDir,
    IsDir,
    NotEmpty,
    Invalid,
    NotPermitted,
    NoXattr,
}

fn refusal(err: FsError) -> Refusal {
    match err {
        FsError::NotFound => Refusal::NotFound,
        FsError::Exists => Refusal::Exists,
        FsError::NotDir => Refusal::NotDir,
        FsError::IsDir => Refusal::IsDir,
        FsError::NotEmpty => Refusal::NotEmpty,
        FsError::Invalid(_) => Refusal::Invalid,
        FsError::NotPermitted => Refusal::NotPermitted,
        FsError::NoXattr => Refusal::NoXattr,
        other => panic!("unexpected error from the file system: {other}"),
    }
}

// ---- operations ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RenameKind {
    Plain,
    NoReplace,
    Exchange,
}

/// One operation; `P` is how paths are given: [`PathChoice`] when generated, bytes when run.
#[derive(Debug, Clone)]
enum Op<P = Vec<u8>> {
    Create {
        path: P,
        len: usize,
        seed: u8,
    },
    Mkdir {
        path: P,
    },
    Symlink {
        path: P,
        target: Vec<u8>,
    },
    Write {
        path: P,
        offset: usize,
        len: usize,
        seed: u8,
    },
    Truncate {
        path: P,
        size: usize,
    },
    Unlink {
        path: P,
    },
    Rmdir {
        path: P,
    },
    Rename {
        from: P,
        to: P,
        kind: RenameKind,
    },
    Link {
        from: P,
        to: P,
    },
    SetXattr {
        path: P,
        name: &'static str,
        value: Vec<u8>,
        mode: XattrMode,
    },
    RemoveXattr {
        path: P,
        name: &'static str,
    },
    ListDir {
        path: P,
    },
    Sync,
    Reopen,
}

/// Bytes of a write: depend on the position, so misplaced bytes are noticed.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i / 7) as u8) ^ (i % 251) as u8)
        .collect()
}

/// How a generated operation names a path. Most choices are made against the tree as it is
/// when the operation runs, so that sequences reach deep trees, renames and hard links instead
/// of failing on missing parents; literal paths keep the refusals coming.
#[derive(Debug, Clone)]
enum PathChoice {
    /// The n-th existing path (modulo their number), in name order.
    Existing(usize),
    /// Name `name` inside the n-th existing directory (the root included).
    Inside(usize, &'static str),
    /// A fixed path of one to three names.
    Literal(Vec<u8>),
}

fn literal_path_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0..NAMES.len(), 1..=3).prop_map(|parts| {
        let mut path = Vec::new();
        for part in parts {
            path.push(b'/');
            path.extend_from_slice(NAMES[part].as_bytes());
        }
        path
    })
}

fn path_strategy() -> impl Strategy<Value = PathChoice> {
    prop_oneof![
        4 => any::<usize>().prop_map(PathChoice::Existing),
        4 => (any::<usize>(), prop::sample::select(&NAMES[..]))
            .prop_map(|(n, name)| PathChoice::Inside(n, name)),
        2 => literal_path_strategy().prop_map(PathChoice::Literal),
    ]
}

impl PathChoice {
    fn resolve(&self, model: &Model) -> Vec<u8> {
        match self {
            PathChoice::Existing(n) => {
                let paths = model.paths(false);
                paths
                    .get(n % paths.len().max(1))
                    .cloned()
                    .unwrap_or_else(|| b"/a".to_vec())
            }
            PathChoice::Inside(n, name) => {
                let dirs = model.paths(true);
                child_path(&dirs[n % dirs.len()], name.as_bytes())
            }
            PathChoice::Literal(path) => path.clone(),
        }
    }
}

impl Op<PathChoice> {
    /// The operation with its paths chosen against `model`.
    fn with_paths(&self, model: &Model) -> Op {
        let p = |choice: &PathChoice| choice.resolve(model);
        match self {
            Op::Create { path, len, seed } => Op::Create {
                path: p(path),
                len: *len,
                seed: *seed,
            },
            Op::Mkdir { path } => Op::Mkdir { path: p(path) },
            Op::Symlink { path, target } => Op::Symlink {
                path: p(path),
                target: target.clone(),
            },
            Op::Write {
                path,
                offset,
                len,
                seed,
            } => Op::Write {
                path: p(path),
                offset: *offset,
                len: *len,
                seed: *seed,
            },
            Op::Truncate { path, size } => Op::Truncate {
                path: p(path),
                size: *size,
            },
            Op::Unlink { path } => Op::Unlink { path: p(path) },
            Op::Rmdir { path } => Op::Rmdir { path: p(path) },
            Op::Rename { from, to, kind } => Op::Rename {
                from: p(from),
                to: p(to),
                kind: *kind,
            },
            Op::Link { from, to } => Op::Link {
                from: p(from),
                to: p(to),
            },
            Op::SetXattr {
                path,
                name,
                value,
                mode,
            } => Op::SetXattr {
                path: p(path),
                name,
                value: value.clone(),
                mode: *mode,
            },
            Op::RemoveXattr { path, name } => Op::RemoveXattr {
                path: p(path),
                name,
            },
            Op::ListDir { path } => Op::ListDir { path: p(path) },
            Op::Sync => Op::Sync,
            Op::Reopen => Op::Reopen,
        }
    }
}

fn len_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => 0..200usize,
        3 => 200..9000usize,
        2 => 60_000..140_000usize,
    ]
}

fn op_strategy() -> impl Strategy<Value = Op<PathChoice>> {
    prop_oneof![
        6 => (path_strategy(), len_strategy(), any::<u8>())
            .prop_map(|(path, len, seed)| Op::Create { path, len, seed }),
        5 => path_strategy().prop_map(|path| Op::Mkdir { path }),
        2 => (path_strategy(), prop::collection::vec(b'a'..=b'z', 1..40))
            .prop_map(|(path, target)| Op::Symlink { path, target }),
        6 => (path_strategy(), 0..140_000usize, len_strategy(), any::<u8>())
            .prop_map(|(path, offset, len, seed)| Op::Write { path, offset, len, seed }),
        3 => (path_strategy(), prop_oneof![0..200usize, 0..140_000usize])
            .prop_map(|(path, size)| Op::Truncate { path, size }),
        4 => path_strategy().prop_map(|path| Op::Unlink { path }),
        4 => path_strategy().prop_map(|path| Op::Rmdir { path }),
        6 => (
            path_strategy(),
            path_strategy(),
            prop_oneof![
                3 => Just(RenameKind::Plain),
                1 => Just(RenameKind::NoReplace),
                1 => Just(RenameKind::Exchange),
            ],
        )
            .prop_map(|(from, to, kind)| Op::Rename { from, to, kind }),
        2 => (path_strategy(), path_strategy()).prop_map(|(from, to)| Op::Link { from, to }),
        2 => (
            path_strategy(),
            prop::sample::select(&XATTR_NAMES[..]),
            prop::collection::vec(any::<u8>(), 0..100),
            prop_oneof![
                Just(XattrMode::Any),
                Just(XattrMode::Create),
                Just(XattrMode::Replace),
            ],
        )
            .prop_map(|(path, name, value, mode)| Op::SetXattr {
                path,
                name,
                value,
                mode,
            }),
        1 => (path_strategy(), prop::sample::select(&XATTR_NAMES[..]))
            .prop_map(|(path, name)| Op::RemoveXattr { path, name }),
        1 => prop_oneof![
            Just(PathChoice::Literal(b"/".to_vec())),
            path_strategy(),
        ]
            .prop_map(|path| Op::ListDir { path }),
        1 => Just(Op::Sync),
        1 => Just(Op::Reopen),
    ]
}

// ---- the model ------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Body {
    Dir(BTreeMap<Vec<u8>, u64>),
    File(Vec<u8>),
    Symlink(Vec<u8>),
}

#[derive(Debug, Clone)]
struct MNode {
    body: Body,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Inodes by id (the root is 1) and directories mapping names to ids.
#[derive(Debug, Clone)]
struct Model {
    nodes: HashMap<u64, MNode>,
    next_id: u64,
}

type Outcome = Result<(), Refusal>;

fn split(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/')
        .filter(|p| !p.is_empty())
        .collect()
}

impl Model {
    const ROOT: u64 = 1;

    fn new() -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            Self::ROOT,
            MNode {
                body: Body::Dir(BTreeMap::new()),
                xattrs: BTreeMap::new(),
            },
        );
        Model { nodes, next_id: 2 }
    }

    fn entries(&self, dir: u64) -> Option<&BTreeMap<Vec<u8>, u64>> {
        match &self.nodes[&dir].body {
            Body::Dir(entries) => Some(entries),
            _ => None,
        }
    }

    fn entries_mut(&mut self, dir: u64) -> &mut BTreeMap<Vec<u8>, u64> {
        match &mut self.nodes.get_mut(&dir).expect("node").body {
            Body::Dir(entries) => entries,
            _ => panic!("not a directory"),
        }
    }

    fn is_dir(&self, id: u64) -> bool {
        matches!(self.nodes[&id].body, Body::Dir(_))
    }

    /// As `Fs::resolve`: symlinks are not followed.
    fn resolve(&self, path: &[u8]) -> Result<u64, Refusal> {
        let mut id = Self::ROOT;
        for part in split(path) {
            let entries = self.entries(id).ok_or(Refusal::NotDir)?;
            id = *entries.get(part).ok_or(Refusal::NotFound)?;
        }
        Ok(id)
    }

    /// As `Fs::resolve_parent`.
    fn resolve_parent(&self, path: &[u8]) -> Result<(u64, Vec<u8>), Refusal> {
        let mut parts = split(path);
        let name = parts.pop().ok_or(Refusal::Invalid)?.to_vec();
        let mut id = Self::ROOT;
        for part in parts {
            let entries = self.entries(id).ok_or(Refusal::NotDir)?;
            id = *entries.get(part).ok_or(Refusal::NotFound)?;
        }
        if !self.is_dir(id) {
            return Err(Refusal::NotDir);
        }
        Ok((id, name))
    }

    /// Every path below the root in name order (`dirs_only`: the directories, root first).
    fn paths(&self, dirs_only: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if dirs_only {
            out.push(b"/".to_vec());
        }
        let mut pending = vec![(Self::ROOT, b"/".to_vec())];
        while let Some((id, path)) = pending.pop() {
            if let Body::Dir(entries) = &self.nodes[&id].body {
                for (name, &child) in entries {
                    let child_path = child_path(&path, name);
                    let is_dir = self.is_dir(child);
                    if is_dir {
                        pending.push((child, child_path.clone()));
                    }
                    if is_dir || !dirs_only {
                        out.push(child_path);
                    }
                }
            }
        }
        out.sort();
        out
    }

    fn lookup(&self, dir: u64, name: &[u8]) -> Option<u64> {
        self.entries(dir).and_then(|e| e.get(name).copied())
    }

    fn links(&self, id: u64) -> usize {
        self.nodes
            .values()
            .filter_map(|n| match &n.body {
                Body::Dir(entries) => Some(entries.values().filter(|&&c| c == id).count()),
                _ => None,
            })
            .sum()
    }

    /// The parent directory of directory `id` (the root is its own).
    fn dir_parent(&self, id: u64) -> u64 {
        if id == Self::ROOT {
            return id;
        }
        self.nodes
            .iter()
            .find_map(|(&p, n)| match &n.body {
                Body::Dir(entries) if entries.values().any(|&c| c == id) => Some(p),
                _ => None,
            })
            .expect("every directory but the root has a parent")
    }

    fn is_ancestor(&self, ancestor: u64, mut dir: u64) -> bool {
        loop {
            if dir == ancestor {
                return true;
            }
            if dir == Self::ROOT {
                return false;
            }
            dir = self.dir_parent(dir);
        }
    }

    fn add(&mut self, parent: u64, name: Vec<u8>, body: Body) -> Outcome {
        if self.lookup(parent, &name).is_some() {
            return Err(Refusal::Exists);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.nodes.insert(
            id,
            MNode {
                body,
                xattrs: BTreeMap::new(),
            },
        );
        self.entries_mut(parent).insert(name, id);
        Ok(())
    }

    /// Drop the name; delete the node when no name is left.
    fn remove_name(&mut self, parent: u64, name: &[u8]) {
        let id = self.entries_mut(parent).remove(name).expect("name exists");
        if self.links(id) == 0 {
            self.nodes.remove(&id);
        }
    }

    fn file_mut(&mut self, id: u64) -> Result<&mut Vec<u8>, Refusal> {
        match &mut self.nodes.get_mut(&id).expect("node").body {
            Body::File(data) => Ok(data),
            Body::Dir(_) => Err(Refusal::IsDir),
            Body::Symlink(_) => Err(Refusal::Invalid),
        }
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Create { path, len, seed } => {
                let (parent, name) = self.resolve_parent(path)?;
                self.add(parent, name, Body::File(pattern(*seed, *len)))
            }
            Op::Mkdir { path } => {
                let (parent, name) = self.resolve_parent(path)?;
                self.add(parent, name, Body::Dir(BTreeMap::new()))
            }
            Op::Symlink { path, target } => {
                let (parent, name) = self.resolve_parent(path)?;
                self.add(parent, name, Body::Symlink(target.clone()))
            }
            Op::Write {
                path,
                offset,
                len,
                seed,
            } => {
                let id = self.resolve(path)?;
                let data = self.file_mut(id)?;
                if *len > 0 {
                    if data.len() < offset + len {
                        data.resize(offset + len, 0);
                    }
                    data[*offset..offset + len].copy_from_slice(&pattern(*seed, *len));
                }
                Ok(())
            }
            Op::Truncate { path, size } => {
                let id = self.resolve(path)?;
                self.file_mut(id)?.resize(*size, 0);
                Ok(())
            }
            Op::Unlink { path } => {
                let (parent, name) = self.resolve_parent(path)?;
                let id = self.lookup(parent, &name).ok_or(Refusal::NotFound)?;
                if self.is_dir(id) {
                    return Err(Refusal::IsDir);
                }
                self.remove_name(parent, &name);
                Ok(())
            }
            Op::Rmdir { path } => {
                let (parent, name) = self.resolve_parent(path)?;
                let id = self.lookup(parent, &name).ok_or(Refusal::NotFound)?;
                match self.entries(id) {
                    None => return Err(Refusal::NotDir),
                    Some(entries) if !entries.is_empty() => return Err(Refusal::NotEmpty),
                    Some(_) => {}
                }
                self.remove_name(parent, &name);
                Ok(())
            }
            Op::Rename { from, to, kind } => self.rename(from, to, *kind),
            Op::Link { from, to } => {
                let id = self.resolve(from)?;
                let (parent, name) = self.resolve_parent(to)?;
                if self.is_dir(id) {
                    return Err(Refusal::NotPermitted);
                }
                if self.lookup(parent, &name).is_some() {
                    return Err(Refusal::Exists);
                }
                self.entries_mut(parent).insert(name, id);
                Ok(())
            }
            Op::SetXattr {
                path,
                name,
                value,
                mode,
            } => {
                let id = self.resolve(path)?;
                let xattrs = &mut self.nodes.get_mut(&id).expect("node").xattrs;
                let exists = xattrs.contains_key(name.as_bytes());
                match (mode, exists) {
                    (XattrMode::Create, true) => return Err(Refusal::Exists),
                    (XattrMode::Replace, false) => return Err(Refusal::NoXattr),
                    _ => {}
                }
                xattrs.insert(name.as_bytes().to_vec(), value.clone());
                Ok(())
            }
            Op::RemoveXattr { path, name } => {
                let id = self.resolve(path)?;
                let xattrs = &mut self.nodes.get_mut(&id).expect("node").xattrs;
                xattrs
                    .remove(name.as_bytes())
                    .map(|_| ())
                    .ok_or(Refusal::NoXattr)
            }
            Op::ListDir { path } => {
                let id = self.resolve(path)?;
                self.entries(id).map(|_| ()).ok_or(Refusal::NotDir)
            }
            Op::Sync | Op::Reopen => Ok(()),
        }
    }

    /// As `Fs::rename`, after both parents were resolved (in that order).
    fn rename(&mut self, from: &[u8], to: &[u8], kind: RenameKind) -> Outcome {
        let (parent, name) = self.resolve_parent(from)?;
        let (new_parent, new_name) = self.resolve_parent(to)?;
        let id = self.lookup(parent, &name).ok_or(Refusal::NotFound)?;
        let is_dir = self.is_dir(id);
        if is_dir && new_parent != parent && self.is_ancestor(id, new_parent) {
            return Err(Refusal::Invalid);
        }
        match self.lookup(new_parent, &new_name) {
            Some(target) => {
                if kind == RenameKind::NoReplace {
                    return Err(Refusal::Exists);
                }
                if target == id {
                    return Ok(());
                }
                let target_is_dir = self.is_dir(target);
                if kind == RenameKind::Exchange {
                    if target_is_dir && parent != new_parent && self.is_ancestor(target, parent) {
                        return Err(Refusal::Invalid);
                    }
                    self.entries_mut(parent).insert(name, target);
                    self.entries_mut(new_parent).insert(new_name, id);
                    return Ok(());
                }
                match (is_dir, target_is_dir) {
                    (true, false) => return Err(Refusal::NotDir),
                    (false, true) => return Err(Refusal::IsDir),
                    (true, true) if !self.entries(target).expect("dir").is_empty() => {
                        return Err(Refusal::NotEmpty);
                    }
                    _ => {}
                }
                self.remove_name(new_parent, &new_name);
            }
            None if kind == RenameKind::Exchange => return Err(Refusal::NotFound),
            None => {}
        }
        self.entries_mut(parent).remove(&name);
        self.entries_mut(new_parent).insert(new_name, id);
        Ok(())
    }

    /// Everything observable, by path.
    fn observe(&self) -> Observed {
        let mut out = Observed::new();
        let mut first_path: HashMap<u64, Vec<u8>> = HashMap::new();
        let mut pending = vec![(Self::ROOT, b"/".to_vec())];
        let mut visits = Vec::new();
        while let Some((id, path)) = pending.pop() {
            if let Body::Dir(entries) = &self.nodes[&id].body {
                for (name, &child) in entries {
                    pending.push((child, child_path(&path, name)));
                }
            }
            visits.push((id, path));
        }
        for (id, path) in &visits {
            let known = first_path.entry(*id).or_insert_with(|| path.clone());
            if path < known {
                *known = path.clone();
            }
        }
        for (id, path) in visits {
            let node = &self.nodes[&id];
            let (kind, content, size, nlink) = match &node.body {
                Body::Dir(entries) => {
                    let subdirs = entries.values().filter(|&&c| self.is_dir(c)).count();
                    (
                        FileKind::Directory,
                        entries.keys().cloned().collect::<Vec<_>>().join(&b'\n'),
                        entries.len() as u64,
                        2 + subdirs as u32,
                    )
                }
                Body::File(data) => (
                    FileKind::RegularFile,
                    data.clone(),
                    data.len() as u64,
                    self.links(id) as u32,
                ),
                Body::Symlink(target) => (
                    FileKind::Symlink,
                    target.clone(),
                    target.len() as u64,
                    self.links(id) as u32,
                ),
            };
            out.insert(
                path,
                Observation {
                    kind,
                    content,
                    size,
                    nlink,
                    same_inode_as: first_path[&id].clone(),
                    xattrs: node.xattrs.clone(),
                },
            );
        }
        out
    }
}

// ---- observing the file system ---------------------------------------------------------------

/// What the test compares for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observation {
    kind: FileKind,
    /// File bytes, symlink target, or a directory's names joined by '\n'.
    content: Vec<u8>,
    size: u64,
    nlink: u32,
    /// The smallest path naming the same inode (hard links).
    same_inode_as: Vec<u8>,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

type Observed = BTreeMap<Vec<u8>, Observation>;

fn observe_fs(fs: &Fs) -> FsResult<Observed> {
    let mut visits: Vec<(Ino, Vec<u8>)> = Vec::new();
    let mut pending = vec![(ROOT_INO, b"/".to_vec())];
    let mut listings: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
    while let Some((dir, path)) = pending.pop() {
        let entries = list_all(fs, dir)?;
        let names: Vec<Vec<u8>> = entries.iter().map(|e| e.name.clone()).collect();
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "listing of {} is not in name order",
            String::from_utf8_lossy(&path)
        );
        for entry in entries {
            let child = child_path(&path, &entry.name);
            if entry.kind == FileKind::Directory {
                pending.push((entry.ino, child));
            } else {
                visits.push((entry.ino, child));
            }
        }
        listings.insert(path.clone(), names);
        visits.push((dir, path));
    }
    let mut first_path: HashMap<Ino, Vec<u8>> = HashMap::new();
    for (ino, path) in &visits {
        let known = first_path.entry(*ino).or_insert_with(|| path.clone());
        if path < known {
            *known = path.clone();
        }
    }
    let mut out = Observed::new();
    for (ino, path) in visits {
        let attr = fs.getattr(ino)?;
        let content = match attr.kind {
            FileKind::Directory => listings[&path].join(&b'\n'),
            FileKind::RegularFile => read_file(fs, ino)?,
            FileKind::Symlink => fs.readlink(ino)?,
            other => panic!("unexpected kind {other:?}"),
        };
        let mut xattrs = BTreeMap::new();
        for name in fs.listxattr(ino)? {
            let value = fs.getxattr(ino, &name)?;
            xattrs.insert(name, value);
        }
        out.insert(
            path,
            Observation {
                kind: attr.kind,
                content,
                size: attr.size,
                nlink: attr.nlink,
                same_inode_as: first_path[&ino].clone(),
                xattrs,
            },
        );
    }
    Ok(out)
}

// ---- the system under test -------------------------------------------------------------------

struct System {
    storage: Arc<MemStorage>,
    fs: Fs,
}

fn base_image() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| formatted_image(CONTAINER_SIZE))
}

impl System {
    fn new() -> Self {
        let storage = Arc::new(MemStorage::new(base_image().to_vec()));
        let fs = open(storage.clone());
        System { storage, fs }
    }

    fn apply(&mut self, op: &Op) -> FsResult<()> {
        let fs = &self.fs;
        match op {
            Op::Create { path, len, seed } => {
                let (parent, name) = fs.resolve_parent(path)?;
                let (attr, fh) = fs.create(parent, name, 0o644, OpenFlags::READ_WRITE, ME)?;
                fs.forget(attr.ino, 1);
                let data = pattern(*seed, *len);
                let written = fs.write(fh, 0, &data)?;
                assert_eq!(written as usize, data.len());
                fs.release(fh)
            }
            Op::Mkdir { path } => {
                let (parent, name) = fs.resolve_parent(path)?;
                let attr = fs.mkdir(parent, name, 0o755, ME)?;
                fs.forget(attr.ino, 1);
                Ok(())
            }
            Op::Symlink { path, target } => {
                let (parent, name) = fs.resolve_parent(path)?;
                let attr = fs.symlink(parent, name, target, ME)?;
                fs.forget(attr.ino, 1);
                Ok(())
            }
            Op::Write {
                path,
                offset,
                len,
                seed,
            } => {
                let ino = fs.resolve(path)?.ino;
                let data = pattern(*seed, *len);
                let written = fs.write_ino(ino, *offset as u64, &data, false)?;
                assert_eq!(written as usize, data.len());
                Ok(())
            }
            Op::Truncate { path, size } => {
                let ino = fs.resolve(path)?.ino;
                let attr = fs.setattr(
                    ino,
                    SetAttr {
                        size: Some(*size as u64),
                        ..SetAttr::default()
                    },
                )?;
                assert_eq!(attr.size, *size as u64);
                Ok(())
            }
            Op::Unlink { path } => {
                let (parent, name) = fs.resolve_parent(path)?;
                fs.unlink(parent, name)
            }
            Op::Rmdir { path } => {
                let (parent, name) = fs.resolve_parent(path)?;
                fs.rmdir(parent, name)
            }
            Op::Rename { from, to, kind } => {
                let (parent, name) = fs.resolve_parent(from)?;
                let (new_parent, new_name) = fs.resolve_parent(to)?;
                let flags = RenameFlags {
                    no_replace: *kind == RenameKind::NoReplace,
                    exchange: *kind == RenameKind::Exchange,
                };
                fs.rename(parent, name, new_parent, new_name, flags)
            }
            Op::Link { from, to } => {
                let ino = fs.resolve(from)?.ino;
                let (parent, name) = fs.resolve_parent(to)?;
                let attr = fs.link(ino, parent, name)?;
                fs.forget(attr.ino, 1);
                Ok(())
            }
            Op::SetXattr {
                path,
                name,
                value,
                mode,
            } => {
                let ino = fs.resolve(path)?.ino;
                fs.setxattr(ino, name.as_bytes(), value, *mode)
            }
            Op::RemoveXattr { path, name } => {
                let ino = fs.resolve(path)?.ino;
                fs.removexattr(ino, name.as_bytes())
            }
            Op::ListDir { path } => {
                let dir = fs.resolve(path)?;
                let dh = fs.opendir(dir.ino)?;
                // Read in pages of two entries, resuming at each returned offset.
                let mut names = Vec::new();
                let mut offset = 0;
                loop {
                    let page = fs.readdir(dh, offset, 2)?;
                    let Some(last) = page.last() else { break };
                    offset = last.next_offset;
                    names.extend(page.into_iter().map(|e| e.name));
                }
                fs.releasedir(dh)?;
                let expected: Vec<Vec<u8>> = [b".".to_vec(), b"..".to_vec()]
                    .into_iter()
                    .chain(list_all(fs, dir.ino)?.into_iter().map(|e| e.name))
                    .collect();
                assert_eq!(
                    names,
                    expected,
                    "readdir of {}",
                    String::from_utf8_lossy(path)
                );
                Ok(())
            }
            Op::Sync => fs.sync(),
            Op::Reopen => {
                fs.close()?;
                self.fs = open(self.storage.clone());
                Ok(())
            }
        }
    }
}

fn run_sequence(ops: &[Op<PathChoice>]) -> Result<(), TestCaseError> {
    let mut system = System::new();
    let mut model = Model::new();
    for (step, template) in ops.iter().enumerate() {
        let op = &template.with_paths(&model);
        let expected = model.apply(op);
        let actual = system.apply(op).map_err(refusal);
        prop_assert_eq!(actual, expected, "step {}: {:?}", step, op);
        let observed = observe_fs(&system.fs).map_err(|e| {
            TestCaseError::fail(format!("step {step}: reading the tree failed: {e}"))
        })?;
        let predicted = model.observe();
        if observed != predicted {
            let differences: Vec<String> = predicted
                .iter()
                .filter(|(path, o)| observed.get(*path) != Some(o))
                .map(|(path, o)| {
                    format!(
                        "{}: expected {:?}, found {:?}",
                        String::from_utf8_lossy(path),
                        brief(Some(o)),
                        brief(observed.get(path))
                    )
                })
                .chain(
                    observed
                        .keys()
                        .filter(|p| !predicted.contains_key(*p))
                        .map(|p| format!("unexpected {}", String::from_utf8_lossy(p))),
                )
                .collect();
            return Err(TestCaseError::fail(format!(
                "step {step} ({op:?}): the file system differs from the model: {differences:#?}"
            )));
        }
    }
    let report = system
        .fs
        .check(&mut |_, _| {})
        .map_err(|e| TestCaseError::fail(format!("check failed to run: {e}")))?;
    prop_assert!(report.is_clean(), "check: {:?}", report.problems);
    system
        .fs
        .close()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    Ok(())
}

/// An observation without the bytes, for messages.
fn brief(o: Option<&Observation>) -> Option<String> {
    o.map(|o| {
        format!(
            "{:?} size {} nlink {} {} bytes same-as {} xattrs {:?}",
            o.kind,
            o.size,
            o.nlink,
            o.content.len(),
            String::from_utf8_lossy(&o.same_inode_as),
            o.xattrs.keys().collect::<Vec<_>>()
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_file_system_behaves_like_the_model(ops in prop::collection::vec(op_strategy(), 1..60)) {
        run_sequence(&ops)?;
    }
}

#[test]
fn refusals_of_invalid_operations_name_the_right_error() {
    // The cases the model test must be able to hit, spelled out once.
    let b = |s: &str| PathChoice::Literal(s.as_bytes().to_vec());
    let ops = vec![
        Op::Mkdir { path: b("/a") },
        Op::Mkdir { path: b("/a/b") },
        Op::Create {
            path: b("/a/b/c"),
            len: 10,
            seed: 1,
        },
        Op::Rmdir { path: b("/a") },
        Op::Unlink {
            path: b("/missing"),
        },
        Op::Unlink { path: b("/a") },
        Op::Rmdir { path: b("/a/b/c") },
        Op::Rename {
            from: b("/a"),
            to: b("/a/b/a"),
            kind: RenameKind::Plain,
        },
        Op::Rename {
            from: b("/a/b/c"),
            to: b("/a"),
            kind: RenameKind::Plain,
        },
        Op::Mkdir { path: b("/a") },
        Op::Link {
            from: b("/a"),
            to: b("/b"),
        },
        Op::Write {
            path: b("/a"),
            offset: 0,
            len: 1,
            seed: 0,
        },
        Op::Create {
            path: b("/a/b/c/d"),
            len: 1,
            seed: 0,
        },
        Op::RemoveXattr {
            path: b("/a"),
            name: XATTR_NAMES[0],
        },
        Op::Rename {
            from: b("/a/b/c"),
            to: b("/c"),
            kind: RenameKind::Exchange,
        },
    ];
    let mut model = Model::new();
    let expected: Vec<Outcome> = ops
        .iter()
        .map(|op| {
            let op = op.with_paths(&model);
            model.apply(&op)
        })
        .collect();
    assert_eq!(
        expected,
        vec![
            Ok(()),
            Ok(()),
            Ok(()),
            Err(Refusal::NotEmpty),
            Err(Refusal::NotFound),
            Err(Refusal::IsDir),
            Err(Refusal::NotDir),
            Err(Refusal::Invalid),
            Err(Refusal::IsDir),
            Err(Refusal::Exists),
            Err(Refusal::NotPermitted),
            Err(Refusal::IsDir),
            Err(Refusal::NotDir),
            Err(Refusal::NoXattr),
            Err(Refusal::NotFound),
        ]
    );
    run_sequence(&ops).unwrap();
}
