//! Helpers of the mount tests: a container in memory with a cheap KDF, mounted through real
//! FUSE on a temporary directory, always unmounted again (even when the test panics).
#![allow(dead_code, missing_docs)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use secvol_core::testing::MemStorage;
use secvol_core::{
    Access, CipherSuite, Container, CreateOptions, DeviceMode, ScryptParams, SecretString,
};
use secvol_fs::{Ctx, Fs, FsOptions};
use secvol_fuse::{Mount, MountOptions, Unmounter};

pub const PASSWORD: &str = "correct horse battery staple";

/// The effective user and group of this process (the owner of `/proc/self`).
pub fn me() -> Ctx {
    let meta = std::fs::metadata("/proc/self").unwrap();
    Ctx {
        uid: meta.uid(),
        gid: meta.gid(),
    }
}

/// A new container of `size` bytes in memory with an empty file system owned by `me()`.
pub fn new_storage(size: u64) -> Arc<MemStorage> {
    let storage = Arc::new(MemStorage::default());
    let unlocked = secvol_core::create_on(
        storage.clone(),
        Path::new("test.sec"),
        &SecretString::from(PASSWORD),
        &CreateOptions {
            size,
            suite: CipherSuite::Aes256Gcm,
            kdf: ScryptParams::with_log_n(10),
            quick: true,
        },
        &mut |_, _| {},
    )
    .unwrap();
    Fs::format(unlocked.open_stack(DeviceMode::ReadWrite).unwrap(), me()).unwrap();
    storage
}

/// Open the file system in `storage`.
pub fn open(storage: Arc<MemStorage>, read_only: bool) -> Fs {
    let unlocked = Container::open_storage(storage, Path::new("test.sec"), Access::ReadWrite)
        .unwrap()
        .unlock(&SecretString::from(PASSWORD))
        .unwrap();
    let mode = if read_only {
        DeviceMode::ReadOnly
    } else {
        DeviceMode::ReadWrite
    };
    Fs::open(unlocked.open_stack(mode).unwrap(), FsOptions::default()).unwrap()
}

/// Whether something is mounted on `path` (per /proc/self/mountinfo), with its line.
pub fn mount_line(path: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let wanted = path.to_str().unwrap();
    info.lines()
        .find(|line| line.split(' ').nth(4) == Some(wanted))
        .map(str::to_owned)
}

/// A container mounted on a temporary directory. Dropping it unmounts (lazily if it must)
/// and fails the test if a mount is left behind.
pub struct Mounted {
    pub storage: Arc<MemStorage>,
    pub fs: Arc<Fs>,
    mount: Option<Mount>,
    mountpoint: PathBuf,
    // Declared last: removed after the unmount.
    _dir: tempfile::TempDir,
}

impl Mounted {
    /// Mount a new container of `size` bytes.
    pub fn new(size: u64) -> Mounted {
        Self::mount(new_storage(size), MountOptions::default())
    }

    /// Mount the container in `storage`.
    pub fn mount(storage: Arc<MemStorage>, options: MountOptions) -> Mounted {
        Self::mount_as(storage, false, options)
    }

    /// Mount the container in `storage`, opened read-only or not.
    pub fn mount_as(storage: Arc<MemStorage>, read_only: bool, options: MountOptions) -> Mounted {
        // Under the target directory rather than /tmp: nothing else on the machine cleans it.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let mountpoint = dir.path().canonicalize().unwrap();
        let fs = Arc::new(open(storage.clone(), read_only));
        let mount = secvol_fuse::mount(fs.clone(), &mountpoint, &options).unwrap();
        assert_eq!(mount.mountpoint(), mountpoint);
        Mounted {
            storage,
            fs,
            mount: Some(mount),
            mountpoint,
            _dir: dir,
        }
    }

    /// The path of `rel` inside the mount.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.mountpoint.join(rel)
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    pub fn handle(&self) -> &Mount {
        self.mount.as_ref().unwrap()
    }

    /// Unmount cleanly, close the file system, and return the container.
    pub fn unmount(mut self) -> Arc<MemStorage> {
        let mount = self.mount.take().unwrap();
        unmount_retrying(&mount.unmounter());
        mount.wait().unwrap();
        assert!(
            mount_line(&self.mountpoint).is_none(),
            "still mounted after wait()"
        );
        self.fs.close().unwrap();
        self.storage.clone()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let Some(mount) = self.mount.take() else {
            return;
        };
        // The test failed half-way: detach the mount whatever holds it, then let the session
        // end.
        let _ = Command::new("fusermount3")
            .arg("-u")
            .arg("-z")
            .arg(&self.mountpoint)
            .status();
        let _ = mount.wait();
        let left = mount_line(&self.mountpoint);
        if std::thread::panicking() {
            if let Some(line) = left {
                eprintln!("a mount was left behind: {line}");
            }
        } else {
            assert!(left.is_none(), "a mount was left behind: {left:?}");
        }
    }
}

/// Unmount cleanly, retrying while "busy" for up to five seconds.
///
/// Tests run in parallel in one process, and every mount spawns fusermount3 with fork (not
/// vfork): for a moment the child holds copies of all open descriptors, files of other tests'
/// mounts included, and a clean unmount then says "busy".
pub fn unmount_retrying(unmounter: &Unmounter) {
    let mut tries = 0;
    while let Err(err) = unmounter.unmount() {
        tries += 1;
        assert!(
            err.kind() == std::io::ErrorKind::ResourceBusy && tries < 50,
            "unmount: {err}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Reopen the container and check its file system; returns it open.
pub fn reopen_checked(storage: Arc<MemStorage>) -> Fs {
    let fs = open(storage, false);
    let report = fs.check(&mut |_, _| {}).unwrap();
    assert!(report.is_clean(), "check found problems: {report:?}");
    fs
}
