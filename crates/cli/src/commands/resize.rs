//! `secvol resize`: grow a container (offline, or through the mount daemon while mounted) or
//! shrink it (offline).
//!
//! The order of the writes and why each is crash-safe is the core's business
//! (`secvol_core::resize`, docs/format.md §11); moving the file system out of the tail before
//! a shrink, and handing it the new blocks after a grow, is `secvol_fs::resize`'s. This module
//! decides which path to take, asks for the password, draws progress and prints the result.

use std::sync::Arc;

use secvol_core::geometry::MIN_CONTAINER_LEN;
use secvol_core::{Access, BLOCK_SIZE, BlockDevice, Container, UnlockedContainer};
use secvol_fs::ShrinkError;
use secvol_fs::resize::fit_into;

use super::{open_and_unlock, open_container, print_fields};
use crate::ResizeArgs;
use crate::credentials::UnlockWith;
#[cfg(unix)]
use crate::credentials::read_secrets;
use crate::error::CliError;
use crate::mounts;
use crate::progress;
use crate::size::{format_size, format_size_exact, parse_quantity};

/// The value of `--size`: a new size, or an amount to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeChange {
    /// `SIZE`: the new size in bytes.
    To(u64),
    /// `+SIZE`: bytes to add to the current size.
    Add(u64),
}

impl SizeChange {
    /// The new size for a container of `current` bytes, rounded down to 4 KiB.
    fn resolve(self, current: u64) -> u64 {
        let bytes = match self {
            SizeChange::To(bytes) => bytes,
            SizeChange::Add(bytes) => current.saturating_add(bytes),
        };
        bytes - bytes % BLOCK_SIZE as u64
    }
}

/// clap's value parser of `--size SIZE|+SIZE`.
pub fn parse_size_change(text: &str) -> Result<SizeChange, String> {
    let trimmed = text.trim();
    if let Some(added) = trimmed.strip_prefix('+') {
        let bytes = parse_quantity(added)?;
        if bytes == 0 {
            return Err("+0 adds nothing; give the amount to add, for example +2G".into());
        }
        return Ok(SizeChange::Add(bytes));
    }
    let bytes = parse_quantity(trimmed)?;
    if bytes < MIN_CONTAINER_LEN {
        return Err(format!(
            "{bytes} bytes is too small: a container must be at least 1 MiB ({MIN_CONTAINER_LEN} bytes)"
        ));
    }
    Ok(SizeChange::To(bytes))
}

/// Grow or shrink a container.
pub fn run(args: &ResizeArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    let header_only = open_container(path, Access::HeaderOnly)?;
    let current = header_only.header().geometry.container_len;
    let requested = args.size.resolve(current);
    let with = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    if let Some(entry) = mounts::find_mount(path) {
        if requested < current {
            return Err(CliError::UnmountFirst {
                container: entry.container,
                mountpoint: entry.mountpoint,
                action: "shrink it (only growing works while mounted)",
            }
            .into());
        }
        if entry.read_only {
            return Err(CliError::UnmountFirst {
                container: entry.container,
                mountpoint: entry.mountpoint,
                action: "grow it (it is mounted read-only)",
            }
            .into());
        }
        if requested == current {
            return already(path, current);
        }
        return grow_mounted(args, &entry, &header_only, requested, &with);
    }
    drop(header_only);

    let mut unlocked = open_and_unlock(path, Access::ReadWrite, &with)?;
    let leftover = unlocked.discard_leftover_tail()?;
    if leftover > 0 {
        eprintln!(
            "Removed {} left at the end of the file by an interrupted resize.",
            format_size(leftover)
        );
    }
    if requested == current {
        return already(path, current);
    }
    let before = unlocked.header().geometry;
    if requested > current {
        grow_offline(&mut unlocked, requested, args.quick)?;
    } else {
        shrink_offline(&mut unlocked, requested)?;
    }
    let after = unlocked.header().geometry;
    drop(unlocked);
    println!("Resized {}:", path.display());
    let mut rows = vec![
        (
            "Size".to_owned(),
            format!(
                "{} -> {}",
                format_size(before.container_len),
                format_size_exact(after.container_len)
            ),
        ),
        (
            "Usable capacity".to_owned(),
            format_size_exact(after.capacity_bytes()),
        ),
    ];
    if after.container_len > before.container_len {
        rows.push(("Added space".to_owned(), fill_text(args.quick).to_owned()));
    }
    print_fields(&rows);
    Ok(())
}

fn already(path: &std::path::Path, current: u64) -> anyhow::Result<()> {
    println!(
        "{} is already {}; nothing to change.",
        path.display(),
        format_size_exact(current)
    );
    Ok(())
}

fn fill_text(quick: bool) -> &'static str {
    if quick {
        "left sparse (--quick): the file shows how much was added and, later, how much of it is written"
    } else {
        "filled with random bytes"
    }
}

