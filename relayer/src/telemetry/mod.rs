//! Every metric Ferry exports is built here; the rest of the code calls the typed functions below and
//! never writes a label string by hand. Label values come from bounded sets: chain, channel and client
//! ids from config or the chain, and the enums in this module. The list is in `docs/METRICS.md`.

mod kinds;
mod lease;
mod live;
mod quarantine;
mod read;

use std::sync::OnceLock;

use prometheus::{
    exponential_buckets, CounterVec, Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub use crate::api::Readiness;
pub use kinds::{PacketKind, TxErrorKind};
pub use live::{
    live, LanePending, LiveBoard, PathEntry, PathStatus, SideInfo, WalletInfo, PENDING_LISTED,
};
pub use quarantine::{quarantine, QuarantineBoard, QuarantineEntry, QuarantineList};

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

/// Build and register a metric family (shared with the attestor's own registry).
pub(crate) fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let m = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}
fn float_counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> CounterVec {
    let m = CounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}
pub(crate) fn int_gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let m = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}
fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let m = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}
pub(crate) fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let m = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric");
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

const PATH: &[&str] = &["chain", "counterparty", "channel"];

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let latency = exponential_buckets(0.25, 2.0, 12).expect("buckets");
        let info = int_gauge(
            &r,
            "ferry_build_info",
            "Build information",
            &["version", "git_commit"],
        );
        info.with_label_values(&[
            env!("CARGO_PKG_VERSION"),
            option_env!("FERRY_GIT_COMMIT").unwrap_or("unknown"),
        ])
        .set(1);
        Metrics {
            up: int_gauge(&r, "ferry_up", "1 while the Ferry daemon runs", &[]),
            packets_relayed: counter(
                &r,
                "ferry_packets_relayed_total",
                "Packet messages delivered",
                &["chain", "counterparty", "channel", "kind"],
            ),
            packets_skipped: counter(
                &r,
                "ferry_packets_skipped_total",
                "Packets found already delivered and not paid for",
                &["chain", "counterparty", "channel", "kind"],
            ),
            backlog: int_gauge(
                &r,
                "ferry_backlog_packets",
                "Packets sent and not yet received or acknowledged",
                PATH,
            ),
            backlog_age: gauge(
                &r,
                "ferry_backlog_oldest_age_seconds",
                "Age of the oldest unrelayed packet",
                PATH,
            ),
            recv_latency: histogram(
                &r,
                "ferry_packet_recv_latency_seconds",
                "Send to receive latency",
                PATH,
                latency.clone(),
            ),
            ack_latency: histogram(
                &r,
                "ferry_packet_ack_latency_seconds",
                "Send to acknowledgement latency",
                PATH,
                latency.clone(),
            ),
            txs_submitted: counter(
                &r,
                "ferry_txs_submitted_total",
                "Transactions broadcast",
                &["chain"],
            ),
            txs_confirmed: counter(
                &r,
                "ferry_txs_confirmed_total",
                "Transactions committed successfully",
                &["chain"],
            ),
            txs_failed: counter(
                &r,
                "ferry_txs_failed_total",
                "Transactions that failed, by error kind",
                &["chain", "error"],
            ),
            gas_used: counter(
                &r,
                "ferry_gas_used_total",
                "Gas used by confirmed transactions",
                &["chain"],
            ),
            fees_paid: float_counter(
                &r,
                "ferry_fees_paid_total",
                "Fees paid, in base units of the fee denom",
                &["chain", "denom"],
            ),
            fee_per_packet: histogram(
                &r,
                "ferry_fee_per_packet",
                "Fee per relayed packet, base units",
                &["chain", "denom"],
                exponential_buckets(1.0, 4.0, 14).expect("buckets"),
            ),
            wallet_balance: gauge(
                &r,
                "ferry_wallet_balance",
                "Relayer wallet balance, base units",
                &["chain", "wallet", "denom"],
            ),
            wallet_runway: gauge(
                &r,
                "ferry_wallet_runway_seconds",
                "Seconds until the wallet is empty at the recent spend rate",
                &["chain", "wallet", "denom"],
            ),
            client_updates_submitted: counter(
                &r,
                "ferry_client_updates_submitted_total",
                "Client updates submitted",
                &["chain", "client"],
            ),
            client_updates_skipped: counter(
                &r,
                "ferry_client_updates_skipped_total",
                "Client updates not needed (consensus state already present)",
                &["chain", "client"],
            ),
            verification_failures: counter(
                &r,
                "ferry_light_client_verification_failures_total",
                "Headers rejected by Ferry's light client",
                &["chain", "reason"],
            ),
            attestation_signatures: counter(
                &r,
                "ferry_attestation_signatures_total",
                "Attestor signatures asked for, by outcome (accepted, not_member, data_mismatch, bad_signature, duplicate, unavailable)",
                &["chain", "outcome"],
            ),
            misbehaviour: counter(
                &r,
                "ferry_misbehaviour_detected_total",
                "Conflicting headers detected",
                &["chain", "client"],
            ),
            trusting_remaining: gauge(
                &r,
                "ferry_client_trusting_period_remaining_seconds",
                "Seconds until the client's trusting period ends",
                &["chain", "client", "counterparty"],
            ),
            trusting_period: gauge(
                &r,
                "ferry_client_trusting_period_seconds",
                "The client's full trusting period",
                &["chain", "client", "counterparty"],
            ),
            rpc_requests: counter(
                &r,
                "ferry_rpc_requests_total",
                "RPC requests",
                &["chain", "method"],
            ),
            rpc_errors: counter(
                &r,
                "ferry_rpc_errors_total",
                "RPC requests that failed",
                &["chain", "method"],
            ),
            rpc_duration: histogram(
                &r,
                "ferry_rpc_request_duration_seconds",
                "RPC request latency",
                &["chain", "method"],
                exponential_buckets(0.001, 2.0, 14).expect("buckets"),
            ),
            rpc_up: int_gauge(
                &r,
                "ferry_rpc_up",
                "1 when the last RPC probe of the chain succeeded",
                &["chain"],
            ),
            ws_reconnects: counter(
                &r,
                "ferry_websocket_reconnects_total",
                "WebSocket reconnects",
                &["chain"],
            ),
            event_blocks_unread: counter(
                &r,
                "ferry_event_blocks_unread_total",
                "Blocks whose events the node did not serve, left to clearing",
                &["chain"],
            ),
            latest_height: int_gauge(
                &r,
                "ferry_chain_latest_height",
                "Latest height seen",
                &["chain"],
            ),
            packets_quarantined: int_gauge(
                &r,
                "ferry_packets_quarantined",
                "Packet messages in quarantine now (they make their batch fail; retried with backoff)",
                &["chain", "counterparty", "channel", "kind"],
            ),
            packets_quarantined_total: counter(
                &r,
                "ferry_packets_quarantined_total",
                "Packet messages put in quarantine",
                &["chain", "counterparty", "channel", "kind"],
            ),
            packets_unrelayable: counter(
                &r,
                "ferry_packets_unrelayable_total",
                "Packets seen that Ferry cannot relay unaltered (skipped, never sent)",
                &["chain"],
            ),
            worker_restarts: counter(
                &r,
                "ferry_worker_restarts_total",
                "Path workers restarted after they panicked or stopped",
                &["path"],
            ),
            path_ready: int_gauge(
                &r,
                "ferry_path_ready",
                "1 while the path is resolved and relayed; 0 while Ferry waits for it (no open channel or client yet, a chain unreachable at start)",
                &["path"],
            ),
            lease: lease::LeaseMetrics::new(&r),
            registry: r,
        }
    }

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
