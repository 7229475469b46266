//! `secvol kit DIR`: the portable kit for a USB key (or any folder).
//!
//! ```text
//! DIR/
//!   README.txt                                  for the person at the desk
//!   Mount Secure Drive.bat, Dismount ....bat    Windows: drive letter (--drive)
//!   Mount Secure Drive.command, Dismount ...    macOS
//!   mount-secure-drive.sh, dismount-...sh       Linux
//!   Data/NAME.sec                               the container
//!   secvol/linux-x86_64/secvol                  the program, one folder per system
//!   secvol/windows-x86_64/secvol.exe            (added with --program)
//!   secvol/macos-aarch64/secvol                 (added with --program)
//! ```
//!
//! The scripts are templates kept as files in `crates/cli/kit/` (linted there by shellcheck in
//! CI) with `@NAME@` placeholders; they find the program and the container relative to their
//! own folder, because drive letters and mount paths change from computer to computer. What they
//! do and promise is written at the top of each.
//!
//! This module lays out files and substitutes names; creating the container is `create.rs`'s
//! job, mounting is `mount.rs`'s.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use secvol_core::{Access, Container, ContainerError, CreateOptions, SecretString};

use super::{kdf_for_new_password, kdf_override};
use crate::error::CliError;
use crate::size::format_size;
use crate::{CipherArg, CreateArgs, KitArgs};

/// The folder of the container inside the kit.
pub const DATA_DIR: &str = "Data";
/// The folder of the programs inside the kit.
pub const PROGRAM_DIR: &str = "secvol";
/// The container's name when `--container` is not given.
pub const DEFAULT_CONTAINER: &str = "SecureDrive.sec";
/// The sample container's name (`--sample`).
pub const SAMPLE_CONTAINER: &str = "Sample.sec";
/// The sample container's size (`--sample`): 1 MiB.
pub const SAMPLE_SIZE: u64 = 1 << 20;
/// The demo password of sample containers, printed in their README.txt on purpose (and in
/// ci/demo.sh): a sample is for trying the routine, never for real records.
pub const DEMO_PASSWORD: &str = "sample-clinic-umbrella-violet-42";

/// A script or text of the kit: its name in the kit, its template, and its line endings.
struct KitFile {
    name: &'static str,
    template: &'static str,
    crlf: bool,
    executable: bool,
}

/// Every file the kit writes from a template.
const KIT_FILES: [KitFile; 7] = [
    KitFile {
        name: "Mount Secure Drive.bat",
        template: include_str!("../../kit/mount.bat"),
        crlf: true,
        executable: false,
    },
    KitFile {
        name: "Dismount Secure Drive.bat",
        template: include_str!("../../kit/dismount.bat"),
        crlf: true,
        executable: false,
    },
    KitFile {
        name: "Mount Secure Drive.command",
        template: include_str!("../../kit/mount.command"),
        crlf: false,
        executable: true,
    },
    KitFile {
        name: "Dismount Secure Drive.command",
        template: include_str!("../../kit/dismount.command"),
        crlf: false,
        executable: true,
    },
    KitFile {
        name: "mount-secure-drive.sh",
        template: include_str!("../../kit/mount.sh"),
        crlf: false,
        executable: true,
    },
    KitFile {
        name: "dismount-secure-drive.sh",
        template: include_str!("../../kit/dismount.sh"),
        crlf: false,
        executable: true,
    },
    KitFile {
        name: "README.txt",
        template: include_str!("../../kit/README.txt"),
        crlf: true,
        executable: false,
    },
];

/// Parse `--drive`: a letter, with or without the colon.
pub fn parse_drive(text: &str) -> Result<char, String> {
    let letter = text.strip_suffix(':').unwrap_or(text);
    let mut chars = letter.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => Ok(c.to_ascii_uppercase()),
        _ => Err(format!(
            "'{text}' is not a drive letter: expected one letter such as T or T:"
        )),
    }
}

/// The systems a secvol program can be built for, as the kit names their folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    /// `linux`, `windows` or `macos`.
    pub os: &'static str,
    /// `x86_64`, `aarch64` or `universal` (macOS).
    pub arch: &'static str,
}

