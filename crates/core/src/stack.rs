//! The device stack: the one place where the decorators around the encrypted block device are
//! chosen, from one [`DeviceMode`].
//!
//! | mode | stack, bottom to top | why |
//! |---|---|---|
//! | [`DeviceMode::ReadWrite`] | encrypted → deferred → read-ahead → write-behind | a mount or an offline command that changes files: nothing reaches the container until the first change is persisted ([`DeviceStack::go_live`]; a session that changes nothing leaves the file untouched), decryption ahead of sequential readers, encryption and host writes on a worker thread |
//! | [`DeviceMode::ReadOnly`] | encrypted (read-only) → overlay → read-ahead | a read-only mount or offline read: the storage engine may still "write" while it opens (recovery, its clean-shutdown header); the overlay keeps that in memory so the container stays byte-identical |
//! | [`DeviceMode::Check`] | encrypted (read-only) → recorder → lenient → overlay | `check`: a damaged block reads as zeros (counted) so the walk can name every damaged file, and every block read is recorded, so damage in blocks nothing references can be told apart |
//!
//! The layers above (the file system) take a [`DeviceStack`] and learn from its mode whether
//! they may change anything; they never wrap devices themselves.

use std::sync::Arc;

use crate::block_set::BlockSet;
use crate::deferred::DeferredDevice;
use crate::device::{BlockDevice, ReadMode};
use crate::error::BlockError;
use crate::forward::{forward_device_changes, forward_device_facts};
use crate::overlay::OverlayDevice;
use crate::read_ahead::ReadAheadDevice;
use crate::recorder::ReadRecorder;
use crate::write_behind::WriteBehindDevice;

/// What the device stack is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMode {
    /// Reads and writes reach the container.
    ReadWrite,
    /// Nothing is ever written to the container.
    ReadOnly,
    /// Read-only, damaged blocks read as zeros (counted), blocks read are recorded.
    Check,
}

impl DeviceMode {
    /// Whether the stack refuses to change the container.
    pub fn is_read_only(self) -> bool {
        self != DeviceMode::ReadWrite
    }
}

/// A built stack: the device the layer above uses, and what it was built for.
#[derive(Debug, Clone)]
pub struct DeviceStack {
    top: Arc<dyn BlockDevice>,
    mode: DeviceMode,
    recorder: Option<Arc<ReadRecorder>>,
    deferred: Option<Arc<DeferredDevice>>,
}

impl DeviceStack {
    /// Build the stack for `mode` over `base` (an [`crate::EncryptedDevice`], or a test
    /// double). For the read-only modes `base` should itself refuse writes; see
    /// [`crate::UnlockedContainer::open_stack`], which does that.
    pub fn build(base: Arc<dyn BlockDevice>, mode: DeviceMode) -> std::io::Result<DeviceStack> {
        Ok(match mode {
            DeviceMode::ReadWrite => {
                let deferred = Arc::new(DeferredDevice::new(base));
                let read_ahead: Arc<dyn BlockDevice> = Arc::new(ReadAheadDevice::new(Arc::clone(
                    &deferred,
                )
                    as Arc<dyn BlockDevice>)?);
                DeviceStack {
                    top: Arc::new(WriteBehindDevice::new(read_ahead)?),
                    mode,
                    recorder: None,
                    deferred: Some(deferred),
                }
            }
            DeviceMode::ReadOnly => {
                let overlay: Arc<dyn BlockDevice> = Arc::new(OverlayDevice::new(base));
                DeviceStack {
                    top: Arc::new(ReadAheadDevice::new(overlay)?),
                    mode,
                    recorder: None,
                    deferred: None,
                }
            }
            DeviceMode::Check => {
                let recorder = Arc::new(ReadRecorder::new(base));
                let lenient: Arc<dyn BlockDevice> = Arc::new(LenientReads {
                    inner: Arc::clone(&recorder) as Arc<dyn BlockDevice>,
                });
                DeviceStack {
                    top: Arc::new(OverlayDevice::new(lenient)),
                    mode,
                    recorder: Some(recorder),
                    deferred: None,
                }
            }
        })
    }

    /// A stack of `base` alone (no worker threads): every read and write reaches `base` at
    /// once. For short maintenance work (the file system's side of a resize) and for tests of
    /// the layers above. Changes are allowed.
    pub fn bare(base: Arc<dyn BlockDevice>) -> DeviceStack {
        DeviceStack {
            top: base,
            mode: DeviceMode::ReadWrite,
            recorder: None,
            deferred: None,
        }
    }

    /// The device at the top of the stack.
    pub fn device(&self) -> &Arc<dyn BlockDevice> {
        &self.top
    }

    /// The mode the stack was built for.
    pub fn mode(&self) -> DeviceMode {
        self.mode
    }

    /// Let writes reach the container from now on, first the ones held so far (a read-write
    /// stack holds them until this is called). The layer above calls it just before it
    /// persists its first change, or at once when it must persist something it did not
    /// change (a repair after a crash). Cheap after the first call; no-op on other stacks.
    pub fn go_live(&self) -> Result<(), BlockError> {
        match &self.deferred {
            Some(deferred) => deferred.go_live(),
            None => Ok(()),
        }
    }

    /// In [`DeviceMode::Check`], the blocks read from the container since the stack was built
    /// or [`DeviceStack::restart_recording`] was called.
    pub fn blocks_read(&self) -> Option<BlockSet> {
        self.recorder.as_ref().map(|r| r.blocks_read())
    }

    /// In [`DeviceMode::Check`], forget the blocks read so far. The file system's `check` calls
    /// it before its walk: while the file system opened after a crash, the storage engine read
    /// (and rejected) the torn pages of the interrupted commit, which are not in use.
    pub fn restart_recording(&self) {
        if let Some(recorder) = &self.recorder {
            recorder.clear();
        }
    }
}

/// Every read is lenient: a block that fails authentication reads as zeros and is counted by
/// the device underneath.
#[derive(Debug)]
struct LenientReads {
    inner: Arc<dyn BlockDevice>,
}

impl BlockDevice for LenientReads {
    forward_device_facts!(inner);

    forward_device_changes!(inner);

    fn read_blocks(&self, first: u64, buf: &mut [u8], _mode: ReadMode) -> Result<(), BlockError> {
        self.inner.read_blocks(first, buf, ReadMode::Lenient)
    }
}
