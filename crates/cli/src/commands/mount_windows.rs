//! `secvol mount`, `unmount` (alias `dismount`), `list` and the mount daemon on Windows:
//! drive letters (`T:`) and folders through WinFsp.
//!
//! Same function names as the Unix module (`mount.rs`), so `main.rs` dispatches to either.
//! The flow is the Unix one: `mount` reads the password and starts the daemon (this program
//! as `secvol serve-mount CONTAINER T:`, detached, the password on its standard input, never
//! on a command line); the daemon unlocks, mounts through `secvol-winfsp`, writes a mount
//! record (`mount_records.rs`) and answers `ready` or `error CODE TEXT` on its standard
//! output. `unmount` signals the daemon's named event (`Local\secvol-unmount-PID`); the
//! daemon stops WinFsp, commits everything durably, removes its record and exits, and
//! `unmount` waits for that.
//!
//! Not yet on Windows: naming the programs that still hold files open (`unmount` detaches
//! at once; what they wrote is kept, unsaved data in those programs is theirs), and
//! `--allow-other` (a WinFsp drive letter is visible in the mounting user's session only).
//! Compiled for Windows in CI, never run there (docs/platforms.md).

use std::io::{self, BufRead, BufReader, Write};
use std::os::windows::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use secvol_core::{Access, BlockDevice};
use secvol_fs::{Fs, FsOptions};
use zeroize::Zeroizing;

use super::{display_name, header_warning, open_container};
use crate::error::CliError;
use crate::mount_records::{MountRecord, normalize_drive};
use crate::password::{self, PasswordSource};
use crate::sys::windows as win;
use crate::{MountArgs, ServeMountArgs, UnmountArgs, exit};

/// The hidden subcommand the mount daemon runs as.
const DAEMON_SUBCOMMAND: &str = "serve-mount";

/// The storage engine's page cache in the mount daemon (as on Unix).
const MOUNT_CACHE_SIZE: usize = 192 << 20;

/// How long `unmount` waits for the daemon to write everything and exit.
const DAEMON_EXIT_TIMEOUT_MS: u32 = 600_000;

/// `DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW`: the daemon outlives the
/// console it was started from, gets no window, and Ctrl-C there does not reach it.
const DETACHED_FLAGS: u32 = 0x0000_0008 | 0x0000_0200 | 0x0800_0000;

/// The folder of the mount records: `%LOCALAPPDATA%\secvol\mounts`.
fn records_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("LOCALAPPDATA")
        .context("LOCALAPPDATA is not set: cannot find the folder for mount records")?;
    Ok(PathBuf::from(base).join("secvol").join("mounts"))
}

/// The live mounts; stale records (daemon gone) are removed.
fn live_mounts() -> Vec<MountRecord> {
    let Ok(dir) = records_dir() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut live = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let record = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| MountRecord::parse(&text));
        match record {
            Some(record) if win::is_alive(record.pid) => live.push(record),
            _ => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    live.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
    live
}

fn find_mount(target: &Path) -> Option<MountRecord> {
    live_mounts()
        .into_iter()
        .find(|record| record.matches(target))
}

/// `T`, `T:` or `T:\` as `T:`; a folder as its absolute path (it must not exist yet: WinFsp
/// creates it).
fn mountpoint_text(typed: &Path) -> anyhow::Result<String> {
    if let Some(drive) = normalize_drive(&typed.to_string_lossy()) {
        if Path::new(&format!("{drive}\\")).exists() {
            bail!("the drive {drive} is already in use; choose a free drive letter");
        }
        return Ok(drive);
    }
    if typed.exists() {
        bail!(
            "{} exists: WinFsp mounts on a drive letter (T:) or on a folder that does not exist yet",
            typed.display()
        );
    }
    let absolute =
        std::path::absolute(typed).with_context(|| format!("cannot use {}", typed.display()))?;
    Ok(absolute.display().to_string())
}

/// `secvol mount CONTAINER T:`.
pub fn mount(args: &MountArgs) -> anyhow::Result<()> {
    let container_path = args.container.as_path();
    drop(open_container(container_path, Access::HeaderOnly)?);
    let container = std::path::absolute(container_path)
        .with_context(|| format!("cannot open {}", container_path.display()))?;
    if let Some(record) = find_mount(&container) {
        return Err(CliError::AlreadyMounted {
            container: container.clone(),
            mountpoint: PathBuf::from(record.mountpoint),
        }
        .into());
    }
    if args.allow_other {
        bail!(
            "--allow-other is not available on Windows: the drive is visible in your session only"
        );
    }
    let mountpoint = mountpoint_text(&args.mountpoint)?;
    let source = PasswordSource::from_option(args.password_file.as_deref());
    let password = password::read_password(
        &source,
        &format!("Password for {}: ", display_name(container_path)),
    )?;

    let exe = std::env::current_exe().context("cannot find the secvol program itself")?;
    let mut command = Command::new(exe);
    command
        .arg(DAEMON_SUBCOMMAND)
        .arg(&container)
        .arg(&mountpoint)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if args.read_only {
        command.arg("--read-only");
    }
    if args.foreground {
        command.stderr(Stdio::inherit());
    } else {
        command.stderr(Stdio::null()).creation_flags(DETACHED_FLAGS);
    }
    let mut daemon = command.spawn().context("cannot start the mount daemon")?;
    {
        let mut stdin = daemon.stdin.take().expect("stdin is piped");
        let mut line = Zeroizing::new(password.expose_secret().as_bytes().to_vec());
        line.push(b'\n');
        let _ = stdin.write_all(&line);
    }
    drop(password);

    let status = BufReader::new(daemon.stdout.take().expect("stdout is piped"));
    let mut ready = false;
    for line in status.lines() {
        let line = line.unwrap_or_default();
        if let Some(warning) = line.strip_prefix("warning: ") {
            eprintln!("warning: {warning}");
        } else if line == "ready" {
            ready = true;
            break;
        } else if let Some(error) = line.strip_prefix("error ") {
            let (code, message) = error.split_once(' ').unwrap_or(("1", error));
            let _ = daemon.wait();
            return Err(CliError::Reported {
                code: code.parse().unwrap_or(exit::OTHER),
                message: message.to_owned(),
            }
            .into());
        }
    }
    if !ready {
        let status = daemon.wait()?;
        bail!("the mount daemon stopped before the container was mounted ({status})");
    }
    let mode = if args.read_only {
        "read-only"
    } else {
        "read-write"
    };
    println!("Mounted {} on {mountpoint} ({mode}).", container.display());
    if !args.foreground {
        println!("Unmount it before removing the drive: secvol unmount {mountpoint}");
        return Ok(());
    }
    println!("Serving in the foreground; press Ctrl-C (or run 'secvol unmount') to unmount.");
    let status = daemon.wait()?;
    if status.success() {
        println!("Unmounted {mountpoint}.");
        Ok(())
    } else {
        bail!("the mount daemon ended with {status}; run 'secvol check'");
    }
}

