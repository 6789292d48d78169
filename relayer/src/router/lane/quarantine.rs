//! Holding back the packet messages that make their batch fail (see the module above): entering,
//! leaving, and publishing the quarantine.

use std::time::{Instant, SystemTime};

use super::{wall, Item, Lane, Quarantined};
use crate::telemetry::{metrics, quarantine, PacketKind, QuarantineEntry};

impl Lane {
    /// Hold `item` back: it made its batch fail for `reason`. `paid`: a mined transaction
    /// reverted because of it.
    pub(super) fn quarantine_item(&mut self, item: &Item, reason: &str, paid: bool) {
        let (dst_id, src_id, channel) = self.labels();
        let kind = item.kind();
        let p = &item.pending().packet;
        let id = self.packet_id(kind, p);
        let (first, max) = (self.quarantine_first, self.quarantine_max);
        let q = self.quarantine.entry(item.key()).or_insert_with(|| {
            metrics().quarantine_entered(&dst_id, &src_id, &channel, kind);
            Quarantined {
                reason: String::new(),
                since: SystemTime::now(),
                retry_at: Instant::now(),
                attempts: 0,
                paid: 0,
            }
        });
        q.attempts = q.attempts.saturating_add(1);
        q.paid = q.paid.saturating_add(paid as u32);
        q.reason = reason.to_string();
        let wait = first
            .saturating_mul(1u32 << (q.attempts - 1).min(16))
            .min(max);
        q.retry_at = Instant::now() + wait;
        tracing::warn!(
            packet = %id,
            kind = kind.label(),
            dst = %dst_id,
            attempts = q.attempts,
            paid_failures = q.paid,
            retry_in_secs = wait.as_secs_f64(),
            reason,
            "packet quarantined: its message makes the batch fail; the rest goes without it"
        );
        self.persist_held(item.key());
    }

    /// Take `key` out of quarantine (delivered, delivered by someone else, or moved to the other
    /// lane as a timeout).
    pub(super) fn release(&mut self, key: (PacketKind, u64), why: &str) {
        if let Some(q) = self.quarantine.remove(&key) {
            self.forget_held(key);
            let id = self
                .queued(key.0, key.1)
                .map(|p| self.packet_id(key.0, &p.packet))
                .unwrap_or_else(|| key.1.to_string());
            tracing::info!(packet = %id, kind = key.0.label(), attempts = q.attempts, "packet left quarantine: {why}");
        }
    }

    /// Publish this lane's quarantine (gauge and `/v1/quarantine`).
    pub(super) fn publish_quarantine(&self) {
        let (dst_id, src_id, channel) = self.labels();
        let direction = self.direction();
        let mut counts = [0usize; 3];
        let mut entries = Vec::new();
        for (&(kind, seq), q) in &self.quarantine {
            counts[kind as usize] += 1;
            let Some(p) = self.queued(kind, seq) else {
                continue;
            };
            let (since_unix, since) = wall(q.since);
            let next = SystemTime::now() + q.retry_at.saturating_duration_since(Instant::now());
            let (next_retry_unix, next_retry) = wall(next);
            let source_chain = match kind {
                PacketKind::Recv => src_id.clone(),
                _ => dst_id.clone(),
            };
            entries.push(QuarantineEntry {
                path: self.path.clone(),
                direction: direction.clone(),
                chain: dst_id.clone(),
                packet: self.packet_id(kind, &p.packet),
                source_chain,
                source_channel: p.packet.source_channel.to_string(),
                sequence: seq,
                kind: kind.label().to_string(),
                reason: q.reason.clone(),
                since,
                since_unix,
                next_retry,
                next_retry_unix,
                attempts: q.attempts,
                paid_failures: q.paid,
            });
        }
        for kind in [PacketKind::Recv, PacketKind::Ack, PacketKind::Timeout] {
            metrics().quarantined(&dst_id, &src_id, &channel, kind, counts[kind as usize]);
        }
        quarantine().publish(&self.path, &direction, entries);
    }
}
