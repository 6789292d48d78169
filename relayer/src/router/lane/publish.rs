//! What a lane shows after each flush: the backlog gauges and its pending packets for the API.

use super::Lane;
use crate::telemetry::{live, metrics, LanePending, PENDING_LISTED};

impl Lane {
    pub(super) fn publish_backlog(&self) {
        let (dst_id, src_id, dst_chan) = self.labels();
        let src_chan = self.src.channel.to_string();
        let age = |empty: bool| if empty { 0.0 } else { self.oldest_age() };
        // Backlog seen from the packets' source chain: recvs pending here were sent on src.
        metrics().backlog(
            &src_id,
            &dst_id,
            &src_chan,
            self.recv.len(),
            age(self.recv.is_empty()),
        );
        let answers = self.acks.len() + self.timeouts.len();
        metrics().backlog(&dst_id, &src_id, &dst_chan, answers, age(answers == 0));
        let first = |m: &std::collections::BTreeMap<u64, super::Pending>| {
            m.keys().take(PENDING_LISTED).copied().collect::<Vec<_>>()
        };
        let total = self.recv.len() + answers;
        live().publish_pending(LanePending {
            path: self.path.clone(),
            direction: self.direction(),
            chain: dst_id,
            recv: first(&self.recv),
            acks: first(&self.acks),
            timeouts: first(&self.timeouts),
            total,
            oldest_age_seconds: age(total == 0),
        });
    }
}
