//! A lane: everything to submit to one destination chain, proven by one source chain.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use futures::{stream, StreamExt, TryStreamExt};

use super::Side;
use crate::chain::{ChainError, Msg, Proof};
use crate::ibc::{Height, Packet, PacketEvent, PacketEventKind};
use crate::telemetry::{metrics, PacketKind};

/// Proof queries in flight at once per flush.
const PROOF_CONCURRENCY: usize = 16;
/// Longest one flush may take before it is abandoned.
const FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);
/// Sequences remembered as done, to ignore late duplicates of events already relayed.
const DONE_MEMORY: usize = 20_000;

#[derive(Clone, Debug)]
pub struct Pending {
    pub packet: Packet,
    /// Height of the block with the event this item needs proven (send or write-ack).
    pub height: u64,
    pub ack: Vec<u8>,
    pub seen: Instant,
}

#[derive(Default, Debug)]
pub struct LaneReport {
    /// Packets sent to this lane's destination that it can no longer receive: they become timeouts
    /// on their source.
    pub timed_out: Vec<Pending>,
    pub relayed: usize,
}

pub struct Lane {
    dst: Side,
    src: Side,
    recv: BTreeMap<u64, Pending>,
    acks: BTreeMap<u64, Pending>,
    timeouts: BTreeMap<u64, Pending>,
    done: VecDeque<(PacketKind, u64)>,
    /// After a failed flush, the next one waits until then (exponential backoff).
    retry_at: Option<Instant>,
    failures: u32,
}

enum Item {
    Recv(Pending),
    Ack(Pending),
    Timeout(Pending),
}

impl Item {
    fn pending(&self) -> &Pending {
        match self {
            Item::Recv(p) | Item::Ack(p) | Item::Timeout(p) => p,
        }
    }
    fn kind(&self) -> PacketKind {
        match self {
            Item::Recv(_) => PacketKind::Recv,
            Item::Ack(_) => PacketKind::Ack,
            Item::Timeout(_) => PacketKind::Timeout,
        }
    }
}

