//! Chain backends behind small capability traits. The router sees only these traits, never a chain
//! family: a new family is a new folder here that implements them.

pub mod attested;
pub mod cosmos;
pub mod evm;
mod feed;
mod priority_lock;

pub use feed::{EventSink, Feed};
pub use priority_lock::{Priority, PriorityLock};

use std::sync::Arc;

use async_trait::async_trait;
use thiserror::Error;
use tokio::sync::watch;

use crate::ibc::{ChainId, ChannelId, ClientId, Height, Packet, PacketEvent, PortId};
use crate::telemetry::TxErrorKind;

/// A message for the destination chain, protobuf `Any`-encoded.
pub type Msg = ibc_proto::google::protobuf::Any;

#[derive(Debug, Error)]
pub enum ChainError {
    #[error("RPC `{method}` to {chain} failed: {reason}")]
    Rpc {
        chain: ChainId,
        method: &'static str,
        reason: String,
    },
    #[error("malformed answer from {chain} to `{method}`: {reason}")]
    Malformed {
        chain: ChainId,
        method: &'static str,
        reason: String,
    },
    #[error("query `{path}` on {chain} failed with code {codespace}/{code}: {log}")]
    Query {
        chain: ChainId,
        path: String,
        codespace: String,
        code: u32,
        log: String,
    },
    #[error("header of {chain} at height {height} failed verification: {source}")]
    Verification {
        chain: ChainId,
        height: u64,
        source: ferry_light_client_tendermint::VerificationError,
    },
    #[error("header of {chain} at height {height} failed verification: {source}")]
    EvmVerification {
        chain: ChainId,
        height: u64,
        source: ferry_light_client_ethereum::Error,
    },
    /// Fewer than `quorum` valid attestor signatures for `height` of `chain` this round.
    #[error("attestation of {chain} at height {height}: {got} of {quorum} signatures ({detail})")]
    AttestationQuorum {
        chain: ChainId,
        height: u64,
        got: usize,
        quorum: usize,
        detail: String,
    },
    #[error("transaction on {chain} failed ({}): code {codespace}/{code}: {log}", kind.label())]
    Tx {
        chain: ChainId,
        kind: TxErrorKind,
        /// The module that refused it (`sdk`, `transfer`, …; `evm` on EVM chains) and its code:
        /// together they say what went wrong.
        codespace: String,
        code: u32,
        log: String,
    },
    /// Simulating a batch failed and nothing was sent. `culprits` are the packet messages at
    /// fault, as (index into the batch's messages, reason); the rest can go without them. Empty
    /// when no packet message is to blame (e.g. the client update itself fails).
    #[error(
        "batch for {chain} fails in simulation: {reason} (packet messages at fault: {:?})",
        .culprits.iter().map(|(i, _)| *i).collect::<Vec<_>>()
    )]
    PacketsRejected {
        chain: ChainId,
        reason: String,
        culprits: Vec<(usize, String)>,
    },
    /// A batch needs more gas than the configured `max_gas`: nothing was sent. `culprits` as in
    /// `PacketsRejected` (those that exceed the cap on their own); empty when only the batch as
    /// a whole is too large.
    #[error(
        "batch for {chain} needs {gas} gas, above max_gas {max_gas}; not sent (packet messages at fault: {:?})",
        .culprits.iter().map(|(i, _)| *i).collect::<Vec<_>>()
    )]
    GasAboveCap {
        chain: ChainId,
        gas: u64,
        max_gas: u64,
        culprits: Vec<(usize, String)>,
    },
    /// A batch was mined and reverted (its fee was paid). `culprits` as in `PacketsRejected`,
    /// found by simulating each message again after the revert.
    #[error(
        "transaction {tx} on {chain} was mined and reverted: {reason} (packet messages at fault: {:?})",
        .culprits.iter().map(|(i, _)| *i).collect::<Vec<_>>()
    )]
    Reverted {
        chain: ChainId,
        tx: String,
        reason: String,
        culprits: Vec<(usize, String)>,
    },
    /// A read-only call (`eth_call`, `eth_estimateGas`) reverted: the contract's answer, the same on
    /// every honest node, so no other endpoint was asked.
    #[error("call `{method}` on {chain} reverted: {reason}")]
    CallReverted {
        chain: ChainId,
        method: &'static str,
        reason: String,
    },
    /// Tx `tx` was accepted but not seen final within the confirmation timeout. It may still land:
    /// look it up again (confirm the same `PendingTx`) before resending anything it carries.
    #[error("transaction {tx} on {chain} not final after {waited_secs}s (it may still land)")]
    Unconfirmed {
        chain: ChainId,
        tx: String,
        waited_secs: u64,
    },
    /// A packet on `chain` that Ferry cannot relay without altering it (which would break its
    /// commitment): it is skipped, never sent.
    #[error("packet {sequence} sent on {chain} cannot be relayed unaltered: {reason}")]
    UnrelayablePacket {
        chain: ChainId,
        sequence: u64,
        reason: String,
    },
    /// The chain knows no transaction with this hash (not in a block, or pruned).
    #[error("{chain} has no transaction {tx}")]
    TxNotFound { chain: ChainId, tx: String },
    /// The transaction exists but sent no IBC packet.
    #[error("transaction {tx} on {chain} sent no packet")]
    NoPacketInTx { chain: ChainId, tx: String },
    /// The configuration, or what it names on chain, cannot be used: an operator must change it.
    #[error("{chain}: {reason}")]
    Config { chain: ChainId, reason: String },
    /// Ferry could not encode, sign or hash something of its own (a value out of range, a bug).
    #[error("{what}: {reason}")]
    Encoding { what: &'static str, reason: String },
    /// A signed tx larger than the chain's `max_tx_bytes`: not sent.
    #[error("tx of {bytes} bytes for {chain} exceeds max_tx_bytes {max}; not sent")]
    TxTooLarge {
        chain: ChainId,
        bytes: usize,
        max: usize,
    },
    /// The state at `height` does not hold what was to be proven (a packet already received, a
    /// commitment gone, a block outside the verified window): the proof cannot be made there.
    #[error("{chain} at height {height}: {reason}")]
    NotProvable {
        chain: ChainId,
        height: u64,
        reason: String,
    },
    /// `chain` did not reach `height` within `waited_secs`.
    #[error("{chain} did not reach height {height} in {waited_secs}s")]
    HeightNotReached {
        chain: ChainId,
        height: u64,
        waited_secs: u64,
    },
    /// An EVM block the endpoint served does not hash to the configured checkpoint: nothing built
    /// on it is trusted.
    #[error("{chain}: block {number} hashes to {got}, not the configured checkpoint {expected}")]
    CheckpointMismatch {
        chain: ChainId,
        number: u64,
        got: String,
        expected: String,
    },
    /// Relaying from `chain` stopped after misbehaviour was seen; it stays stopped until an
    /// operator acts (docs/MISBEHAVIOUR.md).
    #[error("relaying from {chain} is halted: {reason}; see docs/MISBEHAVIOUR.md")]
    Halted { chain: ChainId, reason: String },
    /// The witness disagrees with the primary at `height` but its header is not evidence of
    /// misbehaviour: the witness endpoint is faulty, not the chain.
    #[error("{chain}: witness disagrees at height {height} but is not evidence ({reason}); the witness is faulty")]
    FaultyWitness {
        chain: ChainId,
        height: u64,
        reason: String,
    },
    /// A transaction hash given by the user does not parse.
    #[error("`{given}` is not a tx hash ({expected})")]
    InvalidTxHash {
        given: String,
        expected: &'static str,
    },
}

