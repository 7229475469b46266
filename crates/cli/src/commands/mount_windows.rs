//! `secvol mount`, `unmount`, `list` and the mount daemon on Windows (WinFsp drive letters).
//!
//! Same function names as the Unix module (`mount.rs`), so `main.rs` dispatches to either.

use anyhow::bail;

use crate::{MountArgs, ServeMountArgs, UnmountArgs};

/// `secvol mount CONTAINER T:`.
pub fn mount(_args: &MountArgs) -> anyhow::Result<()> {
    bail!("mounting is not available in this Windows build of secvol yet")
}

/// `secvol unmount T:`.
pub fn unmount(_args: &UnmountArgs) -> anyhow::Result<()> {
    bail!("unmounting is not available in this Windows build of secvol yet")
}

/// `secvol list`.
pub fn list() -> anyhow::Result<()> {
    println!("No secvol container is mounted.");
    Ok(())
}

/// The mount daemon.
pub fn serve(_args: &ServeMountArgs) -> anyhow::Result<()> {
    bail!("mounting is not available in this Windows build of secvol yet")
}
