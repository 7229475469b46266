//! `secvol info`: public header facts, and with a password the authenticated ones.
//!
//! The report is a list of sections printed as `Label: value` rows. Without a password only
//! the header section exists and is marked as unauthenticated; with a password the header
//! section comes from the authenticated header and a password section follows. When the file
//! system layer exists, its facts (used and free space, number of files and directories)
//! become one more section built from the unlocked container, after the password section.

use std::path::Path;

use secvol_core::header::{FLAG_QUICK, FORMAT_VERSION, Header};

use secvol_core::{Access, ContainerError, DeviceMode, HeaderStatus, UnlockedContainer};
use secvol_fs::{Fs, FsOptions};

use super::{
    Rows, display_name, header_status_text, keyslots_text, open_container, print_sections, unlock,
    warn_header_state,
};
use crate::InfoArgs;
use crate::credentials::UnlockWith;
use crate::size::{format_size, format_size_exact};

/// Print what the header says; unlock first if a password file was given.
pub fn run(args: &InfoArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    // With a password, a shared lock lets us read the file system too; while the container
    // is mounted read-write that lock is refused and header-only access (no lock) still
    // shows the header facts.
    let with = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    let (container, locked) = if with.anything_given() {
        match open_container(path, Access::ReadOnly) {
            Ok(container) => (container, true),
            Err(err)
                if matches!(
                    err.downcast_ref::<ContainerError>(),
                    Some(ContainerError::InUse { .. })
                ) =>
            {
                (open_container(path, Access::HeaderOnly)?, false)
            }
            Err(err) => return Err(err),
        }
    } else {
        (open_container(path, Access::HeaderOnly)?, false)
    };
    if !with.anything_given() {
        warn_header_state(path, container.header_status(), None);
        print_sections(&[header_rows(
            path,
            container.header(),
            container.header_status(),
        )]);
        println!();
        println!(
            "Note: these facts were read without a password and are NOT authenticated: \
             anyone who can write the file could have changed them. Give the password \
             (--password-file) to verify them."
        );
        return Ok(());
    };

    let prompt = format!("Password for {}: ", display_name(path));
    let unlocked = unlock(container, &with, &prompt)?;
    warn_header_state(
        path,
        unlocked.header_status(),
        Some(unlocked.opened_from_backup()),
    );
    let sections = vec![
        header_rows(path, unlocked.header(), unlocked.header_status()),
        password_rows(&unlocked),
        file_system_rows(&unlocked, locked),
    ];
    print_sections(&sections);
    println!();
    println!("The facts above come from the header authenticated with this password.");
    Ok(())
}

/// Facts of one header copy (public: no key needed to read them).
fn header_rows(path: &Path, header: &Header, status: HeaderStatus) -> Rows {
    let geometry = &header.geometry;
    let mut rows: Rows = vec![
        ("Container".into(), path.display().to_string()),
        ("Format version".into(), FORMAT_VERSION.to_string()),
        ("Container UUID".into(), header.container_id_string()),
        (
            "Cipher".into(),
            format!("{} ({}-bit key)", header.suite, header.suite.key_bits()),
        ),
        (
            "Container size".into(),
            format_size_exact(geometry.container_len),
        ),
        (
            "Usable capacity".into(),
            format_size_exact(geometry.capacity_bytes()),
        ),
        (
            "Data area".into(),
            if header.flags & FLAG_QUICK != 0 {
                "created sparse (--quick)".into()
            } else {
                "filled with random bytes at creation".into()
            },
        ),
        ("Keyslots in use".into(), keyslots_text(header)),
    ];
    rows.extend(
        header
            .active_slots()
            .map(|(index, slot)| (format!("  keyslot {index}"), slot.kind.to_string())),
    );
    rows.push(("Header copies".into(), header_status_text(status)));
    rows
}

fn password_rows(unlocked: &UnlockedContainer) -> Rows {
    let copy = if unlocked.opened_from_backup() {
        "backup copy, at the end of the file"
    } else {
        "primary copy, at the start of the file"
    };
    vec![
        (
            "Password".into(),
            format!("correct: it opened keyslot {}", unlocked.opened_slot()),
        ),
        ("Header".into(), format!("authenticated ({copy})")),
    ]
}

/// Used and free space and object counts, read without changing anything. `locked`: we hold
/// the shared lock (the container is not mounted read-write).
fn file_system_rows(unlocked: &UnlockedContainer, locked: bool) -> Rows {
    if !locked {
        return vec![(
            "Files".into(),
            "not shown: the container is in use (mounted read-write)".into(),
        )];
    }
    let opened = unlocked
        .open_stack(DeviceMode::ReadOnly)
        .map_err(anyhow::Error::from)
        .and_then(|stack| Ok(Fs::open(stack, FsOptions::default())?));
    let fs = match opened {
        Ok(fs) => fs,
        Err(err) => {
            return vec![(
                "Files".into(),
                format!("cannot read the file system: {err:#} (run 'secvol check')"),
            )];
        }
    };
    let stats = fs.stats();
    let used = stats.used_bytes.min(stats.usable_bytes);
    let free = stats.usable_bytes - used;
    let percent = if stats.usable_bytes == 0 {
        0.0
    } else {
        used as f64 * 100.0 / stats.usable_bytes as f64
    };
    let rows = vec![
        (
            "Space used".into(),
            format!(
                "{} of {} ({percent:.1}%)",
                format_size(used),
                format_size(stats.usable_bytes)
            ),
        ),
        ("Space free".into(), format_size(free)),
        (
            "Files".into(),
            format!(
                "{} (inodes: files, directories and links, the root included)",
                stats.inodes
            ),
        ),
    ];
    if let Err(err) = fs.close() {
        log::warn!("closing the read-only file system: {err}");
    }
    rows
}
