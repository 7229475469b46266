//! `fallocate` reservations: which chunks of a file are reserved, and their share of the space
//! account.
//!
//! File data elides zeros (an all-zero chunk is a hole, stored as nothing), so extending a
//! file or writing zeros takes no room, and the room a later write needs is taken only when it
//! is written. A reservation is the promise `fallocate` makes: every chunk of the range counts
//! as a full chunk in the space account from the moment the call succeeds, whatever it holds,
//! so writing it later never needs more room. Reserved chunks stay reserved until the file is
//! truncated below them or deleted, as allocated blocks stay allocated on a block file system:
//! writing zeros over them or rewriting them keeps the promise.
//!
//! Rewriting reserved data is copy-on-write like every write: the old copy stays until the next
//! commit. While any reservation exists the account therefore also sets aside
//! [`REWRITE_HEADROOM`], the room the largest write the kernel sends needs for that moment.
//!
//! Stored as ranges of chunk indexes per inode in the `reserved` table (merged, so one
//! `fallocate` of a fresh file is one entry however large), two fields of the inode record
//! (how many chunks, and where the last range ends: enough for `st_blocks`, and for not
//! opening the table at all for files without reservations) and a total in the meta table.
//! `check` verifies that the three agree.
//!
//! This module must not know about front-ends or `fallocate` mode bits (the drivers decode
//! them); the data path (`data.rs`) asks it which chunks are reserved.

use std::collections::{BTreeMap, HashMap};

use crate::error::FsError;
use crate::inode::{FileKind, Ino, Inode};
use crate::schema::{CHUNKS, FULL_CHUNK_COST, RESERVED, chunk_cost, reserved_range_cost};
use crate::store::{REWRITE_HEADROOM, Tx, TxResult};
use crate::view::Reader;

/// The reserved ranges of one file (chunk indexes, end exclusive) that meet the chunks an
/// operation touches, loaded once per operation; sorted, never overlapping.
#[derive(Debug, Default)]
pub(crate) struct Reserved {
    ranges: Vec<(u64, u64)>,
}

impl Reserved {
    /// No reservations (a file whose inode records none).
    pub(crate) const NONE: Reserved = Reserved { ranges: Vec::new() };

    /// Whether chunk `index` is reserved.
    pub(crate) fn covers(&self, index: u64) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= index && index < b)
    }

    /// How many of the chunks `first..end` are reserved.
    pub(crate) fn count_in(&self, first: u64, end: u64) -> u64 {
        self.ranges
            .iter()
            .map(|&(a, b)| b.min(end).saturating_sub(a.max(first)))
            .sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

impl Reader<'_> {
    /// The reserved ranges of `ino` that meet chunks `first..end`.
    pub(crate) fn reserved_ranges(&self, ino: Ino, first: u64, end: u64) -> TxResult<Reserved> {
        self.check_clean(ino)?;
        let table = self.table(RESERVED)?;
        let mut ranges = Vec::new();
        // The one range starting before `first` may reach into it.
        if first > 0
            && let Some(entry) = table.range((ino, 0)..(ino, first))?.next_back()
        {
            let (key, value) = entry?;
            let (start, stop) = (key.value().1, value.value());
            if stop > first {
                ranges.push((start, stop));
            }
        }
        for entry in table.range((ino, first)..(ino, end))? {
            let (key, value) = entry?;
            ranges.push((key.value().1, value.value()));
        }
        Ok(Reserved { ranges })
    }

    /// The end of the last reserved range of `ino` that starts before chunk `limit`, capped
    /// at `limit` (0: none).
    fn reserved_end_below(&self, ino: Ino, limit: u64) -> TxResult<u64> {
        let table = self.table(RESERVED)?;
        let last = table.range((ino, 0)..(ino, limit))?.next_back();
        match last {
            Some(entry) => Ok(entry?.1.value().min(limit)),
            None => Ok(0),
        }
    }

    /// What the data chunks `first..end` of `ino` cost in the space account.
    fn data_cost(&self, ino: Ino, first: u64, end: u64) -> TxResult<u64> {
        self.data_cost_where(ino, first, end, |_| true)
    }

    /// What the data chunks `first..end` of `ino` that lie in `reserved` cost: the room a
    /// rewrite of them needs until the next commit (see [`Tx::reserve_with_rewrite`]).
    pub(crate) fn reserved_data_cost(
        &self,
        ino: Ino,
        first: u64,
        end: u64,
        reserved: &Reserved,
    ) -> TxResult<u64> {
        if reserved.is_empty() {
            return Ok(0);
        }
        self.data_cost_where(ino, first, end, |index| reserved.covers(index))
    }

    fn data_cost_where(
        &self,
        ino: Ino,
        first: u64,
        end: u64,
        counted: impl Fn(u64) -> bool,
    ) -> TxResult<u64> {
        self.check_clean(ino)?;
        let table = self.table(CHUNKS)?;
        let mut cost = 0;
        for entry in table.range((ino, first)..(ino, end))? {
            let (key, value) = entry?;
            if counted(key.value().1) {
                cost += chunk_cost(value.value().len());
            }
        }
        Ok(cost)
    }

    /// Every reserved range of every inode: (inode, first chunk, end chunk), for `check`.
    pub(crate) fn all_reserved_ranges(&self) -> TxResult<Vec<(Ino, u64, u64)>> {
        self.check_nothing_dirty()?;
        let table = self.table(RESERVED)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let (ino, first) = key.value();
            out.push((ino, first, value.value()));
        }
        Ok(out)
    }
}