impl Lane {
    pub fn new(dst: Side, src: Side) -> Lane {
        Lane {
            dst,
            src,
            recv: BTreeMap::new(),
            acks: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            done: VecDeque::new(),
            retry_at: None,
            failures: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.recv.is_empty() && self.acks.is_empty() && self.timeouts.is_empty()
    }

    fn is_done(&self, kind: PacketKind, seq: u64) -> bool {
        self.done.iter().any(|d| *d == (kind, seq))
    }

    fn mark_done(&mut self, kind: PacketKind, seq: u64) {
        self.done.push_back((kind, seq));
        if self.done.len() > DONE_MEMORY {
            self.done.pop_front();
        }
    }

    pub fn add_recv(&mut self, ev: PacketEvent) {
        let seq = ev.packet.sequence;
        if self.is_done(PacketKind::Recv, seq)
            || self.is_done(PacketKind::Timeout, seq)
            || self.timeouts.contains_key(&seq)
        {
            return;
        }
        self.recv.entry(seq).or_insert(Pending {
            packet: ev.packet,
            height: ev.height,
            ack: vec![],
            seen: Instant::now(),
        });
    }

    pub fn add_ack(&mut self, ev: PacketEvent) {
        let seq = ev.packet.sequence;
        let PacketEventKind::WriteAck { ack } = ev.kind else {
            return;
        };
        if self.is_done(PacketKind::Ack, seq) {
            return;
        }
        self.acks.entry(seq).or_insert(Pending {
            packet: ev.packet,
            height: ev.height,
            ack,
            seen: Instant::now(),
        });
    }

    pub fn add_timeouts(&mut self, items: Vec<Pending>) {
        for p in items {
            let seq = p.packet.sequence;
            if !self.is_done(PacketKind::Timeout, seq) && !self.is_done(PacketKind::Ack, seq) {
                self.timeouts.entry(seq).or_insert(p);
            }
        }
    }

    /// Oldest item waiting in this lane, for the backlog age gauge.
    fn oldest_age(&self) -> f64 {
        self.recv
            .values()
            .chain(self.acks.values())
            .chain(self.timeouts.values())
            .map(|p| p.seen.elapsed().as_secs_f64())
            .fold(0.0, f64::max)
    }

    fn labels(&self) -> (String, String, String) {
        (
            self.dst.id().to_string(),
            self.src.id().to_string(),
            self.dst.channel.to_string(),
        )
    }

    /// Relay what is queued. Failures leave items queued for the next flush; a flush that takes
    /// longer than [`FLUSH_LIMIT`] is abandoned (what it submitted is found delivered next time).
    pub async fn flush(&mut self) -> LaneReport {
        let mut report = LaneReport::default();
        let (dst_id, src_id, channel) = self.labels();
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return report;
        }
        let outcome = tokio::time::timeout(FLUSH_LIMIT, self.flush_inner(&mut report)).await;
        let failed = match outcome {
            Ok(Ok(())) => false,
            Ok(Err(e)) => {
                tracing::warn!(dst = %dst_id, src = %src_id, error = %e, failures = self.failures + 1, "relay attempt failed; will retry");
                true
            }
            Err(_) => {
                tracing::warn!(dst = %dst_id, src = %src_id, "relay attempt took over {}s; abandoned, will retry", FLUSH_LIMIT.as_secs());
                true
            }
        };
        if failed {
            self.failures = self.failures.saturating_add(1);
            let wait =
                std::time::Duration::from_millis(200u64.saturating_mul(1 << self.failures.min(7)));
            self.retry_at = Some(Instant::now() + wait.min(std::time::Duration::from_secs(15)));
        } else {
            self.failures = 0;
            self.retry_at = None;
        }
        let (src_chan, dst_chan) = (self.src.channel.to_string(), channel);
        // Backlog seen from the packets' source chain: recvs pending here were sent on src.
        metrics().backlog(
            &src_id,
            &dst_id,
            &src_chan,
            self.recv.len(),
            if self.recv.is_empty() {
                0.0
            } else {
                self.oldest_age()
            },
        );
        metrics().backlog(
            &dst_id,
            &src_id,
            &dst_chan,
            self.acks.len() + self.timeouts.len(),
            if self.acks.is_empty() && self.timeouts.is_empty() {
                0.0
            } else {
                self.oldest_age()
            },
        );
        report
    }

