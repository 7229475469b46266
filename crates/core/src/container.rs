//! Creating, opening and unlocking containers; keyslot management; header backup and restore.
//!
//! Header updates follow one rule: write the primary copy, sync, write the backup copy, sync.
//! At every instant of a crash at least one copy is whole and valid.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use rand::Rng;
use secrecy::SecretString;

use crate::cipher::{Aead, CipherSuite};
use crate::credential::{Credential, KeyslotKind, derive_slot_kek};
use crate::device::EncryptedDevice;
use crate::error::{BlockError, ContainerError, HeaderDamage};
use crate::geometry::{BLOCK_SIZE_U64, Geometry, HEADER_LEN, HEADER_REGION_LEN, MIN_CONTAINER_LEN};
use crate::header::{
    ActiveKeyslot, FLAG_QUICK, FORMAT_VERSION, Header, KEYSLOTS, Keyslot, ParseError,
    WRAP_NONCE_LEN,
};
use crate::kdf::{KeyPurpose, ScryptParams, derive_subkey};
use crate::secret::SecretKey;
use crate::stack::{DeviceMode, DeviceStack};
use crate::storage::{Access, FileStorage, Storage, sync_parent_dir};

/// Options of [`create`].
#[derive(Debug, Clone, Copy)]
pub struct CreateOptions {
    /// Exact size of the container file in bytes (a multiple of 4096, at least 1 MiB).
    pub size: u64,
    /// Cipher suite of the data.
    pub suite: CipherSuite,
    /// scrypt parameters of the first keyslot.
    pub kdf: ScryptParams,
    /// Leave the data area sparse instead of filling it with random bytes.
    pub quick: bool,
}

/// The state of the two header copies, as found without a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderStatus {
    /// `Ok` if the primary copy parsed and passed its checksum.
    pub primary: Result<(), HeaderDamage>,
    /// `Ok` if the backup copy parsed and passed its checksum.
    pub backup: Result<(), HeaderDamage>,
    /// Both copies are valid but differ (a header update was interrupted).
    pub copies_differ: bool,
}

/// A container whose header has been read, not yet unlocked.
#[derive(Debug)]
pub struct Container {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) path: PathBuf,
    primary: Option<Header>,
    backup: Option<Header>,
    status: HeaderStatus,
    pub(crate) access: Access,
}

/// A container unlocked with a password: the master key is in memory.
#[derive(Debug)]
pub struct UnlockedContainer {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) path: PathBuf,
    pub(crate) header: Header,
    pub(crate) status: HeaderStatus,
    pub(crate) master: SecretKey,
    opened_slot: usize,
    opened_from_backup: bool,
    pub(crate) access: Access,
}

/// Progress callback: (bytes or blocks done, total).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

fn read_copy(storage: &dyn Storage, offset: u64, file_len: u64) -> Result<Header, ParseError> {
    if offset
        .checked_add(HEADER_LEN as u64)
        .is_none_or(|end| end > file_len)
    {
        return Err(ParseError::Damaged(HeaderDamage::Missing));
    }
    let mut bytes = [0u8; HEADER_LEN];
    storage
        .read_at(offset, &mut bytes)
        .map_err(|_| ParseError::Damaged(HeaderDamage::Missing))?;
    Header::parse(&bytes)
}

impl Container {
    /// Open the container file at `path` and read its header copies.
    pub fn open(path: &Path, access: Access) -> Result<Container, ContainerError> {
        let storage = match FileStorage::open(path, access)? {
            Ok(storage) => storage,
            Err(_locked) => {
                return Err(ContainerError::InUse {
                    path: path.to_owned(),
                });
            }
        };
        Self::open_storage(Arc::new(storage), path, access)
    }

