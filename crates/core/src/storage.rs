//! The host side: a byte-addressed file with positioned reads and writes and a real sync.
//!
//! Everything above reaches the container file only through [`Storage`], so tests can swap
//! in an in-memory image or one that simulates crashes and torn writes (`testing` feature).

use std::fmt::Debug;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;

/// A host file (or a test double standing in for one).
#[allow(
    clippy::len_without_is_empty,
    reason = "mirrors File::set_len/metadata().len()"
)]
pub trait Storage: Send + Sync + Debug {
    /// Read exactly `buf.len()` bytes at `offset`; reading past the end is an error.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Write all of `data` at `offset`, extending the file if needed.
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Make every completed write durable (`fdatasync`).
    fn sync(&self) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Truncate or extend (new bytes read as zeros, sparse where the host allows).
    fn set_len(&self, len: u64) -> io::Result<()>;
}

/// How a container file is opened, and which advisory lock is held while it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read the header only (`info`, `key list`): no lock, works while the container is
    /// mounted.
    HeaderOnly,
    /// Read blocks (`check`, offline reads): a shared lock, refused while mounted read-write.
    ReadOnly,
    /// Change the container: an exclusive lock, refused while anything else has it open.
    ReadWrite,
}

/// A container file on the host file system.
#[derive(Debug)]
pub struct FileStorage {
    file: File,
}

/// Opening a file failed because another process holds a conflicting lock.
#[derive(Debug)]
pub struct Locked;

impl FileStorage {
    /// Open an existing container file with the lock that `access` calls for.
    pub fn open(path: &Path, access: Access) -> io::Result<Result<Self, Locked>> {
        let file = OpenOptions::new()
            .read(true)
            .write(access == Access::ReadWrite)
            .open(path)?;
        let lock = match access {
            Access::HeaderOnly => Ok(()),
            Access::ReadOnly => file.try_lock_shared(),
            Access::ReadWrite => file.try_lock(),
        };
        match lock {
            Ok(()) => Ok(Ok(FileStorage { file })),
            Err(TryLockError::WouldBlock) => Ok(Err(Locked)),
            Err(TryLockError::Error(err)) => Err(err),
        }
    }

    /// Create a new file (never overwriting one) and lock it exclusively.
    pub fn create_new(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        // A brand-new file cannot be locked by anyone else yet; a failure here is an OS
        // without flock, which we tolerate.
        let _ = file.try_lock();
        Ok(FileStorage { file })
    }
}

#[cfg(unix)]
impl Storage for FileStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.file, data, offset)
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

#[cfg(windows)]
impl Storage for FileStorage {
    // Not compiled on the project's Linux machines; see docs/platforms.md.
    fn read_at(&self, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            match self.file.seek_read(buf, offset)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }

    fn write_at(&self, mut offset: u64, mut data: &[u8]) -> io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !data.is_empty() {
            let n = self.file.seek_write(data, offset)?;
            data = &data[n..];
            offset += n as u64;
        }
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

/// fsync the directory holding `path`, so a newly created file's name is durable too.
pub fn sync_parent_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}
