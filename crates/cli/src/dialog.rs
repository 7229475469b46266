//! The password box and message boxes, for when secvol is started without a terminal (a
//! double-clicked script) or with `--gui`.
//!
//! secvol draws no window itself: it runs the platform's own dialog program and reads the
//! answer from that program's standard output through a pipe.
//!
//! * Linux and the BSDs: `zenity` (GNOME, and installed on most desktops), else `kdialog`
//!   (KDE). Both are shell-script dialog tools that print the typed text on standard output.
//! * macOS: `osascript` running `display dialog ... with hidden answer`; the AppleScript is
//!   written to its standard input.
//! * Windows: `powershell.exe` showing a Windows Forms dialog with a masked text box; the
//!   script is passed as `-EncodedCommand` (it holds only the title and the prompt).
//!
//! Why not a GUI crate: a toolkit (GTK, Qt, egui, winit) would add a large dependency tree,
//! a display connection and a second event loop to a command-line program for one text
//! field, and would still look foreign on each desktop; the dialog programs are small, native,
//! already installed where a desktop is, and keep the CLI free of GUI code. The cost, stated in
//! docs/threat-model.md: the typed password passes through that program's memory, and through
//! the pipe, before it reaches ours.
//!
//! The password never appears on a command line or in the environment: the dialog program gets
//! only a title and a prompt as arguments, and hands the typed text back on its standard output,
//! which secvol reads into a zeroizing buffer. Nothing here logs.
//!
//! This module must not know about containers or mounts: callers give it finished texts.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Context;
use secrecy::SecretString;

use crate::error::CliError;

/// What a message box is about (its icon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Something worked.
    Info,
    /// Something needs attention but nothing failed.
    Warning,
    /// Something failed.
    Error,
}

/// The dialog program in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    /// GNOME's zenity (Linux, BSD).
    Zenity(PathBuf),
    /// KDE's kdialog (Linux, BSD).
    Kdialog(PathBuf),
    /// macOS's osascript.
    #[cfg_attr(not(target_os = "macos"), allow(dead_code))]
    Osascript(PathBuf),
    /// Windows PowerShell with Windows Forms.
    #[cfg_attr(not(windows), allow(dead_code))]
    PowerShell(PathBuf),
}

/// Width of zenity's boxes in pixels: wide enough for a path on one line or two.
const ZENITY_WIDTH: &str = "460";

