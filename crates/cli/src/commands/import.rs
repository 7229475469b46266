//! `secvol import SRC... DEST [--shred-source]`: copy plaintext files into a container, read
//! every copy back and compare it with its original, and only when all of them match,
//! overwrite and delete the originals (`crate::shred`).
//!
//! Two ways in, chosen by DEST and the mount table:
//! * **offline** (`CONTAINER:/DIR`, container not mounted): the file system is opened
//!   directly, written, closed (a durable commit), then opened again on a fresh device with
//!   fresh caches, so every copy is decrypted and authenticated from the container file when
//!   it is compared;
//! * **through a mount** (`CONTAINER:/DIR` of a mounted container, or a folder inside a secvol
//!   mount): plain file I/O on the mount, each copy fsynced (which the mount daemon turns into
//!   a durable commit), then read back through the mount after dropping the kernel's cached
//!   pages of the copy, so the bytes come from the mount daemon again.
//!
//! All or nothing for the originals: if any copy is missing or differs, nothing is deleted.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, bail};
use secvol_core::{Access, DeviceMode, UnlockedContainer};
use secvol_fs::{FileKind, Fs, FsError, FsOptions, OpenFlags, SetAttr, TimeSet, Timestamp};

use super::files::{at, join, local_perm, read_full};
use super::open_and_unlock;
use super::volume::{Target, name_to_os, os_to_name};
use crate::ImportArgs;
use crate::credentials::UnlockWith;
use crate::error::CliError;
use crate::progress;
use crate::shred::{self, ShredReport};
use crate::sys::current_ctx;

/// Size of the reads and writes while copying and comparing.
const CHUNK: usize = 1 << 20;

/// What one source entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
    /// Devices, pipes, sockets: not copied, never deleted.
    Special,
}

/// One entry to import: where it is, and its path relative to DEST (`name/sub/file`).
#[derive(Debug, Clone)]
struct Item {
    local: PathBuf,
    rel: Vec<u8>,
    kind: Kind,
    size: u64,
}

/// Where the copies go.
enum Destination {
    /// Straight into the container file.
    Offline(Target),
    /// Through the folder `dir` of a mounted container.
    Mounted { dir: PathBuf, container: PathBuf },
}

/// Why a copy did not check out.
#[derive(Debug)]
struct Mismatch {
    local: PathBuf,
    reason: String,
}

/// `secvol import`.
pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    let (sources, dest) = args
        .paths
        .split_last()
        .map(|(last, rest)| (rest, last))
        .filter(|(rest, _)| !rest.is_empty())
        .ok_or_else(|| anyhow::anyhow!("usage: secvol import SRC... DEST"))?;
    let destination = resolve_destination(dest)?;
    let container = match &destination {
        Destination::Offline(target) => target.container.clone(),
        Destination::Mounted { container, .. } => container.clone(),
    };
    let items = plan(sources, &container, args.shred_source)?;
    let with = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    let files = items.iter().filter(|i| i.kind == Kind::File).count();
    let bytes: u64 = items.iter().map(|i| i.size).sum();

    let mismatches = match &destination {
        Destination::Offline(target) => import_offline(target, &with, &items, &mut |_| Ok(()))?,
        Destination::Mounted { dir, .. } => import_mounted(dir, &items)?,
    };
    let shown = match &destination {
        Destination::Offline(target) => target.display(),
        Destination::Mounted { dir, .. } => dir.display().to_string(),
    };
    for special in items.iter().filter(|i| i.kind == Kind::Special) {
        eprintln!(
            "warning: skipped {} (not a regular file, folder or link)",
            special.local.display()
        );
    }
    if !mismatches.is_empty() {
        for mismatch in &mismatches {
            eprintln!(
                "warning: {}: the copy does not match: {}",
                mismatch.local.display(),
                mismatch.reason
            );
        }
        return Err(CliError::ImportNotVerified {
            failed: mismatches.len(),
            total: files,
        }
        .into());
    }
    println!(
        "Copied {files} file{} ({bytes} bytes) into {shown}; every copy was read back and \
         matches its original.",
        if files == 1 { "" } else { "s" }
    );
    if !args.shred_source {
        return Ok(());
    }
    eprintln!("note: {}", shred::LIMITS);
    let report = shred_originals(&items)?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "Overwrote (random bytes, then zeros) and deleted the {} original file{}.",
        report.files,
        if report.files == 1 { "" } else { "s" }
    );
    Ok(())
}

