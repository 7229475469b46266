//! Errors that the command line itself detects (as opposed to [`secvol_core::ContainerError`],
//! which the core returns). Each one maps to an exit code in `exit.rs`.

use std::path::PathBuf;

use secvol_core::policy::WeakPassword;

/// An error found by the CLI before or around its calls into the core.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A password is needed, none was given in a file, and there is no terminal to ask on.
    #[error(
        "no terminal to ask for the password on; use --password-file FILE \
         (or --password-file - to read it from standard input)"
    )]
    NoTerminal,
    /// A password box was needed (no terminal, or `--gui`) but there is no desktop session.
    #[error(
        "no terminal and no desktop to ask for the password on; use --password-file FILE \
         (or --password-file - to read it from standard input)"
    )]
    NoDesktop,
    /// A password box was needed but no dialog program is installed (Linux, BSD).
    #[error(
        "no program to show a password box with: install zenity (apt-get install zenity; \
         dnf install zenity) or kdialog, or run secvol in a terminal"
    )]
    NoDialogProgram,
    /// The user pressed Cancel in the password box.
    #[error("cancelled: no password was given, nothing was changed")]
    Cancelled,
    /// `mount` on a folder that has files in it, without `--allow-non-empty`.
    #[error(
        "{} is not empty: files in it would be hidden while the container is mounted there, \
         and a program could write into it by mistake after the container is dismounted; \
         choose an empty or new folder, or pass --allow-non-empty",
        .0.display()
    )]
    MountpointNotEmpty(PathBuf),
    /// The password (first line of a file, or typed) is empty.
    #[error("no password: {0} is empty")]
    EmptyPassword(String),
    /// The password is not valid UTF-8.
    #[error("the password in {0} is not valid UTF-8 text")]
    PasswordNotUtf8(String),
    /// The first line of a password file is unreasonably long.
    #[error("the first line of {0} is longer than {max} bytes; is it really a password file?", max = crate::password::MAX_PASSWORD_LEN)]
    PasswordTooLong(String),
    /// The two typed copies of a new password differ.
    #[error("the two passwords do not match; nothing was changed")]
    PasswordMismatch,
    /// Two options both ask to read standard input.
    #[error(
        "--password-file - and --new-password-file - cannot both read standard input; \
         put one of the passwords in a file"
    )]
    BothFromStdin,
    /// The chosen password is too weak and `--allow-weak-password` was not given.
    #[error("{0}; choose a longer passphrase, or pass --allow-weak-password to use it anyway")]
    WeakPassword(WeakPassword),
    /// `--scrypt-log-n` outside the accepted range.
    #[error("--scrypt-log-n {value} is out of bounds: accepted values are {min} to {max}")]
    ScryptLogNOutOfBounds {
        /// The value given.
        value: u32,
        /// Smallest accepted.
        min: u8,
        /// Largest accepted.
        max: u8,
    },
    /// A file that would be created exists already.
    #[error("{}: file already exists; refusing to overwrite it", .0.display())]
    FileExists(PathBuf),
    /// A file inside the container that `put` would replace without `--force`.
    #[error("{0}: already exists in the container; use --force to replace it")]
    ExistsInContainer(String),
    /// A header backup file that cannot be a secvol header backup.
    #[error("{}: not a usable secvol header backup ({reason})", path.display())]
    BadHeaderBackup {
        /// The backup file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The container is mounted already.
    #[error("{} is already mounted on {}", container.display(), mountpoint.display())]
    AlreadyMounted {
        /// The container.
        container: PathBuf,
        /// Where.
        mountpoint: PathBuf,
    },
    /// Files inside a mount are still open and `--force` was not given.
    #[cfg_attr(
        windows,
        allow(
            dead_code,
            reason = "Windows cannot name the processes holding files yet"
        )
    )]
    #[error(
        "files in {} are still in use by: {holders}. Close them (and leave the folder), then \
         try again, or use 'secvol unmount --force' to detach it now (the data of those files \
         is written when they are closed)",
        mountpoint.display()
    )]
    MountBusy {
        /// The mount point.
        mountpoint: PathBuf,
        /// "name (pid N), ...".
        holders: String,
    },
    /// A command that needs the container unmounted (or mounted read-write).
    #[error(
        "{} is mounted on {}: unmount it first to {action} ('secvol unmount {}')",
        container.display(),
        mountpoint.display(),
        mountpoint.display()
    )]
    UnmountFirst {
        /// The container.
        container: PathBuf,
        /// Where it is mounted.
        mountpoint: PathBuf,
        /// What the command was going to do ("shrink it").
        action: &'static str,
    },
    /// A shrink the files do not fit.
    #[error(
        "cannot shrink to {requested}: the files need {needed} and the smaller container has \
         room for {room}. Delete or move out at least {must_free} of files first, or choose a \
         larger size; nothing was changed"
    )]
    NotEnoughRoom {
        /// The size asked for.
        requested: String,
        /// What the files need.
        needed: String,
        /// What the smaller container offers.
        room: String,
        /// The difference, rounded up.
        must_free: String,
    },
    /// `destroy` without `--yes` and without a terminal to confirm on.
    #[error(
        "no terminal to confirm on: type the command in a terminal, or add --yes to destroy \
         without confirming"
    )]
    ConfirmationNeeded,
    /// The name typed back at `destroy` was not the container's.
    #[error("you typed {typed:?}, not {expected:?}: nothing was destroyed")]
    NotConfirmed {
        /// What had to be typed.
        expected: String,
        /// What was typed.
        typed: String,
    },
    /// An error the mount daemon reported, with its exit code.
    #[error("{message}")]
    Reported {
        /// The daemon's exit code.
        code: u8,
        /// Its one-line message.
        message: String,
    },
    /// A keyfile that cannot be used.
    #[error("the keyfile {}: {source}", path.display())]
    BadKeyfile {
        /// The keyfile.
        path: PathBuf,
        /// Why.
        source: secvol_core::KeyfileError,
    },
    /// A keyfile too short to open a keyslot alone.
    #[error(
        "the keyfile {} holds only {len} bytes: too few to open a container on its own \
         (at least 32 random bytes; 'secvol key add --create-keyfile' makes one)",
        path.display()
    )]
    WeakKeyfile {
        /// The keyfile.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// A recovery key that was mistyped (or is not one).
    #[error("{0}")]
    BadRecoveryKey(secvol_core::recovery::RecoveryKeyError),
    /// `secvol import`: some copies did not match their originals when read back.
    #[error(
        "{failed} of {total} copied files did not match their originals when read back from \
         the container (listed above); nothing was deleted"
    )]
    ImportNotVerified {
        /// Files whose copy differs or cannot be read.
        failed: usize,
        /// Files copied.
        total: usize,
    },
    /// `secvol check` found damage (the report was printed on standard output).
    #[error("{}: check found damage: {summary}", path.display())]
    DamageFound {
        /// The container.
        path: PathBuf,
        /// One-line summary of what is damaged.
        summary: String,
    },
}
