//! `secvol-fuse`: the FUSE driver of secvol (Linux, and macOS through macFUSE).
//!
//! Owns the translation of kernel FUSE requests into calls on [`secvol_fs::Fs`] (through the
//! `fuser` crate), the errno of every file-system error (`errno.rs`, one exhaustive match),
//! the kernel connection settings (`max_write`, readahead, capabilities, cache lifetimes),
//! the mount options, the request threads, and mounting and unmounting.
//!
//! It must not know how files are stored or encrypted: no inode, directory or data logic
//! lives here (each callback parses the kernel's values, calls one `Fs` method and replies),
//! and nothing here touches the container, keys or passwords. Opening and closing the `Fs` is
//! the caller's job (the CLI): [`mount`] borrows a shared `Fs`, [`Mount::wait`] returns once
//! the kernel is done with it.
//!
//! # Platforms
//!
//! Built and tested on Linux (fuser's pure-Rust mount, `fusermount3` for auto-unmount and for
//! non-root users). The macOS paths are written against fuser's macOS API and type-checked
//! in CI (clippy for x86_64- and aarch64-apple-darwin, docs/platforms.md) but never run:
//! `getxtimes`, the `renamex_np` flag values (`RENAME_EXCL`, `RENAME_SWAP`), `unmount(2)`
//! instead of `umount2(2)`, and the single-threaded session (fuser allows several request
//! threads only on Linux). macOS also
//! gets fuser's fixed INIT flags, which include `FUSE_CASE_INSENSITIVE` although the file
//! system is case-sensitive; fuser offers no way to drop it.
//!
//! # Threads
//!
//! On Linux, `MountOptions::threads` request loops (fuser's `n_threads`), each reading the
//! kernel device through its own cloned descriptor (`clone_fd`), so reads, writes and lookups
//! are handled in parallel; `Fs` is thread-safe.

// FUSE exists on Linux and macOS only: elsewhere this crate is empty (Windows mounts through
// drivers/winfsp).
#![cfg(unix)]

mod adapter;
mod caller;
mod convert;
mod errno;
mod unmount;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fuser::{Config, MountOption, Session, SessionACL};
use secvol_fs::Fs;

/// How to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Let other users use the mount (`allow_other`; a normal user needs `user_allow_other`
    /// in `/etc/fuse.conf`). Without it only the mounting user (and root, see [`mount`]) can.
    pub allow_other: bool,
    /// Source shown in the mount table (`fsname`), e.g. the container's path.
    pub fs_name: String,
    /// Request threads (Linux; macOS always uses one). At least 1.
    pub threads: usize,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            allow_other: false,
            fs_name: "secvol".to_owned(),
            threads: 4,
        }
    }
}

/// Escape `,` and `\` in an option value: fusermount3 and libfuse split `-o` on commas.
fn escape_option_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == ',' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// fuser's configuration for `options`, read-only or not, with or without auto-unmount.
fn config(options: &MountOptions, read_only: bool, auto_unmount: bool) -> Config {
    let mut mount_options = vec![
        MountOption::FSName(escape_option_value(&options.fs_name)),
        MountOption::Subtype("secvol".to_owned()),
        // The kernel checks permissions against the mode bits, as on a local file system.
        MountOption::DefaultPermissions,
        MountOption::NoDev,
        MountOption::NoSuid,
        if read_only {
            MountOption::RO
        } else {
            MountOption::RW
        },
    ];
    if auto_unmount {
        mount_options.push(MountOption::AutoUnmount);
    }
    let mut config = Config::default();
    config.mount_options = mount_options;
    config.acl = if options.allow_other {
        SessionACL::All
    } else if auto_unmount {
        // fusermount3 only auto-unmounts with allow_other (or allow_root) on the kernel
        // mount; fuser then refuses requests from anyone but the owner and root itself.
        SessionACL::RootAndOwner
    } else {
        SessionACL::Owner
    };
    let threads = options.threads.max(1);
    if cfg!(target_os = "linux") {
        config.n_threads = Some(threads);
        config.clone_fd = threads > 1;
    } else {
        config.n_threads = Some(1);
    }
    config
}

