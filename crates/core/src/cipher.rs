//! The two cipher suites and the one AEAD interface the rest of the crate uses.
//!
//! Nonce policy (see docs/threat-model.md): every seal draws a fresh random nonce of at least
//! 128 bits from a CSPRNG — 16 bytes for AES-256-GCM (as gocryptfs does; GCM hashes a
//! non-96-bit IV into its initial counter block), 24 bytes for XChaCha20-Poly1305. Nonces are
//! never derived from counters, so no state has to survive a crash for them to stay unique.

use aes_gcm::aead::consts::U16;
use aes_gcm::aes::Aes256;
use aes_gcm::{AeadInOut, AesGcm, KeyInit};
use chacha20poly1305::XChaCha20Poly1305;
use rand::Rng;

use crate::secret::{KEY_LEN, SecretKey, lock_memory};

/// Authentication tag length of both suites.
pub const TAG_LEN: usize = 16;
/// The largest nonce of any suite (the width of nonce fields on disk).
pub const MAX_NONCE_LEN: usize = 24;

/// AES-256 in GCM mode with 128-bit nonces.
type Aes256Gcm128 = AesGcm<Aes256, U16>;

/// A cipher suite; its id is stored in the container header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherSuite {
    /// AES-256-GCM with 128-bit random nonces (the default; hardware-accelerated on x86-64
    /// and ARMv8).
    Aes256Gcm,
    /// XChaCha20-Poly1305 with 192-bit random nonces (fast without AES hardware).
    XChaCha20Poly1305,
}

impl CipherSuite {
    /// Every suite, in id order.
    pub const ALL: [CipherSuite; 2] = [CipherSuite::Aes256Gcm, CipherSuite::XChaCha20Poly1305];

    /// The id stored in the header.
    pub fn id(self) -> u16 {
        match self {
            CipherSuite::Aes256Gcm => 1,
            CipherSuite::XChaCha20Poly1305 => 2,
        }
    }

    /// The suite with this header id.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|suite| suite.id() == id)
    }

    /// The name used on the command line and in `secvol info`.
    pub fn name(self) -> &'static str {
        match self {
            CipherSuite::Aes256Gcm => "aes-256-gcm",
            CipherSuite::XChaCha20Poly1305 => "xchacha20-poly1305",
        }
    }

    /// Parse a command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|suite| suite.name() == name)
    }

    /// Nonce length in bytes.
    pub fn nonce_len(self) -> usize {
        match self {
            CipherSuite::Aes256Gcm => 16,
            CipherSuite::XChaCha20Poly1305 => 24,
        }
    }

    /// Key length in bits (always 256).
    pub fn key_bits(self) -> usize {
        KEY_LEN * 8
    }

    /// Bytes of per-block metadata (nonce and tag) stored beside each data block.
    pub fn block_meta_len(self) -> usize {
        self.nonce_len() + TAG_LEN
    }
}

impl std::fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The tag did not verify: wrong key, or modified nonce, tag, ciphertext or associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFailed;

enum Engine {
    Aes(Box<Aes256Gcm128>),
    XChaCha(Box<XChaCha20Poly1305>),
}

/// An AEAD keyed for one suite. The expanded key lives in a locked, zeroize-on-drop box.
pub struct Aead {
    suite: CipherSuite,
    engine: Engine,
}

impl std::fmt::Debug for Aead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Aead({}, [key redacted])", self.suite)
    }
}

impl Aead {
    /// Key an AEAD of `suite` with `key`.
    pub fn new(suite: CipherSuite, key: &SecretKey) -> Self {
        let engine = match suite {
            CipherSuite::Aes256Gcm => {
                let cipher = Box::new(Aes256Gcm128::new(key.expose().into()));
                lock_memory(&raw const *cipher, size_of::<Aes256Gcm128>());
                Engine::Aes(cipher)
            }
            CipherSuite::XChaCha20Poly1305 => {
                let cipher = Box::new(XChaCha20Poly1305::new(key.expose().into()));
                lock_memory(&raw const *cipher, size_of::<XChaCha20Poly1305>());
                Engine::XChaCha(cipher)
            }
        };
        Aead { suite, engine }
    }

    /// The suite this AEAD implements.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Encrypt `buf` in place under a fresh random nonce. Writes the nonce to `nonce_out`
    /// (exactly `suite().nonce_len()` bytes) and returns the tag.
    pub fn seal(&self, aad: &[u8], buf: &mut [u8], nonce_out: &mut [u8]) -> [u8; TAG_LEN] {
        assert_eq!(
            nonce_out.len(),
            self.suite.nonce_len(),
            "nonce buffer length"
        );
        rand::rng().fill_bytes(nonce_out);
        self.seal_with_nonce(nonce_out, aad, buf)
    }

