//! Settling a lane's txs: confirmed (packets counted), failed or reverted (culprits held back),
//! or not final yet (looked up again; what they carry is never resent meanwhile). The lookups run
//! beside the lane (see `relay_lane`), so the next batch goes out while the last one confirms. The
//! backoff after a failure, and the one-round `flush` the tests drive, live here too.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt;

use super::{blamed, Chunk, Item, Lane, LaneReport, MAX_LOOKUPS};
use crate::chain::{ChainError, PendingTx, TxOutcome};
use crate::telemetry::{metrics, PacketKind};

/// A tx sent by this lane whose outcome is not known yet, and the lookups it has had.
pub(super) struct Awaiting {
    pub tx: PendingTx,
    pub chunk: Chunk,
    pub lookups: u32,
}

/// What one lookup of a tx found, for [`Lane::settled`].
pub struct Settled {
    awaiting: Awaiting,
    result: Result<TxOutcome, ChainError>,
}

impl Lane {
    /// Delivered items leave the lane, counted once.
    pub(super) fn finish(&mut self, items: Vec<Item>, report: &mut LaneReport) {
        let (dst_id, src_id, channel) = self.labels();
        for item in items {
            let kind = item.kind();
            let p = item.pending();
            let seq = p.packet.sequence;
            let secs = p.seen.elapsed().as_secs_f64();
            self.release((kind, seq), "delivered");
            match kind {
                PacketKind::Recv => {
                    self.recv.remove(&seq);
                    metrics().recv_latency(&src_id, &dst_id, &self.src.channel.to_string(), secs);
                }
                PacketKind::Ack => {
                    self.acks.remove(&seq);
                    metrics().ack_latency(&dst_id, &src_id, &channel, secs);
                }
                PacketKind::Timeout => {
                    self.timeouts.remove(&seq);
                }
            }
            self.mark_done(kind, seq);
            metrics().packet_relayed(&dst_id, &src_id, &channel, kind);
            report.relayed += 1;
        }
    }

    /// Track `tx` (carrying `chunk`), just sent: its items stay out of later batches until it
    /// settles.
    pub(super) fn await_tx(&mut self, tx: PendingTx, chunk: Chunk) {
        self.record_inflight(&tx, &chunk);
        crate::store::failpoint("after-broadcast");
        for (item, _) in &chunk.items {
            self.in_flight.insert(item.key());
        }
        self.awaiting.push(Awaiting {
            tx,
            chunk,
            lookups: 0,
        });
    }

    /// One lookup for each tx waiting to be looked up (sent, restored, or not final last time);
    /// each ends in a [`Settled`] for [`Lane::settled`]. They borrow nothing from the lane, so
    /// they can run while it sends the next batch.
    pub fn confirmations(&mut self) -> Vec<impl Future<Output = Settled> + Send + 'static> {
        std::mem::take(&mut self.awaiting)
            .into_iter()
            .map(|awaiting| {
                let chain = self.dst.chain.clone();
                async move {
                    let lookup = chain.confirm(awaiting.tx.clone());
                    // A lookup that panicked says nothing about the tx: it is looked up again.
                    let result = AssertUnwindSafe(lookup)
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|_| {
                            Err(ChainError::Unconfirmed {
                                chain: chain.id().clone(),
                                tx: awaiting.tx.hash.clone(),
                                waited_secs: 0,
                            })
                        });
                    Settled { awaiting, result }
                }
            })
            .collect()
    }

    /// What a lookup found: packets counted when the tx is final; the packets at fault held back
    /// when it reverted (and the lane backs off); looked up again when it is not final yet (up to
    /// [`MAX_LOOKUPS`], then its packets go again unless found delivered).
    pub fn settled(&mut self, settled: Settled) -> LaneReport {
        let mut report = LaneReport::default();
        let Settled {
            awaiting: Awaiting { tx, chunk, lookups },
            result,
        } = settled;
        let dst_id = self.dst.id().to_string();
        let n = chunk.items.len();
        let again =
            matches!(result, Err(ChainError::Unconfirmed { .. })) && lookups + 1 < MAX_LOOKUPS;
        if !again {
            self.forget_inflight(&tx.hash);
            self.update_settled(&tx.hash);
            for (item, _) in &chunk.items {
                self.in_flight.remove(&item.key());
            }
        }
        match result {
            Ok(out) => {
                tracing::info!(tx = %out.hash, height = out.height, packets = n, "relayed batch to {dst_id}");
                self.finish(
                    chunk.items.into_iter().map(|(i, _)| i).collect(),
                    &mut report,
                );
                self.succeeded();
            }
            Err(e @ ChainError::Unconfirmed { .. }) => {
                if again {
                    tracing::warn!(error = %e, packets = n, "batch not final yet; looked up again before anything is resent");
                    self.awaiting.push(Awaiting {
                        tx,
                        chunk,
                        lookups: lookups + 1,
                    });
                } else {
                    tracing::warn!(error = %e, packets = n, lookups = lookups + 1, "batch still not final; its packets go again unless found delivered");
                    self.failed();
                }
            }
            Err(e) => {
                // Mined and failed or reverted: paid for. The packets at fault are held back;
                // the lane backs off before the rest goes again.
                for (i, reason) in blamed(&e, chunk.head, n).unwrap_or_default() {
                    let item = chunk.items[i].0.clone();
                    self.quarantine_item(&item, &reason, true);
                }
                tracing::warn!(error = %e, packets = n, "batch failed; its packets stay queued; backing off");
                self.failed();
            }
        }
        self.tidy();
        report
    }

    /// Submit, then wait for every tx sent to settle: one whole round, as the tests drive it.
    /// Txs still unknown from an earlier round are looked up first, and nothing else goes out
    /// while any is.
    #[cfg(test)]
    pub async fn flush(&mut self) -> LaneReport {
        let mut report = self.settle_all().await;
        if !self.awaiting.is_empty() {
            return report;
        }
        report.absorb(self.submit().await);
        report.absorb(self.settle_all().await);
        report
    }

    /// Confirm, one after the other, every tx awaiting its outcome.
    #[cfg(test)]
    async fn settle_all(&mut self) -> LaneReport {
        let mut report = LaneReport::default();
        for c in self.confirmations() {
            let s = c.await;
            report.absorb(self.settled(s));
        }
        report
    }

    /// A submit or a tx failed: the next submit waits (exponential backoff).
    pub(super) fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
        let wait = Duration::from_millis(200u64.saturating_mul(1 << self.failures.min(7)));
        self.retry_at = Some(Instant::now() + wait.min(Duration::from_secs(15)));
    }

    /// A tx settled on chain (or a submit had nothing to send). A backoff already running after
    /// a later failure keeps running.
    pub(super) fn succeeded(&mut self) {
        if self.retry_at.is_none_or(|t| Instant::now() >= t) {
            self.failures = 0;
            self.retry_at = None;
        }
        // A smaller batch size forced by the gas cap grows back while batches succeed.
        self.chunk_cap = self.chunk_cap.and_then(|c| {
            let max = self.dst.chain.max_msgs_per_tx();
            (c.saturating_mul(2) < max).then_some(c.saturating_mul(2))
        });
    }
}

impl LaneReport {
    /// Add `other`'s packets to this report.
    pub fn absorb(&mut self, other: LaneReport) {
        self.relayed += other.relayed;
        self.yielded |= other.yielded;
        self.timed_out.extend(other.timed_out);
    }
}