    /// Read the header copies from any storage (`path` is used in messages only).
    pub fn open_storage(
        storage: Arc<dyn Storage>,
        path: &Path,
        access: Access,
    ) -> Result<Container, ContainerError> {
        let file_len = storage.len()?;
        let primary = read_copy(&*storage, 0, file_len);
        // Where the backup is: the primary copy says how long the file should be; without it,
        // the backup is the last header region of the file as it is.
        let expected_len = match &primary {
            Ok(header) => header.geometry.container_len,
            Err(_) => file_len,
        };
        if let Ok(header) = &primary
            && file_len < header.geometry.container_len
        {
            return Err(ContainerError::Truncated {
                path: path.to_owned(),
                expected: header.geometry.container_len,
                actual: file_len,
            });
        }
        let backup = match expected_len.checked_sub(HEADER_REGION_LEN) {
            Some(offset) => read_copy(&*storage, offset, file_len),
            None => Err(ParseError::Damaged(HeaderDamage::Missing)),
        };
        let damage = |result: &Result<Header, ParseError>| match result {
            Ok(_) => Ok(()),
            Err(ParseError::Damaged(damage)) => Err(*damage),
            Err(ParseError::UnsupportedVersion(_)) => Err(HeaderDamage::BadField("version")),
        };
        let status = HeaderStatus {
            primary: damage(&primary),
            backup: damage(&backup),
            copies_differ: matches!((&primary, &backup), (Ok(p), Ok(b)) if p.to_bytes() != b.to_bytes()),
        };
        match (primary, backup) {
            (Err(ParseError::UnsupportedVersion(found)), Err(_))
            | (Err(_), Err(ParseError::UnsupportedVersion(found))) => {
                Err(ContainerError::UnsupportedVersion {
                    found,
                    supported: FORMAT_VERSION,
                })
            }
            (
                Err(ParseError::Damaged(HeaderDamage::BadMagic | HeaderDamage::Missing)),
                Err(ParseError::Damaged(HeaderDamage::BadMagic | HeaderDamage::Missing)),
            ) => Err(ContainerError::NotAContainer {
                path: path.to_owned(),
            }),
            (Err(ParseError::Damaged(primary)), Err(ParseError::Damaged(backup))) => {
                Err(ContainerError::HeadersDamaged { primary, backup })
            }
            (primary, backup) => {
                let backup = backup.ok();
                // A backup copy must describe this very file.
                let backup = backup.filter(|b| b.geometry.container_len <= file_len);
                let primary = primary.ok();
                if primary.is_none() && backup.is_none() {
                    return Err(ContainerError::NotAContainer {
                        path: path.to_owned(),
                    });
                }
                Ok(Container {
                    storage,
                    path: path.to_owned(),
                    primary,
                    backup,
                    status,
                    access,
                })
            }
        }
    }

    /// The header copy that public facts are read from (the primary when valid).
    pub fn header(&self) -> &Header {
        self.primary
            .as_ref()
            .or(self.backup.as_ref())
            .expect("an opened container has at least one valid header copy")
    }

    /// The state of both header copies.
    pub fn header_status(&self) -> HeaderStatus {
        self.status
    }

    /// The file this container was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unlock with a password: try every active password keyslot of the primary copy, then of
    /// the backup copy if it differs. The header MAC is verified before the key is accepted.
    pub fn unlock(self, password: &SecretString) -> Result<UnlockedContainer, ContainerError> {
        self.unlock_with(&[Credential::Password(password)])
    }

    /// Whether any active keyslot (of either header copy) is of a kind `credential` fits.
    pub fn has_slot_for(&self, credential: &Credential<'_>) -> bool {
        [self.primary.as_ref(), self.backup.as_ref()]
            .into_iter()
            .flatten()
            .flat_map(Header::active_slots)
            .any(|(_, slot)| credential.fits(slot.kind))
    }

