//! The few operating-system facts the CLI needs that std does not offer: who we are.
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
