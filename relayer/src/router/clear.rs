//! Packet clearing: at start-up and every `interval`, find packets the chains say are pending and feed
//! them into the same queues as live events, a bounded number per round so live traffic keeps flowing.

use std::time::Duration;

use futures::{stream, StreamExt};
use tokio::sync::{mpsc, watch};

use super::Side;
use crate::ibc::PacketEvent;

/// Sequences looked up per direction per round.
const MAX_PER_ROUND: usize = 500;
const LOOKUP_CONCURRENCY: usize = 8;

pub async fn run(
    a: Side,
    b: Side,
    tx_a: mpsc::Sender<PacketEvent>,
    tx_b: mpsc::Sender<PacketEvent>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        for (src, dst, src_tx, dst_tx) in [(&a, &b, &tx_a, &tx_b), (&b, &a, &tx_b, &tx_a)] {
            match clear_direction(src, dst, src_tx, dst_tx).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(src = %src.id(), dst = %dst.id(), packets = n, "clearing found pending packets")
                }
                Err(e) => {
                    tracing::warn!(src = %src.id(), dst = %dst.id(), error = %e, "clearing failed; will retry")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => if *shutdown.borrow() { return },
        }
    }
}

/// Packets sent on `src` that still have a commitment: unreceived ones need a receive (or timeout),
/// received ones need their ack relayed back.
async fn clear_direction(
    src: &Side,
    dst: &Side,
    src_tx: &mpsc::Sender<PacketEvent>,
    dst_tx: &mpsc::Sender<PacketEvent>,
) -> crate::chain::Result<usize> {
    let mut seqs = src.chain.commitments(&src.port, &src.channel).await?;
    seqs.truncate(MAX_PER_ROUND);
    if seqs.is_empty() {
        return Ok(0);
    }
    let unreceived = dst.chain.unreceived(&dst.port, &dst.channel, &seqs).await?;
    let received: Vec<u64> = seqs
        .iter()
        .copied()
        .filter(|s| !unreceived.contains(s))
        .collect();
    let sends = stream::iter(unreceived.iter().copied())
        .map(|s| async move { src.chain.sent_packet(&src.port, &src.channel, s).await })
        .buffer_unordered(LOOKUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let acks = stream::iter(received.iter().copied())
        .map(|s| async move { dst.chain.written_ack(&dst.port, &dst.channel, s).await })
        .buffer_unordered(LOOKUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut n = 0;
    // Sends are seen "on src", acks "on dst": the worker routes them as it routes live events.
    for ev in sends.into_iter().filter_map(|r| r.ok().flatten()) {
        n += 1;
        let _ = src_tx.send(ev).await;
    }
    for ev in acks.into_iter().filter_map(|r| r.ok().flatten()) {
        n += 1;
        let _ = dst_tx.send(ev).await;
    }
    Ok(n)
}