    /// Unlock with whichever of `credentials` opens a keyslot: each active keyslot of the
    /// primary copy, then of the backup copy if it differs, is tried with the credentials
    /// of its kind. The header MAC is verified before the key is accepted.
    pub fn unlock_with(
        self,
        credentials: &[Credential<'_>],
    ) -> Result<UnlockedContainer, ContainerError> {
        let mut tampered = false;
        let mut kdf_error = None;
        let mut any_fitting_slot = false;
        // Keys already derived, by (credential index, kind, salt): the backup copy usually
        // holds the same slots, and each derivation costs about a second.
        let mut keks: Vec<(usize, KeyslotKind, [u8; 32], SecretKey)> = Vec::new();
        let candidates = [(self.primary.as_ref(), false), (self.backup.as_ref(), true)];
        for (header, from_backup) in candidates {
            let Some(header) = header else { continue };
            if from_backup
                && self
                    .primary
                    .as_ref()
                    .is_some_and(|p| p.to_bytes() == header.to_bytes())
            {
                continue;
            }
            for (index, slot) in header.active_slots() {
                for (which, credential) in credentials.iter().enumerate() {
                    if !credential.fits(slot.kind) {
                        continue;
                    }
                    any_fitting_slot = true;
                    let cached = keks.iter().position(|(w, kind, salt, _)| {
                        *w == which && *kind == slot.kind && *salt == slot.salt
                    });
                    let kek_index = match cached {
                        Some(i) => i,
                        None => match derive_slot_kek(credential, slot.kind, &slot.salt) {
                            Ok(kek) => {
                                keks.push((which, slot.kind, slot.salt, kek));
                                keks.len() - 1
                            }
                            Err(err) => {
                                kdf_error = Some(err);
                                continue;
                            }
                        },
                    };
                    let Some(master) =
                        unwrap_master(slot, &keks[kek_index].3, &header.container_id, index)
                    else {
                        continue;
                    };
                    let mac_key =
                        derive_subkey(&master, &header.container_id, KeyPurpose::HeaderMac);
                    if !header.verify_mac(&mac_key) {
                        log::warn!(
                            "keyslot {index} opened but the {} header copy failed authentication",
                            if from_backup { "backup" } else { "primary" }
                        );
                        tampered = true;
                        continue;
                    }
                    return Ok(UnlockedContainer {
                        header: header.clone(),
                        storage: self.storage,
                        path: self.path,
                        status: self.status,
                        master,
                        opened_slot: index,
                        opened_from_backup: from_backup,
                        access: self.access,
                    });
                }
            }
        }
        let only_passwords = credentials
            .iter()
            .all(|c| matches!(c, Credential::Password(_)));
        if tampered {
            Err(ContainerError::HeaderTampered)
        } else if let Some(err) = kdf_error {
            Err(err.into())
        } else if only_passwords {
            Err(ContainerError::WrongPassword)
        } else if !any_fitting_slot {
            Err(ContainerError::NoKeyslotOfKind {
                needs: credentials.first().map_or("a password", |c| {
                    c.kind(ScryptParams::with_log_n(0)).needs()
                }),
            })
        } else {
            Err(ContainerError::WrongCredential {
                with: credentials.first().map_or("it", Credential::describe),
            })
        }
    }
}

fn wrap_aad(container_id: &[u8; 16], slot_index: usize, descriptor: &[u8; 48]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(14 + 16 + 1 + 48);
    aad.extend_from_slice(b"secvol keyslot");
    aad.extend_from_slice(container_id);
    aad.push(slot_index as u8);
    aad.extend_from_slice(descriptor);
    aad
}

fn wrap_master(
    master: &SecretKey,
    credential: &Credential<'_>,
    kdf: ScryptParams,
    container_id: &[u8; 16],
    slot_index: usize,
) -> Result<ActiveKeyslot, ContainerError> {
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).expect("the OS random number generator failed");
    let kind = credential.kind(kdf);
    let kek = derive_slot_kek(credential, kind, &salt)?;
    let mut slot = ActiveKeyslot {
        kind,
        salt,
        nonce: [0; WRAP_NONCE_LEN],
        wrapped_key: *master.expose(),
        tag: [0; 16],
    };
    rand::rng().fill_bytes(&mut slot.nonce);
    let aad = wrap_aad(container_id, slot_index, &slot.descriptor());
    let cipher = XChaCha20Poly1305::new(kek.expose().into());
    let tag = cipher
        .encrypt_inout_detached(
            (&slot.nonce).into(),
            &aad,
            slot.wrapped_key.as_mut_slice().into(),
        )
        .expect("32-byte message");
    slot.tag = tag.into();
    Ok(slot)
}