    /// Encrypt with a caller-chosen nonce. Only for known-answer tests: production code must
    /// use [`Aead::seal`], which draws the nonce itself.
    #[doc(hidden)]
    pub fn seal_with_nonce(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        let tag = match &self.engine {
            Engine::Aes(cipher) => cipher
                .encrypt_inout_detached(nonce_ref(nonce), aad, buf.into())
                .map(|tag| tag.0),
            Engine::XChaCha(cipher) => cipher
                .encrypt_inout_detached(nonce_ref(nonce), aad, buf.into())
                .map(|tag| tag.0),
        };
        // Only fails for messages beyond 2^36 bytes, which no caller produces.
        tag.expect("AEAD message length within the cipher's limit")
    }

    /// Decrypt `buf` in place if `tag` verifies; on failure `buf` is left as ciphertext.
    pub fn open(
        &self,
        nonce: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), AuthFailed> {
        let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| AuthFailed)?;
        if nonce.len() != self.suite.nonce_len() {
            return Err(AuthFailed);
        }
        let result = match &self.engine {
            Engine::Aes(cipher) => {
                cipher.decrypt_inout_detached(nonce_ref(nonce), aad, buf.into(), &(*tag).into())
            }
            Engine::XChaCha(cipher) => {
                cipher.decrypt_inout_detached(nonce_ref(nonce), aad, buf.into(), &(*tag).into())
            }
        };
        result.map_err(|_| AuthFailed)
    }
}

fn nonce_ref<N>(nonce: &[u8]) -> &aes_gcm::aead::array::Array<u8, N>
where
    N: aes_gcm::aead::array::ArraySize,
{
    nonce.try_into().expect("nonce length matches the suite")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&mut [byte; KEY_LEN])
    }

    #[test]
    fn suite_ids_and_names_round_trip() {
        for suite in CipherSuite::ALL {
            assert_eq!(CipherSuite::from_id(suite.id()), Some(suite));
            assert_eq!(CipherSuite::from_name(suite.name()), Some(suite));
        }
        assert_eq!(CipherSuite::from_id(0), None);
        assert_eq!(CipherSuite::from_name("aes-128-gcm"), None);
    }

    #[test]
    fn seal_then_open_round_trips_and_any_flip_fails() {
        for suite in CipherSuite::ALL {
            let aead = Aead::new(suite, &key(7));
            let plain = b"clinic records, page one".to_vec();
            let mut buf = plain.clone();
            let mut nonce = vec![0u8; suite.nonce_len()];
            let tag = aead.seal(b"aad", &mut buf, &mut nonce);
            assert_ne!(buf, plain);
            let ciphertext = buf.clone();
            aead.open(&nonce, b"aad", &mut buf, &tag).unwrap();
            assert_eq!(buf, plain);

            let mut flipped = ciphertext.clone();
            flipped[3] ^= 1;
            assert_eq!(
                aead.open(&nonce, b"aad", &mut flipped, &tag),
                Err(AuthFailed)
            );
            let mut same = ciphertext.clone();
            assert_eq!(aead.open(&nonce, b"aaD", &mut same, &tag), Err(AuthFailed));
            let mut bad_tag = tag;
            bad_tag[0] ^= 0x80;
            assert_eq!(
                aead.open(&nonce, b"aad", &mut same, &bad_tag),
                Err(AuthFailed)
            );
            let other = Aead::new(suite, &key(8));
            assert_eq!(other.open(&nonce, b"aad", &mut same, &tag), Err(AuthFailed));
        }
    }

    #[test]
    fn nonces_are_fresh_for_every_seal() {
        let aead = Aead::new(CipherSuite::Aes256Gcm, &key(1));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let mut nonce = [0u8; 16];
            aead.seal(b"", &mut [0u8; 16], &mut nonce);
            assert!(seen.insert(nonce));
        }
    }

    /// Known answers computed independently with Python `cryptography`
    /// (AESGCM accepts 16-byte nonces; ChaCha20Poly1305 via HChaCha20 subkey for XChaCha).
    #[test]
    fn aes_256_gcm_with_128_bit_nonce_matches_known_answer() {
        let aead = Aead::new(CipherSuite::Aes256Gcm, &key(0x11));
        let nonce = [0x22u8; 16];
        let mut buf = b"secvol known answer".to_vec();
        let tag = aead.seal_with_nonce(&nonce, b"header", &mut buf);
        assert_eq!(hex::encode(&buf), crate::kat::AES_GCM16_CIPHERTEXT);
        assert_eq!(hex::encode(tag), crate::kat::AES_GCM16_TAG);
    }

    #[test]
    fn xchacha20_poly1305_matches_known_answer() {
        let aead = Aead::new(CipherSuite::XChaCha20Poly1305, &key(0x11));
        let nonce = [0x22u8; 24];
        let mut buf = b"secvol known answer".to_vec();
        let tag = aead.seal_with_nonce(&nonce, b"header", &mut buf);
        assert_eq!(hex::encode(&buf), crate::kat::XCHACHA_CIPHERTEXT);
        assert_eq!(hex::encode(tag), crate::kat::XCHACHA_TAG);
    }
}
