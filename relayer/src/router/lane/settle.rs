//! Settling a lane's txs: confirmed (packets counted), failed or reverted (culprits held back),
//! or not final yet (kept and looked up again before anything is resent).

use super::{blamed, Chunk, Lane, LaneReport, MAX_LOOKUPS};
use crate::chain::{ChainError, PendingTx};

impl Lane {
    /// Confirm one tx of this lane (`lookups` earlier attempts): count its packets when it is
    /// final; hold back the packets at fault when it reverted; keep it for another lookup when it
    /// is not final yet. An error means the lane backs off.
    pub(super) async fn settle(
        &mut self,
        tx: PendingTx,
        chunk: Chunk,
        lookups: u32,
        report: &mut LaneReport,
    ) -> Option<ChainError> {
        let dst_id = self.dst.id().to_string();
        let n = chunk.items.len();
        let result = self.dst.chain.confirm(tx.clone()).await;
        if !matches!(result, Err(ChainError::Unconfirmed { .. })) || lookups + 1 >= MAX_LOOKUPS {
            self.forget_inflight(&tx.hash);
        }
        match result {
            Ok(out) => {
                tracing::info!(tx = %out.hash, height = out.height, packets = n, "relayed batch to {dst_id}");
                self.finish(chunk.items.into_iter().map(|(i, _)| i).collect(), report);
                None
            }
            Err(e @ ChainError::Unconfirmed { .. }) => {
                if lookups + 1 < MAX_LOOKUPS {
                    tracing::warn!(error = %e, packets = n, "batch not final yet; looked up again before anything is resent");
                    self.unconfirmed.push((tx, chunk, lookups + 1));
                } else {
                    tracing::warn!(error = %e, packets = n, lookups = lookups + 1, "batch still not final; its packets go again unless found delivered");
                }
                Some(e)
            }
            Err(e) => {
                // Mined and failed or reverted: paid for. The packets at fault are held back;
                // the lane backs off before the rest goes again.
                for (i, reason) in blamed(&e, chunk.head, n).unwrap_or_default() {
                    let item = chunk.items[i].0.clone();
                    self.quarantine_item(&item, &reason, true);
                }
                tracing::warn!(error = %e, packets = n, "batch failed; its packets stay queued; backing off");
                Some(e)
            }
        }
    }

    /// Look up the txs not seen final last time. `Err` while any is still unknown: nothing else
    /// goes out until then.
    pub(super) async fn settle_unconfirmed(
        &mut self,
        report: &mut LaneReport,
    ) -> Result<(), ChainError> {
        let mut failure = None;
        for (tx, chunk, lookups) in std::mem::take(&mut self.unconfirmed) {
            if let Some(e) = self.settle(tx, chunk, lookups, report).await {
                failure.get_or_insert(e);
            }
        }
        match failure {
            Some(e) if !self.unconfirmed.is_empty() => Err(e),
            // Settled (confirmed, failed, or given up on): the normal flow takes it from here.
            _ => Ok(()),
        }
    }
}
