//! The fuser `Filesystem` implementation: each callback parses the kernel's values, calls one
//! [`Fs`] method, and replies. Errors become errno values in `errno.rs` only.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use fuser::{
    AccessFlags, BsdFileFlags, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags as KernelOpenFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use secvol_fs::{Ctx, Fs, FsError, FsResult, OpenFlags, SetAttr, Timestamp};

use crate::Activity;
use crate::caller::caller_groups;
use crate::convert::{
    TTL, XattrReply, fallocate_keep_size, file_attr, file_type, kind_from_mode, perm, rename_flags,
    time_set, xattr_mode, xattr_name_list, xattr_reply,
};
use crate::errno::errno;

/// Inode numbers are never reused in a container, so every inode has generation 0.
const GENERATION: Generation = Generation(0);
/// Largest write the kernel may send in one request (and largest read it asks for).
const MAX_WRITE: u32 = 1 << 20;
/// Pending background requests (readahead, asynchronous direct I/O) the kernel may queue.
const MAX_BACKGROUND: u16 = 64;
/// Entries fetched from the file system per `readdir` step; whatever does not fit in the
/// kernel's buffer is served again from the handle's snapshot on the next call.
const READDIR_BATCH: usize = 256;
/// The same for `readdirplus`, whose entries are about five times larger.
const READDIRPLUS_BATCH: usize = 64;

/// Run one call into the file system. A panic there is a bug that may have left half an
/// operation in the open transaction; committing that later could corrupt the container, so
/// the process stops at once (the container then reopens at its last commit, as after a
/// crash) instead of serving on.
fn run_guarded<T>(op: &'static str, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(_) => {
            log::error!(
                "bug: the file system panicked during {op}; stopping now so that nothing half-done is committed"
            );
            std::process::abort();
        }
    }
}

fn ctx(req: &Request) -> Ctx {
    Ctx {
        uid: req.uid(),
        gid: req.gid(),
    }
}

fn name(name: &OsStr) -> &[u8] {
    name.as_bytes()
}

/// The POSIX ACL attributes: the kernel enforces what they say only with `FUSE_POSIX_ACL`.
fn is_acl_name(name: &[u8]) -> bool {
    name == b"system.posix_acl_access" || name == b"system.posix_acl_default"
}

/// The driver's state: the file system and the mount's flavour.
pub(crate) struct SecvolFuse {
    fs: Arc<Fs>,
    activity: Arc<Activity>,
    /// The kernel took `FUSE_POSIX_ACL`: it checks access against ACLs. Without it, ACL
    /// attributes would be stored and ignored, so they are refused.
    posix_acl: bool,
}

impl SecvolFuse {
    pub(crate) fn new(fs: Arc<Fs>, activity: Arc<Activity>) -> Self {
        SecvolFuse {
            fs,
            activity,
            posix_acl: false,
        }
    }

    /// [`run_guarded`], noting the request as use of the mount. `statfs` does not count:
    /// desktops poll it for free space while nobody touches the files.
    fn guarded<T>(&self, op: &'static str, f: impl FnOnce() -> T) -> T {
        if op != "statfs" {
            self.activity.note();
        }
        run_guarded(op, f)
    }

    fn reply_entry(
        &self,
        op: &'static str,
        parent: INodeNo,
        result: FsResult<secvol_fs::Attr>,
        reply: ReplyEntry,
    ) {
        match result {
            Ok(attr) => reply.entry(&TTL, &file_attr(&attr), GENERATION),
            Err(err) => reply.error(errno(op, parent.0, &err)),
        }
    }

    fn reply_empty(op: &'static str, ino: u64, result: FsResult<()>, reply: ReplyEmpty) {
        match result {
            Ok(()) => reply.ok(),
            Err(err) => reply.error(errno(op, ino, &err)),
        }
    }
}

