//! The packet router: one worker per path, generic over the chain capability traits. It never names a
//! chain family.
//!
//! Each path has two lanes, one per destination chain, each its own task. A lane collects what must be submitted to its
//! destination — receives of packets from the other chain, acks of packets the destination sent, and
//! timeouts of those — and relays them in batches behind a single client update, since all of them are
//! proven by the same counterparty chain at the same height.

#[cfg(test)]
mod backlog_tests;
mod clear;
#[cfg(test)]
pub(crate) mod fake;
mod hub;
mod lane;
#[cfg(test)]
mod pipeline_tests;
mod scanned;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::chain::{EventSink, Feed, Heights, RelayChain};
use crate::config::ChannelFilter;
use crate::ibc::{ChannelId, ClientId, PacketEvent, PacketEventKind, PortId};
pub use lane::{Lane, LaneReport};

/// One end of a path: the chain, the client it hosts of the other chain, and its channel end.
#[derive(Clone)]
pub struct Side {
    pub chain: Arc<dyn RelayChain>,
    pub client: ClientId,
    pub port: PortId,
    pub channel: ChannelId,
}

impl Side {
    pub fn id(&self) -> &str {
        Heights::id(&*self.chain).as_str()
    }
}

#[derive(Clone)]
pub struct PathWorker {
    pub name: String,
    pub a: Side,
    pub b: Side,
    pub clear_interval: Duration,
    pub filter: ChannelFilter,
    /// Where lanes record their txs in flight (none: kept in memory only).
    pub store: Option<Arc<dyn crate::store::Store>>,
    /// With a shared store: each lane relays only while this instance holds its lease.
    pub leases: Option<Arc<crate::lease::LeaseManager>>,
}

