//! The next batch goes out while the last one confirms: items in flight are never sent, pruned
//! or counted twice, and a lane stopping settles what it sent.

use std::time::{Duration, Instant};

use super::fake::{send_event, side, FakeChain};
use super::tests::{metric_line, setup, worker};

#[tokio::test]
async fn a_second_submit_leaves_the_items_in_flight_alone_and_each_is_counted_once() {
    let (a, b, mut lane) = setup("p1", 3);
    let first = lane.submit().await;
    assert_eq!(
        first.relayed, 0,
        "nothing is counted before it is seen on chain"
    );
    assert_eq!(b.with(|s| s.sent.len()), 1);
    // More packets arrive while the first tx is unconfirmed: only they go in the next one.
    a.with(|s| s.commitments.extend(4..=5));
    for seq in 4..=5 {
        lane.add_recv(send_event(seq, 11, 0));
    }
    assert!(lane.wants_submit());
    lane.submit().await;
    assert_eq!(b.with(|s| s.sent.len()), 2);
    assert_eq!(b.sent_seqs("recv"), vec![1, 2, 3, 4, 5]);
    // Everything is in flight now: nothing more to send.
    assert!(!lane.wants_submit());
    assert_eq!(lane.submit().await.relayed, 0);
    assert_eq!(b.with(|s| s.sent.len()), 2);
    let mut relayed = 0;
    for c in lane.confirmations() {
        relayed += lane.settled(c.await).relayed;
    }
    assert_eq!(relayed, 5);
    assert!(lane.is_empty());
    let counted = |name: &str| {
        metric_line(&format!(
            r#"ferry_packets_{name}_total{{chain="p1-b",channel="channel-1",counterparty="p1-a",kind="recv"}}"#
        ))
        .unwrap_or(0.0)
    };
    assert_eq!(counted("relayed"), 5.0);
    assert_eq!(
        counted("skipped"),
        0.0,
        "a packet in flight was taken for another relayer's"
    );
}

