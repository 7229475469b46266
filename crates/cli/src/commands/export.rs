//! `secvol export CONTAINER:/PATH... OUT.7z`: files from a container into a 7-Zip archive
//! encrypted with AES-256, file names included (7-Zip's "encrypt file names"), for sending by
//! e-mail. The archive format and its key derivation (SHA-256 iterated 2^19 times, as 7-Zip
//! itself writes) are the `sevenz-rust2` crate's; nothing of it is hand-made here.
//!
//! After writing, the archive is opened again with the same crate and the password, and every
//! file in it is compared with the container's copy; an archive that does not check out is
//! deleted. Files go into solid blocks of at most [`BLOCK_LIMIT`] bytes, each block with its
//! own random salt and IV (the crate would otherwise reuse one IV for every block under the
//! same key), and the encrypted header gets a fresh IV of its own.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use indicatif::ProgressBar;
use secrecy::{ExposeSecret, SecretString};
use secvol_core::{Access, DeviceMode};
use secvol_fs::{Attr, FileKind, Fs, FsOptions};
use sevenz_rust2::encoder_options::AesEncoderOptions;
use sevenz_rust2::{
    ArchiveEntry, ArchiveReader, ArchiveWriter, EncoderConfiguration, EncoderMethod, NtTime,
    Password, SourceReader,
};

use super::files::join;
use super::volume::Target;
use super::{display_name, open_and_unlock_keeping_secrets};
use crate::ExportArgs;
use crate::credentials::UnlockWith;
use crate::error::CliError;
use crate::password::{self, PasswordSource, enforce_strength};
use crate::progress;

/// Largest plaintext of one solid block.
const BLOCK_LIMIT: u64 = 1 << 30;
/// 7-Zip's own key-derivation cost: 2^19 rounds of SHA-256 (what `7z a -p` writes).
const SEVEN_ZIP_CYCLES_POWER: u8 = 19;
/// Reads from the container while writing and verifying.
const CHUNK: u32 = 1 << 20;

/// A file to put into the archive.
struct Entry {
    /// Its name inside the archive (`folder/sub/file`).
    name: String,
    /// Its attributes in the container.
    attr: Attr,
}

/// `secvol export`.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let (sources, out) = args
        .paths
        .split_last()
        .map(|(last, rest)| (rest, PathBuf::from(last)))
        .filter(|(rest, _)| !rest.is_empty())
        .ok_or_else(|| anyhow::anyhow!("usage: secvol export CONTAINER:/PATH... OUT.7z"))?;
    let targets: Vec<Target> = sources.iter().map(|s| Target::parse(s)).collect();
    let container = targets[0].container.clone();
    if let Some(other) = targets.iter().find(|t| t.container != container) {
        bail!(
            "{}: every path must be inside the same container ({})",
            other.display(),
            container.display()
        );
    }
    if out.symlink_metadata().is_ok() {
        return Err(CliError::FileExists(out.clone()).into());
    }
    let with = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    let archive_source = PasswordSource::from_option(args.archive_password_file.as_deref());
    if with.reads_stdin() && archive_source == PasswordSource::Stdin {
        return Err(CliError::BothFromStdin.into());
    }

    let (unlocked, secrets) = open_and_unlock_keeping_secrets(&container, Access::ReadOnly, &with)?;
    let archive_password = password::read_new_password(
        &archive_source,
        &format!("Password for the archive {}: ", display_name(&out)),
        &format!(
            "Repeat the password for the archive {}: ",
            display_name(&out)
        ),
    )?;
    enforce_strength(&archive_password, &out, args.allow_weak_password)?;
    if secrets
        .password
        .as_ref()
        .is_some_and(|p| p.expose_secret() == archive_password.expose_secret())
    {
        bail!(
            "the archive password is the container's password; choose another one (whoever \
             receives the archive learns its password)"
        );
    }

    let stack = unlocked.open_stack(DeviceMode::ReadOnly)?;
    drop(unlocked);
    let fs = Fs::open(stack, FsOptions::default())
        .with_context(|| format!("cannot open the files in {}", container.display()))?;
    let entries = collect(&fs, &targets)?;
    let files = entries
        .iter()
        .filter(|e| e.attr.kind == FileKind::RegularFile)
        .count();
    let bytes: u64 = entries.iter().map(|e| file_size(&e.attr)).sum();

    let result = write_archive(&fs, &entries, &out, &archive_password)
        .and_then(|()| verify_archive(&fs, &entries, &out, &archive_password));
    if let Err(err) = result {
        let _ = std::fs::remove_file(&out);
        return Err(err.context(format!("{} was not written", out.display())));
    }
    fs.close()?;
    println!(
        "Wrote {}: {files} file{} ({bytes} bytes), encrypted with AES-256, file names \
         included; checked by opening it again.",
        out.display(),
        if files == 1 { "" } else { "s" }
    );
    println!(
        "Tell the recipient the password another way (phone, text message), never in the \
         same e-mail. They open it with 7-Zip (Windows), Keka or The Unarchiver (macOS), or \
         7z (Linux)."
    );
    Ok(())
}

