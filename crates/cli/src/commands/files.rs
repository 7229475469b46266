//! The offline commands: `ls`, `cat`, `get`, `put`, `mkdir`, `rm`, `mv`. They open the file
//! system inside a container directly (no mount, no FUSE) through [`Volume`], and speak the
//! file system's path API. Writes are committed durably when the command ends; a command
//! killed half-way leaves a consistent container holding the work up to its last commit.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, bail};
use secvol_fs::{Attr, FileKind, Fs, FsError, OpenFlags, RenameFlags, SetAttr, TimeSet, Timestamp};

use super::volume::{Target, Volume, name_to_os, os_to_name};
use crate::credentials::{UnlockArgs, UnlockWith};
use crate::error::CliError;
use crate::sys::current_ctx;
use crate::{CatArgs, GetArgs, LsArgs, MkdirArgs, MvArgs, PutArgs, RmArgs};

/// Size of the reads and writes between the container and local files.
const COPY_CHUNK: usize = 1 << 20;

/// Ask for the password (or read `password_file`, the keyfile, the recovery key) and open
/// the target's container.
fn open_volume(
    target: &Target,
    password_file: Option<&Path>,
    unlock: &UnlockArgs,
    writable: bool,
) -> anyhow::Result<Volume> {
    Volume::open(
        &target.container,
        &UnlockWith::new(password_file, unlock),
        writable,
    )
}

/// The attributes of the path a `CONTAINER:/PATH` argument names.
fn resolve_target(fs: &Fs, target: &Target) -> anyhow::Result<Attr> {
    fs.resolve(&target.path)
        .map_err(|e| at(target, &target.path, e))
}

/// An error about one path inside the container: `CONTAINER:/PATH: reason`.
pub(super) fn at(target: &Target, path: &[u8], err: FsError) -> anyhow::Error {
    anyhow::Error::from(err).context(format!(
        "{}:{}",
        target.container.display(),
        String::from_utf8_lossy(path)
    ))
}

pub(super) fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = parent.to_vec();
    if !path.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

/// Every entry of directory `ino`, in name order.
fn entries(fs: &Fs, ino: u64) -> Result<Vec<secvol_fs::DirEntry>, FsError> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map(|e: &secvol_fs::DirEntry| e.name.clone());
        let batch = fs.list_dir(ino, after.as_deref(), 1024)?;
        if batch.is_empty() {
            return Ok(all);
        }
        all.extend(batch);
    }
}

// ---------------------------------------------------------------------------------------
// ls

