//! Dismounting without being asked, in the mount daemon: after an idle timeout, when the
//! container's file or drive disappears, and when the computer is about to sleep.
//!
//! * **Idle** (`mount --idle-timeout`): no request from the kernel (other than `statfs`) for
//!   that long, and no program holding a file or folder inside: a clean unmount. While a
//!   program holds something open the mount stays (an idle editor must not lose its file);
//!   it is logged once.
//! * **Drive gone**: every second the container's path is checked: still there, still the
//!   same file, its block device still present (`/sys/dev/block/MAJ:MIN`), and its first
//!   block still readable from the device itself (`O_DIRECT`, where the file system allows
//!   it). When any of that fails (removed, replaced, EIO, ENODEV, ENXIO) the file system is
//!   flushed — in a helper thread, waited for at most [`FLUSH_TIMEOUT`], so a dead device
//!   cannot hang the daemon — and the mount is detached lazily (programs holding files get
//!   errors, new ones find the folder empty). The daemon then ends.
//! * **Sleep** (Linux desktops with logind): `gdbus monitor` on the system bus reports
//!   logind's `PrepareForSleep(true)`; everything is flushed, then the mount is unmounted
//!   cleanly if no program holds files inside (otherwise it stays mounted, fully written,
//!   and that is logged). macOS and Windows do not tell us here yet.
//!
//! This module decides *when*; it does not know how the file system or the FUSE session work:
//! it calls the flush function and the unmounter it is given.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::duration::duration_text;
use crate::mounts;

/// How often the host file and idleness are checked.
const POLL: Duration = Duration::from_secs(1);
/// How long a flush may take when the drive is gone before the mount is detached anyway.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes every change so far durable (the file system's sync).
pub type Flush = Arc<dyn Fn() -> anyhow::Result<()> + Send + Sync>;

/// What the watchers need from the daemon.
pub struct Watch {
    /// The container file (absolute).
    pub container: PathBuf,
    /// The container file as it was when the daemon opened it ([`HostFile::new`], taken
    /// before the mount is reported ready: by the time the watchers start, it may be gone).
    pub host: Option<HostFile>,
    /// The mount point (canonical).
    pub mountpoint: PathBuf,
    /// `--idle-timeout`.
    pub idle_timeout: Option<Duration>,
    /// When the mount was last used.
    pub activity: Arc<secvol_fuse::Activity>,
    /// Unmounts the mount.
    pub unmounter: secvol_fuse::Unmounter,
    /// Flushes the file system.
    pub flush: Flush,
}

/// The `gdbus monitor` process, shared by its reader thread (which reaps it if it ends by
/// itself) and [`Watching`] (which ends it).
type Monitor = Arc<Mutex<Option<Child>>>;

/// The running watchers; dropping it stops them.
pub struct Watching {
    stop: Arc<(Mutex<bool>, Condvar)>,
    suspend_monitor: Monitor,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
        end_monitor(&self.suspend_monitor, true);
    }
}

