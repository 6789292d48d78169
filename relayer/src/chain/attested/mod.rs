//! A chain whose counterparty follows it through an ibc-go `attestations` client: its headers and
//! packet proofs come from the attestor committee of this chain, in the ibc-go wire format
//! ([`format`]), instead of from the chain itself. Everything else (events, queries, hosting the
//! counterparty's client, submitting) is the chain's own backend, untouched.
//!
//! [`Attested`] wraps a backend for one path direction: it proves to `dest`, whose client
//! `dest_client` checks the committee. Packet proofs of one flush share one attestation (up to
//! `chunk` keys), so a batch pays for one signature round.

pub mod collect;
pub mod create;
pub mod create_evm;
pub mod format;
pub mod path;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ethers::abi::Token;
use prost::Message;
use tokio::sync::watch;

use crate::chain::cosmos::v2::{keys, proto, type_url};
use crate::chain::{
    ChainError, ClientHost, ConsensusAnchor, Headers, Heights, IbcCommittee, Msg, PacketEvents,
    PacketProofs, PacketQueries, PendingTx, Priority, Proof, ProofKind, ProofRequest, RelayChain,
    Result, Submit, TxOutcome,
};
use crate::ibc::{ChainId, ChannelId, ClientId, Height, Packet, PacketEvent, PortId};
use collect::{Ask, Signed};

/// How the destination's client wants attestations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// Ferry's `AttestationsLightClient.sol`: `abi.encode(bytes data, bytes[] signatures)`.
    Evm,
    /// ibc-go's `attestations` client: protobuf `AttestationProof`.
    Cosmos,
}

/// Keys per packet attestation: each proof carries the whole list, so a long one costs every
/// packet of the batch calldata on an EVM destination.
pub const DEFAULT_CHUNK: usize = 8;
/// Packet attestation rounds asked for at once in one flush.
const ROUNDS_IN_FLIGHT: usize = 8;
/// How long a committee read from the destination is reused.
const COMMITTEE_TTL: Duration = Duration::from_secs(30);

/// Where a chain's attestations come from: its committee's endpoints, and the chain's CAIP-2 name
/// as they know it.
#[derive(Clone, Debug)]
pub struct CommitteeSource {
    pub caip2: String,
    pub endpoints: Vec<reqwest::Url>,
    pub timeout: Duration,
}

pub struct Attested {
    pub inner: Arc<dyn RelayChain>,
    /// This chain's CAIP-2 name, as the attestors know it.
    pub caip2: String,
    pub endpoints: Vec<reqwest::Url>,
    pub http: reqwest::Client,
    pub wire: Wire,
    pub dest: Arc<dyn RelayChain>,
    pub dest_client: ClientId,
    pub chunk: usize,
    /// Blocks the attestable height trails the chain's latest: 1 on a Cosmos chain, whose
    /// attestors prove the state after block `H` under the app hash of header `H + 1`.
    pub lag: u64,
    committee: std::sync::Mutex<Option<(IbcCommittee, Instant)>>,
}

impl Attested {
    pub fn new(
        inner: Arc<dyn RelayChain>,
        committee: CommitteeSource,
        wire: Wire,
        dest: Arc<dyn RelayChain>,
        dest_client: ClientId,
        lag: u64,
    ) -> Arc<Attested> {
        Arc::new(Attested {
            inner,
            caip2: committee.caip2,
            endpoints: committee.endpoints,
            http: collect::client(committee.timeout),
            wire,
            dest,
            dest_client,
            chunk: DEFAULT_CHUNK,
            lag,
            committee: Default::default(),
        })
    }

    /// The destination client's attestor set (cached briefly; refreshed on every client update).
    async fn committee(&self) -> Result<IbcCommittee> {
        if let Some((c, at)) = self.committee.lock().expect("not poisoned").clone() {
            if at.elapsed() < COMMITTEE_TTL {
                return Ok(c);
            }
        }
        let h = self.dest.client_latest_height(&self.dest_client).await?;
        let anchor = self.dest.consensus_anchor(&self.dest_client, h).await?;
        self.remember(&anchor)
    }

    fn remember(&self, anchor: &ConsensusAnchor) -> Result<IbcCommittee> {
        let c = anchor
            .ibc_committee
            .clone()
            .ok_or_else(|| ChainError::Config {
                chain: self.dest.id().clone(),
                reason: format!(
                    "client `{}` is not an attestations client",
                    self.dest_client
                ),
            })?;
        *self.committee.lock().expect("not poisoned") = Some((c.clone(), Instant::now()));
        Ok(c)
    }

