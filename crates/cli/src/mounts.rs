//! What the system knows about mounted containers: the mount table
//! (`/proc/self/mountinfo`), the daemon serving each mount, and the processes that hold
//! files open in it (`/proc/PID/fd`, `cwd`, `root`). Linux only; elsewhere the lists are
//! empty and the commands say so.

use std::path::{Path, PathBuf};

/// The file-system type of secvol mounts in the mount table (`fuse.` + the FUSE subtype).
pub const FS_TYPE: &str = "fuse.secvol";

/// The hidden subcommand the mount daemon runs as; `unmount` and `list` recognise daemons by
/// it: `secvol serve-mount CONTAINER MOUNTPOINT`, both absolute.
pub const DAEMON_SUBCOMMAND: &str = "serve-mount";

/// One mounted container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// The container file (the mount's source, an absolute path).
    pub container: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
    /// The user who mounted it (the `user_id=` option of FUSE mounts).
    pub owner: Option<u32>,
}

/// The daemon serving a mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    /// Its process id.
    pub pid: u32,
    /// Its log file (`--log` on its command line), if it keeps one.
    pub log: Option<PathBuf>,
}

/// Every secvol mount in the mount table.
pub fn secvol_mounts() -> Vec<MountEntry> {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    table.lines().filter_map(parse_mountinfo_line).collect()
}

/// A line of mountinfo: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE
/// SOURCE SUPER_OPTIONS`. Only secvol mounts are returned.
fn parse_mountinfo_line(line: &str) -> Option<MountEntry> {
    let (before, after) = line.split_once(" - ")?;
    let mut after = after.split(' ');
    if after.next()? != FS_TYPE {
        return None;
    }
    let source = after.next()?;
    let super_options = after.next().unwrap_or("");
    let fields: Vec<&str> = before.split(' ').collect();
    let mountpoint = fields.get(4)?;
    let options = fields.get(5)?;
    Some(MountEntry {
        mountpoint: PathBuf::from(unescape(mountpoint)),
        container: PathBuf::from(unescape(source)),
        read_only: options.split(',').any(|option| option == "ro"),
        owner: super_options
            .split(',')
            .find_map(|option| option.strip_prefix("user_id=")?.parse().ok()),
    })
}

/// The kernel writes space, tab, newline and backslash in mount paths as `\ooo` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The secvol mount matching `target`: its mountpoint, or its container file.
pub fn find_mount(target: &Path) -> Option<MountEntry> {
    let canonical = target.canonicalize().ok();
    secvol_mounts().into_iter().find(|entry| {
        entry.mountpoint == target
            || entry.container == target
            || canonical
                .as_ref()
                .is_some_and(|c| *c == entry.mountpoint || *c == entry.container)
    })
}

/// Process ids in /proc.
fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|&b| b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The short command name of a process.
pub fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|name| name.trim_end().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

/// The daemon serving `mountpoint`, if it is alive.
pub fn daemon_pid(mountpoint: &Path) -> Option<u32> {
    daemon(mountpoint).map(|daemon| daemon.pid)
}

/// The daemon serving `mountpoint` and its log file, if it is alive.
pub fn daemon(mountpoint: &Path) -> Option<Daemon> {
    pids().into_iter().find_map(|pid| {
        let args = cmdline(pid);
        if args.len() >= 4 && args[1] == DAEMON_SUBCOMMAND && Path::new(&args[3]) == mountpoint {
            Some(Daemon {
                pid,
                log: daemon_log_argument(&args),
            })
        } else {
            None
        }
    })
}

/// The value of `--log` on a daemon's command line.
fn daemon_log_argument(args: &[String]) -> Option<PathBuf> {
    args.iter()
        .skip(4)
        .position(|arg| arg == "--log")
        .and_then(|at| args.get(4 + at + 1))
        .map(PathBuf::from)
}

/// Whether process `pid` still exists (and is not a zombie).
pub fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_none_or(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Processes with a file, directory or working directory inside `mountpoint` (other than
/// `except`), as (pid, name).
pub fn holders(mountpoint: &Path, except: &[u32]) -> Vec<(u32, String)> {
    let me = std::process::id();
    let inside = |link: PathBuf| link.starts_with(mountpoint);
    let mut found = Vec::new();
    for pid in pids() {
        if pid == me || except.contains(&pid) {
            continue;
        }
        let base = PathBuf::from(format!("/proc/{pid}"));
        let mut holds = ["cwd", "root"]
            .iter()
            .filter_map(|name| std::fs::read_link(base.join(name)).ok())
            .any(inside);
        if !holds && let Ok(fds) = std::fs::read_dir(base.join("fd")) {
            holds = fds
                .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .any(inside);
        }
        if holds {
            found.push((pid, process_name(pid)));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_of_secvol_mounts_are_parsed() {
        let line = "412 29 0:58 / /media/My\\040Records rw,nosuid,nodev,relatime shared:201 - \
                    fuse.secvol /home/ana/TimeAcct.sec rw,user_id=1000,group_id=1000";
        assert_eq!(
            parse_mountinfo_line(line),
            Some(MountEntry {
                mountpoint: PathBuf::from("/media/My Records"),
                container: PathBuf::from("/home/ana/TimeAcct.sec"),
                read_only: false,
                owner: Some(1000),
            })
        );
        let ro = "1 2 0:5 / /mnt ro,nosuid - fuse.secvol /c.sec ro";
        assert!(parse_mountinfo_line(ro).unwrap().read_only);
        let other = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw";
        assert_eq!(parse_mountinfo_line(other), None);
    }

    #[test]
    fn the_daemons_log_is_read_from_its_command_line() {
        let args: Vec<String> = [
            "/usr/bin/secvol",
            DAEMON_SUBCOMMAND,
            "/c.sec",
            "/mnt",
            "--read-only",
            "--log",
            "/home/ana/.local/state/secvol/mount-1.log",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            daemon_log_argument(&args),
            Some(PathBuf::from("/home/ana/.local/state/secvol/mount-1.log"))
        );
        assert_eq!(daemon_log_argument(&args[..5]), None);
        // A mount point named --log is not mistaken for the option.
        let odd: Vec<String> = ["secvol", DAEMON_SUBCOMMAND, "/c.sec", "--log"]
            .map(String::from)
            .to_vec();
        assert_eq!(daemon_log_argument(&odd), None);
    }

    #[test]
    fn this_process_is_alive_and_named() {
        assert!(is_alive(std::process::id()));
        assert!(!process_name(std::process::id()).is_empty());
    }
}
