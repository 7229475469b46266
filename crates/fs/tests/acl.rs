//! POSIX ACLs through the file-system API: the permission bits follow the access ACL and
//! `chmod` follows into it, default ACLs are inherited by every way of creating files (inode
//! API, path API, offline commands; the umask applies only without one), the set-group-ID
//! bit is cleared for callers outside the file's group, malformed ACLs are refused, and
//! everything survives a reopen.

mod common;

use std::sync::Arc;

use common::*;
use secvol_fs::{
    CallerGroups, CaseRule, Ctx, FsError, NewKind, OpenFlags, PathFs, ROOT_INO, SetAttr, WinAttrs,
    XattrMode,
};

const ACCESS: &[u8] = b"system.posix_acl_access";
const DEFAULT: &[u8] = b"system.posix_acl_default";

const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
const NO_ID: u32 = u32::MAX;

/// An ACL attribute value from (tag, permission bits, id) entries, as the kernel sends it.
fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut out = 2u32.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    out
}

/// (tag, perm, id) entries of a stored ACL.
fn entries(value: &[u8]) -> Vec<(u16, u16, u32)> {
    assert_eq!(&value[..4], &2u32.to_le_bytes());
    value[4..]
        .chunks(8)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u16::from_le_bytes([e[2], e[3]]),
                u32::from_le_bytes(e[4..8].try_into().unwrap()),
            )
        })
        .collect()
}

/// `setfacl -d --set u::rwx,u:1001:rwx,g::r-x,m::rwx,o::--- DIR`; returns the ACL set.
fn share_with_1001(fs: &secvol_fs::Fs, dir: u64) -> Vec<u8> {
    let default = acl(&[
        (USER_OBJ, 7, NO_ID),
        (USER, 7, 1001),
        (GROUP_OBJ, 5, NO_ID),
        (MASK, 7, NO_ID),
        (OTHER, 0, NO_ID),
    ]);
    fs.setxattr(dir, DEFAULT, &default, XattrMode::Any).unwrap();
    default
}

fn file(fs: &secvol_fs::Fs, name: &[u8], perm: u16) -> u64 {
    let (attr, fh) = fs
        .create(ROOT_INO, name, perm, OpenFlags::READ_WRITE, ME)
        .unwrap();
    fs.release(fh).unwrap();
    attr.ino
}

#[test]
fn a_minimal_access_acl_sets_the_mode_bits_and_is_not_stored() {
    let fs = open(new_storage(8 << 20));
    let ino = file(&fs, b"f", 0o764);
    // setfacl -m u::r--,g::rwx,o::rw- f (xfstests generic/099): ext4 shows -r--rwxrw-.
    let value = acl(&[
        (USER_OBJ, 4, NO_ID),
        (GROUP_OBJ, 7, NO_ID),
        (OTHER, 6, NO_ID),
    ]);
    fs.setxattr(ino, ACCESS, &value, XattrMode::Any).unwrap();
    assert_eq!(fs.getattr(ino).unwrap().perm, 0o476);
    assert!(matches!(fs.getxattr(ino, ACCESS), Err(FsError::NoXattr)));
    assert!(fs.listxattr(ino).unwrap().is_empty());
}

