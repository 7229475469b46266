//! Container sizes: parsing `--size` values and printing sizes for people.

use secvol_core::BLOCK_SIZE;
use secvol_core::geometry::MIN_CONTAINER_LEN;

const UNITS: [(char, u32); 4] = [('k', 10), ('m', 20), ('g', 30), ('t', 40)];

/// Parse a container size: a number of bytes with an optional binary unit `K`, `M`, `G`, `T`
/// (K = 1024), optionally followed by `iB` or `B` (`64MiB`, `64MB`, `64M` are the same), or
/// plain bytes optionally followed by `B`; case-insensitive. The result must be at least
/// 1 MiB and a multiple of 4096 bytes. Used as clap's value parser, so errors are usage errors.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bytes = parse_quantity(text)?;
    if bytes < MIN_CONTAINER_LEN {
        return Err(format!(
            "{bytes} bytes is too small: a container must be at least 1 MiB ({MIN_CONTAINER_LEN} bytes)"
        ));
    }
    if !bytes.is_multiple_of(BLOCK_SIZE as u64) {
        return Err(format!(
            "{bytes} bytes is not a multiple of {BLOCK_SIZE} bytes (4 KiB); \
             use a size with a unit such as 64M"
        ));
    }
    Ok(bytes)
}

/// A byte count with an optional binary unit (the syntax of [`parse_size`], without its
/// bounds).
pub fn parse_quantity(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!(
            "'{text}' is not a size: expected a whole number with an optional unit K, M, G or T \
             (for example 64M, 4G, 512K, 64MiB, or 1048576 bytes)"
        )
    };
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    if number.is_empty() {
        return Err(invalid());
    }
    let unit = unit.trim_start().to_ascii_lowercase();
    let shift = match unit.as_str() {
        "" | "b" => 0,
        _ => {
            let mut chars = unit.chars();
            let letter = chars.next().ok_or_else(invalid)?;
            let suffix = chars.as_str();
            if !matches!(suffix, "" | "b" | "ib") {
                return Err(invalid());
            }
            UNITS
                .iter()
                .find(|(name, _)| *name == letter)
                .map(|(_, shift)| *shift)
                .ok_or_else(invalid)?
        }
    };
    let value: u64 = number.parse().map_err(|_| invalid())?;
    value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))
}

/// A size for people: `64 MiB`, `63.4 MiB`, `900 KiB`, `512 bytes`.
pub fn format_size(bytes: u64) -> String {
    const NAMES: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut unit = None;
    for (i, name) in NAMES.iter().enumerate() {
        if bytes >= 1u64 << (10 * (i + 1)) {
            unit = Some((*name, 1u64 << (10 * (i + 1))));
        }
    }
    match unit {
        None => format!("{bytes} bytes"),
        Some((name, scale)) if bytes.is_multiple_of(scale) => format!("{} {name}", bytes / scale),
        Some((name, scale)) => format!("{:.1} {name}", bytes as f64 / scale as f64),
    }
}

/// A size for people followed by the exact byte count: `64 MiB (67108864 bytes)`.
pub fn format_size_exact(bytes: u64) -> String {
    if bytes < 1024 {
        format_size(bytes)
    } else {
        format!("{} ({bytes} bytes)", format_size(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_binary_and_case_insensitive() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64mib"), Ok(64 << 20));
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("4gib"), Ok(4 << 30));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("1024K"), Ok(1 << 20));
        assert_eq!(parse_size("2048kB"), Ok(2 << 20));
        assert_eq!(parse_size(" 8 M "), Ok(8 << 20));
    }

    #[test]
    fn plain_bytes_are_accepted_with_or_without_b() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("1052672b"), Ok((1 << 20) + 4096));
        assert_eq!(parse_size("1048576B"), Ok(1 << 20));
    }

    #[test]
    fn sizes_below_one_mib_are_refused() {
        let err = parse_size("512K").unwrap_err();
        assert!(err.contains("at least 1 MiB"), "{err}");
        assert!(parse_size("1048572").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn sizes_not_a_multiple_of_4096_are_refused() {
        let err = parse_size("1048577").unwrap_err();
        assert!(err.contains("multiple of 4096"), "{err}");
        assert!(parse_size("1050000B").is_err());
    }

    #[test]
    fn malformed_sizes_are_refused() {
        for bad in [
            "", "M", "64X", "64MiBs", "1.5G", "-64M", "64 M B", "0x100000", "64iB", "64Mi", "sixty",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn overflowing_sizes_are_refused() {
        let err = parse_size("99999999999T").unwrap_err();
        assert!(err.contains("too large"), "{err}");
        assert!(parse_size("99999999999999999999999").is_err());
    }

    #[test]
    fn sizes_are_printed_for_people() {
        assert_eq!(format_size(512), "512 bytes");
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size(900 << 10), "900 KiB");
        assert_eq!(format_size((64 << 20) - 131_072 - 600 * 4096), "61.5 MiB");
        assert_eq!(format_size(4 << 30), "4 GiB");
        assert_eq!(format_size(3 << 40), "3 TiB");
        assert_eq!(format_size_exact(1 << 20), "1 MiB (1048576 bytes)");
    }
}
