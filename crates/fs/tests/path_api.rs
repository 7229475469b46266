//! The path-and-handle API (`PathFs`) that WinFsp and the offline commands use: open and
//! create by path, data through handles, delete-on-close, rename with replace, listings
//! that resume after a marker, Windows attributes, case-insensitive names.

mod common;

use std::sync::Arc;

use common::*;
use secvol_fs::{
    CannotDelete, CaseRule, Expect, FileKind, FsError, NewKind, OpenFlags, PathFs, ROOT_INO, Times,
    Timestamp, WinAttrs,
};

fn path_fs(case: CaseRule) -> (Arc<secvol_core::testing::MemStorage>, PathFs) {
    let storage = new_storage(16 << 20);
    let fs = Arc::new(open(storage.clone()));
    (storage, PathFs::new(fs, case))
}

fn names(listing: &[secvol_fs::Listed]) -> Vec<String> {
    listing
        .iter()
        .map(|l| String::from_utf8_lossy(&l.name).into_owned())
        .collect()
}

#[test]
fn a_file_created_by_path_is_written_through_its_handle_and_reads_back_after_reopen() {
    let (storage, api) = path_fs(CaseRule::Sensitive);
    let dir = api
        .create(b"/Akten", NewKind::Directory, 0o755, WinAttrs::NONE, ME)
        .unwrap();
    assert_eq!(dir.attr.kind, FileKind::Directory);
    let file = api
        .create(
            b"/Akten/befund.pdf",
            NewKind::File,
            0o644,
            WinAttrs::ARCHIVE,
            ME,
        )
        .unwrap();
    assert_eq!(file.attr.win_attrs, WinAttrs::ARCHIVE);
    let data: Vec<u8> = (0..150_000u32).map(|i| (i % 253) as u8).collect();
    let after = api.write(file.handle, 0, &data, false).unwrap();
    assert_eq!(after.size, data.len() as u64);
    let tail = api.write(file.handle, 999, b"end", true).unwrap();
    assert_eq!(
        tail.size,
        data.len() as u64 + 3,
        "at_end ignores the offset"
    );
    assert_eq!(
        api.read(file.handle, 149_998, 100).unwrap(),
        [&data[149_998..], b"end"].concat()
    );
    api.flush(Some(file.handle)).unwrap();
    api.close(file.handle, Some(b"/Akten/befund.pdf")).unwrap();
    api.close(dir.handle, Some(b"/Akten")).unwrap();
    api.fs().close().unwrap();

    let api = PathFs::new(Arc::new(open(storage)), CaseRule::Sensitive);
    let reopened = api
        .open(b"/Akten/befund.pdf", Expect::NonDirectory, false)
        .unwrap();
    assert_eq!(reopened.attr.win_attrs, WinAttrs::ARCHIVE);
    assert_eq!(
        api.read(reopened.handle, 0, 200_000).unwrap(),
        [&data[..], b"end"].concat()
    );
    api.close(reopened.handle, None).unwrap();
    api.fs().close().unwrap();
}

#[test]
fn opening_checks_what_the_caller_expects_and_the_read_only_attribute() {
    let (_storage, api) = path_fs(CaseRule::Sensitive);
    let dir = api
        .create(b"/d", NewKind::Directory, 0o755, WinAttrs::NONE, ME)
        .unwrap();
    let file = api
        .create(b"/d/f", NewKind::File, 0o644, WinAttrs::READONLY, ME)
        .unwrap();
    assert!(matches!(
        api.open(b"/d", Expect::NonDirectory, false),
        Err(FsError::IsDir)
    ));
    assert!(matches!(
        api.open(b"/d/f", Expect::Directory, false),
        Err(FsError::NotDir)
    ));
    assert!(matches!(
        api.open(b"/d/f", Expect::Any, true),
        Err(FsError::NotPermitted)
    ));
    assert!(matches!(
        api.open(b"/d/missing", Expect::Any, false),
        Err(FsError::NotFound)
    ));
    assert!(matches!(
        api.open(b"/d/f/below", Expect::Any, false),
        Err(FsError::NotDir)
    ));
    assert!(matches!(
        api.create(b"/d/f", NewKind::File, 0o644, WinAttrs::NONE, ME),
        Err(FsError::Exists)
    ));
    let read = api.open(b"/d/f", Expect::Any, false).unwrap();
    assert!(matches!(api.read(dir.handle, 0, 10), Err(FsError::IsDir)));
    for handle in [read.handle, file.handle, dir.handle] {
        api.close(handle, None).unwrap();
    }
    assert!(matches!(
        api.close(dir.handle, None),
        Err(FsError::BadHandle)
    ));
}

