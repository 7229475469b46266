//! The commands, one module per command family, and what they share: opening and unlocking
//! a container with the right warnings, choosing the KDF cost, and printing `Label: value`
//! reports.

pub mod check;
pub mod create;
pub mod destroy;
pub mod export;
pub mod files;
pub mod header;
pub mod import;
pub mod info;
pub mod key;
pub mod kit;
#[cfg(unix)]
pub mod mount;
pub mod mount_common;
// Windows mounts (WinFsp drive letters) behind the same function names as the Unix module,
// so the dispatch in main.rs stays one list.
#[cfg(windows)]
#[path = "mount_windows.rs"]
pub mod mount;
pub mod passwd;
pub mod resize;
#[cfg(unix)]
pub mod serve;
pub mod shred;
pub mod volume;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use secvol_core::header::{Header, KEYSLOTS};
use secvol_core::{
    Access, Container, ContainerError, HeaderDamage, HeaderStatus, ScryptParams, SecretString,
    UnlockedContainer,
};

use crate::credentials::{self, Secrets, UnlockWith};
use crate::error::CliError;
use crate::password::{self, PasswordSource};

/// How long deriving a key from a new password should take when `--scrypt-log-n` is not given.
const KDF_TARGET: Duration = Duration::from_secs(1);

/// Check `--scrypt-log-n` before anything else happens (no password is asked for a command
/// that will fail anyway). `None`: calibrate later.
pub fn kdf_override(log_n: Option<u32>) -> Result<Option<ScryptParams>, CliError> {
    let Some(value) = log_n else {
        return Ok(None);
    };
    let out_of_bounds = || CliError::ScryptLogNOutOfBounds {
        value,
        min: ScryptParams::MIN_LOG_N,
        max: ScryptParams::MAX_LOG_N,
    };
    let log_n = u8::try_from(value).map_err(|_| out_of_bounds())?;
    let params = ScryptParams::with_log_n(log_n);
    // The core's bounds are the authority (they also cap memory and work).
    params.check_bounds().map_err(|_| out_of_bounds())?;
    Ok(Some(params))
}

/// The KDF cost for a new password: the override, or about one second on this machine.
pub fn kdf_for_new_password(overridden: Option<ScryptParams>) -> ScryptParams {
    overridden.unwrap_or_else(|| ScryptParams::calibrate(KDF_TARGET))
}

/// The name shown in prompts: the file name, or the path if it has none.
pub fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// `path` as one shell word for the commands we suggest.
pub fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:\\+=@%,".contains(c));
    if plain {
        text
    } else {
        format!("\"{}\"", text.replace('"', "\\\""))
    }
}

/// Open a container's header copies. I/O errors name the file.
pub fn open_container(path: &Path, access: Access) -> anyhow::Result<Container> {
    match Container::open(path, access) {
        Ok(container) => Ok(container),
        Err(err @ ContainerError::Io(_)) => {
            Err(err).with_context(|| format!("cannot open {}", path.display()))
        }
        Err(err) => Err(err.into()),
    }
}

/// Ask for (or read) the password of `container` (or its keyfile or recovery key, see
/// `credentials.rs`) and unlock it.
pub fn unlock(
    container: Container,
    with: &UnlockWith,
    prompt: &str,
) -> anyhow::Result<UnlockedContainer> {
    Ok(credentials::unlock(container, with, prompt)?.0)
}

/// Read a password and unlock `path`, printing the header warnings. The usual first step of
/// every command that changes or reads a container.
pub fn open_and_unlock(
    path: &Path,
    access: Access,
    with: &UnlockWith,
) -> anyhow::Result<UnlockedContainer> {
    Ok(open_and_unlock_keeping_secrets(path, access, with)?.0)
}

/// [`open_and_unlock`], also returning the secrets that were read.
pub fn open_and_unlock_keeping_secrets(
    path: &Path,
    access: Access,
    with: &UnlockWith,
) -> anyhow::Result<(UnlockedContainer, Secrets)> {
    let container = open_container(path, access)?;
    let prompt = format!("Password for {}: ", display_name(path));
    let (unlocked, secrets) = credentials::unlock(container, with, &prompt)?;
    warn_header_state(
        path,
        unlocked.header_status(),
        Some(unlocked.opened_from_backup()),
    );
    Ok((unlocked, secrets))
}