impl Platform {
    /// The system this program runs on.
    fn current() -> Platform {
        Platform {
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        }
    }

    /// `secvol/<os>-<arch>/secvol[.exe]` inside the kit.
    fn program_path(self) -> PathBuf {
        let name = if self.os == "windows" {
            "secvol.exe"
        } else {
            "secvol"
        };
        Path::new(PROGRAM_DIR)
            .join(format!("{}-{}", self.os, self.arch))
            .join(name)
    }

    fn describe(self) -> String {
        let os = match self.os {
            "linux" => "Linux",
            "windows" => "Windows",
            "macos" => "macOS",
            other => other,
        };
        format!("{os} ({})", self.arch)
    }
}

/// The system an executable was built for, from its first bytes: ELF (Linux), PE (Windows),
/// Mach-O (macOS). `None`: not an executable of those.
pub fn detect_platform(head: &[u8]) -> Option<Platform> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(head.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(head.get(at..at + 4)?.try_into().ok()?));
    if head.starts_with(b"\x7fELF") {
        let arch = match u16_at(18)? {
            0x3E => "x86_64",
            0xB7 => "aarch64",
            _ => return None,
        };
        return Some(Platform { os: "linux", arch });
    }
    if head.starts_with(b"MZ") {
        let pe = u32_at(0x3C)? as usize;
        if head.get(pe..pe + 4)? != b"PE\0\0" {
            return None;
        }
        let arch = match u16_at(pe + 4)? {
            0x8664 => "x86_64",
            0xAA64 => "aarch64",
            _ => return None,
        };
        return Some(Platform {
            os: "windows",
            arch,
        });
    }
    // Mach-O, 64-bit, little-endian (CF FA ED FE), and universal ("fat") binaries (CA FE BA BE).
    if head.starts_with(&[0xCF, 0xFA, 0xED, 0xFE]) {
        let arch = match u32_at(4)? {
            0x0100_0007 => "x86_64",
            0x0100_000C => "aarch64",
            _ => return None,
        };
        return Some(Platform { os: "macos", arch });
    }
    if head.starts_with(&[0xCA, 0xFE, 0xBA, 0xBE]) {
        return Some(Platform {
            os: "macos",
            arch: "universal",
        });
    }
    None
}

/// The container name is written into .bat and shell scripts: keep it to characters that need
/// no quoting in either.
fn check_container_name(name: &str) -> anyhow::Result<()> {
    let plain = !name.is_empty()
        && !name.starts_with(['.', '-', ' '])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _.()-".contains(c));
    if !plain {
        bail!(
            "'{name}' cannot be a kit's container name: use letters, digits, spaces and _ . ( ) - \
             only (the scripts of the kit spell it out)"
        );
    }
    Ok(())
}

/// Where the kit's container comes from.
enum Source {
    /// Create it (password asked twice).
    Create,
    /// The sample, with the demo password.
    Sample,
    /// Already in `DIR/Data/`.
    InPlace,
    /// An existing container elsewhere: moved (or copied, across drives) into `DIR/Data/`.
    Existing(PathBuf),
}

