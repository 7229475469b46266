//! `secvol passwd`.

use secvol_core::Access;

use super::{kdf_for_new_password, kdf_override, open_and_unlock, read_new};
use crate::PasswdArgs;
use crate::password::{PasswordSource, enforce_strength, ensure_one_stdin};

/// Unlock with the current password, then rewrap the opened keyslot under the new one.
pub fn run(args: &PasswdArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let kdf = kdf_override(args.scrypt_log_n)?;
    let current = PasswordSource::from_option(args.password_file.as_deref());
    let new = PasswordSource::from_option(args.new_password_file.as_deref());
    ensure_one_stdin(&current, &new)?;

    // The current password first: a wrong one fails before a new one is asked for.
    let mut unlocked = open_and_unlock(path, Access::ReadWrite, &current)?;
    let password = read_new(&new, path, "New password")?;
    enforce_strength(&password, path, args.allow_weak_password)?;
    let kdf = kdf_for_new_password(kdf);
    unlocked.change_password(&password, kdf)?;

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
