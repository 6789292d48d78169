//! Every metric Ferry exports is built in `registry.rs`; the rest of the code calls the typed
//! functions below and never writes a label string by hand. Label values come from bounded sets:
//! chain, channel and client ids from config or the chain, and the enums in this module. The list
//! is in `docs/METRICS.md`.

mod kinds;
mod lease;
mod live;
mod quarantine;
mod read;
mod registry;

use std::sync::OnceLock;

use prometheus::{
    CounterVec, Encoder, GaugeVec, HistogramVec, IntCounterVec, IntGaugeVec, Registry, TextEncoder,
};

pub use crate::api::Readiness;
pub use kinds::{PacketKind, TxErrorKind};
pub use live::{
    live, LanePending, LiveBoard, PathEntry, PathStatus, SideInfo, WalletInfo, PENDING_LISTED,
};
pub use quarantine::{quarantine, QuarantineBoard, QuarantineEntry, QuarantineList};
pub(crate) use registry::{counter, histogram, int_gauge};

pub struct Metrics {
    registry: Registry,
    up: IntGaugeVec,
    packets_relayed: IntCounterVec,
    packets_skipped: IntCounterVec,
    backlog: IntGaugeVec,
    backlog_age: GaugeVec,
    recv_latency: HistogramVec,
    ack_latency: HistogramVec,
    txs_submitted: IntCounterVec,
    txs_confirmed: IntCounterVec,
    txs_failed: IntCounterVec,
    gas_used: IntCounterVec,
    fees_paid: CounterVec,
    fee_per_packet: HistogramVec,
    wallet_balance: GaugeVec,
    wallet_runway: GaugeVec,
    client_updates_submitted: IntCounterVec,
    client_updates_skipped: IntCounterVec,
    verification_failures: IntCounterVec,
    attestation_signatures: IntCounterVec,
    misbehaviour: IntCounterVec,
    trusting_remaining: GaugeVec,
    trusting_period: GaugeVec,
    rpc_requests: IntCounterVec,
    rpc_errors: IntCounterVec,
    rpc_duration: HistogramVec,
    rpc_up: IntGaugeVec,
    ws_reconnects: IntCounterVec,
    event_blocks_unread: IntCounterVec,
    latest_height: IntGaugeVec,
    packets_quarantined: IntGaugeVec,
    packets_quarantined_total: IntCounterVec,
    packets_unrelayable: IntCounterVec,
    worker_restarts: IntCounterVec,
    path_ready: IntGaugeVec,
    lease: lease::LeaseMetrics,
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("utf-8")
    }

    pub fn set_up(&self, up: bool) {
        self.up.with_label_values(&[] as &[&str]).set(up as i64);
    }
    pub fn packet_relayed(&self, chain: &str, counterparty: &str, channel: &str, kind: PacketKind) {
        self.packets_relayed
            .with_label_values(&[chain, counterparty, channel, kind.label()])
            .inc();
    }
    pub fn packet_skipped(&self, chain: &str, counterparty: &str, channel: &str, kind: PacketKind) {
        self.packets_skipped
            .with_label_values(&[chain, counterparty, channel, kind.label()])
            .inc();
    }
    pub fn backlog(
        &self,
        chain: &str,
        counterparty: &str,
        channel: &str,
        size: usize,
        oldest_age_secs: f64,
    ) {
        self.backlog
            .with_label_values(&[chain, counterparty, channel])
            .set(size as i64);
        self.backlog_age
            .with_label_values(&[chain, counterparty, channel])
            .set(oldest_age_secs);
    }
    pub fn recv_latency(&self, chain: &str, counterparty: &str, channel: &str, secs: f64) {
        self.recv_latency
            .with_label_values(&[chain, counterparty, channel])
            .observe(secs);
    }
    pub fn ack_latency(&self, chain: &str, counterparty: &str, channel: &str, secs: f64) {
        self.ack_latency
            .with_label_values(&[chain, counterparty, channel])
            .observe(secs);
    }
    pub fn tx_submitted(&self, chain: &str) {
        self.txs_submitted.with_label_values(&[chain]).inc();
    }
    /// A confirmed tx: gas used, fee paid and how many packet messages it carried.
    pub fn tx_confirmed(&self, chain: &str, gas_used: u64, fee: u128, denom: &str, packets: usize) {
        self.txs_confirmed.with_label_values(&[chain]).inc();
        self.gas_used.with_label_values(&[chain]).inc_by(gas_used);
        self.fees_paid
            .with_label_values(&[chain, denom])
            .inc_by(fee as f64);
        if packets > 0 {
            let per = fee as f64 / packets as f64;
            let h = self.fee_per_packet.with_label_values(&[chain, denom]);
            for _ in 0..packets {
                h.observe(per);
            }
        }
    }
    /// A tx mined but reverted: its gas and fee were paid all the same (its failure is counted
    /// by [`Metrics::tx_failed`]).
    pub fn tx_reverted(&self, chain: &str, gas_used: u64, fee: u128, denom: &str) {
        self.gas_used.with_label_values(&[chain]).inc_by(gas_used);
        self.fees_paid
            .with_label_values(&[chain, denom])
            .inc_by(fee as f64);
    }
    pub fn tx_failed(&self, chain: &str, kind: TxErrorKind) {
        self.txs_failed
            .with_label_values(&[chain, kind.label()])
            .inc();
    }
    pub fn wallet(&self, chain: &str, wallet: &str, denom: &str, balance: f64, runway_secs: f64) {
        self.wallet_balance
            .with_label_values(&[chain, wallet, denom])
            .set(balance);
        self.wallet_runway
            .with_label_values(&[chain, wallet, denom])
            .set(runway_secs);
    }
    pub fn client_update(&self, chain: &str, client: &str, submitted: bool) {
        let m = if submitted {
            &self.client_updates_submitted
        } else {
            &self.client_updates_skipped
        };
        m.with_label_values(&[chain, client]).inc();
    }
    pub fn verification_failure(&self, chain: &str, reason: &'static str) {
        self.verification_failures
            .with_label_values(&[chain, reason])
            .inc();
    }
    /// Create `chain`'s attestation series at zero, one per outcome.
    pub fn init_attestation(&self, chain: &str, outcomes: &[&str]) {
        for o in outcomes {
            self.attestation_signatures.with_label_values(&[chain, o]);
        }
    }
    /// One attestor's answer for `chain` (the attested chain): accepted, or why it was discarded.
    pub fn attestation_signature(&self, chain: &str, outcome: &'static str) {
        self.attestation_signatures
            .with_label_values(&[chain, outcome])
            .inc();
    }
    pub fn misbehaviour(&self, chain: &str, client: &str) {
        self.misbehaviour.with_label_values(&[chain, client]).inc();
    }
    pub fn client_trust(
        &self,
        chain: &str,
        client: &str,
        counterparty: &str,
        remaining_secs: f64,
        period_secs: f64,
    ) {
        self.trusting_remaining
            .with_label_values(&[chain, client, counterparty])
            .set(remaining_secs);
        self.trusting_period
            .with_label_values(&[chain, client, counterparty])
            .set(period_secs);
    }
    pub fn rpc(&self, chain: &str, method: &'static str, secs: f64, ok: bool) {
        self.rpc_requests.with_label_values(&[chain, method]).inc();
        self.rpc_duration
            .with_label_values(&[chain, method])
            .observe(secs);
        // Created at 0 with the first request, so rate() sees the first error.
        let errors = self.rpc_errors.with_label_values(&[chain, method]);
        if !ok {
            errors.inc();
        }
    }

    /// Create a chain's series at zero, so the first event of each shows in rate() and panels
    /// read 0 rather than "no data".
    pub fn init_chain(&self, chain: &str) {
        self.txs_submitted.with_label_values(&[chain]);
        self.txs_confirmed.with_label_values(&[chain]);
        for kind in TxErrorKind::ALL {
            self.txs_failed.with_label_values(&[chain, kind.label()]);
        }
        self.gas_used.with_label_values(&[chain]);
        self.ws_reconnects.with_label_values(&[chain]);
        self.event_blocks_unread.with_label_values(&[chain]);
        self.packets_unrelayable.with_label_values(&[chain]);
    }

    /// Create one path side's series at zero (`chain` submits, `counterparty` proves).
    pub fn init_path_side(&self, chain: &str, counterparty: &str, channel: &str, client: &str) {
        for kind in [PacketKind::Recv, PacketKind::Ack, PacketKind::Timeout] {
            self.packets_relayed
                .with_label_values(&[chain, counterparty, channel, kind.label()]);
            self.packets_skipped
                .with_label_values(&[chain, counterparty, channel, kind.label()]);
            self.packets_quarantined.with_label_values(&[
                chain,
                counterparty,
                channel,
                kind.label(),
            ]);
            self.packets_quarantined_total.with_label_values(&[
                chain,
                counterparty,
                channel,
                kind.label(),
            ]);
        }
        self.recv_latency
            .with_label_values(&[chain, counterparty, channel]);
        self.ack_latency
            .with_label_values(&[chain, counterparty, channel]);
        self.client_updates_submitted
            .with_label_values(&[chain, client]);
        self.client_updates_skipped
            .with_label_values(&[chain, client]);
        self.misbehaviour.with_label_values(&[chain, client]);
    }

    /// Create the verification-failure series of a chain at zero, one per reason.
    pub fn init_verification(&self, chain: &str, reasons: &[&'static str]) {
        for r in reasons {
            self.verification_failures.with_label_values(&[chain, r]);
        }
    }
    pub fn rpc_up(&self, chain: &str, up: bool) {
        self.rpc_up.with_label_values(&[chain]).set(up as i64);
    }
    pub fn ws_reconnect(&self, chain: &str) {
        self.ws_reconnects.with_label_values(&[chain]).inc();
    }
    pub fn event_blocks_unread(&self, chain: &str, blocks: u64) {
        self.event_blocks_unread
            .with_label_values(&[chain])
            .inc_by(blocks);
    }
    pub fn latest_height(&self, chain: &str, height: u64) {
        self.latest_height
            .with_label_values(&[chain])
            .set(height as i64);
    }
    /// Packet messages of one lane in quarantine now, by kind (`chain` submits them).
    pub fn quarantined(
        &self,
        chain: &str,
        counterparty: &str,
        channel: &str,
        kind: PacketKind,
        count: usize,
    ) {
        self.packets_quarantined
            .with_label_values(&[chain, counterparty, channel, kind.label()])
            .set(count as i64);
    }
    /// A packet message put in quarantine (once per entry, not per retry).
    pub fn quarantine_entered(
        &self,
        chain: &str,
        counterparty: &str,
        channel: &str,
        kind: PacketKind,
    ) {
        self.packets_quarantined_total
            .with_label_values(&[chain, counterparty, channel, kind.label()])
            .inc();
    }
    /// A packet sent on `chain` that Ferry refuses to relay because it cannot carry it unaltered.
    pub fn packet_unrelayable(&self, chain: &str) {
        self.packets_unrelayable.with_label_values(&[chain]).inc();
    }
    pub fn init_worker(&self, path: &str) {
        self.worker_restarts.with_label_values(&[path]);
    }
    pub fn path_ready(&self, path: &str, ready: bool) {
        self.path_ready
            .with_label_values(&[path])
            .set(i64::from(ready));
    }
    pub fn worker_restarted(&self, path: &str) {
        self.worker_restarts.with_label_values(&[path]).inc();
    }
    /// Total RPC requests so far across chains (for benchmarks).
    pub fn rpc_requests_total(&self) -> u64 {
        self.registry
            .gather()
            .iter()
            .filter(|f| f.name() == "ferry_rpc_requests_total")
            .flat_map(|f| {
                f.get_metric()
                    .iter()
                    .map(|m| m.get_counter().value() as u64)
            })
            .sum()
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_bounded_labels() {
        let m = metrics();
        m.packet_relayed("b-1", "a-1", "channel-0", PacketKind::Recv);
        m.tx_failed("b-1", TxErrorKind::SequenceMismatch);
        m.tx_confirmed("b-1", 100_000, 2_500, "stake", 5);
        let text = m.render();
        assert!(text.contains(r#"ferry_packets_relayed_total{chain="b-1",channel="channel-0",counterparty="a-1",kind="recv"} 1"#), "{text}");
        assert!(text.contains(r#"ferry_txs_failed_total{chain="b-1",error="sequence_mismatch"} 1"#));
        assert!(text.contains("ferry_fee_per_packet_count{chain=\"b-1\",denom=\"stake\"} 5"));
        assert!(text.contains("ferry_build_info{"));
    }
}
