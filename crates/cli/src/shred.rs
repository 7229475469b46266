//! Overwriting and deleting plaintext files (`secvol shred`, `secvol import --shred-source`).
//!
//! A file is overwritten in place, through the same inode: one pass of random bytes, fsync,
//! one pass of zeros, fsync; then it is renamed to a random name (so the directory entry no
//! longer shows the original name), the directory is synced, the file is unlinked and the
//! directory synced again. That is enough on a magnetic disk. On SSDs, USB keys and SD cards
//! the drive's controller writes new data to fresh flash pages and keeps the old ones until it
//! erases them, and copy-on-write or journalling file systems (btrfs, ZFS, APFS, ext4 with
//! data journalling) and snapshots keep old blocks too: no overwrite through the file system
//! is a guarantee there. [`LIMITS`] says so in the words shown to users.
//!
//! This module knows local files only; it never touches a container.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// What the user is told every time something is shredded (output, `--help`, docs).
pub const LIMITS: &str = "Overwriting is reliable on magnetic hard disks only. SSDs, USB keys \
and memory cards move data around internally, and some file systems and backups keep old \
copies, so no overwrite can guarantee that every old copy of the data is gone there. Keep \
plaintext only on encrypted storage (a secvol container, full-disk encryption such as \
BitLocker, FileVault or LUKS); to retire a whole drive, use the drive's own secure-erase \
function or destroy it.";

/// Size of each write.
const CHUNK: usize = 1 << 20;

/// The content of one overwrite pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Bytes from the operating system's random number generator.
    Random,
    /// Zero bytes.
    Zeros,
}

/// Overwrite the first `len` bytes of `file` with `pass` and fsync. `progress` is called with
/// the number of bytes written by each write.
pub fn overwrite(
    file: &File,
    len: u64,
    pass: Pass,
    progress: &mut dyn FnMut(u64),
) -> io::Result<()> {
    let mut buffer = vec![0u8; CHUNK];
    let mut offset = 0u64;
    while offset < len {
        let n = (len - offset).min(CHUNK as u64) as usize;
        if pass == Pass::Random {
            getrandom::fill(&mut buffer[..n]).map_err(io::Error::other)?;
        }
        write_all_at(file, &buffer[..n], offset)?;
        offset += n as u64;
        progress(n as u64);
    }
    file.sync_all()
}

#[cfg(unix)]
fn write_all_at(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, data, offset)
}

#[cfg(windows)]
fn write_all_at(file: &File, mut data: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !data.is_empty() {
        let n = file.seek_write(data, offset)?;
        data = &data[n..];
        offset += n as u64;
    }
    Ok(())
}

/// Why a path was not shredded.
#[derive(Debug, thiserror::Error)]
pub enum ShredError {
    /// A directory given without `-r`.
    #[error("{}: is a directory (use -r to shred it and everything in it)", .0.display())]
    IsDirectory(PathBuf),
    /// A symbolic link given as an argument.
    #[error(
        "{}: is a symbolic link; nothing was changed (name the file it points to if that is \
         what you mean)",
        .0.display()
    )]
    Symlink(PathBuf),
    /// A device, pipe or socket.
    #[error("{}: not a regular file; nothing was changed", .0.display())]
    NotRegular(PathBuf),
    /// A secvol container file (shredding it would destroy everything inside).
    #[error(
        "{}: is a secvol container; to make it unreadable use 'secvol destroy', to delete it \
         delete it normally",
        .0.display()
    )]
    IsContainer(PathBuf),
    /// A file inside a mounted secvol container: it is encrypted already.
    #[error(
        "{}: is inside the secvol container mounted at {}: it is stored encrypted, so there is \
         nothing to shred; delete it normally",
        path.display(),
        mountpoint.display()
    )]
    InsideContainer {
        /// The path.
        path: PathBuf,
        /// The mount point it is under.
        mountpoint: PathBuf,
    },
    /// The path does not exist.
    #[error("{}: no such file or directory", .0.display())]
    Missing(PathBuf),
    /// An I/O error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ShredError + '_ {
    move |source| ShredError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The secvol mount point `path` lies under, if any.
pub fn containing_mount(path: &Path) -> Option<PathBuf> {
    let canonical = path
        .canonicalize()
        .or_else(|_| {
            // A path that does not exist yet: judge by its parent.
            path.parent()
                .map(Path::canonicalize)
                .unwrap_or_else(|| Err(io::ErrorKind::NotFound.into()))
        })
        .ok()?;
    crate::mounts::secvol_mounts()
        .into_iter()
        .map(|entry| entry.mountpoint)
        .filter(|mountpoint| canonical.starts_with(mountpoint))
        .max_by_key(|mountpoint| mountpoint.as_os_str().len())
}

