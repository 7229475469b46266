//! What opens a keyslot: a password, a password and a keyfile, a keyfile alone, or a
//! recovery key; and how each is turned into the key-encryption key (KEK) of its slot.
//!
//! The kind of a keyslot is public (its KDF id, docs/format.md §3): a reader knows, before any
//! key derivation, which slots a given set of credentials can possibly open. Derivations
//! (byte-exact in docs/format.md §3.1, reasons in docs/threat-model.md):
//!
//! ```text
//! keyfile digest      = HMAC-SHA256(key = "secvol v1 keyfile", message = keyfile bytes)
//! password (id 1)     : KEK = scrypt(password, salt, N, r, p)
//! password + keyfile  : KEK = scrypt(HMAC-SHA256(key = digest, "secvol v1 password and keyfile" ‖ password), salt, ...)
//! keyfile alone (id 3): KEK = scrypt(HMAC-SHA256(key = digest, "secvol v1 keyfile alone"), salt, ...)
//! recovery key (id 4) : KEK = HKDF-SHA256(ikm = recovery key, salt = slot salt, info = "secvol v1 recovery key")
//! ```
//!
//! This module knows keys and bytes, never files or the terminal: the caller reads a keyfile
//! and hands its bytes over a reader; the printable form of a recovery key is in
//! [`crate::recovery`].

use std::fmt;
use std::io::{self, Read};

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::KdfError;
use crate::kdf::{ScryptParams, derive_kek};
use crate::secret::SecretKey;

/// KDF id of a password keyslot (the only kind format version 1 had at first).
pub const KDF_PASSWORD: u8 = 1;
/// KDF id of a keyslot opened by a password together with a keyfile.
pub const KDF_PASSWORD_AND_KEYFILE: u8 = 2;
/// KDF id of a keyslot opened by a keyfile alone.
pub const KDF_KEYFILE: u8 = 3;
/// KDF id of a keyslot opened by a recovery key.
pub const KDF_RECOVERY_KEY: u8 = 4;

/// Largest keyfile accepted. A keyfile is read whole at every unlock; a bigger file is most
/// likely a mistake (a video, a disk image) and would make every unlock slow.
pub const MAX_KEYFILE_LEN: u64 = 64 << 20;

const KEYFILE_LABEL: &[u8] = b"secvol v1 keyfile";
const PASSWORD_AND_KEYFILE_LABEL: &[u8] = b"secvol v1 password and keyfile";
const KEYFILE_ALONE_LABEL: &[u8] = b"secvol v1 keyfile alone";
const RECOVERY_KEY_LABEL: &[u8] = b"secvol v1 recovery key";

/// What opens an active keyslot, with its KDF cost where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyslotKind {
    /// A password, stretched with scrypt.
    Password(ScryptParams),
    /// A password and a keyfile, both needed; stretched with scrypt.
    PasswordAndKeyfile(ScryptParams),
    /// A keyfile alone; stretched with scrypt (a keyfile's entropy is unknown).
    Keyfile(ScryptParams),
    /// A random 256-bit recovery key; no stretching (HKDF only): it cannot be guessed.
    RecoveryKey,
}

impl KeyslotKind {
    /// The KDF id stored in the keyslot.
    pub fn kdf_id(self) -> u8 {
        match self {
            KeyslotKind::Password(_) => KDF_PASSWORD,
            KeyslotKind::PasswordAndKeyfile(_) => KDF_PASSWORD_AND_KEYFILE,
            KeyslotKind::Keyfile(_) => KDF_KEYFILE,
            KeyslotKind::RecoveryKey => KDF_RECOVERY_KEY,
        }
    }

    /// The scrypt parameters, for kinds that stretch their secret.
    pub fn scrypt(self) -> Option<ScryptParams> {
        match self {
            KeyslotKind::Password(params)
            | KeyslotKind::PasswordAndKeyfile(params)
            | KeyslotKind::Keyfile(params) => Some(params),
            KeyslotKind::RecoveryKey => None,
        }
    }