fn unwrap_master(
    slot: &ActiveKeyslot,
    kek: &SecretKey,
    container_id: &[u8; 16],
    slot_index: usize,
) -> Option<SecretKey> {
    let aad = wrap_aad(container_id, slot_index, &slot.descriptor());
    let cipher = XChaCha20Poly1305::new(kek.expose().into());
    let mut master = SecretKey::zeroed();
    master.expose_mut().copy_from_slice(&slot.wrapped_key);
    cipher
        .decrypt_inout_detached(
            (&slot.nonce).into(),
            &aad,
            master.expose_mut().as_mut_slice().into(),
            (&slot.tag).into(),
        )
        .ok()?;
    Some(master)
}

fn random_container_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("the OS random number generator failed");
    // Shape it as an RFC 4122 version-4 UUID, so tools that show UUIDs show it sensibly.
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

/// Create a new container file at `path` (never overwriting an existing file). `progress`
/// is called with (bytes filled, total) while the data area is filled with random bytes.
pub fn create(
    path: &Path,
    password: &SecretString,
    options: &CreateOptions,
    progress: Progress<'_>,
) -> Result<UnlockedContainer, ContainerError> {
    create_with(path, &Credential::Password(password), options, progress)
}

/// [`create`] with keyslot 0 opened by `credential` (a password, a password and a keyfile, or
/// a keyfile alone).
pub fn create_with(
    path: &Path,
    credential: &Credential<'_>,
    options: &CreateOptions,
    progress: Progress<'_>,
) -> Result<UnlockedContainer, ContainerError> {
    validate_size(options)?;
    let storage = FileStorage::create_new(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::AlreadyExists {
            ContainerError::AlreadyExists {
                path: path.to_owned(),
            }
        } else {
            ContainerError::Io(err)
        }
    })?;
    let result = create_on_with(Arc::new(storage), path, credential, options, progress).and_then(
        |container| {
            sync_parent_dir(path)?;
            Ok(container)
        },
    );
    if result.is_err() {
        // A half-written file is not a container; do not leave it behind.
        let _ = std::fs::remove_file(path);
    }
    result
}

fn validate_size(options: &CreateOptions) -> Result<Geometry, ContainerError> {
    if options.size < MIN_CONTAINER_LEN {
        return Err(ContainerError::TooSmall {
            requested: options.size,
            minimum: MIN_CONTAINER_LEN,
        });
    }
    Geometry::for_container_len(options.size - options.size % BLOCK_SIZE_U64, options.suite).ok_or(
        ContainerError::TooSmall {
            requested: options.size,
            minimum: MIN_CONTAINER_LEN,
        },
    )
}

/// Create a container on any storage (tests use in-memory storage). The size is rounded
/// down to a whole number of 4 KiB blocks.
pub fn create_on(
    storage: Arc<dyn Storage>,
    path: &Path,
    password: &SecretString,
    options: &CreateOptions,
    progress: Progress<'_>,
) -> Result<UnlockedContainer, ContainerError> {
    create_on_with(
        storage,
        path,
        &Credential::Password(password),
        options,
        progress,
    )
}

