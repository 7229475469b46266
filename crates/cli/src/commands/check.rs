//! `secvol check`: look for damage without changing anything.
//!
//! The check is built from layers, each producing its part of a [`CheckReport`]: the header
//! copies, then the encrypted block device (super slots and every block). When the file system
//! layer exists, its consistency check becomes one more layer run on the opened device, with
//! its own section in the report and its own say in [`CheckReport::problems`].

use std::ops::Range;
use std::path::Path;

use secvol_core::{
    Access, BLOCK_SIZE, BlockError, ContainerError, DamageByUse, DeviceMode, HeaderStatus,
    UnlockedContainer, VerifyReport,
};

use secvol_fs::{Fs, FsOptions};

use super::{
    Rows, display_name, header_status_text, open_container, print_sections, unlock,
    warn_header_state,
};
use crate::CheckArgs;
use crate::credentials::UnlockWith;
use crate::error::CliError;
use crate::progress;

/// What the check found, layer by layer.
struct CheckReport {
    header: HeaderCheck,
    device: DeviceCheck,
    files: FilesCheck,
}

/// The file system's own check, run on the device after the block pass.
enum FilesCheck {
    /// The file system was walked.
    Checked(secvol_fs::CheckReport),
    /// It could not even be opened (its first blocks are damaged, for example).
    CannotOpen(String),
    /// Not run: the device could not be opened.
    Skipped,
}

struct HeaderCheck {
    status: HeaderStatus,
    opened_from_backup: bool,
}

enum DeviceCheck {
    /// The device opened and every block was read. `damage` sorts the damaged blocks by use,
    /// when the file-system walk told which blocks are in use.
    Verified {
        report: VerifyReport,
        damage: Option<DamageByUse>,
    },
    /// Neither super slot authenticates: the device cannot even be opened.
    SuperRecordDamaged,
}

/// Unlock read-only, then check the header copies and every block of the device.
pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let path = args.container.as_path();
    // A shared lock: refused while the container is mounted read-write. Repairing needs it
    // to itself.
    let access = if args.repair {
        Access::ReadWrite
    } else {
        Access::ReadOnly
    };
    let container = open_container(path, access)?;
    let with = UnlockWith::new(args.password_file.as_deref(), &args.unlock);
    let prompt = format!("Password for {}: ", display_name(path));
    let unlocked = unlock(container, &with, &prompt)?;
    warn_header_state(
        path,
        unlocked.header_status(),
        Some(unlocked.opened_from_backup()),
    );

    let header = HeaderCheck {
        status: unlocked.header_status(),
        opened_from_backup: unlocked.opened_from_backup(),
    };
    let mut device = check_device(&unlocked)?;
    let files = match device {
        DeviceCheck::Verified { .. } => check_files(&unlocked),
        DeviceCheck::SuperRecordDamaged => FilesCheck::Skipped,
    };
    if let (
        DeviceCheck::Verified { report, damage },
        FilesCheck::Checked(secvol_fs::CheckReport {
            blocks_in_use: Some(in_use),
            ..
        }),
    ) = (&mut device, &files)
    {
        *damage = Some(report.classify(in_use));
    }
    let report = CheckReport {
        header,
        device,
        files,
    };
    print_sections(&report.rows(path));
    if args.repair {
        repair(&unlocked, &report)?;
    }

    let problems = report.problems();
    if problems.is_empty() {
        return Ok(());
    }
    Err(CliError::DamageFound {
        path: path.to_owned(),
        summary: problems.join("; "),
    }
    .into())
}

/// `--repair`: make the stale free blocks read as empty again, and rewrite a stale super slot.
fn repair(unlocked: &UnlockedContainer, report: &CheckReport) -> anyhow::Result<()> {
    if report.super_slot_is_stale() {
        unlocked.open_device(false)?.rewrite_super_record()?;
        println!("Repair: the stale super slot was rewritten");
    }
    let free = match &report.device {
        DeviceCheck::Verified {
            damage: Some(damage),
            ..
        } => &damage.free,
        DeviceCheck::Verified { report, .. } if report.damaged.is_empty() => {
            println!("Repair: nothing to repair");
            return Ok(());
        }
        _ => {
            println!(
                "Repair: not done (the file system could not be walked, so which blocks are in \
                 use is not known)"
            );
            return Ok(());
        }
    };
    if free.is_empty() {
        println!("Repair: nothing to repair (no stale free blocks)");
        return Ok(());
    }
    unlocked.open_device(false)?.reset_free_blocks(free)?;
    let blocks = DamageByUse::count(free);
    println!(
        "Repair: {blocks} stale free block{} rewritten; they read as empty again",
        plural(blocks)
    );
    Ok(())
}