    /// The kind for a KDF id and the stored parameters; `None` for an unknown id.
    pub fn from_kdf_id(id: u8, params: ScryptParams) -> Option<KeyslotKind> {
        match id {
            KDF_PASSWORD => Some(KeyslotKind::Password(params)),
            KDF_PASSWORD_AND_KEYFILE => Some(KeyslotKind::PasswordAndKeyfile(params)),
            KDF_KEYFILE => Some(KeyslotKind::Keyfile(params)),
            KDF_RECOVERY_KEY => Some(KeyslotKind::RecoveryKey),
            _ => None,
        }
    }

    /// What a person needs to open such a slot, in words ("a password and a keyfile").
    pub fn needs(self) -> &'static str {
        match self {
            KeyslotKind::Password(_) => "a password",
            KeyslotKind::PasswordAndKeyfile(_) => "a password and a keyfile",
            KeyslotKind::Keyfile(_) => "a keyfile",
            KeyslotKind::RecoveryKey => "a recovery key",
        }
    }
}

impl fmt::Display for KeyslotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Shown as before keyfiles existed (`info` and `key list` output is relied upon).
            KeyslotKind::Password(params) => write!(f, "{params}"),
            KeyslotKind::PasswordAndKeyfile(params) => write!(f, "password + keyfile, {params}"),
            KeyslotKind::Keyfile(params) => write!(f, "keyfile, {params}"),
            KeyslotKind::RecoveryKey => f.write_str("recovery key (256-bit, HKDF-SHA256)"),
        }
    }
}

/// The digest of a keyfile's contents: what a keyslot mixes in, never the file itself.
pub struct Keyfile {
    digest: SecretKey,
    len: u64,
}

/// Why a keyfile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyfileError {
    /// The keyfile holds no bytes.
    #[error("the keyfile is empty")]
    Empty,
    /// The keyfile is larger than [`MAX_KEYFILE_LEN`].
    #[error("the keyfile is larger than {} MiB; is it really a keyfile?", MAX_KEYFILE_LEN >> 20)]
    TooLarge,
    /// Reading it failed.
    #[error("cannot read the keyfile: {0}")]
    Io(#[from] io::Error),
}

impl Keyfile {
    /// Digest everything `reader` yields (at most [`MAX_KEYFILE_LEN`] bytes).
    pub fn from_reader(reader: &mut dyn Read) -> Result<Keyfile, KeyfileError> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(KEYFILE_LABEL)
            .expect("HMAC takes any key length");
        let mut chunk = Zeroizing::new([0u8; 64 * 1024]);
        let mut len = 0u64;
        loop {
            let n = match reader.read(&mut chunk[..]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err.into()),
            };
            len += n as u64;
            if len > MAX_KEYFILE_LEN {
                return Err(KeyfileError::TooLarge);
            }
            mac.update(&chunk[..n]);
        }
        if len == 0 {
            return Err(KeyfileError::Empty);
        }
        let mut digest: [u8; 32] = mac.finalize().into_bytes().into();
        Ok(Keyfile {
            digest: SecretKey::from_bytes(&mut digest),
            len,
        })
    }

    /// The keyfile's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: an empty keyfile is refused when read.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest, for handing to another process of secvol (the mount daemon) over a pipe.
    pub fn digest(&self) -> &[u8; 32] {
        self.digest.expose()
    }

    /// A keyfile from a digest handed over by [`Keyfile::digest`] (the source is zeroized).
    pub fn from_digest(digest: &mut [u8; 32]) -> Keyfile {
        Keyfile {
            digest: SecretKey::from_bytes(digest),
            len: 0,
        }
    }
}

impl fmt::Debug for Keyfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keyfile([digest redacted]; {} bytes)", self.len)
    }
}

/// A 256-bit recovery key (random; shown to the user once, in the form of
/// [`crate::recovery`]).
pub struct RecoveryKey(SecretKey);

impl RecoveryKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> RecoveryKey {
        RecoveryKey(SecretKey::random())
    }

    /// The key from its 32 bytes (the source is zeroized).
    pub fn from_bytes(bytes: &mut [u8; 32]) -> RecoveryKey {
        RecoveryKey(SecretKey::from_bytes(bytes))
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose()
    }
}

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey([redacted])")
    }
}