/// Whether the file at `path` starts with the secvol header magic.
fn is_container(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    File::open(path)
        .and_then(|mut file| io::Read::read_exact(&mut file, &mut magic))
        .is_ok()
        && magic == secvol_core::header::MAGIC
}

/// What shredding found and did.
#[derive(Debug, Default)]
pub struct ShredReport {
    /// Files overwritten and deleted.
    pub files: u64,
    /// Bytes overwritten (per pass).
    pub bytes: u64,
    /// Warnings (other hard links, skipped special files); printed by the caller.
    pub warnings: Vec<String>,
}

/// Check that `path` may be shredded (see [`ShredError`]) and return its size in bytes (the
/// total of a tree with `recursive`).
pub fn plan(path: &Path, recursive: bool) -> Result<u64, ShredError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(ShredError::Missing(path.to_owned()));
        }
        Err(err) => return Err(io_at(path)(err)),
    };
    if let Some(mountpoint) = containing_mount(path) {
        return Err(ShredError::InsideContainer {
            path: path.to_owned(),
            mountpoint,
        });
    }
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(ShredError::Symlink(path.to_owned()));
    }
    if kind.is_dir() {
        if !recursive {
            return Err(ShredError::IsDirectory(path.to_owned()));
        }
        let mut total = 0;
        for entry in fs::read_dir(path).map_err(io_at(path))? {
            let entry = entry.map_err(io_at(path))?;
            let child = entry.path();
            let child_kind = entry.file_type().map_err(io_at(&child))?;
            if child_kind.is_dir() {
                total += plan(&child, true)?;
            } else if child_kind.is_file() {
                if is_container(&child) {
                    return Err(ShredError::IsContainer(child));
                }
                total += entry.metadata().map_err(io_at(&child))?.len();
            }
        }
        return Ok(total);
    }
    if !kind.is_file() {
        return Err(ShredError::NotRegular(path.to_owned()));
    }
    if is_container(path) {
        return Err(ShredError::IsContainer(path.to_owned()));
    }
    Ok(meta.len())
}

/// Overwrite and delete one regular file (see the module doc). Does not follow symbolic
/// links: the file is opened with `O_NOFOLLOW` and checked to be a regular file.
pub fn shred_file(
    path: &Path,
    report: &mut ShredReport,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ShredError> {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io_at(path))?;
    let meta = file.metadata().map_err(io_at(path))?;
    if !meta.is_file() {
        return Err(ShredError::NotRegular(path.to_owned()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            report.warnings.push(format!(
                "{} had {} other hard link(s): they now hold zeros",
                path.display(),
                meta.nlink() - 1
            ));
        }
    }
    let len = meta.len();
    overwrite(&file, len, Pass::Random, progress).map_err(io_at(path))?;
    overwrite(&file, len, Pass::Zeros, progress).map_err(io_at(path))?;
    drop(file);
    remove_under_random_name(path)?;
    report.files += 1;
    report.bytes += len;
    Ok(())
}

/// Rename `path` to a random name in its directory, sync the directory, unlink, sync again.
fn remove_under_random_name(path: &Path) -> Result<(), ShredError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|err| io_at(path)(io::Error::other(err)))?;
    let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let hidden = dir.join(format!(".{name}"));
    let target = match fs::rename(path, &hidden) {
        Ok(()) => {
            sync_dir(&dir);
            hidden
        }
        // A directory we may write files in but not rename in (rare): delete in place.
        Err(_) => path.to_owned(),
    };
    fs::remove_file(&target).map_err(io_at(path))?;
    sync_dir(&dir);
    Ok(())
}

