//! What a lane keeps in the store. Its txs in flight: recorded right after broadcast, forgotten
//! once settled, and restored when the lane starts, so that after a crash they are looked up (and
//! their packets counted once, when found on chain) before anything is resent. Its quarantine:
//! a packet held back before a crash is still held back, with its attempts and backoff, after.

use std::sync::Arc;
use std::time::Instant;

use super::{Chunk, Item, Lane, Pending, Quarantined, PARKED_GRACE};
use crate::chain::{Msg, PendingTx};
use crate::store::{HeldBack, InFlight, Store, StoredItem};
use crate::telemetry::PacketKind;

impl Lane {
    /// Keep this lane's in-flight txs in `store`.
    pub fn set_store(&mut self, store: Arc<dyn Store>) {
        self.store = Some(store);
    }

    /// Take back what the store says this lane had in flight and held back. Returns how many txs
    /// were in flight.
    pub fn restore(&mut self) -> usize {
        self.restore_held();
        self.restore_inflight()
    }

    /// Restored quarantine entries wait (parked) until their packets are queued again.
    fn restore_held(&mut self) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let rows = match store.held(&self.path, self.dst.id()) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the quarantine from the store");
                return;
            }
        };
        for h in rows {
            let Some(kind) = kind_of(&h.kind) else {
                continue;
            };
            let q = Quarantined {
                reason: h.reason,
                since: std::time::UNIX_EPOCH + std::time::Duration::from_secs(h.since),
                retry_at: Instant::now(),
                attempts: h.attempts.max(1),
                paid: h.paid,
            };
            self.parked.insert((kind, h.sequence), (q, Instant::now()));
        }
    }

    /// Parked entries whose packets are queued again join the quarantine (with a full backoff
    /// from now); those unseen for [`PARKED_GRACE`] are dropped.
    pub(super) fn adopt_parked(&mut self) {
        if self.parked.is_empty() {
            return;
        }
        let keys: Vec<_> = self.parked.keys().copied().collect();
        for key in keys {
            if self.queued(key.0, key.1).is_some() {
                let (mut q, _) = self.parked.remove(&key).expect("listed");
                let wait = self
                    .quarantine_first
                    .saturating_mul(1u32 << (q.attempts - 1).min(16))
                    .min(self.quarantine_max);
                q.retry_at = Instant::now() + wait;
                tracing::info!(
                    sequence = key.1,
                    kind = key.0.label(),
                    attempts = q.attempts,
                    "packet still quarantined after the restart"
                );
                self.quarantine.insert(key, q);
            } else if self.parked[&key].1.elapsed() > PARKED_GRACE {
                self.parked.remove(&key);
                self.forget_held(key);
            }
        }
    }

    /// Write `key`'s quarantine entry to the store.
    pub(super) fn persist_held(&self, key: (PacketKind, u64)) {
        let (Some(store), Some(q)) = (&self.store, self.quarantine.get(&key)) else {
            return;
        };
        let h = HeldBack {
            kind: key.0.label().to_string(),
            sequence: key.1,
            reason: q.reason.clone(),
            since: q
                .since
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            attempts: q.attempts,
            paid: q.paid,
        };
        if let Err(e) = store.put_held(&self.path, self.dst.id(), &h) {
            tracing::error!(sequence = key.1, error = %e, "cannot record the quarantined packet in the store");
        }
    }

    pub(super) fn forget_held(&self, key: (PacketKind, u64)) {
        let Some(store) = &self.store else { return };
        if let Err(e) = store.remove_held(&self.path, self.dst.id(), key.0.label(), key.1) {
            tracing::error!(sequence = key.1, error = %e, "cannot remove a released packet from the store");
        }
    }

    /// Take back what the store says this lane had in flight: its packets are queued again and
    /// the txs are looked up first. Returns how many txs were restored.
    fn restore_inflight(&mut self) -> usize {
        let Some(store) = self.store.clone() else {
            return 0;
        };
        let rows = match store.inflight(&self.path, self.dst.id()) {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the in-flight txs from the store; clearing will find their packets");
                return 0;
            }
        };
        for row in &rows {
            let items: Vec<Item> = row.items.iter().filter_map(item).collect();
            for i in &items {
                let p = i.pending().clone();
                let seq = p.packet.sequence;
                match i {
                    Item::Recv(_) => self.recv.insert(seq, p),
                    Item::Ack(_) => self.acks.insert(seq, p),
                    Item::Timeout(_) => self.timeouts.insert(seq, p),
                };
            }
            tracing::info!(tx = %row.hash, packets = items.len(), "restored an in-flight tx; looking it up before anything is resent");
            let tx = PendingTx {
                hash: row.hash.clone(),
                packets: row.packets,
                fee: row.fee,
                signer: 0,
            };
            let chunk = Chunk {
                msgs: Vec::new(),
                head: 0,
                items: items.into_iter().map(|i| (i, Msg::default())).collect(),
            };
            for (i, _) in &chunk.items {
                self.in_flight.insert(i.key());
            }
            self.awaiting.push(super::settle::Awaiting {
                tx,
                chunk,
                lookups: 0,
            });
        }
        rows.len()
    }

    /// Record `tx` (carrying `chunk`) as in flight.
    pub(super) fn record_inflight(&self, tx: &PendingTx, chunk: &Chunk) {
        let Some(store) = &self.store else { return };
        let rec = InFlight {
            path: self.path.clone(),
            dst_chain: self.dst.id().to_string(),
            hash: tx.hash.clone(),
            packets: tx.packets,
            fee: tx.fee,
            items: chunk.items.iter().map(|(i, _)| stored(i)).collect(),
        };
        if let Err(e) = store.put_inflight(&rec) {
            // Relaying goes on; only a crash before this tx settles would resend its packets.
            tracing::error!(tx = %tx.hash, error = %e, "cannot record the in-flight tx in the store");
        }
    }

    /// Forget tx `hash`: settled.
    pub(super) fn forget_inflight(&self, hash: &str) {
        let Some(store) = &self.store else { return };
        if let Err(e) = store.remove_inflight(hash) {
            tracing::error!(tx = %hash, error = %e, "cannot remove a settled tx from the store");
        }
    }
}

fn stored(i: &Item) -> StoredItem {
    let p = i.pending();
    StoredItem {
        kind: i.kind().label().to_string(),
        packet: p.packet.clone(),
        height: p.height,
        ack: p.ack.clone(),
    }
}

fn kind_of(label: &str) -> Option<PacketKind> {
    match label {
        "recv" => Some(PacketKind::Recv),
        "ack" => Some(PacketKind::Ack),
        "timeout" => Some(PacketKind::Timeout),
        _ => None,
    }
}

fn item(s: &StoredItem) -> Option<Item> {
    let p = Pending {
        packet: s.packet.clone(),
        height: s.height,
        ack: s.ack.clone(),
        seen: Instant::now(),
        fresh: false,
    };
    match s.kind.as_str() {
        "recv" => Some(Item::Recv(p)),
        "ack" => Some(Item::Ack(p)),
        "timeout" => Some(Item::Timeout(p)),
        other => {
            tracing::warn!(kind = other, "unknown item kind in the store; skipped");
            None
        }
    }
}
