//! A lane: everything to submit to one destination chain, proven by one source chain.
//!
//! Quarantine: when the destination refuses a batch and names the packet messages at fault
//! (`ChainError::PacketsRejected`, `GasAboveCap` or `Reverted` with culprits), those packets are
//! held back — logged with their tracking id, counted, listed at `/v1/quarantine` — and the rest of
//! the batch is sent at once without them. A quarantined packet is tried again, alone in its own
//! transaction, after a backoff that doubles each time it fails (so it is delivered once it becomes
//! deliverable), and dropped as soon as the chain says it was delivered. One bad packet never stops
//! the lane, and a packet that always fails in simulation is never paid for.

mod chunk;
mod client;
mod fresh;
mod inflight;
mod intake;
mod prove;
mod prune;
mod publish;
mod quarantine;
mod ready;
mod settle;

pub use settle::Settled;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Side;
use crate::chain::{ChainError, Msg, Priority};
use crate::ibc::Packet;
use crate::telemetry::PacketKind;
use chunk::{blamed, take_chunk, Chunk};

/// Chunks (txs of the chain's `max_msgs_per_tx`) one submit may send, so live traffic is not
/// starved by a huge backlog.
const FLUSH_CHUNKS: usize = 8;
/// Submits' worth of items that may await confirmation at once: the next batch is built and sent
/// while the last ones confirm, within this bound.
const MAX_IN_FLIGHT_SUBMITS: usize = 3;
/// Longest one submit may take before it is abandoned.
const FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);
/// Sequences remembered as done, to ignore late duplicates of events already relayed.
const DONE_MEMORY: usize = 20_000;
/// Times one submit re-plans its batches after the destination named packets at fault.
const MAX_REPLANS: usize = 8;
/// First wait before a quarantined packet is tried again, and the longest (it doubles between).
const QUARANTINE_FIRST_RETRY: Duration = Duration::from_secs(10);
const QUARANTINE_MAX_RETRY: Duration = Duration::from_secs(600);

#[derive(Clone, Debug)]
pub struct Pending {
    pub packet: Packet,
    /// Height of the block with the event this item needs proven (send or write-ack).
    pub height: u64,
    pub ack: Vec<u8>,
    pub seen: Instant,
    /// Learnt of within a few blocks of the source's newest: live traffic, sent before a backlog
    /// (see `fresh.rs`).
    pub fresh: bool,
}

#[derive(Default, Debug)]
pub struct LaneReport {
    /// Packets sent to this lane's destination that it can no longer receive: they become timeouts
    /// on their source.
    pub timed_out: Vec<Pending>,
    pub relayed: usize,
    /// The submit ended early, between its txs, because fresh items wait: submit again at once.
    pub yielded: bool,
}

/// A packet message held back because it made its batch fail.
#[derive(Clone, Debug)]
struct Quarantined {
    reason: String,
    since: SystemTime,
    retry_at: Instant,
    /// Times found at fault; of those, times it cost a mined, reverted transaction.
    attempts: u32,
    paid: u32,
}