/// `CONTAINER:/DIR`, or a folder inside a secvol mount.
fn resolve_destination(arg: &OsString) -> anyhow::Result<Destination> {
    let as_path = Path::new(arg);
    if as_path.is_dir() {
        let Some(mountpoint) = shred::containing_mount(as_path) else {
            bail!(
                "{}: not inside a mounted secvol container; give CONTAINER:/FOLDER, or a \
                 folder inside a mounted container (copying there would leave the files \
                 unencrypted)",
                as_path.display()
            );
        };
        let container = crate::mounts::find_mount(&mountpoint)
            .map(|entry| entry.container)
            .unwrap_or_default();
        return Ok(Destination::Mounted {
            dir: as_path.to_owned(),
            container,
        });
    }
    let target = Target::parse(arg);
    if !target.container.is_file() {
        bail!(
            "{}: no such container file (DEST is CONTAINER:/FOLDER or a folder inside a \
             mounted container)",
            target.container.display()
        );
    }
    if let Some(entry) = crate::mounts::find_mount(&target.container) {
        let inside = target
            .path
            .strip_prefix(b"/")
            .unwrap_or(&target.path)
            .to_vec();
        let dir = entry.mountpoint.join(name_to_os(&inside));
        if !dir.is_dir() {
            bail!("{}: not a folder", target.display());
        }
        return Ok(Destination::Mounted {
            dir,
            container: entry.container,
        });
    }
    Ok(Destination::Offline(target))
}

/// Walk the sources; refuse what must not be imported (checked before anything is copied).
fn plan(sources: &[OsString], container: &Path, shred: bool) -> anyhow::Result<Vec<Item>> {
    let container_id = file_id(container);
    let mut items = Vec::new();
    let mut names = std::collections::HashSet::new();
    for source in sources {
        let local = PathBuf::from(source);
        if fs::symlink_metadata(&local).is_err() {
            bail!("{}: no such file or directory", local.display());
        }
        let name = local.file_name().map(os_to_name).ok_or_else(|| {
            anyhow::anyhow!("{}: cannot import a path without a name", local.display())
        })?;
        if !names.insert(name.clone()) {
            bail!(
                "two sources are named {}; import them one at a time",
                String::from_utf8_lossy(&name)
            );
        }
        if shred && let Some(mountpoint) = shred::containing_mount(&local) {
            bail!(
                "{}: is inside the secvol container mounted at {}; it is encrypted already \
                 (move it with the file manager or 'mv' instead)",
                local.display(),
                mountpoint.display()
            );
        }
        walk(&local, name, &container_id, &mut items)?;
    }
    Ok(items)
}

fn walk(
    local: &Path,
    rel: Vec<u8>,
    container: &Option<(u64, u64)>,
    items: &mut Vec<Item>,
) -> anyhow::Result<()> {
    let meta =
        fs::symlink_metadata(local).with_context(|| format!("cannot read {}", local.display()))?;
    if container.is_some() && file_id(local) == *container && !meta.file_type().is_symlink() {
        bail!(
            "{}: is the container itself; it cannot be imported into itself",
            local.display()
        );
    }
    let kind = if meta.is_dir() {
        Kind::Dir
    } else if meta.file_type().is_symlink() {
        Kind::Symlink
    } else if meta.is_file() {
        Kind::File
    } else {
        Kind::Special
    };
    items.push(Item {
        local: local.to_owned(),
        rel: rel.clone(),
        kind,
        size: if kind == Kind::File { meta.len() } else { 0 },
    });
    if kind == Kind::Dir {
        let mut children: Vec<_> = fs::read_dir(local)
            .with_context(|| format!("cannot list {}", local.display()))?
            .collect::<io::Result<_>>()
            .with_context(|| format!("cannot list {}", local.display()))?;
        children.sort_by_key(fs::DirEntry::file_name);
        for child in children {
            let child_rel = join(&rel, &os_to_name(&child.file_name()));
            walk(&child.path(), child_rel, container, items)?;
        }
    }
    Ok(())
}

/// (device, inode) of a file, to recognise the container among the sources.
#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_path: &Path) -> Option<(u64, u64)> {
    None
}

// ---------------------------------------------------------------------------------------
// Offline

