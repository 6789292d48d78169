//! The metric contract: every family Ferry exports, and the labels that carry deployment ids.

/// (name, type, labels) exactly as docs/METRICS.md and the relayer define them.
pub(crate) const METRICS: &[(&str, &str, &[&str])] = &[
    ("ferry_build_info", "gauge", &["version", "git_commit"]),
    ("ferry_up", "gauge", &[]),
    (
        "ferry_packets_relayed_total",
        "counter",
        &["chain", "counterparty", "channel", "kind"],
    ),
    (
        "ferry_packets_skipped_total",
        "counter",
        &["chain", "counterparty", "channel", "kind"],
    ),
    (
        "ferry_backlog_packets",
        "gauge",
        &["chain", "counterparty", "channel"],
    ),
    (
        "ferry_backlog_oldest_age_seconds",
        "gauge",
        &["chain", "counterparty", "channel"],
    ),
    (
        "ferry_packet_recv_latency_seconds",
        "histogram",
        &["chain", "counterparty", "channel"],
    ),
    (
        "ferry_packet_ack_latency_seconds",
        "histogram",
        &["chain", "counterparty", "channel"],
    ),
    ("ferry_txs_submitted_total", "counter", &["chain"]),
    ("ferry_txs_confirmed_total", "counter", &["chain"]),
    ("ferry_txs_failed_total", "counter", &["chain", "error"]),
    ("ferry_gas_used_total", "counter", &["chain"]),
    ("ferry_fees_paid_total", "counter", &["chain", "denom"]),
    ("ferry_fee_per_packet", "histogram", &["chain", "denom"]),
    (
        "ferry_wallet_balance",
        "gauge",
        &["chain", "wallet", "denom"],
    ),
    (
        "ferry_wallet_runway_seconds",
        "gauge",
        &["chain", "wallet", "denom"],
    ),
    (
        "ferry_client_updates_submitted_total",
        "counter",
        &["chain", "client"],
    ),
    (
        "ferry_client_updates_skipped_total",
        "counter",
        &["chain", "client"],
    ),
    (
        "ferry_light_client_verification_failures_total",
        "counter",
        &["chain", "reason"],
    ),
    (
        "ferry_misbehaviour_detected_total",
        "counter",
        &["chain", "client"],
    ),
    (
        "ferry_client_trusting_period_remaining_seconds",
        "gauge",
        &["chain", "client", "counterparty"],
    ),
    (
        "ferry_client_trusting_period_seconds",
        "gauge",
        &["chain", "client", "counterparty"],
    ),
    ("ferry_rpc_requests_total", "counter", &["chain", "method"]),
    ("ferry_rpc_errors_total", "counter", &["chain", "method"]),
    (
        "ferry_rpc_request_duration_seconds",
        "histogram",
        &["chain", "method"],
    ),
    ("ferry_rpc_up", "gauge", &["chain"]),
    ("ferry_websocket_reconnects_total", "counter", &["chain"]),
    ("ferry_event_blocks_unread_total", "counter", &["chain"]),
    ("ferry_chain_latest_height", "gauge", &["chain"]),
    (
        "ferry_attestation_signatures_total",
        "counter",
        &["chain", "outcome"],
    ),
    (
        "ferry_packets_quarantined",
        "gauge",
        &["chain", "counterparty", "channel", "kind"],
    ),
    (
        "ferry_packets_quarantined_total",
        "counter",
        &["chain", "counterparty", "channel", "kind"],
    ),
    ("ferry_packets_unrelayable_total", "counter", &["chain"]),
    ("ferry_worker_restarts_total", "counter", &["path"]),
    ("ferry_path_ready", "gauge", &["path"]),
    ("ferry_lane_owned", "gauge", &["path", "dst_chain"]),
    (
        "ferry_lease_events_total",
        "counter",
        &["path", "dst_chain", "event"],
    ),
    (
        "ferry_broadcasts_fenced_total",
        "counter",
        &["path", "dst_chain"],
    ),
];

/// The contract family a sample name belongs to (histogram `_bucket/_sum/_count` included).
pub(crate) fn family(
    sample: &str,
) -> Option<&'static (&'static str, &'static str, &'static [&'static str])> {
    METRICS.iter().find(|(name, kind, _)| {
        sample == *name
            || (*kind == "histogram"
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| sample.strip_suffix(s) == Some(name)))
    })
}

/// Labels whose values are deployment-specific ids: never hard-coded in dashboards.
pub(crate) const ID_LABELS: &[&str] = &[
    "chain",
    "counterparty",
    "channel",
    "client",
    "wallet",
    "denom",
    "instance",
    "path",
];