/// `secvol kit DIR`.
pub fn run(args: &KitArgs) -> anyhow::Result<()> {
    let kdf = kdf_override(args.scrypt_log_n)?;
    let dir = args.dir.as_path();
    if dir.exists() && !dir.is_dir() {
        bail!("{}: not a directory", dir.display());
    }

    let (name, source) = container_source(args, dir)?;
    check_container_name(&name)?;
    let stem = Path::new(&name)
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.clone());
    let container = dir.join(DATA_DIR).join(&name);
    if let Some(size) = args.size.or(args.sample.then_some(SAMPLE_SIZE)) {
        refuse_too_large_for_fat(dir, size)?;
    }
    if matches!(source, Source::Create) && args.size.is_none() {
        bail!(
            "--size is needed to create {} (or give an existing container with --container \
             FILE, or try the routine with --sample)",
            container.display()
        );
    }

    // Programs: this one, and those given with --program, checked before anything is written.
    let mut programs: Vec<(Platform, PathBuf)> = vec![(
        Platform::current(),
        std::env::current_exe().context("cannot find the secvol program itself")?,
    )];
    for path in &args.programs {
        let platform = program_platform(path)?;
        programs.retain(|(known, _)| *known != platform);
        programs.push((platform, path.clone()));
    }
    // Nothing is replaced without --force (the container never is).
    if !args.force {
        let targets = KIT_FILES
            .iter()
            .map(|file| dir.join(file.name))
            .chain(programs.iter().map(|(p, _)| dir.join(p.program_path())));
        for target in targets {
            if target.symlink_metadata().is_ok() {
                return Err(anyhow::Error::from(CliError::FileExists(target)).context(
                    "this folder already has a kit; use --force to replace its scripts, \
                     README.txt and programs (the container is never replaced)",
                ));
            }
        }
    }

    let dir_existed = dir.exists();
    std::fs::create_dir_all(dir.join(DATA_DIR))
        .with_context(|| format!("cannot create {}", dir.join(DATA_DIR).display()))?;
    let container_note = match bring_container(args, &source, &container, kdf) {
        Ok(note) => note,
        Err(err) => {
            // Leave nothing behind but what was there (remove_dir removes empty folders only).
            let _ = std::fs::remove_dir(dir.join(DATA_DIR));
            if !dir_existed {
                let _ = std::fs::remove_dir(dir);
            }
            return Err(err);
        }
    };

    for (platform, from) in &programs {
        let to = dir.join(platform.program_path());
        copy_program(from, &to)?;
    }
    let present: Vec<Platform> = programs.iter().map(|(p, _)| *p).collect();
    let values = Values {
        container: name.clone(),
        mount_name: stem,
        drive: args.drive,
        sample: args.sample,
        missing: missing_systems(&present),
    };
    for file in &KIT_FILES {
        let text = render(file, &values);
        let path = dir.join(file.name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        if file.executable {
            make_executable(&path);
        }
    }

    println!("The kit is ready in {}:", dir.display());
    let mut rows: Vec<(String, String)> = vec![(
        format!("{DATA_DIR}/{name}"),
        format!("the container ({container_note})"),
    )];
    for platform in &present {
        rows.push((
            platform.program_path().display().to_string(),
            format!("secvol for {}", platform.describe()),
        ));
    }
    rows.push((
        "Mount/Dismount Secure Drive.bat".into(),
        format!("Windows, on drive {}:", args.drive),
    ));
    rows.push(("Mount/Dismount Secure Drive.command".into(), "macOS".into()));
    rows.push((
        "mount/dismount-secure-drive.sh".into(),
        format!("Linux, on ~/{}", values.mount_name),
    ));
    rows.push(("README.txt".into(), "for the person at the desk".into()));
    let width = rows.iter().map(|(a, _)| a.len()).max().unwrap_or(0);
    for (what, why) in rows {
        println!("  {what:<width$}  {why}");
    }
    if !values.missing.is_empty() {
        println!(
            "No program yet for: {}. Build secvol there (or cross-compile it) and add it with \
             'secvol kit {} --force --program FILE'; until then the scripts for those systems say \
             that the program is missing.",
            values.missing.join(", "),
            super::shell_word(dir)
        );
    }
    if !args.sample {
        println!(
            "Make a header backup and keep it OFF the key (with the header and an old password \
             the container opens): secvol header backup {} {}",
            super::shell_word(&container),
            super::shell_word(Path::new(&format!("{}.header", values.mount_name)))
        );
    }
    if args.sample {
        println!(
            "This is a SAMPLE for trying the routine: its password is the demo password \
             '{DEMO_PASSWORD}' (also in README.txt). Never put real records in it."
        );
    }
    Ok(())
}