impl Filesystem for SecvolFuse {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        if let Err(limit) = config.set_max_write(MAX_WRITE) {
            log::debug!("max_write limited to {limit}");
            let _ = config.set_max_write(limit);
        }
        // The kernel offers its largest readahead window; take all of it (up to 1 MiB).
        if let Err(limit) = config.set_max_readahead(MAX_WRITE) {
            let _ = config.set_max_readahead(limit);
        }
        let _ = config.set_max_background(MAX_BACKGROUND);
        let _ = config.set_congestion_threshold(MAX_BACKGROUND * 3 / 4);
        // Optional capabilities, each only if the kernel has it:
        // * PARALLEL_DIROPS: lookups and readdir in one directory may run concurrently.
        // * CACHE_SYMLINKS: a symlink's target never changes (a new target is a new inode).
        // * DO_READDIRPLUS / READDIRPLUS_AUTO: `ls -l` gets names and attributes together.
        // Deliberately not requested:
        // * WRITEBACK_CACHE: the kernel would buffer writes and send them after close() has
        //   returned, so ENOSPC and I/O errors could no longer reach the writing program; it
        //   also reads through write-only handles and keeps its own idea of mtime and size.
        // * ATOMIC_O_TRUNC: the kernel would take the file as truncated by open even for
        //   O_RDONLY|O_TRUNC (which the file system does not truncate) and before its own
        //   ETXTBSY check; without it the kernel checks first and then sends a setattr.
        // * HANDLE_KILLPRIV(_V2): the kernel clears setuid/setgid bits itself with a setattr.
        // * SETXATTR_EXT: fuser 0.18 cannot parse its longer setxattr request (the ACL
        //   set-group-ID rule learns the caller's groups from /proc instead: `caller.rs`).
        // * EXPORT_SUPPORT, SPLICE_*: not supported.
        for capability in [
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_CACHE_SYMLINKS,
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
        ] {
            if config.add_capabilities(capability).is_err() {
                log::debug!("kernel lacks FUSE capability {capability:?}");
            }
        }
        // POSIX ACLs: the kernel checks access against them and caches them; the file system
        // keeps them and the mode consistent and applies default ACLs at creation, for which
        // it needs the umask unapplied (DONT_MASK: applied by the file system unless the
        // directory has a default ACL).
        self.posix_acl = config
            .add_capabilities(InitFlags::FUSE_POSIX_ACL | InitFlags::FUSE_DONT_MASK)
            .is_ok();
        if !self.posix_acl {
            log::info!("the kernel cannot enforce POSIX ACLs on FUSE mounts; ACLs are refused");
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name_: &OsStr, reply: ReplyEntry) {
        let result = self.guarded("lookup", || self.fs.lookup(parent.0, name(name_)));
        // No negative caching (ENOENT carries no TTL): names appear only through this mount,
        // but caching absence buys little and costs nothing to leave out.
        self.reply_entry("lookup", parent, result, reply);
    }

