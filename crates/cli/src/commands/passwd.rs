//! `secvol passwd`.

use secvol_core::{Access, ContainerError, Credential, KeyslotKind};

use super::{kdf_for_new_password, kdf_override, open_and_unlock_keeping_secrets, read_new};
use crate::PasswdArgs;
use crate::credentials::UnlockWith;
use crate::password::{PasswordSource, enforce_strength, ensure_one_stdin};

/// Unlock with the current password, then rewrap the opened keyslot under the new one.
pub fn run(args: &PasswdArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let kdf = kdf_override(args.scrypt_log_n)?;
    let current = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    let new = PasswordSource::from_option(args.new_password_file.as_deref());
    if current.reads_stdin() {
        ensure_one_stdin(&PasswordSource::Stdin, &new)?;
    }

    // The current password first: a wrong one fails before a new one is asked for.
    let (mut unlocked, secrets) =
        open_and_unlock_keeping_secrets(path, Access::ReadWrite, &current)?;
    // Keyfile-only and recovery-key keyslots have no password: refused before asking for one.
    let kind = unlocked.opened_kind();
    let keyfile = match kind {
        KeyslotKind::Password(_) => None,
        KeyslotKind::PasswordAndKeyfile(_) => secrets.keyfile.as_ref(),
        KeyslotKind::Keyfile(_) | KeyslotKind::RecoveryKey => {
            return Err(ContainerError::WrongKeyslotKind {
                slot: unlocked.opened_slot(),
                needs: kind.needs(),
                hint: "to set a password, use 'secvol key add' (and 'secvol key remove' for \
                       a keyslot whose password was forgotten)",
            }
            .into());
        }
    };
    let password = read_new(&new, path, "New password")?;
    enforce_strength(&password, path, args.allow_weak_password)?;
    let kdf = kdf_for_new_password(kdf);
    let credential = match keyfile {
        Some(keyfile) => Credential::PasswordAndKeyfile(&password, keyfile),
        None => Credential::Password(&password),
    };
    unlocked.change_password_with(&credential, kdf)?;

    println!(
        "Changed the password of keyslot {} of {} ({kdf}).",
        unlocked.opened_slot(),
        path.display()
    );
    println!(
        "Only the header was rewritten; the data is unchanged. A header backup made before \
         now still opens with the old password: make a new one and destroy the old one."
    );
    Ok(())
}
