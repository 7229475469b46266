//! `secvol mount`, `unmount` (alias `dismount`), `list`: the side the user runs. The daemon
//! they start and stop is in `serve.rs`.
//!
//! `mount` reads the password, then starts the daemon — this same binary run as
//! `secvol serve-mount CONTAINER MOUNTPOINT` — and hands it the password through a pipe on
//! its standard input (never on a command line, never in an environment variable). The
//! daemon unlocks the container (taking its lock), opens the file system, mounts it through
//! `secvol-fuse`, and reports back on its standard output, line by line:
//! `warning: TEXT` (header warnings), then `ready` or `error CODE TEXT`. `mount` prints
//! them and returns with the daemon's verdict, so errors before readiness reach the caller
//! with their exit code. With `--foreground` the daemon stays attached to the terminal and
//! `mount` waits for it.
//!
//! With a password box (`--gui`, or no terminal), a wrong password is said in a message box
//! and the box asked again; the outcome ("open on ...", or the error in plain words) ends in a
//! message box too. A mount folder that `mount` created is removed again if the mount fails,
//! so nothing a script writes next can land unencrypted on the host disk.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secvol_core::{Access, Container, ContainerError};

use super::mount_common::{
    self, DaemonSecret, LogFile, MountRow, Started, Unlocking, print_mounts, show_error,
};
use super::{display_name, open_container};
use crate::credentials;
use crate::dialog::{self, Dialog, MessageKind};
use crate::error::CliError;
use crate::mounts::{self, DAEMON_SUBCOMMAND, MountEntry};
use crate::{MountArgs, UnmountArgs, exit};

/// glibc's limit on malloc arenas, set for the daemon (unless the user set it). By default
/// glibc gives each thread that allocates its own arena, up to 8 per core, and freed pages
/// stay in them: with the request threads, the writer and the read-ahead thread all moving
/// 64 KiB pages, the daemon peaked at 485–534 MiB in `bench/compare.sh`, 359 MiB with two
/// arenas (docs/benchmarks.md), at the same speed.
const MALLOC_ARENA_MAX: &str = "MALLOC_ARENA_MAX";
const DAEMON_MALLOC_ARENAS: &str = "2";

/// How long `unmount` waits, after the daemon ended, for the container's lock to be free.
const LOCK_RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `unmount` waits for the daemon to write everything and exit.
const DAEMON_EXIT_TIMEOUT: Duration = Duration::from_secs(600);

/// `secvol mount CONTAINER MOUNTPOINT`.
pub fn mount(args: &MountArgs) -> anyhow::Result<()> {
    mount_common::with_dialog(args, mount_with)
}

fn mount_with(args: &MountArgs, dialog: Option<&Dialog>) -> anyhow::Result<()> {
    let container_path = args.container.as_path();
    // Public header facts first: "not a container" and friends before any password prompt.
    let public = open_container(container_path, Access::HeaderOnly)?;
    let container = container_path
        .canonicalize()
        .with_context(|| format!("cannot open {}", container_path.display()))?;
    if let Some(entry) = mounts::find_mount(&container) {
        return Err(CliError::AlreadyMounted {
            container: container.clone(),
            mountpoint: entry.mountpoint,
        }
        .into());
    }
    check_fuse_helper()?;
    let mut mountpoint = MountFolder::prepare(&args.mountpoint, args.allow_non_empty)?;
    let name = display_name(container_path);

    let log = LogFile::create();
    let unlocking = Unlocking::new(
        args.password_file.as_deref(),
        &args.unlock,
        public.header(),
        dialog,
        &name,
        &mountpoint.path.display().to_string(),
    )?;
    drop(public);
    // With --foreground, Ctrl-C reaches the daemon too (same process group); it unmounts and
    // writes everything. This process only waits for it, so the signals must not end it
    // first — from the moment the daemon starts, not only once it is ready (the folder
    // appears a moment before the daemon says so).
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut attempt = 0;
    let (mut daemon, warnings) = loop {
        attempt += 1;
        let secret = unlocking.secret()?;
        if args.foreground && attempt == 1 {
            for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(signal, Arc::clone(&interrupted))
                    .context("cannot install the signal handlers")?;
            }
        }
        let daemon = spawn_daemon(
            args,
            &container,
            &mountpoint.path,
            secret,
            log.as_ref().map(|log| log.0.as_path()),
        )?;
        match daemon {
            Started::Ready(child, warnings) => break (child, warnings),
            Started::Failed { code, message } => {
                if unlocking.ask_again(code, attempt)? {
                    continue;
                }
                return Err(CliError::Reported { code, message }.into());
            }
        }
    };
    mountpoint.keep();
    if let Some(log) = log {
        log.keep();
    }

    let mode = if args.read_only {
        "read-only"
    } else {
        "read-write"
    };
    println!(
        "Mounted {} on {} ({mode}).",
        container.display(),
        mountpoint.path.display()
    );
    if !args.foreground {
        println!(
            "Unmount it before removing the drive: secvol unmount {}",
            super::shell_word(&mountpoint.path)
        );
        if let Some(dialog) = dialog {
            mount_common::show_mounted(
                dialog,
                &name,
                &mountpoint.path.display().to_string(),
                args.read_only,
                &warnings,
            );
        }
        return Ok(());
    }
    println!("Serving in the foreground; press Ctrl-C (or run 'secvol unmount') to unmount.");
    let status = daemon.wait()?;
    if status.success() {
        println!("Unmounted {}.", mountpoint.path.display());
        Ok(())
    } else {
        bail!("the mount daemon ended with {status}; run 'secvol check'");
    }
}