    async fn flush_inner(&mut self, report: &mut LaneReport) -> Result<(), ChainError> {
        let (dst_id, src_id, channel) = self.labels();
        // 1. Drop what the destination already has, never paying for it.
        let seqs: Vec<u64> = self.recv.keys().copied().collect();
        let unreceived = self
            .dst
            .chain
            .unreceived(&self.dst.port, &self.dst.channel, &seqs)
            .await?;
        for s in seqs.iter().filter(|s| !unreceived.contains(s)) {
            self.recv.remove(s);
            self.mark_done(PacketKind::Recv, *s);
            metrics().packet_skipped(&dst_id, &src_id, &channel, PacketKind::Recv);
        }
        let ack_seqs: Vec<u64> = self
            .acks
            .keys()
            .chain(self.timeouts.keys())
            .copied()
            .collect();
        let open = self
            .dst
            .chain
            .unreceived_acks(&self.dst.port, &self.dst.channel, &ack_seqs)
            .await?;
        for s in ack_seqs.iter().filter(|s| !open.contains(s)) {
            if self.acks.remove(s).is_some() {
                self.mark_done(PacketKind::Ack, *s);
                metrics().packet_skipped(&dst_id, &src_id, &channel, PacketKind::Ack);
            }
            if self.timeouts.remove(s).is_some() {
                self.mark_done(PacketKind::Timeout, *s);
                metrics().packet_skipped(&dst_id, &src_id, &channel, PacketKind::Timeout);
            }
        }
        // 2. Packets the destination can no longer receive become timeouts on their source.
        let (dst_h, dst_time) = self.dst.chain.latest().await?;
        let expired: Vec<u64> = self
            .recv
            .values()
            .filter(|p| p.packet.timed_out(dst_h, dst_time))
            .map(|p| p.packet.sequence)
            .collect();
        for s in expired {
            if let Some(mut p) = self.recv.remove(&s) {
                tracing::info!(
                    sequence = s,
                    "packet timed out on {dst_id}; timing it out on {src_id}"
                );
                // Its height was the send height on this lane's source; a timeout is proven by the
                // other chain at a fresh height instead, so it needs no event height.
                p.height = 0;
                report.timed_out.push(p);
            }
        }
        if self.is_empty() {
            return Ok(());
        }
        // 3. One proof height for the whole batch, reusing the client's latest consensus state when
        //    it already covers every event.
        let max_chunk = self.dst.chain.max_msgs_per_tx().max(2);
        let mut items: Vec<Item> = Vec::new();
        items.extend(self.recv.values().cloned().map(Item::Recv));
        items.extend(self.acks.values().cloned().map(Item::Ack));
        items.extend(self.timeouts.values().cloned().map(Item::Timeout));
        // Bound one flush so live traffic is not starved by a huge backlog.
        items.truncate(max_chunk * 8);
        let need = items.iter().map(|i| i.pending().height).max().unwrap_or(0);
        tracing::debug!(dst = %dst_id, items = items.len(), need, "flush: preparing client");
        let has_timeouts = items.iter().any(|i| matches!(i, Item::Timeout(_)));
        let (updates, at) = self.prepare_client(need, has_timeouts).await?;
        tracing::debug!(dst = %dst_id, updates = updates.len(), %at, "flush: proving");
        // 4. Proofs, concurrently.
        let src = self.src.clone();
        let proofs: Vec<(Item, Proof)> = stream::iter(items.into_iter().map(|item| {
            let src = src.clone();
            async move {
                let p = &item.pending().packet;
                let proof = match &item {
                    Item::Recv(_) => {
                        src.chain
                            .prove_commitment(&p.source_port, &p.source_channel, p.sequence, at)
                            .await
                    }
                    Item::Ack(_) => {
                        src.chain
                            .prove_ack(&p.destination_port, &p.destination_channel, p.sequence, at)
                            .await
                    }
                    Item::Timeout(_) => {
                        src.chain
                            .prove_non_receipt(
                                &p.destination_port,
                                &p.destination_channel,
                                p.sequence,
                                at,
                            )
                            .await
                    }
                }?;
                Ok::<_, ChainError>((item, proof))
            }
        }))
        .buffered(PROOF_CONCURRENCY)
        .try_collect()
        .await?;
        // 5. Messages, in chunks; the first carries the client update and is confirmed before the
        //    others are broadcast, since their proofs depend on it. The rest are pipelined.
        let mut msgs: Vec<(Item, Msg)> = proofs
            .into_iter()
            .map(|(item, proof)| {
                let p = &item.pending().packet;
                let m = match &item {
                    Item::Recv(_) => self.dst.chain.recv_msg(p, proof),
                    Item::Ack(pd) => self.dst.chain.ack_msg(p, &pd.ack, proof),
                    Item::Timeout(_) => self.dst.chain.timeout_msg(p, proof),
                };
                (item, m)
            })
            .collect();
        let max_bytes = self.dst.chain.max_tx_bytes();
        let mut chunks: Vec<(Vec<Msg>, Vec<Item>)> = Vec::new();
        // Later chunks depend on the update in the first one; they are simulated behind it.
        let prelude = updates.clone();
        let mut cur: (Vec<Msg>, Vec<Item>) = (updates, Vec::new());
        let mut bytes: usize = cur.0.iter().map(|m| m.value.len() + 64).sum::<usize>() + 1024;
        for (item, m) in msgs.drain(..) {
            let sz = m.value.len() + 64;
            if !cur.1.is_empty() && (cur.0.len() >= max_chunk || bytes + sz > max_bytes) {
                chunks.push(std::mem::take(&mut cur));
                bytes = 1024;
            }
            bytes += sz;
            cur.0.push(m);
            cur.1.push(item);
        }
        if !cur.0.is_empty() {
            chunks.push(cur);
        }
        tracing::debug!(dst = %dst_id, chunks = chunks.len(), "flush: submitting");
        // Every chunk goes into the mempool back to back (one signer, consecutive sequences, so
        // blocks keep their order); then each is confirmed. The first carries the client update.
        let mut pending = Vec::new();
        for (i, (msgs, items)) in chunks.into_iter().enumerate() {
            let n = items.len();
            let after: &[Msg] = if i == 0 { &[] } else { &prelude };
            match self.dst.chain.broadcast(msgs, n, after).await {
                Ok(tx) => pending.push((tx, items)),
                Err(e) if i == 0 => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "broadcast failed; items stay queued");
                    break;
                }
            }
        }
        for (tx, items) in pending {
            match self.dst.chain.confirm(tx).await {
                Ok(out) => {
                    tracing::info!(tx = %out.hash, height = out.height, packets = items.len(), "relayed batch to {dst_id}");
                    self.finish(items, report);
                }
                Err(e) => tracing::warn!(error = %e, "batch failed; items stay queued"),
            }
        }
        Ok(())
    }

    fn finish(&mut self, items: Vec<Item>, report: &mut LaneReport) {
        let (dst_id, src_id, channel) = self.labels();
        for item in items {
            let kind = item.kind();
            let p = item.pending();
            let seq = p.packet.sequence;
            let secs = p.seen.elapsed().as_secs_f64();
            match kind {
                PacketKind::Recv => {
                    self.recv.remove(&seq);
                    metrics().recv_latency(&src_id, &dst_id, &self.src.channel.to_string(), secs);
                }
                PacketKind::Ack => {
                    self.acks.remove(&seq);
                    metrics().ack_latency(&dst_id, &src_id, &channel, secs);
                }
                PacketKind::Timeout => {
                    self.timeouts.remove(&seq);
                }
            }
            self.mark_done(kind, seq);
            metrics().packet_relayed(&dst_id, &src_id, &channel, kind);
            report.relayed += 1;
        }
    }

    /// Client-update messages (maybe none) and the proof height to use: the destination's client of
    /// the source must hold a consensus state above `need` (and, for timeouts, a recent one).
    async fn prepare_client(
        &self,
        need: u64,
        fresh: bool,
    ) -> Result<(Vec<Msg>, Height), ChainError> {
        let (dst_id, client) = (self.dst.id().to_string(), self.dst.client.clone());
        let trusted = self.dst.chain.client_latest_height(&client).await?;
        if !fresh && trusted.revision_height > need {
            metrics().client_update(&dst_id, client.as_str(), false);
            return Ok((vec![], trusted));
        }
        let mut target = self.src.chain.latest().await?.0;
        let waited = Instant::now();
        while target.revision_height <= need {
            if waited.elapsed() > std::time::Duration::from_secs(30) {
                return Err(ChainError::Other(format!(
                    "{} did not pass height {need} in 30s",
                    self.src.id()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            target = self.src.chain.latest().await?.0;
        }
        if trusted >= target {
            metrics().client_update(&dst_id, client.as_str(), false);
            return Ok((vec![], trusted));
        }
        let anchor = self.dst.chain.consensus_anchor(&client, trusted).await?;
        let headers = self
            .src
            .chain
            .client_headers(trusted, target, &anchor)
            .await?;
        metrics().client_update(&dst_id, client.as_str(), true);
        Ok((
            headers
                .into_iter()
                .map(|h| self.dst.chain.update_client_msg(&client, h))
                .collect(),
            target,
        ))
    }
}
