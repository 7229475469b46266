//! POSIX access control lists: the Linux extended attributes `system.posix_acl_access` and
//! `system.posix_acl_default`, and the rules that keep them and the permission bits
//! consistent.
//!
//! The file system stores an ACL as the extended attribute the kernel hands over, after
//! checking it as the kernel does, and keeps the POSIX rules that are the file system's job
//! (on Linux, a FUSE file system that announces ACL support is trusted with them):
//!
//! * setting an access ACL sets the permission bits from it (owner, mask or group, other),
//!   and an ACL that says no more than the bits is not stored at all;
//! * `chmod` rewrites a stored access ACL (owner, mask or group, other entries);
//! * a new file or directory in a directory with a default ACL inherits it (masked by the
//!   mode asked for; the umask is ignored then), a new directory also as its default ACL;
//!   without one the umask applies;
//! * setting an access ACL that changes the mode clears the set-group-ID bit unless the
//!   caller is in the file's group or privileged.
//!
//! The checking itself (who may read, write, search) is the kernel's, from the ACL it reads
//! back. This module must not know about front-ends or how the caller's groups are learned.

use crate::error::{FsError, FsResult};
use crate::fs::Ctx;
use crate::inode::FileKind;

/// Name of the access ACL attribute.
pub(crate) const ACCESS: &[u8] = b"system.posix_acl_access";
/// Name of the default ACL attribute (directories only).
pub(crate) const DEFAULT: &[u8] = b"system.posix_acl_default";

/// Whether `name` is one of the two POSIX ACL attributes.
pub(crate) fn is_acl_name(name: &[u8]) -> bool {
    name == ACCESS || name == DEFAULT
}

/// Version field of the attribute format.
const VERSION: u32 = 2;
const HEADER_LEN: usize = 4;
const ENTRY_LEN: usize = 8;
/// The id stored in entries that name no user or group.
const UNDEFINED_ID: u32 = u32::MAX;
const RWX: u16 = 0o7;

fn invalid() -> FsError {
    FsError::Invalid("not a valid POSIX ACL")
}

/// The kind of an ACL entry (Linux `ACL_USER_OBJ` .. `ACL_OTHER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tag {
    UserObj,
    User,
    GroupObj,
    Group,
    Mask,
    Other,
}

impl Tag {
    fn code(self) -> u16 {
        match self {
            Tag::UserObj => 0x01,
            Tag::User => 0x02,
            Tag::GroupObj => 0x04,
            Tag::Group => 0x08,
            Tag::Mask => 0x10,
            Tag::Other => 0x20,
        }
    }

