//! Windows values to file-system values and back: FILETIME timestamps, file attribute words,
//! and what a create or open request asks for (create options and granted access).

use secvol_fs::{Attr, Expect, FileKind, NewKind, Timestamp, WinAttrs};

/// Seconds from 1601-01-01 (the FILETIME epoch) to 1970-01-01.
const EPOCH_DIFFERENCE_SECS: i64 = 11_644_473_600;
/// FILETIME ticks (100 ns) per second.
const TICKS_PER_SEC: i64 = 10_000_000;

/// `FILE_ATTRIBUTE_DIRECTORY`.
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
/// `FILE_ATTRIBUTE_NORMAL`: a file with no other attribute.
pub const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;
/// `INVALID_FILE_ATTRIBUTES`: "leave the attributes alone" in SetBasicInfo.
pub const INVALID_FILE_ATTRIBUTES: u32 = u32::MAX;

/// `FILE_DIRECTORY_FILE` create option: the caller wants a directory.
pub const FILE_DIRECTORY_FILE: u32 = 0x0000_0001;
/// `FILE_NON_DIRECTORY_FILE` create option: the caller wants anything but a directory.
pub const FILE_NON_DIRECTORY_FILE: u32 = 0x0000_0040;
/// `FILE_DELETE_ON_CLOSE` create option.
pub const FILE_DELETE_ON_CLOSE: u32 = 0x0000_1000;

/// Access rights that change a file's data (`FILE_WRITE_DATA`, `FILE_APPEND_DATA`; WinFsp
/// has already mapped generic rights such as `GENERIC_WRITE` to these).
const WRITE_DATA_ACCESS: u32 = 0x0002 | 0x0004;

/// A timestamp as FILETIME (100 ns ticks since 1601); times before 1601 become 0.
pub fn filetime(time: Timestamp) -> u64 {
    let secs = time.secs.saturating_add(EPOCH_DIFFERENCE_SECS);
    if secs < 0 {
        return 0;
    }
    let ticks = i128::from(secs) * i128::from(TICKS_PER_SEC) + i128::from(time.nanos / 100);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// A FILETIME as a timestamp; `None` for 0, which SetBasicInfo uses for "leave it alone".
pub fn timestamp(filetime: u64) -> Option<Timestamp> {
    if filetime == 0 {
        return None;
    }
    let ticks = i128::from(filetime);
    let secs = ticks / i128::from(TICKS_PER_SEC) - i128::from(EPOCH_DIFFERENCE_SECS);
    let nanos = (ticks % i128::from(TICKS_PER_SEC)) * 100;
    Some(Timestamp {
        secs: i64::try_from(secs).unwrap_or(i64::MAX),
        nanos: u32::try_from(nanos).unwrap_or(0),
    })
}

/// The attribute word Windows sees for a file or directory.
pub fn file_attributes(attr: &Attr) -> u32 {
    let stored = attr.win_attrs.bits();
    match attr.kind {
        FileKind::Directory => stored | FILE_ATTRIBUTE_DIRECTORY,
        _ if stored == 0 => FILE_ATTRIBUTE_NORMAL,
        _ => stored,
    }
}

/// The stored attributes of an attribute word from Windows, or `None` for
/// `INVALID_FILE_ATTRIBUTES` ("leave them alone").
pub fn stored_attributes(word: u32) -> Option<WinAttrs> {
    (word != INVALID_FILE_ATTRIBUTES).then(|| WinAttrs::from_bits_truncate(word))
}

/// What an open of an existing object asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenRequest {
    /// File, directory or either.
    pub expect: Expect,
    /// The caller will change the data.
    pub write: bool,
    /// Delete the object when the last handle is closed.
    pub delete_on_close: bool,
}

/// Decode an open request from its create options and the access granted.
pub fn open_request(create_options: u32, granted_access: u32) -> OpenRequest {
    let expect = if create_options & FILE_DIRECTORY_FILE != 0 {
        Expect::Directory
    } else if create_options & FILE_NON_DIRECTORY_FILE != 0 {
        Expect::NonDirectory
    } else {
        Expect::Any
    };
    OpenRequest {
        expect,
        write: granted_access & WRITE_DATA_ACCESS != 0,
        delete_on_close: create_options & FILE_DELETE_ON_CLOSE != 0,
    }
}

/// What a create makes: a directory with `FILE_DIRECTORY_FILE`, otherwise a file.
pub fn new_kind(create_options: u32) -> NewKind {
    if create_options & FILE_DIRECTORY_FILE != 0 {
        NewKind::Directory
    } else {
        NewKind::File
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetimes_and_timestamps_convert_both_ways_at_100_ns() {
        let unix_epoch = Timestamp { secs: 0, nanos: 0 };
        assert_eq!(filetime(unix_epoch), 116_444_736_000_000_000);
        let t = Timestamp {
            secs: 1_767_225_600,
            nanos: 123_456_700,
        };
        assert_eq!(timestamp(filetime(t)), Some(t));
        // Below 100 ns is cut, as NTFS does.
        let fine = Timestamp {
            secs: 5,
            nanos: 199,
        };
        assert_eq!(
            timestamp(filetime(fine)),
            Some(Timestamp {
                secs: 5,
                nanos: 100
            })
        );
        let before_1970 = Timestamp {
            secs: -86_400,
            nanos: 500,
        };
        assert_eq!(timestamp(filetime(before_1970)), Some(before_1970));
        assert_eq!(
            filetime(Timestamp {
                secs: -20_000_000_000,
                nanos: 0
            }),
            0
        );
        assert_eq!(timestamp(0), None, "0 means: leave the time alone");
    }

    #[test]
    fn requests_decode_what_the_caller_wants() {
        let read_only = open_request(0, 0x0001);
        assert_eq!(
            read_only,
            OpenRequest {
                expect: Expect::Any,
                write: false,
                delete_on_close: false
            }
        );
        let request = open_request(FILE_NON_DIRECTORY_FILE | FILE_DELETE_ON_CLOSE, 0x0004);
        assert_eq!(request.expect, Expect::NonDirectory);
        assert!(request.write && request.delete_on_close);
        assert_eq!(
            open_request(FILE_DIRECTORY_FILE, 0).expect,
            Expect::Directory
        );
        assert_eq!(new_kind(FILE_DIRECTORY_FILE), NewKind::Directory);
        assert_eq!(new_kind(FILE_NON_DIRECTORY_FILE), NewKind::File);
    }

    #[test]
    fn attribute_words_keep_the_stored_bits_and_add_what_windows_expects() {
        assert_eq!(stored_attributes(INVALID_FILE_ATTRIBUTES), None);
        assert_eq!(
            stored_attributes(0x1 | 0x10 | 0x80),
            Some(WinAttrs::READONLY)
        );
    }
}
