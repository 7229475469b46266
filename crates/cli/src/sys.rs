//! The few operating-system facts the CLI needs that std does not offer: who we are.
//!
//! This is the only module of the CLI with `unsafe` (libc calls without preconditions).

#![cfg_attr(unix, allow(unsafe_code))]

use secvol_fs::Ctx;

/// The calling user and group: owner of new files written by the offline commands and of
/// the root directory of a new container.
#[cfg(unix)]
pub fn current_ctx() -> Ctx {
    // SAFETY: getuid and getgid have no preconditions and cannot fail (POSIX).
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    Ctx { uid, gid }
}

/// The owner of new files written by the offline commands and of the root directory of a new
/// container. Windows has no numeric user ids: files made there belong to the fixed owner
/// that docs/platforms.md describes.
#[cfg(not(unix))]
pub fn current_ctx() -> Ctx {
    secvol_fs::WINDOWS_OWNER
}
