//! What a lane takes in: packets to receive and acks to relay (from the event stream or
//! clearing), and timeouts handed over by the other lane. Each is marked fresh (live traffic)
//! or not as it comes in; `fresh.rs` says what that changes.

use std::time::Instant;

use super::{Lane, Pending};
use crate::ibc::{PacketEvent, PacketEventKind};
use crate::telemetry::PacketKind;

/// How far behind the source's newest committed block an event may be and still count as live.
/// An event pushed by the node comes with its block (0 or 1 behind); one read in a catch-up or
/// found by clearing is further behind.
const FRESH_BLOCKS: u64 = 3;

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
        if self.is_done(PacketKind::Ack, seq) {
            return;
        }
        let fresh = self.is_fresh(ev.height);
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

    /// Whether an event at `height`, learnt of now, is live traffic. Unknown (no block heard of
    /// yet, or a source that does not announce its blocks): not fresh, so order stays by sequence.
    pub(super) fn is_fresh(&self, height: u64) -> bool {
        self.src_tip > 0 && height + FRESH_BLOCKS >= self.src_tip
    }
}
