//! The container header: serialization, parsing and authentication.
//!
//! Layout (all integers little-endian; docs/format.md has the byte table). Offsets are chained
//! from the previous field's size through `Cursor`, so fields cannot overlap by accident.
//!
//! Two integrity checks protect a header:
//! * an unkeyed SHA-256 over everything before it, checked without a password, which catches
//!   accidental damage and decides between the primary and the backup copy;
//! * an HMAC-SHA256 under a key derived from the master key, checked after unlocking, which
//!   catches deliberate changes to any field (cipher id, geometry, keyslots).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::cipher::CipherSuite;
use crate::credential::KeyslotKind;
use crate::error::HeaderDamage;
use crate::geometry::{BLOCK_SIZE, Geometry, HEADER_LEN, HEADER_REGION_LEN};
use crate::kdf::ScryptParams;
use crate::secret::SecretKey;

/// Magic bytes at offset 0 of both header copies.
pub const MAGIC: [u8; 8] = *b"\x89SECVOL\n";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Number of keyslots in a header.
pub const KEYSLOTS: usize = 16;
/// Serialized size of one keyslot.
pub const KEYSLOT_LEN: usize = 128;

/// Offset of the first keyslot in a serialized header (the keyslots are contiguous).
pub const KEYSLOTS_OFFSET: usize = 128;
const MAC_OFFSET: usize = HEADER_LEN - 64;
const CHECKSUM_OFFSET: usize = HEADER_LEN - 32;

/// Header flag: the container was created with `--quick` (data area left sparse).
pub const FLAG_QUICK: u32 = 1;
const KNOWN_FLAGS: u32 = FLAG_QUICK;

const SLOT_EMPTY: u8 = 0;
const SLOT_ACTIVE: u8 = 1;

/// Nonce length of the keyslot wrap (always XChaCha20-Poly1305; see [`Keyslot`]).
pub const WRAP_NONCE_LEN: usize = 24;

/// An active keyslot: what opens it (password, keyfile, recovery key; with its scrypt cost),
/// its salt, and the master key wrapped under the key derived from that secret.
///
/// The wrap always uses XChaCha20-Poly1305, whatever the container's suite, so that a header
/// whose cipher id was changed still unlocks and then fails its MAC ("tampered"), instead of
/// being misreported as a wrong password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveKeyslot {
    /// What opens the slot (its KDF id) and the scrypt cost where there is one.
    pub kind: KeyslotKind,
    /// KDF salt (random per slot and per password change).
    pub salt: [u8; 32],
    /// Wrap nonce.
    pub nonce: [u8; WRAP_NONCE_LEN],
    /// Master key encrypted under the KEK.
    pub wrapped_key: [u8; 32],
    /// Wrap tag.
    pub tag: [u8; 16],
}

/// One keyslot. Empty slots are all-zero bytes on disk: they are clearly marked, so `info`
/// can count keyslots without a password (docs/threat-model.md explains the choice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keyslot {
    /// Not in use.
    Empty,
    /// In use.
    Active(ActiveKeyslot),
}

/// A parsed container header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Flags (`FLAG_*`).
    pub flags: u32,
    /// Random container id; bound into every key derivation and every block's associated data.
    pub container_id: [u8; 16],
    /// Cipher suite of the data.
    pub suite: CipherSuite,
    /// Layout of the file.
    pub geometry: Geometry,
    /// The keyslots.
    pub keyslots: [Keyslot; KEYSLOTS],
    /// HMAC-SHA256 of the header fields under the header MAC key.
    pub mac: [u8; 32],
}

/// Why a header could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Damaged (see [`HeaderDamage`]).
    Damaged(HeaderDamage),
    /// A secvol header of another format version.
    UnsupportedVersion(u16),
}

/// Writes fields at chained offsets.
struct Cursor<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }
    fn bytes(&mut self, data: &[u8]) {
        self.buf[self.pos..self.pos + data.len()].copy_from_slice(data);
        self.pos += data.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn skip(&mut self, n: usize) {
        self.pos += n;
    }
    fn at(&self, expected: usize) {
        assert_eq!(self.pos, expected, "header field offsets drifted");
    }
}

/// Reads fields at chained offsets (the mirror of [`Cursor`]).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let out: [u8; N] = self.buf[self.pos..self.pos + N]
            .try_into()
            .expect("slice of length N");
        self.pos += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }
    fn zeros(&mut self, n: usize) -> bool {
        let all_zero = self.buf[self.pos..self.pos + n].iter().all(|&b| b == 0);
        self.pos += n;
        all_zero
    }
}