/// Check the reservations against the inode records and the recorded total: ranges of
/// existing regular files only, well-formed and apart, and counts that agree. Returns what
/// is wrong, one line each.
pub(crate) fn check_reservations(
    inodes: &HashMap<Ino, Inode>,
    ranges: &[(Ino, u64, u64)],
    recorded_total: u64,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut per_inode: BTreeMap<Ino, (u64, u64)> = BTreeMap::new();
    let mut previous: Option<(Ino, u64)> = None;
    for &(ino, first, end) in ranges {
        if first >= end {
            problems.push(format!(
                "empty reserved range {first}..{end} of inode {ino}"
            ));
        } else if previous.is_some_and(|(p_ino, p_end)| p_ino == ino && p_end >= first) {
            problems.push(format!(
                "reserved range {first}..{end} of inode {ino} overlaps or touches the one before"
            ));
        }
        previous = Some((ino, end));
        match inodes.get(&ino) {
            Some(inode) if inode.kind == FileKind::RegularFile => {
                let counts = per_inode.entry(ino).or_default();
                counts.0 += end.saturating_sub(first);
                counts.1 = counts.1.max(end);
            }
            Some(_) => problems.push(format!("reserved range of inode {ino}, not a file")),
            None => problems.push(format!("reserved range of missing inode {ino}")),
        }
    }
    let mut total = 0;
    for (&ino, inode) in inodes {
        let (chunks, end) = per_inode.get(&ino).copied().unwrap_or_default();
        total += chunks;
        if (
            u64::from(inode.reserved_chunks),
            u64::from(inode.reserved_end),
        ) != (chunks, end)
        {
            problems.push(format!(
                "inode {ino} records {} reserved chunk(s) ending at {}, its ranges hold {chunks} \
                 ending at {end}",
                inode.reserved_chunks, inode.reserved_end
            ));
        }
    }
    if total != recorded_total {
        problems.push(format!(
            "the file system records {recorded_total} reserved chunk(s), the files hold {total}"
        ));
    }
    problems
}