/// Warn on stderr about damaged or differing header copies. `opened_from_backup` is `None`
/// when nothing was unlocked (public facts only).
pub fn warn_header_state(path: &Path, status: HeaderStatus, opened_from_backup: Option<bool>) {
    if let Some(warning) = header_warning(path, status, opened_from_backup) {
        eprintln!("warning: {warning}");
    }
}

/// The warning about damaged or differing header copies, if any (without "warning: ").
pub fn header_warning(
    path: &Path,
    status: HeaderStatus,
    opened_from_backup: Option<bool>,
) -> Option<String> {
    let repair = format!("secvol header repair {}", shell_word(path));
    let name = path.display();
    let primary_reason = match status.primary {
        Err(damage) => Some(damage_text(damage)),
        Ok(()) if opened_from_backup == Some(true) => {
            Some("it did not authenticate with this password".to_owned())
        }
        Ok(()) => None,
    };
    if let Some(reason) = primary_reason {
        Some(format!(
            "the primary header of {name} is damaged ({reason}); opened from the backup copy. \
             Run '{repair}' to rewrite it."
        ))
    } else if let Err(damage) = status.backup {
        Some(format!(
            "the backup header of {name} (at the end of the file) is damaged ({}). Run \
             '{repair}' to rewrite it.",
            damage_text(damage)
        ))
    } else if status.copies_differ {
        Some(format!(
            "the two header copies of {name} differ (a header update was probably \
             interrupted). Run '{repair}' to make them the same."
        ))
    } else {
        None
    }
}

/// A header copy's damage in words.
pub fn damage_text(damage: HeaderDamage) -> String {
    damage.to_string()
}

/// Both header copies' state on one line.
pub fn header_status_text(status: HeaderStatus) -> String {
    let copy = |state: Result<(), HeaderDamage>| match state {
        Ok(()) => "OK".to_owned(),
        Err(damage) => format!("damaged ({})", damage_text(damage)),
    };
    let mut text = format!(
        "primary {}, backup {}",
        copy(status.primary),
        copy(status.backup)
    );
    if status.copies_differ {
        text.push_str("; the two copies differ");
    }
    text
}

/// Whether any header copy is damaged or the copies disagree.
pub fn header_has_problem(status: HeaderStatus) -> bool {
    status.primary.is_err() || status.backup.is_err() || status.copies_differ
}

/// Active keyslots: `2 of 16: 0, 3`.
pub fn keyslots_text(header: &Header) -> String {
    let active: Vec<String> = header
        .active_slots()
        .map(|(index, _)| index.to_string())
        .collect();
    format!("{} of {KEYSLOTS}: {}", active.len(), active.join(", "))
}

/// Rows of a `Label: value` report.
pub type Rows = Vec<(String, String)>;

/// Print `Label: value` rows with the values aligned.
pub fn print_fields(rows: &[(String, String)]) {
    print_sections(&[rows.to_vec()]);
}

/// Print sections of `Label: value` rows, values aligned across all sections, a blank line
/// between sections.
pub fn print_sections(sections: &[Rows]) {
    let width = sections
        .iter()
        .flatten()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0)
        + 1;
    for (i, rows) in sections.iter().enumerate() {
        if i > 0 {
            println!();
        }
        for (label, value) in rows {
            println!("{:<width$} {value}", format!("{label}:"));
        }
    }
}

/// Read a new password for `container` (`what`: "New password"), asked twice on a terminal.
pub fn read_new(
    source: &PasswordSource,
    container: &Path,
    what: &str,
) -> anyhow::Result<SecretString> {
    let name = display_name(container);
    password::read_new_password(
        source,
        &format!("{what} for {name}: "),
        &format!("Repeat the {} for {name}: ", what.to_lowercase()),
    )
}