/// Copy into the container file, close, reopen and compare. `after_copy` runs between the
/// two (tests inject damage there).
fn import_offline(
    target: &Target,
    with: &UnlockWith,
    items: &[Item],
    after_copy: &mut dyn FnMut(&UnlockedContainer) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Mismatch>> {
    let unlocked = open_and_unlock(&target.container, Access::ReadWrite, with)?;
    let total: u64 = items.iter().map(|i| i.size).sum();
    {
        let stack = unlocked.open_stack(DeviceMode::ReadWrite)?;
        let fs = Fs::open(stack, FsOptions::default())
            .with_context(|| format!("cannot open the files in {}", target.container.display()))?;
        let bar = progress::bytes("Copying", total);
        let copied = copy_into(&fs, target, items, &mut |n| bar.inc(n));
        bar.finish_and_clear();
        // Closing commits durably; the copy is only judged after that.
        let closed = fs
            .close()
            .context("cannot write the copies to the container");
        copied?;
        closed?;
    }
    after_copy(&unlocked)?;
    // A new stack and database: nothing read back comes from what the copy left in memory.
    let stack = unlocked.open_stack(DeviceMode::ReadOnly)?;
    let fs = Fs::open(stack, FsOptions::default())
        .with_context(|| format!("cannot reopen the files in {}", target.container.display()))?;
    let bar = progress::bytes("Verifying", total);
    let mismatches = verify_offline(&fs, target, items, &mut |n| bar.inc(n));
    bar.finish_and_clear();
    fs.close()?;
    Ok(mismatches)
}

fn copy_into(
    fs: &Fs,
    target: &Target,
    items: &[Item],
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<()> {
    let root = fs
        .resolve(&target.path)
        .map_err(|e| at(target, &target.path, e))?;
    if root.kind != FileKind::Directory {
        bail!("{}: not a folder", target.display());
    }
    let ctx = current_ctx();
    let mut dirs: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut buffer = vec![0u8; CHUNK];
    for item in items {
        let (parent_rel, name) = split_rel(&item.rel);
        let parent = match parent_rel {
            None => root.ino,
            Some(rel) => dirs[rel],
        };
        let path = join(&target.path, &item.rel);
        let meta = fs::symlink_metadata(&item.local)
            .with_context(|| format!("cannot read {}", item.local.display()))?;
        let existing = match fs.lookup(parent, name) {
            Ok(attr) => {
                fs.forget(attr.ino, 1);
                Some(attr)
            }
            Err(FsError::NotFound) => None,
            Err(e) => return Err(at(target, &path, e)),
        };
        match item.kind {
            Kind::Dir => {
                let ino = match existing {
                    Some(attr) if attr.kind == FileKind::Directory => attr.ino,
                    Some(_) => return Err(at(target, &path, FsError::Exists)),
                    None => {
                        let attr = fs
                            .mkdir(parent, name, local_perm(&meta), ctx)
                            .map_err(|e| at(target, &path, e))?;
                        fs.forget(attr.ino, 1);
                        attr.ino
                    }
                };
                dirs.insert(item.rel.clone(), ino);
            }
            Kind::File | Kind::Symlink if existing.is_some() => {
                return Err(CliError::ExistsInContainer(format!(
                    "{}:{}",
                    target.container.display(),
                    String::from_utf8_lossy(&path)
                ))
                .into());
            }
            Kind::Symlink => {
                let link = fs::read_link(&item.local).with_context(|| {
                    format!("cannot read the symbolic link {}", item.local.display())
                })?;
                let attr = fs
                    .symlink(parent, name, &os_to_name(link.as_os_str()), ctx)
                    .map_err(|e| at(target, &path, e))?;
                fs.forget(attr.ino, 1);
            }
            Kind::File => {
                let mut file = File::open(&item.local)
                    .with_context(|| format!("cannot open {}", item.local.display()))?;
                let (attr, fh) = fs
                    .create(parent, name, local_perm(&meta), OpenFlags::READ_WRITE, ctx)
                    .map_err(|e| at(target, &path, e))?;
                let copied = (|| -> anyhow::Result<()> {
                    let mut offset = 0u64;
                    loop {
                        let n = read_full(&mut file, &mut buffer)
                            .with_context(|| format!("cannot read {}", item.local.display()))?;
                        if n == 0 {
                            return Ok(());
                        }
                        let mut written = 0;
                        while written < n {
                            written += fs
                                .write(fh, offset + written as u64, &buffer[written..n])
                                .map_err(|e| at(target, &path, e))?
                                as usize;
                        }
                        offset += n as u64;
                        progress(n as u64);
                    }
                })();
                let released = fs.release(fh);
                fs.forget(attr.ino, 1);
                copied?;
                released.map_err(|e| at(target, &path, e))?;
                let mtime = meta.modified().unwrap_or_else(|_| SystemTime::now());
                fs.setattr(
                    attr.ino,
                    SetAttr {
                        mtime: Some(TimeSet::At(Timestamp::from_system(mtime))),
                        ..SetAttr::default()
                    },
                )
                .map_err(|e| at(target, &path, e))?;
            }
            Kind::Special => {}
        }
    }
    Ok(())
}

/// `a/b/c` → (`Some("a/b")`, `"c"`); `a` → (`None`, `"a"`).
fn split_rel(rel: &[u8]) -> (Option<&[u8]>, &[u8]) {
    match rel.iter().rposition(|&b| b == b'/') {
        Some(at) => (Some(&rel[..at]), &rel[at + 1..]),
        None => (None, rel),
    }
}

fn verify_offline(
    fs: &Fs,
    target: &Target,
    items: &[Item],
    progress: &mut dyn FnMut(u64),
) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    for item in items {
        let path = join(&target.path, &item.rel);
        let outcome = match item.kind {
            Kind::File => fs
                .resolve(&path)
                .map_err(|e| e.to_string())
                .and_then(|attr| {
                    let mut offset = 0u64;
                    let mut read_copy = |buf: &mut [u8]| -> io::Result<usize> {
                        let want = (attr.size.saturating_sub(offset)).min(buf.len() as u64);
                        if want == 0 {
                            return Ok(0);
                        }
                        let data = fs
                            .read_ino(attr.ino, offset, want as u32)
                            .map_err(|e| io::Error::other(e.to_string()))?;
                        buf[..data.len()].copy_from_slice(&data);
                        offset += data.len() as u64;
                        Ok(data.len())
                    };
                    compare(&item.local, attr.size, &mut read_copy, progress)
                }),
            Kind::Symlink => fs
                .resolve(&path)
                .and_then(|attr| fs.readlink(attr.ino))
                .map_err(|e| e.to_string())
                .and_then(|copy| same_link(&item.local, &copy)),
            Kind::Dir => fs.resolve(&path).map(|_| ()).map_err(|e| e.to_string()),
            Kind::Special => Ok(()),
        };
        if let Err(reason) = outcome {
            mismatches.push(Mismatch {
                local: item.local.clone(),
                reason,
            });
        }
    }
    mismatches
}

fn same_link(local: &Path, copy: &[u8]) -> Result<(), String> {
    let original = fs::read_link(local).map_err(|e| e.to_string())?;
    if os_to_name(original.as_os_str()) == copy {
        Ok(())
    } else {
        Err("the copied link points elsewhere".to_owned())
    }
}

/// Compare the original at `local` with a copy of `copy_len` bytes read through `read_copy`.
fn compare(
    local: &Path,
    copy_len: u64,
    read_copy: &mut dyn FnMut(&mut [u8]) -> io::Result<usize>,
    progress: &mut dyn FnMut(u64),
) -> Result<(), String> {
    let mut original = File::open(local).map_err(|e| format!("cannot reopen it: {e}"))?;
    let len = original.metadata().map_err(|e| e.to_string())?.len();
    if len != copy_len {
        return Err(format!(
            "the copy holds {copy_len} bytes, the original {len}"
        ));
    }
    let mut ours = vec![0u8; CHUNK];
    let mut theirs = vec![0u8; CHUNK];
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut original, &mut ours).map_err(|e| e.to_string())?;
        let mut m = 0;
        while m < n {
            match read_copy(&mut theirs[m..n]) {
                Ok(0) => break,
                Ok(k) => m += k,
                Err(e) => return Err(format!("cannot read the copy: {e}")),
            }
        }
        if m != n || ours[..n] != theirs[..n] {
            let first = ours[..n]
                .iter()
                .zip(&theirs[..m])
                .position(|(a, b)| a != b)
                .unwrap_or(m);
            return Err(format!(
                "the bytes differ from offset {}",
                offset + first as u64
            ));
        }
        if n == 0 {
            return Ok(());
        }
        offset += n as u64;
        progress(n as u64);
    }
}

