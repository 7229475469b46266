//! The few operating-system facts and calls the CLI needs that std does not offer: who we
//! are, and tying a helper process's life to ours.
//!
//! This is the only module of the CLI with `unsafe` (libc calls without preconditions).

#![allow(unsafe_code)]

use secvol_fs::Ctx;

/// The calling user and group: owner of new files written by the offline commands and of
/// the root directory of a new container.
pub fn current_ctx() -> Ctx {
    // SAFETY: getuid and getgid have no preconditions and cannot fail (POSIX).
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    Ctx { uid, gid }
}

/// Have the child started by `command` killed when this process dies (Linux), so that a
/// helper such as a `gdbus monitor` does not outlive a mount daemon that was killed.
pub fn end_with_parent(command: &mut std::process::Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between fork and exec and only calls prctl,
        // which is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}
