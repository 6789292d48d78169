//! Proofs of many IBC store keys in JSON-RPC batches: CometBFT answers an array of calls in one
//! HTTP round trip, so a batch of 1,000 packets costs ten requests instead of a thousand. Each
//! answer is checked as a single one is (its height, its two proof ops); a node or proxy that
//! refuses batches is asked key by key instead.

use futures::stream::{self, StreamExt, TryStreamExt};

use super::query::keys;
use super::rpc::BatchError;
use super::CosmosChain;
use crate::chain::{ChainError, PacketProofs, Proof, ProofKind, ProofRequest, Result};
use crate::ibc::Height;

/// Keys per batch request, and batch requests in flight at once.
const KEYS_PER_BATCH: usize = 100;
const BATCHES_AT_ONCE: usize = 4;

impl CosmosChain {
    /// Proofs of every request at `at`, in order.
    pub(super) async fn prove_batched(
        &self,
        reqs: &[ProofRequest],
        at: Height,
    ) -> Result<Vec<Proof>> {
        let keyed: Vec<(String, bool)> = reqs
            .iter()
            .map(|r| match r.kind {
                ProofKind::Commitment => (keys::commitment(&r.port, &r.channel, r.seq), true),
                ProofKind::Ack => (keys::ack(&r.port, &r.channel, r.seq), true),
                ProofKind::NonReceipt => (keys::receipt(&r.port, &r.channel, r.seq), false),
            })
            .collect();
        let chunks: Vec<Vec<(String, bool)>> =
            keyed.chunks(KEYS_PER_BATCH).map(|c| c.to_vec()).collect();
        let parts: Vec<Vec<Proof>> = stream::iter(chunks)
            .map(|chunk| async move { self.prove_chunk(&chunk, at).await })
            .buffered(BATCHES_AT_ONCE)
            .try_collect()
            .await?;
        Ok(parts.into_iter().flatten().collect())
    }

    async fn prove_chunk(&self, chunk: &[(String, bool)], at: Height) -> Result<Vec<Proof>> {
        let query_height = at.revision_height - 1;
        let h = super::tm_height(query_height)?;
        let calls: Vec<serde_json::Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, (key, _))| {
                let req = tendermint_rpc::endpoint::abci_query::Request::new(
                    Some("store/ibc/key".to_string()),
                    key.as_bytes().to_vec(),
                    Some(h),
                    true,
                );
                serde_json::json!({"jsonrpc": "2.0", "id": i, "method": "abci_query", "params": req})
            })
            .collect();
        let answers = match self.rpc.batch("abci_query_batch", &calls).await {
            Ok(a) => a,
            Err(BatchError::Unreachable(e)) => return Err(e),
            Err(BatchError::Refused(why)) => {
                tracing::debug!(chain = %self.id, reason = %why, "JSON-RPC batch refused; proving key by key");
                let mut out = Vec::with_capacity(chunk.len());
                for (key, must) in chunk {
                    out.push(self.proof_at(key, at, *must).await?.1);
                }
                return Ok(out);
            }
        };
        chunk
            .iter()
            .zip(answers)
            .map(|((key, must), answer)| {
                if let Some(err) = answer.get("error") {
                    return Err(ChainError::Rpc {
                        chain: self.id.clone(),
                        method: "abci_query",
                        reason: err.to_string(),
                    });
                }
                let res: tendermint_rpc::endpoint::abci_query::Response =
                    serde_json::from_value(answer["result"].clone())
                        .map_err(|e| self.malformed("abci_query", e))?;
                let (value, bytes) = self.proof_answer(key, query_height, res.response)?;
                Ok(self.expect_presence(key, at, *must, value, bytes)?.1)
            })
            .collect()
    }
}

/// Used by the router through [`PacketProofs::prove_many`].
pub(super) async fn prove_many(
    chain: &CosmosChain,
    reqs: &[ProofRequest],
    at: Height,
) -> Result<Vec<Proof>> {
    if reqs.len() <= 1 {
        // One key: the plain call (no batch envelope to build or check).
        let mut out = Vec::new();
        for r in reqs {
            out.push(match r.kind {
                ProofKind::Commitment => {
                    chain
                        .prove_commitment(&r.port, &r.channel, r.seq, at)
                        .await?
                }
                ProofKind::Ack => chain.prove_ack(&r.port, &r.channel, r.seq, at).await?,
                ProofKind::NonReceipt => {
                    chain
                        .prove_non_receipt(&r.port, &r.channel, r.seq, at)
                        .await?
                }
            });
        }
        return Ok(out);
    }
    chain.prove_batched(reqs, at).await
}
