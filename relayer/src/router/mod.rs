//! The packet router: one worker per path, generic over the chain capability traits. It never names a
//! chain family.
//!
//! Each path has two lanes, one per destination chain. A lane collects what must be submitted to its
//! destination — receives of packets from the other chain, acks of packets the destination sent, and
//! timeouts of those — and relays them in batches behind a single client update, since all of them are
//! proven by the same counterparty chain at the same height.

mod clear;
#[cfg(test)]
pub(crate) mod fake;
mod lane;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::chain::{Heights, RelayChain};
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
        let (tx_a, mut rx_a) = mpsc::channel::<PacketEvent>(100_000);
        let (tx_b, mut rx_b) = mpsc::channel::<PacketEvent>(100_000);
        let start_a = self
            .a
            .chain
            .latest()
            .await
            .map(|(h, _)| h.revision_height)
            .unwrap_or(1);
        let start_b = self
            .b
            .chain
            .latest()
            .await
            .map(|(h, _)| h.revision_height)
            .unwrap_or(1);
        self.a
            .chain
            .clone()
            .subscribe(start_a, tx_a.clone(), shutdown.clone());
        self.b
            .chain
            .clone()
            .subscribe(start_b, tx_b.clone(), shutdown.clone());
        let clearer = tokio::spawn(clear::run(
            self.a.clone(),
            self.b.clone(),
            tx_a,
            tx_b,
            self.clear_interval,
            shutdown.clone(),
        ));

        let mut to_b = Lane::new(&self.name, self.b.clone(), self.a.clone());
        let mut to_a = Lane::new(&self.name, self.a.clone(), self.b.clone());
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown_rx = shutdown.clone();
        loop {
            tokio::select! {
                biased;
                _ = shutdown_rx.changed() => if *shutdown_rx.borrow() { break },
                Some(ev) = rx_a.recv() => route(ev, &self.a, &mut to_b),
                Some(ev) = rx_b.recv() => route(ev, &self.b, &mut to_a),
                _ = tick.tick() => {}
            }
            // Take everything already queued so one flush carries it all.
            while let Ok(ev) = rx_a.try_recv() {
                route(ev, &self.a, &mut to_b);
            }
            while let Ok(ev) = rx_b.try_recv() {
                route(ev, &self.b, &mut to_a);
            }
            if to_a.is_empty() && to_b.is_empty() {
                continue;
            }
            let (ra, rb) = tokio::join!(to_a.flush(), to_b.flush());
            // Packets that timed out on their destination go back to their source as timeouts.
            to_b.add_timeouts(ra.timed_out);
            to_a.add_timeouts(rb.timed_out);
        }
        clearer.abort();
        tracing::info!("path worker stopped");
    }
}

/// Put an event seen on `on` into the lane that must act on it: a send from `on` is received by the
/// other chain, and an ack written on `on` goes back to the packet's source, also the other chain.
fn route(ev: PacketEvent, on: &Side, to_other: &mut Lane) {
    let p = &ev.packet;
    match &ev.kind {
        PacketEventKind::Send if p.source_port == on.port && p.source_channel == on.channel => {
            to_other.add_recv(ev)
        }
        PacketEventKind::WriteAck { .. }
            if p.destination_port == on.port && p.destination_channel == on.channel =>
        {
            to_other.add_ack(ev)
        }
        _ => {}
    }
}
