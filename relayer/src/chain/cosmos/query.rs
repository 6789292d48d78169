//! ABCI queries: gRPC-style service queries and ICS-23 proofs of IBC store keys.

use ibc_proto::ibc::core::commitment::v1::MerkleProof;
use prost::Message;

use super::CosmosChain;
use crate::chain::{ChainError, Proof, Result};
use crate::ibc::{ChannelId, ClientId, ConnectionId, Height, PortId};

/// ICS-24 host paths.
pub mod keys {
    use super::*;
    pub fn commitment(port: &PortId, channel: &ChannelId, seq: u64) -> String {
        format!("commitments/ports/{port}/channels/{channel}/sequences/{seq}")
    }
    pub fn receipt(port: &PortId, channel: &ChannelId, seq: u64) -> String {
        format!("receipts/ports/{port}/channels/{channel}/sequences/{seq}")
    }
    pub fn ack(port: &PortId, channel: &ChannelId, seq: u64) -> String {
        format!("acks/ports/{port}/channels/{channel}/sequences/{seq}")
    }
    pub fn client_state(client: &ClientId) -> String {
        format!("clients/{client}/clientState")
    }
    pub fn consensus_state(client: &ClientId, h: Height) -> String {
        format!(
            "clients/{client}/consensusStates/{}-{}",
            h.revision_number, h.revision_height
        )
    }
    pub fn connection(conn: &ConnectionId) -> String {
        format!("connections/{conn}")
    }
    pub fn channel(port: &PortId, channel: &ChannelId) -> String {
        format!("channelEnds/ports/{port}/channels/{channel}")
    }
}

impl CosmosChain {
    /// A gRPC-routable query through ABCI (`/pkg.Service/Method`), at the latest height or `height`.
    pub async fn grpc_query<Req: Message, Resp: Message + Default>(
        &self,
        path: &str,
        req: &Req,
        height: Option<u64>,
    ) -> Result<Resp> {
        let data = req.encode_to_vec();
        let h = height.map(super::tm_height).transpose()?;
        let res = self
            .rpc
            .call("abci_query", |c| {
                tendermint_rpc::Client::abci_query(
                    c,
                    Some(path.to_string()),
                    data.clone(),
                    h,
                    false,
                )
            })
            .await?;
        if res.code.is_err() {
            return Err(ChainError::Query {
                chain: self.id.clone(),
                path: path.into(),
                codespace: res.codespace,
                code: res.code.value(),
                log: res.log,
            });
        }
        Resp::decode(res.value.as_slice()).map_err(|e| self.malformed("abci_query", e))
    }

    /// The value under an IBC store key at `query_height` with its ICS-23 proof (empty value = absence).
    pub async fn prove_key(&self, key: &str, query_height: u64) -> Result<(Vec<u8>, Vec<u8>)> {
        let h = super::tm_height(query_height)?;
        let data = key.as_bytes().to_vec();
        let res = self
            .rpc
            .call("abci_query", |c| {
                tendermint_rpc::Client::abci_query(
                    c,
                    Some("store/ibc/key".to_string()),
                    data.clone(),
                    Some(h),
                    true,
                )
            })
            .await?;
        self.proof_answer(key, query_height, res)
    }

    /// The value and ICS-23 proof in the node's answer to a proving `abci_query` of `key`.
    pub(super) fn proof_answer(
        &self,
        key: &str,
        query_height: u64,
        res: tendermint_rpc::endpoint::abci_query::AbciQuery,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        if res.code.is_err() {
            return Err(ChainError::Query {
                chain: self.id.clone(),
                path: key.into(),
                codespace: res.codespace,
                code: res.code.value(),
                log: res.log,
            });
        }
        if res.height.value() != query_height {
            return Err(self.malformed(
                "abci_query",
                format!("asked height {query_height}, answered {}", res.height),
            ));
        }
        let ops = res
            .proof
            .ok_or_else(|| self.malformed("abci_query", "no proof in a prove=true answer"))?;
        let mut proofs = Vec::with_capacity(ops.ops.len());
        for op in ops.ops {
            let p = ics23::CommitmentProof::decode(op.data.as_slice())
                .map_err(|e| self.malformed("abci_query", e))?;
            proofs.push(p);
        }
        if proofs.len() != 2 {
            return Err(self.malformed(
                "abci_query",
                format!(
                    "expected 2 proof ops (iavl, multistore), got {}",
                    proofs.len()
                ),
            ));
        }
        Ok((res.value, MerkleProof { proofs }.encode_to_vec()))
    }

    /// Prove `key` for verification at `at` (state of `at - 1`), requiring the value to exist or not.
    pub async fn proof_at(
        &self,
        key: &str,
        at: Height,
        must_exist: bool,
    ) -> Result<(Vec<u8>, Proof)> {
        let (value, bytes) = self.prove_key(key, at.revision_height - 1).await?;
        self.expect_presence(key, at, must_exist, value, bytes)
    }

    /// `value` and its proof, if the value's presence is what `must_exist` asks.
    pub(super) fn expect_presence(
        &self,
        key: &str,
        at: Height,
        must_exist: bool,
        value: Vec<u8>,
        bytes: Vec<u8>,
    ) -> Result<(Vec<u8>, Proof)> {
        if must_exist == value.is_empty() {
            let what = if must_exist { "missing" } else { "present" };
            return Err(ChainError::NotProvable {
                chain: self.id.clone(),
                height: at.revision_height - 1,
                reason: format!("{key} is {what}"),
            });
        }
        Ok((value, Proof { bytes, height: at }))
    }

    pub fn malformed(&self, method: &'static str, e: impl std::fmt::Display) -> ChainError {
        ChainError::Malformed {
            chain: self.id.clone(),
            method,
            reason: e.to_string(),
        }
    }
}
