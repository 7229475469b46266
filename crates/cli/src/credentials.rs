//! Keyfiles and recovery keys on the command line: the `--keyfile` and
//! `--recovery-key-file` options that every command opening a container accepts, the new
//! secrets `secvol key add` can put into a keyslot, and the hand-over of any of them to the
//! mount daemon.
//!
//! Rules for what is asked (docs/cli.md, "Keyfiles and recovery keys"):
//! * `--recovery-key-file F`: the key is read from the first line of F (`-`: standard input);
//!   no password is asked. A mistyped group is named before anything is tried.
//! * `--keyfile F`: the keyfile is read whole (never from standard input). A password is read
//!   from `--password-file` if given; otherwise it is asked for only if the container has a
//!   keyslot that needs a password with a keyfile, and when it also has keyfile-only keyslots
//!   an empty answer (just Enter) means "the keyfile alone".
//! * neither: the password, as before.
//!
//! This module decides nothing about how secrets become keys: it reads them and hands them to
//! `secvol-core` as [`Credential`]s.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use secvol_core::UnlockedContainer;
use secvol_core::header::Header;
use secvol_core::recovery;
use secvol_core::{Container, Credential, Keyfile, KeyslotKind, RecoveryKey};
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::password::{self, PasswordSource};

/// Size of a keyfile made by `--create-keyfile`: 512 random bits.
pub const NEW_KEYFILE_LEN: usize = 64;
/// A keyfile that opens a keyslot alone must be at least this long (unless
/// `--allow-weak-password`): shorter files are likely typed text, not random bytes.
pub const MIN_KEYFILE_ALONE_LEN: u64 = 32;

/// Help of `--keyfile`.
const KEYFILE_HELP: &str = "Also use the keyfile FILE to open the container (for a keyslot \
made with 'secvol key add --new-keyfile'). The whole file counts: a copy that differs in one \
byte does not open it. A password is still asked for when the keyslot needs one.";

/// Help of `--recovery-key-file`.
const RECOVERY_KEY_FILE_HELP: &str = "Open the container with its recovery key (made with \
'secvol key add --recovery') instead of a password: the key is read from the first line of \
FILE ('-': standard input, so it can be typed or pasted). Dashes, spaces and case do not \
matter; a mistyped group is named.";

/// `--keyfile` and `--recovery-key-file`: flattened into every command that opens a container.
#[derive(Debug, Clone, Default, Args)]
pub struct UnlockArgs {
    #[arg(long, value_name = "FILE", help = KEYFILE_HELP)]
    pub keyfile: Option<PathBuf>,
    #[arg(long, value_name = "FILE|-", help = RECOVERY_KEY_FILE_HELP,
          conflicts_with_all = ["keyfile", "password_file"])]
    pub recovery_key_file: Option<PathBuf>,
}

/// How to open one container: a password source plus an optional keyfile or recovery key.
#[derive(Debug, Clone)]
pub struct UnlockWith {
    /// Where the password comes from (asked only when needed, see the module doc).
    pub password: PasswordSource,
    /// `--keyfile`.
    pub keyfile: Option<PathBuf>,
    /// `--recovery-key-file` (`Stdin` or `File`).
    pub recovery_key: Option<PasswordSource>,
    /// Whether `--password-file` was given explicitly.
    password_given: bool,
}

impl UnlockWith {
    /// From a command's `--password-file` and its [`UnlockArgs`].
    pub fn new(password_file: Option<&Path>, args: &UnlockArgs) -> UnlockWith {
        UnlockWith {
            password: PasswordSource::from_option(password_file),
            keyfile: args.keyfile.clone(),
            recovery_key: args
                .recovery_key_file
                .as_deref()
                .map(|path| PasswordSource::from_option(Some(path))),
            password_given: password_file.is_some(),
        }
    }

    /// Whether only a password is involved (no keyfile, no recovery key).
    pub fn is_password_only(&self) -> bool {
        self.keyfile.is_none() && self.recovery_key.is_none()
    }

    /// Whether anything at all was given on the command line (`info` unlocks only then).
    pub fn anything_given(&self) -> bool {
        self.password_given || !self.is_password_only()
    }

    /// Whether this reads standard input (so a second option cannot).
    pub fn reads_stdin(&self) -> bool {
        self.password == PasswordSource::Stdin
            || self.recovery_key.as_ref() == Some(&PasswordSource::Stdin)
    }
}

