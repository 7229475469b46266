//! Password stretching (scrypt) and key derivation from the master key (HKDF-SHA256).
//!
//! scrypt parameters are chosen per keyslot at creation time by calibration (about one second
//! on the creating machine, never below log2 N = 17 unless the caller overrides it) and are
//! stored in the keyslot. Before running scrypt on parameters read from a header they are
//! checked against fixed ceilings, so a hostile header cannot make us allocate gigabytes.

use std::time::{Duration, Instant};

use hkdf::Hkdf;
use sha2::Sha256;

use crate::error::KdfError;
use crate::secret::{KEY_LEN, SecretKey};

/// scrypt parameters of one keyslot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptParams {
    /// log2 of the CPU/memory cost N.
    pub log_n: u8,
    /// Block size r.
    pub r: u32,
    /// Parallelism p.
    pub p: u32,
}

impl ScryptParams {
    /// Block size used for every new keyslot.
    pub const R: u32 = 8;
    /// Parallelism used for every new keyslot.
    pub const P: u32 = 1;
    /// Calibration never goes below this cost unless explicitly overridden.
    pub const MIN_DEFAULT_LOG_N: u8 = 17;
    /// Calibration never goes above this cost (1 GiB of memory with r = 8), so a container
    /// made on a fast machine still opens on a small laptop.
    pub const MAX_DEFAULT_LOG_N: u8 = 20;
    /// Smallest cost accepted anywhere (tests use it; as gocryptfs's `-scryptn 10`).
    pub const MIN_LOG_N: u8 = 10;
    /// Largest cost accepted when reading a header.
    pub const MAX_LOG_N: u8 = 22;
    /// Largest memory (128 · r · N bytes) accepted when reading a header.
    pub const MAX_MEMORY: u64 = 4 << 30;
    /// Largest work N · r · p accepted when reading a header (about 20 s on a 2020 laptop).
    pub const MAX_WORK: u64 = 1 << 26;

    /// Parameters with the standard r and p and the given cost.
    pub fn with_log_n(log_n: u8) -> Self {
        ScryptParams {
            log_n,
            r: Self::R,
            p: Self::P,
        }
    }

    /// Memory scrypt needs for these parameters, in bytes.
    pub fn memory_bytes(&self) -> u64 {
        128 * u64::from(self.r) * (1u64 << self.log_n.min(63))
    }

    /// Refuse parameters outside the bounds above.
    pub fn check_bounds(&self) -> Result<(), KdfError> {
        let out_of_bounds = |reason| KdfError::ParamsOutOfBounds {
            log_n: self.log_n,
            r: self.r,
            p: self.p,
            reason,
        };
        if self.log_n < Self::MIN_LOG_N {
            return Err(out_of_bounds("log2 N below 10 is too weak"));
        }
        if self.log_n > Self::MAX_LOG_N {
            return Err(out_of_bounds("log2 N above 22"));
        }
        if self.r == 0 || self.r > 32 {
            return Err(out_of_bounds("r must be 1..=32"));
        }
        if self.p == 0 || self.p > 16 {
            return Err(out_of_bounds("p must be 1..=16"));
        }
        if self.memory_bytes() > Self::MAX_MEMORY {
            return Err(out_of_bounds("needs more than 4 GiB of memory"));
        }
        let work = (1u64 << self.log_n) * u64::from(self.r) * u64::from(self.p);
        if work > Self::MAX_WORK {
            return Err(out_of_bounds("needs too much work (N·r·p above 2^26)"));
        }
        Ok(())
    }

    /// Pick the cost so that one derivation takes about `target` on this machine, clamped to
    /// [`Self::MIN_DEFAULT_LOG_N`]..=[`Self::MAX_DEFAULT_LOG_N`].
    pub fn calibrate(target: Duration) -> Self {
        const PROBE_LOG_N: u8 = 14;
        let probe = Self::with_log_n(PROBE_LOG_N);
        let start = Instant::now();
        let mut out = [0u8; KEY_LEN];
        run_scrypt(b"calibration", &[0u8; 32], &probe, &mut out);
        let elapsed = start.elapsed().as_secs_f64().max(1e-6);
        // Time is linear in N: each step of log_n doubles it.
        let steps = (target.as_secs_f64() / elapsed).log2().round();
        let log_n = (f64::from(PROBE_LOG_N) + steps).clamp(
            f64::from(Self::MIN_DEFAULT_LOG_N),
            f64::from(Self::MAX_DEFAULT_LOG_N),
        );
        // The clamp keeps the value in 17..=20, so the conversion is exact.
        Self::with_log_n(log_n as u8)
    }
}