/// [`create_on`] with keyslot 0 opened by `credential`.
pub fn create_on_with(
    storage: Arc<dyn Storage>,
    path: &Path,
    credential: &Credential<'_>,
    options: &CreateOptions,
    progress: Progress<'_>,
) -> Result<UnlockedContainer, ContainerError> {
    let geometry = validate_size(options)?;
    options.kdf.check_bounds()?;
    let total = geometry.container_len;
    storage.set_len(total)?;
    if !options.quick {
        fill_random(&*storage, total, progress)?;
    }
    let master = SecretKey::random();
    let container_id = random_container_id();
    let mut keyslots: [Keyslot; KEYSLOTS] = std::array::from_fn(|_| Keyslot::Empty);
    keyslots[0] = Keyslot::Active(wrap_master(
        &master,
        credential,
        options.kdf,
        &container_id,
        0,
    )?);
    let header = Header {
        flags: if options.quick { FLAG_QUICK } else { 0 },
        container_id,
        suite: options.suite,
        geometry,
        keyslots,
        mac: [0; 32],
    };
    let block_key = derive_subkey(&master, &container_id, KeyPurpose::BlockEncryption);
    EncryptedDevice::format(
        &*storage,
        &geometry,
        &Aead::new(options.suite, &block_key),
        &container_id,
    )?;
    let mut container = UnlockedContainer {
        storage,
        path: path.to_owned(),
        header,
        status: HeaderStatus {
            primary: Ok(()),
            backup: Ok(()),
            copies_differ: false,
        },
        master,
        opened_slot: 0,
        opened_from_backup: false,
        access: Access::ReadWrite,
    };
    container.write_headers()?;
    Ok(container)
}

fn fill_random(
    storage: &dyn Storage,
    total: u64,
    progress: Progress<'_>,
) -> Result<(), ContainerError> {
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    let mut rng = rand::rng();
    let mut offset = 0;
    while offset < total {
        let n = CHUNK.min((total - offset) as usize);
        rng.fill_bytes(&mut buf[..n]);
        storage.write_at(offset, &buf[..n])?;
        offset += n as u64;
        progress(offset, total);
    }
    storage.sync()?;
    Ok(())
}

/// Restore the header of the container at `path` from an exported header (`secvol header
/// backup`). The export must unlock with `password` and belong to this container.
pub fn restore_header(
    path: &Path,
    exported: &[u8],
    password: &SecretString,
) -> Result<UnlockedContainer, ContainerError> {
    restore_header_with(path, exported, &[Credential::Password(password)])
}

