//! Each path's last scanned height per chain: kept in the store while the path runs, so a restart
//! subscribes after it and reads the blocks it missed, instead of starting at the chain's current
//! height and leaving them to clearing.
//!
//! The mark is a resume point, not a guarantee: clearing at start-up still finds every packet whose
//! commitment is on chain, whatever the subscriptions read.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::store::Store;

/// A mark further behind the chain's latest height than this is not resumed from: reading that
/// many blocks would hold live events back, and clearing finds what they carried anyway.
pub const MAX_RESUME_GAP: u64 = 2_000;
/// How often a moving mark is written (and once more when the path stops).
pub const SAVE_EVERY: Duration = Duration::from_secs(5);

/// Where a subscription starts, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Nothing stored (first run, or no store): the chain's latest height.
    Latest,
    /// After the stored mark.
    Stored { scanned: u64 },
    /// The mark is more than [`MAX_RESUME_GAP`] blocks old: the latest height, clearing covers the
    /// rest.
    TooOld { scanned: u64 },
    /// The mark is above the chain's latest height (the chain was reset, or the store belongs to
    /// another chain of the same id): the latest height.
    Ahead { scanned: u64 },
}

/// The height to subscribe from, given the stored mark and the chain's latest height.
pub fn resume(stored: Option<u64>, latest: u64) -> (u64, Resume) {
    match stored {
        None => (latest, Resume::Latest),
        Some(s) if s > latest => (latest, Resume::Ahead { scanned: s }),
        Some(s) if latest - s > MAX_RESUME_GAP => (latest, Resume::TooOld { scanned: s }),
        Some(s) => (s + 1, Resume::Stored { scanned: s }),
    }
}

/// Write `marks`' newest value for (`path`, `chain`) at most `every` ([`SAVE_EVERY`]), until the
/// sender is dropped (the path worker writes the final mark itself). A write that fails is logged
/// and tried again with the next mark.
pub async fn keep(
    store: Arc<dyn Store>,
    path: String,
    chain: String,
    mut marks: watch::Receiver<u64>,
    every: Duration,
) {
    while marks.changed().await.is_ok() {
        let mark = *marks.borrow_and_update();
        let (s, p, c) = (store.clone(), path.clone(), chain.clone());
        // The store may block (a PostgreSQL round trip): never on the runtime's threads.
        match tokio::task::spawn_blocking(move || s.put_scanned(&p, &c, mark)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(%chain, height = mark, error = %e, "could not store the scanned height")
            }
            Err(e) => tracing::warn!(%chain, error = %e, "storing the scanned height stopped"),
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::fake::{send_event, FakeChain};
    use crate::router::tests::{run_until_received, worker};
    use crate::store::MemoryStore;

    #[test]
    fn resumes_after_a_recent_mark_only() {
        let latest = 10_000;
        assert_eq!(resume(None, latest), (latest, Resume::Latest));
        assert_eq!(
            resume(Some(9_950), latest),
            (9_951, Resume::Stored { scanned: 9_950 })
        );
        assert_eq!(
            resume(Some(latest), latest),
            (latest + 1, Resume::Stored { scanned: latest })
        );
        let oldest = latest - MAX_RESUME_GAP;
        assert_eq!(
            resume(Some(oldest), latest),
            (oldest + 1, Resume::Stored { scanned: oldest })
        );
        assert_eq!(
            resume(Some(oldest - 1), latest),
            (
                latest,
                Resume::TooOld {
                    scanned: oldest - 1
                }
            )
        );
        assert_eq!(
            resume(Some(latest + 1), latest),
            (
                latest,
                Resume::Ahead {
                    scanned: latest + 1
                }
            )
        );
    }

    #[tokio::test]
    async fn writes_the_newest_mark_at_most_every_interval() {
        const EVERY: Duration = Duration::from_millis(600);
        let store = Arc::new(MemoryStore::default());
        let (tx, rx) = watch::channel(0u64);
        let task = tokio::spawn(keep(store.clone(), "p".into(), "c".into(), rx, EVERY));
        tx.send(10).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.scanned("p", "c").unwrap(), Some(10));
        // Within SAVE_EVERY: nothing more is written; then only the newest mark.
        tx.send(11).unwrap();
        tx.send(12).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.scanned("p", "c").unwrap(), Some(10));
        tokio::time::sleep(EVERY).await;
        assert_eq!(store.scanned("p", "c").unwrap(), Some(12));
        drop(tx);
        tokio::time::sleep(EVERY * 2).await;
        assert!(task.is_finished(), "ends when the worker drops the sender");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_subscribes_after_a_recent_scanned_height_and_stores_the_new_one() {
        let a = FakeChain::new("q11-a");
        let b = FakeChain::new("q11-b");
        b.with(|s| s.height = 5_000);
        let store = Arc::new(MemoryStore::default());
        // a's mark is recent (its latest is 100); b's is too far behind to be read again.
        store.put_scanned("q11", "q11-a", 90).unwrap();
        store
            .put_scanned("q11", "q11-b", 4_999 - MAX_RESUME_GAP)
            .unwrap();
        a.with(|s| {
            s.commitments.insert(1);
            s.events.push(send_event(1, 95, 0));
        });
        let mut worker = worker("q11", &a, &b);
        worker.store = Some(store.clone());
        run_until_received(worker, &b, 1).await;
        assert_eq!(a.with(|s| s.subscribed_from.clone()), vec![91]);
        assert_eq!(b.with(|s| s.subscribed_from.clone()), vec![5_000]);
        // The fake marks its latest height scanned after each delivery; the stop writes the newest.
        assert_eq!(store.scanned("q11", "q11-a").unwrap(), Some(100));
        let b_latest = b.with(|s| s.height);
        assert!(b_latest > 5_000, "the receive was mined on b");
        assert!(
            store.scanned("q11", "q11-b").unwrap() >= Some(5_000),
            "{:?}",
            store.scanned("q11", "q11-b")
        );
    }
}