/// The secrets read for one unlock.
#[derive(Debug, Default)]
pub struct Secrets {
    /// The password, if one was read (and not left empty on purpose).
    pub password: Option<SecretString>,
    /// The keyfile's digest.
    pub keyfile: Option<Keyfile>,
    /// The recovery key.
    pub recovery_key: Option<RecoveryKey>,
}

impl Secrets {
    /// The credentials to try, most specific first.
    pub fn credentials(&self) -> Vec<Credential<'_>> {
        let mut list = Vec::new();
        if let Some(key) = &self.recovery_key {
            list.push(Credential::RecoveryKey(key));
        }
        match (&self.password, &self.keyfile) {
            (Some(password), Some(keyfile)) => {
                list.push(Credential::PasswordAndKeyfile(password, keyfile));
                list.push(Credential::Keyfile(keyfile));
            }
            (None, Some(keyfile)) => list.push(Credential::Keyfile(keyfile)),
            (Some(password), None) => list.push(Credential::Password(password)),
            (None, None) => {}
        }
        list
    }
}

/// Read the keyfile at `path` into its digest.
pub fn read_keyfile(path: &Path) -> anyhow::Result<Keyfile> {
    let mut file =
        File::open(path).with_context(|| format!("cannot open the keyfile {}", path.display()))?;
    if file.metadata().is_ok_and(|meta| meta.is_dir()) {
        anyhow::bail!("the keyfile {} is a directory", path.display());
    }
    Keyfile::from_reader(&mut file).map_err(|source| {
        CliError::BadKeyfile {
            path: path.to_owned(),
            source,
        }
        .into()
    })
}

/// Read a recovery key from the first line of `source`.
pub fn read_recovery_key(source: &PasswordSource) -> anyhow::Result<RecoveryKey> {
    let text = password::read_password(source, "Recovery key: ")?;
    recovery::parse(text.expose_secret()).map_err(|source| CliError::BadRecoveryKey(source).into())
}

/// Kinds of active keyslots in the header that public facts are read from.
fn slot_kinds(header: &Header) -> Vec<KeyslotKind> {
    header.active_slots().map(|(_, slot)| slot.kind).collect()
}

/// Read what `with` names, asking for a password only where the header's keyslots need one.
pub fn read_secrets(with: &UnlockWith, header: &Header, prompt: &str) -> anyhow::Result<Secrets> {
    if let Some(source) = &with.recovery_key {
        return Ok(Secrets {
            recovery_key: Some(read_recovery_key(source)?),
            ..Secrets::default()
        });
    }
    let Some(keyfile_path) = &with.keyfile else {
        return Ok(Secrets {
            password: Some(password::read_password(&with.password, prompt)?),
            ..Secrets::default()
        });
    };
    let keyfile = read_keyfile(keyfile_path)?;
    let kinds = slot_kinds(header);
    let with_password = kinds
        .iter()
        .any(|k| matches!(k, KeyslotKind::PasswordAndKeyfile(_)));
    let alone = kinds.iter().any(|k| matches!(k, KeyslotKind::Keyfile(_)));
    let password = if with.password_given {
        Some(password::read_password(&with.password, prompt)?)
    } else if with_password && alone {
        let prompt = format!(
            "{} (Enter alone: the keyfile without a password) ",
            prompt.trim_end()
        );
        password::prompt_optional(&prompt)?
    } else if with_password {
        Some(password::read_password(&with.password, prompt)?)
    } else {
        None
    };
    Ok(Secrets {
        password,
        keyfile: Some(keyfile),
        recovery_key: None,
    })
}

/// Read the secrets for `container` and unlock it; the secrets are returned too (`passwd`
/// keeps the keyfile of a password-and-keyfile keyslot).
pub fn unlock(
    container: Container,
    with: &UnlockWith,
    prompt: &str,
) -> anyhow::Result<(UnlockedContainer, Secrets)> {
    let secrets = read_secrets(with, container.header(), prompt)?;
    let unlocked = container.unlock_with(&secrets.credentials())?;
    Ok((unlocked, secrets))
}

// ---------------------------------------------------------------------------------------
// New secrets for a keyslot

