//! The per-user state folder and the mount daemons' logs kept in it.
//!
//! A background mount has no terminal, so what its daemon reports (a block that failed
//! authentication, an I/O error of the USB key, a failed commit) goes to a log file of its own
//! in the user's state folder; `secvol list` reads it to show each mount's health, and the
//! user (or whoever helps them) can read it afterwards.
//!
//! | system | folder |
//! |---|---|
//! | Linux, BSD | `$XDG_STATE_HOME/secvol`, else `~/.local/state/secvol` |
//! | macOS | `~/Library/Logs/secvol` |
//! | Windows | `%LOCALAPPDATA%\secvol` |
//!
//! Logs hold no secret: no password, no key, no file name or content from inside a container
//! (the layers below log operations and inode numbers only). They do name the container file
//! and the mount point, which are visible on the host anyway. The folder is created readable
//! by its owner only; the newest [`KEPT_LOGS`] mount logs are kept.
//!
//! This module must not know what a container is: it hands out paths and reads lines.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// How many mount logs are kept (older ones are deleted when a new mount starts).
pub const KEPT_LOGS: usize = 20;

/// File names of mount logs: `mount-YYYYMMDD-HHMMSS-N.log`.
const LOG_PREFIX: &str = "mount-";
const LOG_SUFFIX: &str = ".log";

/// The per-user state folder (not created), or `None` if the environment names no home.
pub fn state_dir() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if cfg!(windows) {
        return non_empty("LOCALAPPDATA").map(|dir| PathBuf::from(dir).join("secvol"));
    }
    if cfg!(target_os = "macos") {
        return non_empty("HOME").map(|home| PathBuf::from(home).join("Library/Logs/secvol"));
    }
    if let Some(state) = non_empty("XDG_STATE_HOME") {
        let state = PathBuf::from(state);
        // The XDG specification says to ignore relative paths.
        if state.is_absolute() {
            return Some(state.join("secvol"));
        }
    }
    non_empty("HOME").map(|home| PathBuf::from(home).join(".local/state/secvol"))
}

/// Create the state folder (owner-only) if needed and return it.
fn ensure_state_dir() -> io::Result<PathBuf> {
    let dir = state_dir().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "no home folder (neither HOME nor XDG_STATE_HOME is set)",
        )
    })?;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir)?;
    Ok(dir)
}

/// Create a new, empty log file for a mount (readable by its owner only) and delete the
/// oldest logs beyond [`KEPT_LOGS`].
pub fn new_mount_log() -> io::Result<PathBuf> {
    let dir = ensure_state_dir()?;
    prune_logs(&dir, KEPT_LOGS.saturating_sub(1));
    let stamp = compact_utc(now_secs());
    for n in 0.. {
        let path = dir.join(format!("{LOG_PREFIX}{stamp}-{n}{LOG_SUFFIX}"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(_) => return Ok(path),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    unreachable!("an unbounded range ends only by returning")
}

/// Delete the oldest mount logs in `dir` so that at most `keep` remain.
fn prune_logs(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut logs: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name();
            let name = name.to_str()?;
            if !(name.starts_with(LOG_PREFIX) && name.ends_with(LOG_SUFFIX)) {
                return None;
            }
            Some((entry.metadata().ok()?.modified().ok()?, entry.path()))
        })
        .collect();
    if logs.len() <= keep {
        return;
    }
    logs.sort();
    let excess = logs.len() - keep;
    for (_, path) in logs.into_iter().take(excess) {
        // A log another mount still writes to is only unlinked: its daemon keeps writing.
        let _ = std::fs::remove_file(path);
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC), the time stamp of log lines.
pub fn utc_seconds_text(secs: i64) -> String {
    format!(
        "{}:{:02}",
        crate::commands::files::utc_text(secs),
        secs.rem_euclid(60)
    )
}

/// `YYYYMMDD-HHMMSS` (UTC), for file names.
fn compact_utc(secs: i64) -> String {
    utc_seconds_text(secs)
        .chars()
        .filter_map(|c| match c {
            '-' | ':' => None,
            ' ' => Some('-'),
            c => Some(c),
        })
        .collect()
}

/// Where the mount daemon's log lines go: its log file, and its standard error (the terminal
/// with `mount --foreground`, nowhere otherwise).
#[derive(Debug)]
pub struct LogSink {
    file: std::fs::File,
}

impl LogSink {
    /// Log into `file` (opened for appending) and standard error.
    pub fn new(file: std::fs::File) -> Self {
        LogSink { file }
    }
}

impl io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The log file is what `list` reads: its write decides; the terminal copy is a courtesy.
        let _ = io::stderr().write_all(buf);
        self.file.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        self.file.flush()
    }
}

/// What a mount's log says about its health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// No error logged.
    Clean,
    /// Errors were logged; the first one (without time stamp and `error: `).
    Errors {
        /// How many error lines.
        count: usize,
        /// The first error.
        first: String,
    },
    /// The log cannot be read (or the daemon keeps none).
    Unknown,
}

/// Read the health of a mount from its log.
pub fn health(log: Option<&Path>) -> Health {
    let Some(text) = log.and_then(|path| std::fs::read_to_string(path).ok()) else {
        return Health::Unknown;
    };
    health_of_text(&text)
}

fn health_of_text(text: &str) -> Health {
    let mut errors = text
        .lines()
        .filter_map(|line| line.split_once(" error: ").map(|(_, message)| message));
    match errors.next() {
        None => Health::Clean,
        Some(first) => Health::Errors {
            count: 1 + errors.count(),
            first: first.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_are_utc_with_seconds() {
        assert_eq!(utc_seconds_text(0), "1970-01-01 00:00:00");
        assert_eq!(utc_seconds_text(1_790_000_007), "2026-09-21 14:13:27");
        assert_eq!(compact_utc(1_790_000_007), "20260921-141327");
    }

    #[test]
    fn health_names_the_first_error_and_counts_them() {
        assert_eq!(
            health_of_text("2026-01-01 10:00:00 info: mounted\n"),
            Health::Clean
        );
        let text = "2026-01-01 10:00:00 info: mounted\n\
                    2026-01-01 10:00:05 error: read (inode 7): block 12 failed authentication\n\
                    2026-01-01 10:00:06 warning: something\n\
                    2026-01-01 10:00:07 error: write (inode 7): storage failure\n";
        assert_eq!(
            health_of_text(text),
            Health::Errors {
                count: 2,
                first: "read (inode 7): block 12 failed authentication".to_owned()
            }
        );
        assert_eq!(health(Some(Path::new("/no/such/log"))), Health::Unknown);
        assert_eq!(health(None), Health::Unknown);
    }

    #[test]
    fn only_the_newest_logs_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            let path = dir.path().join(format!("mount-2026010{i}-000000-0.log"));
            std::fs::write(&path, "x").unwrap();
            let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + i);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(time)
                .unwrap();
        }
        std::fs::write(dir.path().join("other.txt"), "kept").unwrap();
        prune_logs(dir.path(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "mount-20260103-000000-0.log",
                "mount-20260104-000000-0.log",
                "other.txt"
            ]
        );
    }
}
