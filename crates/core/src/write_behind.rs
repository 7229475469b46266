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
//! * Writes past the device's length (which fail), and length changes, are done at once,
//!   after the queue has drained.
//!
//! Dropping the device lets the worker finish the queue, then joins it.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::device::{BlockDevice, ReadMode};
use crate::error::BlockError;
use crate::geometry::BLOCK_SIZE;

/// Bytes of writes that may wait for the worker.
pub const QUEUE_LIMIT: usize = 16 << 20;

const BLOCK: u64 = BLOCK_SIZE as u64;

/// A [`BlockDevice`] whose writes are done by a worker thread (see the module docs).
#[derive(Debug)]
pub struct WriteBehindDevice {
    inner: Arc<dyn BlockDevice>,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a write is queued, finished, or the device is dropped.
    changed: Condvar,
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
    stopping: bool,
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
        let shared = Arc::new(Shared::default());
        let worker = {
            let inner = Arc::clone(&inner);
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("secvol-writer".into())
                .spawn(move || run_worker(&*inner, &shared))?
        };
        Ok(WriteBehindDevice {
            inner,
            shared,
            worker: Some(worker),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait_while<'a>(
        &self,
        guard: MutexGuard<'a, Queue>,
        condition: impl FnMut(&mut Queue) -> bool,
    ) -> MutexGuard<'a, Queue> {
        self.shared
            .changed
            .wait_while(guard, condition)
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until every queued write has reached the device; report an earlier failure.
    fn drain(&self) -> Result<(), BlockError> {
        let queue = self.wait_while(self.lock(), |q| !q.is_idle());
        queue.failure()
    }
}

fn run_worker(inner: &dyn BlockDevice, shared: &Shared) {
    let lock = || shared.queue.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let write = {
            let queue = shared
                .changed
                .wait_while(lock(), |q| q.waiting.is_empty() && !q.stopping)
                .unwrap_or_else(|p| p.into_inner());
            let mut queue = queue;
            let Some(write) = queue.waiting.pop_front() else {
                return; // stopping, and nothing left to write
            };
            queue.in_flight = Some((write.first, write.blocks()));
            write
        };
        // After a failure the remaining writes are still attempted: each is independent, and
        // the failure is reported anyway.
        let result = inner.write_blocks(write.first, &write.data);
        let mut queue = lock();
        queue.in_flight = None;
        queue.bytes -= write.data.len();
        if let Err(err) = result
            && queue.failed.is_none()
        {
            let err = io::Error::from(err);
            log::error!("writing the container failed: {err}");
            queue.failed = Some((err.kind(), err.to_string()));
        }
        drop(queue);
        shared.changed.notify_all();
    }
}

impl BlockDevice for WriteBehindDevice {
    fn block_size(&self) -> usize {
        self.inner.block_size()
    }

    fn capacity_blocks(&self) -> u64 {
        self.inner.capacity_blocks()
    }

    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn set_len(&self, len: u64) -> Result<(), BlockError> {
        self.drain()?;
        self.inner.set_len(len)
    }

    fn read_blocks(&self, first: u64, buf: &mut [u8], mode: ReadMode) -> Result<(), BlockError> {
        let count = buf.len() as u64 / BLOCK;
        {
            let queue = self.wait_while(self.lock(), |q| q.overlaps(first, count));
            queue.failure()?;
        }
        self.inner.read_blocks(first, buf, mode)
    }

    fn write_blocks(&self, first: u64, data: &[u8]) -> Result<(), BlockError> {
        let end = (data.len() as u64).saturating_add(first.saturating_mul(BLOCK));
        if data.is_empty() || !data.len().is_multiple_of(BLOCK_SIZE) || end > self.inner.len() {
            // Writes that can only fail fail here, in order, at once.
            self.drain()?;
            return self.inner.write_blocks(first, data);
        }
        let mut queue = self.lock();
        queue.failure()?;
        queue = self.wait_while(queue, |q| {
            q.bytes > 0 && q.bytes + data.len() > QUEUE_LIMIT && q.failed.is_none()
        });
        queue.failure()?;
        queue.bytes += data.len();
        queue.waiting.push_back(PendingWrite {
            first,
            data: data.to_vec(),
        });
        drop(queue);
        self.shared.changed.notify_all();
        Ok(())
    }

    fn sync(&self) -> Result<(), BlockError> {
        self.drain()?;
        self.inner.sync()
    }

    fn tolerated_failures(&self) -> u64 {
        self.inner.tolerated_failures()
    }
}

impl Drop for WriteBehindDevice {
    fn drop(&mut self) {
        self.lock().stopping = true;
        self.shared.changed.notify_all();
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            log::error!("the container writer thread panicked");
        }
    }
}