/// A secret offered to open (or to protect) a keyslot.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// A password.
    Password(&'a SecretString),
    /// A password with a keyfile.
    PasswordAndKeyfile(&'a SecretString, &'a Keyfile),
    /// A keyfile alone.
    Keyfile(&'a Keyfile),
    /// A recovery key.
    RecoveryKey(&'a RecoveryKey),
}

impl Credential<'_> {
    /// Whether this credential is of the kind `slot` expects (the costs do not matter).
    pub fn fits(&self, slot: KeyslotKind) -> bool {
        matches!(
            (self, slot),
            (Credential::Password(_), KeyslotKind::Password(_))
                | (
                    Credential::PasswordAndKeyfile(..),
                    KeyslotKind::PasswordAndKeyfile(_)
                )
                | (Credential::Keyfile(_), KeyslotKind::Keyfile(_))
                | (Credential::RecoveryKey(_), KeyslotKind::RecoveryKey)
        )
    }

    /// The kind of keyslot this credential makes, with `scrypt` as its cost where it has one.
    pub fn kind(&self, scrypt: ScryptParams) -> KeyslotKind {
        match self {
            Credential::Password(_) => KeyslotKind::Password(scrypt),
            Credential::PasswordAndKeyfile(..) => KeyslotKind::PasswordAndKeyfile(scrypt),
            Credential::Keyfile(_) => KeyslotKind::Keyfile(scrypt),
            Credential::RecoveryKey(_) => KeyslotKind::RecoveryKey,
        }
    }

    /// What was offered, in words, for "no keyslot opens with …" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Credential::Password(_) => "this password",
            Credential::PasswordAndKeyfile(..) => "this password and keyfile",
            Credential::Keyfile(_) => "this keyfile",
            Credential::RecoveryKey(_) => "this recovery key",
        }
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> SecretKey {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    let mut out: [u8; 32] = mac.finalize().into_bytes().into();
    SecretKey::from_bytes(&mut out)
}

/// The key-encryption key of a slot of kind `kind` with salt `salt`, from `credential`.
/// Panics if the credential does not fit the kind (callers check [`Credential::fits`]).
/// scrypt parameters are bounds-checked first.
pub fn derive_slot_kek(
    credential: &Credential<'_>,
    kind: KeyslotKind,
    salt: &[u8; 32],
) -> Result<SecretKey, KdfError> {
    assert!(
        credential.fits(kind),
        "a {kind} keyslot was offered the wrong credential"
    );
    match (credential, kind) {
        (Credential::Password(password), KeyslotKind::Password(params)) => {
            derive_kek(password.expose_secret().as_bytes(), salt, &params)
        }
        (Credential::PasswordAndKeyfile(password, keyfile), KeyslotKind::PasswordAndKeyfile(p)) => {
            let mixed = hmac_sha256(
                keyfile.digest.expose(),
                &[
                    PASSWORD_AND_KEYFILE_LABEL,
                    password.expose_secret().as_bytes(),
                ],
            );
            derive_kek(mixed.expose(), salt, &p)
        }
        (Credential::Keyfile(keyfile), KeyslotKind::Keyfile(params)) => {
            let mixed = hmac_sha256(keyfile.digest.expose(), &[KEYFILE_ALONE_LABEL]);
            derive_kek(mixed.expose(), salt, &params)
        }
        (Credential::RecoveryKey(key), KeyslotKind::RecoveryKey) => {
            let hkdf = Hkdf::<Sha256>::new(Some(salt), key.expose());
            let mut kek = SecretKey::zeroed();
            hkdf.expand(RECOVERY_KEY_LABEL, kek.expose_mut())
                .expect("32 bytes is a valid HKDF-SHA256 output length");
            Ok(kek)
        }
        _ => unreachable!("checked by `fits` above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyfile(bytes: &[u8]) -> Keyfile {
        Keyfile::from_reader(&mut &bytes[..]).unwrap()
    }

    fn salt() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn keyfile_digest_matches_known_answer() {
        let kf = keyfile(b"secvol keyfile known answer");
        assert_eq!(hex::encode(kf.digest()), crate::kat::KEYFILE_DIGEST);
        assert_eq!(kf.len(), 27);
    }

    #[test]
    fn every_kind_of_kek_matches_its_known_answer() {
        let password = SecretString::from("correct horse");
        let kf = keyfile(b"secvol keyfile known answer");
        let cheap = ScryptParams::with_log_n(10);
        let cases = [
            (
                Credential::Password(&password),
                KeyslotKind::Password(cheap),
                crate::kat::SCRYPT_KEK,
            ),
            (
                Credential::PasswordAndKeyfile(&password, &kf),
                KeyslotKind::PasswordAndKeyfile(cheap),
                crate::kat::PASSWORD_AND_KEYFILE_KEK,
            ),
            (
                Credential::Keyfile(&kf),
                KeyslotKind::Keyfile(cheap),
                crate::kat::KEYFILE_KEK,
            ),
        ];
        for (credential, kind, expected) in cases {
            let kek = derive_slot_kek(&credential, kind, &salt()).unwrap();
            assert_eq!(hex::encode(kek.expose()), expected, "{kind}");
        }
        let recovery = RecoveryKey::from_bytes(&mut [0x44; 32]);
        let kek = derive_slot_kek(
            &Credential::RecoveryKey(&recovery),
            KeyslotKind::RecoveryKey,
            &salt(),
        )
        .unwrap();
        assert_eq!(hex::encode(kek.expose()), crate::kat::RECOVERY_KEY_KEK);
    }

    #[test]
    fn a_different_keyfile_or_password_gives_a_different_kek() {
        let cheap = ScryptParams::with_log_n(10);
        let pw = SecretString::from("correct horse");
        let other_pw = SecretString::from("correct horsf");
        let kf = keyfile(b"keyfile one");
        let other_kf = keyfile(b"keyfile one\n");
        let kek = |c: Credential<'_>| {
            derive_slot_kek(&c, c.kind(cheap), &salt())
                .unwrap()
                .expose()
                .to_vec()
        };
        let base = kek(Credential::PasswordAndKeyfile(&pw, &kf));
        assert_ne!(base, kek(Credential::PasswordAndKeyfile(&other_pw, &kf)));
        assert_ne!(base, kek(Credential::PasswordAndKeyfile(&pw, &other_kf)));
        assert_ne!(
            kek(Credential::Keyfile(&kf)),
            kek(Credential::Keyfile(&other_kf))
        );
        assert_ne!(base, kek(Credential::Keyfile(&kf)));
    }

    #[test]
    fn empty_and_huge_keyfiles_are_refused() {
        assert!(matches!(
            Keyfile::from_reader(&mut &b""[..]),
            Err(KeyfileError::Empty)
        ));
        let mut huge = io::repeat(7).take(MAX_KEYFILE_LEN + 1);
        assert!(matches!(
            Keyfile::from_reader(&mut huge),
            Err(KeyfileError::TooLarge)
        ));
    }

    #[test]
    fn kinds_round_trip_through_their_kdf_id() {
        let params = ScryptParams::with_log_n(12);
        for kind in [
            KeyslotKind::Password(params),
            KeyslotKind::PasswordAndKeyfile(params),
            KeyslotKind::Keyfile(params),
        ] {
            assert_eq!(KeyslotKind::from_kdf_id(kind.kdf_id(), params), Some(kind));
        }
        assert_eq!(
            KeyslotKind::from_kdf_id(KDF_RECOVERY_KEY, params),
            Some(KeyslotKind::RecoveryKey)
        );
        assert_eq!(KeyslotKind::from_kdf_id(0, params), None);
        assert_eq!(KeyslotKind::from_kdf_id(5, params), None);
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let kf = keyfile(&[0xab; 40]);
        let shown = format!("{kf:?}");
        assert!(!shown.contains(&hex::encode(kf.digest())[..8]), "{shown}");
        let key = RecoveryKey::from_bytes(&mut [0xcd; 32]);
        assert!(!format!("{key:?}").contains("cd"));
    }
}
