//! Read-ahead: when the device is read sequentially, the following blocks are read and
//! decrypted by a worker thread before they are asked for.
//!
//! A cold sequential read of a file is a series of page reads by the storage engine, each a
//! `pread` followed by decryption, one after the other on the request's thread. With two cores
//! the worker decrypts the next megabyte while the request thread copies out the current one.
//!
//! Correctness rules:
//! * Only strict reads use or fill the read-ahead; a lenient read (`check`) goes straight to
//!   the device, and a prefetch that fails authentication is dropped (the real read then
//!   reports it).
//! * A prefetched segment is dropped as soon as a write or a length change touches it, and a
//!   prefetch during which any write or length change happened is discarded, so a segment never
//!   holds bytes older than the device's.
//! * At most [`SEGMENTS`] segments of [`READ_AHEAD_BLOCKS`] blocks are kept.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::device::{BlockDevice, ReadMode};
use crate::error::BlockError;
use crate::forward::forward_device_facts;
use crate::geometry::BLOCK_SIZE;
use crate::worker::{Shared, Worker};

/// Blocks read ahead at a time (1 MiB).
pub const READ_AHEAD_BLOCKS: u64 = 256;
/// Prefetched segments kept.
pub const SEGMENTS: usize = 4;

const BLOCK: u64 = BLOCK_SIZE as u64;
/// A read starting at most this many blocks after the previous one still counts as sequential
/// (the storage engine's own pages may sit between a file's data pages).
const SEQUENTIAL_SLACK: u64 = 64;

/// A [`BlockDevice`] that reads ahead on a worker thread (see the module docs).
#[derive(Debug)]
pub struct ReadAheadDevice {
    inner: Arc<dyn BlockDevice>,
    worker: Worker<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The block after the end of the last strict read.
    next_expected: u64,
    /// Consecutive sequential reads so far.
    streak: u32,
    segments: VecDeque<Segment>,
    /// A prefetch asked for and not yet started: (first, count).
    request: Option<(u64, u64)>,
    /// The prefetch being read now: (first, count).
    in_flight: Option<(u64, u64)>,
    /// Counts the starts and ends of writes and length changes: a prefetch is kept only if it
    /// did not change while the prefetch read.
    write_generation: u64,
    /// Reads served from a prefetched segment.
    hits: u64,
}

#[derive(Debug)]
struct Segment {
    first: u64,
    data: Vec<u8>,
}

impl Segment {
    fn end(&self) -> u64 {
        self.first + self.data.len() as u64 / BLOCK
    }
}

fn overlaps(a_first: u64, a_count: u64, b_first: u64, b_count: u64) -> bool {
    a_first < b_first + b_count && b_first < a_first + a_count
}

impl State {
    /// The end of the blocks from `block` on that are prefetched, being prefetched or asked
    /// for, without a gap (`block` itself if it is none of those).
    fn covered_until(&self, block: u64) -> u64 {
        let ranges = self
            .segments
            .iter()
            .map(|s| (s.first, s.end()))
            .chain(self.in_flight.map(|(f, c)| (f, f + c)))
            .chain(self.request.map(|(f, c)| (f, f + c)));
        let mut ranges: Vec<(u64, u64)> = ranges.collect();
        ranges.sort_unstable();
        let mut end = block;
        for (first, last) in ranges {
            if first <= end && end < last {
                end = last;
            }
        }
        end
    }

    /// A write or length change of blocks `first..first + count` begins or ends.
    fn invalidate(&mut self, first: u64, count: u64) {
        self.write_generation += 1;
        self.segments
            .retain(|s| !overlaps(s.first, s.end() - s.first, first, count));
        if self
            .request
            .is_some_and(|(f, c)| overlaps(f, c, first, count))
        {
            self.request = None;
        }
    }
}

impl ReadAheadDevice {
    /// Wrap `inner`; starts the worker thread.
    pub fn new(inner: Arc<dyn BlockDevice>) -> std::io::Result<Self> {
        let worker = {
            let inner = Arc::clone(&inner);
            Worker::spawn("secvol-readahead", State::default(), move |shared| {
                run_worker(&*inner, shared)
            })?
        };
        Ok(ReadAheadDevice { inner, worker })
    }

    fn shared(&self) -> &Shared<State> {
        self.worker.shared()
    }

