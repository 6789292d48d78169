//! Every metric family Ferry exports, built and registered once: the names, help texts and label
//! sets listed in `docs/METRICS.md`.

use prometheus::core::Collector;
use prometheus::{
    exponential_buckets, CounterVec, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec,
    IntGaugeVec, Opts, Registry,
};

use super::{lease, Metrics};

/// Register `m` in `r` and hand it back.
fn registered<M: Collector + Clone + 'static>(r: &Registry, m: M) -> M {
    r.register(Box::new(m.clone())).expect("unique metric");
    m
}

/// Build and register a metric family (shared with the attestor's own registry).
pub(crate) fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(
        r,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}
fn float_counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> CounterVec {
    registered(
        r,
        CounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}
pub(crate) fn int_gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    registered(
        r,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}
fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    registered(
        r,
        GaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}
pub(crate) fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets);
    registered(r, HistogramVec::new(opts, labels).expect("valid metric"))
}

const PATH: &[&str] = &["chain", "counterparty", "channel"];

impl Metrics {
    pub(super) fn new() -> Metrics {
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
}
