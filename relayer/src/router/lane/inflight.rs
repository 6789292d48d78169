//! A lane's txs in flight, kept in the store: recorded right after broadcast, forgotten once
//! settled, and restored when the lane starts, so that after a crash they are looked up (and their
//! packets counted once, when found on chain) before anything is resent.

use std::sync::Arc;
use std::time::Instant;

use super::{Chunk, Item, Lane, Pending};
use crate::chain::{Msg, PendingTx};
use crate::store::{InFlight, Store, StoredItem};

impl Lane {
    /// Keep this lane's in-flight txs in `store`.
    pub fn set_store(&mut self, store: Arc<dyn Store>) {
        self.store = Some(store);
    }

    /// Take back what the store says this lane had in flight: its packets are queued again and
    /// the txs are looked up first. Returns how many txs were restored.
    pub fn restore_inflight(&mut self) -> usize {
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
            };
            let chunk = Chunk {
                msgs: Vec::new(),
                head: 0,
                items: items.into_iter().map(|i| (i, Msg::default())).collect(),
            };
            self.unconfirmed.push((tx, chunk, 0));
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

fn item(s: &StoredItem) -> Option<Item> {
    let p = Pending {
        packet: s.packet.clone(),
        height: s.height,
        ack: s.ack.clone(),
        seen: Instant::now(),
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
