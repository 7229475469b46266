//! Record-level access to the tables inside an operation's transaction, with space
//! accounting. Every table is opened, used and closed within one call (redb refuses to open a
//! table twice in one transaction).
//!
//! Reading goes through a [`Reader`], which sees either the open write transaction (every
//! change so far) or a read transaction on the last commit. The second runs beside the writer
//! and beside other readers, but does not see what the open write transaction changed: every
//! write method marks the inode it changes in the transaction's [`DirtySet`], and a reader on
//! the last commit that meets such an inode gives up with [`TxError::NeedsWriteView`], so the
//! operation is run again on the write transaction. An operation therefore never sees an
//! older state than the one the changes before it left.

use crate::error::FsError;
use crate::inode::{FileKind, Ino, Inode, RECORD_LEN};
use crate::reserve::Reserved;
use crate::schema::{
    CHUNK_SIZE, CHUNKS, DIRENTS, INODES, ORPHANS, SYMLINKS, XATTRS, chunk_cost, entry_cost,
};
use crate::store::{INODE_CACHE_LIMIT, Tx, TxResult};
use crate::view::Reader;

/// One directory entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredEntry {
    pub(crate) name: Vec<u8>,
    pub(crate) ino: Ino,
    pub(crate) kind: FileKind,
}

fn kind_from(code: u8) -> TxResult<FileKind> {
    FileKind::from_code(code).ok_or_else(|| {
        FsError::RecordDamaged {
            what: format!("directory entry with unknown kind {code}"),
        }
        .into()
    })
}

/// Length of `data` without its trailing zero bytes.
pub(crate) fn trimmed_len(data: &[u8]) -> usize {
    data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1)
}