/// `secvol ls [-l] CONTAINER[:/PATH]`.
pub fn ls(args: &LsArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.target);
    let volume = open_volume(&target, args.password_file.as_deref(), &args.unlock, false)?;
    let fs = volume.fs();
    let attr = resolve_target(fs, &target)?;
    let mut out = BufWriter::new(io::stdout().lock());
    if attr.kind == FileKind::Directory {
        for entry in entries(fs, attr.ino).map_err(|e| at(&target, &target.path, e))? {
            let path = join(&target.path, &entry.name);
            if args.long {
                let attr = fs.getattr(entry.ino).map_err(|e| at(&target, &path, e))?;
                write_long(&mut out, fs, &attr, &entry.name)?;
            } else {
                out.write_all(&entry.name)?;
                out.write_all(b"\n")?;
            }
        }
    } else {
        let name = target
            .path
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or_default();
        if args.long {
            write_long(&mut out, fs, &attr, name)?;
        } else {
            out.write_all(name)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    volume.close()
}

/// One `ls -l` line: mode, links, owner, group, size, modification time (UTC), name.
fn write_long(out: &mut impl Write, fs: &Fs, attr: &Attr, name: &[u8]) -> anyhow::Result<()> {
    write!(
        out,
        "{} {:>3} {:>5} {:>5} {:>12} {} ",
        mode_string(attr.kind, attr.perm),
        attr.nlink,
        attr.uid,
        attr.gid,
        attr.size,
        utc_text(attr.mtime.secs)
    )?;
    out.write_all(name)?;
    if attr.kind == FileKind::Symlink {
        out.write_all(b" -> ")?;
        out.write_all(&fs.readlink(attr.ino)?)?;
    }
    out.write_all(b"\n")?;
    Ok(())
}

/// `drwxr-xr-x` style.
pub fn mode_string(kind: FileKind, perm: u16) -> String {
    let kind_char = match kind {
        FileKind::Directory => 'd',
        FileKind::Symlink => 'l',
        FileKind::RegularFile => '-',
        FileKind::CharDevice => 'c',
        FileKind::BlockDevice => 'b',
        FileKind::NamedPipe => 'p',
        FileKind::Socket => 's',
    };
    let mut text = String::from(kind_char);
    for (shift, special, special_char) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (perm >> shift) & 7;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        let exec = bits & 1 != 0;
        text.push(match (perm & special != 0, exec) {
            (true, true) => special_char,
            (true, false) => special_char.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    text
}

/// `YYYY-MM-DD HH:MM` in UTC for seconds since the Unix epoch.
pub fn utc_text(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60
    )
}

// ---------------------------------------------------------------------------------------
// cat

/// `secvol cat CONTAINER:/PATH`: the file's bytes on standard output.
pub fn cat(args: &CatArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.target);
    let volume = open_volume(&target, args.password_file.as_deref(), &args.unlock, false)?;
    let fs = volume.fs();
    let attr = resolve_target(fs, &target)?;
    if attr.kind != FileKind::RegularFile {
        bail!("{}: not a regular file", target.display());
    }
    let mut out = io::stdout().lock();
    copy_out(fs, &attr, &mut out).map_err(|e| e.context(target.display()))?;
    out.flush()?;
    volume.close()
}

/// Copy a file of the container to `out`.
fn copy_out(fs: &Fs, attr: &Attr, out: &mut impl Write) -> anyhow::Result<()> {
    let mut offset = 0u64;
    while offset < attr.size {
        let want = (attr.size - offset).min(COPY_CHUNK as u64) as u32;
        let data = fs.read_ino(attr.ino, offset, want)?;
        if data.is_empty() {
            break;
        }
        out.write_all(&data)?;
        offset += data.len() as u64;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// get

/// `secvol get CONTAINER:/PATH LOCAL`: copy a file or a directory tree out of the container.
pub fn get(args: &GetArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.target);
    let volume = open_volume(&target, args.password_file.as_deref(), &args.unlock, false)?;
    let fs = volume.fs();
    let attr = resolve_target(fs, &target)?;
    // Like cp: into an existing directory, under the source's name.
    let mut local = args.local.clone();
    if local.is_dir() && attr.ino != secvol_fs::ROOT_INO {
        let name = target
            .path
            .rsplit(|&b| b == b'/')
            .next()
            .unwrap_or_default();
        local.push(name_to_os(name));
    }
    let mut copier = GetCopier {
        fs,
        target: &target,
        force: args.force,
        files: 0,
        bytes: 0,
    };
    copier.copy(&target.path, &attr, &local)?;
    eprintln!(
        "Copied {} file{} ({} bytes) to {}",
        copier.files,
        if copier.files == 1 { "" } else { "s" },
        copier.bytes,
        local.display()
    );
    volume.close()
}

struct GetCopier<'a> {
    fs: &'a Fs,
    target: &'a Target,
    force: bool,
    files: u64,
    bytes: u64,
}

impl GetCopier<'_> {
    fn copy(&mut self, path: &[u8], attr: &Attr, local: &Path) -> anyhow::Result<()> {
        match attr.kind {
            FileKind::Directory => {
                if !local.is_dir() {
                    fs::create_dir(local)
                        .with_context(|| format!("cannot create {}", local.display()))?;
                }
                let list = entries(self.fs, attr.ino).map_err(|e| at(self.target, path, e))?;
                for entry in list {
                    let child_path = join(path, &entry.name);
                    let child = self
                        .fs
                        .getattr(entry.ino)
                        .map_err(|e| at(self.target, &child_path, e))?;
                    self.copy(&child_path, &child, &local.join(name_to_os(&entry.name)))?;
                }
                set_local_meta(local, attr, false)?;
            }
            FileKind::RegularFile => {
                self.refuse_existing(local)?;
                let mut file = File::create(local)
                    .with_context(|| format!("cannot create {}", local.display()))?;
                copy_out(self.fs, attr, &mut file).map_err(|e| {
                    e.context(format!(
                        "{}:{} -> {}",
                        self.target.container.display(),
                        String::from_utf8_lossy(path),
                        local.display()
                    ))
                })?;
                file.sync_all()
                    .with_context(|| format!("cannot write {}", local.display()))?;
                set_local_meta(local, attr, true)?;
                self.files += 1;
                self.bytes += attr.size;
            }
            FileKind::Symlink => {
                self.refuse_existing(local)?;
                let link = self
                    .fs
                    .readlink(attr.ino)
                    .map_err(|e| at(self.target, path, e))?;
                make_symlink(&link, local)?;
            }
            FileKind::CharDevice
            | FileKind::BlockDevice
            | FileKind::NamedPipe
            | FileKind::Socket => {
                eprintln!(
                    "warning: skipped {}:{} (a special file)",
                    self.target.container.display(),
                    String::from_utf8_lossy(path)
                );
            }
        }
        Ok(())
    }

    fn refuse_existing(&self, local: &Path) -> anyhow::Result<()> {
        if local.symlink_metadata().is_ok() {
            if !self.force {
                return Err(CliError::FileExists(local.to_owned()).into());
            }
            fs::remove_file(local)
                .with_context(|| format!("cannot replace {}", local.display()))?;
        }
        Ok(())
    }
}

