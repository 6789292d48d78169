//! A Cosmos chain's IBC v2 side: packet state queries per client, the v2 packet messages, and the
//! ibc-go `attestations` clients it hosts (ClientHost for a counterparty that is not a CometBFT
//! chain).

use ethers::types::Address;
use prost::Message;

use super::v2::{self, proto, type_url};
use super::{raw_height, CosmosChain};
use crate::chain::{ConsensusAnchor, IbcCommittee, Msg, Proof, Result};
use crate::ibc::{ChannelId, ClientId, Height, Packet};

/// Page size of the v2 commitments query; clearing walks every page.
const PAGE: u64 = 1_000;

impl CosmosChain {
    /// Every sequence sent over `client` whose commitment is still set (all pages).
    pub(super) async fn v2_commitments(&self, client: &ChannelId) -> Result<Vec<u64>> {
        use ibc_proto::cosmos::base::query::v1beta1::PageRequest;
        let mut seqs = Vec::new();
        let mut key = Vec::new();
        loop {
            let req = proto::QueryPacketCommitmentsRequest {
                client_id: client.to_string(),
                pagination: Some(PageRequest {
                    key: key.clone(),
                    limit: PAGE,
                    ..Default::default()
                }),
            };
            let res: proto::QueryPacketCommitmentsResponse = self
                .grpc_query("/ibc.core.channel.v2.Query/PacketCommitments", &req, None)
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

    /// Of `seqs`, those not received here over `client` (`acks = false`), or those sent from
    /// here whose ack is not processed yet (`acks = true`).
    pub(super) async fn v2_unreceived(
        &self,
        client: &ChannelId,
        seqs: &[u64],
        acks: bool,
    ) -> Result<Vec<u64>> {
        let req = proto::QueryUnreceivedRequest {
            client_id: client.to_string(),
            sequences: seqs.to_vec(),
        };
        let path = if acks {
            "/ibc.core.channel.v2.Query/UnreceivedAcks"
        } else {
            "/ibc.core.channel.v2.Query/UnreceivedPackets"
        };
        let res: proto::QueryUnreceivedResponse = self.grpc_query(path, &req, None).await?;
        Ok(res.sequences)
    }

    /// The counterparty registered for v2 `client` (`None` before `MsgRegisterCounterparty`).
    pub async fn v2_counterparty(
        &self,
        client: &ClientId,
    ) -> Result<Option<proto::CounterpartyInfo>> {
        let req = proto::QueryCounterpartyInfoRequest {
            client_id: client.to_string(),
        };
        match self
            .grpc_query::<_, proto::QueryCounterpartyInfoResponse>(
                "/ibc.core.client.v2.Query/CounterpartyInfo",
                &req,
                None,
            )
            .await
        {
            Ok(res) => Ok(res.counterparty_info.filter(|c| !c.client_id.is_empty())),
            Err(crate::chain::ChainError::Query { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The client's state when it is an ibc-go `attestations` client; `None` for other types.
    pub async fn attestations_client_state(
        &self,
        client: &ClientId,
    ) -> Result<Option<proto::AttestationsClientState>> {
        use ibc_proto::ibc::core::client::v1::{QueryClientStateRequest, QueryClientStateResponse};
        if !client.as_str().starts_with("attestations-") {
            return Ok(None);
        }
        let req = QueryClientStateRequest {
            client_id: client.to_string(),
        };
        let res: QueryClientStateResponse = self
            .grpc_query("/ibc.core.client.v1.Query/ClientState", &req, None)
            .await?;
        let any = res
            .client_state
            .ok_or_else(|| self.malformed("abci_query", format!("no client state for {client}")))?;
        if any.type_url != type_url::ATTESTATIONS_CLIENT_STATE {
            return Ok(None);
        }
        proto::AttestationsClientState::decode(any.value.as_slice())
            .map(Some)
            .map_err(|e| self.malformed("abci_query", e))
    }

    /// The anchor of an `attestations` client at `height`: its timestamp and its attestor set.
    pub(super) async fn attestations_anchor(
        &self,
        client: &ClientId,
        height: Height,
    ) -> Result<Option<ConsensusAnchor>> {
        use ibc_proto::ibc::core::client::v1::{
            QueryConsensusStateRequest, QueryConsensusStateResponse,
        };
        let Some(cs) = self.attestations_client_state(client).await? else {
            return Ok(None);
        };
        let req = QueryConsensusStateRequest {
            client_id: client.to_string(),
            revision_number: 0,
            revision_height: height.revision_height,
            latest_height: false,
        };
        let res: QueryConsensusStateResponse = self
            .grpc_query("/ibc.core.client.v1.Query/ConsensusState", &req, None)
            .await?;
        let any = res.consensus_state.ok_or_else(|| {
            self.malformed(
                "abci_query",
                format!("no consensus state {client}@{height}"),
            )
        })?;
        let state = proto::AttestationsConsensusState::decode(any.value.as_slice())
            .map_err(|e| self.malformed("abci_query", e))?;
        let members = cs
            .attestor_addresses
            .iter()
            .map(|a| {
                a.parse::<Address>()
                    .map_err(|e| self.malformed("abci_query", format!("attestor `{a}`: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(ConsensusAnchor {
            timestamp_ns: state.timestamp,
            next_validators_hash: vec![],
            committee: None,
            ibc_committee: Some(IbcCommittee {
                members,
                quorum: cs.min_required_sigs as usize,
            }),
        }))
    }

    pub(super) fn v2_recv_msg(&self, packet: &Packet, proof: Proof) -> Msg {
        v2::any(
            type_url::RECV,
            &proto::MsgRecvPacket {
                packet: Some(v2::to_proto(packet)),
                proof_commitment: proof.bytes,
                proof_height: Some(raw_height(proof.height)),
                signer: self.address.clone(),
            },
        )
    }

    pub(super) fn v2_ack_msg(&self, packet: &Packet, ack: &[u8], proof: Proof) -> Msg {
        v2::any(
            type_url::ACK,
            &proto::MsgAcknowledgement {
                packet: Some(v2::to_proto(packet)),
                acknowledgement: Some(proto::Acknowledgement {
                    app_acknowledgements: vec![ack.to_vec()],
                }),
                proof_acked: proof.bytes,
                proof_height: Some(raw_height(proof.height)),
                signer: self.address.clone(),
            },
        )
    }

    pub(super) fn v2_timeout_msg(&self, packet: &Packet, proof: Proof) -> Msg {
        v2::any(
            type_url::TIMEOUT,
            &proto::MsgTimeout {
                packet: Some(v2::to_proto(packet)),
                proof_unreceived: proof.bytes,
                proof_height: Some(raw_height(proof.height)),
                signer: self.address.clone(),
            },
        )
    }
}
