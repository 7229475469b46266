//! `secvol kit`: the portable kit.

use crate::KitArgs;

/// Parse `--drive`: a letter, with or without the colon.
pub fn parse_drive(text: &str) -> Result<char, String> {
    let letter = text.strip_suffix(':').unwrap_or(text);
    let mut chars = letter.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_alphabetic() => Ok(c.to_ascii_uppercase()),
        _ => Err(format!(
            "'{text}' is not a drive letter: expected one letter such as T or T:"
        )),
    }
}

/// `secvol kit DIR`.
pub fn run(_args: &KitArgs) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