impl Reader<'_> {
    pub(crate) fn try_inode(&self, ino: Ino) -> TxResult<Option<Inode>> {
        self.check_clean(ino)?;
        if let Some(cache) = self.inodes
            && let Some(inode) = cache.borrow().get(&ino)
        {
            return Ok(Some(inode.clone()));
        }
        let table = self.table(INODES)?;
        let Some(bytes) = table.get(ino)? else {
            return Ok(None);
        };
        let inode = Inode::decode(bytes.value())?;
        self.remember_inode(ino, &inode);
        Ok(Some(inode))
    }

    fn remember_inode(&self, ino: Ino, inode: &Inode) {
        let Some(cache) = self.inodes else { return };
        let mut cache = cache.borrow_mut();
        if cache.len() >= INODE_CACHE_LIMIT && !cache.contains_key(&ino) {
            cache.clear();
        }
        cache.insert(ino, inode.clone());
    }

    fn forget_inode(&self, ino: Ino) {
        if let Some(cache) = self.inodes {
            cache.borrow_mut().remove(&ino);
        }
    }

    pub(crate) fn inode(&self, ino: Ino) -> TxResult<Inode> {
        self.try_inode(ino)?.ok_or(FsError::NotFound.into())
    }

    pub(crate) fn dirent(&self, parent: Ino, name: &[u8]) -> TxResult<Option<(Ino, FileKind)>> {
        self.check_clean(parent)?;
        let table = self.table(DIRENTS)?;
        let value = table.get((parent, name))?;
        match value {
            Some(v) => {
                let (ino, code) = v.value();
                Ok(Some((ino, kind_from(code)?)))
            }
            None => Ok(None),
        }
    }

    pub(crate) fn dir_is_empty(&self, dir: Ino) -> TxResult<bool> {
        self.check_clean(dir)?;
        let table = self.table(DIRENTS)?;
        let lower: (u64, &[u8]) = (dir, &[]);
        let upper: (u64, &[u8]) = (dir + 1, &[]);
        let mut range = table.range(lower..upper)?;
        Ok(range.next().is_none())
    }

    /// Entries of `dir` in name order, starting after `after` (exclusive), at most `limit`.
    pub(crate) fn list_dir(
        &self,
        dir: Ino,
        after: Option<&[u8]>,
        limit: usize,
    ) -> TxResult<Vec<StoredEntry>> {
        self.check_clean(dir)?;
        let table = self.table(DIRENTS)?;
        let upper: (u64, &[u8]) = (dir + 1, &[]);
        let range = match after {
            Some(name) => {
                let lower: (u64, &[u8]) = (dir, name);
                table.range((
                    std::ops::Bound::Excluded(lower),
                    std::ops::Bound::Excluded(upper),
                ))?
            }
            None => {
                let lower: (u64, &[u8]) = (dir, &[]);
                table.range(lower..upper)?
            }
        };
        let mut out = Vec::new();
        for entry in range.take(limit) {
            let (key, value) = entry?;
            let (ino, code) = value.value();
            out.push(StoredEntry {
                name: key.value().1.to_vec(),
                ino,
                kind: kind_from(code)?,
            });
        }
        Ok(out)
    }

    /// Copy bytes `[offset, offset + out.len())` of chunk `index` into `out`; missing bytes
    /// (a hole, or past the stored, zero-trimmed value) read as zeros.
    pub(crate) fn read_chunk(
        &self,
        ino: Ino,
        index: u64,
        offset: usize,
        out: &mut [u8],
    ) -> TxResult<()> {
        self.check_clean(ino)?;
        let table = self.table(CHUNKS)?;
        let value = table.get((ino, index))?;
        let stored: &[u8] = match &value {
            Some(v) => v.value(),
            None => &[],
        };
        let available = stored.len().saturating_sub(offset).min(out.len());
        if available > 0 {
            out[..available].copy_from_slice(&stored[offset..offset + available]);
        }
        out[available..].fill(0);
        Ok(())
    }

    /// Fill `out` with the bytes of file `ino` from `offset` on, with the chunk table opened
    /// once (holes, and bytes past a chunk's zero-trimmed value, read as zeros). Each chunk
    /// is looked up by key: a range scan would also read the page after the last chunk.
    /// The caller has clamped the range to the file's size.
    pub(crate) fn read_data(&self, ino: Ino, offset: u64, out: &mut [u8]) -> TxResult<()> {
        self.check_clean(ino)?;
        let table = self.table(CHUNKS)?;
        let mut pos = offset;
        let mut done = 0;
        while done < out.len() {
            let index = pos / CHUNK_SIZE;
            let within = (pos % CHUNK_SIZE) as usize;
            let n = (CHUNK_SIZE as usize - within).min(out.len() - done);
            let part = &mut out[done..done + n];
            let value = table.get((ino, index))?;
            let stored: &[u8] = value.as_ref().map_or(&[], |v| v.value());
            // A read may start past the end of the zero-trimmed value.
            let start = within.min(stored.len());
            let available = (stored.len() - start).min(n);
            part[..available].copy_from_slice(&stored[start..start + available]);
            part[available..].fill(0);
            done += n;
            pos += n as u64;
        }
        Ok(())
    }

    pub(crate) fn symlink_target(&self, ino: Ino) -> TxResult<Vec<u8>> {
        self.check_clean(ino)?;
        let table = self.table(SYMLINKS)?;
        let value = table.get(ino)?;
        match value {
            Some(v) => Ok(v.value().to_vec()),
            None => Err(FsError::RecordDamaged {
                what: format!("symlink {ino} has no target"),
            }
            .into()),
        }
    }

    pub(crate) fn xattr(&self, ino: Ino, name: &[u8]) -> TxResult<Option<Vec<u8>>> {
        self.check_clean(ino)?;
        let table = self.table(XATTRS)?;
        let value = table.get((ino, name))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    pub(crate) fn xattr_names(&self, ino: Ino) -> TxResult<Vec<Vec<u8>>> {
        self.check_clean(ino)?;
        let table = self.table(XATTRS)?;
        let lower: (u64, &[u8]) = (ino, &[]);
        let upper: (u64, &[u8]) = (ino + 1, &[]);
        let mut names = Vec::new();
        for entry in table.range(lower..upper)? {
            let (key, _) = entry?;
            names.push(key.value().1.to_vec());
        }
        Ok(names)
    }

    /// Every inode record; records that do not decode are returned as errors per inode.
    pub(crate) fn all_inodes(&self) -> TxResult<Vec<(Ino, Result<Inode, String>)>> {
        self.check_nothing_dirty()?;
        let table = self.table(INODES)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            out.push((
                key.value(),
                Inode::decode(value.value()).map_err(|e| e.to_string()),
            ));
        }
        Ok(out)
    }

    /// (inode, chunk index, stored length) of every chunk.
    pub(crate) fn all_chunk_keys(&self) -> TxResult<Vec<(Ino, u64, usize)>> {
        self.check_nothing_dirty()?;
        let table = self.table(CHUNKS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let (ino, index) = key.value();
            out.push((ino, index, value.value().len()));
        }
        Ok(out)
    }

    /// Inodes that have a symlink target, and inodes that have xattrs.
    pub(crate) fn symlink_and_xattr_owners(&self) -> TxResult<(Vec<Ino>, Vec<Ino>)> {
        self.check_nothing_dirty()?;
        let symlinks = self.table(SYMLINKS)?;
        let mut links = Vec::new();
        for entry in symlinks.iter()? {
            links.push(entry?.0.value());
        }
        let xattrs = self.table(XATTRS)?;
        let mut owners = Vec::new();
        for entry in xattrs.iter()? {
            let ino = entry?.0.value().0;
            if owners.last() != Some(&ino) {
                owners.push(ino);
            }
        }
        Ok((links, owners))
    }

    pub(crate) fn orphans(&self) -> TxResult<Vec<Ino>> {
        self.check_nothing_dirty()?;
        let table = self.table(ORPHANS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            out.push(entry?.0.value());
        }
        Ok(out)
    }
}