pub struct Lane {
    path: String,
    dst: Side,
    src: Side,
    recv: BTreeMap<u64, Pending>,
    acks: BTreeMap<u64, Pending>,
    timeouts: BTreeMap<u64, Pending>,
    done: VecDeque<(PacketKind, u64)>,
    quarantine: BTreeMap<(PacketKind, u64), Quarantined>,
    quarantine_first: Duration,
    quarantine_max: Duration,
    /// After a failure, the next submit waits until then (exponential backoff).
    retry_at: Option<Instant>,
    /// The highest proof height the source was seen to serve (its latest height, last read).
    src_provable: u64,
    /// The source's latest height as last read, the target of the next client update.
    src_latest: Option<crate::ibc::Height>,
    /// The source's newest block announced by its event stream (0: none yet).
    src_tip: u64,
    /// Nothing queued was provable yet: the next submit looks again from then on, and what
    /// arrives meanwhile joins the same batch.
    poll_at: Option<Instant>,
    failures: u32,
    /// When this lane last warned that someone else delivers its packets.
    warned_other_relayer: Option<Instant>,
    /// Messages per transaction after a batch needed more than the gas cap as a whole (halved
    /// each time; doubles back after each tx that settles).
    chunk_cap: Option<usize>,
    /// Txs sent (or restored from the store, or not seen final in time) whose outcome is still
    /// to be looked up, with how many lookups they have had: handed out by
    /// [`Lane::confirmations`].
    awaiting: Vec<settle::Awaiting>,
    /// Items carried by txs whose outcome is not known yet: never batched, pruned or counted again
    /// until their tx settles, so the next batch can go out while the last one confirms.
    in_flight: BTreeSet<(PacketKind, u64)>,
    /// Where the txs in flight and the quarantine are recorded, to survive a crash.
    store: Option<std::sync::Arc<dyn crate::store::Store>>,
    /// Quarantine entries restored from the store whose packets are not queued again yet (clearing
    /// re-finds them); each joins the quarantine when its packet does, and is dropped unseen
    /// after [`PARKED_GRACE`].
    parked: BTreeMap<(PacketKind, u64), (Quarantined, Instant)>,
    /// With a shared store: the lease checked before every broadcast.
    gate: Option<crate::lease::LaneGate>,
    /// Packets sent in this lane's txs as backlog (not fresh), not yet handed to the other lane,
    /// which relays their acks (`intake.rs`).
    backlog_sent: Vec<u64>,
    /// Packets the other lane delivered as backlog: their acks are backlog too (`intake.rs`).
    backlog_recvs: BTreeSet<u64>,
    /// The client update sent in a tx whose outcome is not known yet (`client.rs`).
    update_in_flight: Option<client::UpdateInFlight>,
}

/// How long a restored quarantine entry waits for its packet to be queued again.
const PARKED_GRACE: Duration = Duration::from_secs(600);

/// Lookups of an unconfirmed tx before the lane gives up on it (each waits the chain's
/// `tx_confirm_timeout`); its packets then go again, unless found delivered.
const MAX_LOOKUPS: u32 = 3;

#[derive(Clone)]
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
    fn key(&self) -> (PacketKind, u64) {
        (self.kind(), self.pending().packet.sequence)
    }
}

/// Seconds since the Unix epoch, and RFC 3339.
fn wall(t: SystemTime) -> (u64, String) {
    (
        t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
        humantime::format_rfc3339_seconds(t).to_string(),
    )
}

impl Lane {
    /// The lane of path `path` that submits to `dst` what `src` proves.
    pub fn new(path: &str, dst: Side, src: Side) -> Lane {
        let lane = Lane {
            path: path.to_string(),
            dst,
            src,
            recv: BTreeMap::new(),
            acks: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            done: VecDeque::new(),
            quarantine: BTreeMap::new(),
            quarantine_first: QUARANTINE_FIRST_RETRY,
            quarantine_max: QUARANTINE_MAX_RETRY,
            retry_at: None,
            src_provable: 0,
            src_latest: None,
            src_tip: 0,
            poll_at: None,
            failures: 0,
            chunk_cap: None,
            awaiting: Vec::new(),
            in_flight: BTreeSet::new(),
            store: None,
            parked: BTreeMap::new(),
            warned_other_relayer: None,
            gate: None,
            backlog_sent: Vec::new(),
            backlog_recvs: BTreeSet::new(),
            update_in_flight: None,
        };
        lane.publish_quarantine();
        lane.publish_backlog();
        lane
    }

    /// Broadcast only while `gate`'s lease is held (checked in the store before each broadcast).
    pub fn set_gate(&mut self, gate: crate::lease::LaneGate) {
        self.gate = Some(gate);
    }

    /// How long a quarantined packet waits before it is tried again: `first`, doubling up to
    /// `max`.
    pub fn set_quarantine_backoff(&mut self, first: Duration, max: Duration) {
        self.quarantine_first = first;
        self.quarantine_max = max.max(first);
    }

    /// `src->dst`, as the quarantine list names the lane.
    fn direction(&self) -> String {
        format!("{}->{}", self.src.id(), self.dst.id())
    }

    /// A packet's tracking id in logs and the quarantine list: `SOURCE_CHAIN:PORT/CHANNEL/SEQ`.
    /// A receive's packet was sent on this lane's source; an ack's or timeout's on its
    /// destination.
    fn packet_id(&self, kind: PacketKind, p: &Packet) -> String {
        let chain = match kind {
            PacketKind::Recv => self.src.id(),
            PacketKind::Ack | PacketKind::Timeout => self.dst.id(),
        };
        format!(
            "{chain}:{}/{}/{}",
            p.source_port, p.source_channel, p.sequence
        )
    }