/// Create, move, copy or keep the kit's container; returns what was done, for the summary.
fn bring_container(
    args: &KitArgs,
    source: &Source,
    container: &Path,
    kdf: Option<secvol_core::ScryptParams>,
) -> anyhow::Result<String> {
    Ok(match source {
        Source::InPlace => {
            check_closed_container(container)?;
            "kept (it was already in the kit)".to_owned()
        }
        Source::Existing(from) => bring_in(from, container)?,
        Source::Create => {
            let size = args.size.expect("checked above");
            super::create::run(&CreateArgs {
                container: container.to_path_buf(),
                size,
                cipher: CipherArg::Aes256Gcm,
                password_file: args.password_file.clone(),
                allow_weak_password: args.allow_weak_password,
                scrypt_log_n: args.scrypt_log_n,
                quick: args.quick,
                gui: false,
                // The kit's scripts ask for a password; a keyfile is added with `key add`.
                keyfile: None,
                keyfile_only: false,
                create_keyfile: false,
            })?;
            println!();
            format!("created, {}", format_size(size))
        }
        Source::Sample => {
            let options = CreateOptions {
                size: SAMPLE_SIZE,
                suite: secvol_core::CipherSuite::Aes256Gcm,
                kdf: kdf_for_new_password(kdf),
                quick: args.quick,
            };
            println!("Creating the sample container {} ...", container.display());
            drop(super::create::create_with_password(
                container,
                &SecretString::from(DEMO_PASSWORD),
                &options,
            )?);
            format!("the sample (1 MiB), demo password: {DEMO_PASSWORD}")
        }
    })
}

/// The container's name and where it comes from.
fn container_source(args: &KitArgs, dir: &Path) -> anyhow::Result<(String, Source)> {
    if args.sample {
        let name = SAMPLE_CONTAINER.to_owned();
        let source = if dir.join(DATA_DIR).join(&name).exists() {
            Source::InPlace
        } else {
            Source::Sample
        };
        return Ok((name, source));
    }
    let Some(given) = &args.container else {
        // A kit being refreshed (--force, --program) keeps its one container, whatever its name.
        let existing: Vec<String> = std::fs::read_dir(dir.join(DATA_DIR))
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                    .filter(|name| name.ends_with(".sec"))
                    .collect()
            })
            .unwrap_or_default();
        if let [name] = existing.as_slice() {
            return Ok((name.clone(), Source::InPlace));
        }
        let name = DEFAULT_CONTAINER.to_owned();
        let source = if dir.join(DATA_DIR).join(&name).exists() {
            Source::InPlace
        } else {
            Source::Create
        };
        return Ok((name, source));
    };
    let name = given
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| anyhow::anyhow!("{}: not a file name", given.display()))?;
    let in_kit = dir.join(DATA_DIR).join(&name);
    if given.is_file() {
        let same = match (given.canonicalize(), in_kit.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            return Ok((name, Source::InPlace));
        }
        if in_kit.exists() {
            return Err(CliError::FileExists(in_kit).into());
        }
        if args.size.is_some() {
            bail!(
                "{} exists: the kit takes it as it is, so --size does not apply",
                given.display()
            );
        }
        return Ok((name, Source::Existing(given.clone())));
    }
    if given.components().count() > 1 {
        bail!(
            "{}: no such container file (a name without a folder creates a new container in \
             the kit)",
            given.display()
        );
    }
    if in_kit.exists() {
        return Ok((name, Source::InPlace));
    }
    Ok((name, Source::Create))
}

/// A container the kit adopts must be a container, and not open (mounted) anywhere.
fn check_closed_container(path: &Path) -> anyhow::Result<()> {
    match Container::open(path, Access::ReadWrite) {
        Ok(_) => Ok(()),
        Err(err @ ContainerError::InUse { .. }) => Err(anyhow::Error::from(err)
            .context(format!("{} is mounted; unmount it first", path.display()))),
        Err(err) => Err(super::open_container(path, Access::HeaderOnly)
            .err()
            .unwrap_or_else(|| anyhow::Error::from(err))),
    }
}

/// Move an existing container into the kit, or copy it if it is on another drive (the
/// original then stays where it was). Returns what was done, for the summary.
fn bring_in(from: &Path, to: &Path) -> anyhow::Result<String> {
    check_closed_container(from)?;
    match std::fs::rename(from, to) {
        Ok(()) => return Ok(format!("moved from {}", from.display())),
        // EXDEV on Unix, ERROR_NOT_SAME_DEVICE on Windows.
        Err(err) if err.kind() == std::io::ErrorKind::CrossesDevices => {}
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot move {} to {}", from.display(), to.display()));
        }
    }
    println!("Copying {} to {} ...", from.display(), to.display());
    let copied = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        let mut out = options.open(to)?;
        let mut input = std::fs::File::open(from)?;
        std::io::copy(&mut input, &mut out)?;
        out.sync_all()?;
        if std::fs::metadata(from)?.len() != out.metadata()?.len() {
            return Err(std::io::Error::other("the copy has a different size"));
        }
        Ok(())
    })();
    if let Err(err) = copied {
        let _ = std::fs::remove_file(to);
        return Err(err)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()));
    }
    Ok(format!(
        "copied from {}, which is still there: delete it once the kit works",
        from.display()
    ))
}

