//! What this chain's headers and state say, checked by Ferry's Ethereum light client before anyone
//! else sees it: the header chain is verified link by link from a trusted checkpoint, only final
//! blocks are attested, and every storage proof is verified against the verified state root before
//! it is handed to the router.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ethers::abi::{encode, Token};
use ethers::providers::Middleware;
use ethers::types::{BlockId, BlockNumber, H256, U64};
use ferry_light_client_ethereum as lc;
use serde_json::Value;

use super::call_error::CallError;
use super::packets::{self, path_key, storage_slot, KIND_ACK, KIND_COMMITMENT, KIND_RECEIPT};
use super::{attestation, collect, EvmChain};
use crate::chain::{
    ChainError, Committee, ConsensusAnchor, Headers, Msg, PacketProofs, Proof, Result,
};
use crate::ibc::{ChannelId, Height, PortId};
use crate::telemetry::metrics;

/// Verified blocks kept for proofs: (state root, timestamp) by number.
const KEEP: usize = 20_000;
/// Headers fetched at once while extending the verified chain.
const FETCH_CONCURRENCY: usize = 16;

#[derive(Default)]
pub struct Verified {
    tip: Option<lc::Checkpoint>,
    roots: BTreeMap<u64, (H256, u64)>,
}

/// A header from an `eth_getBlockByNumber` answer; strict, so a missing field is an error.
pub fn header_from_json(b: &Value) -> std::result::Result<lc::Header, String> {
    fn hex(b: &Value, f: &str) -> std::result::Result<Vec<u8>, String> {
        let s = b[f]
            .as_str()
            .ok_or_else(|| format!("block without `{f}`"))?;
        hex::decode(s.trim_start_matches("0x")).map_err(|e| format!("`{f}`: {e}"))
    }
    fn h256(b: &Value, f: &str) -> std::result::Result<H256, String> {
        let v = hex(b, f)?;
        (v.len() == 32)
            .then(|| H256::from_slice(&v))
            .ok_or_else(|| format!("`{f}` is not 32 bytes"))
    }
    fn qty(b: &Value, f: &str) -> std::result::Result<u64, String> {
        let s = b[f]
            .as_str()
            .ok_or_else(|| format!("block without `{f}`"))?;
        u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("`{f}`: {e}"))
    }
    fn fixed<const N: usize>(b: &Value, f: &str) -> std::result::Result<[u8; N], String> {
        hex(b, f)?
            .try_into()
            .map_err(|_| format!("`{f}` is not {N} bytes"))
    }
    let present = |f: &str| b.get(f).is_some_and(|v| !v.is_null());
    let u256 = |f: &str| -> std::result::Result<lc::U256, String> {
        let s = b[f]
            .as_str()
            .ok_or_else(|| format!("block without `{f}`"))?;
        lc::U256::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("`{f}`: {e}"))
    };
    let miner = hex(b, "miner")?;
    if miner.len() != 20 {
        return Err("`miner` is not 20 bytes".into());
    }
    Ok(lc::Header {
        parent_hash: h256(b, "parentHash")?,
        ommers_hash: h256(b, "sha3Uncles")?,
        beneficiary: lc::Address::from_slice(&miner),
        state_root: h256(b, "stateRoot")?,
        transactions_root: h256(b, "transactionsRoot")?,
        receipts_root: h256(b, "receiptsRoot")?,
        logs_bloom: fixed::<256>(b, "logsBloom")?,
        difficulty: u256("difficulty")?,
        number: qty(b, "number")?,
        gas_limit: qty(b, "gasLimit")?,
        gas_used: qty(b, "gasUsed")?,
        timestamp: qty(b, "timestamp")?,
        extra_data: hex(b, "extraData")?,
        mix_hash: h256(b, "mixHash")?,
        nonce: fixed::<8>(b, "nonce")?,
        base_fee_per_gas: present("baseFeePerGas")
            .then(|| u256("baseFeePerGas"))
            .transpose()?,
        withdrawals_root: present("withdrawalsRoot")
            .then(|| h256(b, "withdrawalsRoot"))
            .transpose()?,
        blob_gas_used: present("blobGasUsed")
            .then(|| qty(b, "blobGasUsed"))
            .transpose()?,
        excess_blob_gas: present("excessBlobGas")
            .then(|| qty(b, "excessBlobGas"))
            .transpose()?,
        parent_beacon_block_root: present("parentBeaconBlockRoot")
            .then(|| h256(b, "parentBeaconBlockRoot"))
            .transpose()?,
        requests_hash: present("requestsHash")
            .then(|| h256(b, "requestsHash"))
            .transpose()?,
    })
}

