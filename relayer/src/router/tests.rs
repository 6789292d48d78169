//! The router over in-memory chains (`fake.rs`): quarantine, backoff, the gas cap, de-duplication
//! and timeouts. Each test uses its own chain ids and path name (metrics and the quarantine board
//! are process-wide).

use std::sync::Arc;
use std::time::Duration;

use super::fake::{ack_event, reverse_send_event, send_event, side, FakeChain};
use super::{Lane, PathWorker, Side};
use crate::telemetry::{metrics, quarantine, PacketKind, QuarantineEntry};

/// Chains `{tag}-a` (sends on channel-0) and `{tag}-b` (receives on channel-1), packets 1..=n
/// committed on a, and the lane to b.
pub(super) fn setup(tag: &str, n: u64) -> (Arc<FakeChain>, Arc<FakeChain>, Lane) {
    let a = FakeChain::new(&format!("{tag}-a"));
    let b = FakeChain::new(&format!("{tag}-b"));
    a.with(|s| s.commitments.extend(1..=n));
    let mut lane = new_lane(tag, side(&b, "channel-1"), side(&a, "channel-0"));
    for seq in 1..=n {
        lane.add_recv(send_event(seq, 10, 0));
    }
    (a, b, lane)
}

/// Path `name` from a (channel-0) to b (channel-1), clearing only at start, no store.
pub(super) fn worker(name: &str, a: &Arc<FakeChain>, b: &Arc<FakeChain>) -> PathWorker {
    PathWorker {
        name: name.into(),
        a: side(a, "channel-0"),
        b: side(b, "channel-1"),
        clear_interval: Duration::from_secs(3600),
        filter: Default::default(),
        store: None,
        leases: None,
    }
}