/// The platform of a program given with `--program`.
fn program_platform(path: &Path) -> anyhow::Result<Platform> {
    let mut head = vec![0u8; 4096];
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the program {}", path.display()))?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    head.truncate(filled);
    detect_platform(&head).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: not a secvol program for Linux, Windows or macOS on x86_64 or aarch64",
            path.display()
        )
    })
}

fn copy_program(from: &Path, to: &Path) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // Replacing the running program's own copy (a kit refreshed from itself) is not needed.
    if let (Ok(a), Ok(b)) = (from.canonicalize(), to.canonicalize())
        && a == b
    {
        return Ok(());
    }
    let _ = std::fs::remove_file(to);
    std::fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    make_executable(to);
    Ok(())
}

/// chmod 755 where the file system keeps modes (FAT and exFAT keys do not: ignored).
fn make_executable(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// The systems the scripts serve that have no program in the kit.
fn missing_systems(present: &[Platform]) -> Vec<String> {
    let has = |os: &str| present.iter().any(|p| p.os == os);
    [
        ("linux", "Linux"),
        ("windows", "Windows (secvol.exe)"),
        ("macos", "macOS"),
    ]
    .into_iter()
    .filter(|(os, _)| !has(os))
    .map(|(_, label)| label.to_owned())
    .collect()
}

/// FAT32 cannot hold a file of 4 GiB or more: refuse before asking for a password.
fn refuse_too_large_for_fat(dir: &Path, size: u64) -> anyhow::Result<()> {
    const FAT_LIMIT: u64 = 4 << 30;
    if size < FAT_LIMIT {
        return Ok(());
    }
    let probe = dir
        .ancestors()
        .find(|ancestor| ancestor.exists())
        .and_then(|existing| existing.canonicalize().ok());
    if let Some(path) = probe
        && file_system_type(&path).as_deref() == Some("vfat")
    {
        bail!(
            "{} is on a FAT32 drive, which cannot hold a file of 4 GiB or more: choose --size \
             below 4G, or format the drive as exFAT",
            dir.display()
        );
    }
    Ok(())
}

/// The type of the file system holding `path` (Linux, from the mount table).
fn file_system_type(path: &Path) -> Option<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    table
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mountpoint = before.split(' ').nth(4)?.replace("\\040", " ");
            let fs_type = after.split(' ').next()?;
            path.starts_with(&mountpoint)
                .then(|| (mountpoint.len(), fs_type.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fs_type)| fs_type)
}

/// What the templates' placeholders become.
struct Values {
    container: String,
    mount_name: String,
    drive: char,
    sample: bool,
    missing: Vec<String>,
}