impl Tx<'_> {
    /// Store an inode record; `new` counts it as an additional inode.
    pub(crate) fn put_inode(&mut self, ino: Ino, inode: &Inode, new: bool) -> TxResult<()> {
        self.dirty.mark(ino);
        {
            let mut table = self.txn.open_table(INODES)?;
            table.insert(ino, &inode.encode()[..])?;
        }
        self.reader.remember_inode(ino, inode);
        if new {
            self.counters.inode_count += 1;
            self.account(entry_cost(8 + RECORD_LEN), 0);
        } else {
            self.account(0, 0);
        }
        Ok(())
    }

    /// Delete an inode and everything it owns (data, symlink target, xattrs, orphan mark).
    pub(crate) fn delete_inode(&mut self, ino: Ino) -> TxResult<()> {
        self.dirty.mark(ino);
        let reserved = match self.try_inode(ino)? {
            Some(inode) if inode.reserved_chunks > 0 => self.reserved_ranges(ino, 0, u64::MAX)?,
            _ => Reserved::NONE,
        };
        self.remove_chunks_from(ino, 0, &reserved)?;
        if !reserved.is_empty() {
            self.release_reserved_from(ino, None, 0, &reserved)?;
        }
        let mut freed = entry_cost(8 + RECORD_LEN);
        {
            let mut symlinks = self.txn.open_table(SYMLINKS)?;
            if let Some(target) = symlinks.remove(ino)? {
                freed += entry_cost(8 + target.value().len());
            }
        }
        {
            let mut xattrs = self.txn.open_table(XATTRS)?;
            let lower: (u64, &[u8]) = (ino, &[]);
            let upper: (u64, &[u8]) = (ino + 1, &[]);
            for entry in xattrs.extract_from_if(lower..upper, |_, _| true)? {
                let (key, value) = entry?;
                freed += entry_cost(8 + key.value().1.len() + value.value().len());
            }
        }
        {
            let mut orphans = self.txn.open_table(ORPHANS)?;
            if orphans.remove(ino)?.is_some() {
                freed += entry_cost(8);
            }
        }
        {
            let mut inodes = self.txn.open_table(INODES)?;
            inodes.remove(ino)?;
        }
        self.reader.forget_inode(ino);
        self.counters.inode_count = self.counters.inode_count.saturating_sub(1);
        self.account(0, freed);
        Ok(())
    }

    pub(crate) fn alloc_ino(&mut self) -> Ino {
        let ino = self.counters.next_ino;
        self.counters.next_ino += 1;
        ino
    }

    pub(crate) fn put_dirent(
        &mut self,
        parent: Ino,
        name: &[u8],
        ino: Ino,
        kind: FileKind,
    ) -> TxResult<()> {
        self.dirty.mark(parent);
        let replaced = {
            let mut table = self.txn.open_table(DIRENTS)?;
            table.insert((parent, name), (ino, kind.code()))?.is_some()
        };
        let cost = entry_cost(8 + name.len() + 9);
        if replaced {
            self.account(cost, cost);
        } else {
            self.account(cost, 0);
        }
        Ok(())
    }

    pub(crate) fn remove_dirent(&mut self, parent: Ino, name: &[u8]) -> TxResult<()> {
        self.dirty.mark(parent);
        {
            let mut table = self.txn.open_table(DIRENTS)?;
            table.remove((parent, name))?;
        }
        self.account(0, entry_cost(8 + name.len() + 9));
        Ok(())
    }

    /// Replace chunk `index` with `data` (trailing zeros are not stored; an all-zero chunk
    /// becomes a hole). `reserved`: the chunk lies in a `fallocate` reservation, which
    /// already counts it as a full chunk, so its data takes no more of the space account.
    pub(crate) fn put_chunk(
        &mut self,
        ino: Ino,
        index: u64,
        data: &[u8],
        reserved: bool,
    ) -> TxResult<()> {
        self.dirty.mark(ino);
        debug_assert!(data.len() as u64 <= CHUNK_SIZE);
        let data = &data[..trimmed_len(data)];
        let old_len = {
            let mut table = self.txn.open_table(CHUNKS)?;
            let old = if data.is_empty() {
                table.remove((ino, index))?
            } else {
                table.insert((ino, index), data)?
            };
            old.map_or(0, |v| v.value().len())
        };
        if reserved {
            self.account_in_reservation(data.len() as u64, chunk_cost(old_len));
        } else {
            self.account(chunk_cost(data.len()), chunk_cost(old_len));
        }
        Ok(())
    }

    /// Bytes of space a chunk of `len` bytes would need (for `reserve`).
    pub(crate) fn chunk_space(len: usize) -> u64 {
        chunk_cost(len)
    }

    /// Remove every chunk of `ino` with index ≥ `first`. Chunks in `reserved` (the file's
    /// `fallocate` reservations from `first` on) leave their share of the space account to
    /// [`Tx::release_reserved_from`]; their pages are pinned until commit all the same.
    pub(crate) fn remove_chunks_from(
        &mut self,
        ino: Ino,
        first: u64,
        reserved: &Reserved,
    ) -> TxResult<()> {
        self.dirty.mark(ino);
        let mut freed = 0;
        let mut freed_in_reservation = 0;
        let mut any = false;
        {
            let mut table = self.txn.open_table(CHUNKS)?;
            for entry in table.extract_from_if((ino, first)..(ino + 1, 0), |_, _| true)? {
                let (key, value) = entry?;
                let cost = chunk_cost(value.value().len());
                if reserved.covers(key.value().1) {
                    freed_in_reservation += cost;
                } else {
                    freed += cost;
                }
                any = true;
            }
        }
        if any {
            self.account(0, freed);
        }
        if freed_in_reservation > 0 {
            self.account_in_reservation(0, freed_in_reservation);
        }
        Ok(())
    }

    pub(crate) fn put_symlink(&mut self, ino: Ino, target: &[u8]) -> TxResult<()> {
        self.dirty.mark(ino);
        {
            let mut table = self.txn.open_table(SYMLINKS)?;
            table.insert(ino, target)?;
        }
        self.account(entry_cost(8 + target.len()), 0);
        Ok(())
    }

    /// Store an xattr; returns whether it replaced an existing one.
    pub(crate) fn put_xattr(&mut self, ino: Ino, name: &[u8], value: &[u8]) -> TxResult<bool> {
        self.dirty.mark(ino);
        let old = {
            let mut table = self.txn.open_table(XATTRS)?;
            table.insert((ino, name), value)?.map(|v| v.value().len())
        };
        let freed = old.map_or(0, |len| entry_cost(8 + name.len() + len));
        self.account(entry_cost(8 + name.len() + value.len()), freed);
        Ok(old.is_some())
    }

    /// Remove an xattr; returns whether it existed.
    pub(crate) fn remove_xattr(&mut self, ino: Ino, name: &[u8]) -> TxResult<bool> {
        self.dirty.mark(ino);
        let old = {
            let mut table = self.txn.open_table(XATTRS)?;
            table.remove((ino, name))?.map(|v| v.value().len())
        };
        if let Some(len) = old {
            self.account(0, entry_cost(8 + name.len() + len));
        }
        Ok(old.is_some())
    }

    pub(crate) fn add_orphan(&mut self, ino: Ino) -> TxResult<()> {
        self.dirty.mark(ino);
        {
            let mut table = self.txn.open_table(ORPHANS)?;
            table.insert(ino, ())?;
        }
        self.account(entry_cost(8), 0);
        Ok(())
    }
}
