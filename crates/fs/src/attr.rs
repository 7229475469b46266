//! Attributes (getattr / setattr) and extended attributes (the POSIX ACL attributes with the
//! rules of `acl.rs`).

use crate::acl::{self, Acl, CallerGroups};
use crate::data::truncate_in;
use crate::error::{FsError, FsResult};
use crate::fs::Fs;
use crate::inode::{Attr, FileKind, Ino, Timestamp};
use crate::schema::{NAME_MAX, XATTR_VALUE_MAX, entry_cost};
use crate::store::{Tx, TxResult};

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

/// Follow a change of the permission bits of `ino` to `perm` in its access ACL, if it has
/// one (Linux `posix_acl_chmod`).
fn chmod_access_acl(tx: &mut Tx<'_>, ino: Ino, perm: u16) -> TxResult<()> {
    let Some(stored) = tx.xattr(ino, acl::ACCESS)? else {
        return Ok(());
    };
    let mut acl = Acl::parse(&stored).map_err(|_| FsError::RecordDamaged {
        what: format!("the access ACL of inode {ino} is not a valid ACL"),
    })?;
    acl.chmod(perm);
    tx.put_xattr(ino, acl::ACCESS, &acl.encode())?;
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
                chmod_access_acl(tx, ino, inode.perm)?;
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

    /// Set extended attribute `name` of `ino`, by a caller that keeps set-group-ID bits (see
    /// [`Fs::setxattr_as`]).
    pub fn setxattr(&self, ino: Ino, name: &[u8], value: &[u8], mode: XattrMode) -> FsResult<()> {
        self.setxattr_as(ino, name, value, mode, &CallerGroups::PRIVILEGED)
    }

    /// Set extended attribute `name` of `ino` for `caller`.
    ///
    /// The POSIX ACL attributes `system.posix_acl_access` and `system.posix_acl_default`
    /// must hold valid ACLs (Linux's format) and mean what they say: an access ACL sets the
    /// permission bits (and clears the set-group-ID bit unless `caller` is in the file's group
    /// or privileged), and is not stored when the bits say it all; a default ACL is for
    /// directories only and is inherited by what is created in them. Symbolic links have no
    /// ACLs. Enforcing ACLs is the front-end's (the kernel's) job.
    pub fn setxattr_as(
        &self,
        ino: Ino,
        name: &[u8],
        value: &[u8],
        mode: XattrMode,
        caller: &CallerGroups,
    ) -> FsResult<()> {
        check_xattr_name(name)?;
        if value.len() > XATTR_VALUE_MAX {
            return Err(FsError::TooBig);
        }
        let acl = if acl::is_acl_name(name) {
            Some(Acl::parse(value)?)
        } else {
            None
        };
        self.run_write(|tx| {
            let mut inode = tx.inode(ino)?;
            let exists = tx.xattr(ino, name)?.is_some();
            match (mode, exists) {
                (XattrMode::Create, true) => return Err(FsError::Exists.into()),
                (XattrMode::Replace, false) => return Err(FsError::NoXattr.into()),
                _ => {}
            }
            let Some(acl) = &acl else {
                tx.reserve(entry_cost(8 + name.len() + value.len()))?;
                tx.put_xattr(ino, name, value)?;
                inode.ctime = Timestamp::now();
                return tx.put_inode(ino, &inode, false);
            };
            if inode.kind == FileKind::Symlink {
                return Err(FsError::NotSupported.into());
            }
            let store = if name == acl::DEFAULT {
                if inode.kind != FileKind::Directory {
                    return Err(FsError::Invalid("a default ACL is for directories only").into());
                }
                true
            } else {
                // Linux `posix_acl_update_mode`.
                inode.perm = (inode.perm & !0o777) | acl.mode_bits();
                if !caller.keeps_setgid_of(inode.gid) {
                    inode.perm &= !0o2000;
                }
                !acl.is_minimal()
            };
            if store {
                let value = acl.encode();
                tx.reserve(entry_cost(8 + name.len() + value.len()))?;
                tx.put_xattr(ino, name, &value)?;
            } else if exists {
                tx.remove_xattr(ino, name)?;
            }
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
