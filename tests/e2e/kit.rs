//! The portable kit from a double-click-equivalent start: `secvol kit` into a folder, then its
//! Linux scripts run without a terminal (a new session, as a file manager starts them), the
//! password typed into the password box. The box is a stand-in for zenity that talks the same
//! way (arguments in, the typed text on its standard output) and records what it was shown;
//! tests/e2e/xvfb.rs drives the real zenity.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{PASSWORD, Run, Sandbox, is_mounted, pattern, set_mode};

/// A desktop as the scripts see it: a `DISPLAY`, a zenity that answers from a queue, an
/// `xdg-open` that only notes what it was asked to open, a home folder.
struct Desktop {
    bin: PathBuf,
    answers: PathBuf,
    shown: PathBuf,
    opened: PathBuf,
    home: PathBuf,
}

impl Desktop {
    fn new(sandbox: &Sandbox) -> Desktop {
        let bin = sandbox.path("desktop-bin");
        let home = sandbox.path("home");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let desktop = Desktop {
            answers: sandbox.path("zenity-answers"),
            shown: sandbox.path("zenity-shown"),
            opened: sandbox.path("xdg-opened"),
            bin,
            home,
        };
        std::fs::write(&desktop.answers, "").unwrap();
        // Password boxes (--entry) take the next answer: "password:TEXT" is typed and OK
        // pressed, "cancel" presses Cancel. Message boxes are noted and closed.
        let zenity = format!(
            "#!/bin/sh\n\
             printf '%s' \"$*\" | tr '\\n' ' ' >> '{shown}'; echo >> '{shown}'\n\
             case \"$1\" in\n\
             --entry)\n\
                 answer=$(head -n 1 '{answers}')\n\
                 tail -n +2 '{answers}' > '{answers}.rest' && mv '{answers}.rest' '{answers}'\n\
                 case $answer in\n\
                 password:*) printf '%s\\n' \"${{answer#password:}}\"; exit 0 ;;\n\
                 *) exit 1 ;;\n\
                 esac ;;\n\
             esac\n\
             exit 0\n",
            shown = desktop.shown.display(),
            answers = desktop.answers.display()
        );
        let xdg_open = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
            desktop.opened.display()
        );
        for (name, text) in [("zenity", zenity), ("xdg-open", xdg_open)] {
            std::fs::write(desktop.bin.join(name), text).unwrap();
            set_mode(&desktop.bin.join(name), 0o755);
        }
        desktop
    }

    /// Queue what will be typed into the next password boxes.
    fn will_type(&self, answers: &[&str]) {
        let mut text = std::fs::read_to_string(&self.answers).unwrap();
        for answer in answers {
            text.push_str(answer);
            text.push('\n');
        }
        std::fs::write(&self.answers, text).unwrap();
    }

    /// Every box shown so far, one line of arguments each.
    fn shown(&self) -> String {
        std::fs::read_to_string(&self.shown).unwrap_or_default()
    }

    /// Run `program args` as a double-click would: a new session without a terminal, on this
    /// desktop.
    fn start(&self, sandbox: &Sandbox, program: &Path, args: &[&OsStr]) -> Run {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new("setsid");
        command
            .arg("--wait")
            .arg(program)
            .args(args)
            .env("PATH", path)
            .env("DISPLAY", ":97")
            .env_remove("WAYLAND_DISPLAY")
            .env("HOME", &self.home)
            .env("XDG_STATE_HOME", sandbox.state_dir())
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("RUST_LOG")
            .current_dir(sandbox.path(""))
            .stdin(Stdio::null());
        sandbox.run(&mut command)
    }
}

