//! Reading passwords: from the terminal without echo, from the first line of a file, or from
//! the first line of standard input.
//!
//! A password is wrapped in a [`SecretString`] as soon as it has been read; the buffers it
//! passed through are zeroized (best effort: the terminal driver and the kernel's pipe buffers
//! are beyond our reach). Passwords are never taken from the command line or the environment,
//! and never logged.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use zeroize::{Zeroize, Zeroizing};

use crate::error::CliError;

/// Longest first line accepted from a password file.
pub const MAX_PASSWORD_LEN: usize = 64 * 1024;

/// Where a password comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// Ask on the terminal, without echo.
    Prompt,
    /// The first line of standard input (`--password-file -`).
    Stdin,
    /// The first line of a file.
    File(PathBuf),
}

impl PasswordSource {
    /// The source named by a `--password-file`-style option (`None`: ask on the terminal).
    pub fn from_option(option: Option<&Path>) -> Self {
        match option {
            None => PasswordSource::Prompt,
            Some(path) if path.as_os_str() == "-" => PasswordSource::Stdin,
            Some(path) => PasswordSource::File(path.to_owned()),
        }
    }

    fn describe(&self) -> String {
        match self {
            PasswordSource::Prompt => "the password typed".to_owned(),
            PasswordSource::Stdin => "the first line of standard input".to_owned(),
            PasswordSource::File(path) => format!("the first line of {}", path.display()),
        }
    }
}

/// Refuse two password options that would both read standard input.
pub fn ensure_one_stdin(current: &PasswordSource, new: &PasswordSource) -> Result<(), CliError> {
    if *current == PasswordSource::Stdin && *new == PasswordSource::Stdin {
        return Err(CliError::BothFromStdin);
    }
    Ok(())
}

/// Read an existing password (asked once on the terminal, with `prompt`).
pub fn read_password(source: &PasswordSource, prompt: &str) -> anyhow::Result<SecretString> {
    match source {
        PasswordSource::Prompt => prompt_once(prompt),
        PasswordSource::Stdin => {
            let stdin = io::stdin();
            let mut lock = stdin.lock();
            first_line_secret(&mut lock, source)
                .context("cannot read the password from standard input")
        }
        PasswordSource::File(path) => {
            let mut file = File::open(path)
                .with_context(|| format!("cannot open the password file {}", path.display()))?;
            first_line_secret(&mut file, source)
                .with_context(|| format!("cannot read the password file {}", path.display()))
        }
    }
}

/// Read a new password: on the terminal it is asked twice (`prompt`, then `confirm`) and a
/// mismatch is refused; from a file or standard input it is read once.
pub fn read_new_password(
    source: &PasswordSource,
    prompt: &str,
    confirm: &str,
) -> anyhow::Result<SecretString> {
    let password = read_password(source, prompt)?;
    if *source == PasswordSource::Prompt {
        let again = prompt_once(confirm)?;
        if password.expose_secret() != again.expose_secret() {
            return Err(CliError::PasswordMismatch.into());
        }
    }
    Ok(password)
}

/// Apply the core's strength policy to a password the user is choosing for `container`.
/// A weak password is refused (exit code 9) unless `allow_weak`, which only warns.
pub fn enforce_strength(
    password: &SecretString,
    container: &Path,
    allow_weak: bool,
) -> Result<(), CliError> {
    match strength(password, container) {
        Ok(()) => Ok(()),
        Err(weak) if allow_weak => {
            eprintln!("warning: {weak}; using it anyway because of --allow-weak-password");
            Ok(())
        }
        Err(weak) => Err(CliError::WeakPassword(weak)),
    }
}

/// Ask on the terminal for a password that may be left empty (`None`): used where a keyfile
/// alone may also open the container.
pub fn prompt_optional(prompt: &str) -> anyhow::Result<Option<SecretString>> {
    match prompt_once(prompt) {
        Ok(secret) => Ok(Some(secret)),
        Err(err) if matches!(err.downcast_ref(), Some(CliError::EmptyPassword(_))) => Ok(None),
        Err(err) => Err(err),
    }
}

/// The core's verdict on a password chosen for `container` (whose name counts as a guessable
/// word).
pub fn strength(
    password: &SecretString,
    container: &Path,
) -> Result<(), secvol_core::policy::WeakPassword> {
    let stem = container
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let context: Vec<&str> = [stem.as_str()]
        .into_iter()
        .filter(|word| !word.is_empty())
        .collect();
    secvol_core::policy::check_password_strength(password.expose_secret(), &context)
}