#[cfg(unix)]
fn make_symlink(link: &[u8], local: &Path) -> anyhow::Result<()> {
    std::os::unix::fs::symlink(name_to_os(link), local)
        .with_context(|| format!("cannot create the symbolic link {}", local.display()))
}

#[cfg(not(unix))]
fn make_symlink(link: &[u8], local: &Path) -> anyhow::Result<()> {
    log::warn!(
        "skipped the symbolic link {} -> {} (not supported here)",
        local.display(),
        String::from_utf8_lossy(link)
    );
    Ok(())
}

/// Give a local copy the container file's permission bits and modification time.
fn set_local_meta(local: &Path, attr: &Attr, is_file: bool) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(local, fs::Permissions::from_mode(u32::from(attr.perm)))
            .with_context(|| format!("cannot set the permissions of {}", local.display()))?;
    }
    let mtime = attr.mtime.to_system();
    open_to_set_times(local, is_file)
        .and_then(|f| f.set_modified(mtime))
        .with_context(|| format!("cannot set the modification time of {}", local.display()))
}

/// Open a local file or directory so its times can be set.
#[cfg(not(windows))]
fn open_to_set_times(local: &Path, is_file: bool) -> io::Result<File> {
    if is_file {
        File::options().write(true).open(local)
    } else {
        File::open(local)
    }
}

/// Open a local file or directory so its times can be set. Windows opens a directory only
/// with `FILE_FLAG_BACKUP_SEMANTICS` (without it: "Access is denied"), and setting times
/// needs `FILE_WRITE_ATTRIBUTES`, which a plain read-only open of a directory lacks.
#[cfg(windows)]
fn open_to_set_times(local: &Path, _is_file: bool) -> io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    // Values from the Windows SDK (winnt.h, winbase.h).
    const FILE_WRITE_ATTRIBUTES: u32 = 0x0100;
    const FILE_READ_ATTRIBUTES: u32 = 0x0080;
    const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
    File::options()
        .access_mode(FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(local)
}

