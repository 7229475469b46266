//! `secvol key add|remove|list`.

use secvol_core::Access;
use secvol_core::header::Keyslot;

use super::{
    kdf_for_new_password, kdf_override, keyslots_text, open_and_unlock, open_container, read_new,
    warn_header_state,
};
use crate::password::{PasswordSource, enforce_strength, ensure_one_stdin};
use crate::{KeyAddArgs, KeyListArgs, KeyRemoveArgs};

/// Unlock with an existing password, then put a new password into the first free keyslot.
pub fn add(args: &KeyAddArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let kdf = kdf_override(args.scrypt_log_n)?;
    let existing = PasswordSource::from_option(args.password_file.as_deref());
    let new = PasswordSource::from_option(args.new_password_file.as_deref());
    ensure_one_stdin(&existing, &new)?;

    let mut unlocked = open_and_unlock(path, Access::ReadWrite, &existing)?;
    let password = read_new(&new, path, "Additional password")?;
    enforce_strength(&password, path, args.allow_weak_password)?;
    let kdf = kdf_for_new_password(kdf);
    let slot = unlocked.add_keyslot(&password, kdf)?;

    println!("Added keyslot {slot} to {} ({kdf}).", path.display());
    println!("Keyslots in use: {}", keyslots_text(unlocked.header()));
    println!("A header backup made before now does not contain the new password: make a new one.");
    Ok(())
}

/// Unlock with any valid password, then empty keyslot `--slot`.
pub fn remove(args: &KeyRemoveArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let source = PasswordSource::from_option(args.password_file.as_deref());
    let mut unlocked = open_and_unlock(path, Access::ReadWrite, &source)?;
    let slot = usize::from(args.slot);
    let own_slot = unlocked.opened_slot() == slot;
    unlocked.remove_keyslot(slot)?;
    if own_slot {
        eprintln!(
            "warning: keyslot {} held the password you just typed; that password no longer \
             opens {}.",
            args.slot,
            path.display()
        );
    }
    println!("Removed keyslot {} from {}.", args.slot, path.display());
    println!("Keyslots in use: {}", keyslots_text(unlocked.header()));
    println!(
        "A header backup made before now still contains the removed password: make a new \
         one and destroy the old one."
    );
    Ok(())
}

/// List all keyslots from the public header (no password).
pub fn list(args: &KeyListArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let container = open_container(path, Access::HeaderOnly)?;
    warn_header_state(path, container.header_status(), None);
    let header = container.header();
    println!(
        "Keyslots of {} ({}):",
        path.display(),
        keyslots_text(header)
    );
    println!("  slot  state   key derivation");
    for (index, slot) in header.keyslots.iter().enumerate() {
        match slot {
            Keyslot::Active(active) => println!("  {index:>4}  active  {}", active.kind),
            Keyslot::Empty => println!("  {index:>4}  empty   -"),
        }
    }
    println!(
        "Note: read without a password; not authenticated (anyone who can write the file \
         could have changed it)."
    );
    Ok(())
}
