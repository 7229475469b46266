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
