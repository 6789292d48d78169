//! Packet events from the router's logs: final blocks only, scanned in bounded ranges, with the
//! last scanned block's hash re-checked before each scan so a reorg deeper than the confirmation
//! depth is re-scanned instead of missed.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use ethers::contract::{EthEvent, EthLogDecode};
use ethers::providers::Middleware;
use ethers::types::{BlockNumber, Filter, Log, H256, U256};
use tokio::sync::watch;

use super::abi::ferry_router::{SendPacketFilter, WriteAcknowledgementFilter};
use super::call_error::CallError;
use super::{abi, packets, EvmChain};
use crate::chain::{EventSink, PacketEvents, Result};
use crate::ibc::{ChannelId, PacketEvent, PacketEventKind, PortId};
use crate::telemetry::metrics;

/// Scanned ranges remembered for reorg checks.
const REMEMBER: usize = 64;
/// Ranges looked back through when searching one packet's event.
const SEARCH_RANGES: u64 = 200;

/// A router packet log's kind, packet (as the contract has it) and block; None for other logs.
fn sol_packet(log: &Log) -> Option<(PacketEventKind, abi::Packet, u64)> {
    let raw = ethers::abi::RawLog::from(log.clone());
    // U64: as_u64 cannot overflow.
    let height = log.block_number?.as_u64();
    let topic = *log.topics.first()?;
    if topic == SendPacketFilter::signature() {
        let ev = <SendPacketFilter as EthLogDecode>::decode_log(&raw).ok()?;
        Some((PacketEventKind::Send, ev.packet, height))
    } else if topic == WriteAcknowledgementFilter::signature() {
        let ev = <WriteAcknowledgementFilter as EthLogDecode>::decode_log(&raw).ok()?;
        Some((
            PacketEventKind::WriteAck {
                ack: ev.acknowledgement.to_vec(),
            },
            ev.packet,
            height,
        ))
    } else {
        None
    }
}

/// A router log as a packet event; None for other logs, and for packets Ferry cannot take as they
/// are (logged and counted; never relayed altered).
pub fn decode(chain: &str, log: &Log) -> Option<PacketEvent> {
    let (kind, sol, height) = sol_packet(log)?;
    match packets::from_sol(&sol) {
        Ok(packet) => Some(PacketEvent {
            kind,
            packet,
            height,
        }),
        Err(e) if e.is_unrelayable() => {
            metrics().packet_unrelayable(chain);
            let id = match sol.payloads.first() {
                Some(p) => format!(
                    "{chain}:{}/{}/{}",
                    p.source_port, sol.source_client, sol.sequence
                ),
                None => format!("{chain}:?/{}/{}", sol.source_client, sol.sequence),
            };
            tracing::warn!(chain, packet = %id, error = %e, "refusing a packet Ferry cannot relay unaltered; it is skipped");
            None
        }
        Err(e) => {
            metrics().verification_failure(chain, "malformed_response");
            tracing::warn!(chain, error = %e, "skipping a router log Ferry cannot relay");
            None
        }
    }
}

impl EvmChain {
    fn filter(&self) -> Filter {
        Filter::new().address(self.evm.router).topic0(vec![
            SendPacketFilter::signature(),
            WriteAcknowledgementFilter::signature(),
        ])
    }

    async fn logs(&self, filter: Filter) -> Result<Vec<Log>> {
        self.rpc("eth_getLogs", |p| {
            let f = filter.clone();
            async move { p.get_logs(&f).await.map_err(CallError::from) }
        })
        .await
    }

    async fn block_hash(&self, n: u64) -> Result<Option<H256>> {
        self.rpc("eth_getBlockByNumber", |p| async move {
            p.get_block(BlockNumber::Number(n.into()))
                .await
                .map(|b| b.and_then(|b| b.hash))
                .map_err(CallError::from)
        })
        .await
    }

