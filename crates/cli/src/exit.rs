//! Exit codes, and turning an error into the one `error: ` line printed on stderr.
//!
//! The table is part of the command-line contract (docs/cli.md); scripts rely on it. Every
//! error reaching `main` is an [`anyhow::Error`] whose chain still holds the typed error it came
//! from (a [`ContainerError`] from the core, or a [`CliError`]); [`exit_code`] finds it.

use secvol_core::{BlockError, ContainerError, KdfError};
use secvol_fs::{FsError, ShrinkError};

use crate::error::CliError;

/// Success.
#[allow(
    dead_code,
    reason = "documents the table; success is `ExitCode::SUCCESS`"
)]
pub const SUCCESS: u8 = 0;
/// Any error without a more specific code (I/O, bad keyslot index, last keyslot, ...).
pub const OTHER: u8 = 1;
/// Usage error. clap exits with this code by itself for its own errors.
pub const USAGE: u8 = 2;
/// No keyslot opens with the password.
pub const WRONG_PASSWORD: u8 = 3;
/// The file is not a secvol container.
pub const NOT_A_CONTAINER: u8 = 4;
/// The container file is shorter than its header says.
pub const TRUNCATED: u8 = 5;
/// Both header copies damaged, the header failed authentication, or a header backup of
/// another container.
pub const HEADER_DAMAGED: u8 = 6;
/// A container format version this build does not read.
pub const UNSUPPORTED_VERSION: u8 = 7;
/// scrypt parameters out of bounds (in a header, or asked for with `--scrypt-log-n`).
pub const KDF_OUT_OF_BOUNDS: u8 = 8;
/// A weak password was refused.
pub const WEAK_PASSWORD: u8 = 9;
/// `check` (or a read) found damaged blocks, super slots or header copies.
pub const DAMAGE_FOUND: u8 = 10;
/// Another process has the container open (mounted).
pub const IN_USE: u8 = 11;
/// A file that would be created already exists.
pub const ALREADY_EXISTS: u8 = 12;
/// The files in a container need more room than the size asked for (`resize` shrinking).
pub const NOT_ENOUGH_ROOM: u8 = 13;

/// The exit code for `err`: that of the first typed error found along its chain.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(err) = cause.downcast_ref::<CliError>() {
            return cli_error_code(err);
        }
        if let Some(err) = cause.downcast_ref::<ContainerError>() {
            return container_error_code(err);
        }
        if let Some(err) = cause.downcast_ref::<BlockError>() {
            return block_error_code(err);
        }
        if let Some(err) = cause.downcast_ref::<KdfError>() {
            return kdf_error_code(err);
        }
        if let Some(err) = cause.downcast_ref::<FsError>() {
            return fs_error_code(err);
        }
        if let Some(err) = cause.downcast_ref::<ShrinkError>() {
            return shrink_error_code(err);
        }
    }
    OTHER
}

fn cli_error_code(err: &CliError) -> u8 {
    match err {
        CliError::NoTerminal
        | CliError::NoDesktop
        | CliError::NoDialogProgram
        | CliError::Cancelled
        | CliError::MountpointNotEmpty(_)
        | CliError::EmptyPassword(_)
        | CliError::PasswordNotUtf8(_)
        | CliError::PasswordTooLong(_)
        | CliError::PasswordMismatch
        | CliError::BadKeyfile { .. } => OTHER,
        CliError::BadRecoveryKey(_) => WRONG_PASSWORD,
        CliError::WeakKeyfile { .. } => WEAK_PASSWORD,
        CliError::BothFromStdin => USAGE,
        CliError::WeakPassword(_) => WEAK_PASSWORD,
        CliError::ScryptLogNOutOfBounds { .. } => KDF_OUT_OF_BOUNDS,
        CliError::FileExists(_) | CliError::ExistsInContainer(_) => ALREADY_EXISTS,
        CliError::BadHeaderBackup { .. } => HEADER_DAMAGED,
        CliError::DamageFound { .. } | CliError::ImportNotVerified { .. } => DAMAGE_FOUND,
        CliError::AlreadyMounted { .. }
        | CliError::MountBusy { .. }
        | CliError::UnmountFirst { .. } => IN_USE,
        CliError::ConfirmationNeeded => USAGE,
        CliError::NotEnoughRoom { .. } => NOT_ENOUGH_ROOM,
        CliError::NotConfirmed { .. } => OTHER,
        CliError::Reported { code, .. } => *code,
    }
}