    fn queued(&self, kind: PacketKind, seq: u64) -> Option<&Pending> {
        match kind {
            PacketKind::Recv => self.recv.get(&seq),
            PacketKind::Ack => self.acks.get(&seq),
            PacketKind::Timeout => self.timeouts.get(&seq),
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

    /// Packets this lane queued were delivered by someone else: another relayer works this path.
    /// Said at most every ten minutes.
    fn warn_other_relayer(&mut self, packets: usize) {
        if packets == 0
            || self
                .warned_other_relayer
                .is_some_and(|t| t.elapsed() < Duration::from_secs(600))
        {
            return;
        }
        self.warned_other_relayer = Some(Instant::now());
        tracing::warn!(
            dst = %self.dst.id(),
            packets,
            "packets found already delivered by another relayer on this path (skipped, not paid for); if it is a second Ferry, give each its own paths: two on one path race for the same packets"
        );
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

    /// Whether a new batch may go out now: items are ready, no backoff is running, and fewer
    /// than [`MAX_IN_FLIGHT_SUBMITS`] submits' worth of items await confirmation.
    pub fn wants_submit(&self) -> bool {
        let now = Instant::now();
        let cap = self.dst.chain.max_msgs_per_tx().max(2) * FLUSH_CHUNKS * MAX_IN_FLIGHT_SUBMITS;
        self.retry_at.is_none_or(|t| now >= t)
            && self.poll_at.is_none_or(|t| now >= t)
            && self.in_flight.len() < cap
            && self.any_ready(now)
    }

    /// Send what is queued and ready, without waiting for it to confirm: the txs sent are
    /// handed out by [`Lane::confirmations`] and their items stay out of later batches until
    /// [`Lane::settled`] learns their outcome. Failures leave items queued for a later submit
    /// (after a backoff); one that takes longer than [`FLUSH_LIMIT`] is abandoned (what it sent
    /// is still looked up).
    pub async fn submit(&mut self) -> LaneReport {
        self.submit_reading(&mut |_: &mut Lane| {}).await
    }

    /// [`Lane::submit`], calling `inbox` between its txs to take what arrived meanwhile; once
    /// that brings fresh items the source can prove, the submit ends after the tx under way
    /// (`yielded` in the report) so the next one carries them.
    pub async fn submit_reading(
        &mut self,
        inbox: &mut (dyn FnMut(&mut Lane) + Send),
    ) -> LaneReport {
        let mut report = LaneReport::default();
        let (dst_id, src_id, _) = self.labels();
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return report;
        }
        let sent_before = self.awaiting.len();
        let outcome =
            tokio::time::timeout(FLUSH_LIMIT, self.submit_inner(&mut report, inbox)).await;
        match outcome {
            Ok(Ok(())) => {
                if self.awaiting.len() == sent_before {
                    // Nothing went out (all found delivered, say): nothing to wait for either.
                    self.succeeded();
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(dst = %dst_id, src = %src_id, error = %e, failures = self.failures + 1, "relay attempt failed; will retry");
                self.failed();
            }
            Err(_) => {
                tracing::warn!(dst = %dst_id, src = %src_id, "relay attempt took over {}s; abandoned, will retry", FLUSH_LIMIT.as_secs());
                self.failed();
            }
        }
        self.tidy();
        report
    }

    /// Entries whose item left the lane (delivered, moved) leave the quarantine; the boards are
    /// published.
    fn tidy(&mut self) {
        let stale: Vec<_> = self
            .quarantine
            .keys()
            .filter(|(k, s)| self.queued(*k, *s).is_none())
            .copied()
            .collect();
        for key in stale {
            self.release(key, "no longer queued");
        }
        self.publish_quarantine();
        self.publish_backlog();
    }

    async fn submit_inner(
        &mut self,
        report: &mut LaneReport,
        inbox: &mut (dyn FnMut(&mut Lane) + Send),
    ) -> Result<(), ChainError> {
        self.adopt_parked();
        let dst_id = self.dst.id().to_string();
        //    Nothing to do while everything queued waits out its quarantine.
        if !self.any_ready(Instant::now()) {
            return Ok(());
        }
        //    Only what the source can prove now goes out; if nothing can, the batch waits for the
        //    source's next height (and gathers what arrives meanwhile) instead of holding the lane.
        self.poll_at = None;
        if !self.refresh_provable(Instant::now()).await? {
            self.poll_at = Some(Instant::now() + client::PROVABLE_POLL);
            return Ok(());
        }
        self.prune(report).await?;
        let now = Instant::now();
        if !self.any_ready(now) {
            return Ok(());
        }
        // 3. One proof height for the whole batch, reusing the client's latest consensus state when
        //    it already covers every event. Quarantined packets whose retry is due go last, each in
        //    a transaction of its own, so they cannot take the others down with them.
        let max_chunk = self
            .dst
            .chain
            .max_msgs_per_tx()
            .min(self.chunk_cap.unwrap_or(usize::MAX))
            .max(2);
        let all = self
            .recv
            .values()
            .cloned()
            .map(Item::Recv)
            .chain(self.acks.values().cloned().map(Item::Ack))
            .chain(self.timeouts.values().cloned().map(Item::Timeout));
        let provable = self.src_provable;
        let (mut items, mut retries): (Vec<Item>, Vec<Item>) = all
            .filter(|i| {
                self.is_ready(i.key(), now)
                    && self.src.chain.proof_height_for(i.pending().height) <= provable
            })
            .partition(|i| !self.quarantine.contains_key(&i.key()));
        // Bound one submit so live traffic is not starved by a huge backlog, and put live items
        // first: transfers sent during the clearing of a backlog go in the next tx, not behind
        // every older sequence.
        fresh::fresh_first(&mut items, max_chunk);
        items.truncate(max_chunk * FLUSH_CHUNKS);
        retries.truncate(max_chunk);
        let mut solo = items.len();
        items.extend(retries);
        let need = items
            .iter()
            .map(|i| self.src.chain.proof_height_for(i.pending().height))
            .max()
            .unwrap_or(0);
        tracing::debug!(dst = %dst_id, items = items.len(), need, "submit: preparing client");
        let has_timeouts = items.iter().any(|i| matches!(i, Item::Timeout(_)));
        let client::ClientPlan {
            updates,
            at,
            behind,
        } = self.prepare_client(need, has_timeouts).await?;
        // Later chunks are simulated behind this submit's update, or behind the one in flight.
        let later_behind: &[Msg] = if updates.is_empty() {
            &behind
        } else {
            &updates
        };
        // The update rides in the first chunk and takes a message's room there: what would spill
        // past the last full chunk waits for the next submit instead of paying for a tx of its own.
        let room = (max_chunk * FLUSH_CHUNKS).saturating_sub(updates.len());
        if solo > room {
            items.drain(room..solo);
            solo = room;
        }
        tracing::debug!(dst = %dst_id, updates = updates.len(), %at, "submit: proving");
        // 4. Proofs, all at `at`, a tx's worth at a time just before it goes (the source may
        //    prove many at once: one request, or one attestation).
        let mut unproven: VecDeque<(Item, bool)> = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| (item, i >= solo))
            .collect();
        let planned: std::collections::HashSet<(PacketKind, u64)> =
            unproven.iter().map(|(i, _)| i.key()).collect();
        // 5. Messages, in chunks; the first carries the client update, and later ones are
        //    simulated behind it (they prove against it) and pipelined: every chunk goes into the
        //    mempool back to back (one signer, consecutive sequences, so blocks keep their order),
        //    then each is confirmed.
        let mut rest: VecDeque<(Item, Msg, bool)> = VecDeque::new();
        let max_bytes = self.dst.chain.max_tx_bytes();
        let mut chunk_max = max_chunk;
        let mut sent = 0;
        let mut replans = 0;
        let mut later_broadcast_failure = None;
        tracing::debug!(dst = %dst_id, messages = unproven.len(), "submit: broadcasting");
        while !rest.is_empty() || !unproven.is_empty() {
            // The update rides with the first chunk that goes out.
            let first = sent == 0;
            if rest.len() < chunk_max && !unproven.is_empty() {
                let group: Vec<(Item, bool)> =
                    unproven.drain(..chunk_max.min(unproven.len())).collect();
                match self.prove_items(group, at).await {
                    Ok(proven) => rest.extend(proven),
                    Err(e) if first => return Err(e),
                    Err(e) => {
                        // What went out is looked up as usual; the rest stays queued.
                        later_broadcast_failure = Some(e);
                        break;
                    }
                }
            }
            let chunk = take_chunk(
                &mut rest,
                if first { &updates } else { &[] },
                chunk_max,
                max_bytes,
            );
            let after: &[Msg] = if first { &behind } else { later_behind };
            let n = chunk.items.len();
            if self.gate.as_ref().is_some_and(|g| !g.fence()) {
                // Another instance owns the lane now (or the store cannot say): what is queued
                // stays queued, and the lane stops once the lease manager sees it too.
                break;
            }
            // A tx with live transfers waits for the signer ahead of other lanes' backlog txs.
            let live = chunk.items.iter().any(|(i, _)| i.pending().fresh);
            let priority = Priority::live_if(live);
            match self
                .dst
                .chain
                .broadcast(chunk.msgs.clone(), n, after, priority)
                .await
            {
                Ok(tx) => {
                    // Where a transfer's time goes before its tx: the newest item's wait in the lane.
                    let newest = chunk
                        .items
                        .iter()
                        .map(|(i, _)| i.pending())
                        .max_by_key(|p| p.seen);
                    tracing::debug!(
                        dst = %dst_id, channel = %self.dst.channel, tx = %tx.hash, items = n,
                        newest_seq = newest.map(|p| p.packet.sequence),
                        newest_wait_ms = newest.map(|p| p.seen.elapsed().as_millis() as u64),
                        "batch tx in the mempool"
                    );
                    if first && !updates.is_empty() {
                        self.update_sent(&tx, at, &updates);
                    }
                    self.note_backlog_sent(&chunk.items);
                    sent += 1;
                    self.await_tx(tx, chunk);
                    if !rest.is_empty() || !unproven.is_empty() {
                        inbox(self);
                        if self.fresh_waiting(&planned) {
                            tracing::debug!(dst = %dst_id, left = rest.len() + unproven.len(), "submit ends early: live transfers wait");
                            report.yielded = true;
                            break;
                        }
                    }
                }
                Err(e) => {
                    let blamed = blamed(&e, chunk.head, n);
                    let whole_too_big = matches!(e, ChainError::GasAboveCap { .. })
                        && blamed.as_ref().is_some_and(|b| b.is_empty())
                        && n > 1;
                    if replans < MAX_REPLANS && blamed.as_ref().is_some_and(|b| !b.is_empty()) {
                        // Hold back the packets at fault; the others go at once, re-batched.
                        replans += 1;
                        let blamed = blamed.unwrap_or_default();
                        let mut keep = Vec::new();
                        for (i, (item, m)) in chunk.items.into_iter().enumerate() {
                            match blamed.iter().find(|(j, _)| *j == i) {
                                Some((_, reason)) => self.quarantine_item(&item, reason, false),
                                None => keep.push((item, m, false)),
                            }
                        }
                        for x in keep.into_iter().rev() {
                            rest.push_front(x);
                        }
                        tracing::debug!(dst = %dst_id, "batch refused; re-planning without the packets at fault");
                        continue;
                    }
                    if replans < MAX_REPLANS && whole_too_big {
                        // No packet is too large on its own: smaller transactions fit.
                        replans += 1;
                        chunk_max = (n / 2).max(1) + chunk.head;
                        self.chunk_cap = Some(chunk_max);
                        tracing::warn!(dst = %dst_id, messages = n, now = chunk_max, "batch above max_gas; splitting it");
                        for (item, m) in chunk.items.into_iter().rev() {
                            rest.push_front((item, m, false));
                        }
                        continue;
                    }
                    if first {
                        return Err(e);
                    }
                    // The chunks already in the mempool are looked up as usual; the lane
                    // backs off.
                    tracing::warn!(error = %e, "broadcast failed; items stay queued");
                    later_broadcast_failure = Some(e);
                    break;
                }
            }
        }
        match later_broadcast_failure {
            // The chunks already in the mempool are looked up as usual; the lane backs off.
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