    /// One scan step: logs of final blocks from `next`, at most `log_range` blocks. Returns the
    /// next block to scan.
    async fn scan_once(
        &self,
        next: u64,
        scanned: &mut VecDeque<(u64, H256)>,
        sink: &EventSink,
    ) -> Result<u64> {
        // A scanned block whose hash changed was reorged out: rewind to the range before it (the
        // next step checks that one in turn).
        if let Some(&(n, h)) = scanned.back() {
            if self.block_hash(n).await? != Some(h) {
                tracing::warn!(chain = %self.id, block = n, "block hash changed (reorg); re-scanning");
                scanned.pop_back();
                return Ok(scanned
                    .back()
                    .map(|&(m, _)| m + 1)
                    .unwrap_or(n.saturating_sub(self.evm.log_range)));
            }
        }
        let (_, fin) = self.heads().await?;
        if fin < next {
            return Ok(next);
        }
        let to = fin.min(next + self.evm.log_range - 1);
        let logs = self
            .logs(self.filter().from_block(next).to_block(to))
            .await?;
        for ev in logs.iter().filter_map(|l| decode(self.id.as_str(), l)) {
            tracing::debug!(chain = %self.id, seq = ev.packet.sequence, height = ev.height, "router event");
            if !sink.event(ev).await {
                break;
            }
        }
        sink.scanned(to).await;
        if let Some(h) = self.block_hash(to).await? {
            scanned.push_back((to, h));
            if scanned.len() > REMEMBER {
                scanned.pop_front();
            }
        }
        Ok(to + 1)
    }

    /// The newest router log matching `topics` (event signature, client hash, sequence).
    async fn find_log(
        &self,
        topic0: H256,
        client: &ChannelId,
        seq: u64,
    ) -> Result<Option<PacketEvent>> {
        let (_, fin) = self.heads().await?;
        let client_topic = H256(ethers::utils::keccak256(client.as_str()));
        let mut seq_topic = [0u8; 32];
        U256::from(seq).to_big_endian(&mut seq_topic);
        let mut to = fin;
        for _ in 0..SEARCH_RANGES {
            let from = to.saturating_sub(self.evm.log_range - 1);
            let f = Filter::new()
                .address(self.evm.router)
                .topic0(topic0)
                .topic1(client_topic)
                .topic2(H256(seq_topic))
                .from_block(from)
                .to_block(to);
            for (kind, sol, height) in self.logs(f).await?.iter().rev().filter_map(sol_packet) {
                match packets::from_sol(&sol) {
                    Ok(packet) => {
                        return Ok(Some(PacketEvent {
                            kind,
                            packet,
                            height,
                        }))
                    }
                    // The packet is there, and Ferry must not relay it altered: say so.
                    Err(e) if e.is_unrelayable() => {
                        return Err(e.into_chain_error(&self.id, "eth_getLogs"))
                    }
                    Err(e) => {
                        tracing::warn!(chain = %self.id, error = %e, "skipping a router log Ferry cannot relay")
                    }
                }
            }
            if from == 0 {
                break;
            }
            to = from - 1;
        }
        Ok(None)
    }
}

#[async_trait]
impl PacketEvents for EvmChain {
    fn subscribe(
        self: Arc<Self>,
        from_height: u64,
        sink: EventSink,
        mut shutdown: watch::Receiver<bool>,
    ) {
        // With `evm.ws`, each new head wakes the scanner at once; polling stays as the fallback.
        let wake = Arc::new(tokio::sync::Notify::new());
        if let Some(url) = self.evm.ws.clone() {
            tokio::spawn(new_heads(
                self.id.to_string(),
                url,
                wake.clone(),
                shutdown.clone(),
            ));
        }
        tokio::spawn(async move {
            let mut next = from_height;
            let mut scanned = VecDeque::new();
            loop {
                let before = next;
                match self.scan_once(next, &mut scanned, &sink).await {
                    Ok(n) => next = n,
                    Err(e) => {
                        tracing::warn!(chain = %self.id, error = %e, "log scan failed; will retry")
                    }
                }
                if sink.is_closed() {
                    return;
                }
                // Caught up (or failed): wait for a block; behind: scan on at once.
                if next <= before + 1 {
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.poll_interval) => {}
                        _ = wake.notified() => {}
                        _ = shutdown.changed() => if *shutdown.borrow() { return },
                    }
                }
                if *shutdown.borrow() {
                    return;
                }
            }
        });
    }

    async fn sent_packet(
        &self,
        _port: &PortId,
        client: &ChannelId,
        seq: u64,
    ) -> Result<Option<PacketEvent>> {
        self.find_log(SendPacketFilter::signature(), client, seq)
            .await
    }

    async fn written_ack(
        &self,
        _port: &PortId,
        client: &ChannelId,
        seq: u64,
    ) -> Result<Option<PacketEvent>> {
        self.find_log(WriteAcknowledgementFilter::signature(), client, seq)
            .await
    }
}

