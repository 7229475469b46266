//! The secvol mounts on Windows, read from the records their daemons leave
//! (`mount_records.rs`): the same functions as the Linux mount-table module (`mounts.rs`), so
//! the commands that must not touch a mounted container (destroy, resize, import, shred) ask
//! one question on every system.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::mount_records::MountRecord;
use crate::sys::windows as win;

/// One mounted container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The drive (`T:`) or folder it is mounted on.
    pub mountpoint: PathBuf,
    /// The container file (absolute).
    pub container: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
    /// The daemon serving it.
    pub pid: u32,
}

impl From<MountRecord> for MountEntry {
    fn from(record: MountRecord) -> Self {
        MountEntry {
            mountpoint: PathBuf::from(record.mountpoint),
            container: record.container,
            read_only: record.read_only,
            pid: record.pid,
        }
    }
}

/// The folder of the mount records: `%LOCALAPPDATA%\secvol\mounts`.
pub fn records_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("LOCALAPPDATA")
        .context("LOCALAPPDATA is not set: cannot find the folder for mount records")?;
    Ok(PathBuf::from(base).join("secvol").join("mounts"))
}

/// The live mounts' records, sorted by mount point; stale records (daemon gone) are removed.
pub fn live_records() -> Vec<MountRecord> {
    let Ok(dir) = records_dir() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut live = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let record = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| MountRecord::parse(&text));
        match record {
            Some(record) if win::is_alive(record.pid) => live.push(record),
            _ => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    live.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
    live
}

/// Every live secvol mount.
pub fn secvol_mounts() -> Vec<MountEntry> {
    live_records().into_iter().map(MountEntry::from).collect()
}

/// The mount that `target` names: its drive letter, its folder or its container file.
pub fn find_mount(target: &Path) -> Option<MountEntry> {
    live_records()
        .into_iter()
        .find(|record| record.matches(target))
        .map(MountEntry::from)
}
