//! What macOS knows about mounted containers (the counterpart of `mounts.rs`, which reads
//! Linux's /proc): the mount daemons found with `ps` (each runs as
//! `secvol serve-mount CONTAINER MOUNTPOINT [--read-only]`), checked against the mount table
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
}

/// A running daemon as `ps -axww -o pid=,command=` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Daemon {
    pid: u32,
    entry: MountEntry,
}

fn run(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default()
}

/// A line of `ps -axww -o pid=,command=` that is a secvol daemon. The daemon's arguments
/// are absolute paths; a path with spaces cannot be split back from `ps` reliably, so the
/// split is taken where the remainder is an existing file (the container).
fn parse_ps_line(line: &str, is_file: &dyn Fn(&Path) -> bool) -> Option<Daemon> {
    let line = line.trim_start();
    let (pid, command) = line.split_once(' ')?;
    let pid = pid.parse().ok()?;
    let marker = format!(" {DAEMON_SUBCOMMAND} ");
    let (_, args) = command.split_once(&marker)?;
    let (args, read_only) = match args.strip_suffix(" --read-only") {
        Some(rest) => (rest, true),
        None => (args, false),
    };
    // CONTAINER MOUNTPOINT, both absolute: try each " /" as the boundary.
    let boundary = args
        .match_indices(" /")
        .map(|(at, _)| at)
        .find(|&at| is_file(Path::new(&args[..at])))
        .or_else(|| args.find(" /"))?;
    Some(Daemon {
        pid,
        entry: MountEntry {
            container: PathBuf::from(&args[..boundary]),
            mountpoint: PathBuf::from(&args[boundary + 1..]),
            read_only,
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

fn daemons() -> Vec<Daemon> {
    let is_file = |path: &Path| path.is_file();
    run("ps", &["-axww", "-o", "pid=,command="])
        .lines()
        .filter_map(|line| parse_ps_line(line, &is_file))
        .collect()
}

/// Every secvol mount: a daemon whose mount point is in the mount table.
pub fn secvol_mounts() -> Vec<MountEntry> {
    let mounted = parse_mount_table(&run("mount", &[]));
    daemons()
        .into_iter()
        .map(|daemon| daemon.entry)
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
pub fn daemon_pid(mountpoint: &Path) -> Option<u32> {
    daemons()
        .into_iter()
        .find(|daemon| daemon.entry.mountpoint == mountpoint)
        .map(|daemon| daemon.pid)
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
        let line = "  812 /usr/local/bin/secvol serve-mount /Users/ana/My Records/TimeAcct.sec \
                    /Users/ana/Time Acct --read-only";
        assert_eq!(
            parse_ps_line(line, &is_file),
            Some(Daemon {
                pid: 812,
                entry: MountEntry {
                    container: container.to_owned(),
                    mountpoint: PathBuf::from("/Users/ana/Time Acct"),
                    read_only: true,
                },
            })
        );
        assert_eq!(parse_ps_line("  1 /sbin/launchd", &is_file), None);
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
