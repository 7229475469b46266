//! The mount daemon: `secvol serve-mount CONTAINER MOUNTPOINT`, started by `secvol mount`
//! (`mount.rs`) with the password on its standard input.
//!
//! It unlocks the container (taking its lock), opens the file system, mounts it through
//! `secvol-fuse` and reports `ready` (or `error CODE TEXT`) on its standard output. Then it
//! serves until the file system is unmounted (`secvol unmount`, `fusermount3 -u`), it receives
//! SIGTERM, SIGINT or SIGHUP (it then unmounts itself), or one of the automatic dismounts of
//! `auto_dismount.rs` fires; either way it commits everything durably before it exits. If it is
//! killed outright, FUSE's auto-unmount removes the dead mount and the container's lock dies
//! with the process.
//!
//! Its log (no secrets: operations, inode numbers, errors) goes to the file given with `--log`
//! (`state.rs`), which `secvol list` reads to show the mount's health.
//!
//! FUSE's auto-unmount needs `allow_other`, which a normal user gets only with
//! `user_allow_other` in /etc/fuse.conf (not the default on Debian, Ubuntu or Fedora), so a
//! normal user's killed daemon would leave a dead mount ("Transport endpoint is not
//! connected"). The daemon therefore starts a reaper, `secvol reap-mount MOUNTPOINT`, in its
//! own process group, holding the read end of a pipe whose write end only the daemon has: when
//! the daemon ends, however it ends, the reaper reads end-of-file, and if the mount is still
//! there without a daemon it detaches it (`fusermount3 -u -z`) and says so in the log.

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secvol_core::{Access, DeviceMode, DeviceStack};
use secvol_fs::{Fs, FsOptions};
use secvol_fuse::MountOptions;

use super::{header_warning, open_container};
use crate::auto_dismount::{self, HostFile, Watch};
use crate::credentials;
use crate::mounts;
use crate::password::{self, PasswordSource};
use crate::{ReapMountArgs, ServeMountArgs, exit};

/// The storage engine's page cache in the mount daemon. With the default (256 MiB) the
/// daemon peaked at 521 MiB during an untar of the Linux tree (docs/benchmarks.md); the
/// daemon must stay within 512 MiB whatever the work, so mounts use less (the dirty limit
/// follows: a quarter of it).
const MOUNT_CACHE_SIZE: usize = 192 << 20;

/// The daemon: `secvol serve-mount CONTAINER MOUNTPOINT` with the password on stdin.
pub fn run(args: &ServeMountArgs) -> anyhow::Result<()> {
    if !secvol_core::secret::disable_core_dumps() {
        log::warn!("could not disable core dumps for the mount daemon");
    }
    // Installed before mounting: a signal that arrives while the mount is being set up (a
    // Ctrl-C right after the folder appears) waits in the queue and unmounts cleanly once
    // the unmounter exists, instead of killing the daemon with changes unwritten.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .context("cannot install the signal handlers")?;
    let mut status = io::stdout().lock();
    let mut report = |line: &str| {
        // The caller may be gone (it stopped waiting): nothing more to tell then.
        let _ = writeln!(status, "{line}").and_then(|()| status.flush());
    };
    let mounted = match start(args, &mut report) {
        Ok(mounted) => mounted,
        Err(err) => {
            let code = exit::exit_code(&err);
            report(&format!("error {code} {}", exit::one_line(&err)));
            return Err(err);
        }
    };
    let (fs, mount, host) = mounted;
    log::info!(
        "mounted {} on {} ({}), daemon pid {}",
        args.container.display(),
        args.mountpoint.display(),
        if args.read_only {
            "read-only"
        } else {
            "read-write"
        },
        std::process::id()
    );
    report("ready");
    drop(status);
    // Kept open until this process ends: its end-of-file wakes the reaper.
    let _reaper = spawn_reaper(mount.mountpoint(), args.log.as_deref());

    let unmounter = mount.unmounter();
    {
        let unmounter = unmounter.clone();
        std::thread::spawn(move || {
            for signal in signals.forever() {
                log::info!("signal {signal}: unmounting");
                if let Err(err) = unmounter.unmount() {
                    log::error!("cannot unmount: {err}");
                }
            }
        });
    }
    let watching = auto_dismount::start(Watch {
        container: args.container.clone(),
        host,
        mountpoint: mount.mountpoint().to_path_buf(),
        idle_timeout: args.idle_timeout_secs.map(Duration::from_secs),
        activity: mount.activity(),
        unmounter,
        flush: {
            let fs = Arc::clone(&fs);
            Arc::new(move || Ok(fs.sync()?))
        },
    });

    let served = mount.wait();
    drop(watching);
    // No grow may start (or still run) while the file system closes; this also drops the
    // channel's references to the file system (control.rs).
    crate::control::shut_down();
    let closed = fs.close();
    if let Err(err) = &served {
        log::error!("the FUSE session ended with an error: {err}");
    }
    match closed {
        Ok(()) => {
            log::info!("unmounted; the container is closed");
            Ok(())
        }
        Err(err) => {
            log::error!("writing the last changes to the container failed: {err}");
            Err(anyhow::Error::from(err)
                .context("writing the last changes to the container failed"))
        }
    }
}