fn file_size(attr: &Attr) -> u64 {
    if attr.kind == FileKind::RegularFile {
        attr.size
    } else {
        0
    }
}

/// Every file under the targets, names relative to each target's parent (as `7z a` names
/// them).
fn collect(fs: &Fs, targets: &[Target]) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut seen = HashMap::new();
    for target in targets {
        let attr = fs
            .resolve(&target.path)
            .map_err(|e| super::files::at(target, &target.path, e))?;
        let name = if attr.ino == secvol_fs::ROOT_INO {
            String::new()
        } else {
            let last = target
                .path
                .rsplit(|&b| b == b'/')
                .find(|part| !part.is_empty())
                .unwrap_or_default();
            String::from_utf8_lossy(last).into_owned()
        };
        if seen.insert(name.clone(), ()).is_some() {
            bail!("two paths are named '{name}'; export them one at a time");
        }
        walk(fs, target, &target.path, attr, name, &mut entries)?;
    }
    Ok(entries)
}

fn walk(
    fs: &Fs,
    target: &Target,
    path: &[u8],
    attr: Attr,
    name: String,
    entries: &mut Vec<Entry>,
) -> anyhow::Result<()> {
    match attr.kind {
        FileKind::Directory => {
            let mut children = Vec::new();
            loop {
                let after = children
                    .last()
                    .map(|e: &secvol_fs::DirEntry| e.name.clone());
                let batch = fs
                    .list_dir(attr.ino, after.as_deref(), 1024)
                    .map_err(|e| super::files::at(target, path, e))?;
                if batch.is_empty() {
                    break;
                }
                children.extend(batch);
            }
            if children.is_empty() {
                eprintln!(
                    "warning: left out the empty folder {}:{} (7-Zip archives written by this \
                     version of secvol hold files only)",
                    target.container.display(),
                    String::from_utf8_lossy(path)
                );
            }
            for child in children {
                let child_path = join(path, &child.name);
                let child_attr = fs
                    .getattr(child.ino)
                    .map_err(|e| super::files::at(target, &child_path, e))?;
                let child_name = String::from_utf8_lossy(&child.name);
                let child_name = if name.is_empty() {
                    child_name.into_owned()
                } else {
                    format!("{name}/{child_name}")
                };
                walk(fs, target, &child_path, child_attr, child_name, entries)?;
            }
        }
        FileKind::RegularFile => entries.push(Entry { name, attr }),
        FileKind::Symlink
        | FileKind::CharDevice
        | FileKind::BlockDevice
        | FileKind::NamedPipe
        | FileKind::Socket => eprintln!(
            "warning: skipped {}:{} (not a regular file or folder)",
            target.container.display(),
            String::from_utf8_lossy(path)
        ),
    }
    Ok(())
}

/// Reads one file of the container, counting the bytes on a progress bar.
struct ContainerReader<'a> {
    fs: &'a Fs,
    ino: u64,
    size: u64,
    offset: u64,
    bar: &'a ProgressBar,
}

impl Read for ContainerReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = (self.size - self.offset)
            .min(buf.len() as u64)
            .min(u64::from(CHUNK));
        if want == 0 {
            return Ok(0);
        }
        let data = self
            .fs
            .read_ino(self.ino, self.offset, want as u32)
            .map_err(|e| io::Error::other(e.to_string()))?;
        buf[..data.len()].copy_from_slice(&data);
        self.offset += data.len() as u64;
        self.bar.inc(data.len() as u64);
        Ok(data.len())
    }
}

fn aes(password: &SecretString) -> anyhow::Result<EncoderConfiguration> {
    // Fresh salt and IV each time: `AesEncoderOptions::new` draws both from the OS.
    let mut options = AesEncoderOptions::new(Password::from(password.expose_secret()));
    options.num_cycles_power = SEVEN_ZIP_CYCLES_POWER;
    Ok(options.into())
}

fn archive_entry(entry: &Entry) -> ArchiveEntry {
    let mut archive_entry = ArchiveEntry::new_file(&entry.name);
    if let Ok(time) = NtTime::try_from(entry.attr.mtime.to_system()) {
        archive_entry.last_modified_date = time;
        archive_entry.has_last_modified_date = true;
    }
    archive_entry
}