#[test]
fn an_extended_access_acl_is_stored_and_its_mask_becomes_the_group_bits() {
    let fs = open(new_storage(8 << 20));
    let ino = file(&fs, b"f", 0o644);
    let value = acl(&[
        (USER_OBJ, 6, NO_ID),
        (USER, 6, 1001),
        (GROUP_OBJ, 4, NO_ID),
        (GROUP, 4, 2000),
        (MASK, 6, NO_ID),
        (OTHER, 0, NO_ID),
    ]);
    fs.setxattr(ino, ACCESS, &value, XattrMode::Any).unwrap();
    assert_eq!(fs.getattr(ino).unwrap().perm, 0o660);
    assert_eq!(fs.getxattr(ino, ACCESS).unwrap(), value);
    // Setting a minimal one afterwards removes it again.
    let minimal = acl(&[
        (USER_OBJ, 6, NO_ID),
        (GROUP_OBJ, 4, NO_ID),
        (OTHER, 4, NO_ID),
    ]);
    fs.setxattr(ino, ACCESS, &minimal, XattrMode::Any).unwrap();
    assert_eq!(fs.getattr(ino).unwrap().perm, 0o644);
    assert!(matches!(fs.getxattr(ino, ACCESS), Err(FsError::NoXattr)));
    // Removing an ACL leaves the bits as they are.
    fs.setxattr(ino, ACCESS, &value, XattrMode::Any).unwrap();
    fs.removexattr(ino, ACCESS).unwrap();
    assert_eq!(fs.getattr(ino).unwrap().perm, 0o660);
}

#[test]
fn chmod_rewrites_the_owner_mask_and_other_entries_of_the_stored_acl() {
    let fs = open(new_storage(8 << 20));
    let ino = file(&fs, b"f", 0o644);
    fs.setxattr(
        ino,
        ACCESS,
        &acl(&[
            (USER_OBJ, 6, NO_ID),
            (USER, 7, 1001),
            (GROUP_OBJ, 4, NO_ID),
            (MASK, 7, NO_ID),
            (OTHER, 4, NO_ID),
        ]),
        XattrMode::Any,
    )
    .unwrap();
    fs.setattr(
        ino,
        SetAttr {
            perm: Some(0o750),
            ..SetAttr::default()
        },
    )
    .unwrap();
    assert_eq!(
        entries(&fs.getxattr(ino, ACCESS).unwrap()),
        [
            (USER_OBJ, 7, NO_ID),
            (USER, 7, 1001),
            (GROUP_OBJ, 4, NO_ID),
            (MASK, 5, NO_ID),
            (OTHER, 0, NO_ID),
        ]
    );
}

#[test]
fn malformed_acls_misplaced_default_acls_and_acls_on_symlinks_are_refused() {
    let fs = open(new_storage(8 << 20));
    let ino = file(&fs, b"f", 0o644);
    for bad in [
        b"not an acl".to_vec(),
        acl(&[(USER_OBJ, 6, NO_ID), (OTHER, 4, NO_ID)]),
        acl(&[
            (USER_OBJ, 6, NO_ID),
            (USER, 6, 5),
            (GROUP_OBJ, 4, NO_ID),
            (OTHER, 4, NO_ID),
        ]),
        acl(&[
            (USER_OBJ, 9, NO_ID),
            (GROUP_OBJ, 4, NO_ID),
            (OTHER, 4, NO_ID),
        ]),
    ] {
        assert!(
            matches!(
                fs.setxattr(ino, ACCESS, &bad, XattrMode::Any),
                Err(FsError::Invalid(_))
            ),
            "accepted {bad:?}"
        );
    }
    assert_eq!(fs.getattr(ino).unwrap().perm, 0o644);
    let minimal = acl(&[
        (USER_OBJ, 7, NO_ID),
        (GROUP_OBJ, 5, NO_ID),
        (OTHER, 0, NO_ID),
    ]);
    assert!(matches!(
        fs.setxattr(ino, DEFAULT, &minimal, XattrMode::Any),
        Err(FsError::Invalid(_))
    ));
    let link = fs.symlink(ROOT_INO, b"l", b"f", ME).unwrap();
    assert!(matches!(
        fs.setxattr(link.ino, ACCESS, &minimal, XattrMode::Any),
        Err(FsError::NotSupported)
    ));
    assert!(fs.listxattr(ino).unwrap().is_empty());
}

