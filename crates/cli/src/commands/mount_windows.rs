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

use std::io::{self, Write};
use std::os::windows::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{Context, bail};
use secvol_core::{Access, DeviceMode};
use secvol_fs::{Fs, FsOptions};

use super::mount_common::{
    self, DaemonSecret, LogFile, MountRow, Started, print_mounts, show_error,
};
use super::{display_name, header_warning, open_container};
use crate::credentials::{self, UnlockWith};
use crate::dialog::{self, Dialog, MessageKind};
use crate::error::CliError;
use crate::mount_records::{MountRecord, normalize_drive};
use crate::mounts;
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

/// `T`, `T:` or `T:\` as `T:`; a folder as its absolute path. WinFsp creates the folder
/// itself, so an existing empty one is removed first (and is not made again if the mount
/// fails: nothing can then be written there by mistake).
fn mountpoint_text(typed: &Path) -> anyhow::Result<String> {
    if let Some(drive) = normalize_drive(&typed.to_string_lossy()) {
        if Path::new(&format!("{drive}\\")).exists() {
            bail!("the drive {drive} is already in use; choose a free drive letter");
        }
        return Ok(drive);
    }
    if typed.is_dir() {
        // One with files in it is refused as on Unix: they would be hidden while mounted.
        let mut entries =
            std::fs::read_dir(typed).with_context(|| format!("cannot use {}", typed.display()))?;
        if entries.next().is_some() {
            return Err(CliError::MountpointNotEmpty(typed.to_owned()).into());
        }
        std::fs::remove_dir(typed).with_context(|| format!("cannot use {}", typed.display()))?;
    } else if typed.exists() {
        bail!("{}: not a folder", typed.display());
    }
    let absolute =
        std::path::absolute(typed).with_context(|| format!("cannot use {}", typed.display()))?;
    Ok(absolute.display().to_string())
}

/// `secvol mount CONTAINER T:`.
pub fn mount(args: &MountArgs) -> anyhow::Result<()> {
    let dialog = dialog::for_command(args.gui, args.password_file.is_none())?;
    let result = mount_with(args, dialog.as_ref());
    if let (Some(dialog), Err(err)) = (&dialog, &result) {
        show_error(dialog, "Not mounted", err);
    }
    result
}