// ---------------------------------------------------------------------------------------
// Through a mount

fn import_mounted(dir: &Path, items: &[Item]) -> anyhow::Result<Vec<Mismatch>> {
    let total: u64 = items.iter().map(|i| i.size).sum();
    let bar = progress::bytes("Copying", total);
    let copied = copy_to_mount(dir, items, &mut |n| bar.inc(n));
    bar.finish_and_clear();
    copied?;
    let bar = progress::bytes("Verifying", total);
    let mut mismatches = Vec::new();
    for item in items {
        let copy = dir.join(name_to_os(&item.rel));
        let outcome = match item.kind {
            Kind::File => File::open(&copy)
                .map_err(|e| format!("cannot open the copy: {e}"))
                .and_then(|mut file| {
                    drop_cached_pages(&file);
                    let len = file.metadata().map_err(|e| e.to_string())?.len();
                    compare(&item.local, len, &mut |buf| file.read(buf), &mut |n| {
                        bar.inc(n)
                    })
                }),
            Kind::Symlink => fs::read_link(&copy)
                .map_err(|e| e.to_string())
                .and_then(|link| same_link(&item.local, &os_to_name(link.as_os_str()))),
            Kind::Dir => {
                if copy.is_dir() {
                    Ok(())
                } else {
                    Err("the folder is missing".to_owned())
                }
            }
            Kind::Special => Ok(()),
        };
        if let Err(reason) = outcome {
            mismatches.push(Mismatch {
                local: item.local.clone(),
                reason,
            });
        }
    }
    bar.finish_and_clear();
    Ok(mismatches)
}

