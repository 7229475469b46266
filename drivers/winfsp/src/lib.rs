//! `secvol-winfsp`: the WinFsp driver of secvol (Windows drive letters and folders).
//!
//! Owns the translation of WinFsp callbacks into calls on [`secvol_fs::PathFs`], the
//! NTSTATUS of every file-system error (`ntstatus.rs`, one exhaustive match), Windows names
//! and paths (`names.rs`), FILETIME, attribute words and create options (`convert.rs`), the
//! volume parameters (case-insensitive, case-preserving, Unicode names, label, capacity) and
//! mounting on a drive letter or a folder.
//!
//! It must not know how files are stored or encrypted: no inode, directory or data logic
//! lives here, and nothing here touches the container, keys or passwords.
//!
//! # Platforms
//!
//! `names`, `convert` and `ntstatus` are plain Rust, compiled and unit-tested on Linux. The
//! adapter and `mount` exist on Windows only; CI type-checks them for
//! `x86_64-pc-windows-msvc` and `-gnu` (winfsp_wrs's pre-generated bindings) but cannot run
//! them: the WinFsp kernel driver needs Windows (docs/platforms.md).

pub mod convert;
pub mod names;
pub mod ntstatus;

#[cfg(windows)]
mod adapter;
#[cfg(windows)]
mod security;

#[cfg(windows)]
pub use windows::{Mount, MountOptions, mount};

/// Why a mount failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// WinFsp is not installed (or its DLL cannot be loaded).
    #[error("WinFsp is not installed or cannot be loaded ({0}); install it once from winfsp.dev")]
    WinFspMissing(String),
    /// The descriptor of the mounting user could not be built.
    #[error("cannot build the security descriptor: {0}")]
    Security(String),
    /// A name (mount point, label) is not valid UTF-16 without NULs.
    #[error("invalid name: {0}")]
    BadName(String),
    /// WinFsp refused to mount (drive letter taken, folder exists, ...).
    #[error(
        "WinFsp refused to mount on {mountpoint} (NTSTATUS {status:#010x}); is the drive letter free (or the folder absent)?"
    )]
    Refused {
        /// The drive letter or folder.
        mountpoint: String,
        /// WinFsp's answer.
        status: i32,
    },
}

#[cfg(windows)]
mod windows {
    use std::fmt;
    use std::sync::Arc;

    use secvol_fs::{CaseRule, Fs, PathFs};
    use winfsp_wrs::{FileSystem, Params, U16CString, VolumeParams};

    use crate::MountError;
    use crate::adapter::Adapter;
    use crate::names::MAX_LABEL_UNITS;

    /// How to mount.
    #[derive(Debug, Clone)]
    pub struct MountOptions {
        /// Where: a drive letter (`T:`) or a folder that does not exist yet.
        pub mountpoint: String,
        /// Refuse every change.
        pub read_only: bool,
        /// The label Explorer shows (see [`crate::names::volume_label`]).
        pub label: Vec<u16>,
    }

    /// A running mount; [`Mount::stop`] unmounts.
    pub struct Mount {
        file_system: FileSystem,
    }

    impl fmt::Debug for Mount {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Mount").finish_non_exhaustive()
        }
    }

    impl Mount {
        /// Stop serving and remove the drive letter or folder. Open handles are gone after
        /// this; everything they wrote is in the file system, which the caller closes.
        pub fn stop(self) {
            self.file_system.stop();
        }
    }

    /// Mount `fs` with `options`: names are case-insensitive and case-preserving.
    pub fn mount(fs: Arc<Fs>, options: &MountOptions) -> Result<Mount, MountError> {
        winfsp_wrs::init().map_err(|e| MountError::WinFspMissing(e.to_string()))?;
        let security = crate::security::owner_only_descriptor().map_err(MountError::Security)?;
        let mut volume = VolumeParams::default();
        volume
            .set_case_sensitive_search(false)
            .set_case_preserved_names(true)
            .set_unicode_on_disk(true)
            .set_persistent_acls(true)
            .set_read_only_volume(options.read_only)
            .set_post_cleanup_when_modified_only(true)
            .set_sector_size(4096)
            .set_sectors_per_allocation_unit(1)
            .set_max_component_length(255)
            .set_file_info_timeout(1000);
        let name =
            U16CString::from_str("secvol").map_err(|e| MountError::BadName(e.to_string()))?;
        volume
            .set_file_system_name(&name)
            .map_err(|_| MountError::BadName("secvol".to_owned()))?;
        let params = Params {
            volume_params: volume,
            ..Params::default()
        };
        let mut label = options.label.clone();
        label.truncate(MAX_LABEL_UNITS);
        let adapter = Adapter {
            api: PathFs::new(fs, CaseRule::Insensitive),
            label,
            security,
        };
        let mountpoint = U16CString::from_str(&options.mountpoint)
            .map_err(|e| MountError::BadName(e.to_string()))?;
        let file_system =
            FileSystem::start(params, Some(&mountpoint), adapter).map_err(|status| {
                MountError::Refused {
                    mountpoint: options.mountpoint.clone(),
                    status,
                }
            })?;
        Ok(Mount { file_system })
    }
}
