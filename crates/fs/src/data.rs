//! File contents: open, read, write, truncate, fallocate, fsync, release.
//!
//! Data lives in chunks of [`CHUNK_SIZE`] bytes keyed by (inode, chunk index). A missing
//! chunk, or the part of a chunk past its stored (zero-trimmed) length, reads as zeros, so
//! holes cost nothing.

use crate::error::{FsError, FsResult};
use crate::fs::Fs;
use crate::handles::OpenFlags;
use crate::inode::{FileKind, Ino, Inode, Timestamp};
use crate::reserve::Reserved;
use crate::schema::{CHUNK_SIZE, MAX_FILE_SIZE};
use crate::store::{Tx, TxResult};
use crate::view::Reader;

const CHUNK: usize = CHUNK_SIZE as usize;

impl Fs {
    /// Open inode `ino`; returns a file handle.
    pub fn open_file(&self, ino: Ino, flags: OpenFlags) -> FsResult<u64> {
        if flags.write && self.read_only {
            return Err(FsError::ReadOnly);
        }
        let kind = self.run_read(|tx| Ok(tx.inode(ino)?.kind))?;
        if kind == FileKind::Directory && flags.write {
            return Err(FsError::IsDir);
        }
        if flags.truncate && flags.write && kind == FileKind::RegularFile {
            self.run_write(|tx| truncate_in(tx, ino, 0, true))?;
        }
        Ok(self.handles().open_file(ino, flags))
    }

    fn handle(&self, fh: u64) -> FsResult<(Ino, OpenFlags)> {
        let handles = self.handles();
        let file = handles.files.get(&fh).ok_or(FsError::BadHandle)?;
        Ok((file.ino, file.flags))
    }

    /// The inode behind an open file handle.
    pub fn handle_ino(&self, fh: u64) -> FsResult<Ino> {
        Ok(self.handle(fh)?.0)
    }