#[test]
fn size_times_and_windows_attributes_change_through_the_handle() {
    let (_storage, api) = path_fs(CaseRule::Sensitive);
    let file = api
        .create(b"/f", NewKind::File, 0o644, WinAttrs::NONE, ME)
        .unwrap();
    api.write(file.handle, 0, &[7u8; 5000], false).unwrap();
    assert_eq!(api.set_size(file.handle, 100).unwrap().size, 100);
    assert_eq!(api.set_size(file.handle, 70_000).unwrap().size, 70_000);
    assert_eq!(
        api.read(file.handle, 99, 2).unwrap(),
        vec![7, 0],
        "extended with zeros"
    );
    let when = |secs| Timestamp {
        secs,
        nanos: 100_000,
    };
    let attr = api
        .set_times(
            file.handle,
            Times {
                created: Some(when(1_000)),
                accessed: Some(when(2_000)),
                written: Some(when(3_000)),
                changed: Some(when(4_000)),
            },
        )
        .unwrap();
    assert_eq!(
        (attr.crtime, attr.atime, attr.mtime, attr.ctime),
        (when(1_000), when(2_000), when(3_000), when(4_000))
    );
    let unchanged = api.set_times(file.handle, Times::default()).unwrap();
    assert_eq!(unchanged.mtime, when(3_000));
    let hidden = WinAttrs::HIDDEN.union(WinAttrs::SYSTEM);
    assert_eq!(
        api.set_win_attrs(file.handle, hidden).unwrap().win_attrs,
        hidden
    );
    let emptied = api.overwrite(file.handle, WinAttrs::NONE, false).unwrap();
    assert_eq!(emptied.size, 0);
    assert_eq!(emptied.win_attrs, hidden.union(WinAttrs::ARCHIVE));
    let replaced = api
        .overwrite(file.handle, WinAttrs::READONLY, true)
        .unwrap();
    assert_eq!(
        replaced.win_attrs,
        WinAttrs::READONLY.union(WinAttrs::ARCHIVE)
    );
    api.close(file.handle, None).unwrap();
}

#[test]
fn delete_on_close_removes_the_name_only_when_it_may_be_deleted() {
    let (_storage, api) = path_fs(CaseRule::Sensitive);
    let dir = api
        .create(b"/d", NewKind::Directory, 0o755, WinAttrs::NONE, ME)
        .unwrap();
    let file = api
        .create(b"/d/f", NewKind::File, 0o644, WinAttrs::NONE, ME)
        .unwrap();
    let root = api.open(b"/", Expect::Directory, false).unwrap();
    assert!(matches!(
        api.set_delete_on_close(root.handle, true),
        Err(CannotDelete::Root)
    ));
    assert!(matches!(
        api.set_delete_on_close(dir.handle, true),
        Err(CannotDelete::NotEmpty)
    ));
    api.set_win_attrs(file.handle, WinAttrs::READONLY).unwrap();
    assert!(matches!(
        api.set_delete_on_close(file.handle, true),
        Err(CannotDelete::ReadOnly)
    ));
    assert!(!api.delete_on_close(file.handle).unwrap());
    api.set_win_attrs(file.handle, WinAttrs::NONE).unwrap();
    api.set_delete_on_close(file.handle, true).unwrap();
    // Unmarking works (Windows lets a program change its mind before closing).
    api.set_delete_on_close(file.handle, false).unwrap();
    api.set_delete_on_close(file.handle, true).unwrap();
    // A second handle keeps the data readable after the name is gone.
    let other = api.open(b"/d/f", Expect::Any, false).unwrap();
    api.write(file.handle, 0, b"still here", false).unwrap();
    api.close(file.handle, Some(b"/d/f")).unwrap();
    assert!(matches!(api.stat(b"/d/f"), Err(FsError::NotFound)));
    assert_eq!(api.read(other.handle, 0, 100).unwrap(), b"still here");
    api.close(other.handle, None).unwrap();
    // Now the directory is empty and may go.
    api.set_delete_on_close(dir.handle, true).unwrap();
    api.close(dir.handle, Some(b"/d")).unwrap();
    assert!(matches!(api.stat(b"/d"), Err(FsError::NotFound)));
    api.close(root.handle, None).unwrap();
    assert_eq!(
        api.fs().stats().inodes,
        1,
        "only the root is left: nothing leaked"
    );
}

