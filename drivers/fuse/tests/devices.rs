//! Device nodes: stored with their numbers (so `rsync -a` and `tar` can carry a system tree
//! through a container and restore it elsewhere) but never usable as devices through the
//! mount, which is always `nodev`.
#![cfg(target_os = "linux")]

mod common;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::Command;

use common::*;

const MIB: u64 = 1 << 20;

#[test]
fn device_nodes_keep_their_numbers_but_cannot_be_opened_through_the_mount() {
    let m = Mounted::new(16 * MIB);
    // The numbers of /dev/null and of a disk.
    for (name, kind, major, minor) in [("null", "c", "1", "3"), ("disk", "b", "8", "0")] {
        let status = Command::new("mknod")
            .arg(m.path(name))
            .args([kind, major, minor])
            .status()
            .unwrap();
        assert!(status.success(), "mknod {name}");
    }
    let null = fs::metadata(m.path("null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert!(
        fs::metadata(m.path("disk"))
            .unwrap()
            .file_type()
            .is_block_device()
    );
    for name in ["null", "disk"] {
        for write in [false, true] {
            let err = OpenOptions::new()
                .read(!write)
                .write(write)
                .open(m.path(name))
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EACCES), "open {name}: {err}");
        }
    }
    let fs = reopen_checked(m.unmount());
    let null = fs.resolve(b"/null").unwrap();
    assert_eq!(null.kind, secvol_fs::FileKind::CharDevice);
    assert_eq!(u64::from(null.rdev), libc::makedev(1, 3));
    fs.close().unwrap();
}