/// What `key add` puts into the new keyslot.
pub enum NewSecret {
    /// A password.
    Password(SecretString),
    /// A password with a keyfile.
    PasswordAndKeyfile(SecretString, Keyfile),
    /// A keyfile alone.
    Keyfile(Keyfile),
    /// A fresh recovery key.
    RecoveryKey(RecoveryKey),
}

impl NewSecret {
    /// The credential for the core.
    pub fn credential(&self) -> Credential<'_> {
        match self {
            NewSecret::Password(password) => Credential::Password(password),
            NewSecret::PasswordAndKeyfile(password, keyfile) => {
                Credential::PasswordAndKeyfile(password, keyfile)
            }
            NewSecret::Keyfile(keyfile) => Credential::Keyfile(keyfile),
            NewSecret::RecoveryKey(key) => Credential::RecoveryKey(key),
        }
    }
}

/// Refuse `--create-keyfile` for a path that exists, before any password is asked (it would
/// be refused after typing it otherwise).
pub fn refuse_existing_new_keyfile(create: bool, path: Option<&Path>) -> Result<(), CliError> {
    match path {
        Some(path) if create && path.symlink_metadata().is_ok() => {
            Err(CliError::FileExists(path.to_owned()))
        }
        _ => Ok(()),
    }
}

/// The secret of a new keyslot that needs the keyfile at `path`: created first when
/// `create` (it must not exist), then read; alone when `alone` (checked for length), or with
/// the password `read_password` returns (asked only then).
pub fn new_keyfile_secret(
    path: &Path,
    create: bool,
    alone: bool,
    allow_weak: bool,
    read_password: impl FnOnce() -> anyhow::Result<SecretString>,
) -> anyhow::Result<NewSecret> {
    if create {
        create_keyfile(path)?;
        println!(
            "Created the keyfile {} ({NEW_KEYFILE_LEN} random bytes).",
            path.display()
        );
    }
    let keyfile = read_keyfile(path)?;
    if alone {
        enforce_keyfile_alone_strength(path, &keyfile, allow_weak)?;
        return Ok(NewSecret::Keyfile(keyfile));
    }
    Ok(NewSecret::PasswordAndKeyfile(read_password()?, keyfile))
}

/// Create `path` (never overwriting), readable by the owner only, holding
/// [`NEW_KEYFILE_LEN`] random bytes, synced.
pub fn create_keyfile(path: &Path) -> anyhow::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
            return Err(CliError::FileExists(path.to_owned()).into());
        }
        Err(err) => {
            return Err(err).with_context(|| format!("cannot create {}", path.display()));
        }
    };
    let mut bytes = Zeroizing::new([0u8; NEW_KEYFILE_LEN]);
    getrandom::fill(&mut bytes[..]).context("the system's random number generator failed")?;
    file.write_all(&bytes[..])
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Whether a keyfile that opens a keyslot alone is long enough; shorter ones are refused
/// unless `allow_weak` (then a warning is printed).
pub fn enforce_keyfile_alone_strength(
    path: &Path,
    keyfile: &Keyfile,
    allow_weak: bool,
) -> Result<(), CliError> {
    if keyfile.len() >= MIN_KEYFILE_ALONE_LEN {
        return Ok(());
    }
    let weak = CliError::WeakKeyfile {
        path: path.to_owned(),
        len: keyfile.len(),
    };
    if allow_weak {
        eprintln!("warning: {weak}; using it anyway because of --allow-weak-password");
        Ok(())
    } else {
        Err(weak)
    }
}

// ---------------------------------------------------------------------------------------
// Hand-over to the mount daemon

/// The hidden flag of `secvol serve-mount` saying that standard input holds credential lines
/// (below) instead of a bare password line.
pub const HANDOFF_FLAG: &str = "--credentials";

/// Write `secrets` to the daemon, one line each, tag first: `P password`, `K hex digest`,
/// `R recovery key`, then an empty line. Nothing of it is ever on a command line.
pub fn write_handoff(out: &mut dyn Write, secrets: &Secrets) -> io::Result<()> {
    let mut text = Zeroizing::new(String::new());
    if let Some(password) = &secrets.password {
        text.push_str("P ");
        text.push_str(password.expose_secret());
        text.push('\n');
    }
    if let Some(keyfile) = &secrets.keyfile {
        text.push_str("K ");
        for byte in keyfile.digest() {
            text.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            text.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
        }
        text.push('\n');
    }
    if let Some(key) = &secrets.recovery_key {
        text.push_str("R ");
        text.push_str(recovery::Printable::of(key).expose());
        text.push('\n');
    }
    text.push('\n');
    out.write_all(text.as_bytes())
}