/// Run `worker` until `b` has received packet `seq` (10 s at most), then stop it.
pub(super) async fn run_until_received(worker: PathWorker, b: &Arc<FakeChain>, seq: u64) {
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(shutdown));
    let t = std::time::Instant::now();
    while !b.with(|s| s.received.contains(&seq)) {
        assert!(t.elapsed() < Duration::from_secs(10), "not relayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
}

pub(super) fn new_lane(path: &str, dst: Side, src: Side) -> Lane {
    let mut lane = Lane::new(path, dst, src);
    lane.set_quarantine_backoff(Duration::from_secs(600), Duration::from_secs(600));
    lane
}

fn quarantined(path: &str) -> Vec<QuarantineEntry> {
    quarantine()
        .list()
        .quarantined
        .into_iter()
        .filter(|e| e.path == path)
        .collect()
}

pub(super) fn metric_line(prefix: &str) -> Option<f64> {
    metrics()
        .render()
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn one_always_failing_packet_is_quarantined_and_the_rest_go_in_one_tx() {
    let (_a, b, mut lane) = setup("q1", 5);
    b.with(|s| {
        s.always_fail.insert((PacketKind::Recv, 3));
    });
    let report = lane.flush().await;
    assert_eq!(report.relayed, 4);
    assert_eq!(b.with(|s| s.sent.len()), 1, "the others in one transaction");
    assert_eq!(b.sent_seqs("recv"), vec![1, 2, 4, 5]);
    assert_eq!(b.with(|s| s.received.clone()), [1, 2, 4, 5].into());

    let q = quarantined("q1");
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!((q[0].sequence, q[0].kind.as_str()), (3, "recv"));
    assert_eq!(q[0].packet, "q1-a:transfer/channel-0/3");
    assert_eq!(q[0].direction, "q1-a->q1-b");
    assert!(q[0].reason.contains("always fails"), "{}", q[0].reason);
    assert_eq!(q[0].paid_failures, 0);
    assert_eq!(
        metric_line(
            r#"ferry_packets_quarantined{chain="q1-b",channel="channel-1",counterparty="q1-a",kind="recv"}"#
        ),
        Some(1.0)
    );

    // Later flushes leave it alone while its retry is not due: never sent, never paid.
    for _ in 0..5 {
        lane.flush().await;
    }
    assert_eq!(b.with(|s| s.sent.len()), 1);
    assert!(!b.sent_seqs("recv").contains(&3));
    assert!(b.with(|s| s.reverted.is_empty()));
}

#[tokio::test]
async fn a_mined_revert_backs_off_and_quarantines_the_packet_at_fault() {
    let (_a, b, mut lane) = setup("q2", 3);
    b.with(|s| {
        s.revert_on_mine.insert((PacketKind::Recv, 2));
    });
    let report = lane.flush().await;
    assert_eq!(report.relayed, 0);
    assert_eq!(b.with(|s| s.reverted.len()), 1);
    let q = quarantined("q2");
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!((q[0].sequence, q[0].paid_failures), (2, 1));

    // Backing off: an immediate flush sends nothing.
    lane.flush().await;
    assert_eq!(b.with(|s| s.sent.len()), 1);

    // After the backoff the rest goes, without the packet at fault.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = lane.flush().await;
    assert_eq!(report.relayed, 2);
    assert_eq!(b.with(|s| s.received.clone()), [1, 3].into());
    let with_2 = b.with(|s| {
        s.sent
            .iter()
            .filter(|t| t.contains(&("recv".to_string(), 2)))
            .count()
    });
    assert_eq!(with_2, 1, "the packet at fault was paid for once");
}

#[tokio::test]
async fn a_batch_above_max_gas_is_never_sent() {
    // One packet needs more than max_gas on its own: quarantined, never sent.
    let (_a, b, mut lane) = setup("q3", 3);
    b.with(|s| {
        s.heavy.insert((PacketKind::Recv, 2));
    });
    assert_eq!(lane.flush().await.relayed, 2);
    assert!(!b.sent_seqs("recv").contains(&2));
    assert_eq!(quarantined("q3")[0].sequence, 2);

    // The batch is too large only as a whole: it is split, and every part fits.
    let (_a, b, mut lane) = setup("q3x", 4);
    b.with(|s| s.max_gas = 250_000);
    let mut relayed = 0;
    for _ in 0..3 {
        relayed += lane.flush().await.relayed;
    }
    assert_eq!(relayed, 4);
    assert_eq!(b.with(|s| s.received.clone()), [1, 2, 3, 4].into());
    assert!(quarantined("q3x").is_empty());
    assert!(b.with(|s| s.sent.iter().all(|t| t.len() as u64 * 100_000 <= 250_000)));
}

#[tokio::test]
async fn a_quarantined_packet_is_delivered_once_it_becomes_deliverable() {
    let (_a, b, mut lane) = setup("q4", 3);
    lane.set_quarantine_backoff(Duration::from_millis(300), Duration::from_secs(5));
    b.with(|s| {
        s.always_fail.insert((PacketKind::Recv, 2));
    });
    assert_eq!(lane.flush().await.relayed, 2);
    assert_eq!(quarantined("q4").len(), 1);
    b.with(|s| s.always_fail.clear());
    // Not yet due.
    lane.flush().await;
    assert!(!b.sent_seqs("recv").contains(&2));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(lane.flush().await.relayed, 1);
    assert!(b.with(|s| s.received.contains(&2)));
    assert!(quarantined("q4").is_empty());
    assert!(lane.is_empty());
    assert_eq!(
        metric_line(
            r#"ferry_packets_quarantined{chain="q4-b",channel="channel-1",counterparty="q4-a",kind="recv"}"#
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn already_delivered_packets_are_dropped_and_never_paid_for() {
    let (a, b, mut lane) = setup("q5", 3);
    b.with(|s| {
        s.received.insert(2);
        s.always_fail.insert((PacketKind::Recv, 3));
    });
    lane.set_quarantine_backoff(Duration::from_millis(100), Duration::from_secs(5));
    assert_eq!(lane.flush().await.relayed, 1);
    assert_eq!(b.sent_seqs("recv"), vec![1]);
    assert_eq!(quarantined("q5").len(), 1);
    // Someone else delivers the quarantined packet: it is dropped, not retried.
    b.with(|s| {
        s.received.insert(3);
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    lane.flush().await;
    assert_eq!(b.sent_seqs("recv"), vec![1]);
    assert!(quarantined("q5").is_empty());
    assert!(lane.is_empty());
    assert_eq!(
        metric_line(
            r#"ferry_packets_skipped_total{chain="q5-b",channel="channel-1",counterparty="q5-a",kind="recv"}"#
        ),
        Some(2.0)
    );
    // An ack whose packet commitment is already gone is dropped too.
    let mut to_a = new_lane("q5", side(&a, "channel-0"), side(&b, "channel-1"));
    a.with(|s| s.commitments.clear());
    to_a.add_ack(ack_event(1, 10));
    to_a.flush().await;
    assert!(to_a.is_empty());
    assert!(a.with(|s| s.sent.is_empty()));
    // And an event seen again after delivery is ignored.
    lane.add_recv(send_event(1, 10, 0));
    assert!(lane.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packets_timed_out_on_the_destination_are_timed_out_on_their_source() {
    let a = FakeChain::new("q6-a");
    let b = FakeChain::new("q6-b");
    // Sent on a with a timeout b's clock has passed.
    a.with(|s| {
        s.commitments.insert(7);
        s.commitments.insert(8);
        s.events.push(send_event(7, 10, 500));
        s.events.push(send_event(8, 10, 0));
    });
    let worker = worker("q6", &a, &b);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(shutdown));
    let t = std::time::Instant::now();
    while a.with(|s| s.commitments.contains(&7)) || !b.with(|s| s.received.contains(&8)) {
        assert!(t.elapsed() < Duration::from_secs(20), "timeout not relayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(a.sent_seqs("timeout"), vec![7]);
    assert_eq!(
        b.sent_seqs("recv"),
        vec![8],
        "the timed-out packet was not sent to b"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_destination_does_not_delay_the_other_direction() {
    let a = FakeChain::new("q7-a");
    let b = FakeChain::new("q7-b");
    // b's node takes 20 s to confirm anything; a's answers at once.
    b.with(|s| s.confirm_delay = Duration::from_secs(20));
    a.with(|s| {
        s.commitments.insert(1);
        s.events.push(send_event(1, 10, 0));
    });
    b.with(|s| {
        s.commitments.insert(2);
        s.events.push(reverse_send_event(2, 10));
    });
    let worker = worker("q7", &a, &b);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(shutdown));
    let t = std::time::Instant::now();
    // Wait until the lane to b is stuck in its confirmation ...
    while b.with(|s| s.sent.is_empty()) {
        assert!(t.elapsed() < Duration::from_secs(5), "nothing sent to b");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... then a new packet for a: delivered while b's confirmation still hangs.
    b.with(|s| {
        s.commitments.insert(3);
        s.events.push(reverse_send_event(3, 11));
    });
    let t = std::time::Instant::now();
    while !a.with(|s| s.received.contains(&2) && s.received.contains(&3)) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the packets to a waited for b's stalled confirmation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // b's own packet still arrives once its node answers.
    while !b.with(|s| s.received.contains(&1)) {
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "the packet to b was lost"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(a.sent_seqs("recv"), vec![2, 3]);
    assert_eq!(b.sent_seqs("recv"), vec![1]);
}

#[tokio::test]
async fn a_batch_not_seen_final_is_looked_up_again_never_resent_and_counted_once() {
    let (_a, b, mut lane) = setup("q8", 3);
    b.with(|s| s.unconfirmed_answers = 1);
    let first = lane.flush().await;
    assert_eq!(first.relayed, 0, "not counted before it is known on chain");
    assert_eq!(b.with(|s| s.received.len()), 3, "the fake mined it");
    // The lane backs off, then looks the same tx up: found, counted, nothing sent again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = lane.flush().await;
    assert_eq!(second.relayed, 3);
    assert_eq!(
        b.with(|s| s.sent.len()),
        1,
        "resent: {:?}",
        b.with(|s| s.sent.clone())
    );
    assert!(lane.is_empty());
    assert_eq!(
        metric_line(
            r#"ferry_packets_relayed_total{chain="q8-b",channel="channel-1",counterparty="q8-a",kind="recv"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        metric_line(
            r#"ferry_packets_skipped_total{chain="q8-b",channel="channel-1",counterparty="q8-a",kind="recv"}"#
        )
        .unwrap_or(0.0),
        0.0
    );
}

#[tokio::test]
async fn a_broadcast_failing_after_the_first_chunk_backs_off() {
    let (_a, b, mut lane) = setup("q9", 5);
    b.with(|s| {
        s.max_msgs = 3;
        s.broadcasts_until_rpc_down = Some(1);
    });
    let first = lane.flush().await;
    assert_eq!(
        first.relayed, 2,
        "the first chunk (update + 2) went and was confirmed"
    );
    // Backing off: an immediate flush sends nothing (the node is still down).
    b.with(|s| s.broadcasts_until_rpc_down = None);
    let again = lane.flush().await;
    assert_eq!(again.relayed, 0);
    assert_eq!(b.with(|s| s.sent.len()), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = lane.flush().await;
    assert_eq!(later.relayed, 3);
    assert_eq!(b.with(|s| s.received.len()), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_down_at_start_is_asked_again_never_scanned_from_height_one() {
    let a = FakeChain::new("q10-a");
    let b = FakeChain::new("q10-b");
    a.with(|s| {
        s.latest_errors = 2;
        s.commitments.insert(1);
        s.events.push(send_event(1, 10, 0));
    });
    let worker = worker("q10", &a, &b);
    run_until_received(worker, &b, 1).await;
    assert_eq!(a.with(|s| s.subscribed_from.clone()), vec![100]);
}

/// A crash at each step of relaying, then a restart (a new lane on the same chains and store):
/// no packet lost, none sent twice, each counted once.
mod crash_and_restart {
    use super::*;
    use crate::store::{MemoryStore, Store};

    fn lane_with(
        store: &Arc<MemoryStore>,
        tag: &str,
        a: &Arc<FakeChain>,
        b: &Arc<FakeChain>,
    ) -> Lane {
        let mut lane = new_lane(tag, side(b, "channel-1"), side(a, "channel-0"));
        lane.set_store(store.clone());
        lane.restore();
        lane
    }

    fn chains(tag: &str, n: u64) -> (Arc<FakeChain>, Arc<FakeChain>) {
        let a = FakeChain::new(&format!("{tag}-a"));
        let b = FakeChain::new(&format!("{tag}-b"));
        a.with(|s| s.commitments.extend(1..=n));
        (a, b)
    }

    fn relayed(tag: &str) -> f64 {
        metric_line(&format!(
            r#"ferry_packets_relayed_total{{chain="{tag}-b",channel="channel-1",counterparty="{tag}-a",kind="recv"}}"#
        ))
        .unwrap_or(0.0)
    }

    #[tokio::test]
    async fn before_broadcast() {
        let (a, b) = chains("cr1", 3);
        let store = Arc::new(MemoryStore::default());
        {
            let mut lane = lane_with(&store, "cr1", &a, &b);
            for s in 1..=3 {
                lane.add_recv(send_event(s, 10, 0));
            }
            // Crash: dropped before its first flush.
        }
        let mut lane = lane_with(&store, "cr1", &a, &b);
        for s in 1..=3 {
            lane.add_recv(send_event(s, 10, 0)); // what clearing finds again
        }
        assert_eq!(lane.flush().await.relayed, 3);
        assert_eq!(b.with(|s| s.sent.len()), 1);
        assert!(store.inflight("cr1", "cr1-b").unwrap().is_empty());
    }

    #[tokio::test]
    async fn after_broadcast_before_confirmation() {
        let (a, b) = chains("cr2", 3);
        let store = Arc::new(MemoryStore::default());
        b.with(|s| s.confirm_delay = Duration::from_secs(5));
        {
            let mut lane = lane_with(&store, "cr2", &a, &b);
            for s in 1..=3 {
                lane.add_recv(send_event(s, 10, 0));
            }
            // Crash while the confirmation is awaited: the flush is dropped mid-way.
            let cut = tokio::time::timeout(Duration::from_millis(200), lane.flush()).await;
            assert!(cut.is_err(), "the flush should still be confirming");
        }
        assert_eq!(b.with(|s| s.sent.len()), 1, "broadcast once");
        assert_eq!(store.inflight("cr2", "cr2-b").unwrap().len(), 1, "recorded");
        b.with(|s| s.confirm_delay = Duration::ZERO);
        // Restart: the tx is looked up (the fake mines it now), nothing is sent again.
        let mut lane = lane_with(&store, "cr2", &a, &b);
        for s in 1..=3 {
            lane.add_recv(send_event(s, 10, 0)); // clearing finds the packets again
        }
        let report = lane.flush().await;
        assert_eq!(report.relayed, 3, "counted once, when found on chain");
        assert_eq!(b.with(|s| s.sent.len()), 1, "never resent");
        assert_eq!(b.with(|s| s.received.clone()), [1, 2, 3].into());
        assert!(lane.is_empty());
        assert!(store.inflight("cr2", "cr2-b").unwrap().is_empty());
        assert_eq!(relayed("cr2"), 3.0);
    }

    #[tokio::test]
    async fn after_confirmation() {
        let (a, b) = chains("cr3", 3);
        let store = Arc::new(MemoryStore::default());
        {
            let mut lane = lane_with(&store, "cr3", &a, &b);
            for s in 1..=3 {
                lane.add_recv(send_event(s, 10, 0));
            }
            assert_eq!(lane.flush().await.relayed, 3);
            // Crash right after: the store holds nothing in flight.
        }
        assert!(store.inflight("cr3", "cr3-b").unwrap().is_empty());
        let mut lane = lane_with(&store, "cr3", &a, &b);
        for s in 1..=3 {
            lane.add_recv(send_event(s, 10, 0));
        }
        assert_eq!(lane.flush().await.relayed, 0);
        assert!(lane.is_empty(), "found delivered, skipped");
        assert_eq!(b.with(|s| s.sent.len()), 1, "never resent");
        assert_eq!(relayed("cr3"), 3.0);
    }

    #[tokio::test]
    async fn a_quarantined_packet_stays_held_back_after_a_restart() {
        let (a, b) = chains("cr4", 3);
        let store = Arc::new(MemoryStore::default());
        b.with(|s| {
            s.always_fail.insert((PacketKind::Recv, 2));
        });
        {
            let mut lane = lane_with(&store, "cr4", &a, &b);
            for s in 1..=3 {
                lane.add_recv(send_event(s, 10, 0));
            }
            assert_eq!(lane.flush().await.relayed, 2);
        }
        let held = store.held("cr4", "cr4-b").unwrap();
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!((held[0].sequence, held[0].attempts), (2, 1));
        let simulations = b.with(|s| s.simulations);
        // Restart: clearing queues packet 2 again; it is still held back (its retry is not due),
        // so no simulation, no tx.
        let mut lane = lane_with(&store, "cr4", &a, &b);
        lane.add_recv(send_event(2, 10, 0));
        lane.flush().await;
        assert_eq!(
            b.with(|s| s.simulations),
            simulations,
            "tried again at once"
        );
        assert_eq!(b.with(|s| s.sent.len()), 1);
        let q = quarantined("cr4");
        assert_eq!(q.len(), 1, "{q:?}");
        assert_eq!((q[0].sequence, q[0].attempts), (2, 1));
        assert_eq!(store.held("cr4", "cr4-b").unwrap().len(), 1);
    }
}

/// Two instances on one path sharing a store and leases (in memory, on a clock the test moves).
mod shared_store {
    use super::*;
    use crate::lease::{LeaseManager, MemoryLeases};
    use crate::store::MemoryStore;

    const TTL: Duration = Duration::from_secs(9);

    async fn wait_received(b: &Arc<FakeChain>, upto: u64, managers: &[&Arc<LeaseManager>]) {
        let t = std::time::Instant::now();
        while b.with(|s| s.received.len() as u64) < upto {
            assert!(t.elapsed() < Duration::from_secs(10), "packets not relayed");
            for m in managers {
                m.tick();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_lease_holder_relays_and_another_instance_takes_over_when_it_dies() {
        let a = FakeChain::new("ha-a");
        let b = FakeChain::new("ha-b");
        a.with(|s| {
            s.commitments.extend(1..=5);
            s.sends_findable = true;
        });
        let store = Arc::new(MemoryStore::default());
        let leases = Arc::new(MemoryLeases::default());
        let one = LeaseManager::new(leases.clone(), "one".into(), TTL);
        let two = LeaseManager::new(leases.clone(), "two".into(), TTL);
        let instance = |m: &Arc<LeaseManager>| {
            let mut w = worker("ha", &a, &b);
            w.store = Some(store.clone());
            w.leases = Some(m.clone());
            let (stop, shutdown) = tokio::sync::watch::channel(false);
            (stop, tokio::spawn(w.run(shutdown)))
        };
        let (_stop1, task1) = instance(&one);
        let (stop2, task2) = instance(&two);
        // Only "one" has been seen alive: it takes both lanes; "two" stands by and sends nothing.
        wait_received(&b, 5, &[&one]).await;
        assert_eq!(b.sent_seqs("recv"), vec![1, 2, 3, 4, 5], "each packet once");
        assert_eq!(leases.owner("ha/ha-b").as_deref(), Some("one"));
        // "one" dies (no clean stop: its leases are left to expire) and new packets come.
        task1.abort();
        a.with(|s| s.commitments.extend(6..=8));
        two.tick();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            b.with(|s| s.received.len()),
            5,
            "nothing moves before expiry"
        );
        leases.advance(TTL + Duration::from_secs(1));
        wait_received(&b, 8, &[&two]).await;
        assert_eq!(leases.owner("ha/ha-b").as_deref(), Some("two"));
        assert_eq!(
            b.sent_seqs("recv"),
            vec![1, 2, 3, 4, 5, 6, 7, 8],
            "the new owner cleared what was left, and nothing twice"
        );
        stop2.send(true).unwrap();
        task2.await.unwrap();
    }
}
