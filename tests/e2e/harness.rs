//! The sandbox every end-to-end test runs in, and helpers to drive `secvol`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A strong password that passes the policy.
pub const PASSWORD: &str = "clinic-umbrella-violet-tractor-42";

/// What a run of `secvol` did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }

    #[track_caller]
    pub fn fails_with(self, code: i32) -> Run {
        assert_eq!(self.code, Some(code), "unexpected exit code: {self:#?}");
        self
    }
}

/// A temporary directory holding containers, mount points and a password file.
pub struct Sandbox {
    dir: tempfile::TempDir,
    pub password_file: PathBuf,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        // Not under /tmp when that is a tmpfs the test user cannot traverse? Root runs the
        // tests; a private 0711 directory lets setpriv'd users reach the mount point to be
        // refused by FUSE itself, not by the directory permissions.
        let dir = tempfile::Builder::new()
            .prefix("secvol-e2e-")
            .tempdir()
            .expect("temporary directory");
        set_mode(dir.path(), 0o711);
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        set_mode(&password_file, 0o600);
        Sandbox { dir, password_file }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `XDG_STATE_HOME` of the secvol runs: the mount logs are in `secvol/` below it.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn secvol<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        self.run(&mut self.command(args))
    }

    /// The `secvol` command `secvol()` runs, for a test to add to (environment, session).
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut command = Command::new(secvol_bin());
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            // No desktop: a forgotten --password-file must fail, not open a password box.
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            // The daemons' logs go into the sandbox, not the user's state folder.
            .env("XDG_STATE_HOME", self.state_dir())
            .stdin(Stdio::null());
        command
    }

    /// Run a command made by [`Sandbox::command`] (or any other) and collect what it did.
    pub fn run(&self, command: &mut Command) -> Run {
        Run::from(command.output().expect("the command runs"))
    }

    /// Create `name` of `size` (cheap KDF, sparse) and return its path.
    pub fn create(&self, name: &str, size: &str) -> PathBuf {
        let path = self.path(name);
        self.secvol(&[
            OsStr::new("create"),
            path.as_os_str(),
            OsStr::new("--size"),
            OsStr::new(size),
            OsStr::new("--password-file"),
            self.password_file.as_os_str(),
            OsStr::new("--scrypt-log-n"),
            OsStr::new("10"),
            OsStr::new("--quick"),
        ])
        .ok();
        path
    }

    /// `secvol mount CONTAINER MOUNTPOINT --password-file ...` + extra args.
    pub fn try_mount(&self, container: &Path, mountpoint: &Path, extra: &[&str]) -> Run {
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("mount"),
            container.as_os_str(),
            mountpoint.as_os_str(),
            OsStr::new("--password-file"),
            self.password_file.as_os_str(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        self.secvol(&args)
    }

    /// Mount and assert success.
    pub fn mount(&self, container: &Path, mountpoint: &Path) {
        self.try_mount(container, mountpoint, &[]).ok();
        assert!(
            is_mounted(mountpoint),
            "{} is not mounted",
            mountpoint.display()
        );
    }

    /// Unmount and assert success (the daemon has exited when this returns).
    pub fn unmount(&self, mountpoint: &Path) {
        self.secvol(&[OsStr::new("unmount"), mountpoint.as_os_str()])
            .ok();
        assert!(
            !is_mounted(mountpoint),
            "{} is still mounted",
            mountpoint.display()
        );
    }

    /// `secvol check CONTAINER` must find nothing wrong.
    pub fn check_clean(&self, container: &Path) {
        let run = self
            .secvol(&[
                OsStr::new("check"),
                container.as_os_str(),
                OsStr::new("--password-file"),
                self.password_file.as_os_str(),
            ])
            .ok();
        assert!(run.stdout.contains("no damage found"), "{run:#?}");
    }

    fn mounts_inside(&self) -> Vec<PathBuf> {
        let root = self.dir.path().to_path_buf();
        mount_points()
            .into_iter()
            .filter(|mountpoint| mountpoint.starts_with(&root))
            .collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let left = self.mounts_inside();
        for mountpoint in &left {
            let _ = Command::new("fusermount3")
                .args(["-u", "-z"])
                .arg(mountpoint)
                .status();
        }
        if !left.is_empty() && !std::thread::panicking() {
            panic!("the test left mounts behind: {left:?}");
        }
    }
}

/// Mount points from the mount table (kernel escapes decoded for spaces only, enough here).
pub fn mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(field.replace("\\040", " ")))
        .collect()
}

pub fn is_mounted(mountpoint: &Path) -> bool {
    let canonical = mountpoint
        .canonicalize()
        .unwrap_or_else(|_| mountpoint.to_path_buf());
    mount_points().contains(&canonical)
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Run a program, assert success, return stdout.
#[track_caller]
pub fn run(program: &str, args: &[&OsStr], dir: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Deterministic pseudo-random bytes, so expected contents can be recomputed.
pub use secvol_core::testing::noise as pattern;

/// A local tree of `files` files in nested directories, with a symlink and odd names.
pub fn make_tree(root: &Path, files: usize) {
    for i in 0..files {
        let dir = root.join(format!("dept-{}/patient {:03}", i % 7, i % 41));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("scan-{i:05}.pdf")),
            pattern(i as u64, (i * 7919) % 200_000),
        )
        .unwrap();
    }
    std::fs::write(root.join("ünïcödé näme.txt"), b"names are bytes\n").unwrap();
    std::os::unix::fs::symlink("dept-0", root.join("first-department")).unwrap();
}

/// The pid of the daemon serving `mountpoint`, from `secvol list`.
pub fn daemon_pid(sandbox: &Sandbox, mountpoint: &Path) -> i32 {
    let run = sandbox.secvol(&["list"]).ok();
    let line = run
        .stdout
        .lines()
        .find(|line| line.contains(&mountpoint.display().to_string()))
        .unwrap_or_else(|| panic!("not listed: {run:#?}"));
    line.split_whitespace().last().unwrap().parse().unwrap()
}

/// The effective user id of the tests, from /proc (no unsafe needed): some tests need root
/// (to act as another user), and the suite also runs as a normal user (ci/suites).
pub fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .expect("Uid line in /proc/self/status")
}

/// The `secvol` program under test: the one cargo built, or `SECVOL_E2E_BIN` (the suite that
/// runs these tests as a normal user copies both programs somewhere that user can reach).
/// A copy of [`secvol_bin`] in `sandbox` that other users can run. The build may live
/// where only root can go (a clone in a private `mktemp -d` folder): the program itself may
/// then start, but it cannot start its mount daemon from there ("Permission denied").
pub fn secvol_bin_for_others(sandbox: &Sandbox) -> PathBuf {
    let copy = sandbox.path("secvol-for-others");
    if !copy.exists() {
        std::fs::copy(secvol_bin(), &copy).expect("copy of the secvol program");
        set_mode(&copy, 0o755);
    }
    copy
}

pub fn secvol_bin() -> PathBuf {
    std::env::var_os("SECVOL_E2E_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_secvol")))
}