    fn from_code(code: u16) -> Option<Tag> {
        Some(match code {
            0x01 => Tag::UserObj,
            0x02 => Tag::User,
            0x04 => Tag::GroupObj,
            0x08 => Tag::Group,
            0x10 => Tag::Mask,
            0x20 => Tag::Other,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    tag: Tag,
    perm: u16,
    id: u32,
}

/// A valid POSIX ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Acl {
    entries: Vec<Entry>,
}

impl Acl {
    /// Parse and check an ACL attribute value as Linux does (`posix_acl_from_xattr` and
    /// `posix_acl_valid`): version 2; entries in the order owner, named users, owning group,
    /// named groups, mask, other; one owner, owning group and other entry; a mask when there
    /// are named entries; permissions within `rwx`.
    pub(crate) fn parse(bytes: &[u8]) -> FsResult<Acl> {
        if bytes.len() < HEADER_LEN + ENTRY_LEN
            || !(bytes.len() - HEADER_LEN).is_multiple_of(ENTRY_LEN)
        {
            return Err(invalid());
        }
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        if u32_at(0) != VERSION {
            return Err(invalid());
        }
        let mut entries = Vec::new();
        for at in (HEADER_LEN..bytes.len()).step_by(ENTRY_LEN) {
            let tag = Tag::from_code(u16_at(at)).ok_or_else(invalid)?;
            let perm = u16_at(at + 2);
            let named = matches!(tag, Tag::User | Tag::Group);
            let id = if named { u32_at(at + 4) } else { UNDEFINED_ID };
            if perm & !RWX != 0 || (named && id == UNDEFINED_ID) {
                return Err(invalid());
            }
            entries.push(Entry { tag, perm, id });
        }
        let acl = Acl { entries };
        acl.check_order()?;
        Ok(acl)
    }

    /// The state machine of Linux's `posix_acl_valid`.
    fn check_order(&self) -> FsResult<()> {
        #[derive(PartialEq)]
        enum Expect {
            UserObj,
            Users,
            Groups,
            Other,
            Done,
        }
        let mut state = Expect::UserObj;
        let mut named = false;
        for entry in &self.entries {
            state = match (entry.tag, state) {
                (Tag::UserObj, Expect::UserObj) => Expect::Users,
                (Tag::User, Expect::Users) => {
                    named = true;
                    Expect::Users
                }
                (Tag::GroupObj, Expect::Users) => Expect::Groups,
                (Tag::Group, Expect::Groups) => {
                    named = true;
                    Expect::Groups
                }
                (Tag::Mask, Expect::Groups) => Expect::Other,
                (Tag::Other, Expect::Other) => Expect::Done,
                (Tag::Other, Expect::Groups) if !named => Expect::Done,
                _ => return Err(invalid()),
            };
        }
        if state == Expect::Done {
            Ok(())
        } else {
            Err(invalid())
        }
    }

    /// The attribute value (ids of unnamed entries written as -1, as Linux does).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + ENTRY_LEN * self.entries.len());
        out.extend_from_slice(&VERSION.to_le_bytes());
        for entry in &self.entries {
            out.extend_from_slice(&entry.tag.code().to_le_bytes());
            out.extend_from_slice(&entry.perm.to_le_bytes());
            out.extend_from_slice(&entry.id.to_le_bytes());
        }
        out
    }

    /// Whether the ACL says nothing the permission bits do not (only the owner, owning group
    /// and other entries): such an ACL is not stored.
    pub(crate) fn is_minimal(&self) -> bool {
        self.entries
            .iter()
            .all(|e| matches!(e.tag, Tag::UserObj | Tag::GroupObj | Tag::Other))
    }

    fn entry(&mut self, tag: Tag) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.tag == tag)
    }

    /// The `rwxrwxrwx` bits the ACL implies (Linux `posix_acl_equiv_mode`): the owner entry,
    /// the mask entry if there is one (the owning group entry otherwise), the other entry.
    pub(crate) fn mode_bits(&self) -> u16 {
        let perm_of = |tag: Tag| {
            self.entries
                .iter()
                .find(|e| e.tag == tag)
                .map_or(0, |e| e.perm)
        };
        let group = if self.entries.iter().any(|e| e.tag == Tag::Mask) {
            perm_of(Tag::Mask)
        } else {
            perm_of(Tag::GroupObj)
        };
        perm_of(Tag::UserObj) << 6 | group << 3 | perm_of(Tag::Other)
    }

    /// Follow a `chmod` to `perm` (Linux `posix_acl_chmod`): the owner, mask (or owning group)
    /// and other entries take the new bits; named entries keep theirs.
    pub(crate) fn chmod(&mut self, perm: u16) {
        let has_mask = self.entries.iter().any(|e| e.tag == Tag::Mask);
        let group_tag = if has_mask { Tag::Mask } else { Tag::GroupObj };
        for (tag, bits) in [
            (Tag::UserObj, perm >> 6),
            (group_tag, perm >> 3),
            (Tag::Other, perm),
        ] {
            if let Some(entry) = self.entry(tag) {
                entry.perm = bits & RWX;
            }
        }
    }

    /// Inherit this default ACL for a new node asking for permission bits `perm` (Linux
    /// `posix_acl_create_masq`): each of the owner, other and mask (or owning group) entries
    /// keeps only what `perm` allows, and `perm` keeps only what they allow. Returns the new
    /// node's permission bits (the set-ID and sticky bits of `perm` kept).
    pub(crate) fn create_masq(&mut self, perm: u16) -> u16 {
        let mut mode = perm & 0o777;
        let has_mask = self.entries.iter().any(|e| e.tag == Tag::Mask);
        let group_tag = if has_mask { Tag::Mask } else { Tag::GroupObj };
        for (tag, shift) in [(Tag::UserObj, 6), (group_tag, 3), (Tag::Other, 0)] {
            if let Some(entry) = self.entry(tag) {
                entry.perm &= (mode >> shift) & RWX;
                mode &= !(RWX << shift) | (entry.perm << shift);
            }
        }
        (perm & !0o777) | mode
    }
}

/// The groups of the caller of an ACL change, for the set-group-ID rule: setting an access
/// ACL that changes the mode clears the set-group-ID bit unless the caller is in the file's
/// group or privileged (Linux: `CAP_FSETID`), as `chmod` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerGroups {
    /// Effective (file-system) group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Whether the caller may keep set-group-ID bits of files whose group it is not in.
    pub privileged: bool,
}