impl ActiveKeyslot {
    /// The first 48 bytes of the serialized slot (state, KDF id, parameters, salt): bound into
    /// the wrap's associated data.
    pub(crate) fn descriptor(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        let mut c = Cursor::new(&mut out);
        c.u8(SLOT_ACTIVE);
        c.u8(self.kind.kdf_id());
        // A recovery-key slot has no scrypt cost: its parameter bytes stay zero.
        let params = self.kind.scrypt().unwrap_or(ScryptParams {
            log_n: 0,
            r: 0,
            p: 0,
        });
        c.u8(params.log_n);
        c.skip(1);
        c.u32(params.r);
        c.u32(params.p);
        c.skip(4);
        c.bytes(&self.salt);
        c.at(48);
        out
    }
}

impl Keyslot {
    fn write(&self, out: &mut [u8]) {
        out.fill(0);
        let Keyslot::Active(slot) = self else {
            return;
        };
        let mut c = Cursor::new(out);
        c.bytes(&slot.descriptor());
        c.bytes(&slot.nonce);
        c.bytes(&slot.wrapped_key);
        c.bytes(&slot.tag);
        c.skip(8);
        c.at(KEYSLOT_LEN);
    }

    fn parse(bytes: &[u8]) -> Result<Keyslot, HeaderDamage> {
        let mut r = Reader::new(bytes);
        match r.u8() {
            SLOT_EMPTY => {
                if bytes.iter().all(|&b| b == 0) {
                    Ok(Keyslot::Empty)
                } else {
                    Err(HeaderDamage::BadField("empty keyslot is not zeroed"))
                }
            }
            SLOT_ACTIVE => {
                let kdf_id = r.u8();
                let log_n = r.u8();
                let reserved_a = r.zeros(1);
                let params = ScryptParams {
                    log_n,
                    r: r.u32(),
                    p: r.u32(),
                };
                let Some(kind) = KeyslotKind::from_kdf_id(kdf_id, params) else {
                    return Err(HeaderDamage::BadField("keyslot KDF id"));
                };
                if kind == KeyslotKind::RecoveryKey
                    && params
                        != (ScryptParams {
                            log_n: 0,
                            r: 0,
                            p: 0,
                        })
                {
                    return Err(HeaderDamage::BadField("recovery keyslot parameters"));
                }
                let reserved_b = r.zeros(4);
                let salt = r.array();
                let nonce = r.array();
                let wrapped_key = r.array();
                let tag = r.array();
                let reserved_c = r.zeros(8);
                if !(reserved_a && reserved_b && reserved_c) {
                    return Err(HeaderDamage::BadField("keyslot reserved bytes"));
                }
                Ok(Keyslot::Active(ActiveKeyslot {
                    kind,
                    salt,
                    nonce,
                    wrapped_key,
                    tag,
                }))
            }
            _ => Err(HeaderDamage::BadField("keyslot state")),
        }
    }
}

