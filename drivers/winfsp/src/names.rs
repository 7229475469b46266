//! Windows names and paths (UTF-16, `\`-separated) to container paths (bytes, `/`-separated)
//! and back, and the volume label.
//!
//! Container names are bytes; names created on Linux may be anything but `/` and NUL. A name
//! Windows cannot represent (not UTF-8, a character Windows forbids, a trailing dot or space,
//! more than 255 UTF-16 units) is left out of Windows listings and cannot be opened from
//! Windows; it stays intact in the container (docs/platforms.md).

use secvol_fs::FsError;

/// Characters Windows forbids in file names (besides the separators and control characters).
const FORBIDDEN: &[char] = &['"', '*', ':', '<', '>', '?', '|', '\\', '/'];

/// Longest name Windows accepts, in UTF-16 units.
const MAX_NAME_UNITS: usize = 255;

/// Longest volume label WinFsp reports, in UTF-16 units.
pub const MAX_LABEL_UNITS: usize = 32;

/// A path as WinFsp gives it (`\Akten\Befund.pdf`, `\` for the root) as a container path
/// (`/Akten/Befund.pdf`). Unpaired UTF-16 surrogates are refused.
pub fn container_path(windows_path: &[u16]) -> Result<Vec<u8>, FsError> {
    let text = String::from_utf16(windows_path)
        .map_err(|_| FsError::Invalid("a file name with an unpaired UTF-16 surrogate"))?;
    let mut out = Vec::with_capacity(text.len() + 1);
    for part in text.split('\\').filter(|part| !part.is_empty()) {
        if part.contains('/') {
            return Err(FsError::Invalid("'/' in a Windows file name"));
        }
        out.push(b'/');
        out.extend_from_slice(part.as_bytes());
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}

/// A stored name as Windows shows it, or `None` if Windows cannot represent it.
pub fn windows_name(name: &[u8]) -> Option<Vec<u16>> {
    let text = std::str::from_utf8(name).ok()?;
    if text == "." || text == ".." {
        return Some(text.encode_utf16().collect());
    }
    let forbidden = text
        .chars()
        .any(|c| (c as u32) < 0x20 || FORBIDDEN.contains(&c));
    if forbidden || text.ends_with('.') || text.ends_with(' ') {
        return None;
    }
    let units: Vec<u16> = text.encode_utf16().collect();
    (units.len() <= MAX_NAME_UNITS).then_some(units)
}

/// The volume label Explorer shows for a container: its file name without the extension
/// (`TimeAcct.sec` → `TimeAcct`), cut to 32 UTF-16 units, "secvol" if that leaves nothing.
pub fn volume_label(container_file_name: &str) -> Vec<u16> {
    let stem = match container_file_name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => container_file_name,
    };
    let mut label: Vec<u16> = Vec::new();
    for c in stem.chars() {
        let mut buf = [0u16; 2];
        let units = c.encode_utf16(&mut buf);
        if label.len() + units.len() > MAX_LABEL_UNITS {
            break;
        }
        label.extend_from_slice(units);
    }
    if label.is_empty() {
        label = "secvol".encode_utf16().collect();
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str) -> Vec<u16> {
        text.encode_utf16().collect()
    }

    #[test]
    fn windows_paths_become_container_paths() {
        assert_eq!(container_path(&utf16("\\")).unwrap(), b"/");
        assert_eq!(container_path(&utf16("")).unwrap(), b"/");
        assert_eq!(
            container_path(&utf16("\\Akten\\Müller\\Befund.pdf")).unwrap(),
            "/Akten/Müller/Befund.pdf".as_bytes()
        );
        assert_eq!(container_path(&utf16("\\a\\\\b\\")).unwrap(), b"/a/b");
        assert!(container_path(&[u16::from(b'\\'), 0xD800]).is_err());
        assert!(container_path(&utf16("\\a/b")).is_err());
    }

    #[test]
    fn names_windows_cannot_show_are_left_out() {
        assert_eq!(
            windows_name("Befund.pdf".as_bytes()),
            Some(utf16("Befund.pdf"))
        );
        assert_eq!(windows_name(b".."), Some(utf16("..")));
        for unrepresentable in [
            &b"a:b"[..],
            b"what?",
            b"back\\slash",
            b"tab\there",
            b"trailing.",
            b"trailing ",
            b"\xff\xfe",
        ] {
            assert_eq!(windows_name(unrepresentable), None, "{unrepresentable:?}");
        }
        assert!(windows_name("é".repeat(255).as_bytes()).is_some());
        assert!(windows_name("é".repeat(256).as_bytes()).is_none());
    }

    #[test]
    fn the_label_is_the_container_name_without_its_extension() {
        assert_eq!(volume_label("TimeAcct.sec"), utf16("TimeAcct"));
        assert_eq!(volume_label("Praxis.Archiv.sec"), utf16("Praxis.Archiv"));
        assert_eq!(volume_label(".sec"), utf16(".sec"));
        assert_eq!(volume_label(""), utf16("secvol"));
        assert_eq!(volume_label(&"x".repeat(40)).len(), MAX_LABEL_UNITS);
    }
}