/// The daemon: `secvol serve-mount CONTAINER T:` with the password on stdin.
pub fn serve(args: &ServeMountArgs) -> anyhow::Result<()> {
    let mut status = io::stdout().lock();
    let mut report = |line: &str| {
        let _ = writeln!(status, "{line}").and_then(|()| status.flush());
    };
    let started = start(args, &mut report);
    let (fs, mount, record_path) = match started {
        Ok(started) => started,
        Err(err) => {
            let code = exit::exit_code(&err);
            report(&format!("error {code} {}", exit::one_line(&err)));
            return Err(err);
        }
    };
    report("ready");
    drop(status);

    win::wait_for_unmount_request();
    mount.stop();
    let closed = fs.close();
    let _ = std::fs::remove_file(&record_path);
    closed.context("writing the last changes to the container failed")
}

/// Unlock, open, mount and record; header warnings go to `report`.
fn start(
    args: &ServeMountArgs,
    report: &mut dyn FnMut(&str),
) -> anyhow::Result<(Arc<Fs>, secvol_winfsp::Mount, PathBuf)> {
    let password = password::read_password(&PasswordSource::Stdin, "")?;
    let access = if args.read_only {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let container = open_container(&args.container, access)?;
    let unlocked = container.unlock(&password)?;
    drop(password);
    if let Some(warning) = header_warning(
        &args.container,
        unlocked.header_status(),
        Some(unlocked.opened_from_backup()),
    ) {
        report(&format!("warning: {warning}"));
    }
    let device: Arc<dyn BlockDevice> = Arc::new(unlocked.open_device(args.read_only)?);
    drop(unlocked);
    let options = FsOptions {
        read_only: args.read_only,
        cache_size: MOUNT_CACHE_SIZE,
        ..FsOptions::default()
    };
    let fs = Arc::new(
        Fs::open(device, options)
            .with_context(|| format!("cannot open the files in {}", args.container.display()))?,
    );
    win::create_unmount_event().context("cannot create the unmount event")?;
    let mountpoint = args.mountpoint.display().to_string();
    let label = secvol_winfsp::names::volume_label(&display_name(&args.container));
    let mount = secvol_winfsp::mount(
        Arc::clone(&fs),
        &secvol_winfsp::MountOptions {
            mountpoint: mountpoint.clone(),
            read_only: args.read_only,
            label,
        },
    )?;
    let record = MountRecord {
        container: args.container.clone(),
        mountpoint,
        read_only: args.read_only,
        pid: std::process::id(),
    };
    let dir = records_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let record_path = dir.join(record.file_name());
    std::fs::write(&record_path, record.to_text())
        .with_context(|| format!("cannot write {}", record_path.display()))?;
    Ok((fs, mount, record_path))
}

/// `secvol unmount T:` (or the folder, or the container file).
pub fn unmount(args: &UnmountArgs) -> anyhow::Result<()> {
    let Some(record) = find_mount(&args.target) else {
        bail!(
            "{} is not a mounted secvol container or drive ('secvol list' shows them)",
            args.target.display()
        );
    };
    if !win::request_unmount(record.pid) {
        bail!(
            "cannot reach the mount daemon of {} (pid {})",
            record.mountpoint,
            record.pid
        );
    }
    eprintln!("Writing the last changes to the container...");
    if !win::wait_for_exit(record.pid, DAEMON_EXIT_TIMEOUT_MS) {
        bail!(
            "the mount daemon (pid {}) is still writing after {} s; do not remove the drive yet",
            record.pid,
            DAEMON_EXIT_TIMEOUT_MS / 1000
        );
    }
    println!(
        "Unmounted {}: {} is closed and the drive can be removed.",
        record.mountpoint,
        record.container.display()
    );
    Ok(())
}

/// `secvol list`.
pub fn list() -> anyhow::Result<()> {
    let records = live_mounts();
    if records.is_empty() {
        println!("No secvol container is mounted.");
        return Ok(());
    }
    let width = records
        .iter()
        .map(|r| r.container.display().to_string().chars().count())
        .max()
        .unwrap_or(0)
        .max("CONTAINER".len());
    println!("{:<width$}  MOUNTPOINT  MODE  PID", "CONTAINER");
    for record in records {
        println!(
            "{:<width$}  {:<10}  {:<4}  {}",
            record.container.display().to_string(),
            record.mountpoint,
            if record.read_only { "ro" } else { "rw" },
            record.pid
        );
    }
    Ok(())
}
