//! The mount daemon's control channel: how `secvol resize` asks the daemon serving a mounted
//! container to grow it (the container's file is locked by the daemon, so no other process
//! may write it; the daemon does the work itself).
//!
//! * **Where**: a Unix socket `daemon-PID.sock` in a per-user directory `secvol` under the
//!   runtime directory (`$XDG_RUNTIME_DIR`, else `/run/user/UID`, else the temporary directory
//!   as `secvol-UID`). The directory is created with mode 0700 and refused if it belongs to
//!   someone else or is open to others; the socket gets mode 0600. The client finds the daemon
//!   of a mount through the mount table and the daemon's process id (`mounts.rs`).
//! * **Who may ask**: the permissions let only the user who mounted (and root) connect, and
//!   every request carries the credentials that open the container (a password, a keyfile's
//!   digest, a recovery key), which the daemon checks by unlocking the header again, exactly
//!   as the offline command would. No key is kept for this: between requests the daemon
//!   holds the open file and the block key the mount needs, nothing more.
//! * **Protocol** (lines): the request `grow BYTES QUICK` (QUICK is 0 or 1), then the
//!   credentials as the mount hands them over (`credentials::write_handoff`: a password,
//!   keyfile digest or recovery key line each, then an empty line). Replies: any number of
//!   `progress DONE TOTAL`, then `ok BYTES CAPACITY` or `error CODE MESSAGE` (CODE from the
//!   exit-code table).
//! * **Shutdown**: the daemon calls [`shut_down`] after the file system was unmounted and
//!   before it closes it; that waits for a grow in progress to finish, removes the socket,
//!   drops the channel's references to the file system and the container (so that closing
//!   them joins their worker threads, as without the channel) and ends the channel's thread.
//!   A process whose threads are still running when it exits keeps its files, and the
//!   container's lock, a moment after `unmount` has seen it end.
//!
//! Windows has no such channel yet (the WinFsp daemon is not written): there, `resize` of a
//! mounted container tells the user to unmount first.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use secvol_core::{BlockDevice, Container, EncryptedDevice};
use secvol_fs::Fs;

use crate::credentials::Secrets;
use crate::error::CliError;
use crate::{exit, sys};

/// Longest request line accepted.
const MAX_REQUEST: usize = 128;
/// How long the daemon waits for a client to finish sending its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the daemon needs to grow its container: the open container file (no key), the
/// block device under the file system, and the file system.
pub struct Grower {
    /// The container, header only; unlocked again with the credentials of each request.
    pub container: Container,
    /// The device the mount uses, whose capacity rises after the header switch.
    pub device: Arc<EncryptedDevice>,
    /// The mounted file system, which then takes on the new blocks.
    pub fs: Arc<Fs>,
}

/// The daemon's channel. `grower` is held for the whole of each request; `None` once the
/// channel is shut down.
struct Channel {
    socket: PathBuf,
    grower: Mutex<Option<Grower>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

static CHANNEL: OnceLock<Arc<Channel>> = OnceLock::new();

/// Candidate parents of the per-user `secvol` directory, most preferred first.
fn runtime_dirs() -> Vec<PathBuf> {
    let uid = sys::current_ctx().uid;
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir).join("secvol"));
    }
    let run_user = PathBuf::from(format!("/run/user/{uid}"));
    if run_user.is_dir() {
        dirs.push(run_user.join("secvol"));
    }
    dirs.push(std::env::temp_dir().join(format!("secvol-{uid}")));
    dirs.dedup();
    dirs
}

/// Create (or accept) `dir` as a private directory of this user.
fn private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let uid = sys::current_ctx().uid;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a private directory of this user (owner, mode 0700)",
                dir.display()
            ),
        ));
    }
    Ok(())
}

fn socket_name(pid: u32) -> String {
    format!("daemon-{pid}.sock")
}

/// Open the control socket of this daemon and serve grow requests on a thread. A failure is
/// returned (the caller logs it: the mount works without the channel, only an online grow
/// does not).
pub fn listen(grower: Grower) -> io::Result<()> {
    let mut last_error = io::Error::other("no runtime directory");
    for dir in runtime_dirs() {
        if let Err(err) = private_dir(&dir) {
            last_error = err;
            continue;
        }
        let socket = dir.join(socket_name(std::process::id()));
        // A socket left by a killed daemon that had this process id.
        let _ = std::fs::remove_file(&socket);
        let listener = match UnixListener::bind(&socket) {
            Ok(listener) => listener,
            Err(err) => {
                last_error = err;
                continue;
            }
        };
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
        let channel = Arc::new(Channel {
            socket,
            grower: Mutex::new(Some(grower)),
            thread: Mutex::new(None),
        });
        if CHANNEL.set(Arc::clone(&channel)).is_err() {
            return Err(io::Error::other("the control channel is already open"));
        }
        let serving = Arc::clone(&channel);
        let thread = std::thread::Builder::new()
            .name("secvol-control".into())
            .spawn(move || serve(&listener, &serving))?;
        *channel.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread);
        return Ok(());
    }
    Err(last_error)
}