    /// Read up to `size` bytes at `offset` (fewer at the end of the file).
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        let (ino, flags) = self.handle(fh)?;
        if !flags.read {
            return Err(FsError::BadHandle);
        }
        self.read_ino(ino, offset, size)
    }

    /// Read without a handle (offline access).
    ///
    /// Reading never writes: the access time is not updated (like a `noatime` mount; it
    /// changes only when set explicitly). A read that changed the container would make
    /// backup tools copy it again, and would serialize readers behind the writer.
    pub fn read_ino(&self, ino: Ino, offset: u64, size: u32) -> FsResult<Vec<u8>> {
        self.run_read(|tx| {
            let inode = tx.inode(ino)?;
            if inode.kind == FileKind::Directory {
                return Err(FsError::IsDir.into());
            }
            let end = inode.size.min(offset.saturating_add(u64::from(size)));
            let mut out = vec![0u8; end.saturating_sub(offset) as usize];
            read_range(tx, ino, offset, &mut out)?;
            Ok(out)
        })
    }

    /// Write `data` at `offset` (at the end of the file if opened for append). Returns the
    /// number of bytes written (all of them, or an error).
    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> FsResult<u32> {
        let (ino, flags) = self.handle(fh)?;
        if !flags.write {
            return Err(FsError::BadHandle);
        }
        self.write_ino(ino, offset, data, flags.append)
    }

    /// Write without a handle (offline access).
    pub fn write_ino(&self, ino: Ino, offset: u64, data: &[u8], append: bool) -> FsResult<u32> {
        let len =
            u32::try_from(data.len()).map_err(|_| FsError::Invalid("write larger than 4 GiB"))?;
        self.run_write(|tx| {
            let mut inode = tx.inode(ino)?;
            if inode.kind != FileKind::RegularFile {
                return Err(if inode.kind == FileKind::Directory {
                    FsError::IsDir
                } else {
                    FsError::Invalid("not a regular file")
                }
                .into());
            }
            let offset = if append { inode.size } else { offset };
            let end = offset
                .checked_add(u64::from(len))
                .ok_or(FsError::FileTooLarge)?;
            if end > MAX_FILE_SIZE {
                return Err(FsError::FileTooLarge.into());
            }
            if len == 0 {
                return Ok(0);
            }
            // Worst case: every chunk touched becomes a full, newly stored chunk, except the
            // chunks `fallocate` reserved, which already count as full.
            let (first, end_chunk) = (offset / CHUNK_SIZE, end.div_ceil(CHUNK_SIZE));
            let (reserved, rewrite) = if inode.reserved_chunks == 0 {
                (Reserved::NONE, 0)
            } else {
                let reserved = tx.reserved_ranges(ino, first, end_chunk)?;
                let rewrite = tx.reserved_data_cost(ino, first, end_chunk, &reserved)?;
                (reserved, rewrite)
            };
            let chunks = end_chunk - first - reserved.count_in(first, end_chunk);
            tx.reserve_with_rewrite(chunks * Tx::chunk_space(CHUNK), rewrite)?;
            write_range(tx, ino, &inode, offset, data, &reserved)?;
            let now = Timestamp::now();
            inode.size = inode.size.max(end);
            inode.mtime = now;
            inode.ctime = now;
            tx.put_inode(ino, &inode, false)?;
            Ok(len)
        })
    }

    /// Flush a handle's data (nothing is buffered per handle; kept for the FUSE protocol).
    pub fn flush(&self, fh: u64) -> FsResult<()> {
        self.handle(fh).map(|_| ())
    }

    /// Make the file durable (commits everything pending: one container sync).
    pub fn fsync(&self, _fh: u64) -> FsResult<()> {
        self.sync()
    }

    /// Close a file handle; deletes the file if it was unlinked and this was the last
    /// reference.
    pub fn release(&self, fh: u64) -> FsResult<()> {
        let (ino, collectable) = {
            let mut handles = self.handles();
            let file = handles.files.remove(&fh).ok_or(FsError::BadHandle)?;
            (file.ino, handles.close(file.ino))
        };
        self.reap_if_unreferenced(ino, collectable)
    }

    /// Reserve the space of bytes `offset..offset + len` of a regular file (POSIX
    /// `fallocate`; `keep_size`: do not change the file size, Linux's
    /// `FALLOC_FL_KEEP_SIZE`). After it succeeds, writing anywhere in the range never fails
    /// for lack of space: the chunks of the range count as full in the space account (and in
    /// `statfs`) until the file is truncated below them or deleted, whatever they hold (see
    /// `reserve.rs`). The range reads as zeros where nothing was written. Refused with
    /// [`FsError::NoSpace`], changing nothing, if the container cannot hold it. Punching
    /// holes and the other modes are not supported.
    pub fn fallocate(&self, ino: Ino, offset: u64, len: u64, keep_size: bool) -> FsResult<()> {
        if len == 0 {
            return Err(FsError::Invalid("fallocate of zero bytes"));
        }
        let end = offset.checked_add(len).ok_or(FsError::FileTooLarge)?;
        if end > MAX_FILE_SIZE {
            return Err(FsError::FileTooLarge);
        }
        self.run_write(|tx| {
            let mut inode = tx.inode(ino)?;
            if inode.kind != FileKind::RegularFile {
                return Err(if inode.kind == FileKind::Directory {
                    FsError::IsDir
                } else {
                    FsError::Invalid("not a regular file")
                }
                .into());
            }
            let before = (inode.reserved_chunks, inode.reserved_end);
            tx.reserve_chunks(
                ino,
                &mut inode,
                offset / CHUNK_SIZE,
                end.div_ceil(CHUNK_SIZE),
            )?;
            let grows = !keep_size && end > inode.size;
            if grows {
                let now = Timestamp::now();
                inode.size = end;
                inode.mtime = now;
                inode.ctime = now;
            }
            if grows || before != (inode.reserved_chunks, inode.reserved_end) {
                tx.put_inode(ino, &inode, false)?;
            }
            Ok(())
        })
    }
}