/// Create `out` (owner-only) and write the archive.
fn write_archive(
    fs: &Fs,
    entries: &[Entry],
    out: &Path,
    password: &SecretString,
) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).read(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    let total: u64 = entries.iter().map(|e| file_size(&e.attr)).sum();
    let bar = progress::bytes("Writing the archive", total);
    let mut writer = ArchiveWriter::new(file).context("cannot start the archive")?;

    // Only files, each with a data stream (empty files as zero-length ones): sevenz-rust2
    // 0.20 writes every entry without a stream as an "anti-item" (a deletion marker, fixed in
    // 0.25, which needs a newer Rust), and 7-Zip then skips it. Folders come from the files'
    // paths; an empty folder cannot be represented and is left out with a warning.
    let with_data: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.attr.kind == FileKind::RegularFile)
        .collect();
    for block in blocks(&with_data) {
        writer.set_content_methods(vec![aes(password)?, EncoderMethod::LZMA2.into()]);
        let archive_entries = block.iter().map(|e| archive_entry(e)).collect();
        let readers = block
            .iter()
            .map(|e| {
                SourceReader::new(ContainerReader {
                    fs,
                    ino: e.attr.ino,
                    size: e.attr.size,
                    offset: 0,
                    bar: &bar,
                })
            })
            .collect();
        writer
            .push_archive_entries(archive_entries, readers)
            .context("cannot write the archive")?;
    }
    // The header (names, sizes) is encrypted with the first AES configuration: a new IV.
    writer.set_content_methods(vec![aes(password)?, EncoderMethod::LZMA2.into()]);
    let file = writer.finish().context("cannot finish the archive")?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", out.display()))?;
    bar.finish_and_clear();
    Ok(())
}

/// Consecutive groups of entries whose sizes add up to at most [`BLOCK_LIMIT`] (a larger file
/// is a block of its own).
fn blocks<'a>(entries: &[&'a Entry]) -> Vec<Vec<&'a Entry>> {
    let mut blocks: Vec<Vec<&Entry>> = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    for &entry in entries {
        if !current.is_empty() && size + entry.attr.size > BLOCK_LIMIT {
            blocks.push(std::mem::take(&mut current));
            size = 0;
        }
        size += entry.attr.size;
        current.push(entry);
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    blocks
}

/// Open the archive with the password and compare every entry with the container.
fn verify_archive(
    fs: &Fs,
    entries: &[Entry],
    out: &Path,
    password: &SecretString,
) -> anyhow::Result<()> {
    let expected: HashMap<&str, &Entry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let total: u64 = entries.iter().map(|e| file_size(&e.attr)).sum();
    let bar = progress::bytes("Checking the archive", total);
    let file = File::open(out).with_context(|| format!("cannot reopen {}", out.display()))?;
    let mut reader = ArchiveReader::new(file, Password::from(password.expose_secret()))
        .context("cannot open the archive just written")?;
    let mut found = 0usize;
    let mut problem: Option<String> = None;
    reader
        .for_each_entries(|archived, data| {
            let Some(entry) = expected.get(archived.name()) else {
                problem = Some(format!("unexpected entry {}", archived.name()));
                return Ok(false);
            };
            found += 1;
            let mut original = ContainerReader {
                fs,
                ino: entry.attr.ino,
                size: entry.attr.size,
                offset: 0,
                bar: &bar,
            };
            if !same_bytes(&mut original, data)? {
                problem = Some(format!("{} differs from the container", archived.name()));
                return Ok(false);
            }
            Ok(true)
        })
        .context("cannot read the archive just written")?;
    bar.finish_and_clear();
    if let Some(problem) = problem {
        bail!("the archive did not check out: {problem}");
    }
    if found != entries.len() {
        bail!(
            "the archive did not check out: {found} of {} entries found",
            entries.len()
        );
    }
    Ok(())
}

fn same_bytes(a: &mut dyn Read, b: &mut dyn Read) -> io::Result<bool> {
    let mut left = vec![0u8; CHUNK as usize];
    let mut right = vec![0u8; CHUNK as usize];
    loop {
        let n = read_up_to(a, &mut left)?;
        let m = read_up_to(b, &mut right)?;
        if n != m || left[..n] != right[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Debian's `7zip` package installs `7zz`; p7zip and others install `7z`.
    fn seven_zip() -> &'static str {
        for name in ["7zz", "7z"] {
            if Command::new(name).arg("i").output().is_ok() {
                return name;
            }
        }
        panic!("7-Zip is needed for this test (Debian package 7zip; .ci/run installs it)");
    }

    #[test]
    fn an_archive_made_by_7_zip_with_encrypted_names_is_read_by_the_crate() {
        // The other direction of the interop: the reader that checks our archives reads
        // what the real 7-Zip writes (AES-256, -mhe=on).
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("in")).unwrap();
        let data = b"lab results ".repeat(30_000);
        std::fs::write(dir.path().join("in/results.txt"), &data).unwrap();
        let archive = dir.path().join("from7z.7z");
        let status = Command::new(seven_zip())
            .current_dir(dir.path().join("in"))
            .args(["a", "-mhe=on", "-pinterop-password-71"])
            .arg(&archive)
            .arg("results.txt")
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
        let mut reader = ArchiveReader::new(
            File::open(&archive).unwrap(),
            Password::from("interop-password-71"),
        )
        .unwrap();
        let mut seen = Vec::new();
        reader
            .for_each_entries(|entry, data_reader| {
                let mut bytes = Vec::new();
                data_reader.read_to_end(&mut bytes).unwrap();
                seen.push((entry.name().to_owned(), bytes));
                Ok(true)
            })
            .unwrap();
        assert_eq!(seen, vec![("results.txt".to_owned(), data)]);
        // With the wrong password the encrypted header does not even list.
        assert!(
            ArchiveReader::new(File::open(&archive).unwrap(), Password::from("wrong")).is_err()
        );
    }
}