/// Choose a new password in password boxes: asked twice; a mismatch or (unless
/// `allow_weak`) a weak password is explained in a message box and asked again.
pub fn choose_in_dialog(
    dialog: &crate::dialog::Dialog,
    container: &Path,
    allow_weak: bool,
) -> anyhow::Result<SecretString> {
    use crate::dialog::MessageKind;
    const ATTEMPTS: usize = 5;
    let name = crate::commands::display_name(container);
    for _ in 0..ATTEMPTS {
        let title = format!("New password for {name}");
        let password = ask_in_dialog(
            dialog,
            &title,
            &format!(
                "New password for {name}.\nA phrase of four or five unrelated words works well:"
            ),
        )?;
        let again = ask_in_dialog(
            dialog,
            &title,
            &format!("Type the new password for {name} again:"),
        )?;
        if password.expose_secret() != again.expose_secret() {
            dialog.message(
                MessageKind::Error,
                "Passwords differ",
                "The two passwords you typed are not the same. Please type them again.",
            )?;
            continue;
        }
        match strength(&password, container) {
            Ok(()) => return Ok(password),
            Err(weak) if allow_weak => {
                eprintln!("warning: {weak}; using it anyway because of --allow-weak-password");
                return Ok(password);
            }
            Err(weak) => {
                dialog.message(
                    MessageKind::Warning,
                    "Password too weak",
                    &format!(
                        "This password would be guessed too quickly (strength {}/4, at least 3 \
                         is needed): {}.\n\nChoose a longer one: a phrase of four or five \
                         unrelated words, such as a short sentence only you would make up.",
                        weak.score, weak.reason
                    ),
                )?;
            }
        }
    }
    Err(CliError::Cancelled.into())
}

fn prompt_once(prompt: &str) -> anyhow::Result<SecretString> {
    if !has_terminal() {
        // A double-clicked script, a desktop shortcut: ask in a password box if there is a
        // desktop to show one on.
        return match crate::dialog::Dialog::find() {
            Ok(dialog) => ask_in_dialog(&dialog, "secvol", prompt),
            Err(CliError::NoDesktop) => Err(CliError::NoTerminal.into()),
            Err(err) => Err(err.into()),
        };
    }
    let typed = match rpassword::prompt_password(prompt) {
        Ok(typed) => typed,
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(CliError::EmptyPassword("the password typed".to_owned()).into());
        }
        Err(err) => return Err(err).context("cannot read the password from the terminal"),
    };
    let secret = exact_secret(typed);
    if secret.expose_secret().is_empty() {
        return Err(CliError::EmptyPassword("the password typed".to_owned()).into());
    }
    Ok(secret)
}

/// Ask for a password in `dialog`'s password box titled `title`; Cancel is
/// [`CliError::Cancelled`].
pub fn ask_in_dialog(
    dialog: &crate::dialog::Dialog,
    title: &str,
    prompt: &str,
) -> anyhow::Result<SecretString> {
    let text = prompt.trim_end();
    match dialog.ask_password(title, text)? {
        Some(password) => Ok(password),
        None => Err(CliError::Cancelled.into()),
    }
}

/// Whether there is a terminal to prompt on.
pub fn has_terminal() -> bool {
    #[cfg(unix)]
    {
        // rpassword talks to the controlling terminal, as ssh and sudo do.
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_ok()
    }
    #[cfg(not(unix))]
    {
        use std::io::IsTerminal;
        io::stdin().is_terminal()
    }
}

/// Move a password `String` into a [`SecretString`] without leaving an unzeroized copy:
/// `SecretString::from(String)` shrinks the buffer (a reallocation that would leave the old
/// bytes behind) unless its capacity is exactly its length.
fn exact_secret(mut text: String) -> SecretString {
    let mut exact = String::with_capacity(text.len());
    exact.push_str(&text);
    text.zeroize();
    SecretString::from(exact)
}

/// Read the first line of `reader` (without its `\n` or `\r\n`) into a secret.
pub fn first_line_secret(
    reader: &mut dyn Read,
    source: &PasswordSource,
) -> anyhow::Result<SecretString> {
    secret_first_line(reader, &source.describe())
}

/// Read the first line of `reader` (without its `\n` or `\r\n`) into a secret; `what` names
/// where it came from in errors ("the first line of pw.txt", "the password box").
pub fn secret_first_line(reader: &mut dyn Read, what: &str) -> anyhow::Result<SecretString> {
    let line = read_first_line(reader).map_err(|err| {
        if err.kind() == io::ErrorKind::InvalidData {
            anyhow::Error::from(CliError::PasswordTooLong(what.to_owned()))
        } else {
            anyhow::Error::from(err)
        }
    })?;
    let text =
        std::str::from_utf8(&line).map_err(|_| CliError::PasswordNotUtf8(what.to_owned()))?;
    if text.is_empty() {
        return Err(CliError::EmptyPassword(what.to_owned()).into());
    }
    let mut exact = String::with_capacity(text.len());
    exact.push_str(text);
    Ok(SecretString::from(exact))
}