impl Tx<'_> {
    /// Reserve chunks `first..end` of regular file `ino` (whose record the caller holds in
    /// `inode` and stores afterwards). Chunks already reserved stay as they are; the others
    /// count as full chunks from now on. Refuses with "no space", changing nothing, if the
    /// container cannot hold them.
    pub(crate) fn reserve_chunks(
        &mut self,
        ino: Ino,
        inode: &mut Inode,
        first: u64,
        end: u64,
    ) -> TxResult<()> {
        if first >= end {
            return Ok(());
        }
        // The inode record keeps chunk indexes in 32 bits: reservations end below 256 TiB.
        let end_field = u32::try_from(end).map_err(|_| FsError::FileTooLarge)?;
        // Ranges that overlap or touch first..end merge with the new one.
        let touching = if inode.reserved_chunks == 0 {
            Reserved::NONE
        } else {
            self.reserved_ranges(ino, first.saturating_sub(1), end + 1)?
        };
        let mut new_chunks = 0;
        let mut needed = 0;
        let mut cursor = first;
        let mut gaps = Vec::new();
        for &(a, b) in &touching.ranges {
            if a > cursor {
                gaps.push((cursor, a.min(end)));
            }
            cursor = cursor.max(b);
        }
        if cursor < end {
            gaps.push((cursor, end));
        }
        for &(a, b) in gaps.iter().filter(|(a, b)| a < b) {
            new_chunks += b - a;
            // What the chunks hold already counts; the reservation adds the rest of a full
            // chunk each.
            needed += (b - a) * FULL_CHUNK_COST - self.data_cost(ino, a, b)?;
        }
        if new_chunks == 0 {
            return Ok(());
        }
        let total = u64::from(inode.reserved_chunks) + new_chunks;
        let total = u32::try_from(total).map_err(|_| FsError::NoSpace)?;
        if self.counters.reserved_chunks == 0 {
            // The first reservation also sets aside the room rewrites of reserved data need.
            needed += REWRITE_HEADROOM;
        }
        self.reserve(needed + reserved_range_cost())?;

        let start = touching.ranges.first().map_or(first, |r| r.0.min(first));
        let stop = touching.ranges.last().map_or(end, |r| r.1.max(end));
        self.dirty.mark(ino);
        {
            let mut table = self.txn.open_table(RESERVED)?;
            for &(a, _) in &touching.ranges {
                table.remove((ino, a))?;
            }
            table.insert((ino, start), stop)?;
        }
        let entries = touching.ranges.len() as u64 * reserved_range_cost();
        self.account(reserved_range_cost(), entries);
        self.account_reservation(needed, 0);
        self.counters.reserved_chunks += new_chunks;
        inode.reserved_chunks = total;
        inode.reserved_end = inode.reserved_end.max(end_field);
        Ok(())
    }

    /// Give up the reservations of chunks `first` and later of `ino` (a truncate that ends
    /// the file before them, or a deletion with `first` 0), updating `inode` if the caller
    /// keeps the record. `reserved` holds the ranges that reach past `first`; the data chunks
    /// inside them must already be gone, removed with [`Tx::remove_chunks_from`], which
    /// leaves their share of the account to this release.
    pub(crate) fn release_reserved_from(
        &mut self,
        ino: Ino,
        inode: Option<&mut Inode>,
        first: u64,
        reserved: &Reserved,
    ) -> TxResult<()> {
        let mut released = 0;
        let mut removed = 0;
        self.dirty.mark(ino);
        {
            let mut table = self.txn.open_table(RESERVED)?;
            for &(a, b) in reserved.ranges.iter().filter(|r| r.1 > first) {
                if a < first {
                    table.insert((ino, a), first)?;
                    released += b - first;
                } else {
                    table.remove((ino, a))?;
                    released += b - a;
                    removed += 1;
                }
            }
        }
        if released == 0 {
            return Ok(());
        }
        if removed > 0 {
            self.account(0, removed * reserved_range_cost());
        }
        self.account_reservation(0, released * FULL_CHUNK_COST);
        self.counters.reserved_chunks = self.counters.reserved_chunks.saturating_sub(released);
        if self.counters.reserved_chunks == 0 {
            self.account_reservation(0, REWRITE_HEADROOM);
        }
        if let Some(inode) = inode {
            let left = u64::from(inode.reserved_chunks).saturating_sub(released);
            inode.reserved_chunks = u32::try_from(left).unwrap_or(u32::MAX);
            let end = if left == 0 {
                0
            } else {
                self.reserved_end_below(ino, first)?
            };
            inode.reserved_end = u32::try_from(end).unwrap_or(u32::MAX);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ranges_answer_coverage_and_counts() {
        let reserved = Reserved {
            ranges: vec![(2, 5), (8, 9)],
        };
        assert!(!reserved.covers(1));
        assert!(reserved.covers(2) && reserved.covers(4) && reserved.covers(8));
        assert!(!reserved.covers(5) && !reserved.covers(9));
        assert_eq!(reserved.count_in(0, 100), 4);
        assert_eq!(reserved.count_in(3, 8), 2);
        assert_eq!(reserved.count_in(5, 8), 0);
        assert_eq!(Reserved::NONE.count_in(0, u64::MAX), 0);
    }

    fn file(reserved_chunks: u32, reserved_end: u32) -> Inode {
        let mut inode = Inode::new(FileKind::RegularFile, 0o644, 0, 0, Default::default());
        inode.reserved_chunks = reserved_chunks;
        inode.reserved_end = reserved_end;
        inode
    }

    #[test]
    fn check_accepts_agreeing_reservations_and_names_each_disagreement() {
        let inodes = HashMap::from([
            (2, file(5, 9)),
            (3, file(0, 0)),
            (
                4,
                Inode::new(FileKind::Directory, 0o755, 0, 0, Default::default()),
            ),
        ]);
        let good = [(2, 0, 2), (2, 6, 9)];
        assert_eq!(check_reservations(&inodes, &good, 5), Vec::<String>::new());
        // The recorded total disagrees.
        assert_eq!(check_reservations(&inodes, &good, 4).len(), 1);
        // A range the inode does not count, of a directory, of a missing inode.
        for bad in [(3, 0, 1), (4, 0, 1), (9, 0, 1)] {
            let ranges = [good[0], good[1], bad];
            let found = check_reservations(&inodes, &ranges, 6);
            assert!(!found.is_empty(), "{bad:?} not found");
        }
        // Touching ranges must have been merged.
        let touching = [(2, 0, 2), (2, 2, 5)];
        let found = check_reservations(&HashMap::from([(2, file(5, 5))]), &touching, 5);
        assert_eq!(found.len(), 1, "{found:?}");
    }
}
