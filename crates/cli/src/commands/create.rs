//! `secvol create`.

use secvol_core::header::FLAG_QUICK;
use std::path::Path;

use secvol_core::{
    ContainerError, CreateOptions, Credential, DeviceMode, SecretString, UnlockedContainer,
};
use secvol_fs::Fs;

use super::{display_name, kdf_for_new_password, kdf_override, print_fields, read_new, shell_word};
use crate::CreateArgs;
use crate::credentials::{self, NewSecret};
use crate::error::CliError;
use crate::password::{PasswordSource, enforce_strength};
use crate::progress;
use crate::size::format_size_exact;
use crate::sys::current_ctx;

/// Create a container: check the arguments, read and judge the password, then let the core
/// write the file (filling it with random bytes unless `--quick`).
pub fn run(args: &CreateArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let kdf = kdf_override(args.scrypt_log_n)?;
    // Checked here so nobody types a password twice for nothing; the core refuses again,
    // atomically, when it creates the file.
    if path.symlink_metadata().is_ok() {
        return Err(CliError::FileExists(path.to_owned()).into());
    }
    credentials::refuse_existing_new_keyfile(args.create_keyfile, args.keyfile.as_deref())?;
    // A keyfile alone needs no password, so no box either.
    let dialog =
        crate::dialog::for_command(args.gui, args.password_file.is_none() && !args.keyfile_only)?;
    let read_password = || match &dialog {
        Some(dialog) => crate::password::choose_in_dialog(dialog, path, args.allow_weak_password),
        None => {
            let source = PasswordSource::from_option(args.password_file.as_deref());
            let password = read_new(&source, path, "New password")?;
            enforce_strength(&password, path, args.allow_weak_password)?;
            Ok(password)
        }
    };
    let secret = match &args.keyfile {
        Some(keyfile) => credentials::new_keyfile_secret(
            keyfile,
            args.create_keyfile,
            args.keyfile_only,
            args.allow_weak_password,
            read_password,
        )?,
        None => NewSecret::Password(read_password()?),
    };
    let options = CreateOptions {
        size: args.size,
        suite: args.cipher.suite(),
        kdf: kdf_for_new_password(kdf),
        quick: args.quick,
    };

    let created = create_with_credential(path, &secret.credential(), &options);
    // The "Password: stored in keyslot 0" row is what scripts have seen since the start.
    let keyslot_row = match &secret {
        NewSecret::PasswordAndKeyfile(..) => {
            ("Keyslot 0", "the password together with the keyfile")
        }
        NewSecret::Keyfile(_) => ("Keyslot 0", "the keyfile alone (no password)"),
        NewSecret::Password(_) | NewSecret::RecoveryKey(_) => ("Password", "stored in keyslot 0"),
    };
    drop(secret);
    let container = match (created, &dialog) {
        (Ok(container), Some(dialog)) => {
            let _ = dialog.message(
                crate::dialog::MessageKind::Info,
                "Created",
                &format!(
                    "{} is created ({}).\n\nKeep a header backup somewhere safe: secvol header \
                     backup.",
                    display_name(path),
                    format_size_exact(options.size)
                ),
            );
            container
        }
        (Ok(container), None) => container,
        (Err(err), Some(dialog)) => {
            let _ = dialog.message(
                crate::dialog::MessageKind::Error,
                "Not created",
                &crate::exit::one_line(&err),
            );
            return Err(err);
        }
        (Err(err), None) => return Err(err),
    };
    let header = container.header();
    println!("Created {}:", path.display());
    let fill = if header.flags & FLAG_QUICK != 0 {
        "left sparse (--quick): the file shows which parts have been written"
    } else {
        "filled with random bytes"
    };
    print_fields(&[
        (
            "Size".into(),
            format_size_exact(header.geometry.container_len),
        ),
        (
            "Usable capacity".into(),
            format_size_exact(header.geometry.capacity_bytes()),
        ),
        (
            "Cipher".into(),
            format!("{} ({}-bit key)", header.suite, header.suite.key_bits()),
        ),
        ("Key derivation".into(), options.kdf.to_string()),
        (keyslot_row.0.into(), keyslot_row.1.into()),
        ("Data area".into(), fill.into()),
    ]);
    if let Some(keyfile) = &args.keyfile {
        println!(
            "Keyfile: {}. Keep a copy of it somewhere safe: if it is lost or changed, the \
             container no longer opens with it.",
            keyfile.display()
        );
    }
    println!(
        "Keep a header backup somewhere safe: secvol header backup {} {}",
        shell_word(path),
        shell_word(&path.with_file_name(format!("{}.header", display_name(path))))
    );
    Ok(())
}

/// Create the container file at `path` (a progress bar while it is filled with random
/// bytes) with an empty file system in it. A failure removes the file again.
pub fn create_with_password(
    path: &Path,
    password: &SecretString,
    options: &CreateOptions,
) -> anyhow::Result<UnlockedContainer> {
    create_with_credential(path, &Credential::Password(password), options)
}

fn create_with_credential(
    path: &Path,
    credential: &Credential<'_>,
    options: &CreateOptions,
) -> anyhow::Result<UnlockedContainer> {
    let bar = progress::bytes("Filling with random bytes", options.size);
    let result = secvol_core::create_with(path, credential, options, &mut |done, total| {
        progress::update(&bar, done, total)
    });
    bar.finish_and_clear();
    let container = match result {
        Ok(container) => container,
        Err(err @ ContainerError::Io(_)) => {
            return Err(
                anyhow::Error::from(err).context(format!("cannot create {}", path.display()))
            );
        }
        Err(err) => return Err(err.into()),
    };
    // The empty file system (a root directory owned by the creating user). Without it the
    // container is useless, so a failure here removes the file again.
    if let Err(err) = format_file_system(&container) {
        drop(container);
        let _ = std::fs::remove_file(path);
        return Err(err.context(format!(
            "cannot create the file system in {}; the file was removed",
            path.display()
        )));
    }
    Ok(container)
}

fn format_file_system(container: &UnlockedContainer) -> anyhow::Result<()> {
    Fs::format(container.open_stack(DeviceMode::ReadWrite)?, current_ctx())?;
    Ok(())
}
