//! Proving a submit's items a tx's worth at a time, just before that tx goes out: the first tx
//! (live transfers, when a backlog waits) is not held behind the proofs of the whole submit, and
//! a submit that ends early has proven nothing it did not send.

use super::{Item, Lane};
use crate::chain::{ChainError, Msg, ProofKind, ProofRequest};
use crate::ibc::Height;

impl Lane {
    /// Proofs at `at` for `items` (one request to the source for all), and the message each
    /// becomes; the flag (sent alone) is carried through.
    pub(super) async fn prove_items(
        &self,
        items: Vec<(Item, bool)>,
        at: Height,
    ) -> Result<Vec<(Item, Msg, bool)>, ChainError> {
        let started = std::time::Instant::now();
        let reqs: Vec<ProofRequest> = items
            .iter()
            .map(|(item, _)| {
                let p = &item.pending().packet;
                match item {
                    Item::Recv(_) => ProofRequest::new(
                        ProofKind::Commitment,
                        &p.source_port,
                        &p.source_channel,
                        p.sequence,
                    ),
                    Item::Ack(_) => ProofRequest::new(
                        ProofKind::Ack,
                        &p.destination_port,
                        &p.destination_channel,
                        p.sequence,
                    ),
                    Item::Timeout(_) => ProofRequest::new(
                        ProofKind::NonReceipt,
                        &p.destination_port,
                        &p.destination_channel,
                        p.sequence,
                    ),
                }
            })
            .collect();
        let proofs = self.src.chain.prove_many(&reqs, at).await?;
        tracing::debug!(dst = %self.dst.id(), proofs = proofs.len(), prove_ms = started.elapsed().as_millis() as u64, "submit: proved");
        Ok(items
            .into_iter()
            .zip(proofs)
            .map(|((item, solo), proof)| {
                let p = &item.pending().packet;
                let m = match &item {
                    Item::Recv(_) => self.dst.chain.recv_msg(p, proof),
                    Item::Ack(pd) => self.dst.chain.ack_msg(p, &pd.ack, proof),
                    Item::Timeout(_) => self.dst.chain.timeout_msg(p, proof),
                };
                (item, m, solo)
            })
            .collect())
    }
}
