//! Which queued items could go out now: not carried by a tx in flight, and not held in
//! quarantine past now; and which packets the lane holds at all (clearing skips those).

use std::time::Instant;

use super::{Lane, Pending};
use crate::telemetry::PacketKind;

impl Lane {
    /// Not carried by a tx whose outcome is still to be learnt.
    pub(super) fn idle(&self, kind: PacketKind, seq: u64) -> bool {
        !self.in_flight.contains(&(kind, seq))
    }

    /// Not carried by a tx in flight, and not in quarantine or its retry is due.
    pub(super) fn is_ready(&self, key: (PacketKind, u64), now: Instant) -> bool {
        self.idle(key.0, key.1) && self.quarantine.get(&key).is_none_or(|q| q.retry_at <= now)
    }

    pub(super) fn any_ready(&self, now: Instant) -> bool {
        self.ready(now).next().is_some()
    }

    /// The queued items that could go out now.
    pub(super) fn ready(&self, now: Instant) -> impl Iterator<Item = &Pending> + '_ {
        [
            (PacketKind::Recv, &self.recv),
            (PacketKind::Ack, &self.acks),
            (PacketKind::Timeout, &self.timeouts),
        ]
        .into_iter()
        .flat_map(move |(kind, m)| {
            m.iter()
                .filter(move |(s, _)| self.is_ready((kind, **s), now))
                .map(|(_, p)| p)
        })
    }

    /// Of `seqs`, those this lane holds as a message of one of `kinds`: queued, in a tx whose
    /// outcome is not known yet, or quarantined. Clearing looks none of them up: this lane relays
    /// them already.
    pub fn holding(&self, kinds: &[PacketKind], seqs: &[u64]) -> Vec<u64> {
        let holds = |kind: PacketKind, seq: u64| {
            self.queued(kind, seq).is_some()
                || !self.idle(kind, seq)
                || self.quarantine.contains_key(&(kind, seq))
        };
        seqs.iter()
            .copied()
            .filter(|&s| kinds.iter().any(|&k| holds(k, s)))
            .collect()
    }
}