/// Mount `fs` on `mountpoint`; returns once the kernel mount is in place and the kernel's
/// INIT has been answered, with the request threads running.
///
/// Mount options: `fsname=<fs_name>`, `subtype=secvol` (type `fuse.secvol` in the mount
/// table), `default_permissions`, `nodev`, `nosuid`, `ro` (when `fs` was opened read-only) or
/// `rw`, `allow_other` if asked.
///
/// On Linux the mount also asks for `auto_unmount`: fusermount3 stays in the background and
/// unmounts when this process dies (a killed daemon leaves no "Transport endpoint is not
/// connected" mount behind). fusermount3 accepts `auto_unmount` only together with
/// `allow_other` on the kernel mount, so fuser then filters requests itself and serves only
/// the mounting user and root (what `allow_root` would mean). A normal user may set
/// `allow_other` only if `/etc/fuse.conf` has `user_allow_other`; without it the mount is
/// retried without `auto_unmount` (and logged), visible to the mounting user only.
/// As root it always works (fusermount3 is needed for it, from the fuse3 package).
pub fn mount(fs: Arc<Fs>, mountpoint: &Path, options: &MountOptions) -> io::Result<Mount> {
    let mountpoint = mountpoint.canonicalize()?;
    let auto_unmount = cfg!(target_os = "linux");
    let read_only = fs.is_read_only();
    let activity = Arc::new(Activity::new());
    let session = match Session::new(
        adapter::SecvolFuse::new(fs.clone(), Arc::clone(&activity)),
        &mountpoint,
        &config(options, read_only, auto_unmount),
    ) {
        Ok(session) => session,
        Err(err)
            if auto_unmount
                && matches!(
                    err.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::NotFound
                ) =>
        {
            log::warn!(
                "mounting with auto_unmount failed ({}); mounting without it: if this \
                 process is killed, run `fusermount3 -u {}`",
                err.to_string().trim(),
                mountpoint.display()
            );
            Session::new(
                adapter::SecvolFuse::new(fs, Arc::clone(&activity)),
                &mountpoint,
                &config(options, read_only, false),
            )?
        }
        Err(err) => return Err(err),
    };
    let ended = Arc::new(AtomicBool::new(false));
    let thread = {
        let ended = ended.clone();
        std::thread::Builder::new()
            .name("secvol-fuse".to_owned())
            .spawn(move || {
                let result = session.run();
                ended.store(true, Ordering::SeqCst);
                result
            })?
    };
    log::info!("mounted on {}", mountpoint.display());
    #[cfg(target_os = "linux")]
    widen_readahead(&mountpoint);
    Ok(Mount {
        thread: Some(thread),
        unmounter: Unmounter {
            inner: Arc::new(UnmounterInner { mountpoint, ended }),
        },
        activity,
    })
}

/// When a mount was last used: the time of the last request from the kernel (other than
/// `statfs`), for idle timeouts.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Milliseconds after `start` of the last request.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn note(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// How long since the last request (since the mount, if none came).
    pub fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Readahead window of a mount, in KiB: as large as one request may be (`max_write`), so a
/// sequential read arrives in 1 MiB requests instead of the kernel's default 128 KiB. Measured
/// on a cold 1 GiB `dd`: 360 → 465 MB/s (docs/benchmarks.md).
pub const READ_AHEAD_KIB: u32 = 1024;

/// Set the mount's readahead window (`/sys/class/bdi/MAJOR:MINOR/read_ahead_kb`). The kernel
/// starts a FUSE mount at 128 KiB and only lets root change it, so for other users this logs
/// and leaves it.
#[cfg(target_os = "linux")]
fn widen_readahead(mountpoint: &Path) {
    use std::os::unix::fs::MetadataExt;
    // The stat goes through the new mount to this process's own request threads.
    let result = std::fs::metadata(mountpoint).and_then(|meta| {
        let dev = meta.dev();
        let path = format!(
            "/sys/class/bdi/{}:{}/read_ahead_kb",
            libc::major(dev),
            libc::minor(dev)
        );
        std::fs::write(&path, READ_AHEAD_KIB.to_string())
    });
    if let Err(err) = result {
        log::debug!("readahead of the mount left at the kernel's default: {err}");
    }
}

