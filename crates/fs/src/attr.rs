//! Attributes (getattr / setattr) and extended attributes.

use crate::data::truncate_in;
use crate::error::{FsError, FsResult};
use crate::fs::Fs;
use crate::inode::{Attr, Ino, Timestamp};
use crate::schema::{NAME_MAX, XATTR_VALUE_MAX, entry_cost};

/// A timestamp to set: the current time or a given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSet {
    /// The time of the call.
    Now,
    /// A given time.
    At(Timestamp),
}

impl TimeSet {
    fn resolve(self, now: Timestamp) -> Timestamp {
        match self {
            TimeSet::Now => now,
            TimeSet::At(t) => t,
        }
    }
}

/// Attribute changes of `setattr`; `None` leaves a field alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// New permission bits (mode & 0o7777).
    pub perm: Option<u16>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New size (regular files only): truncates or extends with zeros.
    pub size: Option<u64>,
    /// New access time.
    pub atime: Option<TimeSet>,
    /// New modification time.
    pub mtime: Option<TimeSet>,
    /// New status-change time (otherwise it becomes "now" when anything changes).
    pub ctime: Option<Timestamp>,
    /// New creation time.
    pub crtime: Option<Timestamp>,
}

/// How `setxattr` treats an existing attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XattrMode {
    /// Create or replace.
    #[default]
    Any,
    /// Fail with `Exists` if it exists (`XATTR_CREATE`).
    Create,
    /// Fail with `NoXattr` if it does not exist (`XATTR_REPLACE`).
    Replace,
}

fn check_xattr_name(name: &[u8]) -> FsResult<()> {
    if name.is_empty() || name.contains(&0) {
        return Err(FsError::Invalid("invalid extended attribute name"));
    }
    if name.len() > NAME_MAX {
        return Err(FsError::Range);
    }
    Ok(())
}

impl Fs {
    /// Attributes of `ino`.
    pub fn getattr(&self, ino: Ino) -> FsResult<Attr> {
        self.run_read(|tx| Ok(tx.inode(ino)?.attr(ino)))
    }

    /// Change attributes of `ino`; returns the new attributes.
    pub fn setattr(&self, ino: Ino, changes: SetAttr) -> FsResult<Attr> {
        self.run_write(|tx| {
            if let Some(size) = changes.size {
                truncate_in(tx, ino, size, true)?;
            }
            let mut inode = tx.inode(ino)?;
            let now = Timestamp::now();
            if let Some(perm) = changes.perm {
                inode.perm = perm & 0o7777;
            }
            if let Some(uid) = changes.uid {
                inode.uid = uid;
            }
            if let Some(gid) = changes.gid {
                inode.gid = gid;
            }
            if let Some(atime) = changes.atime {
                inode.atime = atime.resolve(now);
            }
            if let Some(mtime) = changes.mtime {
                inode.mtime = mtime.resolve(now);
            }
            if let Some(crtime) = changes.crtime {
                inode.crtime = crtime;
            }
            inode.ctime = changes.ctime.unwrap_or(now);
            tx.put_inode(ino, &inode, false)?;
            Ok(inode.attr(ino))
        })
    }

    /// Set extended attribute `name` of `ino`.
    pub fn setxattr(&self, ino: Ino, name: &[u8], value: &[u8], mode: XattrMode) -> FsResult<()> {
        check_xattr_name(name)?;
        if value.len() > XATTR_VALUE_MAX {
            return Err(FsError::TooBig);
        }
        self.run_write(|tx| {
            let mut inode = tx.inode(ino)?;
            let exists = tx.xattr(ino, name)?.is_some();
            match (mode, exists) {
                (XattrMode::Create, true) => return Err(FsError::Exists.into()),
                (XattrMode::Replace, false) => return Err(FsError::NoXattr.into()),
                _ => {}
            }
            tx.reserve(entry_cost(8 + name.len() + value.len()))?;
            tx.put_xattr(ino, name, value)?;
            inode.ctime = Timestamp::now();
            tx.put_inode(ino, &inode, false)
        })
    }

    /// Value of extended attribute `name` of `ino`.
    pub fn getxattr(&self, ino: Ino, name: &[u8]) -> FsResult<Vec<u8>> {
        check_xattr_name(name)?;
        self.run_read(|tx| {
            tx.inode(ino)?;
            Ok(tx.xattr(ino, name)?.ok_or(FsError::NoXattr)?)
        })
    }

    /// Names of the extended attributes of `ino`.
    pub fn listxattr(&self, ino: Ino) -> FsResult<Vec<Vec<u8>>> {
        self.run_read(|tx| {
            tx.inode(ino)?;
            tx.xattr_names(ino)
        })
    }

    /// Remove extended attribute `name` of `ino`.
    pub fn removexattr(&self, ino: Ino, name: &[u8]) -> FsResult<()> {
        check_xattr_name(name)?;
        self.run_write(|tx| {
            let mut inode = tx.inode(ino)?;
            if !tx.remove_xattr(ino, name)? {
                return Err(FsError::NoXattr.into());
            }
            inode.ctime = Timestamp::now();
            tx.put_inode(ino, &inode, false)
        })
    }
}