    // BATCH_FORGET: fuser's default `batch_forget` calls this for each inode (fuser 0.18 keeps
    // the batch's element type private, so it cannot be overridden).
    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.guarded("forget", || self.fs.forget(ino.0, nlookup));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.guarded("getattr", || self.fs.getattr(ino.0)) {
            Ok(attr) => reply.attr(&TTL, &file_attr(&attr)),
            Err(err) => reply.error(errno("getattr", ino.0, &err)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if let Some(flags) = flags {
            // macOS chflags(2) (UF_HIDDEN and the like): not stored.
            log::debug!("setattr (inode {}): ignoring BSD flags {flags:?}", ino.0);
        }
        // A truncate with or without a handle is the same change of the inode: the kernel
        // already checked that the caller may write.
        let changes = SetAttr {
            perm: mode.map(perm),
            uid,
            gid,
            size,
            atime: atime.map(time_set),
            mtime: mtime.map(time_set),
            ctime: ctime.map(Timestamp::from_system),
            crtime: crtime.map(Timestamp::from_system),
        };
        let result = self.guarded("setattr", || {
            if changes == SetAttr::default() {
                // Nothing the file system stores (only a lock owner or a handle).
                self.fs.getattr(ino.0)
            } else {
                self.fs.setattr(ino.0, changes)
            }
        });
        match result {
            Ok(attr) => reply.attr(&TTL, &file_attr(&attr)),
            Err(err) => reply.error(errno("setattr", ino.0, &err)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.guarded("readlink", || self.fs.readlink(ino.0)) {
            Ok(target) => reply.data(&target),
            Err(err) => reply.error(errno("readlink", ino.0, &err)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name_: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let result = self.guarded("mknod", || {
            let kind = kind_from_mode(mode)?;
            self.fs.mknod_with_umask(
                parent.0,
                name(name_),
                kind,
                perm(mode),
                perm(umask),
                rdev,
                ctx(req),
            )
        });
        self.reply_entry("mknod", parent, result, reply);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name_: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let result = self.guarded("mkdir", || {
            self.fs
                .mkdir_with_umask(parent.0, name(name_), perm(mode), perm(umask), ctx(req))
        });
        self.reply_entry("mkdir", parent, result, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name_: &OsStr, reply: ReplyEmpty) {
        let result = self.guarded("unlink", || self.fs.unlink(parent.0, name(name_)));
        Self::reply_empty("unlink", parent.0, result, reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name_: &OsStr, reply: ReplyEmpty) {
        let result = self.guarded("rmdir", || self.fs.rmdir(parent.0, name(name_)));
        Self::reply_empty("rmdir", parent.0, result, reply);
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let result = self.guarded("symlink", || {
            self.fs.symlink(
                parent.0,
                name(link_name),
                target.as_os_str().as_bytes(),
                ctx(req),
            )
        });
        self.reply_entry("symlink", parent, result, reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name_: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        let result = self.guarded("rename", || {
            let flags = rename_flags(flags)?;
            self.fs
                .rename(parent.0, name(name_), newparent.0, name(newname), flags)
        });
        Self::reply_empty("rename", parent.0, result, reply);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let result = self.guarded("link", || self.fs.link(ino.0, newparent.0, name(newname)));
        self.reply_entry("link", ino, result, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: KernelOpenFlags, reply: ReplyOpen) {
        match self.guarded("open", || {
            self.fs.open_file(ino.0, OpenFlags::from_posix(flags.0))
        }) {
            // KEEP_CACHE: the page cache stays valid across opens because every change to
            // the file passes through this kernel mount (the container is locked while
            // mounted), which updates or drops its cached pages itself.
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE),
            Err(err) => reply.error(errno("open", ino.0, &err)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: KernelOpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.guarded("read", || self.fs.read(fh.0, offset, size)) {
            Ok(data) => reply.data(&data),
            Err(err) => reply.error(errno("read", ino.0, &err)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: KernelOpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.guarded("write", || self.fs.write(fh.0, offset, data)) {
            Ok(written) => reply.written(written),
            Err(err) => reply.error(errno("write", ino.0, &err)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        let result = self.guarded("flush", || self.fs.flush(fh.0));
        Self::reply_empty("flush", ino.0, result, reply);
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: KernelOpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let result = self.guarded("release", || self.fs.release(fh.0));
        Self::reply_empty("release", ino.0, result, reply);
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let result = self.guarded("fsync", || self.fs.fsync(fh.0));
        Self::reply_empty("fsync", ino.0, result, reply);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: KernelOpenFlags, reply: ReplyOpen) {
        match self.guarded("opendir", || self.fs.opendir(ino.0)) {
            Ok(dh) => reply.opened(FileHandle(dh), FopenFlags::empty()),
            Err(err) => reply.error(errno("opendir", ino.0, &err)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let result = self.guarded("readdir", || -> FsResult<()> {
            let mut offset = offset;
            loop {
                let entries = self.fs.readdir(fh.0, offset, READDIR_BATCH)?;
                let fetched = entries.len();
                for entry in entries {
                    let full = reply.add(
                        INodeNo(entry.ino),
                        entry.next_offset,
                        file_type(entry.kind),
                        OsStr::from_bytes(&entry.name),
                    );
                    if full {
                        return Ok(());
                    }
                    offset = entry.next_offset;
                }
                if fetched < READDIR_BATCH {
                    return Ok(());
                }
            }
        });
        match result {
            Ok(()) => reply.ok(),
            Err(err) => reply.error(errno("readdir", ino.0, &err)),
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let result = self.guarded("readdirplus", || -> FsResult<()> {
            let mut offset = offset;
            loop {
                let entries = self.fs.readdir(fh.0, offset, READDIRPLUS_BATCH)?;
                let fetched = entries.len();
                for entry in entries {
                    let dots = entry.name == b"." || entry.name == b"..";
                    // The kernel takes a lookup reference for every entry it receives here
                    // except "." and "..", exactly as if it had called lookup: so take the
                    // attributes through lookup (which counts the reference), and give the
                    // reference back if the entry does not fit.
                    let attr = if dots {
                        self.fs.getattr(entry.ino)
                    } else {
                        self.fs.lookup(ino.0, &entry.name)
                    };
                    let attr = match attr {
                        Ok(attr) => attr,
                        // Removed since the listing was taken: leave it out.
                        Err(FsError::NotFound) => {
                            offset = entry.next_offset;
                            continue;
                        }
                        Err(err) => return Err(err),
                    };
                    let full = reply.add(
                        INodeNo(attr.ino),
                        entry.next_offset,
                        OsStr::from_bytes(&entry.name),
                        &TTL,
                        &file_attr(&attr),
                        GENERATION,
                    );
                    if full {
                        if !dots {
                            self.fs.forget(attr.ino, 1);
                        }
                        return Ok(());
                    }
                    offset = entry.next_offset;
                }
                if fetched < READDIRPLUS_BATCH {
                    return Ok(());
                }
            }
        });
        match result {
            Ok(()) => reply.ok(),
            Err(err) => reply.error(errno("readdirplus", ino.0, &err)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: KernelOpenFlags,
        reply: ReplyEmpty,
    ) {
        let result = self.guarded("releasedir", || self.fs.releasedir(fh.0));
        Self::reply_empty("releasedir", ino.0, result, reply);
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let result = self.guarded("fsyncdir", || self.fs.fsyncdir(fh.0));
        Self::reply_empty("fsyncdir", ino.0, result, reply);
    }

    fn statfs(&self, _req: &Request, ino: INodeNo, reply: ReplyStatfs) {
        match self.guarded("statfs", || self.fs.statfs()) {
            Ok(st) => reply.statfs(
                st.blocks,
                st.blocks_free,
                st.blocks_free,
                st.files,
                st.files_free,
                st.block_size,
                st.name_max,
                st.block_size,
            ),
            Err(err) => reply.error(errno("statfs", ino.0, &err)),
        }
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name_: &OsStr,
        value: &[u8],
        flags: i32,
        position: u32,
        reply: ReplyEmpty,
    ) {
        let result = self.guarded("setxattr", || {
            if position != 0 {
                // macOS resource-fork offsets; always 0 on Linux.
                return Err(FsError::Invalid("xattr position other than 0"));
            }
            let name = name(name_);
            if !is_acl_name(name) {
                return self.fs.setxattr(ino.0, name, value, xattr_mode(flags)?);
            }
            if !self.posix_acl {
                return Err(FsError::NotSupported);
            }
            let caller = caller_groups(req);
            self.fs
                .setxattr_as(ino.0, name, value, xattr_mode(flags)?, &caller)
        });
        Self::reply_empty("setxattr", ino.0, result, reply);
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name_: &OsStr, size: u32, reply: ReplyXattr) {
        let result = self.guarded("getxattr", || {
            if !self.posix_acl && is_acl_name(name(name_)) {
                return Err(FsError::NotSupported);
            }
            xattr_reply(self.fs.getxattr(ino.0, name(name_))?, size)
        });
        match result {
            Ok(XattrReply::Size(len)) => reply.size(len),
            Ok(XattrReply::Data(data)) => reply.data(&data),
            Err(err) => reply.error(errno("getxattr", ino.0, &err)),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let result = self.guarded("listxattr", || {
            let mut names = self.fs.listxattr(ino.0)?;
            if !self.posix_acl {
                names.retain(|name| !is_acl_name(name));
            }
            xattr_reply(xattr_name_list(names), size)
        });
        match result {
            Ok(XattrReply::Size(len)) => reply.size(len),
            Ok(XattrReply::Data(data)) => reply.data(&data),
            Err(err) => reply.error(errno("listxattr", ino.0, &err)),
        }
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name_: &OsStr, reply: ReplyEmpty) {
        let result = self.guarded("removexattr", || self.fs.removexattr(ino.0, name(name_)));
        Self::reply_empty("removexattr", ino.0, result, reply);
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // The mount always has default_permissions: the kernel checks permissions itself
        // and normally never asks. Answer for existence only.
        let result = self.guarded("access", || self.fs.getattr(ino.0).map(|_| ()));
        Self::reply_empty("access", ino.0, result, reply);
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name_: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let result = self.guarded("create", || {
            self.fs.create_with_umask(
                parent.0,
                name(name_),
                perm(mode),
                perm(umask),
                OpenFlags::from_posix(flags),
                ctx(req),
            )
        });
        match result {
            Ok((attr, fh)) => reply.created(
                &TTL,
                &file_attr(&attr),
                GENERATION,
                FileHandle(fh),
                FopenFlags::FOPEN_KEEP_CACHE,
            ),
            Err(err) => reply.error(errno("create", parent.0, &err)),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let result = self.guarded("fallocate", || {
            let keep_size = fallocate_keep_size(mode)?;
            self.fs.fallocate(ino.0, offset, length, keep_size)
        });
        Self::reply_empty("fallocate", ino.0, result, reply);
    }

    /// macOS: creation time for Finder (`getattrlist`). Not compiled on the Linux machines.
    #[cfg(target_os = "macos")]
    fn getxtimes(&self, _req: &Request, ino: INodeNo, reply: fuser::ReplyXTimes) {
        match self.guarded("getxtimes", || self.fs.getattr(ino.0)) {
            Ok(attr) => reply.xtimes(std::time::UNIX_EPOCH, attr.crtime.to_system()),
            Err(err) => reply.error(errno("getxtimes", ino.0, &err)),
        }
    }
}