/// A mounted file system. Dropping it without [`Mount::wait`] tries a clean unmount and waits
/// for the request threads if that worked (otherwise it logs and leaves them running).
#[derive(Debug)]
pub struct Mount {
    thread: Option<JoinHandle<io::Result<()>>>,
    unmounter: Unmounter,
    activity: Arc<Activity>,
}

impl Mount {
    /// Block until the file system is unmounted (`fusermount3 -u` or `umount` from outside,
    /// or [`Unmounter::unmount`]). Does not close the `Fs`: the caller then calls
    /// `fs.close()`. Returns the session's error, if it ended with one.
    pub fn wait(mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(thread) => join(thread),
            None => Ok(()),
        }
    }

    /// A handle that unmounts from any thread.
    pub fn unmounter(&self) -> Unmounter {
        self.unmounter.clone()
    }

    /// When the mount was last used, readable from any thread.
    pub fn activity(&self) -> Arc<Activity> {
        Arc::clone(&self.activity)
    }

    /// The (canonical) mount point.
    pub fn mountpoint(&self) -> &Path {
        self.unmounter.mountpoint()
    }
}

fn join(thread: JoinHandle<io::Result<()>>) -> io::Result<()> {
    thread
        .join()
        .map_err(|_| io::Error::other("the FUSE session thread panicked"))?
}

impl Drop for Mount {
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        match self.unmounter.unmount() {
            Ok(()) => {
                if let Err(err) = join(thread) {
                    log::warn!("FUSE session ended with an error: {err}");
                }
            }
            Err(err) => log::error!(
                "could not unmount {} ({err}); its request threads keep running",
                self.unmounter.mountpoint().display()
            ),
        }
    }
}

/// Asks the kernel to unmount; [`Mount::wait`] then returns. Cheap to clone, `Send + Sync`,
/// usable from a signal-handling thread.
#[derive(Debug, Clone)]
pub struct Unmounter {
    inner: Arc<UnmounterInner>,
}

#[derive(Debug)]
struct UnmounterInner {
    mountpoint: PathBuf,
    /// Set when the session has ended: the mount point may by then hold another mount,
    /// which must not be unmounted.
    ended: Arc<AtomicBool>,
}

impl Unmounter {
    /// Unmount cleanly (not lazily): `umount2(2)` as root, `fusermount3 -u` otherwise. Fails
    /// with `ErrorKind::ResourceBusy` while a program still uses the mount (open files, a
    /// working directory inside), leaving it mounted. Succeeds if already unmounted.
    pub fn unmount(&self) -> io::Result<()> {
        if self.inner.ended.load(Ordering::SeqCst) {
            return Ok(());
        }
        unmount::unmount(&self.inner.mountpoint)
    }

    /// Detach the mount at once even while programs use it (`umount2(MNT_DETACH)` as root,
    /// `fusermount3 -u -z` otherwise): it disappears for new users, and [`Mount::wait`]
    /// returns once the programs holding files inside have closed them. For a container whose
    /// drive is gone, where waiting for a clean unmount could hang.
    pub fn unmount_lazily(&self) -> io::Result<()> {
        if self.inner.ended.load(Ordering::SeqCst) {
            return Ok(());
        }
        unmount::unmount_lazily(&self.inner.mountpoint)
    }

    /// The (canonical) mount point.
    pub fn mountpoint(&self) -> &Path {
        &self.inner.mountpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_in_the_source_name_are_escaped() {
        assert_eq!(
            escape_option_value(r"/media/usb/a,b\c.sec"),
            r"/media/usb/a\,b\\c.sec"
        );
    }

    #[test]
    fn options_are_private_unless_asked() {
        let options = MountOptions::default();
        let with_auto = config(&options, false, true);
        assert!(with_auto.mount_options.contains(&MountOption::AutoUnmount));
        assert!(
            with_auto
                .mount_options
                .contains(&MountOption::DefaultPermissions)
        );
        assert_eq!(with_auto.acl, SessionACL::RootAndOwner);
        assert_eq!(config(&options, false, false).acl, SessionACL::Owner);
        let shared = MountOptions {
            allow_other: true,
            ..MountOptions::default()
        };
        let shared = config(&shared, true, true);
        assert_eq!(shared.acl, SessionACL::All);
        assert!(shared.mount_options.contains(&MountOption::RO));
    }
}
