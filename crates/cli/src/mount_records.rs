//! Windows has no mount table that names a container: each mount daemon leaves a small
//! record in the user's state folder (`%LOCALAPPDATA%\secvol\mounts\`) while it serves, and
//! `secvol list` / `unmount` read them. A record whose daemon is gone is stale and ignored
//! (and removed by the next `list`).
//!
//! The record is `key=value` lines (container, mountpoint, mode, pid, and the daemon's log
//! when it keeps one); nothing secret.
//! This module only reads and writes records; it is compiled for tests on every OS.

use std::path::{Path, PathBuf};

/// One mount, as its daemon recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRecord {
    /// The container file (absolute).
    pub container: PathBuf,
    /// The drive letter (`T:`) or folder.
    pub mountpoint: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// The daemon's process id.
    pub pid: u32,
    /// The daemon's log file (state folder), if it keeps one.
    pub log: Option<PathBuf>,
}

impl MountRecord {
    /// The record's text.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "container={}\nmountpoint={}\nmode={}\npid={}\n",
            self.container.display(),
            self.mountpoint,
            if self.read_only { "ro" } else { "rw" },
            self.pid
        );
        if let Some(log) = &self.log {
            text.push_str(&format!("log={}\n", log.display()));
        }
        text
    }

    /// Parse a record; `None` if a field is missing or malformed.
    pub fn parse(text: &str) -> Option<MountRecord> {
        let field = |key: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        };
        Some(MountRecord {
            container: PathBuf::from(field("container")?),
            mountpoint: field("mountpoint")?.to_owned(),
            read_only: match field("mode")? {
                "ro" => true,
                "rw" => false,
                _ => return None,
            },
            pid: field("pid")?.parse().ok()?,
            log: field("log").map(PathBuf::from),
        })
    }

    /// The file name of this record in the records folder.
    pub fn file_name(&self) -> String {
        format!("{}.mount", self.pid)
    }

    /// Whether `target` (as typed: `T:`, `t:\`, a folder, the container) names this mount.
    pub fn matches(&self, target: &Path) -> bool {
        let typed = target.to_string_lossy();
        normalize_drive(&typed).is_some_and(|drive| drive.eq_ignore_ascii_case(&self.mountpoint))
            || same_path(target, Path::new(&self.mountpoint))
            || same_path(target, &self.container)
    }
}

/// `T`, `t:`, `T:\` or `T:/` as `T:`; `None` for anything else.
pub fn normalize_drive(typed: &str) -> Option<String> {
    let bytes = typed.as_bytes();
    let letter = *bytes.first()?;
    if !letter.is_ascii_alphabetic() {
        return None;
    }
    let rest = &bytes[1..];
    let is_drive = matches!(rest, b"" | b":" | b":\\" | b":/");
    is_drive.then(|| format!("{}:", letter.to_ascii_uppercase() as char))
}

/// Paths compared without regard to case or separators (Windows rules).
fn same_path(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| {
        let p = p.canonicalize().unwrap_or_else(|_| p.to_owned());
        p.to_string_lossy()
            .replace('/', "\\")
            .trim_end_matches('\\')
            .to_lowercase()
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let record = MountRecord {
            container: PathBuf::from(r"E:\TimeAcct.sec"),
            mountpoint: "T:".into(),
            read_only: false,
            pid: 4242,
            log: None,
        };
        assert_eq!(MountRecord::parse(&record.to_text()), Some(record.clone()));
        assert_eq!(record.file_name(), "4242.mount");
        let logged = MountRecord {
            log: Some(PathBuf::from(
                r"C:\Users\desk\AppData\Local\secvol\mount-1.log",
            )),
            ..record.clone()
        };
        assert_eq!(MountRecord::parse(&logged.to_text()), Some(logged));
        assert_eq!(
            MountRecord::parse("container=x\nmountpoint=T:\nmode=rw\n"),
            None
        );
        assert_eq!(
            MountRecord::parse("container=x\nmountpoint=T:\nmode=maybe\npid=1\n"),
            None
        );
    }

    #[test]
    fn drive_letters_are_recognised_however_they_are_typed() {
        for typed in ["T", "t:", "T:\\", "t:/"] {
            assert_eq!(normalize_drive(typed).as_deref(), Some("T:"), "{typed}");
        }
        for other in ["", "TT:", "1:", "T:\\x", r"C:\x\TimeAcct.sec"] {
            assert_eq!(normalize_drive(other), None, "{other}");
        }
        let record = MountRecord {
            container: PathBuf::from("/nonexistent/TimeAcct.sec"),
            mountpoint: "T:".into(),
            read_only: true,
            pid: 1,
            log: None,
        };
        assert!(record.matches(Path::new("t:\\")));
        assert!(record.matches(Path::new("/nonexistent/TimeAcct.sec")));
        assert!(!record.matches(Path::new("U:")));
    }
}
