//! `secvol key add|remove|list`.

use secvol_core::header::Keyslot;
use secvol_core::{Access, RecoveryKey, ScryptParams, recovery};

use super::{
    kdf_for_new_password, kdf_override, keyslots_text, open_and_unlock, open_container, read_new,
    warn_header_state,
};
use crate::credentials::{self, NewSecret, UnlockWith};
use crate::password::{PasswordSource, enforce_strength, ensure_one_stdin};
use crate::{KeyAddArgs, KeyListArgs, KeyRemoveArgs};

/// Unlock with an existing password (or keyfile, or recovery key), then put a new secret into
/// the first free keyslot: a password, a password with a keyfile, a keyfile alone, or a fresh
/// recovery key (shown once).
pub fn add(args: &KeyAddArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let kdf = kdf_override(args.scrypt_log_n)?;
    let existing = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    let new = PasswordSource::from_option(args.new_password_file.as_deref());
    if existing.reads_stdin() {
        ensure_one_stdin(&PasswordSource::Stdin, &new)?;
    }
    credentials::refuse_existing_new_keyfile(args.create_keyfile, args.new_keyfile.as_deref())?;

    let mut unlocked = open_and_unlock(path, Access::ReadWrite, &existing)?;
    let secret = read_new_secret(args, &new)?;
    let kdf = match secret {
        NewSecret::RecoveryKey(_) => kdf.unwrap_or(ScryptParams::with_log_n(0)),
        _ => kdf_for_new_password(kdf),
    };
    let slot = unlocked.add_keyslot_with(&secret.credential(), kdf)?;

    let what = match &secret {
        NewSecret::Password(_) => String::new(),
        NewSecret::PasswordAndKeyfile(..) => format!("a password and a keyfile ({kdf})"),
        NewSecret::Keyfile(_) => format!("a keyfile alone ({kdf})"),
        NewSecret::RecoveryKey(_) => "a recovery key".to_owned(),
    };
    match &secret {
        // The line scripts have seen since before keyfiles existed.
        NewSecret::Password(_) => println!("Added keyslot {slot} to {} ({kdf}).", path.display()),
        _ => println!(
            "Added keyslot {slot} to {}, opened by {what}.",
            path.display()
        ),
    }
    if let NewSecret::RecoveryKey(key) = &secret {
        let printed = recovery::Printable::of(key);
        println!();
        println!("Recovery key (shown only this once; print it or write it down now):");
        println!();
        println!("    {}", printed.expose());
        println!();
        println!(
            "Keep it in a safe place, away from the container. With it, anyone can open the \
             container (--recovery-key-file) and set a new password, even if every password \
             is forgotten. It cannot be shown again; if it is lost, remove keyslot {slot} and \
             make a new one."
        );
    }
    if let (NewSecret::PasswordAndKeyfile(..) | NewSecret::Keyfile(_), Some(keyfile)) =
        (&secret, &args.new_keyfile)
    {
        println!(
            "Keyfile: {}. Keep a copy of it somewhere safe: if it is lost or changed, this \
             keyslot no longer opens.",
            keyfile.display()
        );
    }
    println!("Keyslots in use: {}", keyslots_text(unlocked.header()));
    println!("A header backup made before now does not contain the new keyslot: make a new one.");
    Ok(())
}

/// Read (or draw) the secret of the new keyslot, applying the strength rules.
fn read_new_secret(args: &KeyAddArgs, new: &PasswordSource) -> anyhow::Result<NewSecret> {
    let path = args.container.as_path();
    if args.recovery {
        return Ok(NewSecret::RecoveryKey(RecoveryKey::generate()));
    }
    let Some(keyfile_path) = &args.new_keyfile else {
        let password = read_new(new, path, "Additional password")?;
        enforce_strength(&password, path, args.allow_weak_password)?;
        return Ok(NewSecret::Password(password));
    };
    credentials::new_keyfile_secret(
        keyfile_path,
        args.create_keyfile,
        args.keyfile_only,
        args.allow_weak_password,
        || {
            let password = read_new(new, path, "Password to use with the keyfile")?;
            enforce_strength(&password, path, args.allow_weak_password)?;
            Ok(password)
        },
    )
}

/// Unlock with any valid password, then empty keyslot `--slot`.
pub fn remove(args: &KeyRemoveArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let with = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    let mut unlocked = open_and_unlock(path, Access::ReadWrite, &with)?;
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