// ---------------------------------------------------------------------------------------
// put

/// `secvol put LOCAL... CONTAINER:/DIR`: copy files and trees into a container directory.
pub fn put(args: &PutArgs) -> anyhow::Result<()> {
    let (locals, target_arg) = args
        .paths
        .split_last()
        .map(|(last, rest)| (rest, last))
        .filter(|(rest, _)| !rest.is_empty())
        .ok_or_else(|| anyhow::anyhow!("usage: secvol put LOCAL... CONTAINER:/DIR"))?;
    let target = Target::parse(target_arg);
    let locals: Vec<&Path> = locals.iter().map(Path::new).collect();
    for local in &locals {
        if fs::symlink_metadata(local).is_err() {
            bail!("{}: no such file or directory", local.display());
        }
    }
    let volume = open_volume(&target, args.password_file.as_deref(), &args.unlock, true)?;
    let fs = volume.fs();
    let dir = resolve_target(fs, &target)?;
    if dir.kind != FileKind::Directory {
        bail!("{}: not a directory", target.display());
    }
    let mut copier = PutCopier {
        fs,
        target: &target,
        force: args.force,
        files: 0,
        bytes: 0,
    };
    for local in locals {
        let name = local.file_name().map(os_to_name).ok_or_else(|| {
            anyhow::anyhow!("{}: cannot copy a path without a name", local.display())
        })?;
        copier.copy(local, dir.ino, &target.path, &name)?;
    }
    let (files, bytes) = (copier.files, copier.bytes);
    volume.close()?;
    eprintln!(
        "Copied {files} file{} ({bytes} bytes) into {}",
        if files == 1 { "" } else { "s" },
        target.display()
    );
    Ok(())
}

struct PutCopier<'a> {
    fs: &'a Fs,
    target: &'a Target,
    force: bool,
    files: u64,
    bytes: u64,
}