#[test]
fn removing_through_a_stale_path_leaves_the_new_owner_of_the_name_alone() {
    let (_storage, api) = path_fs(CaseRule::Sensitive);
    let first = api
        .create(b"/a", NewKind::File, 0o644, WinAttrs::NONE, ME)
        .unwrap();
    api.rename(b"/a", b"/b", false).unwrap();
    let second = api
        .create(b"/a", NewKind::File, 0o644, WinAttrs::NONE, ME)
        .unwrap();
    api.set_delete_on_close(first.handle, true).unwrap();
    // The front-end passes the old name: it now belongs to another file, which survives.
    api.close(first.handle, Some(b"/a")).unwrap();
    assert_eq!(api.stat(b"/a").unwrap().ino, second.attr.ino);
    assert_eq!(api.stat(b"/b").unwrap().ino, first.attr.ino);
    api.close(second.handle, None).unwrap();
}

#[test]
fn rename_replaces_only_when_asked_and_never_a_directory_or_a_read_only_file() {
    let (_storage, api) = path_fs(CaseRule::Sensitive);
    for (path, kind, attrs) in [
        (&b"/src"[..], NewKind::File, WinAttrs::NONE),
        (b"/dst", NewKind::File, WinAttrs::NONE),
        (b"/locked", NewKind::File, WinAttrs::READONLY),
        (b"/dir", NewKind::Directory, WinAttrs::NONE),
    ] {
        let opened = api.create(path, kind, 0o644, attrs, ME).unwrap();
        api.close(opened.handle, None).unwrap();
    }
    let src = api.stat(b"/src").unwrap().ino;
    assert!(matches!(
        api.rename(b"/src", b"/dst", false),
        Err(FsError::Exists)
    ));
    assert!(matches!(
        api.rename(b"/src", b"/dir", true),
        Err(FsError::IsDir)
    ));
    assert!(matches!(
        api.rename(b"/src", b"/locked", true),
        Err(FsError::NotPermitted)
    ));
    assert!(matches!(
        api.rename(b"/missing", b"/x", true),
        Err(FsError::NotFound)
    ));
    api.rename(b"/src", b"/dst", true).unwrap();
    assert_eq!(api.stat(b"/dst").unwrap().ino, src);
    assert!(matches!(api.stat(b"/src"), Err(FsError::NotFound)));
    api.rename(b"/dst", b"/dir/moved", false).unwrap();
    assert_eq!(api.stat(b"/dir/moved").unwrap().ino, src);
}

#[test]
fn listings_carry_attributes_and_resume_after_any_marker() {
    let (_storage, api) = path_fs(CaseRule::Sensitive);
    let dir = api
        .create(b"/d", NewKind::Directory, 0o755, WinAttrs::NONE, ME)
        .unwrap();
    for i in 0..25u32 {
        let path = format!("/d/file-{i:02}");
        let file = api
            .create(path.as_bytes(), NewKind::File, 0o644, WinAttrs::NONE, ME)
            .unwrap();
        api.write(file.handle, 0, &vec![1u8; i as usize], false)
            .unwrap();
        api.close(file.handle, None).unwrap();
    }
    let mut all = Vec::new();
    let mut marker: Option<Vec<u8>> = None;
    loop {
        let page = api.list(dir.handle, marker.as_deref(), 4).unwrap();
        let Some(last) = page.last() else { break };
        marker = Some(last.name.clone());
        all.extend(page);
    }
    let expected: Vec<String> = [".".to_owned(), "..".to_owned()]
        .into_iter()
        .chain((0..25).map(|i| format!("file-{i:02}")))
        .collect();
    assert_eq!(names(&all), expected);
    assert_eq!(all[0].attr.ino, dir.attr.ino);
    assert_eq!(all[1].attr.ino, ROOT_INO);
    for (i, listed) in all[2..].iter().enumerate() {
        assert_eq!(listed.attr.size, i as u64, "{listed:?}");
    }
    // The root lists no dots; a marker that was deleted meanwhile still resumes after it.
    let root = api.open(b"/", Expect::Directory, false).unwrap();
    assert_eq!(names(&api.list(root.handle, None, 10).unwrap()), vec!["d"]);
    let resumed = api.list(dir.handle, Some(b"file-10x"), 3).unwrap();
    assert_eq!(names(&resumed), vec!["file-11", "file-12", "file-13"]);
    let file = api.open(b"/d/file-01", Expect::Any, false).unwrap();
    assert!(matches!(
        api.list(file.handle, None, 10),
        Err(FsError::NotDir)
    ));
    for handle in [file.handle, root.handle, dir.handle] {
        api.close(handle, None).unwrap();
    }
}

