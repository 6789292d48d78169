//! Packet clearing: at start-up and every `interval`, find packets the chains say are pending and feed
//! them into the same queues as live events. Every commitment is covered, a bounded number per
//! round (so live traffic keeps flowing), the next round going on where the last stopped; while a
//! backlog remains, rounds follow each other after a short pause instead of the full interval.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, Notify};

use super::{LaneInput, Side};
use crate::chain::EventSink;
use crate::lease::LaneGate;
use crate::telemetry::PacketKind;

/// Sequences looked up per direction per round.
const MAX_PER_ROUND: usize = 500;
/// Pause between rounds while a backlog remains.
const BACKLOG_PAUSE: Duration = Duration::from_secs(1);

/// How long clearing waits for a lane to say what it holds. A lane answers between submits, and a
/// submit ends within the lane's `FLUSH_LIMIT` (120 s), so a lane that is alive answers in time;
/// one that does not is skipped this round (see [`clear_direction`]).
#[cfg(not(test))]
const HOLDING_WAIT: Duration = Duration::from_secs(150);
#[cfg(test)]
const HOLDING_WAIT: Duration = Duration::from_millis(300);

/// Where clearing feeds what it finds (as events seen on a or on b, routed like live ones), and the
/// inputs of the path's two lanes, which it asks what they hold already.
pub struct Feeds {
    pub seen_on_a: EventSink,
    pub seen_on_b: EventSink,
    pub lane_to_a: mpsc::UnboundedSender<LaneInput>,
    pub lane_to_b: mpsc::UnboundedSender<LaneInput>,
}

/// When clearing runs besides its interval, and whether it runs at all.
pub struct Trigger {
    /// A lane that starts relaying (it took its lease) asks for a round at once, from the start.
    pub wake: Arc<Notify>,
    /// With leases: the path's lanes; clearing runs only while this instance holds one of them.
    /// Empty: always.
    pub gates: Vec<LaneGate>,
}

pub async fn run(
    a: Side,
    b: Side,
    feeds: Feeds,
    interval: Duration,
    trigger: Trigger,
    mut shutdown: watch::Receiver<bool>,
) {
    // Per direction: clearing goes on after this sequence next round.
    let mut cursors = [0u64; 2];
    loop {
        if !trigger.gates.is_empty() && !trigger.gates.iter().any(|g| g.owned()) {
            // Standby: another instance relays this path. Wait to be woken by a lane.
            tokio::select! {
                _ = trigger.wake.notified() => cursors = [0, 0],
                _ = shutdown.changed() => if *shutdown.borrow() { return },
            }
            continue;
        }
        let mut more = false;
        let directions = [
            (
                &a,
                &b,
                &feeds.seen_on_a,
                &feeds.seen_on_b,
                [&feeds.lane_to_b, &feeds.lane_to_a],
            ),
            (
                &b,
                &a,
                &feeds.seen_on_b,
                &feeds.seen_on_a,
                [&feeds.lane_to_a, &feeds.lane_to_b],
            ),
        ];
        for ((src, dst, src_tx, dst_tx, to), cursor) in
            directions.into_iter().zip(cursors.iter_mut())
        {
            match clear_direction(src, dst, src_tx, dst_tx, to, *cursor).await {
                Ok(round) => {
                    if round.found > 0 {
                        tracing::info!(src = %src.id(), dst = %dst.id(), packets = round.found, after = *cursor, "clearing found pending packets");
                    }
                    *cursor = round.next_cursor;
                    more |= round.next_cursor != 0;
                }
                Err(e) => {
                    tracing::warn!(src = %src.id(), dst = %dst.id(), error = %e, "clearing failed; will retry")
                }
            }
        }
        let pause = if more { BACKLOG_PAUSE } else { interval };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = trigger.wake.notified() => cursors = [0, 0],
            _ = shutdown.changed() => if *shutdown.borrow() { return },
        }
    }
}

/// One clearing round of one direction.
struct Round {
    /// Packets fed to the lanes.
    found: usize,
    /// Where the next round starts: after this sequence; 0 once the end was reached.
    next_cursor: u64,
}

