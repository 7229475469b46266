//! Running the real `secvol` binary on real containers in a temporary directory.
//!
//! Every container is made with `--scrypt-log-n 10` (the cheapest accepted KDF cost: the
//! defaults are never changed for tests) and, unless the fill matters, `--quick`.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A strong password that passes the policy.
pub const STRONG: &str = "clinic-umbrella-violet-tractor-42";
/// Another strong password.
pub const OTHER_STRONG: &str = "harbour-pencil-glacier-mango-17";

/// Offset of the backup header copy from the end of the file (the 64 KiB header region).
pub const HEADER_REGION: u64 = 64 * 1024;

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(output: Output) -> Self {
        Run {
            code: output.status.code().expect("secvol was killed by a signal"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Assert success and return self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success, got {self:#?}");
        self
    }

    /// Assert the exit code and that stderr holds exactly one line, the `error: ` line.
    #[track_caller]
    pub fn fails_with(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|line| line.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "expected one error line: {self:#?}");
        assert!(
            self.stderr.trim_end().ends_with(errors[0]),
            "the error line must be the last line of stderr: {self:#?}"
        );
        self
    }

    /// The `error: ` line.
    pub fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .find(|line| line.starts_with("error: "))
            .unwrap_or("")
    }
}

/// A temporary directory to run secvol in.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write a password file holding `password` and a newline.
    pub fn password_file(&self, password: &str) -> PathBuf {
        let count = std::fs::read_dir(self.dir.path()).unwrap().count();
        let path = self.path(&format!("pw-{count}.txt"));
        std::fs::write(&path, format!("{password}\n")).unwrap();
        path
    }

    fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let binary = env!("CARGO_BIN_EXE_secvol");
        // Without a controlling terminal, a test that forgot --password-file fails at once
        // with the "no terminal" error instead of waiting for someone to type.
        let mut command = if Path::new("/usr/bin/setsid").exists() {
            let mut command = Command::new("/usr/bin/setsid");
            command.arg("--wait").arg(binary);
            command
        } else {
            Command::new(binary)
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG")
            // Nor a desktop: secvol would ask in a password box (crates/cli/src/dialog.rs).
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Run secvol with standard input closed.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("secvol runs");
        Run::from_output(output)
    }

    /// Run secvol with `input` on standard input.
    pub fn run_with_stdin<S: AsRef<OsStr>>(&self, args: &[S], input: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("secvol runs");
        let written = child.stdin.take().unwrap().write_all(input.as_bytes());
        // A command that refuses its arguments exits without reading: the pipe is then
        // closed before (or while) the input is written, which is not the test's concern.
        if let Err(err) = written {
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
        }
        Run::from_output(child.wait_with_output().unwrap())
    }

    /// Create `name` (`size`, e.g. "1M") with `password`, quick and with the cheapest KDF.
    pub fn create(&self, name: &str, size: &str, password: &str) -> PathBuf {
        let pw = self.password_file(password);
        let path = self.path(name);
        self.run(&[
            OsStr::new("create"),
            path.as_os_str(),
            OsStr::new("--size"),
            OsStr::new(size),
            OsStr::new("--password-file"),
            pw.as_os_str(),
            OsStr::new("--scrypt-log-n"),
            OsStr::new("10"),
            OsStr::new("--quick"),
        ])
        .ok();
        path
    }

    /// `secvol info CONTAINER --password-file <file holding password>`.
    pub fn info_with_password(&self, container: &Path, password: &str) -> Run {
        let pw = self.password_file(password);
        self.run(&[
            OsStr::new("info"),
            container.as_os_str(),
            OsStr::new("--password-file"),
            pw.as_os_str(),
        ])
    }
}

/// XOR `mask` into the byte at `offset` of `path`.
pub fn flip_byte(path: &Path, offset: u64, mask: u8) {
    use std::os::unix::fs::FileExt;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    byte[0] ^= mask;
    file.write_all_at(&byte, offset).unwrap();
}

/// Write `bytes` at `offset` of `path`.
pub fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

/// Offset of the backup header copy of `path`.
pub fn backup_header_offset(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len() - HEADER_REGION
}