pub type Result<T> = std::result::Result<T, ChainError>;

/// A proof and the height at which the verifying client must hold the prover's consensus state.
#[derive(Clone, Debug)]
pub struct Proof {
    pub bytes: Vec<u8>,
    pub height: Height,
}

/// A committed transaction.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TxOutcome {
    pub hash: String,
    pub height: u64,
    pub gas_used: u64,
    pub fee: u128,
    /// Events as (type, [(key, value)]), for callers that need ids created by the tx.
    #[serde(skip)]
    pub events: Vec<(String, Vec<(String, String)>)>,
}

impl TxOutcome {
    /// The first value of `key` in an event of type `kind`.
    pub fn attribute(&self, kind: &str, key: &str) -> Option<String> {
        self.events
            .iter()
            .filter(|(k, _)| k == kind)
            .flat_map(|(_, attrs)| attrs.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
}

/// Latest height and block time (ns since the epoch).
#[async_trait]
pub trait Heights: Send + Sync {
    fn id(&self) -> &ChainId;
    async fn latest(&self) -> Result<(Height, u64)>;
}

/// Wait until `chain` is at `height` or above, reading its height every 200 ms for at most
/// `within`; the height reached.
pub async fn wait_for_height<C: Heights + ?Sized>(
    chain: &C,
    height: u64,
    within: std::time::Duration,
) -> Result<Height> {
    let started = std::time::Instant::now();
    loop {
        let (h, _) = chain.latest().await?;
        if h.revision_height >= height {
            return Ok(h);
        }
        if started.elapsed() >= within {
            return Err(ChainError::HeightNotReached {
                chain: chain.id().clone(),
                height,
                waited_secs: within.as_secs(),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Packet events: pushed by a subscription, pulled by height range, looked up by sequence.
#[async_trait]
pub trait PacketEvents: Send + Sync {
    /// Stream events from `from_height` on into `sink` until `shutdown` turns true, with a
    /// [`Feed::Scanned`] mark after the events of each block range.
    fn subscribe(
        self: Arc<Self>,
        from_height: u64,
        sink: EventSink,
        shutdown: watch::Receiver<bool>,
    );
    /// The send_packet event of a packet sent from (port, channel).
    async fn sent_packet(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequence: u64,
    ) -> Result<Option<PacketEvent>>;
    /// The write_acknowledgement event for a packet received on (port, channel).
    async fn written_ack(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequence: u64,
    ) -> Result<Option<PacketEvent>>;
    /// The send_packet events of `sequences` sent from (port, channel), for clearing; those not
    /// found are left out. By default one [`sent_packet`](Self::sent_packet) each.
    async fn sent_packets(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequences: &[u64],
    ) -> Result<Vec<PacketEvent>> {
        Ok(one_by_one(sequences, |s| self.sent_packet(port, channel, s)).await)
    }
    /// The write_acknowledgement events of `sequences` received on (port, channel), for clearing;
    /// those not found are left out. By default one [`written_ack`](Self::written_ack) each.
    async fn written_acks(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequences: &[u64],
    ) -> Result<Vec<PacketEvent>> {
        Ok(one_by_one(sequences, |s| self.written_ack(port, channel, s)).await)
    }
}

/// Lookups one by one, [`LOOKUP_CONCURRENCY`] at a time: what was found (a lookup that failed
/// finds nothing; clearing asks again next round).
pub async fn one_by_one<'a, F, Fut>(sequences: &[u64], lookup: F) -> Vec<PacketEvent>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<Option<PacketEvent>>> + Send + 'a,
{
    use futures::stream::{self, StreamExt};
    stream::iter(sequences.iter().copied().map(lookup))
        .buffer_unordered(LOOKUP_CONCURRENCY)
        .filter_map(|r| async move { r.ok().flatten() })
        .collect()
        .await
}

/// Lookups of packet events by sequence in flight at once.
pub const LOOKUP_CONCURRENCY: usize = 8;

/// Packet state queries.
#[async_trait]
pub trait PacketQueries: Send + Sync {
    /// Sequences with a packet commitment (sent, not yet acknowledged or timed out).
    async fn commitments(&self, port: &PortId, channel: &ChannelId) -> Result<Vec<u64>>;
    /// Of `seqs` sent to (port, channel) here, those not received yet.
    async fn unreceived(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seqs: &[u64],
    ) -> Result<Vec<u64>>;
    /// Of `seqs` sent from (port, channel) here, those whose ack was not processed yet.
    async fn unreceived_acks(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seqs: &[u64],
    ) -> Result<Vec<u64>>;
}

/// Membership and non-membership proofs, verified by the counterparty's client at `at` (a Cosmos
/// chain proves from the block before `at`, whose app hash `at` commits to; an EVM chain from `at`).
#[async_trait]
pub trait PacketProofs: Send + Sync {
    /// The lowest proof height whose proven state includes what block `event_height` wrote: by
    /// default the next one (Tendermint: header `H + 1` commits to the app hash after block `H`);
    /// a chain whose proofs at `H` show the state after block `H` (EVM state roots, attestations)
    /// answers `H`, a block sooner.
    fn proof_height_for(&self, event_height: u64) -> u64 {
        event_height + 1
    }
    async fn prove_commitment(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof>;
    async fn prove_ack(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof>;
    async fn prove_non_receipt(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof>;
    /// The proofs of a whole batch at `at`, in order. By default one by one, `PROOF_CONCURRENCY`
    /// at a time; a backend that can prove many keys at once (an attestation) overrides it.
    async fn prove_many(&self, reqs: &[ProofRequest], at: Height) -> Result<Vec<Proof>> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        stream::iter(reqs.iter().cloned().map(|r| async move {
            match r.kind {
                ProofKind::Commitment => {
                    self.prove_commitment(&r.port, &r.channel, r.seq, at).await
                }
                ProofKind::Ack => self.prove_ack(&r.port, &r.channel, r.seq, at).await,
                ProofKind::NonReceipt => {
                    self.prove_non_receipt(&r.port, &r.channel, r.seq, at).await
                }
            }
        }))
        .buffered(PROOF_CONCURRENCY)
        .try_collect()
        .await
    }
}

/// Proofs fetched at once by the default `prove_many`.
pub const PROOF_CONCURRENCY: usize = 16;

/// What a proof is about: a packet commitment (for a receive), an acknowledgement, or the absence
/// of a receipt (for a timeout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofKind {
    Commitment,
    Ack,
    NonReceipt,
}

impl ProofKind {
    pub fn label(self) -> &'static str {
        match self {
            ProofKind::Commitment => "commitment",
            ProofKind::Ack => "acknowledgement",
            ProofKind::NonReceipt => "receipt",
        }
    }
}

/// One proof of a batch: `channel` is the packet's source channel for a commitment and its
/// destination channel for an ack or a receipt (a client id on IBC v2).
#[derive(Clone, Debug)]
pub struct ProofRequest {
    pub kind: ProofKind,
    pub port: PortId,
    pub channel: ChannelId,
    pub seq: u64,
}

impl ProofRequest {
    pub fn new(kind: ProofKind, port: &PortId, channel: &ChannelId, seq: u64) -> ProofRequest {
        ProofRequest {
            kind,
            port: port.clone(),
            channel: channel.clone(),
            seq,
        }
    }
}

/// Verified headers of this chain for a counterparty's client of it.
#[async_trait]
pub trait Headers: Send + Sync {
    /// Client messages taking a client from `trusted` to `target`, each checked by Ferry's light
    /// client first. `anchor` is the client's consensus state at `trusted` as stored on the host.
    async fn client_headers(
        &self,
        trusted: Height,
        target: Height,
        anchor: &ConsensusAnchor,
    ) -> Result<Vec<Msg>>;
}

/// What a host chain's client stored for a height: the trust root for verifying the next header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusAnchor {
    pub timestamp_ns: u64,
    pub next_validators_hash: Vec<u8>,
    /// For an attested light client: the committee it trusts now and where it checks signatures.
    pub committee: Option<Committee>,
    /// For an ibc-go `attestations` client (either host): the attestor set it checks.
    pub ibc_committee: Option<IbcCommittee>,
}

/// An ibc-go `attestations` light client's trusted set: a proof needs `quorum` signatures of
/// distinct `members` in the ibc-go format (`chain::attested::format`), which names no chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IbcCommittee {
    pub members: Vec<ethers::types::Address>,
    pub quorum: usize,
}

/// An attested light client's committee as the host stores it: an update needs `quorum`
/// signatures of distinct `members` over the EIP-712 digest of `domain`
/// (`chain::evm::attestation`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committee {
    pub domain: evm::attestation::Domain,
    /// The chain the client follows, as the client names it (CAIP-2, e.g. `eip155:33333`).
    pub attested_chain: String,
    pub members: Vec<ethers::types::Address>,
    pub quorum: u8,
}

/// This chain as the host of a client of a counterparty, and the packet messages it accepts.
#[async_trait]
pub trait ClientHost: Send + Sync {
    async fn client_latest_height(&self, client: &ClientId) -> Result<Height>;
    async fn consensus_anchor(&self, client: &ClientId, height: Height) -> Result<ConsensusAnchor>;
    fn update_client_msg(&self, client: &ClientId, header: Msg) -> Msg;
    fn recv_msg(&self, packet: &Packet, proof: Proof) -> Msg;
    fn ack_msg(&self, packet: &Packet, ack: &[u8], proof: Proof) -> Msg;
    fn timeout_msg(&self, packet: &Packet, proof: Proof) -> Msg;
}

/// Transaction submission, serial per signer inside.
#[async_trait]
pub trait Submit: Send + Sync {
    /// Broadcast `msgs` in one tx and wait for it to commit. `packets` counts the packet messages in it
    /// (for fee-per-packet metrics).
    async fn submit(&self, msgs: Vec<Msg>, packets: usize) -> Result<TxOutcome>;
    /// Sign and broadcast without waiting; returns a handle to confirm later. Lets the router keep
    /// several txs in the mempool while the signer's sequence advances locally.
    /// `after`: messages of an earlier tx of this signer, not yet committed, that `msgs` depend on
    /// (a client update); used only to simulate gas, so `msgs` can join the mempool right behind it.
    /// `priority`: a live tx waits for the signer ahead of backlog ones.
    async fn broadcast(
        &self,
        msgs: Vec<Msg>,
        packets: usize,
        after: &[Msg],
        priority: Priority,
    ) -> Result<PendingTx>;
    /// Wait for a broadcast tx to commit. The outcome's `events` may be left empty: only
    /// [`submit`](Self::submit) promises them.
    async fn confirm(&self, pending: PendingTx) -> Result<TxOutcome>;
    fn max_msgs_per_tx(&self) -> usize;
    fn max_tx_bytes(&self) -> usize;
}

#[derive(Clone, Debug)]
pub struct PendingTx {
    pub hash: String,
    pub packets: usize,
    pub fee: u128,
    /// Which of the chain's signers sent it (0: the primary, or unknown after a restart).
    pub signer: usize,
}

/// Everything the router needs from a chain.
pub trait RelayChain:
    Heights + PacketEvents + PacketQueries + PacketProofs + Headers + ClientHost + Submit
{
}
impl<T: Heights + PacketEvents + PacketQueries + PacketProofs + Headers + ClientHost + Submit>
    RelayChain for T
{
}
