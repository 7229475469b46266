//! Names: lookup, creating and removing entries, links, symlinks and rename.

use crate::acl;
use crate::error::FsError;
use crate::error::FsResult;
use crate::fs::{Ctx, Fs, check_name};
use crate::handles::OpenFlags;
use crate::inode::{Attr, FileKind, Ino, Inode, ROOT_INO, Timestamp};
use crate::schema::entry_cost;
use crate::store::{Tx, TxResult};

/// Largest link count of a non-directory.
const LINK_MAX: u32 = 65_000;
/// Longest symlink target.
const SYMLINK_MAX: usize = 4095;

/// Flags of `rename`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenameFlags {
    /// Fail with `Exists` instead of replacing the target (`RENAME_NOREPLACE`).
    pub no_replace: bool,
    /// Atomically swap source and target, which must both exist (`RENAME_EXCHANGE`).
    pub exchange: bool,
}

/// A symlink target must be 1..=4095 bytes without NUL.
pub(crate) fn check_symlink_target(target: &[u8]) -> FsResult<()> {
    if target.is_empty() || target.contains(&0) {
        return Err(FsError::Invalid(
            "symlink target must be non-empty and contain no NUL",
        ));
    }
    if target.len() > SYMLINK_MAX {
        return Err(FsError::NameTooLong);
    }
    Ok(())
}

/// What `create_node` makes.
pub(crate) struct NewNode<'a> {
    pub(crate) kind: FileKind,
    pub(crate) perm: u16,
    /// The creating process's umask: applies unless the directory has a default ACL. 0 when
    /// `perm` is final (callers that applied their umask, WinFsp, the offline commands); a
    /// parent's default ACL still masks `perm` and is inherited either way.
    pub(crate) umask: u16,
    pub(crate) rdev: u32,
    pub(crate) symlink_target: Option<&'a [u8]>,
}

impl Fs {
    /// Create a new inode named `name` in `parent` (shared by mknod, mkdir, symlink, create);
    /// the caller receives one lookup reference.
    fn create_node(&self, parent: Ino, name: &[u8], node: NewNode<'_>, ctx: Ctx) -> FsResult<Attr> {
        let attr = self.create_node_unreferenced(parent, name, node, ctx)?;
        self.handles().add_lookup(attr.ino);
        Ok(attr)
    }

    /// Create a new inode named `name` in `parent` without taking a reference to it (for
    /// front-ends that hold open handles instead of lookup references).
    pub(crate) fn create_node_unreferenced(
        &self,
        parent: Ino,
        name: &[u8],
        node: NewNode<'_>,
        ctx: Ctx,
    ) -> FsResult<Attr> {
        let NewNode {
            kind,
            perm,
            umask,
            rdev,
            symlink_target,
        } = node;
        check_name(name)?;
        let attr = self.run_write(|tx| {
            let mut dir = Fs::dir_inode(tx, parent)?;
            if tx.dirent(parent, name)?.is_some() {
                return Err(FsError::Exists.into());
            }
            let parent_default = if kind == FileKind::Symlink {
                None
            } else {
                tx.xattr(parent, acl::DEFAULT)?
            };
            let (perm, inherited) =
                acl::inherit(kind, perm & 0o7777, umask, parent_default.as_deref())?;
            let acl_cost = |name: &[u8], value: &Option<Vec<u8>>| {
                value
                    .as_ref()
                    .map_or(0, |v| entry_cost(8 + name.len() + v.len()))
            };
            let target_len = symlink_target.map_or(0, <[u8]>::len);
            tx.reserve(
                entry_cost(8 + crate::inode::RECORD_LEN)
                    + entry_cost(17 + name.len())
                    + entry_cost(8 + target_len)
                    + acl_cost(acl::ACCESS, &inherited.access)
                    + acl_cost(acl::DEFAULT, &inherited.default),
            )?;
            let now = Timestamp::now();
            // BSD group semantics for setgid directories: the new entry takes the directory's
            // group, and a new subdirectory inherits the setgid bit.
            let setgid_dir = dir.perm & 0o2000 != 0;
            let gid = if setgid_dir { dir.gid } else { ctx.gid };
            let mut perm = perm;
            if kind == FileKind::Directory && setgid_dir {
                perm |= 0o2000;
            }
            let mut inode = Inode::new(kind, perm, ctx.uid, gid, now);
            inode.rdev = rdev;
            if kind == FileKind::Directory {
                inode.parent = parent;
                dir.nlink += 1;
            }
            if let Some(target) = symlink_target {
                inode.size = target.len() as u64;
            }
            let ino = tx.alloc_ino();
            tx.put_inode(ino, &inode, true)?;
            if let Some(target) = symlink_target {
                tx.put_symlink(ino, target)?;
            }
            if let Some(access) = &inherited.access {
                tx.put_xattr(ino, acl::ACCESS, access)?;
            }
            if let Some(default) = &inherited.default {
                tx.put_xattr(ino, acl::DEFAULT, default)?;
            }
            tx.put_dirent(parent, name, ino, kind)?;
            dir.size += 1;
            dir.mtime = now;
            dir.ctime = now;
            tx.put_inode(parent, &dir, false)?;
            Ok(inode.attr(ino))
        })?;
        Ok(attr)
    }