impl EvmChain {
    fn malformed(&self, method: &'static str, reason: String) -> ChainError {
        metrics().verification_failure(self.id.as_str(), "malformed_response");
        ChainError::Malformed {
            chain: self.id.clone(),
            method,
            reason,
        }
    }

    fn rejected(&self, height: u64, source: lc::Error) -> ChainError {
        metrics().verification_failure(self.id.as_str(), source.reason());
        ChainError::EvmVerification {
            chain: self.id.clone(),
            height,
            source,
        }
    }

    /// The header of block `n`, decoded and checked to hash to the hash the node gave for it.
    pub async fn header(&self, n: u64) -> Result<lc::Header> {
        let raw: Value = self
            .rpc("eth_getBlockByNumber", |p| async move {
                p.request("eth_getBlockByNumber", (U64::from(n), false))
                    .await
                    .map_err(CallError::from)
            })
            .await?;
        if raw.is_null() {
            return Err(self.malformed("eth_getBlockByNumber", format!("block {n} not found")));
        }
        let header =
            header_from_json(&raw).map_err(|e| self.malformed("eth_getBlockByNumber", e))?;
        if header.number != n {
            return Err(self.malformed(
                "eth_getBlockByNumber",
                format!("asked for block {n}, got {}", header.number),
            ));
        }
        Ok(header)
    }

    /// Keep the verified anchor in `store`, and go on from the one stored there.
    pub fn set_store(&self, store: std::sync::Arc<dyn crate::store::Store>) {
        let _ = self.store.set(store);
    }

    /// The anchor stored by an earlier run, if it is at or past the checkpoint and the node's
    /// header at that number still hashes to it.
    async fn stored_anchor(&self) -> Option<(lc::Checkpoint, lc::Header)> {
        let store = self.store.get()?;
        let a = match store.anchor(self.id.as_str()) {
            Ok(a) => a?,
            Err(e) => {
                tracing::warn!(chain = %self.id, error = %e, "cannot read the stored anchor; verifying from the checkpoint");
                return None;
            }
        };
        let from = self.evm.checkpoint.map_or(0, |(n, _)| n);
        if a.number < from {
            return None;
        }
        let h = self.header(a.number).await.ok()?;
        let cp = lc::Checkpoint::of(&h);
        if cp.hash != H256::from(a.hash) {
            tracing::warn!(chain = %self.id, number = a.number, "the node's block differs from the stored anchor (a reorg, or another chain); verifying from the checkpoint");
            return None;
        }
        tracing::info!(chain = %self.id, number = a.number, "resuming the verified header chain from the stored anchor");
        Some((cp, h))
    }

    fn save_anchor(&self, tip: &lc::Checkpoint) {
        let Some(store) = self.store.get() else {
            return;
        };
        let a = crate::store::Anchor {
            number: tip.number,
            hash: tip.hash.0,
            timestamp: tip.timestamp,
        };
        if let Err(e) = store.put_anchor(self.id.as_str(), &a) {
            tracing::warn!(chain = %self.id, error = %e, "cannot store the verified anchor");
        }
    }