/// Grow a container that nobody has open: header copies and file (core), then the file
/// system takes on the new blocks.
fn grow_offline(
    unlocked: &mut UnlockedContainer,
    requested: u64,
    quick: bool,
) -> anyhow::Result<()> {
    let old = unlocked.header().geometry;
    {
        // A file system that reserved room past the end of the container (only after a
        // storage-engine "no space" on old containers) is first brought within it, so that
        // nothing it addresses moves under it when the capacity rises.
        let device: Arc<dyn BlockDevice> = Arc::new(unlocked.open_device(false)?);
        if device.len() > old.capacity_bytes() {
            let spinner = progress::spinner("Bringing the file system within the container");
            let fitted = fit_into(device, old.capacity_blocks);
            spinner.finish_and_clear();
            fitted?;
        }
    }
    let bar = progress::bytes(
        "Filling the new space with random bytes",
        requested - old.container_len,
    );
    let grown = unlocked.grow(requested, quick, &mut |done, total| {
        progress::update(&bar, done, total)
    });
    bar.finish_and_clear();
    grown?;
    // The header now says the new size; give the file system the new blocks.
    let device: Arc<dyn BlockDevice> = Arc::new(unlocked.open_device(false)?);
    secvol_fs::resize::take_on_capacity(device)?;
    Ok(())
}

/// Shrink a container that nobody has open: move the file system out of the tail, then cut.
fn shrink_offline(unlocked: &mut UnlockedContainer, requested: u64) -> anyhow::Result<()> {
    let target = unlocked.geometry_for_len(requested)?;
    let device: Arc<dyn BlockDevice> = Arc::new(unlocked.open_device(false)?);
    let spinner = progress::spinner("Moving data out of the part to be cut off");
    let fitted = fit_into(device, target.capacity_blocks);
    spinner.finish_and_clear();
    match fitted {
        Ok(_) => {}
        Err(ShrinkError::TooFull { needed, room }) => {
            return Err(CliError::NotEnoughRoom {
                requested: format_size(requested),
                needed: format_size(needed),
                room: format_size(room),
                must_free: format_size(needed.saturating_sub(room).next_multiple_of(64 << 10)),
            }
            .into());
        }
        Err(ShrinkError::Fs(err)) => return Err(err.into()),
    }
    unlocked.shrink(requested)?;
    Ok(())
}

/// Grow a mounted container: the daemon serving it does the work.
#[cfg(unix)]
fn grow_mounted(
    args: &ResizeArgs,
    entry: &mounts::MountEntry,
    header_only: &Container,
    requested: u64,
    with: &UnlockWith,
) -> anyhow::Result<()> {
    let current = header_only.header().geometry.container_len;
    let Some(pid) = mounts::daemon_pid(&entry.mountpoint) else {
        return Err(CliError::UnmountFirst {
            container: entry.container.clone(),
            mountpoint: entry.mountpoint.clone(),
            action: "grow it (no secvol daemon serves that mount)",
        }
        .into());
    };
    // Whatever opens the container offline opens it here: the daemon checks the same
    // credentials (password, keyfile, recovery key) against the header.
    let secrets = read_secrets(
        with,
        header_only.header(),
        &format!("Password for {}: ", super::display_name(&args.container)),
    )?;
    let bar = progress::bytes(
        "Filling the new space with random bytes",
        requested - current,
    );
    let grown =
        crate::control::request_grow(pid, requested, args.quick, &secrets, &mut |done, total| {
            progress::update(&bar, done, total)
        });
    bar.finish_and_clear();
    drop(secrets);
    let grown = grown?;
    println!(
        "Resized {} while mounted on {}:",
        entry.container.display(),
        entry.mountpoint.display()
    );
    print_fields(&[
        (
            "Size".to_owned(),
            format!(
                "{} -> {}",
                format_size(current),
                format_size_exact(grown.container_len)
            ),
        ),
        (
            "Space in the mount".to_owned(),
            format!("{} (df shows it now)", format_size(grown.usable)),
        ),
        ("Added space".to_owned(), fill_text(args.quick).to_owned()),
    ]);
    Ok(())
}

/// Windows has no control channel to the mount daemon yet.
#[cfg(not(unix))]
fn grow_mounted(
    _args: &ResizeArgs,
    entry: &mounts::MountEntry,
    _header_only: &Container,
    _requested: u64,
    _with: &UnlockWith,
) -> anyhow::Result<()> {
    Err(CliError::UnmountFirst {
        container: entry.container.clone(),
        mountpoint: entry.mountpoint.clone(),
        action: "grow it (growing a mounted container is not available on Windows yet)",
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_additions_are_parsed() {
        assert_eq!(parse_size_change("8M"), Ok(SizeChange::To(8 << 20)));
        assert_eq!(parse_size_change("+2G"), Ok(SizeChange::Add(2 << 30)));
        assert_eq!(parse_size_change("+64K"), Ok(SizeChange::Add(64 << 10)));
        assert!(parse_size_change("+0").is_err());
        assert!(
            parse_size_change("512K")
                .unwrap_err()
                .contains("at least 1 MiB")
        );
        assert!(parse_size_change("+").is_err());
        assert!(parse_size_change("-1G").is_err());
    }

    #[test]
    fn new_sizes_are_rounded_down_to_whole_blocks() {
        assert_eq!(SizeChange::To((8 << 20) + 100).resolve(1 << 20), 8 << 20);
        assert_eq!(SizeChange::Add(6000).resolve(8 << 20), (8 << 20) + 4096);
    }
}
