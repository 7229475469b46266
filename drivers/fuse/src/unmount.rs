//! Asking the kernel to unmount a mount point (not lazily).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

/// Unmount `mountpoint`: the system call as root, the setuid helper otherwise. "Not mounted"
/// counts as success.
pub(crate) fn unmount(mountpoint: &Path) -> io::Result<()> {
    unmount_with(mountpoint, false)
}

/// Detach `mountpoint` lazily (Linux; a forced unmount elsewhere).
pub(crate) fn unmount_lazily(mountpoint: &Path) -> io::Result<()> {
    unmount_with(mountpoint, true)
}

fn unmount_with(mountpoint: &Path, lazy: bool) -> io::Result<()> {
    match sys_unmount(mountpoint, lazy) {
        Ok(()) => Ok(()),
        Err(err) if err.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        Err(err) if err.raw_os_error() == Some(libc::EPERM) && cfg!(target_os = "linux") => {
            fusermount_unmount(mountpoint, lazy)
        }
        Err(err) => Err(err),
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn sys_unmount(mountpoint: &Path, lazy: bool) -> io::Result<()> {
    let path = CString::new(mountpoint.as_os_str().as_bytes())?;
    let flags = if lazy { libc::MNT_DETACH } else { 0 };
    // SAFETY: `path` is a valid NUL-terminated string that lives across the call; umount2
    // only reads it. Flags: 0 (a normal unmount) or MNT_DETACH (lazy), never MNT_FORCE.
    let rc = unsafe { libc::umount2(path.as_ptr(), flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// macOS: not compiled on the Linux machines.
#[cfg(not(target_os = "linux"))]
#[allow(unsafe_code)]
fn sys_unmount(mountpoint: &Path, lazy: bool) -> io::Result<()> {
    let path = CString::new(mountpoint.as_os_str().as_bytes())?;
    // macOS has no lazy unmount; MNT_FORCE is the closest.
    let flags = if lazy { libc::MNT_FORCE } else { 0 };
    // SAFETY: `path` is a valid NUL-terminated string that lives across the call; unmount
    // only reads it. Flags: 0 (a normal unmount) or MNT_FORCE.
    let rc = unsafe { libc::unmount(path.as_ptr(), flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `fusermount3 -u [-z]` (or `fusermount` where only FUSE 2 is installed).
fn fusermount_unmount(mountpoint: &Path, lazy: bool) -> io::Result<()> {
    let mut last_err = None;
    for helper in ["fusermount3", "fusermount"] {
        let mut command = Command::new(helper);
        command.arg("-u");
        if lazy {
            command.arg("-z");
        }
        let output = match command.arg("--").arg(mountpoint).output() {
            Ok(output) => output,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                last_err = Some(err);
                continue;
            }
            Err(err) => return Err(err),
        };
        if output.status.success() {
            return Ok(());
        }
        let message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if message.contains("not found in") {
            // "entry for <path> not found in /etc/mtab": not mounted (any more).
            return Ok(());
        }
        let kind = if message.contains("busy") {
            io::ErrorKind::ResourceBusy
        } else {
            io::ErrorKind::Other
        };
        return Err(io::Error::new(kind, message));
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("fusermount3 not found")))
}