/// Reap the monitor process (killing it first if `kill`).
fn end_monitor(monitor: &Monitor, kill: bool) {
    let mut monitor = monitor.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(mut child) = monitor.take() {
        if kill {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

/// Start the watchers.
pub fn start(mut watch: Watch) -> Watching {
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let host = watch.host.take();
    let watch = Arc::new(watch);
    {
        let watch = Arc::clone(&watch);
        let stop = Arc::clone(&stop);
        let spawned = std::thread::Builder::new()
            .name("secvol-watch".into())
            .spawn(move || watchdog(&watch, host, &stop));
        if let Err(err) = spawned {
            log::error!("cannot start the thread that watches the container's drive: {err}");
        }
    }
    let suspend_monitor = start_suspend_monitor(&watch);
    Watching {
        stop,
        suspend_monitor,
    }
}

/// Wait one poll interval; `true` when asked to stop.
fn stopped(stop: &(Mutex<bool>, Condvar), wait: Duration) -> bool {
    let (lock, cvar) = stop;
    let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
    let (guard, _) = cvar
        .wait_timeout_while(guard, wait, |stopped| !*stopped)
        .unwrap_or_else(|p| p.into_inner());
    *guard
}

fn watchdog(watch: &Watch, mut host: Option<HostFile>, stop: &(Mutex<bool>, Condvar)) {
    let mut told_busy = false;
    while !stopped(stop, POLL) {
        if let Some(reason) = host.as_mut().and_then(HostFile::check) {
            drive_gone(watch, &reason);
            return;
        }
        let Some(timeout) = watch.idle_timeout else {
            continue;
        };
        if watch.activity.idle_for() < timeout {
            told_busy = false;
            continue;
        }
        let holders = mounts::holders(&watch.mountpoint, &[]);
        if !holders.is_empty() {
            if !told_busy {
                log::info!(
                    "not used for {}, but files are open in it by {}: staying mounted until \
                     they are closed",
                    duration_text(timeout),
                    holder_names(&holders)
                );
                told_busy = true;
            }
            continue;
        }
        log::info!("not used for {}: dismounting", duration_text(timeout));
        match watch.unmounter.unmount() {
            Ok(()) => return,
            Err(err) => log::info!("the idle dismount has to wait: {err}"),
        }
    }
}

fn holder_names(holders: &[(u32, String)]) -> String {
    holders
        .iter()
        .map(|(pid, name)| format!("{name} (pid {pid})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The container's drive or file is gone: flush what can be, then detach.
fn drive_gone(watch: &Watch, reason: &str) {
    log::error!(
        "{}: {reason}; writing what can be written and dismounting",
        watch.container.display()
    );
    if !flush_within(&watch.flush, FLUSH_TIMEOUT) {
        log::error!(
            "the last changes could not be written within {} s; dismounting anyway",
            FLUSH_TIMEOUT.as_secs()
        );
    }
    if let Err(err) = watch.unmounter.unmount_lazily() {
        log::error!("cannot detach {}: {err}", watch.mountpoint.display());
    }
}

/// Run `flush` in a helper thread and wait for it at most `timeout`: `true` if it succeeded
/// in time. A flush stuck on a dead device is left behind; the process ends without it.
fn flush_within(flush: &Flush, timeout: Duration) -> bool {
    let (sender, receiver) = std::sync::mpsc::channel();
    let flush = Arc::clone(flush);
    let spawned = std::thread::Builder::new()
        .name("secvol-flush".into())
        .spawn(move || {
            let _ = sender.send(flush());
        });
    if spawned.is_err() {
        return false;
    }
    match receiver.recv_timeout(timeout) {
        Ok(Ok(())) => true,
        Ok(Err(err)) => {
            log::error!("writing the last changes failed: {err}");
            false
        }
        Err(_) => false,
    }
}

/// The container file as it was when mounted, to tell when it or its drive disappears.
pub struct HostFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
    /// Whether reading the first block with `O_DIRECT` works on this file system (tmpfs, for
    /// one, refuses it; then only the other checks run).
    probe_direct: bool,
}

impl HostFile {
    /// Note which file `path` is now; `None` if it cannot be read.
    pub fn new(path: &Path) -> Option<HostFile> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        let mut host = HostFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
            probe_direct: true,
        };
        if host.read_first_block_directly().is_err() {
            host.probe_direct = false;
        }
        Some(host)
    }

    /// Why the container is gone, or `None` while it is there.
    fn check(&mut self) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(&self.path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Some("the container file is gone (removed, or its drive unplugged)".into());
            }
            Err(err) => return Some(format!("the container file cannot be reached ({err})")),
            Ok(meta) if (meta.dev(), meta.ino()) != (self.dev, self.ino) => {
                return Some("the container file was replaced by another file".into());
            }
            Ok(_) => {}
        }
        if let Some(device) = block_device_dir(self.dev)
            && !device.exists()
        {
            return Some("the container's drive is gone".into());
        }
        if self.probe_direct
            && let Err(err) = self.read_first_block_directly()
        {
            match err.raw_os_error() {
                Some(libc::EIO | libc::ENODEV | libc::ENXIO | libc::ESTALE) => {
                    return Some(format!("the container's drive fails ({err})"));
                }
                _ => {
                    log::debug!("direct reads of the container stopped working ({err})");
                    self.probe_direct = false;
                }
            }
        }
        None
    }

    /// Read the first 4 KiB from the device, bypassing the page cache, which would keep
    /// answering from memory after the drive is gone.
    fn read_first_block_directly(&self) -> std::io::Result<()> {
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        const BLOCK: usize = 4096;
        #[cfg(target_os = "linux")]
        let flags = libc::O_DIRECT;
        #[cfg(not(target_os = "linux"))]
        let flags = 0;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(&self.path)?;
        // O_DIRECT wants a buffer aligned to the block size.
        let mut buffer = vec![0u8; 2 * BLOCK];
        let start = buffer.as_ptr().align_offset(BLOCK);
        file.read_exact_at(&mut buffer[start..start + BLOCK], 0)
    }
}

/// `/sys/dev/block/MAJOR:MINOR` of the block device holding a file, when it has one
/// (major 0 is a file system without a device: tmpfs, overlay, FUSE).
#[cfg(target_os = "linux")]
fn block_device_dir(dev: u64) -> Option<PathBuf> {
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    (major != 0).then(|| PathBuf::from(format!("/sys/dev/block/{major}:{minor}")))
}

/// Elsewhere the host file's device is not watched (no /sys).
#[cfg(not(target_os = "linux"))]
fn block_device_dir(_dev: u64) -> Option<PathBuf> {
    None
}

/// Whether a line of `gdbus monitor` output is logind announcing sleep.
fn announces_sleep(line: &str) -> bool {
    line.contains("org.freedesktop.login1.Manager.PrepareForSleep") && line.contains("(true")
}

/// Watch logind's sleep announcements through `gdbus monitor`, if there is one.
fn start_suspend_monitor(watch: &Arc<Watch>) -> Monitor {
    let monitor = Monitor::default();
    if !cfg!(target_os = "linux") {
        return monitor;
    }
    let Some(gdbus) = crate::dialog::find_program("gdbus") else {
        return monitor;
    };
    let mut command = Command::new(gdbus);
    command
        .args([
            "monitor",
            "--system",
            "--dest",
            "org.freedesktop.login1",
            "--object-path",
            "/org/freedesktop/login1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    crate::sys::end_with_parent(&mut command);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            log::debug!("no sleep announcements: cannot run gdbus ({err})");
            return monitor;
        }
    };
    let Some(stdout) = child.stdout.take() else {
        return monitor;
    };
    *monitor.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
    let watch = Arc::clone(watch);
    let reaped = Arc::clone(&monitor);
    let spawned = std::thread::Builder::new()
        .name("secvol-sleep".into())
        .spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if announces_sleep(&line) {
                    before_sleep(&watch);
                }
            }
            // No system bus, no logind: gdbus ends at once. Reap it.
            end_monitor(&reaped, false);
        });
    if let Err(err) = spawned {
        log::error!("cannot start the thread that watches for sleep: {err}");
    }
    monitor
}

