//! `secvol mount`, `unmount` (alias `dismount`), `list`, and the mount daemon.
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
//! The daemon ends when the file system is unmounted (`secvol unmount`, `fusermount3 -u`)
//! or on SIGTERM, SIGINT or SIGHUP (it then unmounts itself); either way it commits
//! everything durably before it exits. If it is killed outright, FUSE's auto-unmount removes
//! the dead mount and the container's lock dies with the process.

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::ExposeSecret;
use secvol_core::{Access, DeviceMode, DeviceStack};
use secvol_fs::{Fs, FsOptions};
use secvol_fuse::MountOptions;
use zeroize::Zeroizing;

use super::{display_name, header_warning, open_container};
use crate::credentials::{self, UnlockWith};
use crate::error::CliError;
use crate::mounts::{self, DAEMON_SUBCOMMAND};
use crate::password::{self, PasswordSource};
use crate::{MountArgs, ServeMountArgs, UnmountArgs, exit};

/// The storage engine's page cache in the mount daemon. With the default (256 MiB) the
/// daemon peaked at 521 MiB during an untar of the Linux tree (docs/benchmarks.md); the
/// daemon must stay within 512 MiB whatever the work, so mounts use less (the dirty limit
/// follows: a quarter of it).
const MOUNT_CACHE_SIZE: usize = 192 << 20;

/// glibc's limit on malloc arenas, set for the daemon (unless the user set it). By default
/// glibc gives each thread that allocates its own arena, up to 8 per core, and freed pages
/// stay in them: with the request threads, the writer and the read-ahead thread all moving
/// 64 KiB pages, the daemon peaked at 485–534 MiB in `bench/compare.sh`, 359 MiB with two
/// arenas (docs/benchmarks.md), at the same speed.
const MALLOC_ARENA_MAX: &str = "MALLOC_ARENA_MAX";
const DAEMON_MALLOC_ARENAS: &str = "2";

/// How long `unmount` waits for the daemon to write everything and exit.
const DAEMON_EXIT_TIMEOUT: Duration = Duration::from_secs(600);

/// `secvol mount CONTAINER MOUNTPOINT`.
pub fn mount(args: &MountArgs) -> anyhow::Result<()> {
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
    let mountpoint = prepare_mountpoint(&args.mountpoint)?;

    let with = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    let prompt = format!("Password for {}: ", display_name(container_path));
    // A keyfile or recovery key goes to the daemon as credential lines (credentials.rs).
    let handoff = if with.is_password_only() {
        None
    } else {
        Some(credentials::read_secrets(&with, public.header(), &prompt)?)
    };
    drop(public);
    let password = match handoff {
        None => Some(password::read_password(&with.password, &prompt)?),
        Some(_) => None,
    };

    let exe = std::env::current_exe().context("cannot find the secvol program itself")?;
    let mut command = Command::new(exe);
    command
        .arg(DAEMON_SUBCOMMAND)
        .arg(&container)
        .arg(&mountpoint)
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
    if handoff.is_some() {
        command.arg(credentials::HANDOFF_FLAG);
    }
    if args.foreground {
        command.stderr(Stdio::inherit());
    } else {
        // Its own process group: Ctrl-C in this terminal must not reach the daemon.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command.stderr(Stdio::null());
    }
    let mut daemon = command.spawn().context("cannot start the mount daemon")?;
    {
        let mut stdin = daemon.stdin.take().expect("stdin is piped");
        // A daemon that died early is reported below from its status line or exit status.
        if let Some(password) = &password {
            let mut line = Zeroizing::new(password.expose_secret().as_bytes().to_vec());
            line.push(b'\n');
            let _ = stdin.write_all(&line);
        }
        if let Some(secrets) = &handoff {
            let _ = credentials::write_handoff(&mut stdin, secrets);
        }
    }
    drop(password);
    drop(handoff);

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
    println!(
        "Mounted {} on {} ({mode}).",
        container.display(),
        mountpoint.display()
    );
    if !args.foreground {
        println!(
            "Unmount it before removing the drive: secvol unmount {}",
            super::shell_word(&mountpoint)
        );
        return Ok(());
    }
    println!("Serving in the foreground; press Ctrl-C (or run 'secvol unmount') to unmount.");
    // Ctrl-C reaches the daemon too (same process group); it unmounts and writes everything.
    // This process only waits for it, so the signals must not end it first.
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("cannot install the signal handlers")?;
    }
    let status = daemon.wait()?;
    if status.success() {
        println!("Unmounted {}.", mountpoint.display());
        Ok(())
    } else {
        bail!("the mount daemon ended with {status}; run 'secvol check'");
    }
}