impl std::fmt::Display for ScryptParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scrypt (log2 N = {}, r = {}, p = {}, {} MiB)",
            self.log_n,
            self.r,
            self.p,
            self.memory_bytes() >> 20
        )
    }
}

fn run_scrypt(password: &[u8], salt: &[u8], params: &ScryptParams, out: &mut [u8]) {
    let params = scrypt::Params::new(params.log_n, params.r, params.p)
        .expect("scrypt parameters were bounds-checked");
    scrypt::scrypt(password, salt, &params, out).expect("a 32-byte output is valid");
}

/// Stretch a password into a key-encryption key. Checks the parameters first.
pub fn derive_kek(
    password: &[u8],
    salt: &[u8; 32],
    params: &ScryptParams,
) -> Result<SecretKey, KdfError> {
    params.check_bounds()?;
    let mut kek = SecretKey::zeroed();
    run_scrypt(password, salt, params, kek.expose_mut());
    Ok(kek)
}

/// What a subkey derived from the master key is for. Each purpose has its own HKDF label, so
/// no key is ever used for two jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// AEAD key for data blocks and the device super record.
    BlockEncryption,
    /// HMAC-SHA256 key authenticating the header fields.
    HeaderMac,
}

impl KeyPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            KeyPurpose::BlockEncryption => b"secvol v1 block encryption key",
            KeyPurpose::HeaderMac => b"secvol v1 header mac key",
        }
    }
}

/// HKDF-SHA256(ikm = master key, salt = container UUID, info = purpose label).
pub fn derive_subkey(
    master: &SecretKey,
    container_id: &[u8; 16],
    purpose: KeyPurpose,
) -> SecretKey {
    let hkdf = Hkdf::<Sha256>::new(Some(container_id), master.expose());
    let mut key = SecretKey::zeroed();
    hkdf.expand(purpose.label(), key.expose_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrypt_matches_rfc7914_vector() {
        // RFC 7914 section 12, second vector (N = 1024, r = 8, p = 16).
        let params = scrypt::Params::new(10, 8, 16).unwrap();
        let mut out = [0u8; 64];
        scrypt::scrypt(b"password", b"NaCl", &params, &mut out).unwrap();
        assert_eq!(hex::encode(out), crate::kat::SCRYPT_RFC7914);
    }

    #[test]
    fn derive_kek_matches_known_answer() {
        let salt: [u8; 32] = std::array::from_fn(|i| i as u8);
        let kek = derive_kek(b"correct horse", &salt, &ScryptParams::with_log_n(10)).unwrap();
        assert_eq!(hex::encode(kek.expose()), crate::kat::SCRYPT_KEK);
    }

    #[test]
    fn hkdf_subkeys_match_known_answers_and_differ_by_purpose() {
        let master = SecretKey::from_bytes(&mut [0x11; KEY_LEN]);
        let id = [0x33u8; 16];
        let block = derive_subkey(&master, &id, KeyPurpose::BlockEncryption);
        let mac = derive_subkey(&master, &id, KeyPurpose::HeaderMac);
        assert_eq!(hex::encode(block.expose()), crate::kat::HKDF_BLOCK_KEY);
        assert_eq!(hex::encode(mac.expose()), crate::kat::HKDF_HEADER_MAC_KEY);
        assert_ne!(block.expose(), mac.expose());
        let other = derive_subkey(&master, &[0x34u8; 16], KeyPurpose::BlockEncryption);
        assert_ne!(
            block.expose(),
            other.expose(),
            "keys are bound to the container id"
        );
    }

    #[test]
    fn hostile_parameters_are_refused_before_any_allocation() {
        for (log_n, r, p) in [
            (30, 8, 1),
            (23, 8, 1),
            (22, 16, 1),
            (20, 8, 64),
            (9, 8, 1),
            (17, 0, 1),
        ] {
            let params = ScryptParams { log_n, r, p };
            assert!(params.check_bounds().is_err(), "{params:?}");
            assert!(derive_kek(b"x", &[0; 32], &params).is_err());
        }
        assert!(ScryptParams::with_log_n(22).check_bounds().is_ok());
        assert!(ScryptParams::with_log_n(17).check_bounds().is_ok());
    }

    #[test]
    fn calibration_stays_within_default_bounds() {
        let params = ScryptParams::calibrate(Duration::from_millis(1));
        assert_eq!(params.log_n, ScryptParams::MIN_DEFAULT_LOG_N);
        assert_eq!((params.r, params.p), (8, 1));
    }
}
