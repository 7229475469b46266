//! The file system inside a container, opened for the offline commands, and the
//! `CONTAINER[:/PATH]` argument syntax.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use anyhow::Context;
use secvol_core::{Access, DeviceMode};
use secvol_fs::{Fs, FsOptions};

use super::open_and_unlock;
use crate::credentials::UnlockWith;

/// A `CONTAINER[:/PATH]` argument: a container file and an absolute path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The container file.
    pub container: PathBuf,
    /// Absolute path inside the container, as bytes ("/" when none was given).
    pub path: Vec<u8>,
}

impl Target {
    /// Parse `CONTAINER[:/PATH]`. The container part ends at the first `:/` whose left side
    /// names an existing file, so container paths containing `:/` still work when the file
    /// exists (and Windows drive letters, `C:\...`, are not mistaken for a separator). With
    /// no such file, the first `:/` separates; without any `:/`, the whole argument is the
    /// container and the path is the root. A trailing `:` alone also means the root.
    pub fn parse(arg: &OsStr) -> Target {
        let bytes = os_to_name(arg);
        let separators: Vec<usize> = bytes
            .windows(2)
            .enumerate()
            .filter(|(_, pair)| pair == b":/")
            .map(|(at, _)| at)
            .collect();
        let split = |at: usize| Target {
            container: PathBuf::from(name_to_os(&bytes[..at])),
            path: bytes[at + 1..].to_vec(),
        };
        if let Some(&at) = separators
            .iter()
            .find(|&&at| Path::new(&name_to_os(&bytes[..at])).is_file())
        {
            return split(at);
        }
        if Path::new(arg).exists() {
            return Target::whole(arg);
        }
        if let Some(&at) = separators.first() {
            return split(at);
        }
        if let Some(stripped) = bytes.strip_suffix(b":") {
            return Target {
                container: PathBuf::from(name_to_os(stripped)),
                path: b"/".to_vec(),
            };
        }
        Target::whole(arg)
    }

    fn whole(arg: &OsStr) -> Target {
        Target {
            container: PathBuf::from(arg),
            path: b"/".to_vec(),
        }
    }

    /// The inside path for messages.
    pub fn display_path(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }

    /// `CONTAINER:/PATH` for messages.
    pub fn display(&self) -> String {
        format!("{}:{}", self.container.display(), self.display_path())
    }
}

/// A local file name or argument as the bytes of a container name or path.
#[cfg(unix)]
pub fn os_to_name(arg: &OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    arg.as_bytes().to_vec()
}

/// A local file name or argument as the bytes of a container name or path.
#[cfg(not(unix))]
pub fn os_to_name(arg: &OsStr) -> Vec<u8> {
    arg.to_string_lossy().into_owned().into_bytes()
}

/// A container name or path as an OS string.
#[cfg(unix)]
pub fn name_to_os(bytes: &[u8]) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(bytes).to_owned()
}

/// A container name or path as an OS string.
#[cfg(not(unix))]
pub fn name_to_os(bytes: &[u8]) -> OsString {
    OsString::from(String::from_utf8_lossy(bytes).into_owned())
}

/// The file system of a container, open for one offline command. Closing it (explicitly, or
/// when dropped after an error) commits what was done durably.
pub struct Volume {
    fs: Fs,
    closed: bool,
}

impl Volume {
    /// Ask for the password and open the file system of `container`: read-only with a
    /// shared lock (works beside other readers, refused while mounted read-write), or
    /// read-write with an exclusive lock.
    pub fn open(container: &Path, with: &UnlockWith, writable: bool) -> anyhow::Result<Self> {
        let access = if writable {
            Access::ReadWrite
        } else {
            Access::ReadOnly
        };
        let unlocked = open_and_unlock(container, access, with)?;
        let stack = unlocked.open_stack(if writable {
            DeviceMode::ReadWrite
        } else {
            DeviceMode::ReadOnly
        })?;
        drop(unlocked);
        let fs = Fs::open(stack, FsOptions::default())
            .with_context(|| format!("cannot open the files in {}", container.display()))?;
        Ok(Volume { fs, closed: false })
    }

    /// The file system.
    pub fn fs(&self) -> &Fs {
        &self.fs
    }

    /// Commit everything durably and close.
    pub fn close(mut self) -> anyhow::Result<()> {
        self.closed = true;
        self.fs
            .close()
            .context("cannot write the changes to the container")
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        if !self.closed
            && let Err(err) = self.fs.close()
        {
            log::warn!("closing the container after an error failed too: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(arg: &str) -> (String, String) {
        let target = Target::parse(OsStr::new(arg));
        (
            target.container.display().to_string(),
            target.display_path(),
        )
    }

    #[test]
    fn container_and_inside_path_split_at_the_first_colon_slash() {
        assert_eq!(parse("a.sec:/x/y"), ("a.sec".into(), "/x/y".into()));
        assert_eq!(parse("a.sec"), ("a.sec".into(), "/".into()));
        assert_eq!(parse("a.sec:"), ("a.sec".into(), "/".into()));
        assert_eq!(parse("dir/a.sec:/"), ("dir/a.sec".into(), "/".into()));
        assert_eq!(parse("a.sec:/x:/y"), ("a.sec".into(), "/x:/y".into()));
    }

    #[test]
    fn an_existing_container_whose_name_holds_colon_slash_is_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("odd:")).unwrap();
        let container = dir.path().join("odd:/c.sec");
        std::fs::write(&container, b"").unwrap();
        let arg = format!("{}:/inside", container.display());
        let target = Target::parse(OsStr::new(&arg));
        assert_eq!(target.container, container);
        assert_eq!(target.path, b"/inside");
    }
}
