//! ICS-20 transfers for bridge users: send one, and follow it to its end from the chains' own state.

pub mod checks;
pub mod evm;
pub mod explain;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ibc_proto::ibc::applications::transfer::v1::MsgTransfer;
use serde::Serialize;

use crate::chain::cosmos::CosmosChain;
use crate::chain::{ChainError, Msg, PacketEvents, Result};
use crate::ibc::{ChannelId, Packet, PacketEventKind, PortId};

/// Where a transfer stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum TransferState {
    /// Committed on the source, not yet received.
    Sent,
    /// Received on the destination; the acknowledgement is not back on the source yet.
    Received { ack_ok: Option<bool> },
    /// Final: the source processed the acknowledgement.
    Acknowledged { ok: bool, error: Option<String> },
    /// The destination can no longer receive it; the refund waits for the timeout to be relayed.
    TimedOut,
    /// Final: the timeout was relayed and the sender refunded.
    TimedOutRefunded,
}

impl TransferState {
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            TransferState::Acknowledged { .. } | TransferState::TimedOutRefunded
        )
    }
    pub fn label(&self) -> &'static str {
        match self {
            TransferState::Sent => "sent",
            TransferState::Received { .. } => "received",
            TransferState::Acknowledged { ok: true, .. } => "acknowledged (ok)",
            TransferState::Acknowledged { ok: false, .. } => "acknowledged (error, refunded)",
            TransferState::TimedOut => "timed out (refund pending)",
            TransferState::TimedOutRefunded => "timed out and refunded",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TransferStatus {
    pub tx_hash: String,
    pub source_chain: String,
    pub sequence: u64,
    pub source_channel: ChannelId,
    pub destination_channel: ChannelId,
    pub send_height: u64,
    #[serde(flatten)]
    pub state: TransferState,
}

/// `"100samoleans"` → (100, "samoleans"); denoms may contain `/` (`ibc/ABC…`).
pub fn parse_coin(s: &str) -> std::result::Result<(u128, String), String> {
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{s}` has no denom; write e.g. 100samoleans"))?;
    let (amount, denom) = s.split_at(split);
    let amount: u128 = amount
        .parse()
        .map_err(|_| format!("`{s}` does not start with an amount"))?;
    if amount == 0 {
        return Err("amount must be greater than zero".into());
    }
    Ok((amount, denom.to_string()))
}

/// One ICS-20 transfer request.
#[derive(Clone, Debug)]
pub struct Transfer<'a> {
    pub port: &'a PortId,
    pub channel: &'a ChannelId,
    pub amount: u128,
    pub denom: &'a str,
    pub receiver: &'a str,
    pub timeout: Duration,
    pub memo: &'a str,
}

/// `MsgTransfer` with ibc-go v10+'s `encoding` (field 9), which ibc-proto 0.51 does not carry:
/// over IBC v2 (`source_channel` a client id) the transfer app sends a v2 packet in that encoding,
/// and `timeout_timestamp` is in seconds.
#[derive(Clone, PartialEq, prost::Message)]
struct MsgTransferV2 {
    #[prost(string, tag = "1")]
    source_port: String,
    #[prost(string, tag = "2")]
    source_channel: String,
    #[prost(message, optional, tag = "3")]
    token: Option<ibc_proto::cosmos::base::v1beta1::Coin>,
    #[prost(string, tag = "4")]
    sender: String,
    #[prost(string, tag = "5")]
    receiver: String,
    #[prost(uint64, tag = "7")]
    timeout_timestamp: u64,
    #[prost(string, tag = "8")]
    memo: String,
    #[prost(string, tag = "9")]
    encoding: String,
}

/// The payload encoding Ferry's EVM contracts speak, used for every IBC v2 transfer.
pub const SOLIDITY_ABI_ENCODING: &str = "application/x-solidity-abi";

impl Transfer<'_> {
    fn msg(&self, sender: &str) -> Msg {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if crate::chain::cosmos::v2::is_v2(self.channel.as_str()) {
            let msg = MsgTransferV2 {
                source_port: self.port.to_string(),
                source_channel: self.channel.to_string(),
                token: Some(ibc_proto::cosmos::base::v1beta1::Coin {
                    denom: self.denom.into(),
                    amount: self.amount.to_string(),
                }),
                sender: sender.into(),
                receiver: self.receiver.into(),
                timeout_timestamp: (now + self.timeout).as_secs(),
                memo: self.memo.into(),
                encoding: SOLIDITY_ABI_ENCODING.into(),
            };
            return Msg {
                type_url: "/ibc.applications.transfer.v1.MsgTransfer".into(),
                value: prost::Message::encode_to_vec(&msg),
            };
        }
        let msg = MsgTransfer {
            source_port: self.port.to_string(),
            source_channel: self.channel.to_string(),
            token: Some(ibc_proto::cosmos::base::v1beta1::Coin {
                denom: self.denom.into(),
                amount: self.amount.to_string(),
            }),
            sender: sender.into(),
            receiver: self.receiver.into(),
            timeout_height: Some(Default::default()),
            timeout_timestamp: (now + self.timeout).as_nanos() as u64,
            memo: self.memo.into(),
        };
        Msg {
            type_url: "/ibc.applications.transfer.v1.MsgTransfer".into(),
            value: prost::Message::encode_to_vec(&msg),
        }
    }
}

/// Send one transfer; returns the tx hash and the packet.
pub async fn send(src: &CosmosChain, t: &Transfer<'_>) -> Result<(String, Packet)> {
    let out = crate::chain::Submit::submit(src, vec![t.msg(&src.address)], 0).await?;
    let seq: u64 = out
        .attribute("send_packet", "packet_sequence")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ChainError::NoPacketInTx {
            chain: src.id.clone(),
            tx: out.hash.clone(),
        })?;
    let packet = src
        .sent_packet(t.port, t.channel, seq)
        .await?
        .map(|e| e.packet)
        .ok_or_else(|| ChainError::Malformed {
            chain: src.id.clone(),
            method: "tx_search",
            reason: format!("send_packet {seq} of tx {} not found", out.hash),
        })?;
    Ok((out.hash, packet))
}

/// Send `count` identical transfers, up to `max_msgs_per_tx` per tx, all txs in the mempool at once.
/// Returns the tx hashes.
pub async fn send_many(src: &CosmosChain, t: &Transfer<'_>, count: usize) -> Result<Vec<String>> {
    let per_tx = src.config.max_msgs_per_tx.max(1);
    let mut pending = Vec::new();
    let mut left = count;
    while left > 0 {
        let n = left.min(per_tx);
        let msgs = (0..n).map(|_| t.msg(&src.address)).collect();
        pending.push(
            crate::chain::Submit::broadcast(src, msgs, 0, &[], crate::chain::Priority::Live)
                .await?,
        );
        left -= n;
    }
    let mut hashes = Vec::new();
    for p in pending {
        hashes.push(crate::chain::Submit::confirm(src, p).await?.hash);
    }
    Ok(hashes)
}

/// The packet a transfer tx sent, with the height it was sent at.
pub async fn packet_of_tx(src: &CosmosChain, tx_hash: &str) -> Result<(Packet, u64)> {
    // Hex in either case (tendermint parses upper case only); the parse error's text carries a
    // backtrace, so it is not passed on.
    let hash: tendermint::Hash =
        tx_hash
            .to_ascii_uppercase()
            .parse()
            .map_err(|_| ChainError::InvalidTxHash {
                given: tx_hash.to_string(),
                expected: "64 hex digits",
            })?;
    // The node answers "not found" with an error of its own: an answer, told apart from a
    // node that cannot be reached.
    let res = src
        .rpc
        .call("tx", |c| async move {
            match tendermint_rpc::Client::tx(c, hash, false).await {
                Ok(r) => Ok(Some(r)),
                Err(e) if crate::chain::cosmos::rpc::is_answer_error(&e) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?
        .ok_or_else(|| ChainError::TxNotFound {
            chain: src.id.clone(),
            tx: tx_hash.to_string(),
        })?;
    for (kind, attrs) in crate::chain::cosmos::flatten_events(&res.tx_result.events) {
        let h = res.height.value();
        let parsed = match crate::chain::cosmos::v2::parse_event(&kind, &attrs, h) {
            Ok(None) => crate::chain::cosmos::parse_packet_event(&kind, &attrs, h),
            other => other,
        };
        if let Ok(Some(ev)) = parsed {
            if ev.kind == PacketEventKind::Send {
                return Ok((ev.packet, ev.height));
            }
        }
    }
    Err(ChainError::NoPacketInTx {
        chain: src.id.clone(),
        tx: tx_hash.to_string(),
    })
}

/// ICS-20 acknowledgement: `{"result":"AQ=="}` is success (also what Ferry's EVM app writes),
/// `{"error":"…"}` failure, and over IBC v2 the universal error acknowledgement is failure. `0x01`
/// is what Ferry's EVM app wrote before it spoke the JSON form.
pub fn ack_result(ack: &[u8]) -> (bool, Option<String>) {
    if ack == [1] {
        return (true, None);
    }
    if ack == evm::universal_error_ack() {
        return (
            false,
            Some("the receiving app failed (universal error acknowledgement)".into()),
        );
    }
    match serde_json::from_slice::<serde_json::Value>(ack) {
        Ok(v) if v.get("result").is_some() => (true, None),
        Ok(v) => (
            false,
            v.get("error").and_then(|e| e.as_str()).map(String::from),
        ),
        Err(_) => (false, Some("unreadable acknowledgement".into())),
    }
}

pub async fn status(src: &CosmosChain, dst: &CosmosChain, tx_hash: &str) -> Result<TransferStatus> {
    let (p, send_height) = packet_of_tx(src, tx_hash).await?;
    status_of(src, dst, tx_hash, p, send_height).await
}

/// Where packet `p` (sent by tx `tx_hash` at `send_height`) stands, from both chains' state.
pub async fn status_of<S, D>(
    src: &S,
    dst: &D,
    tx_hash: &str,
    p: Packet,
    send_height: u64,
) -> Result<TransferStatus>
where
    S: crate::chain::RelayChain + ?Sized,
    D: crate::chain::RelayChain + ?Sized,
{
    let received = dst
        .unreceived(&p.destination_port, &p.destination_channel, &[p.sequence])
        .await?
        .is_empty();
    let committed = !src
        .unreceived_acks(&p.source_port, &p.source_channel, &[p.sequence])
        .await?
        .is_empty();
    let ack = if received {
        dst.written_ack(&p.destination_port, &p.destination_channel, p.sequence)
            .await?
    } else {
        None
    };
    let ack = ack.and_then(|e| match e.kind {
        PacketEventKind::WriteAck { ack } => Some(ack_result(&ack)),
        _ => None,
    });
    let state = match (received, committed) {
        (true, true) => TransferState::Received {
            ack_ok: ack.as_ref().map(|a| a.0),
        },
        (true, false) => {
            let (ok, error) = ack.unwrap_or((true, None));
            TransferState::Acknowledged { ok, error }
        }
        (false, false) => TransferState::TimedOutRefunded,
        (false, true) => {
            let (h, t) = dst.latest().await?;
            if p.timed_out(h, t) {
                TransferState::TimedOut
            } else {
                TransferState::Sent
            }
        }
    };
    Ok(TransferStatus {
        tx_hash: tx_hash.to_string(),
        source_chain: src.id().to_string(),
        sequence: p.sequence,
        source_channel: p.source_channel,
        destination_channel: p.destination_channel,
        send_height,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coins_and_acks() {
        assert_eq!(
            parse_coin("100samoleans").unwrap(),
            (100, "samoleans".into())
        );
        assert_eq!(parse_coin("5ibc/ABCD").unwrap(), (5, "ibc/ABCD".into()));
        assert!(parse_coin("samoleans").is_err());
        assert!(parse_coin("0stake").is_err());
        assert_eq!(ack_result(br#"{"result":"AQ=="}"#), (true, None));
        assert_eq!(ack_result(&[1]), (true, None));
        assert!(!ack_result(&evm::universal_error_ack()).0);
        assert_eq!(
            ack_result(br#"{"error":"insufficient funds"}"#),
            (false, Some("insufficient funds".into()))
        );
    }
}