/// Whether a graphical session is there to show a dialog on. On Linux and the BSDs that is an
/// X11 or Wayland display; macOS and Windows always have one for a logged-in user.
pub fn desktop_available() -> bool {
    if cfg!(any(target_os = "macos", windows)) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// The dialog a command talks through: with `--gui` (`gui_flag`), or when it must ask for a
/// password (`asks_password`: no password file) and there is no terminal but a desktop.
/// `None`: the terminal. Without `--gui` a missing dialog program is not an error here; the
/// password prompt reports it if it comes to that.
pub fn for_command(gui_flag: bool, asks_password: bool) -> Result<Option<Dialog>, CliError> {
    if gui_flag {
        return Dialog::find().map(Some);
    }
    if asks_password && !crate::password::has_terminal() && desktop_available() {
        return Ok(Dialog::find().ok());
    }
    Ok(None)
}

/// `name` in one of the directories of `PATH`, if it is there.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

impl Dialog {
    /// The dialog program of this system, or why there is none.
    pub fn find() -> Result<Dialog, CliError> {
        if !desktop_available() {
            return Err(CliError::NoDesktop);
        }
        if cfg!(target_os = "macos") {
            return Ok(Dialog::Osascript(PathBuf::from("/usr/bin/osascript")));
        }
        if cfg!(windows) {
            let program = find_program("powershell.exe").unwrap_or_else(|| {
                PathBuf::from(r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")
            });
            return Ok(Dialog::PowerShell(program));
        }
        if let Some(zenity) = find_program("zenity") {
            return Ok(Dialog::Zenity(zenity));
        }
        if let Some(kdialog) = find_program("kdialog") {
            return Ok(Dialog::Kdialog(kdialog));
        }
        Err(CliError::NoDialogProgram)
    }

    fn program_name(&self) -> &'static str {
        match self {
            Dialog::Zenity(_) => "zenity",
            Dialog::Kdialog(_) => "kdialog",
            Dialog::Osascript(_) => "osascript",
            Dialog::PowerShell(_) => "powershell",
        }
    }

    /// Show a password box. `Ok(None)`: the user pressed Cancel or closed it.
    pub fn ask_password(&self, title: &str, text: &str) -> anyhow::Result<Option<SecretString>> {
        let (mut command, script) = match self {
            Dialog::Zenity(program) => {
                let mut command = Command::new(program);
                command
                    .arg("--entry")
                    .arg("--hide-text")
                    .arg(format!("--title={title}"))
                    .arg(format!("--text={text}"))
                    .arg(format!("--width={ZENITY_WIDTH}"));
                (command, None)
            }
            Dialog::Kdialog(program) => {
                let mut command = Command::new(program);
                command
                    .arg("--title")
                    .arg(title)
                    .arg("--password")
                    .arg(text);
                (command, None)
            }
            Dialog::Osascript(program) => (
                Command::new(program),
                Some(osascript_password_script(title, text)),
            ),
            Dialog::PowerShell(program) => {
                let mut command = Command::new(program);
                command.args(powershell_args(&powershell_password_script(title, text)));
                (command, None)
            }
        };
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command.stdin(if script.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot show the password box ({})", self.program_name()))?;
        if let (Some(script), Some(mut stdin)) = (script, child.stdin.take()) {
            // A program that stopped early is reported from its exit status below.
            let _ = stdin.write_all(script.as_bytes());
        }
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let answer = crate::password::secret_first_line(&mut stdout, "the password box");
        drop(stdout);
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let status = child.wait()?;
        match status.code() {
            Some(0) => answer.map(Some),
            // zenity, kdialog, osascript and our PowerShell script: 1 = Cancel or closed.
            Some(1) => Ok(None),
            _ => anyhow::bail!(
                "the password box ({}) failed ({status}): {}",
                self.program_name(),
                last_line(&stderr)
            ),
        }
    }

    /// Show a message box and wait until it is closed.
    pub fn message(&self, kind: MessageKind, title: &str, text: &str) -> anyhow::Result<()> {
        let mut command = match self {
            Dialog::Zenity(program) => {
                let mut command = Command::new(program);
                command
                    .arg(match kind {
                        MessageKind::Info => "--info",
                        MessageKind::Warning => "--warning",
                        MessageKind::Error => "--error",
                    })
                    .arg("--no-markup")
                    .arg(format!("--title={title}"))
                    .arg(format!("--text={text}"))
                    .arg(format!("--width={ZENITY_WIDTH}"));
                command
            }
            Dialog::Kdialog(program) => {
                let mut command = Command::new(program);
                command
                    .arg("--title")
                    .arg(title)
                    .arg(match kind {
                        MessageKind::Info => "--msgbox",
                        MessageKind::Warning => "--sorry",
                        MessageKind::Error => "--error",
                    })
                    .arg(text);
                command
            }
            Dialog::Osascript(program) => {
                let mut command = Command::new(program);
                command
                    .arg("-e")
                    .arg(osascript_message_script(kind, title, text));
                command
            }
            Dialog::PowerShell(program) => {
                let mut command = Command::new(program);
                command.args(powershell_args(&powershell_message_script(
                    kind, title, text,
                )));
                command
            }
        };
        let output = command
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot show a message box ({})", self.program_name()))?;
        // A message closed with the window's close button is still a message read.
        match output.status.code() {
            Some(0 | 1) => Ok(()),
            _ => anyhow::bail!(
                "the message box ({}) failed ({}): {}",
                self.program_name(),
                output.status,
                last_line(&String::from_utf8_lossy(&output.stderr))
            ),
        }
    }
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// An AppleScript string literal.
fn applescript_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn osascript_password_script(title: &str, text: &str) -> String {
    // `text returned` is printed on standard output; Cancel ends the script with error -128
    // and exit status 1.
    format!(
        "set answer to display dialog {} with title {} default answer \"\" with hidden answer \
         buttons {{\"Cancel\", \"OK\"}} default button \"OK\" with icon note\n\
         return text returned of answer\n",
        applescript_string(text),
        applescript_string(title)
    )
}

fn osascript_message_script(kind: MessageKind, title: &str, text: &str) -> String {
    let level = match kind {
        MessageKind::Info => "informational",
        MessageKind::Warning => "warning",
        MessageKind::Error => "critical",
    };
    format!(
        "display alert {} message {} as {level} buttons {{\"OK\"}} default button \"OK\"",
        applescript_string(title),
        applescript_string(text)
    )
}

/// A PowerShell single-quoted string literal (nothing inside is interpreted).
fn powershell_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn powershell_password_script(title: &str, text: &str) -> String {
    format!(
        r#"$ErrorActionPreference = 'Stop'
Add-Type -AssemblyName System.Windows.Forms
Add-Type -AssemblyName System.Drawing
[System.Windows.Forms.Application]::EnableVisualStyles()
$form = New-Object System.Windows.Forms.Form
$form.Text = {title}
$form.FormBorderStyle = 'FixedDialog'
$form.StartPosition = 'CenterScreen'
$form.TopMost = $true
$form.MaximizeBox = $false
$form.MinimizeBox = $false
$form.ClientSize = New-Object System.Drawing.Size(440, 130)
$label = New-Object System.Windows.Forms.Label
$label.Text = {text}
$label.SetBounds(12, 12, 416, 36)
$box = New-Object System.Windows.Forms.TextBox
$box.UseSystemPasswordChar = $true
$box.SetBounds(12, 54, 416, 24)
$ok = New-Object System.Windows.Forms.Button
$ok.Text = 'OK'
$ok.DialogResult = [System.Windows.Forms.DialogResult]::OK
$ok.SetBounds(272, 92, 75, 26)
$cancel = New-Object System.Windows.Forms.Button
$cancel.Text = 'Cancel'
$cancel.DialogResult = [System.Windows.Forms.DialogResult]::Cancel
$cancel.SetBounds(353, 92, 75, 26)
$form.AcceptButton = $ok
$form.CancelButton = $cancel
$form.Controls.AddRange(@($label, $box, $ok, $cancel))
$form.Add_Shown({{ $form.Activate(); $box.Focus() }})
if ($form.ShowDialog() -ne [System.Windows.Forms.DialogResult]::OK) {{ exit 1 }}
$bytes = [System.Text.Encoding]::UTF8.GetBytes($box.Text + "`n")
$out = [Console]::OpenStandardOutput()
$out.Write($bytes, 0, $bytes.Length)
$out.Flush()
exit 0
"#,
        title = powershell_string(title),
        text = powershell_string(text)
    )
}

fn powershell_message_script(kind: MessageKind, title: &str, text: &str) -> String {
    let icon = match kind {
        MessageKind::Info => "Information",
        MessageKind::Warning => "Warning",
        MessageKind::Error => "Error",
    };
    format!(
        "Add-Type -AssemblyName System.Windows.Forms\n\
         [void][System.Windows.Forms.MessageBox]::Show({}, {}, 'OK', '{icon}')\n\
         exit 0\n",
        powershell_string(text),
        powershell_string(title)
    )
}

/// The arguments that run `script` in PowerShell without a profile or a console prompt.
/// `-EncodedCommand` takes the script as base64 of its UTF-16LE text, so no quoting of the
/// command line can go wrong; the script holds only titles and prompts, never a password.
fn powershell_args(script: &str) -> Vec<OsString> {
    let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    [
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-WindowStyle",
        "Hidden",
        "-EncodedCommand",
    ]
    .iter()
    .map(OsString::from)
    .chain(std::iter::once(OsString::from(base64(&utf16))))
    .collect()
}

/// Standard base64 with padding (RFC 4648), for `-EncodedCommand`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn powershell_strings_cannot_be_broken_out_of() {
        assert_eq!(powershell_string("it's"), "'it''s'");
        let script = powershell_password_script("T'; rm -r C:\\; '", "Password for a'b.sec:");
        assert!(script.contains("$form.Text = 'T''; rm -r C:\\; '''"));
        assert!(script.contains("'Password for a''b.sec:'"));
        // The encoded command is the script in UTF-16LE.
        let args = powershell_args("exit 0");
        assert_eq!(args.last().unwrap(), "ZQB4AGkAdAAgADAA");
    }

    #[test]
    fn applescript_strings_cannot_be_broken_out_of() {
        assert_eq!(applescript_string(r#"a"b\c"#), r#""a\"b\\c""#);
        let script = osascript_password_script("secvol", "Password for \"x\".sec:");
        assert!(script.contains(r#"display dialog "Password for \"x\".sec:""#));
        assert!(script.contains("with hidden answer"));
    }

    #[test]
    fn programs_are_found_on_the_path() {
        // `sh` is on every Unix PATH; a made-up name is not.
        #[cfg(unix)]
        assert!(find_program("sh").is_some());
        assert!(find_program("secvol-no-such-program-here").is_none());
    }
}
