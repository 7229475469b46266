//! What macOS knows about mounted containers (the counterpart of `mounts.rs`, which reads
//! Linux's /proc): the mount daemons found with `ps` (each runs as
//! `secvol serve-mount CONTAINER MOUNTPOINT [OPTIONS]`), checked against the mount table
//! (`mount`), and the processes holding files open in a mount, found with `lsof`.
//!
//! Compiled on macOS, and on every OS for its tests (the parsers). Never run on macOS by the
//! project's own machines (docs/platforms.md).

#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The hidden subcommand the mount daemon runs as.
pub const DAEMON_SUBCOMMAND: &str = "serve-mount";

/// One mounted container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// The container file (absolute).
    pub container: PathBuf,
    /// Mounted read-only.
    pub read_only: bool,
    /// The user who mounted it (the user its daemon runs as).
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

/// A running daemon as `ps -axww -o pid=,uid=,command=` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DaemonProcess {
    daemon: Daemon,
    entry: MountEntry,
}

/// The daemon's options after CONTAINER MOUNTPOINT (`mount.rs` passes them in this order).
const DAEMON_OPTIONS: [&str; 5] = [
    " --read-only",
    " --allow-other",
    " --log ",
    " --credentials",
    " --idle-timeout-secs ",
];

fn run(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

/// A line of `ps -axww -o pid=,uid=,command=` that is a secvol daemon. The daemon's
/// arguments are absolute paths; a path with spaces cannot be split back from `ps` reliably,
/// so the split is taken where the remainder is an existing file (the container).
fn parse_ps_line(line: &str, is_file: &dyn Fn(&Path) -> bool) -> Option<DaemonProcess> {
    let mut fields = line.trim_start().splitn(2, ' ');
    let pid = fields.next()?.parse().ok()?;
    let rest = fields.next()?.trim_start();
    let (uid, command) = rest.split_once(' ')?;
    let owner = uid.parse().ok();
    let marker = format!(" {DAEMON_SUBCOMMAND} ");
    let (_, args) = command.split_once(&marker)?;
    let options_at = DAEMON_OPTIONS
        .iter()
        .filter_map(|option| args.find(option))
        .min()
        .unwrap_or(args.len());
    let (paths, options) = args.split_at(options_at);
    let log = options.split_once(" --log ").map(|(_, after)| {
        let end = after.find(" --").unwrap_or(after.len());
        PathBuf::from(&after[..end])
    });
    // CONTAINER MOUNTPOINT, both absolute: try each " /" as the boundary.
    let boundary = paths
        .match_indices(" /")
        .map(|(at, _)| at)
        .find(|&at| is_file(Path::new(&paths[..at])))
        .or_else(|| paths.find(" /"))?;
    Some(DaemonProcess {
        daemon: Daemon { pid, log },
        entry: MountEntry {
            container: PathBuf::from(&paths[..boundary]),
            mountpoint: PathBuf::from(&paths[boundary + 1..]),
            read_only: options.contains(" --read-only"),
            owner,
        },
    })
}

/// Mount points in the output of `mount` (`SOURCE on MOUNTPOINT (TYPE, ...)`).
fn parse_mount_table(table: &str) -> Vec<PathBuf> {
    table
        .lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once(" on ")?;
            let (mountpoint, _) = rest.rsplit_once(" (")?;
            Some(PathBuf::from(mountpoint))
        })
        .collect()
}

fn daemons() -> Vec<DaemonProcess> {
    let is_file = |path: &Path| path.is_file();
    run("ps", &["-axww", "-o", "pid=,uid=,command="])
        .lines()
        .filter_map(|line| parse_ps_line(line, &is_file))
        .collect()
}