/// Of the sorted `committed`, those after `cursor` this round looks at, and the next cursor.
fn window(committed: &[u64], cursor: u64) -> (&[u64], u64) {
    let start = committed.partition_point(|s| *s <= cursor);
    let rest = &committed[start..];
    if rest.len() > MAX_PER_ROUND {
        let taken = &rest[..MAX_PER_ROUND];
        (taken, *taken.last().expect("non-empty"))
    } else {
        (rest, 0)
    }
}

/// Of `seqs`, those the lane behind `lane` holds as one of `kinds`: none when the lane is gone or
/// on standby (it drops the question); `None` when it did not answer within [`HOLDING_WAIT`].
async fn held(
    lane: &mpsc::UnboundedSender<LaneInput>,
    kinds: &[PacketKind],
    seqs: &[u64],
) -> Option<Vec<u64>> {
    let (reply, answer) = oneshot::channel();
    let asked = LaneInput::Holding {
        kinds: kinds.to_vec(),
        seqs: seqs.to_vec(),
        reply,
    };
    if lane.send(asked).is_err() {
        return Some(vec![]);
    }
    match tokio::time::timeout(HOLDING_WAIT, answer).await {
        Ok(Ok(held)) => Some(held),
        Ok(Err(_)) => Some(vec![]),
        Err(_) => None,
    }
}

/// Packets sent on `src` that still have a commitment: unreceived ones need a receive (or timeout),
/// received ones need their ack relayed back. Those a lane holds already (`to`: the lanes to `dst`
/// and to `src`) are skipped: during a burst most commitments are packets on their way, and each
/// lookup is a `tx_search` the node runs over every event of the channel.
async fn clear_direction(
    src: &Side,
    dst: &Side,
    src_tx: &EventSink,
    dst_tx: &EventSink,
    to: [&mpsc::UnboundedSender<LaneInput>; 2],
    cursor: u64,
) -> crate::chain::Result<Round> {
    let committed = src.chain.commitments(&src.port, &src.channel).await?;
    let (seqs, next_cursor) = window(&committed, cursor);
    if seqs.is_empty() {
        return Ok(Round {
            found: 0,
            next_cursor,
        });
    }
    // A lane that does not answer holds an unknown part of the window: looking all of it up would
    // be the costliest guess (in a W4 run, rounds looked up 500 packets per channel that the
    // lanes held, on a source node already short of CPU), so the window waits for the next round.
    let later = || {
        tracing::debug!(src = %src.id(), dst = %dst.id(), "a lane did not say what it holds; this window waits for the next round");
        Ok(Round {
            found: 0,
            next_cursor: cursor,
        })
    };
    let Some(mut skip) = held(to[0], &[PacketKind::Recv], seqs).await else {
        return later();
    };
    let Some(more) = held(to[1], &[PacketKind::Ack, PacketKind::Timeout], seqs).await else {
        return later();
    };
    skip.extend(more);
    let skip: std::collections::HashSet<u64> = skip.into_iter().collect();
    let seqs: Vec<u64> = seqs.iter().copied().filter(|s| !skip.contains(s)).collect();
    if seqs.is_empty() {
        return Ok(Round {
            found: 0,
            next_cursor,
        });
    }
    let unreceived = dst.chain.unreceived(&dst.port, &dst.channel, &seqs).await?;
    let received: Vec<u64> = seqs
        .iter()
        .copied()
        .filter(|s| !unreceived.contains(s))
        .collect();
    // Sends are seen "on src", acks "on dst": the worker routes them as it routes live events.
    let sends = src
        .chain
        .sent_packets(&src.port, &src.channel, &unreceived)
        .await?;
    let acks = dst
        .chain
        .written_acks(&dst.port, &dst.channel, &received)
        .await?;
    let n = sends.len() + acks.len();
    for ev in sends {
        src_tx.event(ev).await;
    }
    for ev in acks {
        dst_tx.event(ev).await;
    }
    Ok(Round {
        found: n,
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_cover_every_commitment_then_start_over() {
        let committed: Vec<u64> = (1..=1_234).collect();
        let mut cursor = 0;
        let mut seen = Vec::new();
        loop {
            let (w, next) = window(&committed, cursor);
            assert!(w.len() <= MAX_PER_ROUND);
            seen.extend_from_slice(w);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen, committed);
        // Commitments that went meanwhile are skipped; the cursor still moves on.
        assert_eq!(window(&[3, 700, 900], 600), (&[700u64, 900][..], 0));
        assert_eq!(window(&[], 0), (&[][..], 0));
    }
}