    /// Create a special file, FIFO, socket or empty regular file. One reference is returned.
    ///
    /// `perm` is used as given (a caller's umask already applied), except that a directory
    /// with a default ACL masks it with that ACL; see [`Fs::mknod_with_umask`].
    pub fn mknod(
        &self,
        parent: Ino,
        name: &[u8],
        kind: FileKind,
        perm: u16,
        rdev: u32,
        ctx: Ctx,
    ) -> FsResult<Attr> {
        self.mknod_with_umask(parent, name, kind, perm, 0, rdev, ctx)
    }

    /// [`Fs::mknod`] for a caller whose `umask` was not applied to `perm`: it applies unless
    /// the directory has a default ACL, which the new node then inherits (POSIX ACLs).
    #[allow(clippy::too_many_arguments)]
    pub fn mknod_with_umask(
        &self,
        parent: Ino,
        name: &[u8],
        kind: FileKind,
        perm: u16,
        umask: u16,
        rdev: u32,
        ctx: Ctx,
    ) -> FsResult<Attr> {
        if kind == FileKind::Directory || kind == FileKind::Symlink {
            return Err(FsError::Invalid(
                "mknod cannot make directories or symlinks",
            ));
        }
        self.create_node(
            parent,
            name,
            NewNode {
                kind,
                perm,
                umask,
                rdev,
                symlink_target: None,
            },
            ctx,
        )
    }

    /// Create a directory. One reference is returned. `perm` as for [`Fs::mknod`].
    pub fn mkdir(&self, parent: Ino, name: &[u8], perm: u16, ctx: Ctx) -> FsResult<Attr> {
        self.mkdir_with_umask(parent, name, perm, 0, ctx)
    }

    /// [`Fs::mkdir`] with the caller's `umask`, as for [`Fs::mknod_with_umask`].
    pub fn mkdir_with_umask(
        &self,
        parent: Ino,
        name: &[u8],
        perm: u16,
        umask: u16,
        ctx: Ctx,
    ) -> FsResult<Attr> {
        self.create_node(
            parent,
            name,
            NewNode {
                kind: FileKind::Directory,
                perm,
                umask,
                rdev: 0,
                symlink_target: None,
            },
            ctx,
        )
    }

    /// Create a symbolic link to `target`. One reference is returned.
    pub fn symlink(&self, parent: Ino, name: &[u8], target: &[u8], ctx: Ctx) -> FsResult<Attr> {
        check_symlink_target(target)?;
        self.create_node(
            parent,
            name,
            NewNode {
                kind: FileKind::Symlink,
                perm: 0o777,
                umask: 0,
                rdev: 0,
                symlink_target: Some(target),
            },
            ctx,
        )
    }

    /// Create and open a regular file. One reference and one open handle are returned.
    /// `perm` as for [`Fs::mknod`].
    pub fn create(
        &self,
        parent: Ino,
        name: &[u8],
        perm: u16,
        flags: OpenFlags,
        ctx: Ctx,
    ) -> FsResult<(Attr, u64)> {
        self.create_with_umask(parent, name, perm, 0, flags, ctx)
    }

    /// [`Fs::create`] with the caller's `umask`, as for [`Fs::mknod_with_umask`].
    pub fn create_with_umask(
        &self,
        parent: Ino,
        name: &[u8],
        perm: u16,
        umask: u16,
        flags: OpenFlags,
        ctx: Ctx,
    ) -> FsResult<(Attr, u64)> {
        let attr = self.create_node(
            parent,
            name,
            NewNode {
                kind: FileKind::RegularFile,
                perm,
                umask,
                rdev: 0,
                symlink_target: None,
            },
            ctx,
        )?;
        let fh = self.handles().open_file(attr.ino, flags);
        Ok((attr, fh))
    }

    /// The target of a symbolic link.
    pub fn readlink(&self, ino: Ino) -> FsResult<Vec<u8>> {
        self.run_read(|tx| {
            let inode = tx.inode(ino)?;
            if inode.kind != FileKind::Symlink {
                return Err(FsError::Invalid("not a symbolic link").into());
            }
            tx.symlink_target(ino)
        })
    }

