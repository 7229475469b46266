//! `secvol shred FILE...`: overwrite and delete plaintext leftovers (the engine is
//! `crate::shred`).

use crate::ShredArgs;
use crate::progress;
use crate::shred::{self, ShredReport};

/// Check every argument first (nothing is touched if one is refused), then shred them.
pub fn run(args: &ShredArgs) -> anyhow::Result<()> {
    let mut total = 0;
    for path in &args.paths {
        total += shred::plan(path, args.recursive)?;
    }
    eprintln!("note: {}", shred::LIMITS);
    let bar = progress::bytes("Overwriting", total * 2);
    let mut report = ShredReport::default();
    let mut result = Ok(());
    for path in &args.paths {
        result = shred::shred_path(path, args.recursive, &mut report, &mut |n| bar.inc(n));
        if result.is_err() {
            break;
        }
    }
    bar.finish_and_clear();
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    result?;
    println!(
        "Overwrote (random bytes, then zeros) and deleted {} file{} ({} bytes).",
        report.files,
        if report.files == 1 { "" } else { "s" },
        report.bytes
    );
    Ok(())
}