#[test]
fn new_files_and_directories_inherit_the_default_acl_and_ignore_the_umask() {
    let fs = open(new_storage(8 << 20));
    let dir = fs.mkdir(ROOT_INO, b"shared", 0o755, ME).unwrap().ino;
    let default = share_with_1001(&fs, dir);
    assert_eq!(fs.getxattr(dir, DEFAULT).unwrap(), default);

    let (new, fh) = fs
        .create_with_umask(dir, b"report", 0o666, 0o077, OpenFlags::READ_WRITE, ME)
        .unwrap();
    fs.release(fh).unwrap();
    assert_eq!(new.perm, 0o660, "mode masked by the ACL, umask 077 ignored");
    assert_eq!(
        entries(&fs.getxattr(new.ino, ACCESS).unwrap()),
        [
            (USER_OBJ, 6, NO_ID),
            (USER, 7, 1001),
            (GROUP_OBJ, 5, NO_ID),
            (MASK, 6, NO_ID),
            (OTHER, 0, NO_ID),
        ]
    );
    assert!(matches!(
        fs.getxattr(new.ino, DEFAULT),
        Err(FsError::NoXattr)
    ));

    let sub = fs.mkdir_with_umask(dir, b"sub", 0o777, 0o077, ME).unwrap();
    assert_eq!(sub.perm, 0o770);
    assert_eq!(fs.getxattr(sub.ino, DEFAULT).unwrap(), default);
    assert_eq!(
        entries(&fs.getxattr(sub.ino, ACCESS).unwrap())[3],
        (MASK, 7, NO_ID)
    );
    // And further down, from the inherited default ACL.
    let deeper = fs
        .mkdir_with_umask(sub.ino, b"deeper", 0o755, 0o077, ME)
        .unwrap();
    assert_eq!(deeper.perm, 0o750);
    assert_eq!(fs.getxattr(deeper.ino, DEFAULT).unwrap(), default);
    // Symbolic links get no ACL.
    let link = fs.symlink(dir, b"link", b"report", ME).unwrap();
    assert!(fs.listxattr(link.ino).unwrap().is_empty());
}

#[test]
fn files_made_by_path_and_by_the_offline_commands_inherit_the_default_acl_too() {
    let fs = Arc::new(open(new_storage(8 << 20)));
    let dir = fs.mkdir(ROOT_INO, b"shared", 0o755, ME).unwrap().ino;
    let default = share_with_1001(&fs, dir);
    let inherits = |attr: &secvol_fs::Attr, perm: u16| {
        assert_eq!(attr.perm, perm);
        assert_eq!(
            entries(&fs.getxattr(attr.ino, ACCESS).unwrap())[1],
            (USER, 7, 1001)
        );
    };

    // The path-and-handle API (WinFsp).
    let api = PathFs::new(Arc::clone(&fs), CaseRule::Sensitive);
    let file = api
        .create(
            b"/shared/scan.pdf",
            NewKind::File,
            0o666,
            WinAttrs::NONE,
            ME,
        )
        .unwrap();
    inherits(&file.attr, 0o660);
    api.close(file.handle, None).unwrap();
    let folder = api
        .create(
            b"/shared/2024",
            NewKind::Directory,
            0o777,
            WinAttrs::NONE,
            ME,
        )
        .unwrap();
    inherits(&folder.attr, 0o770);
    assert_eq!(fs.getxattr(folder.attr.ino, DEFAULT).unwrap(), default);
    api.close(folder.handle, None).unwrap();

    // The offline commands (`secvol put`, `mkdir`).
    let (put, fh) = fs
        .make_file(dir, b"letter.txt", 0o644, OpenFlags::READ_WRITE, ME)
        .unwrap();
    fs.release(fh).unwrap();
    inherits(&put, 0o640);
    let made = fs.make_dir(dir, b"old", 0o755, ME).unwrap();
    inherits(&made, 0o750);
    assert_eq!(fs.getxattr(made.ino, DEFAULT).unwrap(), default);
    let link = fs.make_symlink(dir, b"latest", b"letter.txt", ME).unwrap();
    assert!(fs.listxattr(link.ino).unwrap().is_empty());
}

