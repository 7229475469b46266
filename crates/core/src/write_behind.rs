//! Write-behind: block writes are encrypted and written by a worker thread.
//!
//! Encrypting a block and copying it into the host's page cache is about half of the CPU
//! time of a large write, and the storage engine does it inline, while the file system's
//! caller waits. [`WriteBehindDevice`] takes the write, queues a copy and returns; one worker
//! thread passes the queue, in order, to the device underneath. So on a machine with two cores
//! the encryption of one batch overlaps the file-system work of the next.
//!
//! What callers can rely on is unchanged:
//! * **Durability**: `sync` first waits until every queued write has reached the device, then
//!   syncs it. Before a sync, no write was ever promised to be on disk.
//! * **Reads see earlier writes**: a read that overlaps a queued (or in-flight) write waits
//!   until that write is done.
//! * **Errors are not lost**: the first failure of a queued write is kept and returned by
//!   every later write, read, length change and sync, so the storage engine sees the failure
//!   at the latest when it commits (and then refuses further use, as for any I/O error).
//! * **Memory is bounded**: at most [`QUEUE_LIMIT`] bytes wait; a writer beyond it waits.
//! * Writes past the device's length or capacity (which fail), and length changes, are done
//!   at once,
//!   after the queue has drained.
//!
//! Dropping the device lets the worker finish the queue, then joins it (see `worker.rs`).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use crate::device::{BlockDevice, ReadMode};
use crate::error::BlockError;
use crate::forward::forward_device_facts;
use crate::geometry::BLOCK_SIZE;
use crate::worker::{Shared, Worker};

/// Bytes of writes that may wait for the worker.
pub const QUEUE_LIMIT: usize = 16 << 20;

const BLOCK: u64 = BLOCK_SIZE as u64;

/// A [`BlockDevice`] whose writes are done by a worker thread (see the module docs).
#[derive(Debug)]
pub struct WriteBehindDevice {
    inner: Arc<dyn BlockDevice>,
    worker: Worker<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<PendingWrite>,
    /// Blocks being written by the worker right now: (first, count).
    in_flight: Option<(u64, u64)>,
    /// Bytes in `waiting` and in flight.
    bytes: usize,
    /// The first failure of a queued write: kind and message (io::Error is not Clone).
    failed: Option<(io::ErrorKind, String)>,
}

#[derive(Debug)]
struct PendingWrite {
    first: u64,
    data: Vec<u8>,
}

impl PendingWrite {
    fn blocks(&self) -> u64 {
        self.data.len() as u64 / BLOCK
    }
}

fn overlaps(a_first: u64, a_count: u64, b_first: u64, b_count: u64) -> bool {
    a_first < b_first + b_count && b_first < a_first + a_count
}

impl Queue {
    fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.in_flight.is_none()
    }

    fn overlaps(&self, first: u64, count: u64) -> bool {
        self.in_flight
            .is_some_and(|(f, c)| overlaps(f, c, first, count))
            || self
                .waiting
                .iter()
                .any(|w| overlaps(w.first, w.blocks(), first, count))
    }

    fn failure(&self) -> Result<(), BlockError> {
        match &self.failed {
            None => Ok(()),
            Some((kind, message)) => Err(BlockError::Io(io::Error::new(
                *kind,
                format!("an earlier write of the container failed: {message}"),
            ))),
        }
    }
}

impl WriteBehindDevice {
    /// Wrap `inner`; starts the worker thread.
    pub fn new(inner: Arc<dyn BlockDevice>) -> io::Result<Self> {
        let worker = {
            let inner = Arc::clone(&inner);
            Worker::spawn("secvol-writer", Queue::default(), move |shared| {
                run_worker(&*inner, shared)
            })?
        };
        Ok(WriteBehindDevice { inner, worker })
    }

    fn shared(&self) -> &Shared<Queue> {
        self.worker.shared()
    }

    /// Wait until every queued write has reached the device; report an earlier failure.
    fn drain(&self) -> Result<(), BlockError> {
        let shared = self.shared();
        let queue = shared.wait_while(shared.lock(), |q| !q.is_idle());
        queue.failure()
    }

    fn enqueue(&self, first: u64, data: Vec<u8>) -> Result<(), BlockError> {
        let shared = self.shared();
        let mut queue = shared.lock();
        queue.failure()?;
        queue = shared.wait_while(queue, |q| {
            q.bytes > 0 && q.bytes + data.len() > QUEUE_LIMIT && q.failed.is_none()
        });
        queue.failure()?;
        queue.bytes += data.len();
        queue.waiting.push_back(PendingWrite { first, data });
        drop(queue);
        shared.notify();
        Ok(())
    }

    /// Whether a write can only fail (then it is done at once, in order, so it fails here).
    fn must_write_now(&self, first: u64, len: usize) -> bool {
        let end = (len as u64).saturating_add(first.saturating_mul(BLOCK));
        len == 0
            || !len.is_multiple_of(BLOCK_SIZE)
            || end > self.inner.len()
            || end > self.inner.capacity_blocks().saturating_mul(BLOCK)
    }
}

fn run_worker(inner: &dyn BlockDevice, shared: &Shared<Queue>) {
    loop {
        let write = {
            let mut queue = shared.wait_while(shared.lock(), |q| {
                q.waiting.is_empty() && !shared.stopping()
            });
            let Some(write) = queue.waiting.pop_front() else {
                return; // stopping, and nothing left to write
            };
            queue.in_flight = Some((write.first, write.blocks()));
            write
        };
        // After a failure the remaining writes are still attempted: each is independent, and
        // the failure is reported anyway.
        let len = write.data.len();
        let result = inner.write_blocks_owned(write.first, write.data);
        let mut queue = shared.lock();
        queue.in_flight = None;
        queue.bytes -= len;
        if let Err(err) = result
            && queue.failed.is_none()
        {
            let err = io::Error::from(err);
            log::error!("writing the container failed: {err}");
            queue.failed = Some((err.kind(), err.to_string()));
        }
        drop(queue);
        shared.notify();
    }
}

impl BlockDevice for WriteBehindDevice {
    forward_device_facts!(inner);

    fn set_len(&self, len: u64) -> Result<(), BlockError> {
        self.drain()?;
        self.inner.set_len(len)
    }

    fn read_blocks(&self, first: u64, buf: &mut [u8], mode: ReadMode) -> Result<(), BlockError> {
        let count = buf.len() as u64 / BLOCK;
        {
            let shared = self.shared();
            let queue = shared.wait_while(shared.lock(), |q| q.overlaps(first, count));
            queue.failure()?;
        }
        self.inner.read_blocks(first, buf, mode)
    }

    fn write_blocks(&self, first: u64, data: &[u8]) -> Result<(), BlockError> {
        if self.must_write_now(first, data.len()) {
            self.drain()?;
            return self.inner.write_blocks(first, data);
        }
        // The one copy of the write path: the caller's buffer is not ours to keep.
        self.enqueue(first, data.to_vec())
    }

    fn write_blocks_owned(&self, first: u64, data: Vec<u8>) -> Result<(), BlockError> {
        if self.must_write_now(first, data.len()) {
            self.drain()?;
            return self.inner.write_blocks_owned(first, data);
        }
        self.enqueue(first, data)
    }

    fn sync(&self) -> Result<(), BlockError> {
        self.drain()?;
        self.inner.sync()
    }
}