/// The bytes of the first line, in a buffer that is zeroized when dropped (every buffer it
/// grew out of too). Reads in 8 KiB chunks so that `Stdin`'s own 8 KiB buffer is bypassed
/// rather than left holding a copy.
fn read_first_line(reader: &mut dyn Read) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut line = Zeroizing::new(Vec::with_capacity(256));
    let mut chunk = Zeroizing::new([0u8; 8192]);
    loop {
        let n = match reader.read(&mut chunk[..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        let data = &chunk[..n];
        let newline = data.iter().position(|&b| b == b'\n');
        let part = &data[..newline.unwrap_or(n)];
        if line.len() + part.len() > MAX_PASSWORD_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "first line too long",
            ));
        }
        append_zeroizing(&mut line, part);
        if newline.is_some() {
            break;
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// `buf.extend_from_slice(data)`, growing into a fresh zeroizing buffer instead of letting
/// `Vec` reallocate (which would free the old bytes without wiping them).
fn append_zeroizing(buf: &mut Zeroizing<Vec<u8>>, data: &[u8]) {
    let needed = buf.len() + data.len();
    if needed > buf.capacity() {
        let mut bigger = Zeroizing::new(Vec::with_capacity(needed.max(buf.capacity() * 2)));
        bigger.extend_from_slice(buf);
        *buf = bigger;
    }
    buf.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn first_line(input: &[u8]) -> Vec<u8> {
        read_first_line(&mut Cursor::new(input.to_vec()))
            .unwrap()
            .to_vec()
    }

    #[test]
    fn only_the_first_line_is_read_and_its_line_ending_stripped() {
        assert_eq!(first_line(b"secret\n"), b"secret");
        assert_eq!(first_line(b"secret\r\nsecond line\n"), b"secret");
        assert_eq!(first_line(b"no newline at all"), b"no newline at all");
        assert_eq!(first_line(b"\nsecret"), b"");
        assert_eq!(first_line(b"  spaces are kept  \n"), b"  spaces are kept  ");
    }

    #[test]
    fn long_lines_spanning_many_reads_are_assembled() {
        let long: Vec<u8> = std::iter::repeat_n(b'x', 20_000)
            .chain(*b"\nrest")
            .collect();
        assert_eq!(first_line(&long).len(), 20_000);
    }

    #[test]
    fn absurdly_long_first_lines_are_refused() {
        let huge = vec![b'x'; MAX_PASSWORD_LEN + 1];
        let err = read_first_line(&mut Cursor::new(huge)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn empty_and_non_utf8_passwords_are_refused() {
        let source = PasswordSource::Stdin;
        let err = first_line_secret(&mut Cursor::new(b"\nx".to_vec()), &source).unwrap_err();
        assert!(matches!(
            err.downcast_ref(),
            Some(CliError::EmptyPassword(_))
        ));
        let err = first_line_secret(&mut Cursor::new(b"\xff\xfe\n".to_vec()), &source).unwrap_err();
        assert!(matches!(
            err.downcast_ref(),
            Some(CliError::PasswordNotUtf8(_))
        ));
        let ok =
            first_line_secret(&mut Cursor::new("pässwörd\n".as_bytes().to_vec()), &source).unwrap();
        assert_eq!(ok.expose_secret(), "pässwörd");
    }

    #[test]
    fn dash_means_standard_input_and_both_cannot_use_it() {
        let stdin = PasswordSource::from_option(Some(Path::new("-")));
        assert_eq!(stdin, PasswordSource::Stdin);
        assert_eq!(PasswordSource::from_option(None), PasswordSource::Prompt);
        let file = PasswordSource::from_option(Some(Path::new("pw.txt")));
        assert_eq!(file, PasswordSource::File(PathBuf::from("pw.txt")));
        assert!(ensure_one_stdin(&stdin, &stdin).is_err());
        assert!(ensure_one_stdin(&stdin, &file).is_ok());
        assert!(ensure_one_stdin(&PasswordSource::Prompt, &stdin).is_ok());
    }

    #[test]
    fn exact_secret_keeps_the_text() {
        let mut text = String::with_capacity(100);
        text.push_str("correct horse");
        assert_eq!(exact_secret(text).expose_secret(), "correct horse");
    }

    #[test]
    fn weak_passwords_are_refused_unless_allowed() {
        let container = Path::new("/tmp/TimeAcct.sec");
        let weak = SecretString::from("password");
        assert!(matches!(
            enforce_strength(&weak, container, false),
            Err(CliError::WeakPassword(_))
        ));
        assert!(enforce_strength(&weak, container, true).is_ok());
        let named = SecretString::from("TimeAcct2024");
        assert!(enforce_strength(&named, container, false).is_err());
        let strong = SecretString::from("clinic-umbrella-violet-tractor-42");
        assert!(enforce_strength(&strong, container, false).is_ok());
    }
}
