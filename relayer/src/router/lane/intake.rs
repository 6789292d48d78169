//! What a lane takes in: packets to receive and acks to relay (from the event stream or
//! clearing), and timeouts handed over by the other lane. Each is marked fresh (live traffic)
//! or not as it comes in; `fresh.rs` says what that changes.
//!
//! An ack is written when its packet is received, so while a backlog is delivered its acks are
//! as new as those of live transfers. The lane that delivers packets tells the other lane which
//! ones went as backlog, and their acks are not fresh: live transfers' acks go first on the way
//! back too, and a backlog of acks does not end submits early.

use std::time::Instant;

use super::{Item, Lane, Pending};
use crate::ibc::{PacketEvent, PacketEventKind};
use crate::telemetry::PacketKind;

/// How far behind the source's newest committed block an event may be and still count as live.
/// An event pushed by the node comes with its block (0 or 1 behind); one read in a catch-up or
/// found by clearing is further behind.
const FRESH_BLOCKS: u64 = 3;

/// Backlog packets remembered until their acks come; beyond this the oldest are forgotten (an
/// ack of one of them that comes fresh then counts as live). 20,000 sequences: under 1 MiB.
const BACKLOG_RECVS_KEPT: usize = 20_000;

impl Lane {
    pub fn add_recv(&mut self, ev: PacketEvent) {
        let seq = ev.packet.sequence;
        if self.is_done(PacketKind::Recv, seq)
            || self.is_done(PacketKind::Timeout, seq)
            || self.timeouts.contains_key(&seq)
        {
            return;
        }
        let fresh = self.is_fresh(ev.height);
        self.recv.entry(seq).or_insert(Pending {
            packet: ev.packet,
            height: ev.height,
            ack: vec![],
            seen: Instant::now(),
            fresh,
        });
    }

    pub fn add_ack(&mut self, ev: PacketEvent) {
        let seq = ev.packet.sequence;
        let PacketEventKind::WriteAck { ack } = ev.kind else {
            return;
        };
        let backlog = self.backlog_recvs.remove(&seq);
        if self.is_done(PacketKind::Ack, seq) {
            return;
        }
        let fresh = !backlog && self.is_fresh(ev.height);
        self.acks.entry(seq).or_insert(Pending {
            packet: ev.packet,
            height: ev.height,
            ack,
            seen: Instant::now(),
            fresh,
        });
    }

    pub fn add_timeouts(&mut self, items: Vec<Pending>) {
        for mut p in items {
            // Already late by definition: a timeout waits behind live traffic.
            p.fresh = false;
            let seq = p.packet.sequence;
            if !self.is_done(PacketKind::Timeout, seq) && !self.is_done(PacketKind::Ack, seq) {
                self.timeouts.entry(seq).or_insert(p);
            }
        }
    }

    /// The other lane delivered `seqs` as backlog: their acks, when they come, are not fresh.
    pub fn backlog_delivered(&mut self, seqs: Vec<u64>) {
        self.backlog_recvs.extend(seqs);
        while self.backlog_recvs.len() > BACKLOG_RECVS_KEPT {
            self.backlog_recvs.pop_first();
        }
    }

    /// The packets this lane sent as backlog since the last call, for the other lane.
    pub fn take_backlog_sent(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.backlog_sent)
    }

    /// Remember the backlog packets among `items`, which just went out to be received.
    pub(super) fn note_backlog_sent(&mut self, items: &[(Item, crate::chain::Msg)]) {
        self.backlog_sent
            .extend(items.iter().filter_map(|(i, _)| match i {
                Item::Recv(p) if !p.fresh => Some(p.packet.sequence),
                _ => None,
            }));
    }

    /// Whether an event at `height`, learnt of now, is live traffic. Unknown (no block heard of
    /// yet, or a source that does not announce its blocks): not fresh, so order stays by sequence.
    pub(super) fn is_fresh(&self, height: u64) -> bool {
        self.src_tip > 0 && height + FRESH_BLOCKS >= self.src_tip
    }
}
