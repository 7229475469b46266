//! A set of block indices, one bit per block.
//!
//! `check` records every block the file system reads while it walks everything it references;
//! a block that fails authentication but is not in that set holds nothing (see
//! [`crate::device::VerifyReport::classify`]). One bit per 4 KiB block is 32 KiB per GiB of
//! container.

use std::ops::Range;

/// A growable bitmap of block indices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockSet {
    words: Vec<u64>,
}

impl BlockSet {
    /// An empty set.
    pub fn new() -> Self {
        BlockSet::default()
    }

    /// Add blocks `range`.
    pub fn insert_range(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let last_word = ((range.end - 1) / 64) as usize;
        if self.words.len() <= last_word {
            self.words.resize(last_word + 1, 0);
        }
        for index in range {
            self.words[(index / 64) as usize] |= 1 << (index % 64);
        }
    }

    /// Whether `index` is in the set.
    pub fn contains(&self, index: u64) -> bool {
        self.words
            .get((index / 64) as usize)
            .is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    /// Number of blocks in the set.
    pub fn len(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Split `range` into maximal runs that are all in the set (`true`) or all outside it.
    pub fn split(&self, range: Range<u64>) -> Vec<(Range<u64>, bool)> {
        let mut runs: Vec<(Range<u64>, bool)> = Vec::new();
        for index in range {
            let inside = self.contains(index);
            match runs.last_mut() {
                Some((run, was_inside)) if *was_inside == inside && run.end == index => {
                    run.end = index + 1;
                }
                _ => runs.push((index..index + 1, inside)),
            }
        }
        runs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_go_in_and_split_back_out() {
        let mut set = BlockSet::new();
        assert!(set.is_empty());
        set.insert_range(3..5);
        set.insert_range(63..66);
        set.insert_range(10..10);
        assert_eq!(set.len(), 5);
        assert!(set.contains(3) && set.contains(4) && set.contains(64) && set.contains(65));
        assert!(!set.contains(5) && !set.contains(62) && !set.contains(1 << 40));
        assert_eq!(
            set.split(0..8),
            vec![(0..3, false), (3..5, true), (5..8, false)]
        );
        assert_eq!(set.split(64..67), vec![(64..66, true), (66..67, false)]);
    }
}