    /// Verify the header chain up to block `n` (which must be final) and return its state root and
    /// timestamp.
    pub async fn verify_to(&self, n: u64) -> Result<(H256, u64)> {
        let mut v = self.verified.lock().await;
        if v.tip.is_none() {
            if let Some((cp, h)) = self.stored_anchor().await {
                v.roots.insert(cp.number, (h.state_root, h.timestamp));
                v.tip = Some(cp);
            }
        }
        if v.tip.is_none() {
            let (number, expect) = match self.evm.checkpoint {
                Some(c) => c,
                None => {
                    tracing::warn!(chain = %self.id, "no evm.checkpoint configured; trusting the node's genesis block");
                    (0, H256::zero())
                }
            };
            let h = self.header(number).await?;
            let cp = lc::Checkpoint::of(&h);
            if !expect.is_zero() && cp.hash != expect {
                metrics().verification_failure(self.id.as_str(), "checkpoint_mismatch");
                return Err(ChainError::CheckpointMismatch {
                    chain: self.id.clone(),
                    number,
                    got: format!("{:?}", cp.hash),
                    expected: format!("{expect:?}"),
                });
            }
            v.roots.insert(number, (h.state_root, h.timestamp));
            v.tip = Some(cp);
        }
        if let Some(got) = v.roots.get(&n) {
            return Ok(*got);
        }
        let tip = v.tip.expect("set above");
        if n < tip.number {
            return Err(ChainError::NotProvable {
                chain: self.id.clone(),
                height: n,
                reason: format!(
                    "older than the verified window (from block {})",
                    v.roots.keys().next().copied().unwrap_or(tip.number)
                ),
            });
        }
        let (head, _) = self.heads().await?;
        lc::verify_finality(n, head, self.evm.confirmations).map_err(|e| self.rejected(n, e))?;
        // Up to `confirmations` blocks past `n`: their parent links commit to `n`'s hash, so a
        // node cannot hand over a made-up header for `n` itself.
        let last = n + self.evm.confirmations;
        use futures::StreamExt;
        let fetched: Vec<Result<lc::Header>> = futures::stream::iter(tip.number + 1..=last)
            .map(|k| self.header(k))
            .buffered(FETCH_CONCURRENCY)
            .collect()
            .await;
        let headers = fetched.into_iter().collect::<Result<Vec<_>>>()?;
        let new_tip = lc::verify_chain(&tip, &headers).map_err(|e| self.rejected(n, e))?;
        for h in &headers {
            v.roots.insert(h.number, (h.state_root, h.timestamp));
        }
        while v.roots.len() > KEEP {
            v.roots.pop_first();
        }
        v.tip = Some(new_tip);
        self.save_anchor(&new_tip);
        Ok(v.roots[&n])
    }

    /// `eth_getProof` for one router slot at block `at`, verified against the verified state root.
    /// Returns the slot's value and the proof as the light-client contract takes it.
    async fn prove_slot(&self, key: H256, at: u64) -> Result<(Option<lc::U256>, Vec<u8>)> {
        let (root, _) = self.verify_to(at).await?;
        let slot = storage_slot(key);
        let router = self.evm.router;
        let proof = self
            .rpc("eth_getProof", |p| async move {
                p.get_proof(
                    router,
                    vec![slot],
                    Some(BlockId::Number(BlockNumber::Number(at.into()))),
                )
                .await
                .map_err(CallError::from)
            })
            .await?;
        let [sp] = proof.storage_proof.as_slice() else {
            return Err(self.malformed("eth_getProof", "expected one storage proof".into()));
        };
        let account: Vec<Vec<u8>> = proof.account_proof.iter().map(|b| b.to_vec()).collect();
        let storage: Vec<Vec<u8>> = sp.proof.iter().map(|b| b.to_vec()).collect();
        let value = lc::verify_storage_under_state_root(&root, &router, &account, &slot, &storage)
            .map_err(|e| self.rejected(at, e))?;
        let to_tokens =
            |v: &[Vec<u8>]| Token::Array(v.iter().map(|n| Token::Bytes(n.clone())).collect());
        Ok((value, encode(&[to_tokens(&account), to_tokens(&storage)])))
    }

