//! The client update a batch proves against: none when the destination's client already holds a
//! consensus state above every event in the batch.

use std::time::Instant;

use super::Lane;
use crate::chain::{ChainError, Msg, PendingTx};
use crate::ibc::Height;
use crate::telemetry::metrics;

/// A client update sent in a tx whose outcome is not known yet. While it is, a submit whose
/// events it covers proves at its height, simulated behind it, instead of paying for the same
/// update again (the next batch goes out while the last one confirms, so the client on chain lags
/// what is in the mempool). Txs behind it go from the signer that sent it, so they are ordered
/// after it; if it fails, they fail too, as the later txs of its own submit would.
pub(in crate::router) struct UpdateInFlight {
    tx: String,
    height: Height,
    msgs: Vec<Msg>,
}

/// What a submit proves against: the update it sends (maybe none), the proof height, and the
/// update in flight its txs are simulated behind (none when it sends its own).
pub(super) struct ClientPlan {
    pub updates: Vec<Msg>,
    pub at: Height,
    pub behind: Vec<Msg>,
}

/// How often a lane whose queued items the source cannot prove yet looks at its height again.
pub(super) const PROVABLE_POLL: std::time::Duration = std::time::Duration::from_millis(200);

impl Lane {
    /// The source committed block `height`: a batch waiting for a provable height checks again
    /// now, not at its next poll, and events at most a few blocks below it count as live.
    pub fn source_committed(&mut self, height: u64) {
        self.poll_at = None;
        self.src_tip = self.src_tip.max(height);
    }

    /// Whether the source can prove some ready item now. The source's height is read (one call)
    /// only when a ready item needs more than the height seen last.
    pub(super) async fn refresh_provable(&mut self, now: Instant) -> Result<bool, ChainError> {
        let heights: Vec<u64> = self
            .ready(now)
            .map(|p| self.src.chain.proof_height_for(p.height))
            .collect();
        let (Some(&low), Some(&high)) = (heights.iter().min(), heights.iter().max()) else {
            return Ok(false);
        };
        if high > self.src_provable {
            let (h, _) = self.src.chain.latest().await?;
            self.src_provable = self.src_provable.max(h.revision_height);
            if self.src_latest.is_none_or(|l| l < h) {
                self.src_latest = Some(h);
            }
        }
        Ok(low <= self.src_provable)
    }

    /// `tx` carried the client update `msgs` to `height`.
    pub(super) fn update_sent(&mut self, tx: &PendingTx, height: Height, msgs: &[Msg]) {
        self.update_in_flight = Some(UpdateInFlight {
            tx: tx.hash.clone(),
            height,
            msgs: msgs.to_vec(),
        });
    }

    /// Tx `hash` settled (landed, failed, or given up on): an update it carried is no longer in
    /// flight.
    pub(super) fn update_settled(&mut self, hash: &str) {
        if self.update_in_flight.as_ref().is_some_and(|u| u.tx == hash) {
            self.update_in_flight = None;
        }
    }

    /// Client-update messages (maybe none) and the proof height to use: the destination's client of
    /// the source must hold a consensus state at `need` or above (and, for timeouts, a recent
    /// one), on chain or in an update still in flight. `need` is the source's lowest proof height
    /// covering every event of the batch.
    pub(super) async fn prepare_client(
        &self,
        need: u64,
        fresh: bool,
    ) -> Result<ClientPlan, ChainError> {
        let (dst_id, client) = (self.dst.id().to_string(), self.dst.client.clone());
        let trusted = self.dst.chain.client_latest_height(&client).await?;
        let none = |at| ClientPlan {
            updates: vec![],
            at,
            behind: vec![],
        };
        if !fresh && trusted.revision_height >= need {
            metrics().client_update(&dst_id, client.as_str(), false);
            return Ok(none(trusted));
        }
        if let Some(u) = self
            .update_in_flight
            .as_ref()
            .filter(|u| !fresh && u.height.revision_height >= need && u.height > trusted)
        {
            metrics().client_update(&dst_id, client.as_str(), false);
            return Ok(ClientPlan {
                updates: vec![],
                at: u.height,
                behind: u.msgs.clone(),
            });
        }
        // The height just read to see the batch provable serves as the target (one read of the
        // source's height per submit, not two); timeouts want a recent consensus state, read anew.
        let target = match self
            .src_latest
            .filter(|h| !fresh && h.revision_height >= need)
        {
            Some(h) => h,
            None => {
                crate::chain::wait_for_height(
                    &*self.src.chain,
                    need,
                    std::time::Duration::from_secs(30),
                )
                .await?
            }
        };
        if trusted >= target {
            metrics().client_update(&dst_id, client.as_str(), false);
            return Ok(none(trusted));
        }
        let anchor = self.dst.chain.consensus_anchor(&client, trusted).await?;
        let headers = self
            .src
            .chain
            .client_headers(trusted, target, &anchor)
            .await?;
        metrics().client_update(&dst_id, client.as_str(), true);
        Ok(ClientPlan {
            updates: headers
                .into_iter()
                .map(|h| self.dst.chain.update_client_msg(&client, h))
                .collect(),
            at: target,
            behind: vec![],
        })
    }
}
