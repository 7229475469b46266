//! One background thread that serves a device decorator, and the state it shares with the
//! decorator's callers.
//!
//! Read-ahead and write-behind are both "a mutex-protected state, a condition variable that
//! says the state changed, and one thread that waits for work in that state". This module owns
//! that shape once: starting the thread, waiting on the condition, waking everybody, and, when
//! the decorator is dropped, telling the thread to stop and joining it. What the work *is*
//! stays with each decorator.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// The state a worker shares with its callers, and the signal that it changed.
#[derive(Debug, Default)]
pub(crate) struct Shared<S> {
    state: Mutex<S>,
    changed: Condvar,
    stopping: AtomicBool,
}

impl<S> Shared<S> {
    /// Lock the state (a panic elsewhere does not make the state unusable: every update of it
    /// is a single assignment or push).
    pub(crate) fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait, releasing `guard`, until `condition` is false.
    pub(crate) fn wait_while<'a>(
        &self,
        guard: MutexGuard<'a, S>,
        condition: impl FnMut(&mut S) -> bool,
    ) -> MutexGuard<'a, S> {
        self.changed
            .wait_while(guard, condition)
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Tell every waiter (the worker and callers) that the state changed.
    pub(crate) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Whether the owner is being dropped: the worker finishes what it must and returns.
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// A running worker thread; dropping it stops the thread and waits for it.
#[derive(Debug)]
pub(crate) struct Worker<S> {
    shared: Arc<Shared<S>>,
    thread: Option<JoinHandle<()>>,
    name: &'static str,
}

impl<S: Send + 'static> Worker<S> {
    /// Start thread `name` running `body` over the shared `state`. `body` returns when
    /// [`Shared::stopping`] says so (after finishing any work it promised to finish).
    pub(crate) fn spawn(
        name: &'static str,
        state: S,
        body: impl FnOnce(&Shared<S>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            changed: Condvar::new(),
            stopping: AtomicBool::new(false),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || body(&shared))?
        };
        Ok(Worker {
            shared,
            thread: Some(thread),
            name,
        })
    }

    /// The shared state.
    pub(crate) fn shared(&self) -> &Shared<S> {
        &self.shared
    }
}

impl<S> Drop for Worker<S> {
    fn drop(&mut self) {
        {
            // Set under the lock, so a worker between checking its condition and waiting cannot
            // miss the wake-up.
            let _guard = self.shared.lock();
            self.shared.stopping.store(true, Ordering::Release);
        }
        self.shared.notify();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            log::error!("the container's {} thread panicked", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_sees_work_and_stops_when_dropped() {
        #[derive(Default)]
        struct Counter {
            asked: u32,
            done: u32,
        }
        let worker = Worker::spawn("test-worker", Counter::default(), |shared| {
            loop {
                let mut state =
                    shared.wait_while(shared.lock(), |s| s.asked == s.done && !shared.stopping());
                if state.asked == state.done {
                    return;
                }
                state.done += 1;
                drop(state);
                shared.notify();
            }
        })
        .unwrap();
        for _ in 0..3 {
            worker.shared().lock().asked += 1;
            worker.shared().notify();
        }
        let shared = worker.shared();
        let state = shared.wait_while(shared.lock(), |s| s.done < 3);
        assert_eq!(state.done, 3);
        drop(state);
        drop(worker); // joins: a worker that ignored `stopping` would hang here
    }
}