impl Header {
    /// Indices of the active keyslots.
    pub fn active_slots(&self) -> impl Iterator<Item = (usize, &ActiveKeyslot)> {
        self.keyslots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| match slot {
                Keyslot::Active(active) => Some((i, active)),
                Keyslot::Empty => None,
            })
    }

    /// Serialize, with the stored MAC and a fresh checksum.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        self.write_fields(&mut out);
        out[MAC_OFFSET..CHECKSUM_OFFSET].copy_from_slice(&self.mac);
        let checksum = Sha256::digest(&out[..CHECKSUM_OFFSET]);
        out[CHECKSUM_OFFSET..].copy_from_slice(&checksum);
        out
    }

    /// Everything the MAC covers: the fields and keyslots, without MAC and checksum.
    fn write_fields(&self, out: &mut [u8; HEADER_LEN]) {
        let g = &self.geometry;
        let mut c = Cursor::new(&mut out[..]);
        c.bytes(&MAGIC);
        c.u16(FORMAT_VERSION);
        c.u16(HEADER_LEN as u16);
        c.u32(self.flags);
        c.bytes(&self.container_id);
        c.u16(self.suite.id());
        c.u16(KEYSLOTS as u16);
        c.u32(BLOCK_SIZE as u32);
        c.u64(HEADER_REGION_LEN);
        c.u64(g.data_area_offset);
        c.u64(g.data_area_len);
        c.u64(g.capacity_blocks);
        c.u64(g.container_len);
        c.u32(g.blocks_per_group as u32);
        c.u32(g.block_meta_len as u32);
        c.skip(KEYSLOTS_OFFSET - 88);
        c.at(KEYSLOTS_OFFSET);
        for slot in &self.keyslots {
            slot.write(&mut c.buf[c.pos..c.pos + KEYSLOT_LEN]);
            c.skip(KEYSLOT_LEN);
        }
        c.at(KEYSLOTS_OFFSET + KEYSLOTS * KEYSLOT_LEN);
    }

    /// The HMAC of the header fields under `mac_key`.
    pub fn compute_mac(&self, mac_key: &SecretKey) -> [u8; 32] {
        let mut fields = [0u8; HEADER_LEN];
        self.write_fields(&mut fields);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(mac_key.expose())
            .expect("HMAC takes any key length");
        mac.update(&fields[..MAC_OFFSET]);
        mac.finalize().into_bytes().into()
    }

    /// Whether the stored MAC verifies under `mac_key` (constant-time comparison).
    pub fn verify_mac(&self, mac_key: &SecretKey) -> bool {
        let mut fields = [0u8; HEADER_LEN];
        self.write_fields(&mut fields);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(mac_key.expose())
            .expect("HMAC takes any key length");
        mac.update(&fields[..MAC_OFFSET]);
        mac.verify_slice(&self.mac).is_ok()
    }

    /// Parse and validate a serialized header. Never panics, whatever the input.
    pub fn parse(bytes: &[u8]) -> Result<Header, ParseError> {
        let damaged = |d| Err(ParseError::Damaged(d));
        if bytes.len() < HEADER_LEN {
            return damaged(HeaderDamage::Missing);
        }
        let bytes = &bytes[..HEADER_LEN];
        if bytes[..MAGIC.len()] != MAGIC {
            return damaged(HeaderDamage::BadMagic);
        }
        let mut r = Reader::new(bytes);
        r.array::<8>();
        let version = r.u16();
        // A newer format may move everything after the version, the checksum included.
        if version != FORMAT_VERSION {
            return Err(ParseError::UnsupportedVersion(version));
        }
        if Sha256::digest(&bytes[..CHECKSUM_OFFSET])[..] != bytes[CHECKSUM_OFFSET..] {
            return damaged(HeaderDamage::BadChecksum);
        }
        let header_len = r.u16();
        let flags = r.u32();
        let container_id = r.array();
        let suite_id = r.u16();
        let keyslot_count = r.u16();
        let block_size = r.u32();
        let region_len = r.u64();
        let data_area_offset = r.u64();
        let data_area_len = r.u64();
        let capacity_blocks = r.u64();
        let container_len = r.u64();
        let blocks_per_group = r.u32();
        let block_meta_len = r.u32();
        let reserved_ok = r.zeros(KEYSLOTS_OFFSET - 88);

        let bad = |field| damaged(HeaderDamage::BadField(field));
        if usize::from(header_len) != HEADER_LEN {
            return bad("header length");
        }
        if flags & !KNOWN_FLAGS != 0 {
            return bad("flags");
        }
        let Some(suite) = CipherSuite::from_id(suite_id) else {
            return bad("cipher suite");
        };
        if usize::from(keyslot_count) != KEYSLOTS {
            return bad("keyslot count");
        }
        if block_size as usize != BLOCK_SIZE || region_len != HEADER_REGION_LEN {
            return bad("block or header region size");
        }
        if !reserved_ok {
            return bad("reserved bytes");
        }
        // The geometry is a function of the length and suite: any stored field that
        // disagrees with the recomputation is damage.
        let Some(geometry) = Geometry::for_container_len(container_len, suite) else {
            return bad("container length");
        };
        if geometry.data_area_offset != data_area_offset
            || geometry.data_area_len != data_area_len
            || geometry.capacity_blocks != capacity_blocks
            || geometry.blocks_per_group != u64::from(blocks_per_group)
            || geometry.block_meta_len != u64::from(block_meta_len)
        {
            return bad("data area geometry");
        }
        let mut keyslots: [Keyslot; KEYSLOTS] = std::array::from_fn(|_| Keyslot::Empty);
        for (i, slot) in keyslots.iter_mut().enumerate() {
            let start = KEYSLOTS_OFFSET + i * KEYSLOT_LEN;
            *slot =
                Keyslot::parse(&bytes[start..start + KEYSLOT_LEN]).map_err(ParseError::Damaged)?;
        }
        if !bytes[KEYSLOTS_OFFSET + KEYSLOTS * KEYSLOT_LEN..MAC_OFFSET]
            .iter()
            .all(|&b| b == 0)
        {
            return bad("reserved bytes");
        }
        let mac = bytes[MAC_OFFSET..CHECKSUM_OFFSET]
            .try_into()
            .expect("32-byte MAC field");
        Ok(Header {
            flags,
            container_id,
            suite,
            geometry,
            keyslots,
            mac,
        })
    }

    /// The container id as a UUID string.
    pub fn container_id_string(&self) -> String {
        let h = |range: std::ops::Range<usize>| -> String {
            self.container_id[range]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        format!(
            "{}-{}-{}-{}-{}",
            h(0..4),
            h(4..6),
            h(6..8),
            h(8..10),
            h(10..16)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_header(suite: CipherSuite, len: u64, active: &[usize]) -> Header {
        let mut keyslots: [Keyslot; KEYSLOTS] = std::array::from_fn(|_| Keyslot::Empty);
        for &i in active {
            keyslots[i] = Keyslot::Active(ActiveKeyslot {
                kind: match i % 4 {
                    0 => KeyslotKind::Password(ScryptParams::with_log_n(17)),
                    1 => KeyslotKind::PasswordAndKeyfile(ScryptParams::with_log_n(17)),
                    2 => KeyslotKind::Keyfile(ScryptParams::with_log_n(17)),
                    _ => KeyslotKind::RecoveryKey,
                },
                salt: [i as u8; 32],
                nonce: [0x55; WRAP_NONCE_LEN],
                wrapped_key: [0x66; 32],
                tag: [0x77; 16],
            });
        }
        Header {
            flags: 0,
            container_id: [9; 16],
            suite,
            geometry: Geometry::for_container_len(len, suite).unwrap(),
            keyslots,
            mac: [0xaa; 32],
        }
    }

    #[test]
    fn header_round_trips_through_bytes() {
        let header = sample_header(CipherSuite::Aes256Gcm, 64 << 20, &[0, 3, 15]);
        let bytes = header.to_bytes();
        assert_eq!(&bytes[..8], &MAGIC);
        assert_eq!(Header::parse(&bytes).unwrap(), header);
    }

    #[test]
    fn any_single_byte_change_is_detected() {
        let bytes = sample_header(CipherSuite::XChaCha20Poly1305, 8 << 20, &[0]).to_bytes();
        for i in (0..HEADER_LEN).step_by(7) {
            let mut damaged = bytes;
            damaged[i] ^= 0x01;
            assert!(
                Header::parse(&damaged).is_err(),
                "flip at {i} went unnoticed"
            );
        }
    }

    #[test]
    fn mac_covers_cipher_geometry_and_keyslots() {
        let key = SecretKey::from_bytes(&mut [1; 32]);
        let mut header = sample_header(CipherSuite::Aes256Gcm, 64 << 20, &[0]);
        header.mac = header.compute_mac(&key);
        assert!(header.verify_mac(&key));
        let mut other = header.clone();
        other.suite = CipherSuite::XChaCha20Poly1305;
        assert!(!other.verify_mac(&key));
        let mut other = header.clone();
        other.geometry = Geometry::for_container_len(32 << 20, CipherSuite::Aes256Gcm).unwrap();
        assert!(!other.verify_mac(&key));
        let mut other = header.clone();
        other.keyslots[1] = other.keyslots[0].clone();
        assert!(!other.verify_mac(&key));
        assert!(!header.verify_mac(&SecretKey::from_bytes(&mut [2; 32])));
    }

    #[test]
    fn other_versions_are_reported_as_unsupported() {
        let mut bytes = sample_header(CipherSuite::Aes256Gcm, 64 << 20, &[0]).to_bytes();
        bytes[8] = 2;
        assert_eq!(
            Header::parse(&bytes),
            Err(ParseError::UnsupportedVersion(2))
        );
    }

    proptest! {
        #[test]
        fn serialization_round_trips(
            suite_aes in any::<bool>(),
            blocks in 256u64..1_000_000,
            active in proptest::collection::btree_set(0usize..KEYSLOTS, 1..KEYSLOTS),
            id in any::<[u8; 16]>(),
            log_n in 10u8..=22,
        ) {
            let suite = if suite_aes { CipherSuite::Aes256Gcm } else { CipherSuite::XChaCha20Poly1305 };
            let active: Vec<usize> = active.into_iter().collect();
            let mut header = sample_header(suite, blocks * 4096, &active);
            header.container_id = id;
            for slot in header.keyslots.iter_mut() {
                if let Keyslot::Active(ActiveKeyslot { kind: KeyslotKind::Password(params), .. }) = slot {
                    params.log_n = log_n;
                }
            }
            prop_assert_eq!(Header::parse(&header.to_bytes()).unwrap(), header);
        }

        #[test]
        fn random_bytes_never_parse_and_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
            prop_assert!(Header::parse(&bytes).is_err());
        }

        #[test]
        fn mutated_headers_error_without_panicking(
            flips in proptest::collection::vec((0usize..HEADER_LEN, any::<u8>()), 1..20),
            fix_checksum in any::<bool>(),
        ) {
            let mut bytes = sample_header(CipherSuite::Aes256Gcm, 64 << 20, &[0, 1]).to_bytes();
            let original = bytes;
            for (i, v) in flips { bytes[i] = v; }
            if fix_checksum {
                // An attacker can recompute the unkeyed checksum; the parser must still cope.
                let sum = Sha256::digest(&bytes[..CHECKSUM_OFFSET]);
                bytes[CHECKSUM_OFFSET..].copy_from_slice(&sum);
            }
            let parsed = Header::parse(&bytes);
            if bytes != original && !fix_checksum {
                prop_assert!(parsed.is_err());
            }
        }
    }
}