/// Every secvol mount: a daemon whose mount point is in the mount table.
pub fn secvol_mounts() -> Vec<MountEntry> {
    let mounted = parse_mount_table(&run("mount", &[]));
    daemons()
        .into_iter()
        .map(|process| process.entry)
        .filter(|entry| mounted.contains(&entry.mountpoint))
        .collect()
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

/// The daemon serving `mountpoint`, if it is alive.
pub fn daemon(mountpoint: &Path) -> Option<Daemon> {
    daemons()
        .into_iter()
        .find(|process| process.entry.mountpoint == mountpoint)
        .map(|process| process.daemon)
}

/// The process id of the daemon serving `mountpoint`, if it is alive.
pub fn daemon_pid(mountpoint: &Path) -> Option<u32> {
    daemon(mountpoint).map(|daemon| daemon.pid)
}

/// Whether process `pid` still exists (and is not a zombie).
pub fn is_alive(pid: u32) -> bool {
    let state = run("ps", &["-o", "stat=", "-p", &pid.to_string()]);
    let state = state.trim();
    !state.is_empty() && !state.starts_with('Z')
}

/// `lsof -F pc` output: `p<pid>` then `c<command>` lines per process.
fn parse_lsof(output: &str) -> Vec<(u32, String)> {
    let mut found: Vec<(u32, String)> = Vec::new();
    for line in output.lines() {
        if let Some(pid) = line.strip_prefix('p').and_then(|p| p.parse().ok()) {
            found.push((pid, "?".to_owned()));
        } else if let (Some(name), Some(last)) = (line.strip_prefix('c'), found.last_mut()) {
            last.1 = name.to_owned();
        }
    }
    found
}

/// Processes with a file or directory open inside `mountpoint` (other than `except`), as
/// (pid, name), from `lsof` (which ships with macOS).
pub fn holders(mountpoint: &Path, except: &[u32]) -> Vec<(u32, String)> {
    let me = std::process::id();
    let mountpoint = mountpoint.to_string_lossy();
    parse_lsof(&run("lsof", &["-F", "pc", "+f", "--", &mountpoint]))
        .into_iter()
        .filter(|(pid, _)| *pid != me && !except.contains(pid))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemons_are_found_in_ps_output_even_with_spaces_in_paths() {
        let container = Path::new("/Users/ana/My Records/TimeAcct.sec");
        let is_file = |path: &Path| path == container;
        let line = "  812   501 /usr/local/bin/secvol serve-mount /Users/ana/My Records/TimeAcct.sec \
                    /Users/ana/Time Acct --read-only --log /Users/ana/Library/Logs/secvol/mount-1.log \
                    --idle-timeout-secs 1800";
        assert_eq!(
            parse_ps_line(line, &is_file),
            Some(DaemonProcess {
                daemon: Daemon {
                    pid: 812,
                    log: Some(PathBuf::from("/Users/ana/Library/Logs/secvol/mount-1.log")),
                },
                entry: MountEntry {
                    container: container.to_owned(),
                    mountpoint: PathBuf::from("/Users/ana/Time Acct"),
                    read_only: true,
                    owner: Some(501),
                },
            })
        );
        let plain =
            "  90 0 /opt/secvol serve-mount /Users/ana/My Records/TimeAcct.sec /Volumes/Acct";
        let found = parse_ps_line(plain, &is_file).unwrap();
        assert_eq!(found.entry.mountpoint, PathBuf::from("/Volumes/Acct"));
        assert!(!found.entry.read_only);
        assert_eq!(found.daemon.log, None);
        assert_eq!(parse_ps_line("  1 0 /sbin/launchd", &is_file), None);
    }

    #[test]
    fn mount_points_are_read_from_the_mount_table() {
        let table = "/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)\n\
                     /Users/ana/TimeAcct.sec on /Users/ana/Time Acct (macfuse, nodev, nosuid, \
                     synchronous, mounted by ana)\n";
        assert_eq!(
            parse_mount_table(table),
            vec![PathBuf::from("/"), PathBuf::from("/Users/ana/Time Acct")]
        );
    }

    #[test]
    fn lsof_field_output_names_the_holders() {
        let output = "p501\ncPreview\nf12\np733\ncbash\n";
        assert_eq!(
            parse_lsof(output),
            vec![(501, "Preview".to_owned()), (733, "bash".to_owned())]
        );
    }
}