#[test]
fn without_a_default_acl_the_umask_applies() {
    let fs = open(new_storage(8 << 20));
    let (attr, fh) = fs
        .create_with_umask(ROOT_INO, b"f", 0o666, 0o027, OpenFlags::READ_WRITE, ME)
        .unwrap();
    fs.release(fh).unwrap();
    assert_eq!(attr.perm, 0o640);
    let dir = fs
        .mkdir_with_umask(ROOT_INO, b"d", 0o2777, 0o022, ME)
        .unwrap();
    assert_eq!(dir.perm, 0o2755);
    let fifo = fs
        .mknod_with_umask(
            ROOT_INO,
            b"p",
            secvol_fs::FileKind::NamedPipe,
            0o666,
            0o066,
            0,
            ME,
        )
        .unwrap();
    assert_eq!(fifo.perm, 0o600);
    assert!(fs.listxattr(attr.ino).unwrap().is_empty());
}

#[test]
fn setting_an_acl_clears_setgid_for_a_caller_outside_the_group_only() {
    let fs = open(new_storage(8 << 20));
    let owner = Ctx {
        uid: 1000,
        gid: 100,
    };
    let mk = |name: &[u8]| {
        let (attr, fh) = fs
            .create(ROOT_INO, name, 0o2755, OpenFlags::READ_WRITE, owner)
            .unwrap();
        fs.release(fh).unwrap();
        assert_eq!(attr.perm, 0o2755);
        attr.ino
    };
    // setfacl -m u::rwx,g::rwx,o::rwx (xfstests generic/375)
    let all = acl(&[
        (USER_OBJ, 7, NO_ID),
        (GROUP_OBJ, 7, NO_ID),
        (OTHER, 7, NO_ID),
    ]);
    let outsider = CallerGroups {
        gid: 101,
        groups: vec![102],
        privileged: false,
    };
    let ino = mk(b"outsider");
    fs.setxattr_as(ino, ACCESS, &all, XattrMode::Any, &outsider)
        .unwrap();
    assert_eq!(fs.getattr(ino).unwrap().perm, 0o777);

    let member = CallerGroups {
        gid: 101,
        groups: vec![100],
        privileged: false,
    };
    let ino = mk(b"member");
    fs.setxattr_as(ino, ACCESS, &all, XattrMode::Any, &member)
        .unwrap();
    assert_eq!(fs.getattr(ino).unwrap().perm, 0o2777);

    let ino = mk(b"privileged");
    fs.setxattr_as(ino, ACCESS, &all, XattrMode::Any, &CallerGroups::PRIVILEGED)
        .unwrap();
    assert_eq!(fs.getattr(ino).unwrap().perm, 0o2777);
}

#[test]
fn acls_survive_a_reopen_and_check_stays_clean() {
    let storage = new_storage(8 << 20);
    let fs = open(storage.clone());
    let dir = fs.mkdir(ROOT_INO, b"d", 0o750, ME).unwrap().ino;
    let value = acl(&[
        (USER_OBJ, 7, NO_ID),
        (GROUP_OBJ, 5, NO_ID),
        (GROUP, 7, 3000),
        (MASK, 7, NO_ID),
        (OTHER, 0, NO_ID),
    ]);
    fs.setxattr(dir, ACCESS, &value, XattrMode::Any).unwrap();
    fs.setxattr(dir, DEFAULT, &value, XattrMode::Any).unwrap();
    fs.close().unwrap();

    let fs = open(storage.clone());
    let dir = fs.resolve(b"/d").unwrap();
    assert_eq!(dir.perm, 0o770);
    assert_eq!(fs.getxattr(dir.ino, ACCESS).unwrap(), value);
    assert_eq!(fs.getxattr(dir.ino, DEFAULT).unwrap(), value);
    fs.close().unwrap();
    let report = check_storage(storage).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