fn render(file: &KitFile, values: &Values) -> String {
    let sample_note = if values.sample {
        format!(
            "\n*** THIS KEY IS A SAMPLE, FOR TRYING THE ROUTINE ONLY ***\n\
             The password of {} is the demo password\n\n    {DEMO_PASSWORD}\n\n\
             printed here on purpose: anyone can open this sample. NEVER put real records in \
             it.\nWhen you are ready, have a real kit made with a password only you know.\n",
            values.container
        )
    } else {
        String::new()
    };
    let missing_note = if values.missing.is_empty() {
        String::new()
    } else {
        format!(
            "This key has no secvol program yet for: {}. The scripts for those systems say so.\n",
            values.missing.join(", ")
        )
    };
    let text = file
        .template
        .replace("@CONTAINER@", &values.container)
        .replace("@DATA_DIR@", DATA_DIR)
        .replace("@MOUNT_NAME@", &values.mount_name)
        .replace("@DRIVE@", &values.drive.to_string())
        .replace("@VERSION@", env!("CARGO_PKG_VERSION"))
        .replace("@SAMPLE_NOTE@", &sample_note)
        .replace("@MISSING_NOTE@", &missing_note);
    if file.crlf {
        text.replace('\n', "\r\n")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values {
        Values {
            container: "TimeAcct.sec".into(),
            mount_name: "TimeAcct".into(),
            drive: 'T',
            sample: false,
            missing: vec![],
        }
    }

    /// `@NAME@` placeholders left in `text`.
    fn placeholders(text: &str) -> Vec<&str> {
        let mut found = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find('@') {
            rest = &rest[at + 1..];
            let word_len = rest
                .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
                .unwrap_or(rest.len());
            if word_len > 0 && rest[word_len..].starts_with('@') {
                found.push(&rest[..word_len]);
                rest = &rest[word_len + 1..];
            }
        }
        found
    }

    #[test]
    fn every_placeholder_is_filled_in() {
        for file in &KIT_FILES {
            assert!(!placeholders(file.template).is_empty(), "{}", file.name);
            let text = render(file, &values());
            assert_eq!(
                placeholders(&text),
                Vec::<&str>::new(),
                "{} keeps a placeholder",
                file.name
            );
        }
    }

    #[test]
    fn the_bat_scripts_find_everything_relative_to_themselves_and_check_every_exit_code() {
        for file in KIT_FILES.iter().filter(|f| f.name.ends_with(".bat")) {
            let text = render(file, &values());
            assert!(text.contains("\r\n") && !text.replace("\r\n", "").contains('\n'));
            assert!(text.contains(r#"set "KIT=%~dp0""#), "{}", file.name);
            // Every path the script uses is built from its own folder; none is absolute.
            let code: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with("rem") && *line != "@echo off")
                .collect();
            for line in &code {
                assert!(
                    !line.contains(r":\") || line.contains("%DRIVE%"),
                    "{}: an absolute path: {line}",
                    file.name
                );
            }
            assert!(text.contains(r#"set "SECVOL=%KIT%secvol\windows-%ARCH%\secvol.exe""#));
            assert!(text.contains(r#"set "CONTAINER=%KIT%Data\TimeAcct.sec""#));
            // secvol is called once, and its exit code decides what happens next.
            let call = code
                .iter()
                .position(|line| line.starts_with(r#""%SECVOL%""#))
                .expect("the script runs secvol");
            assert!(code[call].contains("--gui"), "{}", code[call]);
            assert!(
                code[call + 1].contains("errorlevel"),
                "{}: the exit code of secvol is not checked",
                file.name
            );
        }
        let mount = render(&KIT_FILES[0], &values());
        assert!(mount.contains(r#"set "DRIVE=T:""#));
        // The drive is opened only after the mount is confirmed.
        let mount_at = mount.find(r#""%SECVOL%" mount"#).unwrap();
        let confirm_at = mount.find(r"if not exist %DRIVE%\").unwrap();
        let open_at = mount.find("explorer.exe").unwrap();
        assert!(mount_at < confirm_at && confirm_at < open_at);
    }

    #[test]
    fn the_shell_scripts_find_everything_relative_to_themselves_and_check_secvols_exit_code() {
        for file in KIT_FILES
            .iter()
            .filter(|f| f.name.ends_with(".sh") || f.name.ends_with(".command"))
        {
            let text = render(file, &values());
            assert!(text.starts_with("#!/bin/sh\n"), "{}", file.name);
            assert!(
                !text.contains('\r'),
                "{}: CR LF in a shell script",
                file.name
            );
            assert!(
                text.contains(r#"here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd -P)"#),
                "{}",
                file.name
            );
            assert!(text.contains(r#"secvol="$here/secvol/"#), "{}", file.name);
            assert!(
                text.contains(r#"container="$here/$data_dir/$container_name""#),
                "{}",
                file.name
            );
            // The only absolute paths are the runtime folder's fallback, never a key's path.
            assert!(
                !text.contains("/media/") && !text.contains("/Volumes/"),
                "{}",
                file.name
            );
            // secvol's exit code decides: the line after the call reads $? (or exits with it).
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            let call = lines
                .iter()
                .rposition(|line| {
                    line.starts_with(r#""$secvol" mount"#)
                        || line.starts_with(r#""$secvol" unmount"#)
                })
                .expect("the script runs secvol");
            assert!(lines[call].contains("--gui") || lines[call].contains("$gui"));
            assert!(
                lines[call + 1].contains("$?"),
                "{}: the exit code of secvol is not checked: {}",
                file.name,
                lines[call + 1]
            );
        }
        // The mount scripts open the folder only after confirming the mount.
        for name in ["mount-secure-drive.sh", "Mount Secure Drive.command"] {
            let file = KIT_FILES.iter().find(|f| f.name == name).unwrap();
            let text = render(file, &values());
            let mount_at = text.find(r#""$secvol" mount"#).unwrap();
            let confirm_at = text
                .find(r#""$secvol" list"#)
                .or_else(|| text.find("if ! mount |"))
                .unwrap();
            let open_at = text
                .find("xdg-open \"")
                .or_else(|| text.find("open \"$mountpoint\""))
                .unwrap();
            assert!(mount_at < confirm_at && confirm_at < open_at, "{name}");
        }
    }

    #[test]
    fn container_names_are_limited_to_what_scripts_need_not_quote() {
        for good in ["TimeAcct.sec", "Records 2026.sec", "dr_smith(1).sec"] {
            assert!(check_container_name(good).is_ok(), "{good}");
        }
        for bad in [
            "", "a'b.sec", "a%b.sec", "a&b.sec", "-x.sec", "a\"b.sec", "é.sec", "a$b.sec",
        ] {
            assert!(check_container_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn drive_letters_are_one_letter() {
        assert_eq!(parse_drive("t"), Ok('T'));
        assert_eq!(parse_drive("T:"), Ok('T'));
        assert!(parse_drive("TT").is_err());
        assert!(parse_drive("1").is_err());
        assert!(parse_drive("").is_err());
    }

    #[test]
    fn programs_are_recognised_by_their_headers() {
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[18] = 0x3E;
        assert_eq!(
            detect_platform(&elf),
            Some(Platform {
                os: "linux",
                arch: "x86_64"
            })
        );
        elf[18] = 0xB7;
        assert_eq!(detect_platform(&elf).unwrap().arch, "aarch64");

        let mut pe = vec![0u8; 256];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3C] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        pe[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
        assert_eq!(
            detect_platform(&pe),
            Some(Platform {
                os: "windows",
                arch: "x86_64"
            })
        );

        let mut macho = vec![0u8; 32];
        macho[..4].copy_from_slice(&[0xCF, 0xFA, 0xED, 0xFE]);
        macho[4..8].copy_from_slice(&0x0100_000Cu32.to_le_bytes());
        assert_eq!(detect_platform(&macho).unwrap().os, "macos");
        assert_eq!(detect_platform(&macho).unwrap().arch, "aarch64");
        assert_eq!(
            detect_platform(&[0xCA, 0xFE, 0xBA, 0xBE]).unwrap().arch,
            "universal"
        );
        assert_eq!(detect_platform(b"#!/bin/sh\n"), None);

        // This very test binary is an ELF of the running system.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        assert_eq!(detect_platform(&me[..4096]), Some(Platform::current()));
        let _ = me;
    }

    #[test]
    fn a_sample_readme_names_the_demo_password_and_a_real_one_does_not() {
        let readme = &KIT_FILES[6];
        assert_eq!(readme.name, "README.txt");
        let real = render(readme, &values());
        assert!(!real.contains(DEMO_PASSWORD));
        let sample = render(
            readme,
            &Values {
                sample: true,
                container: SAMPLE_CONTAINER.into(),
                ..values()
            },
        );
        assert!(sample.contains(DEMO_PASSWORD));
        assert!(sample.contains("SAMPLE"));
        // The demo password passes the policy, so the sample is made like any container.
        assert!(
            crate::password::strength(
                &SecretString::from(DEMO_PASSWORD),
                Path::new(SAMPLE_CONTAINER)
            )
            .is_ok()
        );
    }
}