fn copy_to_mount(dir: &Path, items: &[Item], progress: &mut dyn FnMut(u64)) -> anyhow::Result<()> {
    let mut buffer = vec![0u8; CHUNK];
    for item in items {
        let copy = dir.join(name_to_os(&item.rel));
        let meta = fs::symlink_metadata(&item.local)
            .with_context(|| format!("cannot read {}", item.local.display()))?;
        let exists = fs::symlink_metadata(&copy).is_ok();
        match item.kind {
            Kind::Dir => {
                if !copy.is_dir() {
                    fs::create_dir(&copy)
                        .with_context(|| format!("cannot create {}", copy.display()))?;
                    fs::set_permissions(&copy, meta.permissions())
                        .with_context(|| format!("cannot set permissions of {}", copy.display()))?;
                }
            }
            Kind::File | Kind::Symlink if exists => {
                return Err(CliError::FileExists(copy).into());
            }
            Kind::Symlink => {
                let link = fs::read_link(&item.local)?;
                #[cfg(unix)]
                std::os::unix::fs::symlink(&link, &copy)
                    .with_context(|| format!("cannot create {}", copy.display()))?;
                #[cfg(not(unix))]
                let _ = link;
            }
            Kind::File => {
                let mut source = File::open(&item.local)
                    .with_context(|| format!("cannot open {}", item.local.display()))?;
                let mut out = File::options()
                    .write(true)
                    .create_new(true)
                    .open(&copy)
                    .with_context(|| format!("cannot create {}", copy.display()))?;
                loop {
                    let n = read_full(&mut source, &mut buffer)
                        .with_context(|| format!("cannot read {}", item.local.display()))?;
                    if n == 0 {
                        break;
                    }
                    io::Write::write_all(&mut out, &buffer[..n])
                        .with_context(|| format!("cannot write {}", copy.display()))?;
                    progress(n as u64);
                }
                out.set_permissions(meta.permissions())?;
                out.set_modified(meta.modified().unwrap_or_else(|_| SystemTime::now()))?;
                // fsync: the mount daemon commits durably before answering.
                out.sync_all()
                    .with_context(|| format!("cannot write {}", copy.display()))?;
            }
            Kind::Special => {}
        }
    }
    Ok(())
}

/// Ask the kernel to forget its cached pages of `file`, so reading it goes to the mount
/// daemon again (best effort).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn drop_cached_pages(file: &File) {
    use std::os::unix::io::AsRawFd;
    // SAFETY: posix_fadvise only takes an open descriptor and integers; it reads or writes
    // no memory of ours.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

#[cfg(not(target_os = "linux"))]
fn drop_cached_pages(_file: &File) {}

// ---------------------------------------------------------------------------------------
// Shredding the originals