/// The one place where core errors become exit codes. Every variant is listed explicitly.
fn container_error_code(err: &ContainerError) -> u8 {
    match err {
        ContainerError::WrongPassword
        | ContainerError::WrongCredential { .. }
        | ContainerError::NoKeyslotOfKind { .. } => WRONG_PASSWORD,
        ContainerError::NotAContainer { .. } => NOT_A_CONTAINER,
        ContainerError::Truncated { .. } => TRUNCATED,
        ContainerError::HeadersDamaged { .. }
        | ContainerError::HeaderTampered
        | ContainerError::ForeignHeader { .. } => HEADER_DAMAGED,
        ContainerError::UnsupportedVersion { .. } => UNSUPPORTED_VERSION,
        ContainerError::Kdf(err) => kdf_error_code(err),
        ContainerError::InUse { .. } => IN_USE,
        ContainerError::AlreadyExists { .. } => ALREADY_EXISTS,
        ContainerError::Block(err) => block_error_code(err),
        ContainerError::TailInUse { .. } => NOT_ENOUGH_ROOM,
        ContainerError::NoFreeKeyslot(_)
        | ContainerError::BadResize { .. }
        | ContainerError::LastKeyslot(_)
        | ContainerError::BadKeyslot { .. }
        | ContainerError::WrongKeyslotKind { .. }
        | ContainerError::TooSmall { .. }
        | ContainerError::Io(_) => OTHER,
    }
}

fn block_error_code(err: &BlockError) -> u8 {
    match err {
        BlockError::AuthFailed { .. } | BlockError::SuperRecordDamaged => DAMAGE_FOUND,
        BlockError::OutOfRange { .. }
        | BlockError::NoSpace { .. }
        | BlockError::Unaligned { .. }
        | BlockError::LengthTooLarge { .. }
        | BlockError::Io(_) => OTHER,
    }
}

/// Errors of the file system inside the container (offline commands, mount).
fn fs_error_code(err: &FsError) -> u8 {
    match err {
        FsError::Exists => ALREADY_EXISTS,
        FsError::BlockDamaged { .. }
        | FsError::SuperRecordDamaged
        | FsError::RecordDamaged { .. }
        | FsError::DatabaseDamaged { .. }
        | FsError::NoFileSystem => DAMAGE_FOUND,
        FsError::UnsupportedFormat { .. } => UNSUPPORTED_VERSION,
        FsError::Block(err) => block_error_code(err),
        FsError::NotFound
        | FsError::NotDir
        | FsError::IsDir
        | FsError::NotEmpty
        | FsError::NameTooLong
        | FsError::Invalid(_)
        | FsError::NoSpace
        | FsError::ReadOnly
        | FsError::NotPermitted
        | FsError::TooManyLinks
        | FsError::FileTooLarge
        | FsError::BadHandle
        | FsError::NoXattr
        | FsError::Range
        | FsError::TooBig
        | FsError::NotSupported
        | FsError::Io(_)
        | FsError::Stopped { .. }
        | FsError::Engine(_) => OTHER,
    }
}

/// Why a container could not be shrunk.
fn shrink_error_code(err: &ShrinkError) -> u8 {
    match err {
        ShrinkError::TooFull { .. } => NOT_ENOUGH_ROOM,
        ShrinkError::Fs(err) => fs_error_code(err),
    }
}

fn kdf_error_code(err: &KdfError) -> u8 {
    match err {
        KdfError::ParamsOutOfBounds { .. } => KDF_OUT_OF_BOUNDS,
    }
}

/// The error and its causes on one line, without repeating a cause that an outer message
/// already quotes (thiserror messages often embed their source).
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;
    use std::io;

    #[test]
    fn container_errors_keep_their_code_through_context() {
        let err = anyhow::Error::from(ContainerError::WrongPassword).context("while unlocking");
        assert_eq!(exit_code(&err), WRONG_PASSWORD);
        let err: anyhow::Result<()> = Err(ContainerError::Kdf(KdfError::ParamsOutOfBounds {
            log_n: 30,
            r: 8,
            p: 1,
            reason: "too big",
        }))
        .context("reading the header");
        assert_eq!(exit_code(&err.unwrap_err()), KDF_OUT_OF_BOUNDS);
    }

    #[test]
    fn a_file_system_of_another_format_is_an_unsupported_version_not_damage() {
        let err = anyhow::Error::from(FsError::UnsupportedFormat {
            found: "2".into(),
            supported: 1,
        })
        .context("cannot open the files in x.sec");
        assert_eq!(exit_code(&err), UNSUPPORTED_VERSION);
        let err = anyhow::Error::from(FsError::BlockDamaged { index: 9 });
        assert_eq!(exit_code(&err), DAMAGE_FOUND);
    }

    #[test]
    fn unknown_errors_exit_with_1() {
        let err = anyhow::Error::from(io::Error::other("disk on fire"));
        assert_eq!(exit_code(&err), OTHER);
    }

    #[test]
    fn one_line_drops_causes_already_quoted_and_newlines() {
        let err = anyhow::Error::from(ContainerError::Io(io::Error::other("disk\non fire")))
            .context("cannot open x.sec");
        assert_eq!(one_line(&err), "cannot open x.sec: I/O error: disk on fire");
    }
}