/// The computer is about to sleep: write everything, then unmount if nothing is open inside.
fn before_sleep(watch: &Watch) {
    log::info!("the computer is going to sleep: writing everything and dismounting");
    if !flush_within(&watch.flush, FLUSH_TIMEOUT) {
        log::error!("the last changes could not be written before sleep");
    }
    let holders = mounts::holders(&watch.mountpoint, &[]);
    if !holders.is_empty() {
        log::warn!(
            "staying mounted through sleep: files are open in it by {} (everything so far is \
             written)",
            holder_names(&holders)
        );
        return;
    }
    if let Err(err) = watch.unmounter.unmount() {
        log::warn!("could not dismount before sleep: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logind_sleep_announcements_are_recognised() {
        assert!(announces_sleep(
            "/org/freedesktop/login1: org.freedesktop.login1.Manager.PrepareForSleep (true,)"
        ));
        assert!(!announces_sleep(
            "/org/freedesktop/login1: org.freedesktop.login1.Manager.PrepareForSleep (false,)"
        ));
        assert!(!announces_sleep(
            "/org/freedesktop/login1: org.freedesktop.login1.Manager.SessionNew ('3', '/x')"
        ));
    }

    #[test]
    fn a_removed_or_replaced_host_file_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sec");
        std::fs::write(&path, vec![7u8; 8192]).unwrap();
        let mut host = HostFile::new(&path).unwrap();
        assert_eq!(host.check(), None);
        std::fs::remove_file(&path).unwrap();
        assert!(host.check().unwrap().contains("gone"));
        std::fs::write(&path, vec![7u8; 8192]).unwrap();
        let replaced = host.check();
        // A new file may get the old inode number back on some file systems.
        if let Some(reason) = replaced {
            assert!(reason.contains("replaced"), "{reason}");
        }
    }

    #[test]
    fn a_stuck_flush_is_not_waited_for() {
        let stuck: Flush = Arc::new(|| {
            std::thread::sleep(Duration::from_secs(5));
            Ok(())
        });
        let start = std::time::Instant::now();
        assert!(!flush_within(&stuck, Duration::from_millis(100)));
        assert!(start.elapsed() < Duration::from_secs(2));
        let quick: Flush = Arc::new(|| Ok(()));
        assert!(flush_within(&quick, Duration::from_secs(5)));
        let failing: Flush = Arc::new(|| anyhow::bail!("disk gone"));
        assert!(!flush_within(&failing, Duration::from_secs(5)));
    }
}