/// Read what [`write_handoff`] wrote.
pub fn read_handoff(input: &mut dyn Read) -> anyhow::Result<Secrets> {
    let mut all = Zeroizing::new(Vec::new());
    let mut chunk = Zeroizing::new([0u8; 4096]);
    loop {
        let n = input.read(&mut chunk[..])?;
        if n == 0 {
            break;
        }
        if all.len() + n > password::MAX_PASSWORD_LEN + 4096 {
            anyhow::bail!("the credentials handed to the mount daemon are too long");
        }
        let mut bigger = Zeroizing::new(Vec::with_capacity(all.len() + n));
        bigger.extend_from_slice(&all);
        bigger.extend_from_slice(&chunk[..n]);
        all = bigger;
        if all.ends_with(b"\n\n") || all == Zeroizing::new(b"\n".to_vec()) {
            break;
        }
    }
    let text = std::str::from_utf8(&all).context("credentials are not text")?;
    let mut secrets = Secrets::default();
    for line in text.lines().filter(|line| !line.is_empty()) {
        let (tag, value) = line.split_at(line.len().min(2));
        match tag {
            "P " => {
                let mut exact = String::with_capacity(value.len());
                exact.push_str(value);
                secrets.password = Some(SecretString::from(exact));
            }
            "K " => {
                let mut digest = Zeroizing::new([0u8; 32]);
                let bytes = value.as_bytes();
                anyhow::ensure!(bytes.len() == 64, "bad keyfile digest in the hand-over");
                for (i, pair) in bytes.chunks(2).enumerate() {
                    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
                    let (Some(hi), Some(lo)) = (hex(pair[0]), hex(pair[1])) else {
                        anyhow::bail!("bad keyfile digest in the hand-over");
                    };
                    digest[i] = hi << 4 | lo;
                }
                secrets.keyfile = Some(Keyfile::from_digest(&mut digest));
            }
            "R " => {
                secrets.recovery_key =
                    Some(recovery::parse(value).map_err(CliError::BadRecoveryKey)?);
            }
            _ => anyhow::bail!("unknown line in the credentials handed to the mount daemon"),
        }
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_hand_over_round_trips_every_secret() {
        let keyfile = Keyfile::from_reader(&mut &b"some keyfile bytes"[..]).unwrap();
        let digest = *keyfile.digest();
        let key = RecoveryKey::generate();
        let key_bytes = *key.expose();
        let secrets = Secrets {
            password: Some(SecretString::from("pässword with spaces and P K R")),
            keyfile: Some(keyfile),
            recovery_key: Some(key),
        };
        let mut pipe = Vec::new();
        write_handoff(&mut pipe, &secrets).unwrap();
        let back = read_handoff(&mut &pipe[..]).unwrap();
        assert_eq!(
            back.password.unwrap().expose_secret(),
            "pässword with spaces and P K R"
        );
        assert_eq!(back.keyfile.unwrap().digest(), &digest);
        assert_eq!(back.recovery_key.unwrap().expose(), &key_bytes);
    }

    #[test]
    fn credentials_are_listed_most_specific_first() {
        let keyfile = Keyfile::from_reader(&mut &b"kf"[..]).unwrap();
        let secrets = Secrets {
            password: Some(SecretString::from("pw")),
            keyfile: Some(keyfile),
            recovery_key: None,
        };
        let list = secrets.credentials();
        assert!(matches!(list[0], Credential::PasswordAndKeyfile(..)));
        assert!(matches!(list[1], Credential::Keyfile(_)));
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn created_keyfiles_are_random_private_and_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.bin");
        create_keyfile(&path).unwrap();
        let first = std::fs::read(&path).unwrap();
        assert_eq!(first.len(), NEW_KEYFILE_LEN);
        assert!(matches!(
            create_keyfile(&path).unwrap_err().downcast_ref(),
            Some(CliError::FileExists(_))
        ));
        let other = dir.path().join("other.bin");
        create_keyfile(&other).unwrap();
        assert_ne!(first, std::fs::read(&other).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