#[test]
fn case_insensitive_names_match_any_case_and_keep_the_stored_one() {
    let (_storage, api) = path_fs(CaseRule::Insensitive);
    let dir = api
        .create(b"/Patienten", NewKind::Directory, 0o755, WinAttrs::NONE, ME)
        .unwrap();
    let file = api
        .create(
            "/patienten/Müller.TXT".as_bytes(),
            NewKind::File,
            0o644,
            WinAttrs::NONE,
            ME,
        )
        .unwrap();
    api.close(file.handle, None).unwrap();
    let found = api.stat("/PATIENTEN/MÜLLER.txt".as_bytes()).unwrap();
    assert_eq!(found.ino, file.attr.ino);
    assert!(matches!(
        api.create(
            "/PATIENTEN/müller.txt".as_bytes(),
            NewKind::File,
            0o644,
            WinAttrs::NONE,
            ME
        ),
        Err(FsError::Exists)
    ));
    // Renaming to another case changes the stored spelling.
    api.rename(
        "/Patienten/müller.txt".as_bytes(),
        "/Patienten/MÜLLER.txt".as_bytes(),
        false,
    )
    .unwrap();
    assert_eq!(
        names(&api.list(dir.handle, None, 10).unwrap()),
        vec![".", "..", "MÜLLER.txt"]
    );
    api.close(dir.handle, None).unwrap();
}

#[test]
fn with_names_differing_only_in_case_the_exact_one_wins_then_byte_order() {
    // Two names that Linux keeps apart (created through the inode API, as FUSE would).
    let (_storage, api) = path_fs(CaseRule::Insensitive);
    let fs = api.fs();
    let (lower, fh) = fs
        .create(ROOT_INO, b"notes.txt", 0o644, OpenFlags::READ_WRITE, ME)
        .unwrap();
    fs.release(fh).unwrap();
    let (upper, fh) = fs
        .create(ROOT_INO, b"NOTES.txt", 0o644, OpenFlags::READ_WRITE, ME)
        .unwrap();
    fs.release(fh).unwrap();
    assert_eq!(api.stat(b"/notes.txt").unwrap().ino, lower.ino);
    assert_eq!(api.stat(b"/NOTES.txt").unwrap().ino, upper.ino);
    // "NOTES.txt" sorts before "notes.txt" (byte order): it answers for other spellings.
    assert_eq!(api.stat(b"/Notes.TXT").unwrap().ino, upper.ino);
    let sensitive = PathFs::new(Arc::clone(api.fs()), CaseRule::Sensitive);
    assert!(matches!(
        sensitive.stat(b"/Notes.TXT"),
        Err(FsError::NotFound)
    ));
}

#[test]
fn volume_info_reports_capacity_and_shrinking_free_space() {
    let (_storage, api) = path_fs(CaseRule::Sensitive);
    let before = api.volume_info().unwrap();
    assert!(before.total_bytes > 8 << 20, "{before:?}");
    assert!(before.free_bytes <= before.total_bytes);
    let file = api
        .create(b"/big", NewKind::File, 0o644, WinAttrs::NONE, ME)
        .unwrap();
    api.write(file.handle, 0, &vec![0x5a; 2 << 20], false)
        .unwrap();
    let after = api.volume_info().unwrap();
    assert_eq!(after.total_bytes, before.total_bytes);
    assert!(
        after.free_bytes + (2 << 20) <= before.free_bytes,
        "{before:?} {after:?}"
    );
    api.close(file.handle, None).unwrap();
}

#[test]
fn a_read_only_file_system_opens_for_reading_and_refuses_changes() {
    let storage = new_storage(16 << 20);
    {
        let api = PathFs::new(Arc::new(open(storage.clone())), CaseRule::Sensitive);
        let file = api
            .create(b"/f", NewKind::File, 0o644, WinAttrs::NONE, ME)
            .unwrap();
        api.write(file.handle, 0, b"kept", false).unwrap();
        api.close(file.handle, None).unwrap();
        api.fs().close().unwrap();
    }
    let fs = secvol_fs::Fs::open(
        stack(storage, secvol_core::DeviceMode::ReadOnly),
        test_options(),
    )
    .unwrap();
    let api = PathFs::new(Arc::new(fs), CaseRule::Sensitive);
    assert!(matches!(
        api.open(b"/f", Expect::Any, true),
        Err(FsError::ReadOnly)
    ));
    let file = api.open(b"/f", Expect::Any, false).unwrap();
    assert_eq!(api.read(file.handle, 0, 10).unwrap(), b"kept");
    assert!(matches!(
        api.set_delete_on_close(file.handle, true),
        Err(CannotDelete::Fs(FsError::ReadOnly))
    ));
    assert!(matches!(
        api.create(b"/g", NewKind::File, 0o644, WinAttrs::NONE, ME),
        Err(FsError::ReadOnly)
    ));
    api.flush(None).unwrap();
    api.close(file.handle, None).unwrap();
}