/// Stop answering requests (after waiting for one in progress), drop the references to the
/// file system and the container, remove the socket and end the channel's thread.
pub fn shut_down() {
    let Some(channel) = CHANNEL.get() else { return };
    drop(
        channel
            .grower
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(),
    );
    // Wake the thread from accept(): it finds the channel shut and returns.
    let _ = UnixStream::connect(&channel.socket);
    let _ = std::fs::remove_file(&channel.socket);
    let thread = channel
        .thread
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(thread) = thread
        && thread.join().is_err()
    {
        log::error!("the control channel's thread panicked");
    }
}

fn serve(listener: &UnixListener, channel: &Channel) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let grower = channel.grower.lock().unwrap_or_else(|p| p.into_inner());
        let Some(grower) = grower.as_ref() else {
            let _ = writeln!(
                stream,
                "error {} the container is being unmounted",
                exit::IN_USE
            );
            return;
        };
        if let Err(err) = handle(&mut stream, grower) {
            let line = format!("error {} {}", exit::exit_code(&err), exit::one_line(&err));
            let _ = writeln!(stream, "{line}");
            log::warn!("grow request refused: {}", exit::one_line(&err));
        }
    }
}

/// Read one line of at most [`MAX_REQUEST`] bytes, byte by byte (nothing after it is
/// consumed: the credentials follow).
fn read_request_line(stream: &mut UnixStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    loop {
        if stream.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
        if line.len() > MAX_REQUEST {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request too long",
            ));
        }
    }
    String::from_utf8(line).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not text"))
}

fn handle(stream: &mut UnixStream, grower: &Grower) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let request = read_request_line(stream).context("cannot read the request")?;
    let mut words = request.split(' ');
    let (Some("grow"), Some(size), Some(quick), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        bail!("unknown request");
    };
    let new_len: u64 = size.parse().context("bad size in the request")?;
    let quick = match quick {
        "0" => false,
        "1" => true,
        _ => bail!("bad request"),
    };
    let secrets =
        crate::credentials::read_handoff(stream).context("cannot read the credentials")?;
    stream.set_read_timeout(None)?;

    let mut unlocked = grower
        .container
        .reread()?
        .unlock_with(&secrets.credentials())?;
    drop(secrets);
    let device_len = grower.device.len();
    if device_len > grower.device.capacity_blocks() * secvol_core::BLOCK_SIZE as u64 {
        bail!(
            "the file system reserves room past the end of the container; unmount it and run \
             'secvol resize' again (it moves the file system first)"
        );
    }
    let mut progress_failed = false;
    let grown = unlocked.grow(new_len, quick, &mut |done, total| {
        if !progress_failed && writeln!(stream, "progress {done} {total}").is_err() {
            // The client is gone; the grow goes on (it cannot be abandoned half-way).
            progress_failed = true;
        }
    })?;
    drop(unlocked);
    grower.device.adopt_grown_geometry(&grown)?;
    grower
        .fs
        .adopt_capacity()
        .context("the container grew, but the mounted file system could not take on the space; unmount and mount it again")?;
    let statfs = grower.fs.statfs()?;
    let usable = statfs.blocks * u64::from(statfs.block_size);
    let _ = writeln!(stream, "ok {} {usable}", grown.container_len);
    Ok(())
}

/// The result of a grow done by the daemon.
#[derive(Debug, Clone, Copy)]
pub struct Grown {
    /// New container length in bytes.
    pub container_len: u64,
    /// Bytes the mounted file system now offers (its `df` size).
    pub usable: u64,
}

/// Ask the daemon `pid` to grow its container to `new_len` bytes. `progress` receives the
/// daemon's fill progress (bytes done, total).
pub fn request_grow(
    pid: u32,
    new_len: u64,
    quick: bool,
    secrets: &Secrets,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<Grown> {
    let name = socket_name(pid);
    let socket = runtime_dirs()
        .into_iter()
        .map(|dir| dir.join(&name))
        .find(|path| path.exists())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the mount daemon (pid {pid}) offers no control channel (mounted by an older \
                 secvol, by another user, or read-only); unmount the container and run \
                 'secvol resize' again"
            )
        })?;
    let mut stream = UnixStream::connect(&socket)
        .with_context(|| format!("cannot reach the mount daemon at {}", socket.display()))?;
    stream
        .write_all(format!("grow {new_len} {}\n", u8::from(quick)).as_bytes())
        .and_then(|()| crate::credentials::write_handoff(&mut stream, secrets))
        .context("cannot send the request to the mount daemon")?;
    for line in BufReader::new(&stream).lines() {
        let line = line.context("lost the connection to the mount daemon")?;
        if let Some(rest) = line.strip_prefix("progress ") {
            if let Some((done, total)) = rest.split_once(' ')
                && let (Ok(done), Ok(total)) = (done.parse(), total.parse())
            {
                progress(done, total);
            }
        } else if let Some(rest) = line.strip_prefix("ok ") {
            let (len, usable) = rest.split_once(' ').unwrap_or((rest, "0"));
            return Ok(Grown {
                container_len: len.parse().unwrap_or(new_len),
                usable: usable.parse().unwrap_or(0),
            });
        } else if let Some(rest) = line.strip_prefix("error ") {
            let (code, message) = rest.split_once(' ').unwrap_or(("1", rest));
            return Err(CliError::Reported {
                code: code.parse().unwrap_or(exit::OTHER),
                message: message.to_owned(),
            }
            .into());
        }
    }
    bail!("the mount daemon ended the request without an answer; run 'secvol info' to see the size")
}