    async fn attest(&self, committee: &IbcCommittee, ask: &Ask) -> Result<Signed> {
        collect::collect(
            &self.http,
            &self.endpoints,
            &self.caip2,
            self.inner.id().as_str(),
            committee,
            ask,
        )
        .await
        .map_err(|detail| ChainError::AttestationQuorum {
            chain: self.inner.id().clone(),
            height: ask.height(),
            got: 0,
            quorum: committee.quorum,
            detail,
        })
    }

    /// The bytes the destination's client takes as a proof or an update.
    fn encode(&self, s: &Signed) -> Vec<u8> {
        match self.wire {
            Wire::Evm => ethers::abi::encode(&[
                Token::Bytes(s.data.clone()),
                Token::Array(s.signatures.iter().cloned().map(Token::Bytes).collect()),
            ]),
            Wire::Cosmos => proto::AttestationProof {
                attestation_data: s.data.clone(),
                signatures: s.signatures.clone(),
            }
            .encode_to_vec(),
        }
    }
}

/// The raw v2 key a proof request is about (the same bytes on ibc-go and on Ferry's router).
pub fn raw_key(r: &ProofRequest) -> Vec<u8> {
    let kind = match r.kind {
        ProofKind::Commitment => keys::COMMITMENT,
        ProofKind::Ack => keys::ACK,
        ProofKind::NonReceipt => keys::RECEIPT,
    };
    keys::key(r.channel.as_str(), kind, r.seq)
}