impl PutCopier<'_> {
    fn copy(
        &mut self,
        local: &Path,
        parent: u64,
        parent_path: &[u8],
        name: &[u8],
    ) -> anyhow::Result<()> {
        let path = join(parent_path, name);
        let meta = fs::symlink_metadata(local)
            .with_context(|| format!("cannot read {}", local.display()))?;
        let ctx = current_ctx();
        let perm = local_perm(&meta);
        let existing = match self.fs.child(parent, name) {
            Ok(attr) => Some(attr),
            Err(FsError::NotFound) => None,
            Err(e) => return Err(at(self.target, &path, e)),
        };
        if meta.is_dir() {
            let dir = match existing {
                Some(attr) if attr.kind == FileKind::Directory => attr,
                Some(_) => return Err(at(self.target, &path, FsError::Exists)),
                None => self
                    .fs
                    .make_dir(parent, name, perm, ctx)
                    .map_err(|e| at(self.target, &path, e))?,
            };
            let mut children: Vec<_> = fs::read_dir(local)
                .with_context(|| format!("cannot list {}", local.display()))?
                .collect::<io::Result<_>>()
                .with_context(|| format!("cannot list {}", local.display()))?;
            children.sort_by_key(|entry| entry.file_name());
            for child in children {
                let child_name = os_to_name(&child.file_name());
                self.copy(&child.path(), dir.ino, &path, &child_name)?;
            }
            self.set_times(dir.ino, &meta, &path)?;
            return Ok(());
        }
        if let Some(attr) = existing {
            if !self.force || attr.kind == FileKind::Directory {
                return Err(CliError::ExistsInContainer(format!(
                    "{}:{}",
                    self.target.container.display(),
                    String::from_utf8_lossy(&path)
                ))
                .into());
            }
            self.fs
                .unlink(parent, name)
                .map_err(|e| at(self.target, &path, e))?;
        }
        if meta.file_type().is_symlink() {
            let link = fs::read_link(local)
                .with_context(|| format!("cannot read the symbolic link {}", local.display()))?;
            self.fs
                .make_symlink(parent, name, &os_to_name(link.as_os_str()), ctx)
                .map_err(|e| at(self.target, &path, e))?;
            return Ok(());
        }
        if !meta.is_file() {
            eprintln!("warning: skipped {} (a special file)", local.display());
            return Ok(());
        }
        let mut file =
            File::open(local).with_context(|| format!("cannot open {}", local.display()))?;
        let (attr, fh) = self
            .fs
            .make_file(parent, name, perm, OpenFlags::READ_WRITE, ctx)
            .map_err(|e| at(self.target, &path, e))?;
        let copied = self.copy_in(&mut file, fh, local, &path);
        let released = self.fs.release(fh);
        let bytes = copied?;
        released.map_err(|e| at(self.target, &path, e))?;
        self.set_times(attr.ino, &meta, &path)?;
        self.files += 1;
        self.bytes += bytes;
        Ok(())
    }

    fn copy_in(&self, file: &mut File, fh: u64, local: &Path, path: &[u8]) -> anyhow::Result<u64> {
        let mut buffer = vec![0u8; COPY_CHUNK];
        let mut offset = 0u64;
        loop {
            let n = read_full(file, &mut buffer)
                .with_context(|| format!("cannot read {}", local.display()))?;
            if n == 0 {
                return Ok(offset);
            }
            let mut written = 0;
            while written < n {
                let count = self
                    .fs
                    .write(fh, offset + written as u64, &buffer[written..n])
                    .map_err(|e| at(self.target, path, e))?;
                written += count as usize;
            }
            offset += n as u64;
        }
    }

    fn set_times(&self, ino: u64, meta: &fs::Metadata, path: &[u8]) -> anyhow::Result<()> {
        let mtime = meta.modified().unwrap_or_else(|_| SystemTime::now());
        let changes = SetAttr {
            mtime: Some(TimeSet::At(Timestamp::from_system(mtime))),
            ..SetAttr::default()
        };
        self.fs
            .setattr(ino, changes)
            .map_err(|e| at(self.target, path, e))?;
        Ok(())
    }
}

pub(super) fn read_full(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(unix)]
pub(super) fn local_perm(meta: &fs::Metadata) -> u16 {
    use std::os::unix::fs::PermissionsExt;
    (meta.permissions().mode() & 0o7777) as u16
}

#[cfg(not(unix))]
pub(super) fn local_perm(meta: &fs::Metadata) -> u16 {
    match (meta.is_dir(), meta.permissions().readonly()) {
        (true, _) => 0o755,
        (false, true) => 0o444,
        (false, false) => 0o644,
    }
}

// ---------------------------------------------------------------------------------------
// mkdir, rm, mv

/// `secvol mkdir [-p] CONTAINER:/PATH`.
pub fn mkdir(args: &MkdirArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.target);
    let volume = open_volume(&target, args.password_file.as_deref(), &args.unlock, true)?;
    let fs = volume.fs();
    let ctx = current_ctx();
    if args.parents {
        let mut path = Vec::new();
        let mut parent = secvol_fs::ROOT_INO;
        for part in secvol_fs::components(&target.path).map_err(|e| at(&target, &target.path, e))? {
            path = join(&path, part);
            let attr = match fs.make_dir(parent, part, 0o755, ctx) {
                Ok(attr) => attr,
                Err(FsError::Exists) => {
                    fs.child(parent, part).map_err(|e| at(&target, &path, e))?
                }
                Err(e) => return Err(at(&target, &path, e)),
            };
            if attr.kind != FileKind::Directory {
                return Err(at(&target, &path, FsError::NotDir));
            }
            parent = attr.ino;
        }
    } else {
        let (parent, name) = fs
            .resolve_parent(&target.path)
            .map_err(|e| at(&target, &target.path, e))?;
        fs.make_dir(parent, name, 0o755, ctx)
            .map_err(|e| at(&target, &target.path, e))?;
    }
    volume.close()
}