/// [`restore_header`] with any credentials that opened a keyslot of the export.
pub fn restore_header_with(
    path: &Path,
    exported: &[u8],
    credentials: &[Credential<'_>],
) -> Result<UnlockedContainer, ContainerError> {
    let storage: Arc<dyn Storage> = match FileStorage::open(path, Access::ReadWrite)? {
        Ok(storage) => Arc::new(storage),
        Err(_locked) => {
            return Err(ContainerError::InUse {
                path: path.to_owned(),
            });
        }
    };
    restore_header_on_with(storage, path, exported, credentials)
}

/// [`restore_header`] on any storage.
pub fn restore_header_on(
    storage: Arc<dyn Storage>,
    path: &Path,
    exported: &[u8],
    password: &SecretString,
) -> Result<UnlockedContainer, ContainerError> {
    restore_header_on_with(storage, path, exported, &[Credential::Password(password)])
}

/// [`restore_header_on`] with any credentials.
pub fn restore_header_on_with(
    storage: Arc<dyn Storage>,
    path: &Path,
    exported: &[u8],
    credentials: &[Credential<'_>],
) -> Result<UnlockedContainer, ContainerError> {
    let header = match Header::parse(exported) {
        Ok(header) => header,
        Err(ParseError::UnsupportedVersion(found)) => {
            return Err(ContainerError::UnsupportedVersion {
                found,
                supported: FORMAT_VERSION,
            });
        }
        Err(ParseError::Damaged(damage)) => {
            return Err(ContainerError::HeadersDamaged {
                primary: damage,
                backup: damage,
            });
        }
    };
    let file_len = storage.len()?;
    let current = Container::open_storage(Arc::clone(&storage), path, Access::ReadWrite)
        .ok()
        .map(|c| (c.header().container_id, c.header().geometry.container_len));
    // The container keeps its current length: a backup made before a resize describes
    // another one (docs/format.md §11). Without a readable copy, the file's length is the
    // current one, unless it is shorter than the backup says.
    let current_len = match current {
        Some((_, len)) => len,
        None if file_len >= header.geometry.container_len => file_len - file_len % BLOCK_SIZE_U64,
        None => {
            return Err(ContainerError::Truncated {
                path: path.to_owned(),
                expected: header.geometry.container_len,
                actual: file_len,
            });
        }
    };
    let current_id = current.map(|(id, _)| id);
    let candidate = Container {
        storage: Arc::clone(&storage),
        path: path.to_owned(),
        primary: Some(header.clone()),
        backup: None,
        status: HeaderStatus {
            primary: Ok(()),
            backup: Ok(()),
            copies_differ: false,
        },
        access: Access::ReadWrite,
    };
    let mut unlocked = candidate.unlock_with(credentials)?;
    let foreign = || ContainerError::ForeignHeader {
        found: header.container_id_string(),
        expected: "this file, whose data does not open with it (another container, or one \
                   that was destroyed)"
            .into(),
    };
    match current_id {
        Some(id) if id != header.container_id => {
            let mut expected = header.clone();
            expected.container_id = id;
            return Err(ContainerError::ForeignHeader {
                found: header.container_id_string(),
                expected: expected.container_id_string(),
            });
        }
        Some(_) => {}
        // Both copies unreadable: the data itself must authenticate under the restored key.
        None => match unlocked.open_device(true) {
            Ok(_) => {}
            Err(ContainerError::Block(BlockError::SuperRecordDamaged)) => return Err(foreign()),
            Err(err) => return Err(err),
        },
    }
    if unlocked.header.geometry.container_len != current_len {
        unlocked.header.geometry = Geometry::for_container_len(current_len, unlocked.header.suite)
            .ok_or_else(|| ContainerError::NotAContainer {
                path: path.to_owned(),
            })?;
    }
    unlocked.write_headers()?;
    unlocked.status = HeaderStatus {
        primary: Ok(()),
        backup: Ok(()),
        copies_differ: false,
    };
    Ok(unlocked)
}

impl UnlockedContainer {
    /// The authenticated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The keyslot the password opened.
    pub fn opened_slot(&self) -> usize {
        self.opened_slot
    }

    /// What opens the keyslot that was opened.
    pub fn opened_kind(&self) -> KeyslotKind {
        match &self.header.keyslots[self.opened_slot] {
            Keyslot::Active(slot) => slot.kind,
            Keyslot::Empty => unreachable!("the opened keyslot is active"),
        }
    }

    /// Whether the primary copy was unusable and the backup copy was used.
    pub fn opened_from_backup(&self) -> bool {
        self.opened_from_backup
    }

    /// The state of both header copies when the container was opened.
    pub fn header_status(&self) -> HeaderStatus {
        self.status
    }

    /// The file this container was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn ensure_writable(&self) -> Result<(), ContainerError> {
        if self.access == Access::ReadWrite {
            Ok(())
        } else {
            Err(ContainerError::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the container was opened read-only",
            )))
        }
    }

    /// Rewrite both header copies from the authenticated header: primary, sync, backup, sync.
    pub fn write_headers(&mut self) -> Result<(), ContainerError> {
        self.ensure_writable()?;
        let mac_key = derive_subkey(
            &self.master,
            &self.header.container_id,
            KeyPurpose::HeaderMac,
        );
        self.header.mac = self.header.compute_mac(&mac_key);
        let bytes = self.header.to_bytes();
        self.storage.write_at(0, &bytes)?;
        self.storage.sync()?;
        self.storage
            .write_at(self.header.geometry.backup_header_offset(), &bytes)?;
        self.storage.sync()?;
        self.status = HeaderStatus {
            primary: Ok(()),
            backup: Ok(()),
            copies_differ: false,
        };
        self.opened_from_backup = false;
        Ok(())
    }

    /// Replace the password of the keyslot that was opened (new salt, `kdf` cost).
    pub fn change_password(
        &mut self,
        new_password: &SecretString,
        kdf: ScryptParams,
    ) -> Result<(), ContainerError> {
        self.change_password_with(&Credential::Password(new_password), kdf)
    }

    /// Replace the secret of the keyslot that was opened by `credential`, which must be of the
    /// slot's kind (a password keyslot gets a new password; a password-and-keyfile keyslot a
    /// new password with its keyfile). Keyfile-only and recovery-key slots have no password
    /// to change: they are replaced with `add_keyslot_with` and `remove_keyslot`.
    pub fn change_password_with(
        &mut self,
        credential: &Credential<'_>,
        kdf: ScryptParams,
    ) -> Result<(), ContainerError> {
        self.ensure_writable()?;
        let slot = self.opened_slot;
        let kind = self.opened_kind();
        let has_password = matches!(
            kind,
            KeyslotKind::Password(_) | KeyslotKind::PasswordAndKeyfile(_)
        );
        if !has_password || !credential.fits(kind) {
            return Err(ContainerError::WrongKeyslotKind {
                slot,
                needs: kind.needs(),
                hint: "add a keyslot with 'secvol key add' and remove this one with 'secvol key \
                       remove' instead",
            });
        }
        self.header.keyslots[slot] = Keyslot::Active(wrap_master(
            &self.master,
            credential,
            kdf,
            &self.header.container_id,
            slot,
        )?);
        self.write_headers()
    }

    /// Add a keyslot for another password; returns its index.
    pub fn add_keyslot(
        &mut self,
        new_password: &SecretString,
        kdf: ScryptParams,
    ) -> Result<usize, ContainerError> {
        self.add_keyslot_with(&Credential::Password(new_password), kdf)
    }

    /// Add a keyslot opened by `credential` (password, password and keyfile, keyfile, recovery
    /// key; `kdf` is ignored for a recovery key); returns its index.
    pub fn add_keyslot_with(
        &mut self,
        credential: &Credential<'_>,
        kdf: ScryptParams,
    ) -> Result<usize, ContainerError> {
        self.ensure_writable()?;
        let slot = self
            .header
            .keyslots
            .iter()
            .position(|s| *s == Keyslot::Empty)
            .ok_or(ContainerError::NoFreeKeyslot(KEYSLOTS))?;
        self.header.keyslots[slot] = Keyslot::Active(wrap_master(
            &self.master,
            credential,
            kdf,
            &self.header.container_id,
            slot,
        )?);
        self.write_headers()?;
        Ok(slot)
    }

    /// Remove keyslot `slot`; refuses to remove the last active one.
    pub fn remove_keyslot(&mut self, slot: usize) -> Result<(), ContainerError> {
        self.ensure_writable()?;
        match self.header.keyslots.get(slot) {
            None => {
                return Err(ContainerError::BadKeyslot {
                    slot,
                    state: "out of range",
                });
            }
            Some(Keyslot::Empty) => {
                return Err(ContainerError::BadKeyslot {
                    slot,
                    state: "empty",
                });
            }
            Some(Keyslot::Active(_)) => {}
        }
        if self.header.active_slots().count() == 1 {
            return Err(ContainerError::LastKeyslot(slot));
        }
        self.header.keyslots[slot] = Keyslot::Empty;
        self.write_headers()
    }

    /// The authenticated header, serialized, for `secvol header backup`.
    pub fn export_header(&self) -> [u8; HEADER_LEN] {
        self.header.to_bytes()
    }

    /// Open the encrypted block device of this container with the decorators `mode` calls
    /// for (see [`crate::stack`]).
    pub fn open_stack(&self, mode: DeviceMode) -> Result<DeviceStack, ContainerError> {
        let device = self.open_device(mode.is_read_only())?;
        DeviceStack::build(Arc::new(device), mode).map_err(|err| {
            ContainerError::Io(std::io::Error::new(
                err.kind(),
                format!("cannot start a container thread: {err}"),
            ))
        })
    }

    /// Open the encrypted block device of this container.
    pub fn open_device(&self, read_only: bool) -> Result<EncryptedDevice, ContainerError> {
        let read_only = read_only || self.access != Access::ReadWrite;
        let block_key = derive_subkey(
            &self.master,
            &self.header.container_id,
            KeyPurpose::BlockEncryption,
        );
        Ok(EncryptedDevice::open(
            Arc::clone(&self.storage),
            self.header.geometry,
            Aead::new(self.header.suite, &block_key),
            self.header.container_id,
            read_only,
        )?)
    }
}
