//! A backlog beside live traffic, over in-memory chains: what clearing looks up, and what goes
//! first, and where a full submit ends.

use std::time::Duration;

use super::fake::{ack_event, send_event, side, FakeChain};
use super::tests::{setup, worker};
use crate::chain::Priority;

#[tokio::test]
async fn clearing_looks_up_no_packet_a_lane_already_holds() {
    let a = FakeChain::new("ch-a");
    let b = FakeChain::new("ch-b");
    // Packets 1-3 arrive live and sit in a tx that takes 3 s to confirm; 4 is committed but was
    // never seen live, and its send cannot be found: it is looked up every round.
    a.with(|s| s.commitments.extend(1..=4));
    b.with(|s| s.confirm_delay = Duration::from_secs(3));
    let mut w = worker("ch", &a, &b);
    w.clear_interval = Duration::from_millis(200);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(w.run(shutdown));
    // Let the start-up round pass (the lane held nothing then), then send 1-3 live.
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.with(|s| s.events.extend((1..=3).map(|seq| send_event(seq, 10, 0))));
    let t = std::time::Instant::now();
    while b.with(|s| s.sent.is_empty()) {
        assert!(t.elapsed() < Duration::from_secs(5), "nothing sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = a.with(|s| s.send_lookups.len());
    // About five clearing rounds while 1-3 are in flight.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let during: Vec<u64> = a.with(|s| s.send_lookups[before..].to_vec());
    stop.send(true).unwrap();
    task.await.unwrap();
    assert!(
        during.iter().all(|&seq| seq == 4),
        "looked up while a lane held them: {during:?}"
    );
    assert!(
        !during.is_empty(),
        "clearing still looks up the packet no lane holds"
    );
}

#[tokio::test]
async fn clearing_looks_up_nothing_while_a_lane_too_busy_to_answer_may_hold_it() {
    let a = FakeChain::new("busy-a");
    let b = FakeChain::new("busy-b");
    // 1-3 arrive live; each proof takes 2 s (a source node short of CPU), so the lane spends about
    // 2 s in one submit and answers no question meanwhile. 4 was never seen live.
    a.with(|s| s.commitments.extend(1..=4));
    let mut w = worker("busy", &a, &b);
    w.clear_interval = Duration::from_millis(100);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(w.run(shutdown));
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.with(|s| {
        s.prove_delay = Duration::from_secs(2);
        s.events.extend((1..=3).map(|seq| send_event(seq, 10, 0)));
    });
    // The submit is under way once the lane has asked the destination what is unreceived; give
    // it a moment to start proving, then watch what clearing looks up while it proves.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = a.with(|s| s.send_lookups.len());
    tokio::time::sleep(Duration::from_millis(1_400)).await;
    let during: Vec<u64> = a.with(|s| s.send_lookups[before..].to_vec());
    // Once the submit is over, the lane answers and 4 is looked up again.
    let t = std::time::Instant::now();
    while !b.with(|s| s.received.contains(&3)) || !a.with(|s| s.send_lookups[before..].contains(&4))
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "not relayed or 4 not looked up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    task.await.unwrap();
    assert!(
        during.is_empty(),
        "looked up while the lane that may hold them was busy: {during:?}"
    );
}

#[tokio::test]
async fn transfers_sent_during_a_backlog_go_in_the_next_tx_not_behind_it() {
    // A backlog of 100 packets sent at height 10 is queued; 3 more arrive, sent at height 50.
    let (a, b, mut lane) = setup("nf", 100);
    a.with(|s| s.commitments.extend(101..=103));
    for seq in 101..=103 {
        lane.add_recv(send_event(seq, 50, 0));
    }
    lane.flush().await;
    // The first tx (30 messages at most here) carries the new ones; the backlog goes oldest first.
    let first = b.with(|s| s.sent[0].clone());
    assert_eq!(first.len(), 30);
    for seq in 101..=103 {
        assert!(
            first.contains(&("recv".to_string(), seq)),
            "{seq} not in {first:?}"
        );
    }
    let sent = b.sent_seqs("recv");
    let backlog: Vec<u64> = sent.iter().copied().filter(|&s| s <= 100).collect();
    assert_eq!(backlog, (1..=100).collect::<Vec<_>>());
    assert_eq!(sent.len(), 103);
}

#[tokio::test]
async fn a_full_submit_with_a_client_update_sends_no_tx_of_leftovers() {
    // Eight chunks' worth (30 messages a tx here) of packets, and the client needs an update.
    let (_a, b, mut lane) = setup("full", 8 * 30);
    lane.submit().await;
    let sizes: Vec<usize> = b.with(|s| s.sent.iter().map(|t| t.len()).collect());
    assert_eq!(sizes, vec![30; 8], "txs of the first submit");
    assert!(b.with(|s| s.sent[0].iter().any(|(k, _)| k == "update")));
    // The packet the update displaced goes with the next submit.
    lane.flush().await;
    let sent = b.sent_seqs("recv");
    assert_eq!(sent.len(), 8 * 30);
}

#[tokio::test]
async fn live_transfers_all_go_before_a_backlog_not_only_the_newest_tx() {
    // A backlog of 100 sent at height 10; the source then announces block 60, and 70 transfers
    // sent at height 58 arrive: more than one tx's worth (30 messages here), all of them live.
    let (a, b, mut lane) = setup("lf", 100);
    lane.source_committed(60);
    a.with(|s| s.commitments.extend(101..=170));
    for seq in 101..=170 {
        lane.add_recv(send_event(seq, 58, 0));
    }
    lane.submit().await;
    let sent = b.sent_seqs("recv");
    assert_eq!(
        sent[..70],
        (101..=170).collect::<Vec<_>>()[..],
        "live transfers behind the backlog: {sent:?}"
    );
    assert_eq!(sent[70..], (1..=100).collect::<Vec<_>>()[..]);
    // The txs that carry live transfers wait for the signer as live ones; the rest as backlog.
    let (txs, priorities) = b.with(|s| (s.sent.clone(), s.sent_priority.clone()));
    assert_eq!(txs.len(), priorities.len());
    for (tx, p) in txs.iter().zip(&priorities) {
        let live = tx.iter().any(|(k, seq)| k == "recv" && *seq > 100);
        assert_eq!(*p, Priority::live_if(live), "tx {tx:?}");
    }
    assert!(priorities.contains(&Priority::Backlog) && priorities.contains(&Priority::Live));
    // The other lane is told which went as backlog (their acks are backlog too), once.
    assert_eq!(lane.take_backlog_sent(), (1..=100).collect::<Vec<_>>());
    assert!(lane.take_backlog_sent().is_empty());
}

#[tokio::test]
async fn acks_of_live_transfers_go_before_acks_of_a_backlog() {
    // Packets 1..=100 went to b as backlog, 101..=110 as live transfers; b writes all their acks
    // at height 58 and announces block 60, so every ack is just as new.
    let a = FakeChain::new("la-a");
    let b = FakeChain::new("la-b");
    a.with(|s| s.commitments.extend(1..=110));
    let mut to_a = super::tests::new_lane("la", side(&a, "channel-0"), side(&b, "channel-1"));
    to_a.source_committed(60);
    to_a.backlog_delivered((1..=100).collect());
    for seq in 1..=110 {
        to_a.add_ack(ack_event(seq, 58));
    }
    to_a.submit().await;
    let sent = a.sent_seqs("ack");
    assert_eq!(sent.len(), 110);
    assert_eq!(
        sent[..10],
        (101..=110).collect::<Vec<_>>()[..],
        "live transfers' acks behind the backlog's: {sent:?}"
    );
    // Only the txs with live transfers' acks wait for the signer as live ones.
    let priorities = a.with(|s| s.sent_priority.clone());
    assert_eq!(priorities[0], Priority::Live);
    assert_eq!(*priorities.last().unwrap(), Priority::Backlog);
}

#[tokio::test]
async fn a_backlog_submit_ends_early_once_live_transfers_it_can_prove_wait() {
    // Eight txs' worth of backlog (30 messages a tx here), sent at height 10; the source is at 100.
    let (a, b, mut lane) = setup("ye", 8 * 30);
    lane.source_committed(100);
    a.with(|s| s.commitments.extend(241..=250));
    // Transfers sent at height 100 arrive during the submit: not provable before block 101.
    let report = submit_while_arriving(&mut lane, 241..=245, 100).await;
    assert!(!report.yielded);
    assert_eq!(
        b.with(|s| s.sent.len()),
        8,
        "nothing to prove yet: the submit goes on"
    );
    lane.flush().await;
    // Now transfers sent at height 99, provable at 100, arrive during a backlog submit.
    let (a, b, mut lane) = setup("ye2", 8 * 30);
    lane.source_committed(100);
    a.with(|s| s.commitments.extend(241..=250));
    let report = submit_while_arriving(&mut lane, 241..=245, 99).await;
    assert!(report.yielded, "the submit did not end for them");
    assert_eq!(b.with(|s| s.sent.len()), 1, "txs sent before it ended");
    // The next submit carries them in its first tx.
    lane.submit().await;
    let second = b.with(|s| s.sent[1].clone());
    for seq in 241..=245 {
        assert!(
            second.contains(&("recv".to_string(), seq)),
            "{seq} not in {second:?}"
        );
    }
    // Nothing proven and left unsent is lost: everything is delivered in the end.
    for _ in 0..10 {
        lane.flush().await;
    }
    assert_eq!(b.sent_seqs("recv").len(), 245);
}

/// One submit of `lane`, during which (after its first tx) the sends of `seqs` at `height`
/// arrive.
async fn submit_while_arriving(
    lane: &mut super::Lane,
    seqs: std::ops::RangeInclusive<u64>,
    height: u64,
) -> super::LaneReport {
    let mut arrivals = Some(seqs);
    lane.submit_reading(&mut |l: &mut super::Lane| {
        for seq in arrivals.take().into_iter().flatten() {
            l.add_recv(send_event(seq, height, 0));
        }
    })
    .await
}