fn check_device(unlocked: &UnlockedContainer) -> anyhow::Result<DeviceCheck> {
    let device = match unlocked.open_device(true) {
        Ok(device) => device,
        Err(ContainerError::Block(BlockError::SuperRecordDamaged)) => {
            return Ok(DeviceCheck::SuperRecordDamaged);
        }
        Err(err) => return Err(err.into()),
    };
    let bar = progress::blocks("Checking", 0);
    let report = device.verify(&mut |done, total| progress::update(&bar, done, total));
    bar.finish_and_clear();
    Ok(DeviceCheck::Verified {
        report: report?,
        damage: None,
    })
}

/// Open the file system on a check stack (read-only; a damaged block reads as zeros and is
/// counted, so the walk can name every damaged file; the blocks read are recorded) and check
/// it.
fn check_files(unlocked: &UnlockedContainer) -> FilesCheck {
    let stack = match unlocked.open_stack(DeviceMode::Check) {
        Ok(stack) => stack,
        Err(err) => return FilesCheck::CannotOpen(err.to_string()),
    };
    let options = FsOptions::default();
    // Damaged blocks read as zeros so the walk can go on; where such zeros land in the
    // storage engine's own structures, it may give up with a panic rather than an error.
    // That is damage to report, not a crash of `check`.
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        log::debug!("storage engine gave up: {info}")
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let fs = Fs::open(stack, options)?;
        let bar = progress::files("Checking files", 0);
        let result = fs.check(&mut |done, total| progress::update(&bar, done, total));
        bar.finish_and_clear();
        if let Err(err) = fs.close() {
            log::warn!("closing the read-only file system: {err}");
        }
        result
    }));
    std::panic::set_hook(quiet);
    match result {
        Ok(Ok(report)) => FilesCheck::Checked(report),
        Ok(Err(err)) => FilesCheck::CannotOpen(err.to_string()),
        Err(_) => FilesCheck::CannotOpen(
            "its internal structures are damaged (the storage engine could not read them)"
                .to_owned(),
        ),
    }
}

impl CheckReport {
    /// Whether a super slot that does not authenticate is harmless: the other one does, and the
    /// file system it leads to checks clean. The two slots are not copies of each other: a
    /// sync writes the new version into the slot that does not hold the current one, so a
    /// power cut during that write leaves exactly this, and the current version is intact.
    fn super_slot_is_stale(&self) -> bool {
        let one_bad = match &self.device {
            DeviceCheck::Verified { report, .. } => {
                report.super_slots_ok.iter().filter(|ok| !**ok).count() == 1
            }
            DeviceCheck::SuperRecordDamaged => false,
        };
        one_bad && matches!(&self.files, FilesCheck::Checked(files) if files.is_clean())
    }