fn mount_with(args: &MountArgs, dialog: Option<&Dialog>) -> anyhow::Result<()> {
    let container_path = args.container.as_path();
    // Public header facts first: "not a container" and friends before any password prompt.
    let public = open_container(container_path, Access::HeaderOnly)?;
    let container = std::path::absolute(container_path)
        .with_context(|| format!("cannot open {}", container_path.display()))?;
    if let Some(entry) = mounts::find_mount(&container) {
        return Err(CliError::AlreadyMounted {
            container: container.clone(),
            mountpoint: entry.mountpoint,
        }
        .into());
    }
    if args.allow_other {
        bail!(
            "--allow-other is not available on Windows: the drive is visible in your session only"
        );
    }
    if args.idle_timeout.is_some() {
        bail!("--idle-timeout is not available on Windows yet: dismount with 'secvol unmount'");
    }
    if args.allow_non_empty {
        bail!(
            "--allow-non-empty is not available on Windows: WinFsp mounts on a drive letter or \
             on a folder that does not exist yet"
        );
    }
    let mountpoint = mountpoint_text(&args.mountpoint)?;
    let name = display_name(container_path);
    let log = LogFile::create();
    let with = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    // A keyfile or recovery key goes to the daemon as credential lines (credentials.rs).
    let handoff = if with.is_password_only() {
        None
    } else {
        Some(credentials::read_secrets(
            &with,
            public.header(),
            &format!("Password for {name}: "),
        )?)
    };
    drop(public);

    let mut attempt = 0;
    let (mut daemon, warnings) = loop {
        attempt += 1;
        let secret = match (&handoff, dialog) {
            (Some(secrets), _) => DaemonSecret::Credentials(secrets),
            (None, Some(dialog)) => DaemonSecret::Password(password::ask_in_dialog(
                dialog,
                &format!("Open {name}"),
                &format!("Password of {name}\n(to open it on {mountpoint}):"),
            )?),
            (None, None) => DaemonSecret::Password(password::read_password(
                &with.password,
                &format!("Password for {name}: "),
            )?),
        };
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
        if handoff.is_some() {
            command.arg(credentials::HANDOFF_FLAG);
        }
        if let Some(log) = &log {
            command.arg("--log").arg(&log.0);
        }
        if args.foreground {
            command.stderr(Stdio::inherit());
        } else {
            command.stderr(Stdio::null()).creation_flags(DETACHED_FLAGS);
        }
        let daemon = command.spawn().context("cannot start the mount daemon")?;
        match mount_common::hand_over_and_wait(daemon, secret)? {
            Started::Ready(child, warnings) => break (child, warnings),
            Started::Failed { code, message } => {
                if handoff.is_none() && mount_common::ask_again(dialog, &name, code, attempt)? {
                    continue;
                }
                return Err(CliError::Reported { code, message }.into());
            }
        }
    };
    if let Some(log) = log {
        log.keep();
    }
    let mode = if args.read_only {
        "read-only"
    } else {
        "read-write"
    };
    println!("Mounted {} on {mountpoint} ({mode}).", container.display());
    if !args.foreground {
        println!("Unmount it before removing the drive: secvol unmount {mountpoint}");
        if let Some(dialog) = dialog {
            mount_common::show_mounted(dialog, &name, &mountpoint, args.read_only, &warnings);
        }
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
    let access = if args.read_only {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let container = open_container(&args.container, access)?;
    let unlocked = if args.credentials {
        // A keyfile or a recovery key: credential lines on stdin (credentials.rs).
        let secrets = credentials::read_handoff(&mut io::stdin().lock())?;
        container.unlock_with(&secrets.credentials())?
    } else {
        let password = password::read_password(&PasswordSource::Stdin, "")?;
        container.unlock(&password)?
    };
    if let Some(warning) = header_warning(
        &args.container,
        unlocked.header_status(),
        Some(unlocked.opened_from_backup()),
    ) {
        report(&format!("warning: {warning}"));
    }
    let stack = unlocked.open_stack(if args.read_only {
        DeviceMode::ReadOnly
    } else {
        DeviceMode::ReadWrite
    })?;
    drop(unlocked);
    let options = FsOptions {
        cache_size: MOUNT_CACHE_SIZE,
        ..FsOptions::default()
    };
    let fs = Arc::new(
        Fs::open(stack, options)
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
        log: args.log.clone(),
    };
    let dir = mounts::records_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let record_path = dir.join(record.file_name());
    std::fs::write(&record_path, record.to_text())
        .with_context(|| format!("cannot write {}", record_path.display()))?;
    Ok((fs, mount, record_path))
}

/// `secvol unmount T:` (or the folder, or the container file), `secvol unmount --all`.
pub fn unmount(args: &UnmountArgs) -> anyhow::Result<()> {
    let dialog = if args.gui {
        Some(Dialog::find()?)
    } else {
        None
    };
    let result = if args.all {
        mounts::live_records().iter().try_for_each(unmount_record)
    } else {
        let target = args
            .target
            .as_deref()
            .expect("clap requires a target without --all");
        match mounts::live_records()
            .into_iter()
            .find(|record| record.matches(target))
        {
            Some(record) => unmount_record(&record),
            None => Err(anyhow::anyhow!(
                "{} is not a mounted secvol container or drive ('secvol list' shows them)",
                target.display()
            )),
        }
    };
    match (&dialog, &result) {
        (Some(dialog), Ok(())) => {
            let _ = dialog.message(
                MessageKind::Info,
                "Safe to remove",
                "The container is closed and every change is written into it.\n\nIt is now \
                 safe to remove the drive.",
            );
        }
        (Some(dialog), Err(err)) => show_error(dialog, "Not dismounted", err),
        (None, _) => {}
    }
    result
}

/// Ask the daemon of `record` to stop, and wait until it has written everything.
fn unmount_record(record: &MountRecord) -> anyhow::Result<()> {
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
    let records = mounts::live_records();
    if records.is_empty() {
        println!("No secvol container is mounted.");
        return Ok(());
    }
    let rows = records
        .into_iter()
        .map(|record| MountRow {
            container: record.container,
            mountpoint: record.mountpoint,
            read_only: record.read_only,
            log: record.log,
            pid: Some(record.pid),
        })
        .collect::<Vec<_>>();
    print_mounts(&rows);
    Ok(())
}