/// Children before parents: files overwritten and deleted, links deleted, folders removed
/// when empty (a skipped special file keeps its folder).
fn shred_originals(items: &[Item]) -> anyhow::Result<ShredReport> {
    let total: u64 = items.iter().map(|i| i.size).sum();
    let bar = progress::bytes("Overwriting originals", total * 2);
    let mut report = ShredReport::default();
    for item in items.iter().rev() {
        match item.kind {
            Kind::File => shred::shred_file(&item.local, &mut report, &mut |n| bar.inc(n))?,
            Kind::Symlink => fs::remove_file(&item.local)
                .with_context(|| format!("cannot delete {}", item.local.display()))?,
            Kind::Dir => {
                if let Err(err) = fs::remove_dir(&item.local) {
                    report
                        .warnings
                        .push(format!("kept the folder {} ({err})", item.local.display()));
                }
            }
            Kind::Special => {}
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::UnlockArgs;
    use crate::password::PasswordSource;

    const PASSWORD: &str = "clinic-umbrella-violet-tractor-42";

    /// A real container file made by `secvol create`'s code, and a password file.
    fn container(dir: &Path) -> (PathBuf, PathBuf) {
        let password_file = dir.join("pw");
        fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        let path = dir.join("TimeAcct.sec");
        crate::commands::create::run(&crate::CreateArgs {
            container: path.clone(),
            size: 8 << 20,
            cipher: crate::CipherArg::Aes256Gcm,
            password_file: Some(password_file.clone()),
            allow_weak_password: false,
            scrypt_log_n: Some(10),
            quick: true,
            gui: false,
            keyfile: None,
            keyfile_only: false,
            create_keyfile: false,
        })
        .unwrap();
        (path, password_file)
    }

    fn source_tree(dir: &Path) -> PathBuf {
        let src = dir.join("Scans");
        fs::create_dir_all(src.join("2026")).unwrap();
        fs::write(
            src.join("2026/smith.pdf"),
            b"%PDF diagnosis ".repeat(20_000),
        )
        .unwrap();
        fs::write(src.join("notes.txt"), b"call back on Monday").unwrap();
        src
    }

    #[test]
    fn a_corrupted_copy_is_caught_by_the_read_back_and_nothing_is_reported_verified() {
        let dir = tempfile::tempdir().unwrap();
        let (container, password_file) = container(dir.path());
        let src = source_tree(dir.path());
        let target = Target::parse(&OsString::from(format!("{}:/", container.display())));
        let items = plan(&[src.clone().into_os_string()], &container, true).unwrap();
        let with = UnlockWith::new(Some(&password_file), &UnlockArgs::default());
        assert_eq!(with.password, PasswordSource::File(password_file.clone()));

        // Between the durable copy and the read-back, one byte of one copy changes.
        let mismatches = import_offline(&target, &with, &items, &mut |unlocked| {
            let fs = Fs::open(
                unlocked.open_stack(DeviceMode::ReadWrite)?,
                FsOptions::default(),
            )?;
            let attr = fs.resolve(b"/Scans/2026/smith.pdf")?;
            fs.write_ino(attr.ino, 100_000, b"X", false)?;
            fs.close()?;
            Ok(())
        })
        .unwrap();
        assert_eq!(mismatches.len(), 1, "{mismatches:?}");
        assert!(mismatches[0].local.ends_with("2026/smith.pdf"));
        assert!(
            mismatches[0].reason.contains("differ from offset 100000"),
            "{mismatches:?}"
        );
    }

    #[test]
    fn an_untouched_copy_verifies_offline() {
        let dir = tempfile::tempdir().unwrap();
        let (container, password_file) = container(dir.path());
        let src = source_tree(dir.path());
        let target = Target::parse(&OsString::from(format!("{}:/", container.display())));
        let items = plan(&[src.into_os_string()], &container, true).unwrap();
        assert_eq!(items.len(), 4);
        let with = UnlockWith::new(Some(&password_file), &UnlockArgs::default());
        let mismatches = import_offline(&target, &with, &items, &mut |_| Ok(())).unwrap();
        assert!(mismatches.is_empty(), "{mismatches:?}");
    }

    #[test]
    fn the_container_itself_is_refused_as_a_source() {
        let dir = tempfile::tempdir().unwrap();
        let (container, _) = container(dir.path());
        let err = plan(&[dir.path().as_os_str().to_owned()], &container, true).unwrap_err();
        assert!(err.to_string().contains("is the container itself"), "{err}");
    }
}