/// FUSE's setuid helper `fusermount3` (package fuse3) mounts for normal users, and gives
/// root's mounts their auto-unmount. A normal user cannot mount without it: say what to
/// install before asking anything. Root can (the kernel mount is made directly), but a killed
/// daemon then leaves a dead mount behind: warn.
fn check_fuse_helper() -> anyhow::Result<()> {
    if !cfg!(target_os = "linux") || dialog::find_program("fusermount3").is_some() {
        return Ok(());
    }
    if crate::sys::current_ctx().uid != 0 {
        bail!(
            "FUSE's helper program fusermount3 is not installed, and mounting needs it: install \
             the fuse3 package (apt-get install fuse3; dnf install fuse3)"
        );
    }
    eprintln!(
        "warning: fusermount3 is not installed (package fuse3): mounting without it, but if \
         the mount daemon is killed its folder stays as a dead mount until 'secvol unmount' \
         (or umount) removes it"
    );
    Ok(())
}

/// Start the daemon, hand it the password (or credentials), and wait for its verdict.
fn spawn_daemon(
    args: &MountArgs,
    container: &Path,
    mountpoint: &Path,
    secret: DaemonSecret<'_>,
    log: Option<&Path>,
) -> anyhow::Result<Started> {
    let exe = std::env::current_exe().context("cannot find the secvol program itself")?;
    let mut command = Command::new(exe);
    command
        .arg(DAEMON_SUBCOMMAND)
        .arg(container)
        .arg(mountpoint)
        // Paths are absolute; the daemon must not pin the folder it was started from (a USB
        // key's, say) for as long as it serves.
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if std::env::var_os(MALLOC_ARENA_MAX).is_none() {
        command.env(MALLOC_ARENA_MAX, DAEMON_MALLOC_ARENAS);
    }
    if args.read_only {
        command.arg("--read-only");
    }
    if args.allow_other {
        command.arg("--allow-other");
    }
    if let Some(log) = log {
        command.arg("--log").arg(log);
    }
    if matches!(secret, DaemonSecret::Credentials(_)) {
        command.arg(credentials::HANDOFF_FLAG);
    }
    if let Some(idle) = args.idle_timeout {
        command
            .arg("--idle-timeout-secs")
            .arg(idle.as_secs().to_string());
    }
    if args.foreground {
        command.stderr(Stdio::inherit());
    } else {
        // Its own process group: Ctrl-C in this terminal must not reach the daemon. Its log
        // goes to the log file.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command.stderr(Stdio::null());
    }
    let daemon = command.spawn().context("cannot start the mount daemon")?;
    mount_common::hand_over_and_wait(daemon, secret)
}