/// Wake the scanner on every new head from an `eth_subscribe("newHeads")` WebSocket, reconnecting
/// (and counting it) when the socket drops.
async fn new_heads(
    chain: String,
    url: String,
    wake: Arc<tokio::sync::Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    use ethers::providers::{Provider, StreamExt, Ws};
    loop {
        match Provider::<Ws>::connect(url.as_str()).await {
            Ok(p) => match p.subscribe_blocks().await {
                Ok(mut heads) => loop {
                    tokio::select! {
                        h = heads.next() => match h {
                            Some(_) => wake.notify_one(),
                            None => break,
                        },
                        _ = shutdown.changed() => if *shutdown.borrow() { return },
                    }
                },
                Err(e) => tracing::warn!(chain, error = %e, "newHeads subscription failed"),
            },
            Err(e) => {
                tracing::warn!(chain, error = %e, "WebSocket connect failed; polling meanwhile")
            }
        }
        metrics().ws_reconnect(&chain);
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = shutdown.changed() => if *shutdown.borrow() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_log(timeout_secs: u64) -> Log {
        let packet = abi::Packet {
            sequence: 4,
            source_client: "attestations-0".into(),
            dest_client: "attestations-1".into(),
            timeout_timestamp: timeout_secs,
            payloads: vec![abi::Payload {
                source_port: "transfer".into(),
                dest_port: "transfer".into(),
                version: "ics20-1".into(),
                encoding: "application/x-solidity-abi".into(),
                value: vec![1, 2].into(),
            }],
        };
        let mut seq = [0u8; 32];
        U256::from(4).to_big_endian(&mut seq);
        Log {
            topics: vec![
                SendPacketFilter::signature(),
                H256(ethers::utils::keccak256("attestations-0")),
                H256(seq),
            ],
            data: ethers::abi::encode(&[ethers::abi::Tokenizable::into_token(packet)]).into(),
            block_number: Some(12u64.into()),
            ..Log::default()
        }
    }

    #[test]
    fn a_packet_whose_timeout_does_not_fit_is_skipped_and_counted() {
        let ev = decode("ev-decode-1", &send_log(1_700_000_000)).expect("a normal send");
        assert_eq!(ev.packet.timeout_timestamp, 1_700_000_000 * 1_000_000_000);
        assert_eq!(ev.height, 12);
        assert!(decode("ev-decode-1", &send_log(u64::MAX)).is_none());
        assert!(metrics()
            .render()
            .contains(r#"ferry_packets_unrelayable_total{chain="ev-decode-1"} 1"#));
    }

    #[test]
    fn event_signatures_match_the_contract_interface() {
        assert_eq!(
            SendPacketFilter::abi_signature(),
            "SendPacket(string,uint64,(uint64,string,string,uint64,(string,string,string,string,bytes)[]))"
        );
        assert_eq!(
            WriteAcknowledgementFilter::abi_signature(),
            "WriteAcknowledgement(string,uint64,(uint64,string,string,uint64,(string,string,string,string,bytes)[]),bytes)"
        );
    }
}
