//! `secvol-fs`: the file system inside a secvol container.
//!
//! Owns inodes, directories, file contents, symlinks, hard links, extended attributes,
//! POSIX ACL rules, `fallocate` reservations, Windows attributes, rename, open-handle and
//! lookup-reference bookkeeping, the commit policy and space accounting, and `check`. Two
//! front-end APIs sit on top: [`Fs`] speaks inode numbers (FUSE), [`PathFs`] speaks paths
//! and open handles (WinFsp, the offline commands). It stores everything in redb tables
//! (`schema.rs`) running on the container's encrypted block device through `backend.rs`.
//!
//! It must not know about FUSE, WinFsp or any other front-end: errno and NTSTATUS values,
//! mount options and kernel protocol details belong to the drivers, which translate OS
//! requests into calls on [`Fs`]. It must not know how blocks are encrypted either: it sees a
//! [`secvol_core::BlockDevice`].

mod acl;
mod attr;
mod backend;
mod check;
mod data;
mod dir;
mod error;
mod fs;
mod handles;
mod inode;
mod lookup_refs;
mod namespace;
mod path;
mod path_api;
mod reserve;
pub mod resize;
mod schema;
mod store;
mod tables;
mod view;
mod winattr;

pub use acl::CallerGroups;
pub use attr::{SetAttr, TimeSet, XattrMode};
pub use check::{CheckReport, Problem};
pub use error::{FsError, FsResult};
pub use fs::{Ctx, Fs, FsStats, StatFs};
pub use handles::{DirEntry, OpenFlags};
pub use inode::{Attr, FileKind, Ino, ROOT_INO, Timestamp};
pub use namespace::RenameFlags;
pub use path::components;
pub use path_api::{
    CannotDelete, CaseRule, Expect, Listed, NewKind, NodeHandle, Opened, PathFs, Times, VolumeInfo,
};
pub use resize::ShrinkError;
pub use schema::{CHUNK_SIZE, MAX_FILE_SIZE, NAME_MAX};
pub use store::FsOptions;
pub use winattr::{WINDOWS_OWNER, WinAttrs};