/// Make sure the mount point is an existing directory that is not a mount already.
fn prepare_mountpoint(mountpoint: &Path) -> anyhow::Result<PathBuf> {
    match std::fs::metadata(mountpoint) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => bail!("{}: not a directory", mountpoint.display()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(mountpoint).with_context(|| {
                format!("cannot create the mount point {}", mountpoint.display())
            })?;
            eprintln!("Created the mount point {}", mountpoint.display());
        }
        Err(err) => {
            return Err(err).with_context(|| format!("cannot use {}", mountpoint.display()));
        }
    }
    let canonical = mountpoint
        .canonicalize()
        .with_context(|| format!("cannot use {}", mountpoint.display()))?;
    if let Some(entry) = mounts::find_mount(&canonical) {
        bail!(
            "{} is already the mount point of {}",
            canonical.display(),
            entry.container.display()
        );
    }
    Ok(canonical)
}

/// The daemon: `secvol serve-mount CONTAINER MOUNTPOINT` with the password on stdin.
pub fn serve(args: &ServeMountArgs) -> anyhow::Result<()> {
    if !secvol_core::secret::disable_core_dumps() {
        log::warn!("could not disable core dumps for the mount daemon");
    }
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
    report("ready");
    drop(status);
    let (fs, mount) = mounted;

    let unmounter = mount.unmounter();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])
    .context("cannot install the signal handlers")?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            log::info!("signal {signal}: unmounting");
            if let Err(err) = unmounter.unmount() {
                log::error!("cannot unmount: {err}");
            }
        }
    });

    let served = mount.wait();
    // No grow may start (or still run) while the file system closes.
    crate::control::shut_down();
    let closed = fs.close();
    if let Err(err) = &served {
        log::error!("the FUSE session ended with an error: {err}");
    }
    match closed {
        Ok(()) => Ok(()),
        Err(err) => {
            Err(anyhow::Error::from(err)
                .context("writing the last changes to the container failed"))
        }
    }
}

/// Unlock, open and mount; header warnings go to `report`.
fn start(
    args: &ServeMountArgs,
    report: &mut dyn FnMut(&str),
) -> anyhow::Result<(Arc<Fs>, secvol_fuse::Mount)> {
    let access = if args.read_only {
        Access::ReadOnly
    } else {
        Access::ReadWrite
    };
    let unlocked = if args.credentials {
        let secrets = credentials::read_handoff(&mut io::stdin().lock())?;
        let container = open_container(&args.container, access)?;
        container.unlock_with(&secrets.credentials())?
    } else {
        let password = password::read_password(&PasswordSource::Stdin, "")?;
        let container = open_container(&args.container, access)?;
        container.unlock(&password)?
    };
    if let Some(warning) = header_warning(
        &args.container,
        unlocked.header_status(),
        Some(unlocked.opened_from_backup()),
    ) {
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
    }
    let mount = secvol_fuse::mount(Arc::clone(&fs), &args.mountpoint, &mount_options)
        .with_context(|| format!("cannot mount on {}", args.mountpoint.display()))
        .inspect_err(|_| crate::control::shut_down())?;
    Ok((fs, mount))
}

/// `secvol unmount MOUNTPOINT|CONTAINER`.
pub fn unmount(args: &UnmountArgs) -> anyhow::Result<()> {
    let Some(entry) = mounts::find_mount(&args.target) else {
        bail!(
            "{} is not a mounted secvol container or mount point ('secvol list' shows them)",
            args.target.display()
        );
    };
    let daemon = mounts::daemon_pid(&entry.mountpoint);
    let holders = mounts::holders(&entry.mountpoint, &daemon.into_iter().collect::<Vec<_>>());
    if !holders.is_empty() && !args.force {
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
    detach(&entry.mountpoint, args.force)?;
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
    println!(
        "Unmounted {}: {} is closed and the drive can be removed.",
        entry.mountpoint.display(),
        entry.container.display()
    );
    Ok(())
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
    let rows: Vec<[String; 4]> = entries
        .iter()
        .map(|entry| {
            [
                entry.container.display().to_string(),
                entry.mountpoint.display().to_string(),
                if entry.read_only { "ro" } else { "rw" }.to_owned(),
                mounts::daemon_pid(&entry.mountpoint)
                    .map_or_else(|| "-".to_owned(), |pid| pid.to_string()),
            ]
        })
        .collect();
    let header = [
        "CONTAINER".to_owned(),
        "MOUNTPOINT".to_owned(),
        "MODE".to_owned(),
        "PID".to_owned(),
    ];
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        println!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    Ok(())
}
