//! A lock on a signer whose live waiters go before backlog ones. One signer serves every lane of
//! its chain one tx at a time; a tx carrying transfers someone waits for should wait for the tx
//! under way at most, not for a queue of txs clearing a backlog (workload 4 in BENCHMARKS.md).

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, MutexGuard, Notify};

/// Whose tx waits for the signer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Carries packets sent within a few blocks of the source's newest block (live traffic).
    Live,
    /// Everything else: a backlog, a client refresh, a handshake.
    Backlog,
}

impl Priority {
    pub fn live_if(live: bool) -> Priority {
        if live {
            Priority::Live
        } else {
            Priority::Backlog
        }
    }
}

/// A tokio mutex (first come, first served within a class) where a live waiter goes before every
/// backlog waiter. A backlog holder is never interrupted: a live waiter waits for it to finish.
pub struct PriorityLock<T> {
    inner: Mutex<T>,
    live_waiting: AtomicUsize,
    live_served: Notify,
}

/// Counts a live waiter while it waits; dropping it (served or cancelled) lets backlog waiters on.
struct LiveWaiter<'a>(&'a AtomicUsize, &'a Notify);

impl Drop for LiveWaiter<'_> {
    fn drop(&mut self) {
        if self.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.1.notify_waiters();
        }
    }
}

impl<T: Default> Default for PriorityLock<T> {
    fn default() -> Self {
        PriorityLock::new(T::default())
    }
}

impl<T> PriorityLock<T> {
    pub fn new(value: T) -> Self {
        PriorityLock {
            inner: Mutex::new(value),
            live_waiting: AtomicUsize::new(0),
            live_served: Notify::new(),
        }
    }

    pub async fn lock(&self, priority: Priority) -> MutexGuard<'_, T> {
        if priority == Priority::Live {
            self.live_waiting.fetch_add(1, Ordering::SeqCst);
            let _waiting = LiveWaiter(&self.live_waiting, &self.live_served);
            return self.inner.lock().await;
        }
        loop {
            let served = self.live_served.notified();
            tokio::pin!(served);
            // Registered before the check, so a live waiter served in between still wakes us.
            served.as_mut().enable();
            if self.live_waiting.load(Ordering::SeqCst) > 0 {
                served.await;
                continue;
            }
            let guard = self.inner.lock().await;
            if self.live_waiting.load(Ordering::SeqCst) == 0 {
                return guard;
            }
            // A live waiter queued while we waited: hand the lock on (the mutex passes it to the
            // next in its queue, which is the live waiter or another backlog one that does this).
        }
    }

    /// The lock if it is free now and no live waiter wants it.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        if self.live_waiting.load(Ordering::SeqCst) > 0 {
            return None;
        }
        self.inner.try_lock().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Lets the spawned waiters run until each is parked on the lock.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn a_live_waiter_goes_before_backlog_waiters_that_came_first() {
        let lock = Arc::new(PriorityLock::new(Vec::<&'static str>::new()));
        let held = lock.lock(Priority::Backlog).await;
        let mut tasks = Vec::new();
        for (name, p) in [
            ("backlog-1", Priority::Backlog),
            ("backlog-2", Priority::Backlog),
            ("live", Priority::Live),
            ("backlog-3", Priority::Backlog),
        ] {
            let l = lock.clone();
            tasks.push(tokio::spawn(async move {
                l.lock(p).await.push(name);
            }));
            settle().await;
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        let order = lock.lock(Priority::Backlog).await.clone();
        assert_eq!(order[0], "live", "served in order {order:?}");
        let mut rest = order[1..].to_vec();
        rest.sort();
        assert_eq!(
            rest,
            ["backlog-1", "backlog-2", "backlog-3"],
            "every waiter served once"
        );
    }

    #[tokio::test]
    async fn live_waiters_keep_their_order_and_a_holder_is_not_interrupted() {
        let lock = Arc::new(PriorityLock::new(Vec::<&'static str>::new()));
        let mut held = lock.lock(Priority::Backlog).await;
        let mut tasks = Vec::new();
        for name in ["live-1", "live-2"] {
            let l = lock.clone();
            tasks.push(tokio::spawn(async move {
                l.lock(Priority::Live).await.push(name);
            }));
            settle().await;
        }
        held.push("holder");
        assert!(lock.try_lock().is_none(), "held");
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        let order = lock.lock(Priority::Backlog).await.clone();
        assert_eq!(order, ["holder", "live-1", "live-2"]);
    }

    #[tokio::test]
    async fn a_cancelled_live_waiter_does_not_hold_back_the_backlog() {
        let lock = Arc::new(PriorityLock::new(0u32));
        let held = lock.lock(Priority::Backlog).await;
        let l = lock.clone();
        let live = tokio::spawn(async move {
            *l.lock(Priority::Live).await += 1;
        });
        settle().await;
        let l = lock.clone();
        let backlog = tokio::spawn(async move {
            *l.lock(Priority::Backlog).await += 10;
        });
        settle().await;
        live.abort();
        let _ = live.await;
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), backlog)
            .await
            .expect("the backlog waiter is served once the live one is gone")
            .unwrap();
        assert_eq!(*lock.lock(Priority::Backlog).await, 10);
        assert!(lock.try_lock().is_some(), "free, nobody waiting");
    }
}