    async fn membership(&self, key: H256, at: Height, what: &str) -> Result<Proof> {
        let (value, bytes) = self.prove_slot(key, at.revision_height).await?;
        if value.is_none() {
            return Err(ChainError::NotProvable {
                chain: self.id.clone(),
                height: at.revision_height,
                reason: format!("no {what} there"),
            });
        }
        Ok(Proof { bytes, height: at })
    }

    /// An `updateMsg` for the client described by `committee`: block `n` verified by Ferry's own
    /// light client, then signed by a quorum of the committee's attestors (each of which verified
    /// it on its own). Every signature is checked here before it is used.
    pub async fn attestation(&self, n: u64, committee: &Committee) -> Result<Vec<u8>> {
        let me = attestation::caip2_eip155(self.evm.chain_id);
        if committee.attested_chain != me {
            return Err(ChainError::Config {
                chain: self.id.clone(),
                reason: format!(
                    "the light client {:?} on chain {} follows `{}`, not this chain ({me})",
                    committee.domain.light_client,
                    committee.domain.host_chain_id,
                    committee.attested_chain,
                ),
            });
        }
        let (root, ts) = self.verify_to(n).await?;
        let att = attestation::StateAttestation {
            attested_chain: me,
            height: n,
            timestamp: ts,
            state_root: root,
        };
        let sigs = collect::collect(
            &self.http,
            &self.evm.attestor_endpoints,
            committee,
            &att,
            self.evm.attestation_timeout,
            |outcome| metrics().attestation_signature(self.id.as_str(), outcome.label()),
        )
        .await
        .map_err(|(got, detail)| ChainError::AttestationQuorum {
            chain: self.id.clone(),
            height: n,
            got,
            quorum: committee.quorum as usize,
            detail,
        })?;
        Ok(attestation::encode_update(&att, &sigs))
    }
}

#[async_trait]
impl Headers for EvmChain {
    /// One attestation of `target`: attested light clients need no intermediate headers.
    async fn client_headers(
        &self,
        _trusted: Height,
        target: Height,
        anchor: &ConsensusAnchor,
    ) -> Result<Vec<Msg>> {
        let committee = anchor
            .committee
            .as_ref()
            .ok_or_else(|| ChainError::Config {
                chain: self.id.clone(),
                reason: "the counterparty's client of this chain is not an attested light client"
                    .into(),
            })?;
        let value = self.attestation(target.revision_height, committee).await?;
        Ok(vec![Msg {
            type_url: packets::ATTESTATION.into(),
            value,
        }])
    }
}

#[async_trait]
impl PacketProofs for EvmChain {
    /// `eth_getProof` at block `H` and the attested state root of `H` are the state after `H`.
    fn proof_height_for(&self, event_height: u64) -> u64 {
        event_height
    }
    async fn prove_commitment(
        &self,
        _port: &PortId,
        client: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof> {
        self.membership(
            path_key(client.as_str(), KIND_COMMITMENT, seq),
            at,
            "packet commitment",
        )
        .await
    }

    async fn prove_ack(
        &self,
        _port: &PortId,
        client: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof> {
        self.membership(
            path_key(client.as_str(), KIND_ACK, seq),
            at,
            "acknowledgement",
        )
        .await
    }

    async fn prove_non_receipt(
        &self,
        _port: &PortId,
        client: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof> {
        let key = path_key(client.as_str(), KIND_RECEIPT, seq);
        let (value, bytes) = self.prove_slot(key, at.revision_height).await?;
        if value.is_some() {
            return Err(ChainError::NotProvable {
                chain: self.id.clone(),
                height: at.revision_height,
                reason: format!("packet {seq} was received; it cannot time out"),
            });
        }
        Ok(Proof { bytes, height: at })
    }
}
