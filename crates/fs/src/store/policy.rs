//! The commit policy: when the open write transaction is committed, and whether durably.
//!
//! The transaction is committed durably (one `fdatasync` of the container) when
//! * a caller asks (`fsync`, `fsyncdir`, `sync`, unmount),
//! * the oldest change that is not yet durable is older than the commit interval (5 s by
//!   default, like ext4's commit interval) — the timer thread below asks,
//! * the container is nearly full (then after every changing operation, so a surprise
//!   "no space" from the storage engine can lose at most that operation).
//!
//! A transaction that has written more than the dirty limit (64 MiB by default, capped at 1/4
//! of the cache and 1/8 of the container) is committed *without* durability ("buffered"):
//! that bounds memory and keeps the transaction inside redb's write buffer (half the cache;
//! past it, redb writes pages out early and rewrites them when the same transaction touches
//! them again, which doubled the bytes written by large sequential writes), but does not make
//! the writer wait for an `fdatasync` every 64 MiB. A crash rolls buffered commits back to
//! the last durable one, as it would an open transaction; the next durable commit (within the
//! commit interval) makes them durable. Pages they freed stay pinned until then.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use super::{FsOptions, Store};

/// What to do after a changing operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitNow {
    /// Keep the transaction open.
    No,
    /// Commit without an `fdatasync` (the dirty limit was reached).
    Buffered,
    /// Commit durably (the container is nearly full).
    Durable,
}

/// The commit interval and the dirty limit of one file system.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommitPolicy {
    interval: Duration,
    dirty_limit: u64,
}

impl CommitPolicy {
    /// The policy for `options` on a container of `capacity` bytes.
    pub(crate) fn new(options: &FsOptions, capacity: u64) -> Self {
        // A transaction larger than redb's write buffer (half the cache) spills pages that it
        // then rewrites: keep it within a quarter of the cache (the account overestimates).
        let dirty_limit = options
            .dirty_limit
            .min(capacity / 8)
            .min(options.cache_size as u64 / 4)
            .max(1 << 20);
        CommitPolicy {
            interval: options.commit_interval,
            dirty_limit,
        }
    }

    /// After an operation that changed something: `near_full` from the space account,
    /// `written` the bytes the open transaction has written.
    pub(crate) fn after_change(&self, near_full: bool, written: u64) -> CommitNow {
        if near_full {
            CommitNow::Durable
        } else if written >= self.dirty_limit {
            CommitNow::Buffered
        } else {
            CommitNow::No
        }
    }

    /// Whether changes made at `changes_since` and not yet durable are due for a commit.
    pub(crate) fn is_due(&self, changes_since: Instant) -> bool {
        changes_since.elapsed() >= self.interval
    }

    /// How often the timer looks.
    fn tick_period(&self) -> Duration {
        (self.interval / 5).max(Duration::from_millis(100))
    }
}

/// The thread that commits every so often; stops when dropped (or when the store is gone).
#[derive(Debug)]
pub(crate) struct Timer {
    stop: Arc<(Mutex<bool>, Condvar)>,
}

impl Timer {
    /// A timer not started yet (read-only file systems never start it).
    pub(crate) fn new() -> Self {
        Timer {
            stop: Arc::new((Mutex::new(false), Condvar::new())),
        }
    }

    /// Start the thread: every tick it asks `store` to commit if a commit is due.
    pub(crate) fn start(&self, policy: &CommitPolicy, store: Weak<Store>) {
        let stop = Arc::clone(&self.stop);
        let period = policy.tick_period();
        let spawned = std::thread::Builder::new()
            .name("secvol-commit".into())
            .spawn(move || {
                loop {
                    let (lock, cvar) = &*stop;
                    let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                    let (guard, _) = cvar
                        .wait_timeout_while(guard, period, |stopped| !*stopped)
                        .unwrap_or_else(|p| p.into_inner());
                    if *guard {
                        return;
                    }
                    drop(guard);
                    let Some(store) = store.upgrade() else { return };
                    store.tick();
                }
            });
        if let Err(err) = spawned {
            log::error!("could not start the commit timer: {err}");
        }
    }

    /// Stop the thread (it finishes the tick it is in).
    pub(crate) fn stop(&self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.stop();
    }
}
