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
    /// exists. With no such file, the first `:/` separates; without any `:/`, the whole
    /// argument is the container and the path is the root. A trailing `:` alone also means
    /// the root.
    ///
    /// On Windows, `:\` separates too and backslashes in the inside path mean `/`
    /// (`C:\x\TimeAcct.sec:\dir` is `/dir` in `C:\x\TimeAcct.sec`), and the colon of a
    /// drive letter (`C:\`, `C:/`, `\\?\C:\`) never separates. docs/cli.md states the rule.
    pub fn parse(arg: &OsStr) -> Target {
        let syntax = if cfg!(windows) {
            PathSyntax::Windows
        } else {
            PathSyntax::Unix
        };
        Target::parse_as(
            &os_to_name(arg),
            syntax,
            &|bytes: &[u8]| Path::new(&name_to_os(bytes)).is_file(),
            &|bytes: &[u8]| Path::new(&name_to_os(bytes)).exists(),
        )
    }

    /// [`Target::parse`] with the path rules of `syntax` and the given view of the local
    /// file system (tests on Linux check the Windows rules this way).
    fn parse_as(
        bytes: &[u8],
        syntax: PathSyntax,
        is_file: &dyn Fn(&[u8]) -> bool,
        exists: &dyn Fn(&[u8]) -> bool,
    ) -> Target {
        let drive_colon = syntax.drive_colon(bytes);
        let separators: Vec<usize> = bytes
            .windows(2)
            .enumerate()
            .filter(|&(at, pair)| {
                Some(at) != drive_colon
                    && (pair == b":/" || (syntax == PathSyntax::Windows && pair == b":\\"))
            })
            .map(|(at, _)| at)
            .collect();
        let split = |at: usize| Target {
            container: PathBuf::from(name_to_os(&bytes[..at])),
            path: syntax.inside_path(&bytes[at + 1..]),
        };
        if let Some(&at) = separators.iter().find(|&&at| is_file(&bytes[..at])) {
            return split(at);
        }
        if exists(bytes) {
            return Target::whole(bytes);
        }
        if let Some(&at) = separators.first() {
            return split(at);
        }
        if let Some(stripped) = bytes.strip_suffix(b":")
            && drive_colon != Some(bytes.len() - 1)
        {
            return Target {
                container: PathBuf::from(name_to_os(stripped)),
                path: b"/".to_vec(),
            };
        }
        Target::whole(bytes)
    }

    fn whole(bytes: &[u8]) -> Target {
        Target {
            container: PathBuf::from(name_to_os(bytes)),
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

/// Which operating system's path rules a `CONTAINER:/PATH` argument follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathSyntax {
    /// `/` separates directories; a colon is an ordinary character.
    Unix,
    /// `\` and `/` separate directories; `X:` at the start is a drive.
    Windows,
}

impl PathSyntax {
    /// Where the colon of a leading drive letter is (`C:`, `\\?\C:`, `\\.\C:`), if any.
    fn drive_colon(self, bytes: &[u8]) -> Option<usize> {
        if self != PathSyntax::Windows {
            return None;
        }
        let rest_at = [&b"\\\\?\\"[..], b"\\\\.\\", b"//?/", b"//./"]
            .iter()
            .find(|prefix| bytes.starts_with(prefix))
            .map_or(0, |prefix| prefix.len());
        let rest = &bytes[rest_at..];
        (rest.len() >= 2 && rest[0].is_ascii_alphabetic() && rest[1] == b':').then_some(rest_at + 1)
    }

    /// The path inside the container as typed after the separator's colon.
    fn inside_path(self, typed: &[u8]) -> Vec<u8> {
        match self {
            PathSyntax::Unix => typed.to_vec(),
            PathSyntax::Windows => typed
                .iter()
                .map(|&b| if b == b'\\' { b'/' } else { b })
                .collect(),
        }
    }
}

/// Whether `path` is a drive letter alone (`T:` or `T:\`), which offline commands cannot
/// open: they need the container file.
pub fn is_bare_drive(path: &Path) -> bool {
    let text = path.as_os_str().to_string_lossy();
    let bytes = text.as_bytes();
    cfg!(windows)
        && PathSyntax::Windows.drive_colon(bytes) == Some(1)
        && (bytes.len() == 2 || (bytes.len() == 3 && matches!(bytes[2], b'\\' | b'/')))
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
        if is_bare_drive(container) {
            anyhow::bail!(
                "{} is a drive letter: the files of a mounted container are ordinary files \
                 there; offline commands take the container file (CONTAINER:/PATH)",
                container.display()
            );
        }
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

    /// Parse with the Windows rules; `files` are the local files that exist.
    fn parse_windows(arg: &str, files: &[&str]) -> (String, String) {
        let is_file = |bytes: &[u8]| files.iter().any(|f| f.as_bytes() == bytes);
        let target = Target::parse_as(arg.as_bytes(), PathSyntax::Windows, &is_file, &is_file);
        (
            target.container.to_string_lossy().into_owned(),
            target.display_path(),
        )
    }

    #[test]
    fn windows_drive_letters_and_backslashes_are_not_mistaken_for_the_separator() {
        let file = r"C:\x\TimeAcct.sec";
        let win = |arg: &str| parse_windows(arg, &[file]);
        assert_eq!(
            win(r"C:\x\TimeAcct.sec:\dir\a.txt"),
            (file.into(), "/dir/a.txt".into())
        );
        assert_eq!(win(r"C:\x\TimeAcct.sec:/dir"), (file.into(), "/dir".into()));
        assert_eq!(win(r"C:\x\TimeAcct.sec"), (file.into(), "/".into()));
        assert_eq!(win(r"C:\x\TimeAcct.sec:"), (file.into(), "/".into()));
        // The container need not exist yet (create): the drive's colon still does not split.
        let none = |arg: &str| parse_windows(arg, &[]);
        assert_eq!(
            none(r"C:/new/Box.sec:/in"),
            ("C:/new/Box.sec".into(), "/in".into())
        );
        assert_eq!(none(r"D:\Box.sec:\"), (r"D:\Box.sec".into(), "/".into()));
        assert_eq!(
            none(r"\\?\E:\Box.sec:\a"),
            (r"\\?\E:\Box.sec".into(), "/a".into())
        );
        assert_eq!(none(r"Box.sec:\a\b"), ("Box.sec".into(), "/a/b".into()));
        // A drive alone stays a drive (the command then says it needs the container file).
        assert_eq!(none("T:"), ("T:".into(), "/".into()));
        assert_eq!(none(r"T:\"), (r"T:\".into(), "/".into()));
    }

    #[test]
    fn unix_paths_keep_backslashes_and_a_leading_letter_colon() {
        let unix = |arg: &str| {
            let target = Target::parse_as(arg.as_bytes(), PathSyntax::Unix, &|_| false, &|_| false);
            (
                target.container.display().to_string(),
                target.display_path(),
            )
        };
        assert_eq!(unix(r"a.sec:/x\y"), ("a.sec".into(), r"/x\y".into()));
        assert_eq!(unix("C:/a.sec"), ("C".into(), "/a.sec".into()));
        assert_eq!(unix(r"a.sec:\x"), (r"a.sec:\x".into(), "/".into()));
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