impl PathWorker {
    /// Relay until `shutdown` turns true; in-flight transactions are confirmed before returning.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let span =
            tracing::info_span!("path", path = %self.name, a = %self.a.id(), b = %self.b.id());
        self.relay(shutdown).instrument(span).await
    }

    async fn relay(self, shutdown: watch::Receiver<bool>) {
        if !self.filter.permits(&self.a.channel) || !self.filter.permits(&self.b.channel) {
            tracing::warn!("channel filtered out by config; this path relays nothing");
            // Idle until shutdown: a worker that returns early is restarted as a crashed one.
            let mut shutdown = shutdown;
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
            return;
        }
        let (tx_a, mut rx_a) = EventSink::channel(100_000);
        let (tx_b, mut rx_b) = EventSink::channel(100_000);
        // Subscriptions start after the last scanned height the store has, when it is recent, or
        // else at the chain's current height: never guessed (an unreachable chain is asked again,
        // with backoff), since a wrong start would re-walk or miss blocks.
        let Some(start_a) = self.start_height(&self.a, shutdown.clone()).await else {
            return;
        };
        let Some(start_b) = self.start_height(&self.b, shutdown.clone()).await else {
            return;
        };
        let (marks_a, keep_a) = self.keep_scanned(&self.a, start_a);
        let (marks_b, keep_b) = self.keep_scanned(&self.b, start_b);
        // One subscription per chain serves every path on it (see `hub`); it ends with the last
        // worker's receiver.
        hub::subscribe(self.a.chain.clone(), start_a, tx_a.clone());
        hub::subscribe(self.b.chain.clone(), start_b, tx_b.clone());
        // With leases, a lane that becomes owned asks for a clearing round at once: what the
        // last owner left is found without waiting for the interval.
        let gates = self.leases.as_ref().map(|m| {
            (
                m.gate(&self.name, self.a.id()),
                m.gate(&self.name, self.b.id()),
            )
        });
        if gates.is_none() {
            // Alone (no shared store), this instance relays every lane of the path.
            for dst in [self.a.id(), self.b.id()] {
                crate::telemetry::metrics().lane_owned(&self.name, dst, true);
            }
        }
        // Each direction is its own task: a destination that stalls (a slow confirmation, an RPC
        // in backoff) never delays the other direction. Timeouts found by one lane go to the other.
        let (in_a, lane_rx_a) = mpsc::unbounded_channel::<LaneInput>();
        let (in_b, lane_rx_b) = mpsc::unbounded_channel::<LaneInput>();
        let wake = Arc::new(tokio::sync::Notify::new());
        crate::telemetry::live().set_clear(&self.name, wake.clone());
        let clearer = tokio::spawn(clear::run(
            self.a.clone(),
            self.b.clone(),
            clear::Feeds {
                seen_on_a: tx_a,
                seen_on_b: tx_b,
                lane_to_a: in_a.clone(),
                lane_to_b: in_b.clone(),
            },
            self.clear_interval,
            clear::Trigger {
                wake: wake.clone(),
                gates: gates
                    .iter()
                    .flat_map(|(a, b)| [a.clone(), b.clone()])
                    .collect(),
            },
            shutdown.clone(),
        ));

        let spec = |dst: &Side, src: &Side, gate: Option<crate::lease::LaneGate>| LaneSpec {
            path: self.name.clone(),
            dst: dst.clone(),
            src: src.clone(),
            store: self.store.clone(),
            gate,
            wake: wake.clone(),
        };
        let (gate_a, gate_b) = match gates {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        let to_b = spec(&self.b, &self.a, gate_b);
        let to_a = spec(&self.a, &self.b, gate_a);
        let mut lane_b = tokio::spawn(
            run_lane(to_b, lane_rx_b, in_a.clone(), shutdown.clone()).in_current_span(),
        );
        let mut lane_a = tokio::spawn(
            run_lane(to_a, lane_rx_a, in_b.clone(), shutdown.clone()).in_current_span(),
        );
        let mut shutdown_rx = shutdown.clone();
        let stopped = loop {
            tokio::select! {
                biased;
                _ = shutdown_rx.changed() => if *shutdown_rx.borrow() { break None },
                // A lane ends only at shutdown; one that panicked takes the worker down with it, so
                // the supervisor restarts the whole path.
                r = &mut lane_a => break Some((r, Ended::ToA)),
                r = &mut lane_b => break Some((r, Ended::ToB)),
                Some(f) = rx_a.recv() => feed(f, &self.a, &in_b, &marks_a, &wake),
                Some(f) = rx_b.recv() => feed(f, &self.b, &in_a, &marks_b, &wake),
            }
        };
        clearer.abort();
        self.save_scanned(&self.a, &marks_a, keep_a);
        self.save_scanned(&self.b, &marks_b, keep_b);
        let results = match stopped {
            // The lanes see the same shutdown and finish what they have in flight first. One
            // that saw it first may have ended before this loop did: the other still finishes.
            None => vec![lane_a.await, lane_b.await],
            Some((r, Ended::ToA)) if *shutdown_rx.borrow() => vec![r, lane_b.await],
            Some((r, Ended::ToB)) if *shutdown_rx.borrow() => vec![r, lane_a.await],
            Some((r, _)) => {
                lane_a.abort();
                lane_b.abort();
                vec![r]
            }
        };
        for r in results {
            if let Err(e) = r {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
        tracing::info!("path worker stopped");
    }
}

impl PathWorker {
    /// Where `side`'s subscription starts: after the stored scanned height when it is recent, or
    /// else the chain's latest height, asked until it answers; `None` at shutdown.
    async fn start_height(&self, side: &Side, shutdown: watch::Receiver<bool>) -> Option<u64> {
        let latest = latest_height(side, shutdown).await?;
        let stored = match &self.store {
            Some(store) => store.scanned(&self.name, side.id()).unwrap_or_else(|e| {
                tracing::warn!(chain = %side.id(), error = %e, "scanned height unreadable; starting at the latest height");
                None
            }),
            None => None,
        };
        let (from, why) = scanned::resume(stored, latest);
        match why {
            scanned::Resume::Latest => {}
            scanned::Resume::Stored { scanned } => {
                tracing::info!(chain = %side.id(), scanned, from, latest, "resuming the subscription after the last scanned height")
            }
            scanned::Resume::TooOld { scanned } => {
                tracing::warn!(chain = %side.id(), scanned, latest, max_gap = scanned::MAX_RESUME_GAP, "last scanned height too far behind; subscribing at the latest height (clearing finds what the gap held)")
            }
            scanned::Resume::Ahead { scanned } => {
                tracing::warn!(chain = %side.id(), scanned, latest, "stored scanned height is above the chain's latest (was the chain reset?); subscribing at the latest height")
            }
        }
        Some(from)
    }

    /// The sender the feed moves `side`'s scanned mark with, and the task that stores it.
    fn keep_scanned(
        &self,
        side: &Side,
        start: u64,
    ) -> (watch::Sender<u64>, Option<tokio::task::JoinHandle<()>>) {
        let (tx, rx) = watch::channel(start.saturating_sub(1));
        let task = self.store.clone().map(|store| {
            tokio::spawn(scanned::keep(
                store,
                self.name.clone(),
                side.id().to_string(),
                rx,
                scanned::SAVE_EVERY,
            ))
        });
        (tx, task)
    }

    /// At stop: the newest mark is written now, not at the next interval.
    fn save_scanned(
        &self,
        side: &Side,
        marks: &watch::Sender<u64>,
        task: Option<tokio::task::JoinHandle<()>>,
    ) {
        if let Some(task) = task {
            task.abort();
        }
        if let Some(store) = &self.store {
            let mark = *marks.borrow();
            if let Err(e) = store.put_scanned(&self.name, side.id(), mark) {
                tracing::warn!(chain = %side.id(), height = mark, error = %e, "could not store the scanned height");
            }
        }
    }
}

/// `side`'s latest height, asked until it answers; `None` at shutdown.
async fn latest_height(side: &Side, mut shutdown: watch::Receiver<bool>) -> Option<u64> {
    let mut wait = Duration::from_millis(500);
    loop {
        match side.chain.latest().await {
            Ok((h, _)) => return Some(h.revision_height),
            Err(e) => {
                tracing::warn!(chain = %side.id(), error = %e, retry_in_ms = wait.as_millis() as u64, "latest height unknown; asking again before subscribing");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return None },
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// What a lane is handed: an event to act on, or packets the other lane found timed out.
enum LaneInput {
    Recv(PacketEvent),
    Ack(PacketEvent),
    Timeouts(Vec<lane::Pending>),
    /// The lane's source committed this block: what waited for a provable height may go now.
    SourceCommitted(u64),
    /// The other lane sent these packets to be received as backlog: their acks are backlog too.
    BacklogDelivered(Vec<u64>),
    /// Clearing asks which of `seqs` the lane already holds as one of `kinds` (see
    /// [`Lane::holding`]): those need no lookup.
    Holding {
        kinds: Vec<crate::telemetry::PacketKind>,
        seqs: Vec<u64>,
        reply: tokio::sync::oneshot::Sender<Vec<u64>>,
    },
}

/// Which of a path's lanes ended before the worker's loop did.
enum Ended {
    ToA,
    ToB,
}

/// What a lane is built from, each time it (re)starts relaying.
struct LaneSpec {
    path: String,
    dst: Side,
    src: Side,
    store: Option<Arc<dyn crate::store::Store>>,
    gate: Option<crate::lease::LaneGate>,
    wake: Arc<tokio::sync::Notify>,
}

impl LaneSpec {
    /// A fresh lane with what the store says was in flight and held back (by this instance
    /// before a restart, or by the last owner of the lease).
    fn build(&self) -> Lane {
        let mut lane = Lane::new(&self.path, self.dst.clone(), self.src.clone());
        if let Some(store) = &self.store {
            lane.set_store(store.clone());
            lane.restore();
        }
        if let Some(gate) = &self.gate {
            lane.set_gate(gate.clone());
        }
        lane
    }
}

/// One direction. Without leases it relays until shutdown; with them, only while this instance
/// holds the lane's lease. Until then it keeps the latest [`STANDBY_EVENTS`] of what arrives (a
/// lane taken over starts from them; clearing finds anything older), and a lane that loses its
/// lease stops after the submit under way, once the lookups of what it sent finish.
async fn run_lane(
    spec: LaneSpec,
    mut input: mpsc::UnboundedReceiver<LaneInput>,
    other: mpsc::UnboundedSender<LaneInput>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut gate = spec.gate.clone();
    loop {
        let mut held_back = std::collections::VecDeque::new();
        if let Some(g) = &mut gate {
            let owned = tokio::select! {
                owned = g.wait_owned(&mut shutdown) => owned.is_some(),
                _ = keep_latest(&mut input, &mut held_back) => false,
            };
            if !owned {
                return;
            }
            g.set_running(true);
            spec.wake.notify_one();
            tracing::info!(lane = %g.lane(), waiting = held_back.len(), "relaying the lane (lease held)");
        }
        let mut lane = spec.build();
        for i in held_back {
            take(&mut lane, i);
        }
        let stopped = relay_lane(lane, &mut input, &other, &mut shutdown, gate.as_mut()).await;
        match &gate {
            Some(g) if !stopped => {
                g.set_running(false);
                tracing::info!(lane = %g.lane(), "lane stopped: its lease is held elsewhere now");
            }
            _ => return,
        }
    }
}

/// Events a lane without its lease keeps: enough for a takeover to start at once (what the last
/// owner left is then mostly here), bounded so a standby instance's memory stays small.
const STANDBY_EVENTS: usize = 5_000;

/// Keep the latest [`STANDBY_EVENTS`] inputs; ends when the senders are gone.
async fn keep_latest(
    input: &mut mpsc::UnboundedReceiver<LaneInput>,
    kept: &mut std::collections::VecDeque<LaneInput>,
) {
    while let Some(i) = input.recv().await {
        // A question dropped unanswered: the clearer does not wait for a lane on standby.
        if matches!(i, LaneInput::SourceCommitted(_) | LaneInput::Holding { .. }) {
            continue;
        }
        if kept.len() == STANDBY_EVENTS {
            kept.pop_front();
        }
        kept.push_back(i);
    }
}

fn take(lane: &mut Lane, i: LaneInput) {
    match i {
        LaneInput::Recv(ev) => lane.add_recv(ev),
        LaneInput::Ack(ev) => lane.add_ack(ev),
        LaneInput::Timeouts(items) => lane.add_timeouts(items),
        LaneInput::SourceCommitted(h) => lane.source_committed(h),
        LaneInput::BacklogDelivered(seqs) => lane.backlog_delivered(seqs),
        LaneInput::Holding { kinds, seqs, reply } => {
            let _ = reply.send(lane.holding(&kinds, &seqs));
        }
    }
}

/// Take every input already queued, without waiting.
fn take_queued(lane: &mut Lane, input: &mut mpsc::UnboundedReceiver<LaneInput>) {
    while let Ok(i) = input.try_recv() {
        take(lane, i);
    }
}

/// Collect what arrives, send whatever is ready (and check every 200 ms, for retries and
/// quarantine releases), look up the txs sent beside it so the next batch goes out while the last
/// ones confirm, and hand timed-out packets to the other lane. True at shutdown; false when the
/// lease was lost. Either way the lookups under way finish before it returns.
async fn relay_lane(
    mut lane: Lane,
    input: &mut mpsc::UnboundedReceiver<LaneInput>,
    other: &mpsc::UnboundedSender<LaneInput>,
    shutdown: &mut watch::Receiver<bool>,
    mut gate: Option<&mut crate::lease::LaneGate>,
) -> bool {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lookups = FuturesUnordered::new();
    let mut again = false;
    let hand_over = |report: lane::LaneReport| {
        if !report.timed_out.is_empty() {
            // Packets that timed out on this lane's destination go back to their source.
            let _ = other.send(LaneInput::Timeouts(report.timed_out));
        }
    };
    // Told after each tx, before its acks can be written.
    let tell_backlog = |lane: &mut Lane| {
        let seqs = lane.take_backlog_sent();
        if !seqs.is_empty() {
            let _ = other.send(LaneInput::BacklogDelivered(seqs));
        }
    };
    let stopped = loop {
        let lost = async {
            match gate.as_deref_mut() {
                Some(g) => g.lost().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = shutdown.changed() => if *shutdown.borrow() { break true },
            _ = lost => break false,
            Some(done) = lookups.next() => settle(&mut lane, done, &hand_over),
            Some(i) = input.recv() => take(&mut lane, i),
            // The last submit stopped early for live items: the next goes now.
            _ = std::future::ready(()), if again => {}
            _ = tick.tick() => {}
        }
        // Take everything already queued so one batch carries it all.
        take_queued(&mut lane, input);
        again = false;
        if lane.wants_submit() {
            // What arrives during the submit is read between its txs, so live transfers can end
            // a long backlog submit early (and go in the next one).
            let report = lane
                .submit_reading(&mut |l: &mut Lane| {
                    tell_backlog(l);
                    take_queued(l, input)
                })
                .await;
            tell_backlog(&mut lane);
            again = report.yielded;
            hand_over(report);
        }
        // Lookups run as tasks: one not polled while the lane submits could outlive its timeout.
        lookups.extend(lane.confirmations().into_iter().map(tokio::spawn));
    };
    // Lookups under way finish; a tx still not final stays in the store, looked up by whoever
    // relays the lane next.
    while let Some(done) = lookups.next().await {
        settle(&mut lane, done, &hand_over);
    }
    stopped
}

fn settle(
    lane: &mut Lane,
    done: Result<lane::Settled, tokio::task::JoinError>,
    hand_over: &impl Fn(lane::LaneReport),
) {
    match done {
        Ok(settled) => hand_over(lane.settled(settled)),
        // Only at runtime shutdown (the lookup itself catches panics).
        Err(e) => tracing::debug!(error = %e, "tx lookup cancelled"),
    }
}

/// Route an event; a scanned mark moves `marks` (every event before it is routed already); blocks
/// that could not be read wake clearing (`wake`), which finds what they held.
fn feed(
    f: Feed,
    on: &Side,
    to_other: &mpsc::UnboundedSender<LaneInput>,
    marks: &watch::Sender<u64>,
    wake: &tokio::sync::Notify,
) {
    match f {
        Feed::Event(ev) => route(ev, on, to_other),
        // The lane that relays from `on` (to the other chain) proves against `on`'s height.
        Feed::Committed(h) => {
            let _ = to_other.send(LaneInput::SourceCommitted(h));
        }
        Feed::Unread { from, to } => {
            tracing::debug!(chain = %on.id(), from, to, "unread blocks: clearing woken");
            wake.notify_one();
        }
        Feed::Scanned(h) => {
            marks.send_if_modified(|m| {
                let newer = h > *m;
                *m = (*m).max(h);
                newer
            });
        }
    }
}

/// Put an event seen on `on` into the lane that must act on it: a send from `on` is received by the
/// other chain, and an ack written on `on` goes back to the packet's source, also the other chain.
fn route(ev: PacketEvent, on: &Side, to_other: &mpsc::UnboundedSender<LaneInput>) {
    let p = &ev.packet;
    let input = match &ev.kind {
        PacketEventKind::Send if p.source_port == on.port && p.source_channel == on.channel => {
            LaneInput::Recv(ev)
        }
        PacketEventKind::WriteAck { .. }
            if p.destination_port == on.port && p.destination_channel == on.channel =>
        {
            LaneInput::Ack(ev)
        }
        _ => return,
    };
    // Fails only when the lane has stopped, at shutdown.
    let _ = to_other.send(input);
}
