//! Cosmos SDK / CometBFT backend: tendermint-rpc for queries and broadcast, ibc-proto messages,
//! cosmrs for SIGN_MODE_DIRECT signing.

mod batch_proofs;
mod block_results;
mod events;
mod gaps;
mod lookup;
pub use events::{flatten as flatten_events, parse_packet_event};
pub mod handshake;
mod headers;
pub mod misbehaviour;
mod prelude;
pub mod query;
pub(crate) mod rpc;
pub mod sdk_errors;
mod signers;
mod subscription;
mod tx;
pub mod v2;
mod v2_host;

use std::sync::Arc;

use async_trait::async_trait;
use ibc_proto::ibc::core::channel::v1 as chan;
use ibc_proto::ibc::core::client::v1::Height as RawHeight;
use prost::Message;

pub use headers::LightBlockCache;
use query::keys;
pub use rpc::Rpc;

use super::{
    ChainError, ClientHost, ConsensusAnchor, Heights, Msg, PacketProofs, PacketQueries, Proof,
    ProofRequest, Result,
};
use crate::config::ChainConfig;
use crate::ibc::{ChainId, ChannelId, ClientId, Height, Packet, PortId};
use crate::keys::Key;

/// Commitments read per gRPC page.
const COMMITMENTS_PAGE: u64 = 5_000;

pub struct CosmosChain {
    pub id: ChainId,
    pub config: ChainConfig,
    pub rpc: Rpc,
    /// The primary signer's address (handshakes, client creation, the wallet shown first).
    pub address: String,
    signers: signers::Signers,
    light: LightBlockCache,
    pub witness: misbehaviour::Witness,
}

/// A height as tendermint-rs types it (at most `i64::MAX`).
pub(crate) fn tm_height(h: u64) -> Result<tendermint::block::Height> {
    tendermint::block::Height::try_from(h).map_err(|e| ChainError::Encoding {
        what: "height",
        reason: format!("{h}: {e}"),
    })
}

impl CosmosChain {
    pub fn new(config: ChainConfig, key: Key) -> Result<Arc<CosmosChain>> {
        let name = config.key.clone();
        Self::with_signers(config, vec![(name, key)])
    }

