//! `secvol-core`: the encrypted container.
//!
//! Owns the container file format (header copies, keyslots, scrypt and HKDF, the two cipher
//! suites) and the encrypted block device on which the file system runs. It knows blocks,
//! never files or directories: the file system (`secvol-fs`) and the OS drivers live above it
//! and must not reach past [`BlockDevice`] into the container file.
//!
//! The byte layout is specified in `docs/format.md`; the security argument in
//! `docs/threat-model.md`.

pub mod block_set;
pub mod cipher;
pub mod container;
pub mod credential;
pub mod deferred;
pub mod destroy;
pub mod device;
pub mod error;
mod forward;
pub mod geometry;
pub mod header;
pub mod kdf;
pub mod overlay;
pub mod policy;
pub mod read_ahead;
pub mod recorder;
pub mod recovery;
pub mod resize;
pub mod secret;
pub mod stack;
pub mod storage;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod worker;
pub mod write_behind;

#[cfg(test)]
mod kat;

pub use block_set::BlockSet;
pub use cipher::CipherSuite;
pub use container::{
    Container, CreateOptions, HeaderStatus, UnlockedContainer, create, create_on, create_with,
};
pub use credential::{Credential, Keyfile, KeyfileError, KeyslotKind, RecoveryKey};
pub use deferred::DeferredDevice;
pub use destroy::{DestroyReport, destroy};
pub use device::{BlockDevice, DamageByUse, EncryptedDevice, ReadMode, VerifyReport};
pub use error::{BlockError, ContainerError, HeaderDamage, KdfError};
pub use geometry::{BLOCK_SIZE, Geometry};
pub use kdf::ScryptParams;
pub use overlay::OverlayDevice;
pub use read_ahead::ReadAheadDevice;
pub use recorder::ReadRecorder;
pub use secrecy::{ExposeSecret, SecretString};
pub use stack::{DeviceMode, DeviceStack};
pub use storage::{Access, FileStorage, Storage};
pub use write_behind::WriteBehindDevice;