    /// Add the name `new_name` in `new_parent` for inode `ino` (a hard link). One reference
    /// is returned.
    pub fn link(&self, ino: Ino, new_parent: Ino, new_name: &[u8]) -> FsResult<Attr> {
        check_name(new_name)?;
        let attr = self.run_write(|tx| {
            let mut inode = tx.inode(ino)?;
            if inode.kind == FileKind::Directory {
                return Err(FsError::NotPermitted.into());
            }
            if inode.nlink == 0 {
                return Err(FsError::NotFound.into());
            }
            if inode.nlink >= LINK_MAX {
                return Err(FsError::TooManyLinks.into());
            }
            let mut dir = Fs::dir_inode(tx, new_parent)?;
            if tx.dirent(new_parent, new_name)?.is_some() {
                return Err(FsError::Exists.into());
            }
            tx.reserve(entry_cost(17 + new_name.len()))?;
            let now = Timestamp::now();
            tx.put_dirent(new_parent, new_name, ino, inode.kind)?;
            inode.nlink += 1;
            inode.ctime = now;
            tx.put_inode(ino, &inode, false)?;
            dir.size += 1;
            dir.mtime = now;
            dir.ctime = now;
            tx.put_inode(new_parent, &dir, false)?;
            Ok(inode.attr(ino))
        })?;
        self.handles().add_lookup(attr.ino);
        Ok(attr)
    }

    /// Remove the name `name` (not a directory) from `parent`.
    pub fn unlink(&self, parent: Ino, name: &[u8]) -> FsResult<()> {
        self.remove_entry(parent, name, false)
    }

    /// Remove the empty directory `name` from `parent`.
    pub fn rmdir(&self, parent: Ino, name: &[u8]) -> FsResult<()> {
        if name == b"." {
            return Err(FsError::Invalid("cannot remove \".\""));
        }
        if name == b".." {
            return Err(FsError::NotEmpty);
        }
        self.remove_entry(parent, name, true)
    }

    fn remove_entry(&self, parent: Ino, name: &[u8], directory: bool) -> FsResult<()> {
        if name.len() > crate::schema::NAME_MAX {
            return Err(FsError::NameTooLong);
        }
        self.run_write(|tx| {
            let mut dir = Fs::dir_inode(tx, parent)?;
            let (ino, kind) = tx.dirent(parent, name)?.ok_or(FsError::NotFound)?;
            let mut inode = tx.inode(ino)?;
            match (directory, kind == FileKind::Directory) {
                (false, true) => return Err(FsError::IsDir.into()),
                (true, false) => return Err(FsError::NotDir.into()),
                (true, true) if !tx.dir_is_empty(ino)? => return Err(FsError::NotEmpty.into()),
                _ => {}
            }
            let now = Timestamp::now();
            tx.remove_dirent(parent, name)?;
            dir.size = dir.size.saturating_sub(1);
            dir.mtime = now;
            dir.ctime = now;
            if directory {
                dir.nlink = dir.nlink.saturating_sub(1);
                inode.nlink = 0;
            } else {
                inode.nlink = inode.nlink.saturating_sub(1);
            }
            inode.ctime = now;
            tx.put_inode(parent, &dir, false)?;
            if inode.nlink == 0 {
                tx.put_inode(ino, &inode, false)?;
                self.unlinked_in(tx, ino)?;
            } else {
                tx.put_inode(ino, &inode, false)?;
            }
            Ok(())
        })
    }

    /// Whether `ancestor` is `dir` or one of its ancestors.
    fn is_ancestor(tx: &Tx<'_>, ancestor: Ino, mut dir: Ino) -> TxResult<bool> {
        for _ in 0..100_000 {
            if dir == ancestor {
                return Ok(true);
            }
            if dir == ROOT_INO {
                return Ok(false);
            }
            dir = tx.inode(dir)?.parent;
        }
        Err(FsError::RecordDamaged {
            what: "a directory's parent chain does not reach the root".into(),
        }
        .into())
    }

