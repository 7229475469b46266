//! The real password box: the kit's Linux scripts started without a terminal on a virtual X
//! display (Xvfb), the real zenity showing the boxes, xdotool typing into them as a person
//! would. Needs Xvfb, zenity and xdotool (packages xvfb, zenity, xdotool; .ci/run installs
//! them); without them the test says it was skipped.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{PASSWORD, Sandbox, is_mounted, set_mode};

/// An X server of its own, on a display number it chose itself (`-displayfd`).
pub struct VirtualDisplay {
    xvfb: Child,
    /// `:N`.
    pub name: String,
}

impl VirtualDisplay {
    /// Start Xvfb; `None` (with a note) if Xvfb, zenity or xdotool is missing.
    pub fn start() -> Option<VirtualDisplay> {
        for program in ["Xvfb", "zenity", "xdotool"] {
            let found = std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| dir.join(program).is_file())
            });
            if !found {
                eprintln!("skipped: {program} is not installed (.ci/run installs it)");
                return None;
            }
        }
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x600x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("Xvfb names its display");
        let number = line.trim();
        assert!(!number.is_empty(), "Xvfb did not start");
        Some(VirtualDisplay {
            name: format!(":{number}"),
            xvfb,
        })
    }

    fn xdotool(&self, args: &[&str]) -> std::process::Output {
        Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.name)
            .output()
            .expect("xdotool runs")
    }

    /// Wait for a window whose title is exactly `title`, give it the keyboard, return its id.
    #[track_caller]
    pub fn window(&self, title: &str) -> String {
        let pattern = format!("^{}$", title.replace('.', "\\."));
        let start = Instant::now();
        loop {
            let found = self.xdotool(&["search", "--onlyvisible", "--name", &pattern]);
            let ids = String::from_utf8_lossy(&found.stdout);
            if let Some(id) = ids.lines().next() {
                let id = id.trim().to_owned();
                // Mapped is not yet ready for input: let GTK finish drawing.
                std::thread::sleep(Duration::from_millis(400));
                self.xdotool(&["windowfocus", "--sync", &id]);
                return id;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no window titled {title:?} appeared; visible: {:?}",
                self.visible_titles()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Answer the box `title` (found by [`VirtualDisplay::window`]): type `text` into its
    /// entry, if any, and press Return; then wait for the box to close. Keystrokes sent
    /// before GTK is ready for input are lost (seen with both cores busy): if the box is
    /// still there after a while, it is focused again and answered again, the entry's text
    /// replaced.
    #[track_caller]
    pub fn answer(&self, title: &str, text: Option<&str>) {
        let id = self.window(title);
        for _ in 0..3 {
            if let Some(text) = text {
                self.key("ctrl+a");
                self.type_text(text);
            }
            self.key("Return");
            if self.closed(&id, title, Duration::from_secs(10)) {
                return;
            }
            self.xdotool(&["windowfocus", "--sync", &id]);
        }
        panic!("the box {title:?} did not take the answer");
    }

    /// The visible windows, as (id, title).
    fn visible_windows(&self) -> Vec<(String, String)> {
        let visible = self.xdotool(&["search", "--onlyvisible", "--name", "."]);
        String::from_utf8_lossy(&visible.stdout)
            .lines()
            .map(|id| {
                let id = id.trim().to_owned();
                let name = self.xdotool(&["getwindowname", &id]);
                let title = String::from_utf8_lossy(&name.stdout).trim().to_owned();
                (id, title)
            })
            .collect()
    }

    /// The titles of the visible windows, for failure messages.
    fn visible_titles(&self) -> Vec<String> {
        self.visible_windows()
            .into_iter()
            .map(|(_, title)| title)
            .collect()
    }

    /// Whether the visible window `id` titled `title` is gone within `patience`. The title
    /// counts: each zenity is a new X client, and the next box often gets the same window id
    /// as the one just closed.
    fn closed(&self, id: &str, title: &str, patience: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < patience {
            if !self
                .visible_windows()
                .iter()
                .any(|(shown, named)| shown == id && named == title)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Type `text` into the focused window.
    pub fn type_text(&self, text: &str) {
        let out = self.xdotool(&["type", "--delay", "15", "--", text]);
        assert!(out.status.success(), "{out:?}");
    }

    /// Press a key (`Return`).
    pub fn key(&self, key: &str) {
        let out = self.xdotool(&["key", key]);
        assert!(out.status.success(), "{out:?}");
    }
}

impl Drop for VirtualDisplay {
    fn drop(&mut self) {
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

/// A folder with a no-op xdg-open, first on PATH: no file manager is started.
fn quiet_bin(sandbox: &Sandbox) -> PathBuf {
    let bin = sandbox.path("quiet-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("xdg-open"), "#!/bin/sh\nexit 0\n").unwrap();
    set_mode(&bin.join("xdg-open"), 0o755);
    bin
}

/// Start a kit script as a double-click would: a new session without a terminal.
fn start_script(sandbox: &Sandbox, display: &VirtualDisplay, script: &Path, home: &Path) -> Child {
    let path = format!(
        "{}:{}",
        quiet_bin(sandbox).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("setsid")
        .arg("--wait")
        .arg("sh")
        .arg(script)
        .env("DISPLAY", &display.name)
        .env_remove("WAYLAND_DISPLAY")
        .env("PATH", path)
        .env("HOME", home)
        .env("XDG_STATE_HOME", sandbox.state_dir())
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the script starts")
}

#[track_caller]
fn finished(mut child: Child) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            eprintln!("script stderr: {stderr}");
            return status.code().unwrap_or(-1);
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the script did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_real_password_box_mounts_the_kit_and_says_when_the_drive_can_be_removed() {
    let Some(display) = VirtualDisplay::start() else {
        return;
    };
    let sandbox = Sandbox::new();
    let usb = sandbox.path("usb");
    sandbox
        .secvol(&[
            OsStr::new("kit"),
            usb.as_os_str(),
            OsStr::new("--container"),
            OsStr::new("TimeAcct.sec"),
            OsStr::new("--size"),
            OsStr::new("16M"),
            OsStr::new("--password-file"),
            sandbox.password_file.as_os_str(),
            OsStr::new("--scrypt-log-n"),
            OsStr::new("10"),
            OsStr::new("--quick"),
        ])
        .ok();
    let home = sandbox.path("home");
    std::fs::create_dir(&home).unwrap();
    let mnt = home.join("TimeAcct");

    let script = start_script(
        &sandbox,
        &display,
        &usb.join("mount-secure-drive.sh"),
        &home,
    );
    display.answer("Open TimeAcct.sec", Some("not-the-password"));
    display.answer("Wrong password", None);
    display.answer("Open TimeAcct.sec", Some(PASSWORD));
    display.answer("Mounted", None);
    assert_eq!(finished(script), 0);
    assert!(is_mounted(&mnt));
    std::fs::write(mnt.join("typed.txt"), b"through the real box").unwrap();

    let script = start_script(
        &sandbox,
        &display,
        &usb.join("dismount-secure-drive.sh"),
        &home,
    );
    display.answer("Safe to remove", None);
    assert_eq!(finished(script), 0);
    assert!(!is_mounted(&mnt));
    sandbox.check_clean(&usb.join("Data/TimeAcct.sec"));
}