    /// A chain whose relayer txs are spread across `keys` (name, key), the primary first.
    pub fn with_signers(config: ChainConfig, keys: Vec<(String, Key)>) -> Result<Arc<CosmosChain>> {
        if keys.is_empty() {
            return Err(ChainError::Config {
                chain: config.id.clone(),
                reason: "no signing key".into(),
            });
        }
        let list = keys
            .into_iter()
            .map(|(name, key)| {
                let address =
                    key.address(&config.account_prefix)
                        .map_err(|e| ChainError::Config {
                            chain: config.id.clone(),
                            reason: format!("key `{name}`: {e}"),
                        })?;
                Ok(signers::Signer {
                    name,
                    key,
                    address,
                    state: Default::default(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let signers = signers::Signers::new(list);
        let rpc = Rpc::new(config.id.clone(), &config.rpc)?;
        Ok(Arc::new(CosmosChain {
            id: config.id.clone(),
            rpc,
            address: signers.primary().address.clone(),
            signers,
            light: LightBlockCache::default(),
            witness: misbehaviour::Witness::new(&config.id, config.witness_rpc.as_deref()),
            config,
        }))
    }

    /// (key name, address) of every signer, the primary first.
    pub fn signer_addresses(&self) -> Vec<(String, String)> {
        self.signers
            .list
            .iter()
            .map(|s| (s.name.clone(), s.address.clone()))
            .collect()
    }

    pub fn revision(&self) -> u64 {
        self.id.revision_number()
    }

    pub fn height(&self, h: u64) -> Height {
        Height::new(self.revision(), h)
    }

    /// Balance of `address` in `denom`, base units.
    pub async fn balance(&self, address: &str, denom: &str) -> Result<u128> {
        use cosmrs::proto::cosmos::bank::v1beta1::{QueryBalanceRequest, QueryBalanceResponse};
        let req = QueryBalanceRequest {
            address: address.into(),
            denom: denom.into(),
        };
        let res: QueryBalanceResponse = self
            .grpc_query("/cosmos.bank.v1beta1.Query/Balance", &req, None)
            .await?;
        let amount = res.balance.map(|c| c.amount).unwrap_or_default();
        amount
            .parse()
            .map_err(|e| self.malformed("abci_query", format!("balance `{amount}`: {e}")))
    }

    /// Block time of `height` in ns since the epoch.
    pub async fn block_time(&self, height: u64) -> Result<u64> {
        let h = tm_height(height)?;
        let res = self
            .rpc
            .call("commit", |c| tendermint_rpc::Client::commit(c, h))
            .await?;
        Ok(time_ns(res.signed_header.header.time))
    }
}

pub fn time_ns(t: tendermint::Time) -> u64 {
    t.unix_timestamp_nanos().max(0) as u64
}

pub fn raw_height(h: Height) -> RawHeight {
    RawHeight {
        revision_number: h.revision_number,
        revision_height: h.revision_height,
    }
}

fn any<M: Message>(type_url: &str, msg: &M) -> Msg {
    Msg {
        type_url: type_url.into(),
        value: msg.encode_to_vec(),
    }
}

pub fn raw_packet(p: &Packet) -> chan::Packet {
    chan::Packet {
        sequence: p.sequence,
        source_port: p.source_port.to_string(),
        source_channel: p.source_channel.to_string(),
        destination_port: p.destination_port.to_string(),
        destination_channel: p.destination_channel.to_string(),
        data: p.data.clone(),
        timeout_height: Some(raw_height(p.timeout_height)),
        timeout_timestamp: p.timeout_timestamp,
    }
}

#[async_trait]
impl Heights for CosmosChain {
    fn id(&self) -> &ChainId {
        &self.id
    }
    async fn latest(&self) -> Result<(Height, u64)> {
        let s = self
            .rpc
            .call("status", tendermint_rpc::Client::status)
            .await?;
        let h = s.sync_info.latest_block_height.value();
        crate::telemetry::metrics().latest_height(self.id.as_str(), h);
        Ok((self.height(h), time_ns(s.sync_info.latest_block_time)))
    }
}

#[async_trait]
impl PacketQueries for CosmosChain {
    async fn commitments(&self, port: &PortId, channel: &ChannelId) -> Result<Vec<u64>> {
        use ibc_proto::cosmos::base::query::v1beta1::PageRequest;
        if v2::is_v2(channel.as_str()) {
            return self.v2_commitments(channel).await;
        }
        // Every page: clearing must see every commitment, however many.
        let mut seqs = Vec::new();
        let mut key = Vec::new();
        loop {
            let req = chan::QueryPacketCommitmentsRequest {
                port_id: port.to_string(),
                channel_id: channel.to_string(),
                pagination: Some(PageRequest {
                    key: key.clone(),
                    limit: COMMITMENTS_PAGE,
                    ..Default::default()
                }),
            };
            let res: chan::QueryPacketCommitmentsResponse = self
                .grpc_query("/ibc.core.channel.v1.Query/PacketCommitments", &req, None)
                .await?;
            seqs.extend(res.commitments.iter().map(|c| c.sequence));
            match res.pagination {
                Some(p) if !p.next_key.is_empty() => key = p.next_key,
                _ => break,
            }
        }
        seqs.sort_unstable();
        seqs.dedup();
        Ok(seqs)
    }
    async fn unreceived(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seqs: &[u64],
    ) -> Result<Vec<u64>> {
        if seqs.is_empty() {
            return Ok(vec![]);
        }
        if v2::is_v2(channel.as_str()) {
            return self.v2_unreceived(channel, seqs, false).await;
        }
        let req = chan::QueryUnreceivedPacketsRequest {
            port_id: port.to_string(),
            channel_id: channel.to_string(),
            packet_commitment_sequences: seqs.to_vec(),
        };
        let res: chan::QueryUnreceivedPacketsResponse = self
            .grpc_query("/ibc.core.channel.v1.Query/UnreceivedPackets", &req, None)
            .await?;
        Ok(res.sequences)
    }
    async fn unreceived_acks(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seqs: &[u64],
    ) -> Result<Vec<u64>> {
        if seqs.is_empty() {
            return Ok(vec![]);
        }
        if v2::is_v2(channel.as_str()) {
            return self.v2_unreceived(channel, seqs, true).await;
        }
        let req = chan::QueryUnreceivedAcksRequest {
            port_id: port.to_string(),
            channel_id: channel.to_string(),
            packet_ack_sequences: seqs.to_vec(),
        };
        let res: chan::QueryUnreceivedAcksResponse = self
            .grpc_query("/ibc.core.channel.v1.Query/UnreceivedAcks", &req, None)
            .await?;
        Ok(res.sequences)
    }
}

#[async_trait]
impl PacketProofs for CosmosChain {
    async fn prove_commitment(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof> {
        Ok(self
            .proof_at(&keys::commitment(port, channel, seq), at, true)
            .await?
            .1)
    }
    async fn prove_ack(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof> {
        Ok(self
            .proof_at(&keys::ack(port, channel, seq), at, true)
            .await?
            .1)
    }
    async fn prove_non_receipt(
        &self,
        port: &PortId,
        channel: &ChannelId,
        seq: u64,
        at: Height,
    ) -> Result<Proof> {
        Ok(self
            .proof_at(&keys::receipt(port, channel, seq), at, false)
            .await?
            .1)
    }
    async fn prove_many(&self, reqs: &[ProofRequest], at: Height) -> Result<Vec<Proof>> {
        batch_proofs::prove_many(self, reqs, at).await
    }
}

#[async_trait]
impl ClientHost for CosmosChain {
    async fn client_latest_height(&self, client: &ClientId) -> Result<Height> {
        if let Some(cs) = self.attestations_client_state(client).await? {
            return Ok(Height::new(0, cs.latest_height));
        }
        Ok(self
            .client_state(client)
            .await?
            .latest_height
            .map(|h| Height::new(h.revision_number, h.revision_height))
            .unwrap_or_default())
    }
    async fn consensus_anchor(&self, client: &ClientId, height: Height) -> Result<ConsensusAnchor> {
        if let Some(anchor) = self.attestations_anchor(client, height).await? {
            return Ok(anchor);
        }
        let cs = self.consensus_state(client, height).await?;
        let ts = cs
            .timestamp
            .ok_or_else(|| self.malformed("abci_query", "consensus state without timestamp"))?;
        Ok(ConsensusAnchor {
            timestamp_ns: (ts.seconds.max(0) as u64) * 1_000_000_000 + ts.nanos.max(0) as u64,
            next_validators_hash: cs.next_validators_hash,
            committee: None,
            ibc_committee: None,
        })
    }
    fn update_client_msg(&self, client: &ClientId, header: Msg) -> Msg {
        use ibc_proto::ibc::core::client::v1::MsgUpdateClient;
        let m = MsgUpdateClient {
            client_id: client.to_string(),
            client_message: Some(header),
            signer: self.address.clone(),
        };
        any("/ibc.core.client.v1.MsgUpdateClient", &m)
    }
    fn recv_msg(&self, packet: &Packet, proof: Proof) -> Msg {
        if v2::is_v2(packet.destination_channel.as_str()) {
            return self.v2_recv_msg(packet, proof);
        }
        let m = chan::MsgRecvPacket {
            packet: Some(raw_packet(packet)),
            proof_commitment: proof.bytes,
            proof_height: Some(raw_height(proof.height)),
            signer: self.address.clone(),
        };
        any("/ibc.core.channel.v1.MsgRecvPacket", &m)
    }
    fn ack_msg(&self, packet: &Packet, ack: &[u8], proof: Proof) -> Msg {
        if v2::is_v2(packet.source_channel.as_str()) {
            return self.v2_ack_msg(packet, ack, proof);
        }
        let m = chan::MsgAcknowledgement {
            packet: Some(raw_packet(packet)),
            acknowledgement: ack.to_vec(),
            proof_acked: proof.bytes,
            proof_height: Some(raw_height(proof.height)),
            signer: self.address.clone(),
        };
        any("/ibc.core.channel.v1.MsgAcknowledgement", &m)
    }
    fn timeout_msg(&self, packet: &Packet, proof: Proof) -> Msg {
        if v2::is_v2(packet.source_channel.as_str()) {
            return self.v2_timeout_msg(packet, proof);
        }
        let m = chan::MsgTimeout {
            packet: Some(raw_packet(packet)),
            proof_unreceived: proof.bytes,
            proof_height: Some(raw_height(proof.height)),
            // Only ordered channels check it; Ferry opens unordered ICS-20 channels.
            next_sequence_recv: packet.sequence,
            signer: self.address.clone(),
        };
        any("/ibc.core.channel.v1.MsgTimeout", &m)
    }
}

/// Decoded light-client state queries.
impl CosmosChain {
    pub async fn client_state(
        &self,
        client: &ClientId,
    ) -> Result<ibc_proto::ibc::lightclients::tendermint::v1::ClientState> {
        use ibc_proto::ibc::core::client::v1::{QueryClientStateRequest, QueryClientStateResponse};
        let req = QueryClientStateRequest {
            client_id: client.to_string(),
        };
        let res: QueryClientStateResponse = self
            .grpc_query("/ibc.core.client.v1.Query/ClientState", &req, None)
            .await?;
        let any = res
            .client_state
            .ok_or_else(|| self.malformed("abci_query", format!("no client state for {client}")))?;
        ibc_proto::ibc::lightclients::tendermint::v1::ClientState::decode(any.value.as_slice())
            .map_err(|e| self.malformed("abci_query", e))
    }

    pub async fn consensus_state(
        &self,
        client: &ClientId,
        h: Height,
    ) -> Result<ibc_proto::ibc::lightclients::tendermint::v1::ConsensusState> {
        use ibc_proto::ibc::core::client::v1::{
            QueryConsensusStateRequest, QueryConsensusStateResponse,
        };
        let req = QueryConsensusStateRequest {
            client_id: client.to_string(),
            revision_number: h.revision_number,
            revision_height: h.revision_height,
            latest_height: false,
        };
        let res: QueryConsensusStateResponse = self
            .grpc_query("/ibc.core.client.v1.Query/ConsensusState", &req, None)
            .await?;
        let any = res.consensus_state.ok_or_else(|| {
            self.malformed("abci_query", format!("no consensus state {client}@{h}"))
        })?;
        ibc_proto::ibc::lightclients::tendermint::v1::ConsensusState::decode(any.value.as_slice())
            .map_err(|e| self.malformed("abci_query", e))
    }
}
