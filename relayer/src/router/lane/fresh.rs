//! Live traffic beside a backlog. A packet the lane learns of within a few blocks of its
//! source's newest committed block is fresh (`intake.rs`): someone is waiting for it now. Fresh
//! items go out before anything older, and a submit that is sending a backlog stops between its
//! txs once fresh items that are provable wait, so the next submit can carry them (W4 in
//! BENCHMARKS.md: before, only the newest tx's worth went first, and transfers sent during the
//! clearing of a backlog waited for the rest of it).

use std::collections::HashSet;
use std::time::Instant;

use super::{chunk::newest_first, Item, Lane};
use crate::telemetry::PacketKind;

impl Lane {
    /// Whether fresh items that the source can prove wait outside `planned` (the current
    /// submit's items): the submit should end after the tx under way.
    pub(super) fn fresh_waiting(&self, planned: &HashSet<(PacketKind, u64)>) -> bool {
        let now = Instant::now();
        let tip = self.src_tip.max(self.src_provable);
        [
            (PacketKind::Recv, &self.recv),
            (PacketKind::Ack, &self.acks),
        ]
        .into_iter()
        .any(|(kind, queue)| {
            queue.iter().rev().any(|(seq, p)| {
                p.fresh
                    && !planned.contains(&(kind, *seq))
                    && self.is_ready((kind, *seq), now)
                    && self.src.chain.proof_height_for(p.height) <= tip
            })
        })
    }
}

/// Fresh items first, in their order; then the rest, with the newest chunk's worth (`n`) first
/// (a source that does not announce its blocks still gets new transfers into the next tx).
pub(super) fn fresh_first(items: &mut Vec<Item>, n: usize) {
    let (mut fresh, mut rest): (Vec<Item>, Vec<Item>) =
        items.drain(..).partition(|i| i.pending().fresh);
    newest_first(&mut rest, n);
    fresh.extend(rest);
    *items = fresh;
}
