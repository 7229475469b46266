//! `secvol header backup|restore|repair`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::Context;
use secvol_core::geometry::HEADER_LEN;
use secvol_core::header::{Header, ParseError};
use secvol_core::{Access, ContainerError};

use super::{
    display_name, header_has_problem, header_status_text, keyslots_text, open_and_unlock,
    open_container, print_fields, unlock,
};
use crate::credentials::{self, UnlockWith};
use crate::error::CliError;
use crate::password;
use crate::{HeaderBackupArgs, HeaderRepairArgs, HeaderRestoreArgs};

/// Unlock (which proves the header authentic), then save it to a new private file.
pub fn backup(args: &HeaderBackupArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let target = args.file.as_path();
    if target.symlink_metadata().is_ok() {
        return Err(CliError::FileExists(target.to_owned()).into());
    }
    let with = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    // Header-only access: reading the header needs no lock, so this works while mounted.
    let unlocked = open_and_unlock(path, Access::HeaderOnly, &with)?;
    let bytes = unlocked.export_header();
    write_new_private(target, &bytes)?;
    println!(
        "Saved the header of {} to {} ({} bytes).",
        path.display(),
        target.display(),
        bytes.len()
    );
    print_fields(&[
        (
            "Container UUID".into(),
            unlocked.header().container_id_string(),
        ),
        ("Keyslots in use".into(), keyslots_text(unlocked.header())),
    ]);
    println!(
        "Store this backup as carefully as the container: with it, every password listed \
         above keeps opening the container, even after it is changed or removed. Make a new \
         backup after each 'secvol passwd', 'secvol key add' or 'secvol key remove'."
    );
    Ok(())
}

/// Write the header saved by `backup` into both header copies of the container.
pub fn restore(args: &HeaderRestoreArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let backup_path = args.file.as_path();
    let bytes = read_backup(backup_path)?;
    let with = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    let prompt = format!(
        "Password for {} (one that was valid when the backup was made): ",
        display_name(path)
    );
    // The keyslots that matter are those of the backup.
    let backup_header = Header::parse(&bytes).ok();
    let secrets = match &backup_header {
        Some(header) => credentials::read_secrets(&with, header, &prompt)?,
        None => credentials::Secrets {
            password: Some(password::read_password(&with.password, &prompt)?),
            ..credentials::Secrets::default()
        },
    };
    let restored =
        match secvol_core::container::restore_header_with(path, &bytes, &secrets.credentials()) {
            Ok(restored) => restored,
            Err(err @ ContainerError::Io(_)) => {
                return Err(err).with_context(|| format!("cannot restore {}", path.display()));
            }
            Err(err) => return Err(err.into()),
        };
    drop(secrets);
    println!(
        "Restored the header of {} from {}; both header copies were rewritten.",
        path.display(),
        backup_path.display()
    );
    print_fields(&[
        (
            "Container UUID".into(),
            restored.header().container_id_string(),
        ),
        (
            "Keyslots in use".into(),
            format!(
                "{} (as when the backup was made)",
                keyslots_text(restored.header())
            ),
        ),
        (
            "Password".into(),
            format!("opened keyslot {}", restored.opened_slot()),
        ),
    ]);
    Ok(())
}

/// Unlock from whichever copy opens (primary first), then rewrite both copies from it.
pub fn repair(args: &HeaderRepairArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let container = open_container(path, Access::ReadWrite)?;
    let before = container.header_status();
    let with = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    let prompt = format!("Password for {}: ", display_name(path));
    // No "run header repair" warning here: this is the repair.
    let mut unlocked = unlock(container, &with, &prompt)?;
    let from_backup = unlocked.opened_from_backup();
    let used = if from_backup {
        "the backup copy (end of the file)"
    } else {
        "the primary copy (start of the file)"
    };
    unlocked.write_headers()?;
    if header_has_problem(before) || from_backup {
        println!(
            "Repaired the header of {}: rewrote both copies from {used}.",
            path.display()
        );
    } else {
        println!(
            "Both header copies of {} were intact; rewrote them from {used} anyway.",
            path.display()
        );
    }
    print_fields(&[
        ("Before".into(), header_status_text(before)),
        ("Now".into(), header_status_text(unlocked.header_status())),
    ]);
    Ok(())
}

/// Create `path` (never overwriting), readable by the owner only, holding `bytes`, synced.
fn write_new_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            return Err(CliError::FileExists(path.to_owned()).into());
        }
        Err(err) => {
            return Err(err).with_context(|| format!("cannot create {}", path.display()));
        }
    };
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| secvol_core::storage::sync_parent_dir(path));
    if let Err(err) = written {
        drop(file);
        // A partial backup is worse than none: it looks like one.
        let _ = std::fs::remove_file(path);
        return Err(err).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// Read a header backup file, refusing anything that cannot be one (a damaged header is
/// reported here, naming the file; an unsupported version is left to the core, which gives
/// it its own exit code).
fn read_backup(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bad = |reason: String| CliError::BadHeaderBackup {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path)
        .with_context(|| format!("cannot open the header backup {}", path.display()))?;
    let mut bytes = Vec::with_capacity(HEADER_LEN);
    // One byte more than a backup has, to notice a file that is too long.
    file.take(HEADER_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the header backup {}", path.display()))?;
    if bytes.len() != HEADER_LEN {
        let size = if bytes.len() > HEADER_LEN {
            "more than 4096 bytes".to_owned()
        } else {
            format!("{} bytes", bytes.len())
        };
        return Err(bad(format!(
            "{size}; a header backup is exactly {HEADER_LEN} bytes"
        ))
        .into());
    }
    match Header::parse(&bytes) {
        Err(ParseError::Damaged(damage)) => Err(bad(damage.to_string()).into()),
        Ok(_) | Err(ParseError::UnsupportedVersion(_)) => Ok(bytes),
    }
}