/// Unlock, open and mount; header warnings go to `report`. Also notes which file the
/// container is, for the watchers.
fn start(
    args: &ServeMountArgs,
    report: &mut dyn FnMut(&str),
) -> anyhow::Result<(Arc<Fs>, secvol_fuse::Mount, Option<HostFile>)> {
    let access = if args.read_only {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let unlocked = if args.credentials {
        // A keyfile or a recovery key: credential lines on stdin (credentials.rs).
        let secrets = credentials::read_handoff(&mut io::stdin().lock())?;
        let container = open_container(&args.container, access)?;
        container.unlock_with(&secrets.credentials())?
    } else {
        let password = password::read_password(&PasswordSource::Stdin, "")?;
        let container = open_container(&args.container, access)?;
        container.unlock(&password)?
    };
    let host = HostFile::new(&args.container);
    if let Some(warning) = header_warning(
        &args.container,
        unlocked.header_status(),
        Some(unlocked.opened_from_backup()),
    ) {
        log::warn!("{warning}");
        report(&format!("warning: {warning}"));
    }
    let device = Arc::new(unlocked.open_device(args.read_only)?);
    // The master key is dropped; the open file stays for grow requests (control.rs).
    let container = unlocked.relock()?;
    let device_for_control = Arc::clone(&device);
    let stack = DeviceStack::build(
        device,
        if args.read_only {
            DeviceMode::ReadOnly
        } else {
            DeviceMode::ReadWrite
        },
    )
    .context("cannot start the container's threads")?;
    let options = FsOptions {
        cache_size: MOUNT_CACHE_SIZE,
        ..FsOptions::default()
    };
    let fs = Arc::new(
        Fs::open(stack, options)
            .with_context(|| format!("cannot open the files in {}", args.container.display()))?,
    );
    let mount_options = MountOptions {
        allow_other: args.allow_other,
        fs_name: args.container.display().to_string(),
        ..MountOptions::default()
    };
    // Before the mount appears, so that "ready" follows it at once.
    if !args.read_only {
        let grower = crate::control::Grower {
            container,
            device: device_for_control,
            fs: Arc::clone(&fs),
        };
        if let Err(err) = crate::control::listen(grower) {
            log::warn!("no control channel (growing while mounted will not work): {err}");
        }
    } else {
        drop(container);
    }
    let mount = secvol_fuse::mount(Arc::clone(&fs), &args.mountpoint, &mount_options)
        .with_context(|| format!("cannot mount on {}", args.mountpoint.display()))
        .inspect_err(|_| crate::control::shut_down())?;
    Ok((fs, mount, host))
}

/// Start `secvol reap-mount MOUNTPOINT` in its own process group; the returned pipe end must
/// stay open for as long as the daemon lives.
fn spawn_reaper(mountpoint: &Path, log: Option<&Path>) -> Option<ChildStdin> {
    let exe = std::env::current_exe().ok()?;
    let mut command = Command::new(exe);
    command
        .arg("reap-mount")
        .arg(mountpoint)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(log) = log {
        command.arg("--log").arg(log);
    }
    // Not in the daemon's process group: a signal to the group must not take the reaper too.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    match command.spawn() {
        Ok(mut child) => child.stdin.take(),
        Err(err) => {
            log::warn!(
                "cannot start the helper that removes the mount if this process is killed: {err}"
            );
            None
        }
    }
}

/// The reaper: wait until the daemon is gone, then remove its mount if it is still there.
pub fn reap(args: &ReapMountArgs) -> anyhow::Result<()> {
    // Returns when the daemon's end of the pipe closes: when the daemon ends.
    let mut sink = [0u8; 64];
    while io::stdin().read(&mut sink).is_ok_and(|n| n > 0) {}
    // A daemon that ended normally unmounted first; give a detach in progress a moment.
    for _ in 0..20 {
        let Some(entry) = mounts::find_mount(&args.mountpoint) else {
            return Ok(());
        };
        if entry.mountpoint != args.mountpoint || mounts::daemon_pid(&args.mountpoint).is_some() {
            // Another container mounted there since, with a daemon of its own.
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    log::error!(
        "the mount daemon ended without unmounting (was it killed?); removing the dead mount {}",
        args.mountpoint.display()
    );
    let unmounted = Command::new("fusermount3")
        .args(["-u", "-z", "--"])
        .arg(&args.mountpoint)
        .stdin(Stdio::null())
        .status()
        .or_else(|_| {
            Command::new("umount")
                .arg("-l")
                .arg(&args.mountpoint)
                .stdin(Stdio::null())
                .status()
        });
    match unmounted {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => anyhow::bail!("removing the dead mount failed ({status})"),
        Err(err) => Err(anyhow::Error::from(err).context("cannot run fusermount3 or umount")),
    }
}