#[async_trait]
impl PacketProofs for Attested {
    /// An attestation at `H` vouches for the state after block `H` (an attestor of a Cosmos chain
    /// proves it under header `H + 1`, which `latest` waits for through `lag`).
    fn proof_height_for(&self, event_height: u64) -> u64 {
        event_height
    }
    async fn prove_commitment(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof> {
        let r = ProofRequest::new(ProofKind::Commitment, port, channel, seq);
        Ok(self.prove_many(&[r], at).await?.remove(0))
    }
    async fn prove_ack(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof> {
        let r = ProofRequest::new(ProofKind::Ack, port, channel, seq);
        Ok(self.prove_many(&[r], at).await?.remove(0))
    }
    async fn prove_non_receipt(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof> {
        let r = ProofRequest::new(ProofKind::NonReceipt, port, channel, seq);
        Ok(self.prove_many(&[r], at).await?.remove(0))
    }

    /// One attestation per `chunk` keys; every proof of a chunk is that attestation. A committed
    /// value must be set (membership) and an absent one zero (non-membership), or the batch fails
    /// here instead of on chain.
    async fn prove_many(&self, reqs: &[ProofRequest], at: Height) -> Result<Vec<Proof>> {
        let committee = self.committee().await?;
        // Rounds run side by side (up to ROUNDS_IN_FLIGHT): each attestor proves every key of a
        // round itself, so one round at a time would make a large flush wait for all in turn.
        let chunks: Vec<&[ProofRequest]> = reqs.chunks(self.chunk.max(1)).collect();
        let mut out = Vec::with_capacity(reqs.len());
        for group in chunks.chunks(ROUNDS_IN_FLIGHT) {
            let mut rounds = Vec::with_capacity(group.len());
            for chunk in group {
                rounds.push(self.prove_round(&committee, chunk, at));
            }
            for proofs in futures::future::try_join_all(rounds).await? {
                out.extend(proofs);
            }
        }
        Ok(out)
    }
}

impl Attested {
    /// One packet attestation covering `chunk`; every proof of the chunk is that attestation.
    async fn prove_round(
        &self,
        committee: &IbcCommittee,
        chunk: &[ProofRequest],
        at: Height,
    ) -> Result<Vec<Proof>> {
        let keys: Vec<Vec<u8>> = chunk.iter().map(raw_key).collect();
        let ask = Ask::Packets {
            height: at.revision_height,
            keys,
        };
        let signed = self.attest(committee, &ask).await?;
        let (_, entries) =
            format::decode_packets(&signed.data).ok_or_else(|| ChainError::Malformed {
                chain: self.inner.id().clone(),
                method: "attestation",
                reason: "signed packet data did not decode".into(),
            })?;
        for (r, e) in chunk.iter().zip(&entries) {
            let absent = e.commitment.is_zero();
            if absent != matches!(r.kind, ProofKind::NonReceipt) {
                return Err(ChainError::NotProvable {
                    chain: self.inner.id().clone(),
                    height: at.revision_height,
                    reason: format!(
                        "{} of packet {} is {}",
                        r.kind.label(),
                        r.seq,
                        if absent { "missing" } else { "present" }
                    ),
                });
            }
        }
        let bytes = self.encode(&signed);
        Ok(chunk
            .iter()
            .map(|_| Proof {
                bytes: bytes.clone(),
                height: Height::new(0, at.revision_height),
            })
            .collect())
    }
}

#[async_trait]
impl Headers for Attested {
    /// One state attestation of `target`: the attestations client trusts the committee, not a
    /// header chain, so `trusted` only says where the client is.
    async fn client_headers(
        &self,
        _trusted: Height,
        target: Height,
        anchor: &ConsensusAnchor,
    ) -> Result<Vec<Msg>> {
        let committee = self.remember(anchor)?;
        let signed = self
            .attest(
                &committee,
                &Ask::State {
                    height: target.revision_height,
                },
            )
            .await?;
        let bytes = self.encode(&signed);
        Ok(vec![match self.wire {
            Wire::Evm => Msg {
                type_url: "/ferry.evm.AttestationsUpdate".into(),
                value: bytes,
            },
            Wire::Cosmos => Msg {
                type_url: type_url::ATTESTATION_PROOF.into(),
                value: bytes,
            },
        }])
    }
}

// --- everything else is the backend's own -----------------------------------------------------

#[async_trait]
impl Heights for Attested {
    fn id(&self) -> &ChainId {
        self.inner.id()
    }
    /// The newest attestable height, at revision 0 as attestations clients count (the time is the
    /// chain's latest block time).
    async fn latest(&self) -> Result<(Height, u64)> {
        let (h, t) = self.inner.latest().await?;
        Ok((
            Height::new(0, h.revision_height.saturating_sub(self.lag)),
            t,
        ))
    }
}

#[async_trait]
impl PacketEvents for Attested {
    fn subscribe(
        self: Arc<Self>,
        from_height: u64,
        sink: crate::chain::EventSink,
        shutdown: watch::Receiver<bool>,
    ) {
        self.inner.clone().subscribe(from_height, sink, shutdown)
    }
    async fn sent_packet(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequence: u64,
    ) -> Result<Option<PacketEvent>> {
        self.inner.sent_packet(port, channel, sequence).await
    }
    async fn sent_packets(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequences: &[u64],
    ) -> Result<Vec<PacketEvent>> {
        self.inner.sent_packets(port, channel, sequences).await
    }
    async fn written_acks(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequences: &[u64],
    ) -> Result<Vec<PacketEvent>> {
        self.inner.written_acks(port, channel, sequences).await
    }
    async fn written_ack(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequence: u64,
    ) -> Result<Option<PacketEvent>> {
        self.inner.written_ack(port, channel, sequence).await
    }
}

#[async_trait]
impl PacketQueries for Attested {
    async fn commitments(&self, port: &PortId, channel: &ChannelId) -> Result<Vec<u64>> {
        self.inner.commitments(port, channel).await
    }
    async fn unreceived(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seqs: &[u64],
    ) -> Result<Vec<u64>> {
        self.inner.unreceived(port, channel, seqs).await
    }
    async fn unreceived_acks(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seqs: &[u64],
    ) -> Result<Vec<u64>> {
        self.inner.unreceived_acks(port, channel, seqs).await
    }
}

#[async_trait]
impl ClientHost for Attested {
    async fn client_latest_height(&self, client: &ClientId) -> Result<Height> {
        self.inner.client_latest_height(client).await
    }
    async fn consensus_anchor(&self, client: &ClientId, height: Height) -> Result<ConsensusAnchor> {
        self.inner.consensus_anchor(client, height).await
    }
    fn update_client_msg(&self, client: &ClientId, header: Msg) -> Msg {
        self.inner.update_client_msg(client, header)
    }
    fn recv_msg(&self, packet: &Packet, proof: Proof) -> Msg {
        self.inner.recv_msg(packet, proof)
    }
    fn ack_msg(&self, packet: &Packet, ack: &[u8], proof: Proof) -> Msg {
        self.inner.ack_msg(packet, ack, proof)
    }
    fn timeout_msg(&self, packet: &Packet, proof: Proof) -> Msg {
        self.inner.timeout_msg(packet, proof)
    }
}

#[async_trait]
impl Submit for Attested {
    async fn submit(&self, msgs: Vec<Msg>, packets: usize) -> Result<TxOutcome> {
        self.inner.submit(msgs, packets).await
    }
    async fn broadcast(
        &self,
        msgs: Vec<Msg>,
        packets: usize,
        after: &[Msg],
        priority: Priority,
    ) -> Result<PendingTx> {
        self.inner.broadcast(msgs, packets, after, priority).await
    }
    async fn confirm(&self, pending: PendingTx) -> Result<TxOutcome> {
        self.inner.confirm(pending).await
    }
    fn max_msgs_per_tx(&self) -> usize {
        self.inner.max_msgs_per_tx()
    }
    fn max_tx_bytes(&self) -> usize {
        self.inner.max_tx_bytes()
    }
}