    /// Reads served from prefetched blocks so far.
    pub fn hits(&self) -> u64 {
        self.shared().lock().hits
    }

    /// Wait until no prefetch is asked for or running (for tests that need a prefetch to
    /// have finished).
    pub fn wait_idle(&self) {
        let shared = self.shared();
        let _idle = shared.wait_while(shared.lock(), |s| {
            s.request.is_some() || s.in_flight.is_some()
        });
    }
}

fn run_worker(inner: &dyn BlockDevice, shared: &Shared<State>) {
    loop {
        let (first, count, generation) = {
            let mut state =
                shared.wait_while(shared.lock(), |s| s.request.is_none() && !shared.stopping());
            if shared.stopping() {
                return;
            }
            let Some((first, count)) = state.request.take() else {
                continue;
            };
            state.in_flight = Some((first, count));
            (first, count, state.write_generation)
        };
        let mut data = vec![0u8; (count * BLOCK) as usize];
        let result = inner.read_blocks(first, &mut data, ReadMode::Strict);
        let mut state = shared.lock();
        state.in_flight = None;
        if result.is_ok() && state.write_generation == generation {
            state.segments.push_back(Segment { first, data });
            while state.segments.len() > SEGMENTS {
                state.segments.pop_front();
            }
        }
        drop(state);
        shared.notify();
    }
}

impl BlockDevice for ReadAheadDevice {
    forward_device_facts!(inner);

    fn set_len(&self, len: u64) -> Result<(), BlockError> {
        self.shared().lock().invalidate(0, u64::MAX / 2);
        let result = self.inner.set_len(len);
        self.shared().lock().invalidate(0, u64::MAX / 2);
        result
    }

    fn read_blocks(&self, first: u64, buf: &mut [u8], mode: ReadMode) -> Result<(), BlockError> {
        let count = buf.len() as u64 / BLOCK;
        if mode != ReadMode::Strict || count == 0 || !buf.len().is_multiple_of(BLOCK_SIZE) {
            return self.inner.read_blocks(first, buf, mode);
        }
        let hit = {
            let shared = self.shared();
            // A prefetch of these blocks is under way: it will be quicker to wait for it.
            let mut state = shared.wait_while(shared.lock(), |s| {
                s.in_flight
                    .is_some_and(|(f, c)| overlaps(f, c, first, count))
            });
            let hit = match state
                .segments
                .iter()
                .find(|s| s.first <= first && first + count <= s.end())
            {
                Some(segment) => {
                    let start = ((first - segment.first) * BLOCK) as usize;
                    buf.copy_from_slice(&segment.data[start..start + buf.len()]);
                    state.hits += 1;
                    true
                }
                None => false,
            };
            let sequential =
                first >= state.next_expected && first <= state.next_expected + SEQUENTIAL_SLACK;
            state.streak = if sequential || hit {
                state.streak.saturating_add(1)
            } else {
                0
            };
            state.next_expected = first + count;
            let ahead = first + count;
            let len_blocks = self.inner.len() / BLOCK;
            let covered = state.covered_until(ahead);
            // Keep at least one window ahead of the reader; one prefetch asked for at a time.
            if state.streak >= 2
                && state.request.is_none()
                && covered < ahead + READ_AHEAD_BLOCKS
                && covered < len_blocks
            {
                state.request = Some((covered, READ_AHEAD_BLOCKS.min(len_blocks - covered)));
                shared.notify();
            }
            hit
        };
        if hit {
            Ok(())
        } else {
            self.inner.read_blocks(first, buf, mode)
        }
    }

    fn write_blocks(&self, first: u64, data: &[u8]) -> Result<(), BlockError> {
        let count = data.len() as u64 / BLOCK;
        self.shared().lock().invalidate(first, count.max(1));
        let result = self.inner.write_blocks(first, data);
        self.shared().lock().invalidate(first, count.max(1));
        result
    }

    fn write_blocks_owned(&self, first: u64, data: Vec<u8>) -> Result<(), BlockError> {
        let count = data.len() as u64 / BLOCK;
        self.shared().lock().invalidate(first, count.max(1));
        let result = self.inner.write_blocks_owned(first, data);
        self.shared().lock().invalidate(first, count.max(1));
        result
    }

    fn sync(&self) -> Result<(), BlockError> {
        self.inner.sync()
    }
}