/// The mount point, and the folders `mount` created for it: removed again (if still empty)
/// unless the mount succeeded.
struct MountFolder {
    path: PathBuf,
    /// Folders created, innermost first.
    created: Vec<PathBuf>,
}

impl MountFolder {
    /// Make sure the mount point is a directory that is not a mount already and, unless
    /// `allow_non_empty`, is empty.
    fn prepare(mountpoint: &Path, allow_non_empty: bool) -> anyhow::Result<MountFolder> {
        let mut created = Vec::new();
        match std::fs::metadata(mountpoint) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => bail!("{}: not a directory", mountpoint.display()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                created = missing_ancestors(mountpoint);
                std::fs::create_dir_all(mountpoint).with_context(|| {
                    format!("cannot create the mount point {}", mountpoint.display())
                })?;
                eprintln!("Created the mount point {}", mountpoint.display());
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot use {}", mountpoint.display()));
            }
        }
        let mut folder = MountFolder {
            path: mountpoint.to_path_buf(),
            created,
        };
        folder.path = mountpoint
            .canonicalize()
            .with_context(|| format!("cannot use {}", mountpoint.display()))?;
        if let Some(entry) = mounts::find_mount(&folder.path) {
            bail!(
                "{} is already the mount point of {}",
                folder.path.display(),
                entry.container.display()
            );
        }
        let has_entries = std::fs::read_dir(&folder.path)
            .with_context(|| format!("cannot use {}", folder.path.display()))?
            .next()
            .is_some();
        if has_entries && !allow_non_empty {
            return Err(CliError::MountpointNotEmpty(folder.path.clone()).into());
        }
        Ok(folder)
    }

    /// The mount succeeded: keep the folders.
    fn keep(&mut self) {
        self.created.clear();
    }
}