    /// Rename `name` in `parent` to `new_name` in `new_parent`.
    pub fn rename(
        &self,
        parent: Ino,
        name: &[u8],
        new_parent: Ino,
        new_name: &[u8],
        flags: RenameFlags,
    ) -> FsResult<()> {
        check_name(new_name)?;
        if name.len() > crate::schema::NAME_MAX {
            return Err(FsError::NameTooLong);
        }
        if flags.exchange && flags.no_replace {
            return Err(FsError::Invalid("RENAME_EXCHANGE with RENAME_NOREPLACE"));
        }
        self.run_write(|tx| {
            Fs::dir_inode(tx, parent)?;
            Fs::dir_inode(tx, new_parent)?;
            let (ino, kind) = tx.dirent(parent, name)?.ok_or(FsError::NotFound)?;
            let target = tx.dirent(new_parent, new_name)?;
            let is_dir = kind == FileKind::Directory;
            if is_dir && new_parent != parent && Fs::is_ancestor(tx, ino, new_parent)? {
                return Err(FsError::Invalid("cannot move a directory into itself").into());
            }
            if let Some((target_ino, target_kind)) = target {
                if flags.no_replace {
                    return Err(FsError::Exists.into());
                }
                if target_ino == ino {
                    // Two names of the same inode: POSIX says do nothing.
                    return Ok(());
                }
                let target_is_dir = target_kind == FileKind::Directory;
                if flags.exchange {
                    if target_is_dir
                        && parent != new_parent
                        && Fs::is_ancestor(tx, target_ino, parent)?
                    {
                        return Err(FsError::Invalid("cannot move a directory into itself").into());
                    }
                    return self.exchange(
                        tx,
                        (parent, name, ino, kind),
                        (new_parent, new_name, target_ino, target_kind),
                    );
                }
                match (is_dir, target_is_dir) {
                    (true, false) => return Err(FsError::NotDir.into()),
                    (false, true) => return Err(FsError::IsDir.into()),
                    (true, true) if !tx.dir_is_empty(target_ino)? => {
                        return Err(FsError::NotEmpty.into());
                    }
                    _ => {}
                }
            } else if flags.exchange {
                return Err(FsError::NotFound.into());
            }
            tx.reserve(entry_cost(17 + new_name.len()))?;
            let now = Timestamp::now();

            // Replace: drop the target's name first.
            if let Some((target_ino, target_kind)) = target {
                let mut victim = tx.inode(target_ino)?;
                tx.remove_dirent(new_parent, new_name)?;
                let mut new_dir = tx.inode(new_parent)?;
                new_dir.size = new_dir.size.saturating_sub(1);
                if target_kind == FileKind::Directory {
                    new_dir.nlink = new_dir.nlink.saturating_sub(1);
                    victim.nlink = 0;
                } else {
                    victim.nlink = victim.nlink.saturating_sub(1);
                }
                victim.ctime = now;
                tx.put_inode(new_parent, &new_dir, false)?;
                tx.put_inode(target_ino, &victim, false)?;
                if victim.nlink == 0 {
                    self.unlinked_in(tx, target_ino)?;
                }
            }

            tx.remove_dirent(parent, name)?;
            tx.put_dirent(new_parent, new_name, ino, kind)?;
            let mut moved = tx.inode(ino)?;
            moved.ctime = now;
            if is_dir {
                moved.parent = new_parent;
            }
            tx.put_inode(ino, &moved, false)?;

            let mut old_dir = tx.inode(parent)?;
            old_dir.mtime = now;
            old_dir.ctime = now;
            if parent == new_parent {
                tx.put_inode(parent, &old_dir, false)?;
            } else {
                old_dir.size = old_dir.size.saturating_sub(1);
                let mut new_dir = tx.inode(new_parent)?;
                new_dir.size += 1;
                new_dir.mtime = now;
                new_dir.ctime = now;
                if is_dir {
                    old_dir.nlink = old_dir.nlink.saturating_sub(1);
                    new_dir.nlink += 1;
                }
                tx.put_inode(parent, &old_dir, false)?;
                tx.put_inode(new_parent, &new_dir, false)?;
            }
            Ok(())
        })
    }

    /// `RENAME_EXCHANGE`: swap two existing entries.
    fn exchange(
        &self,
        tx: &mut Tx<'_>,
        a: (Ino, &[u8], Ino, FileKind),
        b: (Ino, &[u8], Ino, FileKind),
    ) -> TxResult<()> {
        let (a_parent, a_name, a_ino, a_kind) = a;
        let (b_parent, b_name, b_ino, b_kind) = b;
        let now = Timestamp::now();
        tx.put_dirent(a_parent, a_name, b_ino, b_kind)?;
        tx.put_dirent(b_parent, b_name, a_ino, a_kind)?;
        for (ino, kind, new_parent) in [(a_ino, a_kind, b_parent), (b_ino, b_kind, a_parent)] {
            let mut inode = tx.inode(ino)?;
            inode.ctime = now;
            if kind == FileKind::Directory {
                inode.parent = new_parent;
            }
            tx.put_inode(ino, &inode, false)?;
        }
        let dirs_delta =
            i64::from(a_kind == FileKind::Directory) - i64::from(b_kind == FileKind::Directory);
        if a_parent == b_parent {
            let mut dir = tx.inode(a_parent)?;
            dir.mtime = now;
            dir.ctime = now;
            tx.put_inode(a_parent, &dir, false)?;
        } else {
            for (parent, delta) in [(a_parent, -dirs_delta), (b_parent, dirs_delta)] {
                let mut dir = tx.inode(parent)?;
                dir.mtime = now;
                dir.ctime = now;
                dir.nlink = (i64::from(dir.nlink) + delta).max(0) as u32;
                tx.put_inode(parent, &dir, false)?;
            }
        }
        Ok(())
    }
}
