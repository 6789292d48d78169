//! Lane ownership metrics: which lanes this instance relays (all of them when it runs alone; those
//! it holds the lease of when instances share a PostgreSQL store).

use prometheus::{IntCounterVec, IntGaugeVec, Registry};

use super::{counter, int_gauge, Metrics};

pub(super) struct LeaseMetrics {
    owned: IntGaugeVec,
    events: IntCounterVec,
    fenced: IntCounterVec,
}

/// What happened to a lease: a bounded label set.
pub const LEASE_EVENTS: [&str; 3] = ["acquired", "lost", "released"];

impl LeaseMetrics {
    pub(super) fn new(r: &Registry) -> LeaseMetrics {
        LeaseMetrics {
            owned: int_gauge(
                r,
                "ferry_lane_owned",
                "1 while this instance relays the lane that submits to dst_chain on path: with a shared store, while it holds the lane's lease (0 while another instance does or none yet); alone, always",
                &["path", "dst_chain"],
            ),
            events: counter(
                r,
                "ferry_lease_events_total",
                "Lane leases this instance acquired, lost (expired or taken over) or released (handed over, stopping)",
                &["path", "dst_chain", "event"],
            ),
            fenced: counter(
                r,
                "ferry_broadcasts_fenced_total",
                "Broadcasts withheld because this instance no longer held the lane's lease (or could not reach the store to check)",
                &["path", "dst_chain"],
            ),
        }
    }
}

impl Metrics {
    pub fn lane_owned(&self, path: &str, dst_chain: &str, owned: bool) {
        let l = &self.lease;
        l.owned
            .with_label_values(&[path, dst_chain])
            .set(i64::from(owned));
        for e in LEASE_EVENTS {
            l.events.with_label_values(&[path, dst_chain, e]);
        }
        l.fenced.with_label_values(&[path, dst_chain]);
    }
    pub fn lease_event(&self, path: &str, dst_chain: &str, event: &'static str) {
        debug_assert!(LEASE_EVENTS.contains(&event));
        self.lease
            .events
            .with_label_values(&[path, dst_chain, event])
            .inc();
    }
    pub fn fenced(&self, path: &str, dst_chain: &str) {
        self.lease
            .fenced
            .with_label_values(&[path, dst_chain])
            .inc();
    }
}