    /// Everything damaged, one phrase each; empty when the container is clean.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let status = self.header.status;
        if status.primary.is_err() {
            problems.push("primary header copy damaged".to_owned());
        } else if self.header.opened_from_backup {
            problems.push("primary header copy does not authenticate".to_owned());
        }
        if status.backup.is_err() {
            problems.push("backup header copy damaged".to_owned());
        }
        if status.copies_differ && !self.header.opened_from_backup {
            problems.push("the two header copies differ".to_owned());
        }
        match &self.device {
            DeviceCheck::SuperRecordDamaged => {
                problems.push("both super slots damaged; data blocks not checked".to_owned());
            }
            DeviceCheck::Verified { report, damage } => {
                for (slot, ok) in report.super_slots_ok.iter().enumerate() {
                    if !ok && !self.super_slot_is_stale() {
                        problems.push(format!("super slot {slot} damaged"));
                    }
                }
                // Without the walk, every damaged block might be in use.
                let harmful = damage.as_ref().map_or(&report.damaged, |d| &d.in_use);
                if !harmful.is_empty() {
                    let blocks = DamageByUse::count(harmful);
                    problems.push(format!(
                        "{blocks} damaged block{}{} in {} range{}",
                        plural(blocks),
                        if damage.is_some() { " in use" } else { "" },
                        harmful.len(),
                        plural(harmful.len() as u64)
                    ));
                }
            }
        }
        match &self.files {
            FilesCheck::Checked(report) => {
                problems.extend(report.problems.iter().map(ToString::to_string));
            }
            FilesCheck::CannotOpen(err) => {
                problems.push(format!("the file system cannot be opened: {err}"));
            }
            FilesCheck::Skipped => {}
        }
        problems
    }

    fn rows(&self, path: &Path) -> Vec<Rows> {
        let header: Rows = vec![
            ("Container".into(), path.display().to_string()),
            (
                "Header copies".into(),
                header_status_text(self.header.status),
            ),
            (
                "Unlocked from".into(),
                if self.header.opened_from_backup {
                    "the backup header copy".into()
                } else {
                    "the primary header copy".into()
                },
            ),
        ];
        let mut device: Rows = Vec::new();
        match &self.device {
            DeviceCheck::SuperRecordDamaged => {
                device.push(("Super slots".into(), "both damaged".into()));
                device.push((
                    "Data blocks".into(),
                    "not checked (the device cannot be opened)".into(),
                ));
            }
            DeviceCheck::Verified { report, damage } => {
                let bad = if self.super_slot_is_stale() {
                    "stale (an interrupted write, harmless: the other slot is current and the \
                     files check clean; 'secvol check --repair' rewrites it)"
                } else {
                    "damaged"
                };
                let slots: Vec<String> = report
                    .super_slots_ok
                    .iter()
                    .enumerate()
                    .map(|(slot, ok)| format!("slot {slot} {}", if *ok { "OK" } else { bad }))
                    .collect();
                device.push(("Super slots".into(), slots.join(", ")));
                let damaged = DamageByUse::count(&report.damaged);
                device.push((
                    "Data blocks".into(),
                    format!(
                        "{} checked, {}",
                        report.blocks_checked,
                        if damaged == 0 {
                            "all intact".to_owned()
                        } else {
                            format!("{damaged} fail authentication")
                        }
                    ),
                ));
                match damage {
                    None => device.extend(
                        report
                            .damaged
                            .iter()
                            .map(|range| ("Damaged".into(), damaged_range_text(range))),
                    ),
                    Some(damage) => {
                        device.extend(
                            damage
                                .in_use
                                .iter()
                                .map(|range| ("Damaged".into(), damaged_range_text(range))),
                        );
                        if !damage.free.is_empty() {
                            let free = DamageByUse::count(&damage.free);
                            device.push((
                                "Stale free".into(),
                                format!(
                                    "{free} block{} that nothing uses (harmless: left by an \
                                     interrupted write; 'secvol check --repair' rewrites them)",
                                    plural(free)
                                ),
                            ));
                        }
                    }
                }
            }
        }
        let files = self.files_rows();
        let problems = self.problems();
        let result: Rows = vec![(
            "Result".into(),
            if problems.is_empty() {
                "no damage found".into()
            } else {
                format!("DAMAGE FOUND: {}", problems.join("; "))
            },
        )];
        vec![header, device, files, result]
    }

    fn files_rows(&self) -> Rows {
        match &self.files {
            FilesCheck::Skipped => vec![("Files".into(), "not checked".into())],
            FilesCheck::CannotOpen(err) => {
                vec![("Files".into(), format!("cannot be opened: {err}"))]
            }
            FilesCheck::Checked(report) => {
                let mut rows: Rows = vec![(
                    "Files".into(),
                    format!(
                        "{} file{}, {} director{}, {} symbolic link{}{}; {} bytes",
                        report.files,
                        plural(report.files),
                        report.directories,
                        if report.directories == 1 { "y" } else { "ies" },
                        report.symlinks,
                        plural(report.symlinks),
                        if report.special > 0 {
                            format!(", {} special", report.special)
                        } else {
                            String::new()
                        },
                        report.bytes
                    ),
                )];
                if !report.orphans.is_empty() {
                    rows.push((
                        "Orphans".into(),
                        format!(
                            "{} file{} deleted while open, removed at the next read-write open \
                             (normal after a crash)",
                            report.orphans.len(),
                            plural(report.orphans.len() as u64)
                        ),
                    ));
                }
                rows.extend(
                    report
                        .problems
                        .iter()
                        .map(|problem| ("Problem".into(), problem.to_string())),
                );
                rows
            }
        }
    }
}

