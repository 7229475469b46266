//! Path-based access for front-ends that speak paths (the offline CLI, WinFsp): resolve
//! "/a/b/c" to an inode without taking references. Symbolic links are not followed.

use crate::error::{FsError, FsResult};
use crate::fs::{Fs, check_name};
use crate::inode::{Attr, FileKind, Ino, ROOT_INO};

/// Split a path into its components, ignoring empty ones and ".". ".." is refused: paths
/// given to these functions are absolute and canonical.
pub fn components(path: &[u8]) -> FsResult<Vec<&[u8]>> {
    let mut out = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(FsError::Invalid("\"..\" is not allowed in container paths")),
            name => {
                check_name(name)?;
                out.push(name);
            }
        }
    }
    Ok(out)
}

impl Fs {
    /// The attributes of the object at `path` ("/" is the root).
    pub fn resolve(&self, path: &[u8]) -> FsResult<Attr> {
        let parts = components(path)?;
        self.run_read(|tx| {
            let mut ino = ROOT_INO;
            for part in &parts {
                let dir = tx.inode(ino)?;
                if dir.kind != FileKind::Directory {
                    return Err(FsError::NotDir.into());
                }
                ino = tx.dirent(ino, part)?.ok_or(FsError::NotFound)?.0;
            }
            Ok(tx.inode(ino)?.attr(ino))
        })
    }

    /// The parent directory of `path` and the last component's name.
    pub fn resolve_parent<'p>(&self, path: &'p [u8]) -> FsResult<(Ino, &'p [u8])> {
        let mut parts = components(path)?;
        let name = parts
            .pop()
            .ok_or(FsError::Invalid("the root has no parent"))?;
        let mut parent_path = Vec::new();
        for part in parts {
            parent_path.push(b'/');
            parent_path.extend_from_slice(part);
        }
        let parent = self.resolve(&parent_path)?;
        if parent.kind != FileKind::Directory {
            return Err(FsError::NotDir);
        }
        Ok((parent.ino, name))
    }
}