impl CallerGroups {
    /// A caller that keeps every set-group-ID bit (offline access by the container's owner).
    pub const PRIVILEGED: CallerGroups = CallerGroups {
        gid: 0,
        groups: Vec::new(),
        privileged: true,
    };

    /// A caller known only by its effective ids (no supplementary groups, not privileged).
    pub fn of(ctx: Ctx) -> CallerGroups {
        CallerGroups {
            gid: ctx.gid,
            groups: Vec::new(),
            privileged: false,
        }
    }

    /// Whether the caller may keep the set-group-ID bit of a file of group `gid`.
    pub(crate) fn keeps_setgid_of(&self, gid: u32) -> bool {
        self.privileged || self.gid == gid || self.groups.contains(&gid)
    }
}

/// What a new node gets from its directory: its permission bits, and the ACL attributes to
/// store with it.
#[derive(Debug, Default)]
pub(crate) struct Inherited {
    pub(crate) access: Option<Vec<u8>>,
    pub(crate) default: Option<Vec<u8>>,
}

/// The permission bits and ACLs of a new node of `kind` asking for `perm` with `umask`, in a
/// directory whose default ACL is `parent_default` (Linux `posix_acl_create`). Symbolic links
/// have no ACLs and their bits are fixed.
pub(crate) fn inherit(
    kind: FileKind,
    perm: u16,
    umask: u16,
    parent_default: Option<&[u8]>,
) -> FsResult<(u16, Inherited)> {
    if kind == FileKind::Symlink {
        return Ok((perm, Inherited::default()));
    }
    let Some(default) = parent_default else {
        return Ok((perm & !(umask & 0o777), Inherited::default()));
    };
    let mut acl = Acl::parse(default).map_err(|_| FsError::RecordDamaged {
        what: "a directory's default ACL is not a valid ACL".into(),
    })?;
    let perm = acl.create_masq(perm);
    let inherited = Inherited {
        access: (!acl.is_minimal()).then(|| acl.encode()),
        default: (kind == FileKind::Directory).then(|| default.to_vec()),
    };
    Ok((perm, inherited))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ACL from (tag code, perm, id) triples.
    fn raw(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut out = VERSION.to_le_bytes().to_vec();
        for &(tag, perm, id) in entries {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&perm.to_le_bytes());
            out.extend_from_slice(&id.to_le_bytes());
        }
        out
    }

    const U: u32 = UNDEFINED_ID;

    #[test]
    fn a_minimal_acl_is_equivalent_to_the_mode_bits() {
        // setfacl -m u::r--,g::rwx,o::rw-
        let acl = Acl::parse(&raw(&[(0x01, 4, U), (0x04, 7, U), (0x20, 6, U)])).unwrap();
        assert!(acl.is_minimal());
        assert_eq!(acl.mode_bits(), 0o476);
    }

    #[test]
    fn an_extended_acl_takes_the_group_bits_from_its_mask() {
        let acl = Acl::parse(&raw(&[
            (0x01, 6, U),
            (0x02, 7, 1000),
            (0x04, 4, U),
            (0x10, 5, U),
            (0x20, 0, U),
        ]))
        .unwrap();
        assert!(!acl.is_minimal());
        assert_eq!(acl.mode_bits(), 0o650);
        // A mask alone also makes an ACL worth storing.
        let mask_only = Acl::parse(&raw(&[
            (0x01, 6, U),
            (0x04, 4, U),
            (0x10, 0, U),
            (0x20, 0, U),
        ]))
        .unwrap();
        assert!(!mask_only.is_minimal());
        assert_eq!(mask_only.mode_bits(), 0o600);
    }

    #[test]
    fn malformed_acls_are_refused() {
        let valid = [(0x01, 6, U), (0x04, 4, U), (0x20, 4, U)];
        assert!(Acl::parse(&raw(&valid)).is_ok());
        for bad in [
            // wrong order, missing entries, duplicates
            raw(&[(0x04, 4, U), (0x01, 6, U), (0x20, 4, U)]),
            raw(&[(0x01, 6, U), (0x20, 4, U)]),
            raw(&[(0x01, 6, U), (0x01, 6, U), (0x04, 4, U), (0x20, 4, U)]),
            // named entry without a mask, named entry without an id
            raw(&[(0x01, 6, U), (0x02, 6, 5), (0x04, 4, U), (0x20, 4, U)]),
            raw(&[
                (0x01, 6, U),
                (0x02, 6, U),
                (0x04, 4, U),
                (0x10, 6, U),
                (0x20, 4, U),
            ]),
            // permission outside rwx, unknown tag
            raw(&[(0x01, 8, U), (0x04, 4, U), (0x20, 4, U)]),
            raw(&[(0x01, 6, U), (0x40, 4, U), (0x20, 4, U)]),
            // header only, wrong version, truncated entry
            raw(&[]),
            {
                let mut v = raw(&valid);
                v[0] = 1;
                v
            },
            raw(&valid)[..27].to_vec(),
        ] {
            assert!(Acl::parse(&bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn encoding_round_trips_and_writes_undefined_ids() {
        let bytes = raw(&[
            (0x01, 7, 55),
            (0x02, 5, 1000),
            (0x04, 5, 9),
            (0x08, 1, 100),
            (0x10, 7, 3),
            (0x20, 0, 4),
        ]);
        let acl = Acl::parse(&bytes).unwrap();
        let encoded = acl.encode();
        assert_eq!(Acl::parse(&encoded).unwrap(), acl);
        // The ids of unnamed entries are meaningless and written as -1.
        assert_eq!(&encoded[8..12], &U.to_le_bytes());
        assert_eq!(&encoded[16..20], &1000u32.to_le_bytes());
    }

    #[test]
    fn chmod_rewrites_the_owner_mask_and_other_entries() {
        let mut acl = Acl::parse(&raw(&[
            (0x01, 7, U),
            (0x02, 7, 1000),
            (0x04, 7, U),
            (0x10, 7, U),
            (0x20, 7, U),
        ]))
        .unwrap();
        acl.chmod(0o4750);
        assert_eq!(acl.mode_bits(), 0o750);
        // Named entries and the owning group keep their permissions.
        assert_eq!(acl.entries[1].perm, 7);
        assert_eq!(acl.entries[2].perm, 7);
        let mut minimal = Acl::parse(&raw(&[(0x01, 7, U), (0x04, 7, U), (0x20, 7, U)])).unwrap();
        minimal.chmod(0o640);
        assert_eq!(minimal.mode_bits(), 0o640);
    }

    #[test]
    fn inheritance_masks_the_default_acl_with_the_requested_mode() {
        // default: u::rwx,u:1000:rwx,g::r-x,m::rwx,o::---
        let default = raw(&[
            (0x01, 7, U),
            (0x02, 7, 1000),
            (0x04, 5, U),
            (0x10, 7, U),
            (0x20, 0, U),
        ]);
        // open(..., 0666) of a file: no execute anywhere; the umask is ignored.
        let (perm, got) = inherit(FileKind::RegularFile, 0o666, 0o077, Some(&default)).unwrap();
        assert_eq!(perm, 0o660);
        let access = Acl::parse(got.access.as_ref().unwrap()).unwrap();
        assert_eq!(access.mode_bits(), 0o660);
        assert_eq!(access.entries[1].perm, 7, "named entries are not masked");
        assert!(got.default.is_none());
        // mkdir(..., 02777): the directory gets the default ACL as its own default too.
        let (perm, got) = inherit(FileKind::Directory, 0o2777, 0o022, Some(&default)).unwrap();
        assert_eq!(perm, 0o2770);
        assert_eq!(got.default.as_deref(), Some(&default[..]));
        // A minimal default ACL gives only bits, no access ACL.
        let minimal = raw(&[(0x01, 7, U), (0x04, 7, U), (0x20, 0, U)]);
        let (perm, got) = inherit(FileKind::RegularFile, 0o666, 0o022, Some(&minimal)).unwrap();
        assert_eq!((perm, got.access), (0o660, None));
        // Without a default ACL the umask applies; symlinks keep their bits.
        let (perm, got) = inherit(FileKind::RegularFile, 0o666, 0o022, None).unwrap();
        assert_eq!((perm, got.access, got.default), (0o644, None, None));
        let (perm, _) = inherit(FileKind::Symlink, 0o777, 0o022, Some(&default)).unwrap();
        assert_eq!(perm, 0o777);
    }

    #[test]
    fn the_setgid_rule_looks_at_all_groups_and_privilege() {
        let caller = CallerGroups {
            gid: 10,
            groups: vec![20, 30],
            privileged: false,
        };
        assert!(caller.keeps_setgid_of(10) && caller.keeps_setgid_of(30));
        assert!(!caller.keeps_setgid_of(40));
        assert!(CallerGroups::PRIVILEGED.keeps_setgid_of(40));
    }
}