/// `blocks A–B (bytes X–Y of the data area)`, inclusive; byte offsets are positions in the
/// container's decrypted data (block index × 4096), as the layers above address it.
fn damaged_range_text(range: &Range<u64>) -> String {
    let block = BLOCK_SIZE as u64;
    let last = range.end - 1;
    format!(
        "blocks {}–{} (bytes {}–{} of the data area)",
        range.start,
        last,
        range.start * block,
        range.end * block - 1
    )
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_ranges_are_inclusive_and_in_bytes() {
        assert_eq!(
            damaged_range_text(&(5..6)),
            "blocks 5–5 (bytes 20480–24575 of the data area)"
        );
        assert_eq!(
            damaged_range_text(&(1..4)),
            "blocks 1–3 (bytes 4096–16383 of the data area)"
        );
    }

    fn clean_header() -> HeaderCheck {
        HeaderCheck {
            status: HeaderStatus {
                primary: Ok(()),
                backup: Ok(()),
                copies_differ: false,
            },
            opened_from_backup: false,
        }
    }

    #[test]
    fn a_clean_report_has_no_problems_and_any_damage_is_one() {
        let clean = VerifyReport {
            blocks_checked: 10,
            damaged: vec![],
            super_slots_ok: [true, true],
        };
        let report = CheckReport {
            header: clean_header(),
            device: DeviceCheck::Verified {
                report: clean.clone(),
                damage: None,
            },
            files: FilesCheck::Skipped,
        };
        assert!(report.problems().is_empty());

        let mut slot = clean.clone();
        slot.super_slots_ok[1] = false;
        let report = CheckReport {
            header: clean_header(),
            device: DeviceCheck::Verified {
                report: slot,
                damage: None,
            },
            files: FilesCheck::Skipped,
        };
        assert_eq!(report.problems(), ["super slot 1 damaged"]);

        let mut header = clean_header();
        header.status.copies_differ = true;
        let report = CheckReport {
            header,
            device: DeviceCheck::Verified {
                report: clean.clone(),
                damage: None,
            },
            files: FilesCheck::Skipped,
        };
        assert_eq!(report.problems(), ["the two header copies differ"]);

        // Damage in blocks nothing uses is not a problem; damage in use, or of unknown use, is.
        let mut torn = clean;
        torn.damaged = vec![3..5, 9..10];
        let mut in_use = secvol_core::BlockSet::new();
        in_use.insert_range(9..10);
        let report = CheckReport {
            header: clean_header(),
            device: DeviceCheck::Verified {
                damage: Some(torn.classify(&secvol_core::BlockSet::new())),
                report: torn.clone(),
            },
            files: FilesCheck::Skipped,
        };
        assert!(report.problems().is_empty(), "{:?}", report.problems());
        let report = CheckReport {
            header: clean_header(),
            device: DeviceCheck::Verified {
                damage: Some(torn.classify(&in_use)),
                report: torn.clone(),
            },
            files: FilesCheck::Skipped,
        };
        assert_eq!(report.problems(), ["1 damaged block in use in 1 range"]);
        let report = CheckReport {
            header: clean_header(),
            device: DeviceCheck::Verified {
                report: torn,
                damage: None,
            },
            files: FilesCheck::Skipped,
        };
        assert_eq!(report.problems(), ["3 damaged blocks in 2 ranges"]);

        let report = CheckReport {
            header: clean_header(),
            device: DeviceCheck::SuperRecordDamaged,
            files: FilesCheck::Skipped,
        };
        assert_eq!(report.problems().len(), 1);
    }
}
