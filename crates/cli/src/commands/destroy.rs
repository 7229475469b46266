//! `secvol destroy`: crypto-erase a container (the core overwrites what unlocks it; this
//! module confirms with the user and says plainly what remains possible).

use std::io::{BufRead, IsTerminal, Write};

use secvol_core::{Access, Container, ContainerError};

use super::display_name;
use crate::DestroyArgs;
use crate::error::CliError;
use crate::mounts;
use crate::size::format_size;

/// What a header backup still allows: printed before the confirmation and after the erase.
pub const BACKUP_RISK: &str = "A header backup made earlier ('secvol header backup'), together \
with a password that was valid when it was made, still holds the key to the data: with their \
own tools, someone who has both can decrypt this file (or any copy of it). Destroy every header \
backup of this container too.";

/// Crypto-erase a container after confirmation.
pub fn run(args: &DestroyArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    // A file that is not a secvol container is refused before anything is asked or written.
    match Container::open(path, Access::HeaderOnly) {
        Ok(_)
        | Err(
            ContainerError::HeadersDamaged { .. }
            | ContainerError::Truncated { .. }
            | ContainerError::UnsupportedVersion { .. },
        ) => {}
        Err(err @ ContainerError::Io(_)) => {
            return Err(anyhow::Error::from(err).context(format!("cannot open {}", path.display())));
        }
        Err(err) => return Err(err.into()),
    }
    if let Some(entry) = mounts::find_mount(path) {
        return Err(CliError::UnmountFirst {
            container: entry.container,
            mountpoint: entry.mountpoint,
            action: "destroy it",
        }
        .into());
    }
    let name = display_name(path);
    if !args.yes {
        confirm(&name)?;
    }
    let report = secvol_core::destroy(path)?;
    println!(
        "Destroyed {}: every keyslot of both header copies, both header areas and both super \
         slots were overwritten with random bytes ({}) and written to the disk. No password \
         opens it any more, and restoring a header backup does not open it either.",
        path.display(),
        format_size(report.bytes())
    );
    println!(
        "The file itself is still there and now holds only undecryptable bytes: delete it as \
         you like."
    );
    println!("IMPORTANT: {BACKUP_RISK}");
    Ok(())
}

/// Ask for the container's file name typed back (on the terminal only).
fn confirm(name: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::ConfirmationNeeded.into());
    }
    let mut stderr = std::io::stderr();
    writeln!(
        stderr,
        "This destroys {name} for good: no password will open it again, and nothing inside \
         can be recovered by secvol.\n{BACKUP_RISK}"
    )?;
    write!(stderr, "Type the file name ({name}) to destroy it: ")?;
    stderr.flush()?;
    let mut typed = String::new();
    std::io::stdin().lock().read_line(&mut typed)?;
    let typed = typed.trim_end_matches(['\n', '\r']).to_owned();
    if typed != name {
        return Err(CliError::NotConfirmed {
            expected: name.to_owned(),
            typed,
        }
        .into());
    }
    Ok(())
}