impl Drop for MountFolder {
    fn drop(&mut self) {
        // remove_dir only removes empty folders, and never one that is (still) a mount point.
        for dir in &self.created {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

/// The folders of `path` that do not exist yet, innermost first.
fn missing_ancestors(path: &Path) -> Vec<PathBuf> {
    path.ancestors()
        .take_while(|dir| !dir.as_os_str().is_empty() && std::fs::symlink_metadata(dir).is_err())
        .map(Path::to_path_buf)
        .collect()
}

/// `secvol unmount MOUNTPOINT|CONTAINER`, `secvol unmount --all`.
pub fn unmount(args: &UnmountArgs) -> anyhow::Result<()> {
    if args.all {
        return unmount_all(args);
    }
    let target = args
        .target
        .as_deref()
        .expect("clap requires a target without --all");
    let dialog = if args.gui {
        Some(Dialog::find()?)
    } else {
        None
    };
    let result = unmount_target(target, args.force, dialog.is_some());
    match (&dialog, &result) {
        (Some(dialog), Ok(outcome)) => {
            let _ = dialog.message(MessageKind::Info, "Safe to remove", &outcome.gui_text());
        }
        (Some(dialog), Err(err)) => show_error(dialog, "Not dismounted", err),
        (None, _) => {}
    }
    result.map(|_| ())
}

/// What `unmount` found and did.
enum Unmounted {
    /// It was mounted; now unmounted and closed.
    Closed(MountEntry),
    /// It was not mounted, and the container is closed.
    WasNotMounted(PathBuf),
}

impl Unmounted {
    fn gui_text(&self) -> String {
        match self {
            Unmounted::Closed(entry) => format!(
                "{} is closed and every change is written into it.\n\nIt is now safe to remove \
                 the drive.",
                display_name(&entry.container)
            ),
            Unmounted::WasNotMounted(container) => format!(
                "{} is not mounted, and it is closed.\n\nIt is safe to remove the drive.",
                display_name(container)
            ),
        }
    }
}

/// Unmount `target`. A closed container that is not mounted is an error (exit code 1, as
/// scripts expect) unless `closed_is_success` (the message box of a dismount script, where
/// "it is closed, remove the drive" is the answer the user needs).
fn unmount_target(
    target: &Path,
    force: bool,
    closed_is_success: bool,
) -> anyhow::Result<Unmounted> {
    let Some(entry) = mounts::find_mount(target) else {
        // A daemon detached by someone else (umount, the file manager's eject) may still be
        // writing: in a message box, wait for it rather than answer "in use".
        let patience = if closed_is_success {
            Duration::from_secs(60)
        } else {
            Duration::ZERO
        };
        let closed = wait_closed_container(target, patience)?;
        if closed && closed_is_success {
            println!(
                "{} is not mounted, and it is closed: the drive can be removed.",
                target.display()
            );
            return Ok(Unmounted::WasNotMounted(target.to_path_buf()));
        }
        bail!(
            "{} is not a mounted secvol container or mount point ('secvol list' shows them){}",
            target.display(),
            if closed {
                "; it is a closed container: the drive can be removed"
            } else {
                ""
            }
        );
    };
    unmount_entry(&entry, force)?;
    Ok(Unmounted::Closed(entry))
}

/// [`is_closed_container`], retried for up to `patience` while the container is in use.
fn wait_closed_container(path: &Path, patience: Duration) -> anyhow::Result<bool> {
    let start = Instant::now();
    loop {
        match is_closed_container(path) {
            Err(err) if start.elapsed() < patience => {
                if !matches!(err.downcast_ref(), Some(ContainerError::InUse { .. })) {
                    return Err(err);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// Whether `path` is a container file that nothing has open: its lock can be taken. Not a
/// container (or not a file at all): `false`. A container that another process has open:
/// the "in use" error, naming it.
fn is_closed_container(path: &Path) -> anyhow::Result<bool> {
    if !path.is_file() {
        return Ok(false);
    }
    let open = match Container::open(path, Access::ReadWrite) {
        // A write-protected USB key or a read-only file: a shared lock tells as well.
        Err(ContainerError::Io(err))
            if matches!(
                err.kind(),
                io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Container::open(path, Access::ReadOnly)
        }
        other => other,
    };
    match open {
        Ok(_) => Ok(true),
        Err(err @ ContainerError::InUse { .. }) => Err(err.into()),
        Err(_) => Ok(false),
    }
}

/// Unmount one mount and wait until its daemon has closed the container.
fn unmount_entry(entry: &MountEntry, force: bool) -> anyhow::Result<()> {
    let daemon = mounts::daemon_pid(&entry.mountpoint);
    let holders = mounts::holders(&entry.mountpoint, &daemon.into_iter().collect::<Vec<_>>());
    if !holders.is_empty() && !force {
        let names: Vec<String> = holders
            .iter()
            .map(|(pid, name)| format!("{name} (pid {pid})"))
            .collect();
        return Err(CliError::MountBusy {
            mountpoint: entry.mountpoint.clone(),
            holders: names.join(", "),
        }
        .into());
    }
    detach(&entry.mountpoint, force)?;
    if let Some(pid) = daemon {
        let start = Instant::now();
        let mut told = false;
        while mounts::is_alive(pid) {
            if !told && start.elapsed() > Duration::from_secs(2) {
                eprintln!("Writing the last changes to the container...");
                told = true;
            }
            if start.elapsed() > DAEMON_EXIT_TIMEOUT {
                bail!(
                    "the mount daemon (pid {pid}) is still writing after {} s; do not remove the drive yet",
                    DAEMON_EXIT_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // The daemon's main thread can be gone while its last thread still holds the files, and
    // with them the container's lock (seen on a busy machine: a `check` right after
    // `unmount` found the container in use). "Closed" is said only once the lock is free.
    if let Err(err) = wait_closed_container(&entry.container, LOCK_RELEASE_TIMEOUT)
        && matches!(err.downcast_ref(), Some(ContainerError::InUse { .. }))
    {
        bail!(
            "{} is unmounted, but the container {} is still in use by a process after {} s; \
             do not remove the drive yet",
            entry.mountpoint.display(),
            entry.container.display(),
            LOCK_RELEASE_TIMEOUT.as_secs()
        );
    }
    println!(
        "Unmounted {}: {} is closed and the drive can be removed.",
        entry.mountpoint.display(),
        entry.container.display()
    );
    Ok(())
}

/// `secvol unmount --all`: every secvol mount of the calling user (root: of root, unless
/// `--all-users`). Goes on after a failure; the first failure decides the exit code.
fn unmount_all(args: &UnmountArgs) -> anyhow::Result<()> {
    let me = crate::sys::current_ctx().uid;
    if args.all_users && me != 0 {
        bail!("--all-users: only root can unmount other users' mounts");
    }
    let mine: Vec<MountEntry> = mounts::secvol_mounts()
        .into_iter()
        .filter(|entry| args.all_users || entry.owner == Some(me))
        .collect();
    if mine.is_empty() {
        println!(
            "{}",
            if args.all_users {
                "No secvol container is mounted."
            } else {
                "No secvol container of yours is mounted."
            }
        );
        return Ok(());
    }
    let mut first_error = None;
    let mut failed = 0;
    for entry in &mine {
        if let Err(err) = unmount_entry(entry, args.force) {
            eprintln!("error: {}", exit::one_line(&err));
            failed += 1;
            first_error.get_or_insert(err);
        }
    }
    let result = match first_error {
        None => Ok(()),
        Some(err) => Err(err.context(format!(
            "{failed} of {} mounts could not be unmounted",
            mine.len()
        ))),
    };
    if args.gui {
        let dialog = Dialog::find()?;
        match &result {
            Ok(()) => {
                let _ = dialog.message(
                    MessageKind::Info,
                    "Safe to remove",
                    &format!(
                        "{} container(s) closed and written.\n\nIt is now safe to remove the \
                         drive.",
                        mine.len()
                    ),
                );
            }
            Err(err) => show_error(&dialog, "Not dismounted", err),
        }
    }
    result
}

/// Ask the kernel to unmount (lazily with `force`: open files keep working until closed).
fn detach(mountpoint: &Path, force: bool) -> anyhow::Result<()> {
    let mut command = Command::new("fusermount3");
    command.arg("-u");
    if force {
        command.arg("-z");
    }
    let output = command
        .arg(mountpoint)
        .stdin(Stdio::null())
        .output()
        .or_else(|_| {
            // Without fusermount3 (macOS, or a minimal system as root): umount.
            let mut command = Command::new("umount");
            if force && cfg!(target_os = "linux") {
                command.arg("-l");
            } else if force {
                command.arg("-f");
            }
            command.arg(mountpoint).stdin(Stdio::null()).output()
        })
        .context("cannot run fusermount3 or umount")?;
    if !output.status.success() {
        bail!(
            "cannot unmount {}: {}",
            mountpoint.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// `secvol list`.
pub fn list() -> anyhow::Result<()> {
    let entries = mounts::secvol_mounts();
    if entries.is_empty() {
        println!("No secvol container is mounted.");
        return Ok(());
    }
    let rows = entries
        .iter()
        .map(|entry| {
            let daemon = mounts::daemon(&entry.mountpoint);
            MountRow {
                container: entry.container.clone(),
                mountpoint: entry.mountpoint.display().to_string(),
                read_only: entry.read_only,
                log: daemon.as_ref().and_then(|daemon| daemon.log.clone()),
                pid: daemon.map(|daemon| daemon.pid),
            }
        })
        .collect::<Vec<_>>();
    print_mounts(&rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_folder_that_was_created_is_removed_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/mnt");
        {
            let folder = MountFolder::prepare(&deep, false).unwrap();
            assert!(folder.path.is_dir());
        }
        assert!(!dir.path().join("a").exists(), "created folders were left");
        let mut folder = MountFolder::prepare(&deep, false).unwrap();
        folder.keep();
        drop(folder);
        assert!(deep.is_dir());
    }

    #[test]
    fn a_folder_with_files_is_refused_unless_allowed_and_never_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("note.txt"), "x").unwrap();
        let err = MountFolder::prepare(dir.path(), false)
            .err()
            .expect("a non-empty folder is refused");
        assert!(matches!(
            err.downcast_ref(),
            Some(CliError::MountpointNotEmpty(_))
        ));
        drop(MountFolder::prepare(dir.path(), true).unwrap());
        assert!(dir.path().join("note.txt").exists());
    }
}
