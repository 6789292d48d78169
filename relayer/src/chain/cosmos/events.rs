//! Packet events: parsed from ABCI events, pushed by a WebSocket subscription, pulled from
//! `block_results` when polling, after a reconnect, or when heights were skipped (a block the node
//! does not serve is left to clearing, see [`gaps`](super::gaps)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tendermint::abci::Event;
use tendermint_rpc::query::Query;
use tokio::sync::watch;

use super::gaps;
use super::lookup::Wanted;
use super::subscription::{FlatEvent, Pushed, Subscription};
use super::CosmosChain;
use crate::chain::{EventSink, PacketEvents, Result};
use crate::config::EventSource;
use crate::ibc::{ChannelId, Height, Packet, PacketEvent, PacketEventKind, PortId};
use crate::telemetry::metrics;

/// ABCI events as (type, [(key, value)]); attributes that are not UTF-8 are dropped.
pub fn flatten(events: &[Event]) -> Vec<FlatEvent> {
    events
        .iter()
        .map(|e| {
            let attrs = e
                .attributes
                .iter()
                .filter_map(|a| {
                    Some((
                        a.key_str().ok()?.to_string(),
                        a.value_str().ok()?.to_string(),
                    ))
                })
                .collect();
            (e.kind.clone(), attrs)
        })
        .collect()
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Parse one ibc-go `send_packet` or `write_acknowledgement` event. `Ok(None)` for other events;
/// an error for a packet event with missing or malformed attributes.
pub fn parse_packet_event(
    kind: &str,
    attrs: &[(String, String)],
    height: u64,
) -> std::result::Result<Option<PacketEvent>, String> {
    let event_kind = match kind {
        "send_packet" => PacketEventKind::Send,
        "write_acknowledgement" => {
            let ack = hex::decode(attr(attrs, "packet_ack_hex").ok_or("missing packet_ack_hex")?)
                .map_err(|e| format!("packet_ack_hex: {e}"))?;
            PacketEventKind::WriteAck { ack }
        }
        _ => return Ok(None),
    };
    let get = |k: &str| attr(attrs, k).ok_or_else(|| format!("{kind} without {k}"));
    fn id_err(k: &'static str) -> impl Fn(crate::ibc::IdError) -> String {
        move |e| format!("{k}: {e}")
    }
    let packet = Packet {
        sequence: get("packet_sequence")?
            .parse()
            .map_err(|e| format!("packet_sequence: {e}"))?,
        source_port: get("packet_src_port")?
            .parse()
            .map_err(id_err("packet_src_port"))?,
        source_channel: get("packet_src_channel")?
            .parse()
            .map_err(id_err("packet_src_channel"))?,
        destination_port: get("packet_dst_port")?
            .parse()
            .map_err(id_err("packet_dst_port"))?,
        destination_channel: get("packet_dst_channel")?
            .parse()
            .map_err(id_err("packet_dst_channel"))?,
        data: hex::decode(get("packet_data_hex")?).map_err(|e| format!("packet_data_hex: {e}"))?,
        timeout_height: get("packet_timeout_height")?.parse::<Height>()?,
        timeout_timestamp: get("packet_timeout_timestamp")?
            .parse()
            .map_err(|e| format!("packet_timeout_timestamp: {e}"))?,
        version: String::new(),
        encoding: String::new(),
    };
    Ok(Some(PacketEvent {
        kind: event_kind,
        packet,
        height,
    }))
}

impl CosmosChain {
    pub(super) fn packet_events_of(&self, events: &[Event], height: u64) -> Vec<PacketEvent> {
        self.packet_events_in(flatten(events), height)
    }

    fn packet_events_in(&self, events: Vec<FlatEvent>, height: u64) -> Vec<PacketEvent> {
        let mut out = Vec::new();
        for (kind, attrs) in events {
            let parsed = match super::v2::parse_event(&kind, &attrs, height) {
                Ok(None) => parse_packet_event(&kind, &attrs, height),
                other => other,
            };
            match parsed {
                Ok(Some(ev)) => out.push(ev),
                Ok(None) => {}
                Err(reason) => {
                    // Counted and skipped: a malformed event is never relayed.
                    metrics().verification_failure(self.id.as_str(), "malformed_response");
                    tracing::warn!(chain = %self.id, height, %reason, "malformed packet event ignored");
                }
            }
        }
        out
    }

    /// Packet events of every tx in block `height`.
    pub async fn block_packet_events(&self, height: u64) -> Result<Vec<PacketEvent>> {
        let h = super::tm_height(height)?;
        let events = self
            .rpc
            .call_parsed(
                "block_results",
                serde_json::json!({ "height": h.to_string() }),
                super::block_results::packet_events,
            )
            .await?;
        Ok(self.packet_events_in(events, height))
    }

    /// One page of the txs `query` finds (oldest first): the packet events of those that
    /// succeeded, and how many txs match in all.
    pub(super) async fn search_page(
        &self,
        query: &Query,
        page: u32,
        per_page: u8,
    ) -> Result<(Vec<PacketEvent>, u32)> {
        let res = self
            .rpc
            .call("tx_search", |c| {
                tendermint_rpc::Client::tx_search(
                    c,
                    query.clone(),
                    false,
                    page,
                    per_page,
                    tendermint_rpc::Order::Ascending,
                )
            })
            .await?;
        let events = res
            .txs
            .iter()
            .filter(|tx| tx.tx_result.code.is_ok())
            .flat_map(|tx| self.packet_events_of(&tx.tx_result.events, tx.height.value()))
            .collect();
        Ok((events, res.total_count))
    }

    /// The packet event matching `want` in the txs that `query` finds. A tx can carry many packet
    /// events (one per message), so the match is on the event, not the tx.
    async fn search_one(
        &self,
        query: Query,
        want: impl Fn(&PacketEvent) -> bool,
    ) -> Result<Option<PacketEvent>> {
        let (events, _) = self.search_page(&query, 1, 10).await?;
        Ok(events.into_iter().find(want))
    }

    /// Fetch blocks `from..=to` and forward their packet events, each block marked scanned when
    /// `mark`; a block the node does not serve is left to clearing ([`gaps`]). False when nobody
    /// listens.
    async fn pull_range(&self, from: u64, to: u64, mark: bool, sink: &EventSink) -> bool {
        let read = |h| self.block_packet_events(h);
        gaps::read_blocks(self.id.as_str(), from, to, read, mark, sink).await
    }

    async fn poll_loop(
        self: Arc<Self>,
        mut next: u64,
        sink: EventSink,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            match crate::chain::Heights::latest(&*self).await {
                Ok((latest, _)) if latest.revision_height >= next => {
                    let to = latest.revision_height;
                    if !self.pull_range(next, to, true, &sink).await {
                        return;
                    }
                    next = to + 1;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(chain = %self.id, error = %e, "status polling failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One WebSocket session: tx results pushed, block headers used to spot gaps. Returns the next
    /// height not known to be fully seen, when the connection ends.
    async fn ws_session(
        &self,
        mut next: u64,
        sink: &EventSink,
        shutdown: &mut watch::Receiver<bool>,
    ) -> std::result::Result<u64, (u64, String)> {
        let url = crate::chain::cosmos::headers::ws_url(self.rpc.active_url());
        let t = std::time::Instant::now();
        let opened = Subscription::open(&url).await;
        metrics().rpc(
            self.id.as_str(),
            "subscribe",
            t.elapsed().as_secs_f64(),
            opened.is_ok(),
        );
        let mut sub = opened.map_err(|e| (next, e))?;
        // What happened before the subscription started is read beside it: live events are not
        // held behind a long catch-up (a restart after a backlog, W4), and the node, whose socket
        // Ferry keeps reading, does not drop the subscription meanwhile. Until the catch-up is
        // done no live scanned mark moves, and a session that ends resumes at the block the
        // catch-up was reading (every one before it is handed over), not back at the start.
        let from = next;
        let read_from = AtomicU64::new(from);
        let catch_up_to = match crate::chain::Heights::latest(self).await {
            Ok((latest, _)) if latest.revision_height >= from => Some(latest.revision_height),
            _ => None,
        };
        let catch_up = async {
            match catch_up_to {
                Some(to) => {
                    let read = |h| {
                        read_from.store(h, Ordering::Relaxed);
                        self.block_packet_events(h)
                    };
                    gaps::read_blocks(self.id.as_str(), from, to, read, true, sink).await
                }
                None => true,
            }
        };
        tokio::pin!(catch_up);
        let mut caught_up = catch_up_to.is_none();
        // The newest block announced (or read) so far: a header further on than the one after it
        // means blocks went unannounced, and only those are read from block_results. `next` is
        // where a new session resumes: the first block whose txs may not all have arrived; `seen`
        // is where it would once the catch-up is done.
        let mut last_block = catch_up_to.unwrap_or(from.saturating_sub(1));
        let mut seen = catch_up_to.map_or(from, |to| to + 1);
        let result = loop {
            // CometBFT publishes a block's txs before the next block, but each subscription is
            // written to the socket by its own goroutine, so a tx may still trail a later header:
            // the mark stays two blocks behind. (A restart re-reads those blocks; a packet is
            // relayed once whatever reads it twice.)
            let pushed = tokio::select! {
                biased;
                _ = shutdown.changed() => break Ok(next),
                // Polled first, it does a block's work and waits on its next request: it never
                // holds up the socket, whose messages are handled in between.
                listening = &mut catch_up, if !caught_up => {
                    if !listening {
                        break Ok(next);
                    }
                    caught_up = true;
                    next = seen;
                    continue;
                }
                pushed = sub.next() => pushed,
            };
            match pushed {
                Some(Ok(Pushed::Tx {
                    height,
                    ok: true,
                    events,
                })) => {
                    for pe in self.packet_events_in(events, height) {
                        if !sink.event(pe).await {
                            break;
                        }
                    }
                }
                Some(Ok(Pushed::Block { height: h })) => {
                    metrics().latest_height(self.id.as_str(), h);
                    if h > last_block + 1 {
                        // Blocks between the last announced and `h` were not: pull them (marked
                        // scanned only once the catch-up is done, below them or not).
                        if !self
                            .pull_range(last_block + 1, h - 1, caught_up, sink)
                            .await
                        {
                            break Ok(next);
                        }
                    }
                    last_block = last_block.max(h);
                    seen = seen.max(h.saturating_sub(1));
                    if caught_up {
                        next = seen;
                        if h > 2 {
                            sink.scanned(h - 2).await;
                        }
                    }
                    sink.committed(h).await;
                }
                Some(Ok(Pushed::Tx { ok: false, .. } | Pushed::Other)) => {}
                Some(Err(reason)) => {
                    // A message that cannot be read may have held packet events: counted, and the
                    // session starts again from `next`, re-reading those blocks.
                    metrics().verification_failure(self.id.as_str(), "malformed_response");
                    break Err((next, reason));
                }
                None => break Err((next, "subscription closed".into())),
            }
        };
        sub.close().await;
        if !caught_up {
            let resume = read_from.load(Ordering::Relaxed);
            return result.map_err(|(_, reason)| (resume, reason));
        }
        result
    }

    async fn ws_loop(
        self: Arc<Self>,
        mut next: u64,
        sink: EventSink,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.ws_session(next, &sink, &mut shutdown).await {
                Ok(_) => return,
                Err((resume, reason)) => {
                    if *shutdown.borrow() {
                        return;
                    }
                    next = resume;
                    metrics().ws_reconnect(self.id.as_str());
                    tracing::warn!(chain = %self.id, %reason, resume_height = next, "WebSocket lost; reconnecting, gap filled from block_results");
                    tokio::time::sleep(backoff).await;
                    // The WebSocket follows the active RPC endpoint: one RPC call fails over to
                    // the next endpoint when the active one is gone, so the reconnect goes there.
                    let _ = self
                        .rpc
                        .call("status", tendermint_rpc::Client::status)
                        .await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

#[async_trait]
impl PacketEvents for CosmosChain {
    fn subscribe(
        self: Arc<Self>,
        from_height: u64,
        sink: EventSink,
        shutdown: watch::Receiver<bool>,
    ) {
        match self.config.event_source {
            EventSource::WebSocket => tokio::spawn(self.ws_loop(from_height, sink, shutdown)),
            EventSource::Poll => tokio::spawn(self.poll_loop(from_height, sink, shutdown)),
        };
    }

    async fn sent_packet(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequence: u64,
    ) -> Result<Option<PacketEvent>> {
        if super::v2::is_v2(channel.as_str()) {
            let q = Query::eq("send_packet.packet_source_client", channel.as_str())
                .and_eq("send_packet.packet_sequence", sequence.to_string());
            return self
                .search_one(q, |e| {
                    e.kind == PacketEventKind::Send
                        && e.packet.sequence == sequence
                        && &e.packet.source_channel == channel
                })
                .await;
        }
        let q = Query::eq("send_packet.packet_src_port", port.as_str())
            .and_eq("send_packet.packet_src_channel", channel.as_str())
            .and_eq("send_packet.packet_sequence", sequence.to_string());
        self.search_one(q, |e| {
            e.kind == PacketEventKind::Send
                && e.packet.sequence == sequence
                && &e.packet.source_channel == channel
                && &e.packet.source_port == port
        })
        .await
    }

    async fn written_ack(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequence: u64,
    ) -> Result<Option<PacketEvent>> {
        if super::v2::is_v2(channel.as_str()) {
            let q = Query::eq("write_acknowledgement.packet_dest_client", channel.as_str()).and_eq(
                "write_acknowledgement.packet_sequence",
                sequence.to_string(),
            );
            return self
                .search_one(q, |e| {
                    matches!(e.kind, PacketEventKind::WriteAck { .. })
                        && e.packet.sequence == sequence
                        && &e.packet.destination_channel == channel
                })
                .await;
        }
        let q = Query::eq("write_acknowledgement.packet_dst_port", port.as_str())
            .and_eq("write_acknowledgement.packet_dst_channel", channel.as_str())
            .and_eq(
                "write_acknowledgement.packet_sequence",
                sequence.to_string(),
            );
        self.search_one(q, |e| {
            matches!(e.kind, PacketEventKind::WriteAck { .. })
                && e.packet.sequence == sequence
                && &e.packet.destination_channel == channel
                && &e.packet.destination_port == port
        })
        .await
    }

    async fn sent_packets(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequences: &[u64],
    ) -> Result<Vec<PacketEvent>> {
        self.find_packet_events(Wanted::Sends, port, channel, sequences)
            .await
    }

    async fn written_acks(
        &self,
        port: &PortId,
        channel: &ChannelId,
        sequences: &[u64],
    ) -> Result<Vec<PacketEvent>> {
        self.find_packet_events(Wanted::Acks, port, channel, sequences)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const SEND: &[(&str, &str)] = &[
        ("packet_data_hex", "7b7d"),
        ("packet_timeout_height", "0-0"),
        ("packet_timeout_timestamp", "1700000000000000000"),
        ("packet_sequence", "7"),
        ("packet_src_port", "transfer"),
        ("packet_src_channel", "channel-0"),
        ("packet_dst_port", "transfer"),
        ("packet_dst_channel", "channel-3"),
    ];

    #[test]
    fn parses_send_packet() {
        let ev = parse_packet_event("send_packet", &attrs(SEND), 12)
            .unwrap()
            .unwrap();
        assert_eq!(ev.packet.sequence, 7);
        assert_eq!(ev.packet.data, b"{}");
        assert_eq!(ev.packet.destination_channel.as_str(), "channel-3");
        assert_eq!(ev.height, 12);
        assert_eq!(ev.kind, PacketEventKind::Send);
    }

    #[test]
    fn malformed_packet_events_are_errors() {
        let mut bad = attrs(SEND);
        bad.retain(|(k, _)| k != "packet_sequence");
        assert!(parse_packet_event("send_packet", &bad, 1)
            .unwrap_err()
            .contains("packet_sequence"));
        let mut bad = attrs(SEND);
        bad[0].1 = "zz".into();
        assert!(parse_packet_event("send_packet", &bad, 1).is_err());
        assert!(parse_packet_event("write_acknowledgement", &attrs(SEND), 1)
            .unwrap_err()
            .contains("packet_ack_hex"));
        assert_eq!(
            parse_packet_event("transfer", &attrs(SEND), 1).unwrap(),
            None
        );
    }
}
