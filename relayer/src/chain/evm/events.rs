//! Packet events from the router's logs: final blocks only, scanned in bounded ranges, with the
//! last scanned block's hash re-checked before each scan so a reorg deeper than the confirmation
//! depth is re-scanned instead of missed.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use ethers::contract::{EthEvent, EthLogDecode};
use ethers::providers::Middleware;
use ethers::types::{BlockNumber, Filter, Log, H256, U256};
use tokio::sync::{mpsc, watch};

use super::abi::ferry_router::{SendPacketFilter, WriteAcknowledgementFilter};
use super::{packets, EvmChain};
use crate::chain::{PacketEvents, Result};
use crate::ibc::{ChannelId, PacketEvent, PacketEventKind, PortId};
use crate::telemetry::metrics;

/// Scanned ranges remembered for reorg checks.
const REMEMBER: usize = 64;
/// Ranges looked back through when searching one packet's event.
const SEARCH_RANGES: u64 = 200;

/// A router log as a packet event; None for other logs or malformed ones (logged).
pub fn decode(chain: &str, log: &Log) -> Option<PacketEvent> {
    let raw = ethers::abi::RawLog::from(log.clone());
    let height = log.block_number?.as_u64();
    let topic = *log.topics.first()?;
    let (kind, packet) = if topic == SendPacketFilter::signature() {
        let ev = <SendPacketFilter as EthLogDecode>::decode_log(&raw).ok()?;
        (PacketEventKind::Send, ev.packet)
    } else if topic == WriteAcknowledgementFilter::signature() {
        let ev = <WriteAcknowledgementFilter as EthLogDecode>::decode_log(&raw).ok()?;
        (
            PacketEventKind::WriteAck {
                ack: ev.acknowledgement.to_vec(),
            },
            ev.packet,
        )
    } else {
        return None;
    };
    match packets::from_sol(&packet) {
        Ok(packet) => Some(PacketEvent {
            kind,
            packet,
            height,
        }),
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
            async move { p.get_logs(&f).await.map_err(|e| e.to_string()) }
        })
        .await
    }

    async fn block_hash(&self, n: u64) -> Result<Option<H256>> {
        self.rpc("eth_getBlockByNumber", |p| async move {
            p.get_block(BlockNumber::Number(n.into()))
                .await
                .map(|b| b.and_then(|b| b.hash))
                .map_err(|e| e.to_string())
        })
        .await
    }

    /// One scan step: logs of final blocks from `next`, at most `log_range` blocks. Returns the
    /// next block to scan.
    async fn scan_once(
        &self,
        next: u64,
        scanned: &mut VecDeque<(u64, H256)>,
        sink: &mpsc::Sender<PacketEvent>,
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
            if sink.send(ev).await.is_err() {
                break;
            }
        }
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
            if let Some(ev) = self
                .logs(f)
                .await?
                .iter()
                .rev()
                .find_map(|l| decode(self.id.as_str(), l))
            {
                return Ok(Some(ev));
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
        sink: mpsc::Sender<PacketEvent>,
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