#[tokio::test]
async fn a_reverted_tx_gives_its_items_back_for_the_next_batch() {
    let (_a, b, mut lane) = setup("p2", 2);
    b.with(|s| {
        s.revert_on_mine
            .insert((crate::telemetry::PacketKind::Recv, 2));
    });
    lane.submit().await;
    assert!(!lane.wants_submit(), "both are in flight");
    let mut relayed = 0;
    for c in lane.confirmations() {
        relayed += lane.settled(c.await).relayed;
    }
    assert_eq!(relayed, 0, "the tx reverted");
    // Packet 1 is free to go again (after the backoff); packet 2 is held back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(lane.wants_submit());
    lane.submit().await;
    assert_eq!(b.sent_seqs("recv"), vec![1, 2, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_lane_sends_the_next_batch_before_the_last_one_confirms() {
    let a = FakeChain::new("p3-a");
    let b = FakeChain::new("p3-b");
    // b's node takes 3 s to confirm anything.
    b.with(|s| s.confirm_delay = Duration::from_secs(3));
    a.with(|s| {
        s.commitments.insert(1);
        s.events.push(send_event(1, 10, 0));
    });
    let worker = worker("p3", &a, &b);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(shutdown));
    let t = Instant::now();
    while b.with(|s| s.sent.is_empty()) {
        assert!(t.elapsed() < Duration::from_secs(5), "nothing sent to b");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.with(|s| {
        s.commitments.insert(2);
        s.events.push(send_event(2, 11, 0));
    });
    let t = Instant::now();
    while b.with(|s| s.sent.len()) < 2 {
        assert!(
            t.elapsed() < Duration::from_millis(2000),
            "the second batch waited for the first one's confirmation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        b.with(|s| s.received.is_empty()),
        "the first tx confirmed already"
    );
    // Stopping now still settles both txs: they are counted, never sent again.
    stop.send(true).unwrap();
    task.await.unwrap();
    assert_eq!(b.sent_seqs("recv"), vec![1, 2]);
    assert_eq!(b.with(|s| s.received.len()), 2);
    assert_eq!(
        metric_line(
            r#"ferry_packets_relayed_total{chain="p3-b",channel="channel-1",counterparty="p3-a",kind="recv"}"#
        ),
        Some(2.0)
    );
}

/// Client updates a batch sent at height 10 needs when the destination's client is at 10.
async fn updates_for_batch_at_client_height(tag: &str, proves_own_block: bool) -> Vec<u64> {
    let (a, b, mut lane) = setup(tag, 2);
    a.with(|s| {
        s.proves_own_block = proves_own_block;
        s.height = 12;
    });
    b.with(|s| s.client_height = 10);
    lane.submit().await;
    b.with(|s| {
        s.sent
            .iter()
            .flatten()
            .filter(|(kind, _)| kind == "update")
            .map(|(_, h)| *h)
            .collect()
    })
}

#[tokio::test]
async fn a_source_proving_its_own_block_is_proven_at_that_height_without_an_update() {
    // Tendermint: what block 10 wrote is proven from header 11 on, so the client moves.
    assert_eq!(
        updates_for_batch_at_client_height("h1", false).await,
        vec![12]
    );
    // EVM state roots and attestations: height 10 itself proves it; no update, no wait.
    assert_eq!(
        updates_for_batch_at_client_height("h2", true).await,
        Vec::<u64>::new()
    );
}

#[tokio::test]
async fn a_batch_the_source_cannot_prove_yet_waits_and_gathers_what_arrives_meanwhile() {
    // Sends at height 10 on a source whose latest height is 10: provable from 11 on.
    let (a, b, mut lane) = setup("h3", 2);
    a.with(|s| s.height = 10);
    lane.submit().await;
    assert!(b.with(|s| s.sent.is_empty()), "sent before it was provable");
    assert!(!lane.wants_submit(), "looked again at once");
    // More sends of the same block arrive while it waits.
    a.with(|s| s.commitments.extend(3..=4));
    for seq in 3..=4 {
        lane.add_recv(send_event(seq, 10, 0));
    }
    a.with(|s| s.height = 11);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(lane.wants_submit());
    lane.submit().await;
    assert_eq!(b.with(|s| s.sent.len()), 1, "one batch for the whole block");
    assert_eq!(b.sent_seqs("recv"), vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn a_batch_waiting_for_a_provable_height_goes_when_the_source_commits_not_at_the_next_poll() {
    let (a, b, mut lane) = setup("h4", 2);
    a.with(|s| s.height = 10);
    lane.submit().await;
    assert!(!lane.wants_submit(), "waits for its poll");
    // The source's next block is announced: no poll interval to wait out.
    a.with(|s| s.height = 11);
    lane.source_committed(11);
    assert!(lane.wants_submit());
    lane.submit().await;
    assert_eq!(b.sent_seqs("recv"), vec![1, 2]);
}

#[test]
fn a_commit_notice_wakes_the_lane_that_relays_from_that_chain_and_moves_no_mark() {
    let a = FakeChain::new("h5-a");
    let (to_other, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (marks, mark) = tokio::sync::watch::channel(0u64);
    super::feed(
        crate::chain::Feed::Committed(12),
        &side(&a, "channel-0"),
        &to_other,
        &marks,
        &tokio::sync::Notify::new(),
    );
    assert!(matches!(
        rx.try_recv(),
        Ok(super::LaneInput::SourceCommitted(12))
    ));
    assert_eq!(*mark.borrow(), 0, "a commit is not a scanned mark");
}

#[test]
fn unread_blocks_wake_clearing_and_move_no_mark() {
    use futures::FutureExt;
    let a = FakeChain::new("h6-a");
    let (to_other, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (marks, mark) = tokio::sync::watch::channel(0u64);
    let wake = tokio::sync::Notify::new();
    assert!(wake.notified().now_or_never().is_none(), "woken before");
    super::feed(
        crate::chain::Feed::Unread { from: 11, to: 14 },
        &side(&a, "channel-0"),
        &to_other,
        &marks,
        &wake,
    );
    assert!(
        wake.notified().now_or_never().is_some(),
        "clearing not woken"
    );
    assert!(rx.try_recv().is_err(), "nothing goes to a lane");
    // The scanned mark after the unread blocks is what moves the mark.
    assert_eq!(*mark.borrow(), 0);
}

#[tokio::test]
async fn a_submit_while_an_update_is_in_flight_proves_behind_it_and_pays_for_no_second_one() {
    let (a, b, mut lane) = setup("p9", 3);
    lane.submit().await;
    assert_eq!(
        b.sent_seqs("update").len(),
        1,
        "the first batch updates the client"
    );
    // More packets arrive, at a height the update in flight covers, before its tx confirms.
    a.with(|s| s.commitments.extend(4..=5));
    for seq in 4..=5 {
        lane.add_recv(send_event(seq, 11, 0));
    }
    lane.submit().await;
    let (sent, after) = b.with(|s| (s.sent.clone(), s.sent_after.clone()));
    assert_eq!(sent.len(), 2);
    assert_eq!(
        b.sent_seqs("update").len(),
        1,
        "the second tx paid for the update already in flight: {sent:?}"
    );
    assert_eq!(
        after[1],
        vec![sent[0][0].clone()],
        "the second tx was not simulated behind the update in flight"
    );
    let mut relayed = 0;
    for c in lane.confirmations() {
        relayed += lane.settled(c.await).relayed;
    }
    assert_eq!(relayed, 5);
}

#[tokio::test]
async fn once_the_tx_with_the_update_failed_the_next_submit_sends_its_own() {
    let (a, b, mut lane) = setup("p10", 3);
    b.with(|s| {
        s.revert_on_mine
            .insert((crate::telemetry::PacketKind::Recv, 2));
    });
    lane.submit().await;
    for c in lane.confirmations() {
        lane.settled(c.await);
    }
    assert_eq!(
        b.with(|s| s.client_height),
        1,
        "the update reverted with its tx"
    );
    a.with(|s| s.commitments.insert(4));
    lane.add_recv(send_event(4, 11, 0));
    // After the backoff, packets 1, 3 and 4 go again (2 is held back), with an update of their own.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(lane.wants_submit());
    lane.submit().await;
    let (sent, after) = b.with(|s| (s.sent.clone(), s.sent_after.clone()));
    assert_eq!(b.sent_seqs("update").len(), 2, "{sent:?}");
    assert!(after[1].is_empty(), "simulated behind a failed update");
    for c in lane.confirmations() {
        lane.settled(c.await);
    }
    assert_eq!(b.with(|s| s.received.clone()), [1, 3, 4].into());
}

#[tokio::test]
async fn a_submit_that_updates_the_client_reads_the_source_height_once() {
    let (a, b, mut lane) = setup("p11", 3);
    lane.submit().await;
    assert_eq!(
        b.sent_seqs("update"),
        vec![100],
        "updated to the source's latest height"
    );
    assert_eq!(
        a.with(|s| s.latest_reads),
        1,
        "the height read to see the batch provable is the update's target"
    );
}