/// `secvol rm [-r] CONTAINER:/PATH`.
pub fn rm(args: &RmArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.target);
    let volume = open_volume(&target, args.password_file.as_deref(), &args.unlock, true)?;
    let fs = volume.fs();
    let (parent, name) = fs
        .resolve_parent(&target.path)
        .map_err(|e| at(&target, &target.path, e))?;
    let attr = resolve_target(fs, &target)?;
    if attr.kind == FileKind::Directory {
        if !args.recursive {
            bail!(
                "{}: is a directory; use 'secvol rm -r' to remove it and everything in it",
                target.display()
            );
        }
        remove_tree(fs, &target, attr.ino, &target.path)?;
        fs.rmdir(parent, name)
            .map_err(|e| at(&target, &target.path, e))?;
    } else {
        fs.unlink(parent, name)
            .map_err(|e| at(&target, &target.path, e))?;
    }
    volume.close()
}

fn remove_tree(fs: &Fs, target: &Target, dir: u64, path: &[u8]) -> anyhow::Result<()> {
    for entry in entries(fs, dir).map_err(|e| at(target, path, e))? {
        let child = join(path, &entry.name);
        if entry.kind == FileKind::Directory {
            remove_tree(fs, target, entry.ino, &child)?;
            fs.rmdir(dir, &entry.name)
                .map_err(|e| at(target, &child, e))?;
        } else {
            fs.unlink(dir, &entry.name)
                .map_err(|e| at(target, &child, e))?;
        }
    }
    Ok(())
}

/// `secvol mv CONTAINER:/FROM CONTAINER:/TO` (the second may also be just `/TO`). Into an
/// existing directory, the entry keeps its name; an existing file is replaced only with
/// `--force`.
pub fn mv(args: &MvArgs) -> anyhow::Result<()> {
    let from = Target::parse(&args.from);
    let to_path = {
        let to = Target::parse(&args.to);
        let bare = os_to_name(&args.to);
        if bare.starts_with(b"/") && to.path == b"/" && !Path::new(&args.to).is_file() {
            bare
        } else {
            if to.container != from.container {
                bail!(
                    "secvol mv works inside one container; to copy between containers use 'secvol get' and 'secvol put'"
                );
            }
            to.path
        }
    };
    let volume = open_volume(&from, args.password_file.as_deref(), &args.unlock, true)?;
    let fs = volume.fs();
    let (parent, name) = fs
        .resolve_parent(&from.path)
        .map_err(|e| at(&from, &from.path, e))?;
    let mut destination = to_path.clone();
    if let Ok(attr) = fs.resolve(&to_path)
        && attr.kind == FileKind::Directory
    {
        destination = join(&to_path, name);
    }
    let (new_parent, new_name) = fs
        .resolve_parent(&destination)
        .map_err(|e| at(&from, &destination, e))?;
    let flags = RenameFlags {
        no_replace: !args.force,
        exchange: false,
    };
    fs.rename(parent, name, new_parent, new_name, flags)
        .map_err(|e| at(&from, &destination, e))?;
    volume.close()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(FileKind::Directory, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(FileKind::RegularFile, 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(FileKind::RegularFile, 0o1644), "-rw-r--r-T");
        assert_eq!(mode_string(FileKind::Symlink, 0o777), "lrwxrwxrwx");
    }

    #[test]
    fn utc_dates_are_civil_dates() {
        assert_eq!(utc_text(0), "1970-01-01 00:00");
        assert_eq!(utc_text(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_text(1_795_392_000 + 3_660), "2026-11-23 01:01");
        assert_eq!(utc_text(-86_400), "1969-12-31 00:00");
    }
}