/// Fill `out` with the file's bytes from `offset` (the caller clamped it to the size).
pub(crate) fn read_range(tx: &Reader<'_>, ino: Ino, offset: u64, out: &mut [u8]) -> TxResult<()> {
    tx.read_data(ino, offset, out)
}

/// Write `data` at `offset`, chunk by chunk. Chunks that are only partly covered are read,
/// merged and rewritten; bytes past the old end of file inside a chunk are zero. `reserved`:
/// the file's reservations among the chunks written.
fn write_range(
    tx: &mut Tx<'_>,
    ino: Ino,
    inode: &Inode,
    offset: u64,
    data: &[u8],
    reserved: &Reserved,
) -> TxResult<()> {
    let mut pos = offset;
    let mut done = 0;
    let mut merged = Vec::new();
    while done < data.len() {
        let index = pos / CHUNK_SIZE;
        let within = (pos % CHUNK_SIZE) as usize;
        let n = (CHUNK - within).min(data.len() - done);
        let piece = &data[done..done + n];
        let chunk_start = index * CHUNK_SIZE;
        // Bytes of this chunk that exist in the file after the write.
        let old_valid = inode.size.saturating_sub(chunk_start).min(CHUNK_SIZE) as usize;
        let in_reservation = reserved.covers(index);
        if within == 0 && n >= old_valid {
            // The write covers everything the chunk held: no need to read it.
            tx.put_chunk(ino, index, piece, in_reservation)?;
        } else {
            let keep = old_valid.max(within + n);
            merged.clear();
            merged.resize(keep, 0);
            tx.read_chunk(ino, index, 0, &mut merged[..old_valid])?;
            merged[within..within + n].copy_from_slice(piece);
            tx.put_chunk(ino, index, &merged, in_reservation)?;
        }
        done += n;
        pos += n as u64;
    }
    Ok(())
}

/// Set the size of regular file `ino` to `size`, discarding data beyond it. `touch` updates
/// mtime and ctime. A truncate that does not extend the file also gives up the `fallocate`
/// reservations past the new end (those made with "keep size" past the old end included), as
/// a block file system frees the blocks past the end.
pub(crate) fn truncate_in(tx: &mut Tx<'_>, ino: Ino, size: u64, touch: bool) -> TxResult<()> {
    if size > MAX_FILE_SIZE {
        return Err(FsError::FileTooLarge.into());
    }
    let mut inode = tx.inode(ino)?;
    if inode.kind != FileKind::RegularFile {
        return Err(if inode.kind == FileKind::Directory {
            FsError::IsDir
        } else {
            FsError::Invalid("not a regular file")
        }
        .into());
    }
    let keep_chunks = size.div_ceil(CHUNK_SIZE);
    let reserved = if inode.reserved_chunks > 0 && size <= inode.size {
        // From the boundary chunk on: whether it is reserved matters when it is rewritten.
        tx.reserved_ranges(ino, size / CHUNK_SIZE, u64::MAX)?
    } else {
        Reserved::NONE
    };
    let released = !reserved.is_empty() && u64::from(inode.reserved_end) > keep_chunks;
    if size < inode.size {
        tx.remove_chunks_from(ino, keep_chunks, &reserved)?;
        let within = (size % CHUNK_SIZE) as usize;
        if within != 0 {
            // The boundary chunk keeps only its first `within` bytes.
            let index = size / CHUNK_SIZE;
            let mut head = vec![0u8; within];
            tx.read_chunk(ino, index, 0, &mut head)?;
            tx.put_chunk(ino, index, &head, reserved.covers(index))?;
        }
    }
    if released {
        tx.release_reserved_from(ino, Some(&mut inode), keep_chunks, &reserved)?;
    }
    if size != inode.size || touch || released {
        let now = Timestamp::now();
        inode.size = size;
        inode.mtime = now;
        inode.ctime = now;
        tx.put_inode(ino, &inode, false)?;
    }
    Ok(())
}