/// `secvol kit DIR --container TimeAcct.sec --size 16M` with the cheap KDF.
fn make_kit(sandbox: &Sandbox, dir: &Path) -> Run {
    sandbox.secvol(&[
        OsStr::new("kit"),
        dir.as_os_str(),
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
}

fn shellcheck(script: &Path) {
    let output = Command::new("shellcheck")
        .args(["-s", "sh"])
        .arg(script)
        .output()
        .expect("shellcheck is installed (apt-get install shellcheck; .ci/run does)");
    assert!(
        output.status.success(),
        "shellcheck {}:\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn the_kit_mounts_and_dismounts_from_its_scripts_without_a_terminal() {
    let sandbox = Sandbox::new();
    let usb = sandbox.path("usb key");
    let run = make_kit(&sandbox, &usb).ok();
    assert!(run.stdout.contains("The kit is ready"), "{run:#?}");
    for name in [
        "Mount Secure Drive.bat",
        "Dismount Secure Drive.bat",
        "Mount Secure Drive.command",
        "Dismount Secure Drive.command",
        "mount-secure-drive.sh",
        "dismount-secure-drive.sh",
        "README.txt",
        "Data/TimeAcct.sec",
        "secvol/linux-x86_64/secvol",
    ] {
        assert!(usb.join(name).is_file(), "{name} missing");
    }
    for script in [
        "mount-secure-drive.sh",
        "dismount-secure-drive.sh",
        "Mount Secure Drive.command",
        "Dismount Secure Drive.command",
    ] {
        shellcheck(&usb.join(script));
    }
    let readme = std::fs::read_to_string(usb.join("README.txt")).unwrap();
    assert!(readme.contains("TimeAcct.sec") && readme.contains("drive T:"));

    // The key is plugged in somewhere else: the scripts find everything from where they are.
    let moved = sandbox.path("media/ANA'S KEY");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&usb, &moved).unwrap();
    let desktop = Desktop::new(&sandbox);
    let mnt = desktop.home.join("TimeAcct");

    desktop.will_type(&[&format!("password:{PASSWORD}")]);
    let run = desktop.start(
        &sandbox,
        Path::new("sh"),
        &[moved.join("mount-secure-drive.sh").as_os_str()],
    );
    assert_eq!(run.code, Some(0), "{run:#?}\n{}", desktop.shown());
    assert!(is_mounted(&mnt));
    let shown = desktop.shown();
    assert!(shown.contains("--entry --hide-text"), "{shown}");
    assert!(
        shown.contains("--info") && shown.contains("TimeAcct.sec is open"),
        "{shown}"
    );
    assert!(
        !shown.contains(PASSWORD),
        "the password reached a command line: {shown}"
    );
    // The folder is opened in the file manager (in the background).
    let start = std::time::Instant::now();
    while !desktop.opened.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        std::fs::read_to_string(&desktop.opened).unwrap().trim(),
        mnt.display().to_string()
    );

    std::fs::write(mnt.join("visit.txt"), pattern(5, 50_000)).unwrap();

    // A program still inside: the dismount script names it, and the mount stays.
    let mut holder = Command::new("sleep")
        .arg("60")
        .current_dir(&mnt)
        .spawn()
        .unwrap();
    let dismount = moved.join("dismount-secure-drive.sh");
    let run = desktop.start(&sandbox, Path::new("sh"), &[dismount.as_os_str()]);
    assert_eq!(run.code, Some(11), "{run:#?}");
    let shown = desktop.shown();
    let last = shown.lines().last().unwrap();
    assert!(last.starts_with("--error"), "{last}");
    assert!(
        last.contains(&format!("sleep (pid {})", holder.id())),
        "{last}"
    );
    assert!(
        !shown.contains("safe to remove"),
        "said safe while busy: {shown}"
    );
    assert!(is_mounted(&mnt));
    holder.kill().unwrap();
    holder.wait().unwrap();

    let run = desktop.start(&sandbox, Path::new("sh"), &[dismount.as_os_str()]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let last = desktop.shown().lines().last().unwrap().to_owned();
    assert!(
        last.starts_with("--info") && last.contains("safe to remove the drive"),
        "{last}"
    );
    assert!(!is_mounted(&mnt));
    // Dismounting again says it is closed (and still safe).
    let run = desktop.start(&sandbox, Path::new("sh"), &[dismount.as_os_str()]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        desktop
            .shown()
            .lines()
            .last()
            .unwrap()
            .contains("is not mounted, and it is closed")
    );

    let container = moved.join("Data/TimeAcct.sec");
    sandbox.check_clean(&container);
    let check = sandbox.path("check");
    sandbox.mount(&container, &check);
    assert!(std::fs::read(check.join("visit.txt")).unwrap() == pattern(5, 50_000));
    sandbox.unmount(&check);
}

#[test]
fn a_wrong_password_is_said_and_asked_again_and_cancel_leaves_no_folder() {
    let sandbox = Sandbox::new();
    let usb = sandbox.path("usb");
    make_kit(&sandbox, &usb).ok();
    let desktop = Desktop::new(&sandbox);
    let mnt = desktop.home.join("TimeAcct");
    let mount = usb.join("mount-secure-drive.sh");

    desktop.will_type(&["cancel"]);
    let run = desktop.start(&sandbox, Path::new("sh"), &[mount.as_os_str()]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(!mnt.exists(), "a cancelled mount left its folder");
    assert!(!desktop.shown().contains("--error"), "{}", desktop.shown());

    desktop.will_type(&[
        "password:not-the-password-at-all",
        &format!("password:{PASSWORD}"),
    ]);
    let run = desktop.start(&sandbox, Path::new("sh"), &[mount.as_os_str()]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let shown = desktop.shown();
    assert!(
        shown.contains("--error --no-markup --title=Wrong password"),
        "{shown}"
    );
    assert_eq!(shown.matches("--entry").count(), 3, "{shown}");
    assert!(is_mounted(&mnt));
    let run = desktop.start(
        &sandbox,
        Path::new("sh"),
        &[usb.join("dismount-secure-drive.sh").as_os_str()],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(!is_mounted(&mnt));
}

#[test]
fn a_sample_kit_opens_with_the_demo_password_written_in_its_readme() {
    let sandbox = Sandbox::new();
    let usb = sandbox.path("sample");
    let run = sandbox
        .secvol(&[
            OsStr::new("kit"),
            usb.as_os_str(),
            OsStr::new("--sample"),
            OsStr::new("--scrypt-log-n"),
            OsStr::new("10"),
        ])
        .ok();
    assert!(run.stdout.contains("SAMPLE"), "{run:#?}");
    let readme = std::fs::read_to_string(usb.join("README.txt")).unwrap();
    let demo = "sample-clinic-umbrella-violet-42";
    assert!(
        readme.contains(demo) && readme.contains("NEVER put real records"),
        "{readme}"
    );
    assert_eq!(
        std::fs::metadata(usb.join("Data/Sample.sec"))
            .unwrap()
            .len(),
        1 << 20
    );

    let desktop = Desktop::new(&sandbox);
    desktop.will_type(&[&format!("password:{demo}")]);
    let run = desktop.start(
        &sandbox,
        Path::new("sh"),
        &[usb.join("mount-secure-drive.sh").as_os_str()],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let mnt = desktop.home.join("Sample");
    std::fs::write(mnt.join("try.txt"), b"trying the routine").unwrap();
    let run = desktop.start(
        &sandbox,
        Path::new("sh"),
        &[usb.join("dismount-secure-drive.sh").as_os_str()],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(!is_mounted(&mnt));
}

#[test]
fn an_existing_kit_is_not_replaced_without_force_and_never_its_container() {
    let sandbox = Sandbox::new();
    let usb = sandbox.path("usb");
    make_kit(&sandbox, &usb).ok();
    let container = usb.join("Data/TimeAcct.sec");
    let before = std::fs::read(&container).unwrap();
    let run = make_kit(&sandbox, &usb).fails_with(12);
    assert!(run.stderr.contains("--force"), "{run:#?}");
    // --force refreshes the scripts and keeps the container as it is.
    std::fs::write(usb.join("README.txt"), "old").unwrap();
    sandbox
        .secvol(&[
            OsStr::new("kit"),
            usb.as_os_str(),
            OsStr::new("--container"),
            OsStr::new("TimeAcct.sec"),
            OsStr::new("--force"),
        ])
        .ok();
    assert!(
        std::fs::read_to_string(usb.join("README.txt"))
            .unwrap()
            .contains("SECURE DRIVE")
    );
    assert!(std::fs::read(&container).unwrap() == before);
}

#[test]
fn an_existing_container_is_moved_into_the_kit() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("Records.sec", "16M");
    let usb = sandbox.path("usb");
    let run = sandbox
        .secvol(&[
            OsStr::new("kit"),
            usb.as_os_str(),
            OsStr::new("--container"),
            container.as_os_str(),
            OsStr::new("--drive"),
            OsStr::new("R"),
        ])
        .ok();
    assert!(run.stdout.contains("moved from"), "{run:#?}");
    assert!(!container.exists());
    assert!(usb.join("Data/Records.sec").is_file());
    let bat = std::fs::read_to_string(usb.join("Mount Secure Drive.bat")).unwrap();
    assert!(bat.contains("set \"DRIVE=R:\"") && bat.contains("Data\\Records.sec"));
    let sh = std::fs::read_to_string(usb.join("mount-secure-drive.sh")).unwrap();
    assert!(sh.contains("mount_name='Records'"));
    sandbox.check_clean(&usb.join("Data/Records.sec"));
}

#[test]
fn without_a_terminal_mount_asks_in_a_password_box_and_without_a_desktop_it_says_so() {
    let sandbox = Sandbox::new();
    let container = sandbox.create("TimeAcct.sec", "16M");
    let desktop = Desktop::new(&sandbox);
    let mnt = sandbox.path("boxed");
    desktop.will_type(&[&format!("password:{PASSWORD}")]);
    let secvol = crate::harness::secvol_bin();
    let run = desktop.start(
        &sandbox,
        &secvol,
        &[OsStr::new("mount"), container.as_os_str(), mnt.as_os_str()],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(desktop.shown().contains("--entry --hide-text"));
    sandbox.unmount(&mnt);

    let mnt = sandbox.path("never");
    let mut command = Command::new("setsid");
    command
        .arg("--wait")
        .arg(&secvol)
        .args([OsStr::new("mount"), container.as_os_str(), mnt.as_os_str()])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null());
    let run = sandbox.run(&mut command).fails_with(1);
    assert!(
        run.stderr
            .contains("no terminal to ask for the password on"),
        "{run:#?}"
    );
    assert!(!mnt.exists());
}

#[test]
fn create_in_a_password_box_explains_a_weak_password_and_asks_again() {
    let sandbox = Sandbox::new();
    let desktop = Desktop::new(&sandbox);
    let container = sandbox.path("New.sec");
    desktop.will_type(&[
        "password:password",
        "password:password",
        &format!("password:{PASSWORD}"),
        "password:typo",
        &format!("password:{PASSWORD}"),
        &format!("password:{PASSWORD}"),
    ]);
    let run = desktop.start(
        &sandbox,
        &crate::harness::secvol_bin(),
        &[
            OsStr::new("create"),
            container.as_os_str(),
            OsStr::new("--size"),
            OsStr::new("1M"),
            OsStr::new("--scrypt-log-n"),
            OsStr::new("10"),
            OsStr::new("--gui"),
        ],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    let shown = desktop.shown();
    assert!(
        shown.contains("--warning --no-markup --title=Password too weak"),
        "{shown}"
    );
    assert!(shown.contains("top-10 common password"), "{shown}");
    assert!(shown.contains("--title=Passwords differ"), "{shown}");
    assert!(shown.contains("New.sec is created"), "{shown}");
    std::thread::sleep(Duration::from_millis(10));
    sandbox.check_clean(&container);
}

/// A stand-in for secvol.exe: notes its arguments, exits with the code it is told.
const FAKE_SECVOL_EXE: &str = r#"#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    const char *log = getenv("FAKE_SECVOL_LOG");
    const char *code = getenv("FAKE_SECVOL_EXIT");
    FILE *f = log ? fopen(log, "a") : NULL;
    if (f) {
        for (int i = 1; i < argc; i++) fprintf(f, "%s\n", argv[i]);
        fprintf(f, "--\n");
        fclose(f);
    }
    return code ? atoi(code) : 0;
}
"#;

/// Make the Wine prefix `prefix` before any program runs in it. Left to the first `wine cmd`,
/// the prefix is made on the fly, and on a busy machine that run failed with "could not load
/// kernel32.dll" (exit 53) instead of running the script.
fn make_wine_prefix(prefix: &Path) {
    for attempt in 1..=2 {
        let booted = Command::new("wineboot")
            .arg("--init")
            .env("WINEPREFIX", prefix)
            .env("WINEDEBUG", "-all")
            .env_remove("DISPLAY")
            .stdin(Stdio::null())
            .output()
            .expect("wineboot runs (Debian package wine)");
        let settled = Command::new("wineserver")
            .arg("--wait")
            .env("WINEPREFIX", prefix)
            .status()
            .expect("wineserver runs");
        if booted.status.success() && settled.success() && prefix.join("system.reg").is_file() {
            return;
        }
        eprintln!(
            "making the Wine prefix, attempt {attempt}: {:?} {}",
            booted.status,
            String::from_utf8_lossy(&booted.stderr)
        );
    }
    panic!("cannot make a Wine prefix in {}", prefix.display());
}

#[test]
fn the_bat_scripts_run_under_a_real_cmd_and_pass_on_every_exit_code() {
    // Wine's cmd.exe is a real batch interpreter; mingw-w64 builds the stand-in secvol.exe.
    let have = |program: &str| {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if !have("wine") || !have("x86_64-w64-mingw32-gcc") {
        eprintln!("skipped: needs wine and mingw-w64 (x86_64-w64-mingw32-gcc)");
        return;
    }
    let sandbox = Sandbox::new();
    let source = sandbox.path("fake.c");
    std::fs::write(&source, FAKE_SECVOL_EXE).unwrap();
    let exe = sandbox.path("secvol.exe");
    let built = Command::new("x86_64-w64-mingw32-gcc")
        .arg("-O2")
        .arg("-o")
        .arg(&exe)
        .arg(&source)
        .status()
        .unwrap();
    assert!(built.success());
    let usb = sandbox.path("usb key");
    make_kit(&sandbox, &usb).ok();
    // The Windows program is added to the kit as a user would: recognised from its header.
    let run = sandbox
        .secvol(&[
            OsStr::new("kit"),
            usb.as_os_str(),
            OsStr::new("--force"),
            OsStr::new("--program"),
            exe.as_os_str(),
        ])
        .ok();
    assert!(
        run.stdout.contains("secvol for Windows (x86_64)"),
        "{run:#?}"
    );
    assert!(usb.join("secvol/windows-x86_64/secvol.exe").is_file());

    let prefix = sandbox.path("wine");
    make_wine_prefix(&prefix);
    let log = sandbox.path("secvol-exe.log");
    let windows_path = |path: &Path| format!("Z:{}", path.display()).replace('/', "\\");
    let cmd = |script: &str, exit: u8| {
        let mut command = Command::new("wine");
        command
            .arg("cmd")
            .arg("/c")
            .arg(windows_path(&usb.join(script)))
            .env("WINEPREFIX", &prefix)
            .env("WINEDEBUG", "-all")
            .env("FAKE_SECVOL_LOG", windows_path(&log))
            .env("FAKE_SECVOL_EXIT", exit.to_string())
            .env_remove("DISPLAY")
            .current_dir("/")
            .stdin(Stdio::null());
        sandbox.run(&mut command)
    };
    let calls = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .replace("\r\n", "\n")
    };

    // A wrong password (3): the script stops there with secvol's code.
    let run = cmd("Mount Secure Drive.bat", 3);
    assert_eq!(run.code, Some(3), "{run:#?}");
    let expected_container = windows_path(&usb.join("Data/TimeAcct.sec"));
    assert_eq!(
        calls(),
        format!("mount\n{expected_container}\nT:\n--gui\n--\n"),
        "secvol.exe got other arguments"
    );
    // secvol says "mounted" but there is no T: drive: the script does not trust it.
    let run = cmd("Mount Secure Drive.bat", 0);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("drive T: is not there"), "{run:#?}");
    // A busy dismount (11) comes back as 11.
    std::fs::remove_file(&log).unwrap();
    let run = cmd("Dismount Secure Drive.bat", 11);
    assert_eq!(run.code, Some(11), "{run:#?}");
    assert_eq!(
        calls(),
        format!("unmount\n{expected_container}\n--gui\n--\n")
    );
    let run = cmd("Dismount Secure Drive.bat", 0);
    assert_eq!(run.code, Some(0), "{run:#?}");

    // Without the program the scripts say so and stop.
    std::fs::remove_file(usb.join("secvol/windows-x86_64/secvol.exe")).unwrap();
    let run = cmd("Mount Secure Drive.bat", 0);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.contains(r"secvol\windows-x86_64\secvol.exe"),
        "{run:#?}"
    );
}