fn sync_dir(dir: &Path) {
    // Best effort: some file systems refuse to fsync a directory.
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// Shred `path`: a regular file, or with `recursive` a directory tree (files overwritten and
/// deleted, symbolic links deleted without following them, directories removed when empty;
/// special files and other file systems are skipped with a warning).
pub fn shred_path(
    path: &Path,
    recursive: bool,
    report: &mut ShredReport,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ShredError> {
    plan(path, recursive)?;
    let meta = fs::symlink_metadata(path).map_err(io_at(path))?;
    if meta.is_dir() {
        shred_tree(path, device_of(&meta), report, progress)
    } else {
        shred_file(path, report, progress)
    }
}

#[cfg(unix)]
fn device_of(meta: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.dev()
}

#[cfg(not(unix))]
fn device_of(_meta: &fs::Metadata) -> u64 {
    0
}

fn shred_tree(
    dir: &Path,
    device: u64,
    report: &mut ShredReport,
    progress: &mut dyn FnMut(u64),
) -> Result<(), ShredError> {
    let mut children: Vec<_> = fs::read_dir(dir)
        .map_err(io_at(dir))?
        .collect::<io::Result<_>>()
        .map_err(io_at(dir))?;
    children.sort_by_key(fs::DirEntry::file_name);
    let mut kept = false;
    for entry in children {
        let child = entry.path();
        let meta = fs::symlink_metadata(&child).map_err(io_at(&child))?;
        if device_of(&meta) != device {
            report.warnings.push(format!(
                "skipped {} (another file system is mounted there)",
                child.display()
            ));
            kept = true;
        } else if meta.is_dir() {
            shred_tree(&child, device, report, progress)?;
        } else if meta.file_type().is_symlink() {
            fs::remove_file(&child).map_err(io_at(&child))?;
        } else if meta.is_file() {
            shred_file(&child, report, progress)?;
        } else {
            report
                .warnings
                .push(format!("skipped {} (not a regular file)", child.display()));
            kept = true;
        }
    }
    if !kept {
        fs::remove_dir(dir).map_err(io_at(dir))?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> Vec<u8> {
        fs::read(path).unwrap()
    }

    #[test]
    fn a_random_pass_overwrites_every_byte_in_place_and_keeps_the_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.txt");
        let original = b"PATIENT RECORD ".repeat(100_000);
        fs::write(&path, &original).unwrap();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        let mut written = 0;
        overwrite(&file, original.len() as u64, Pass::Random, &mut |n| {
            written += n
        })
        .unwrap();
        assert_eq!(written, original.len() as u64);
        let after = read(&path);
        assert_eq!(after.len(), original.len());
        // Random bytes: almost no position keeps its old value (1/256 by chance).
        let same = after.iter().zip(&original).filter(|(a, b)| a == b).count();
        assert!(same < original.len() / 100, "{same} bytes unchanged");
        overwrite(&file, original.len() as u64, Pass::Zeros, &mut |_| {}).unwrap();
        assert!(read(&path).iter().all(|&b| b == 0));
    }

    #[test]
    fn shredding_overwrites_the_inode_itself_before_unlinking() {
        // A second hard link keeps the inode alive: what it shows afterwards is what the
        // disk blocks of the file were left holding.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Smith, Jane.pdf");
        let witness = dir.path().join("witness");
        fs::write(&path, b"%PDF secret diagnosis ".repeat(5000)).unwrap();
        fs::hard_link(&path, &witness).unwrap();
        let mut report = ShredReport::default();
        shred_path(&path, false, &mut report, &mut |_| {}).unwrap();
        assert!(!path.exists());
        let left = read(&witness);
        assert_eq!(left.len(), 22 * 5000);
        assert!(left.iter().all(|&b| b == 0));
        assert_eq!(report.files, 1);
        assert!(report.warnings[0].contains("hard link"), "{report:?}");
        // Only the witness is left: the temporary random name is gone too.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    // Symbolic links need a privilege on Windows.
    #[cfg(unix)]
    #[test]
    fn directories_need_r_and_symlinks_and_containers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("scans");
        fs::create_dir_all(tree.join("2026")).unwrap();
        fs::write(tree.join("2026/a.jpg"), b"jpeg").unwrap();
        fs::write(tree.join("b.txt"), b"text").unwrap();
        let outside = dir.path().join("outside.txt");
        fs::write(&outside, b"keep me").unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("link")).unwrap();
        let mut report = ShredReport::default();
        assert!(matches!(
            shred_path(&tree, false, &mut report, &mut |_| {}),
            Err(ShredError::IsDirectory(_))
        ));
        let link = dir.path().join("top-link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(matches!(
            shred_path(&link, false, &mut report, &mut |_| {}),
            Err(ShredError::Symlink(_))
        ));
        let container = dir.path().join("x.sec");
        let mut bytes = secvol_core::header::MAGIC.to_vec();
        bytes.extend_from_slice(&[0; 100]);
        fs::write(&container, &bytes).unwrap();
        assert!(matches!(
            shred_path(&container, false, &mut report, &mut |_| {}),
            Err(ShredError::IsContainer(_))
        ));
        assert_eq!(read(&container), bytes);

        shred_path(&tree, true, &mut report, &mut |_| {}).unwrap();
        assert!(!tree.exists());
        // The link inside was removed, its target untouched.
        assert_eq!(read(&outside), b"keep me");
        assert_eq!(report.files, 2);
    }
}
