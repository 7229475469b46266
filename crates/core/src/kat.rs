//! Known-answer vectors, computed independently of this crate with Python's `cryptography`
//! (AES-GCM with a 16-byte nonce, HKDF-SHA256), PyNaCl/libsodium (XChaCha20-Poly1305) and
//! `hashlib.scrypt`. Key 0x11 × 32, nonce 0x22 × n, plaintext "secvol known answer",
//! associated data "header"; HKDF salt 0x33 × 16.

pub(crate) const AES_GCM16_CIPHERTEXT: &str = "6fd67259f18bbfd95d9e9159ef4d535770b81d";
pub(crate) const AES_GCM16_TAG: &str = "fe78d6bdb75a679e12d7f9ca861410e7";
pub(crate) const XCHACHA_CIPHERTEXT: &str = "f002847a33d5c4ff8b2263a59d18cf9145f2b1";
pub(crate) const XCHACHA_TAG: &str = "ad1e8a86fa78e2705c471045b1798118";
/// RFC 7914 §12: scrypt("password", "NaCl", N = 1024, r = 8, p = 16, 64 bytes).
pub(crate) const SCRYPT_RFC7914: &str = "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640";
/// scrypt("correct horse", salt 00..1f, N = 1024, r = 8, p = 1, 32 bytes).
pub(crate) const SCRYPT_KEK: &str =
    "1fa1348854818a9e4e9037d04148d79bf80ee7ccc89564199957a2a783532f80";
pub(crate) const HKDF_BLOCK_KEY: &str =
    "e9f86706ca183b198e8953b1dafc6cc9024446c33d82179369f2c485c89707ea";
pub(crate) const HKDF_HEADER_MAC_KEY: &str =
    "dde2cb41fe69b24de94c3cbcb1e4931c8bef61fdbc5897a8f5be6b7b05de768a";
/// HMAC-SHA256(key = "secvol v1 keyfile", message = "secvol keyfile known answer"), computed
/// with Python's `hmac` and `hashlib`.
pub(crate) const KEYFILE_DIGEST: &str =
    "bad524824486841feba657e19f04fe8925f4cec802b162958e1490215c0e01ee";
/// scrypt(HMAC-SHA256(key = KEYFILE_DIGEST, "secvol v1 password and keyfile" ‖ "correct horse"),
/// salt 00..1f, N = 1024, r = 8, p = 1, 32 bytes) with `hashlib.scrypt`.
pub(crate) const PASSWORD_AND_KEYFILE_KEK: &str =
    "61be43122a2c199f61eb295df91162b669b1f168603499d469a0ef44c7c73b9e";
/// scrypt(HMAC-SHA256(key = KEYFILE_DIGEST, "secvol v1 keyfile alone"), salt 00..1f, N = 1024,
/// r = 8, p = 1, 32 bytes).
pub(crate) const KEYFILE_KEK: &str =
    "a53f7cd7c8532e1deb650d899944b2de6f4de4b9b4585b579ec7ac8bcf6814f8";
/// HKDF-SHA256(ikm = 0x44 × 32, salt = 00..1f, info = "secvol v1 recovery key", 32 bytes),
/// computed as HMAC(HMAC(salt, ikm), info ‖ 0x01) with Python's `hmac`.
pub(crate) const RECOVERY_KEY_KEK: &str =
    "f777a96eba820727ca28269dc3129c89125c7adbb65d3c67098afa84e7c4ed0d";
/// The printable recovery key of the bytes 00..1f (docs/format.md §3.2), computed by an
/// independent Python implementation of the encoding (GF(32) check characters).
pub(crate) const RECOVERY_KEY_PRINTABLE: &str =
    "000G8-40R4P-0M30D-E2094-185GP-R38EP-1W81W-24GKN-2GAH1-C5RRC-34D13-P70XF-3RFGF";
