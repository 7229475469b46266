//! What the Unix (`mount.rs`) and Windows (`mount_windows.rs`) mount commands share: they
//! start the daemon differently, then talk to it the same way — the secret goes down the
//! daemon's standard input, the verdict comes back on its standard output as lines
//! (`warning: TEXT`, then `ready` or `error CODE TEXT`). Also the daemon's log file, the
//! message boxes around a mount started from a double-clicked script, and `list`'s table.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Child;

use anyhow::bail;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::credentials;
use crate::dialog::{Dialog, MessageKind};
use crate::error::CliError;
use crate::{exit, state};

/// How many passwords the password box asks for before `mount` gives up.
pub const PASSWORD_BOX_ATTEMPTS: usize = 5;

/// What opens the container, as the daemon receives it on its standard input.
pub enum DaemonSecret<'a> {
    /// The password line.
    Password(SecretString),
    /// A keyfile's digest or a recovery key, with a password where needed (credential
    /// lines, `credentials.rs`).
    Credentials(&'a credentials::Secrets),
}

/// What became of a daemon: serving, or stopped with the error it reported.
pub enum Started {
    /// Serving; the header warnings it reported (already printed).
    Ready(Child, Vec<String>),
    Failed {
        code: u8,
        message: String,
    },
}

/// Hand `secret` to a daemon started with a piped standard input and output, and wait for its
/// verdict. The secret is dropped (zeroized) before waiting.
pub fn hand_over_and_wait(mut daemon: Child, secret: DaemonSecret<'_>) -> anyhow::Result<Started> {
    {
        let mut stdin = daemon.stdin.take().expect("stdin is piped");
        // A daemon that died early is reported below from its status line or exit status.
        match &secret {
            DaemonSecret::Password(password) => {
                let mut line = Zeroizing::new(password.expose_secret().as_bytes().to_vec());
                line.push(b'\n');
                let _ = stdin.write_all(&line);
            }
            DaemonSecret::Credentials(secrets) => {
                let _ = credentials::write_handoff(&mut stdin, secrets);
            }
        }
    }
    drop(secret);

    let status = BufReader::new(daemon.stdout.take().expect("stdout is piped"));
    let mut warnings = Vec::new();
    for line in status.lines() {
        let line = line.unwrap_or_default();
        if let Some(warning) = line.strip_prefix("warning: ") {
            eprintln!("warning: {warning}");
            warnings.push(warning.to_owned());
        } else if line == "ready" {
            return Ok(Started::Ready(daemon, warnings));
        } else if let Some(error) = line.strip_prefix("error ") {
            let (code, message) = error.split_once(' ').unwrap_or(("1", error));
            let _ = daemon.wait();
            return Ok(Started::Failed {
                code: code.parse().unwrap_or(exit::OTHER),
                message: message.to_owned(),
            });
        }
    }
    let status = daemon.wait()?;
    bail!("the mount daemon stopped before the container was mounted ({status})");
}

/// After a failed attempt: whether to ask the password box again (a wrong password, attempts
/// left), having said so in a message box.
pub fn ask_again(
    dialog: Option<&Dialog>,
    name: &str,
    code: u8,
    attempt: usize,
) -> anyhow::Result<bool> {
    let Some(dialog) = dialog else {
        return Ok(false);
    };
    if code != exit::WRONG_PASSWORD || attempt >= PASSWORD_BOX_ATTEMPTS {
        return Ok(false);
    }
    dialog.message(
        MessageKind::Error,
        "Wrong password",
        &format!(
            "That password does not open {name}.\n\nCheck Caps Lock and the keyboard layout, \
             then try again."
        ),
    )?;
    Ok(true)
}

/// The message box that says the container is open (with the daemon's warnings, if any).
pub fn show_mounted(
    dialog: &Dialog,
    name: &str,
    mountpoint: &str,
    read_only: bool,
    warnings: &[String],
) {
    let mut text = format!(
        "{name} is open: its files are in {mountpoint}{}.\n\nDismount it before you remove the \
         drive.",
        if read_only { " (read-only)" } else { "" }
    );
    let kind = if warnings.is_empty() {
        MessageKind::Info
    } else {
        for warning in warnings {
            text.push_str(&format!("\n\nWarning: {warning}"));
        }
        MessageKind::Warning
    };
    let _ = dialog.message(kind, "Mounted", &text);
}

/// Show `err` in a message box (not a cancel: the user knows). A box that cannot be shown
/// changes nothing: the error also goes to standard error.
pub fn show_error(dialog: &Dialog, title: &str, err: &anyhow::Error) {
    if matches!(err.downcast_ref(), Some(CliError::Cancelled)) {
        return;
    }
    let text = match err.downcast_ref() {
        // The terminal's text suggests --force; at the desk, closing the program is the answer.
        Some(CliError::MountBusy {
            mountpoint,
            holders,
        }) => format!(
            "The files in {} are still in use by: {holders}.\n\nSave your work and close that \
             program, then dismount again. Do not remove the drive yet.",
            mountpoint.display()
        ),
        _ => capitalized(&exit::one_line(err)),
    };
    let _ = dialog.message(MessageKind::Error, title, &text);
}

/// A mount's new log file in the state folder: removed again if the mount fails and nothing
/// was logged.
pub struct LogFile(pub PathBuf);

impl LogFile {
    /// A new log, or `None` (with a warning) if the state folder cannot hold one: the mount
    /// goes on without.
    pub fn create() -> Option<LogFile> {
        match state::new_mount_log() {
            Ok(path) => Some(LogFile(path)),
            Err(err) => {
                eprintln!("warning: the mount's log cannot be kept in the state folder: {err}");
                None
            }
        }
    }

    /// The mount succeeded: the log stays.
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        if std::fs::metadata(&self.0).is_ok_and(|meta| meta.len() == 0) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// One line of `secvol list`.
pub struct MountRow {
    pub container: PathBuf,
    pub mountpoint: String,
    pub read_only: bool,
    /// The daemon's log, if it keeps one.
    pub log: Option<PathBuf>,
    /// The daemon, if it was found.
    pub pid: Option<u32>,
}

/// Print `secvol list`'s table, then a note per mount naming its log and its first error.
pub fn print_mounts(mounts: &[MountRow]) {
    let mut notes = Vec::new();
    let rows: Vec<[String; 5]> = mounts
        .iter()
        .map(|mount| {
            let health = match state::health(mount.log.as_deref()) {
                state::Health::Clean => "clean".to_owned(),
                state::Health::Unknown => "-".to_owned(),
                state::Health::Errors { count, first } => {
                    notes.push(format!(
                        "{}: {count} error(s) logged, the first: {first}",
                        mount.mountpoint
                    ));
                    format!("{count} error(s)")
                }
            };
            if let Some(log) = &mount.log {
                notes.push(format!("{}: log {}", mount.mountpoint, log.display()));
            }
            [
                mount.container.display().to_string(),
                mount.mountpoint.clone(),
                if mount.read_only { "ro" } else { "rw" }.to_owned(),
                health,
                mount
                    .pid
                    .map_or_else(|| "-".to_owned(), |pid| pid.to_string()),
            ]
        })
        .collect();
    let header = ["CONTAINER", "MOUNTPOINT", "MODE", "HEALTH", "PID"].map(str::to_owned);
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        println!(
            "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
    }
    if !notes.is_empty() {
        println!();
        for note in notes {
            println!("{note}");
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_start_with_a_capital() {
        assert_eq!(capitalized("wrong password"), "Wrong password");
        assert_eq!(capitalized(""), "");
    }
}
