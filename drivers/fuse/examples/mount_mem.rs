//! Mount a fresh container held in memory, for manual smoke tests and pjdfstest runs:
//!
//! ```text
//! cargo run -p secvol-fuse --example mount_mem -- MOUNTPOINT [SIZE_MIB] [--allow-other]
//! ```
//!
//! Serves until unmounted from outside (`fusermount3 -u MOUNTPOINT`), then checks the file
//! system and prints the report. Nothing touches the disk. `RUST_LOG=debug` shows the
//! requests.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secvol_core::testing::MemStorage;
use secvol_core::{CipherSuite, CreateOptions, DeviceMode, ScryptParams, SecretString};
use secvol_fs::{Ctx, Fs, FsOptions};
use secvol_fuse::MountOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let mut args = std::env::args().skip(1);
    let mountpoint = PathBuf::from(
        args.next()
            .ok_or("usage: mount_mem MOUNTPOINT [SIZE_MIB] [--allow-other]")?,
    );
    let mut size_mib = 256u64;
    let mut allow_other = false;
    for arg in args {
        if arg == "--allow-other" {
            allow_other = true;
        } else {
            size_mib = arg.parse()?;
        }
    }
    let password = SecretString::from("smoke test password, not a secret");
    let storage = Arc::new(MemStorage::default());
    let unlocked = secvol_core::create_on(
        storage,
        Path::new("memory.sec"),
        &password,
        &CreateOptions {
            size: size_mib << 20,
            suite: CipherSuite::Aes256Gcm,
            kdf: ScryptParams::with_log_n(10),
            quick: true,
        },
        &mut |_, _| {},
    )?;
    let stack = unlocked.open_stack(DeviceMode::ReadWrite)?;
    // The root directory belongs to whoever runs this.
    let me = std::fs::metadata("/proc/self")?;
    Fs::format(
        stack.clone(),
        Ctx {
            uid: me.uid(),
            gid: me.gid(),
        },
    )?;
    let fs = Arc::new(Fs::open(stack, FsOptions::default())?);
    let mount = secvol_fuse::mount(
        fs.clone(),
        &mountpoint,
        &MountOptions {
            allow_other,
            fs_name: "memory.sec".into(),
            ..MountOptions::default()
        },
    )?;
    eprintln!(
        "mounted on {}; unmount with: fusermount3 -u {}",
        mountpoint.display(),
        mountpoint.display()
    );
    mount.wait()?;
    let report = fs.check(&mut |_, _| {})?;
    fs.close()?;
    eprintln!("unmounted; check: {report:?}");
    if report.is_clean() {
        Ok(())
    } else {
        Err("check found problems".into())
    }
}
