//! The attestor's metrics, in a registry of its own (it is a separate process from the relayer).
//! Every name starts with `ferry_attestor_`; label values are chain names from the config,
//! endpoint indexes from the config and reasons from [`Kind`].

use prometheus::{
    Encoder, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Registry, TextEncoder,
};

use super::refusal::Kind;
use crate::telemetry::{counter, histogram, int_gauge};

/// The `attestation` label values of `ferry_attestor_ibc_signatures_total`.
pub const IBC_ATTESTATIONS: [&str; 2] = ["state", "packets"];

pub struct Metrics {
    registry: Registry,
    signatures: IntCounterVec,
    ibc_signatures: IntCounterVec,
    refusals: IntCounterVec,
    bad_requests: IntCounterVec,
    follow_failures: IntCounterVec,
    rpc_errors: IntCounterVec,
    verified_height: IntGaugeVec,
    final_height: IntGaugeVec,
    records: IntGauge,
    attest_seconds: HistogramVec,
}

impl Metrics {
    /// A registry with every series of `chains` (name, endpoint count) created at zero.
    pub fn new(chains: &[(String, usize)]) -> Metrics {
        let registry = Registry::new();
        let r = &registry;
        let m = Metrics {
            signatures: counter(
                r,
                "ferry_attestor_signatures_total",
                "Attestations signed and returned (every format)",
                &["chain"],
            ),
            ibc_signatures: counter(
                r,
                "ferry_attestor_ibc_signatures_total",
                "Attestations signed in the ibc-go attestations format, by attestation (state, packets)",
                &["chain", "attestation"],
            ),
            refusals: counter(
                r,
                "ferry_attestor_refusals_total",
                "Attestation requests refused, by reason",
                &["chain", "reason"],
            ),
            bad_requests: counter(
                r,
                "ferry_attestor_bad_requests_total",
                "Requests refused before a chain was chosen (malformed, or naming an unknown chain)",
                &["reason"],
            ),
            follow_failures: counter(
                r,
                "ferry_attestor_follow_failures_total",
                "Background rounds that could not extend the verified chain, by reason",
                &["chain", "reason"],
            ),
            rpc_errors: counter(
                r,
                "ferry_attestor_rpc_errors_total",
                "JSON-RPC calls that failed, by endpoint index in the chain's rpc list",
                &["chain", "endpoint"],
            ),
            verified_height: int_gauge(
                r,
                "ferry_attestor_verified_height",
                "Newest block verified from the checkpoint (all endpoints agreeing)",
                &["chain"],
            ),
            final_height: int_gauge(
                r,
                "ferry_attestor_final_height",
                "Newest final block under the finality rule (minimum over endpoints)",
                &["chain"],
            ),
            records: IntGauge::new(
                "ferry_attestor_records",
                "States in the signed record (chain, height) → (timestamp, state root)",
            )
            .expect("valid metric"),
            attest_seconds: histogram(
                &registry,
                "ferry_attestor_attest_seconds",
                "Time to answer a successful attestation request",
                &["chain"],
                vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            ),
            registry,
        };
        m.registry
            .register(Box::new(m.records.clone()))
            .expect("registered once");
        for (chain, endpoints) in chains {
            m.signatures.with_label_values(&[chain]).reset();
            for k in Kind::CHAIN_REASONS {
                m.refusals.with_label_values(&[chain, k.label()]).reset();
                m.follow_failures
                    .with_label_values(&[chain, k.label()])
                    .reset();
            }
            for i in 0..*endpoints {
                m.rpc_errors
                    .with_label_values(&[chain, &i.to_string()])
                    .reset();
            }
        }
        for k in [Kind::BadRequest, Kind::UnknownChain] {
            m.bad_requests.with_label_values(&[k.label()]).reset();
        }
        m
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding");
        String::from_utf8(buf).expect("utf-8")
    }

    pub fn signed(&self, chain: &str, secs: f64) {
        self.signatures.with_label_values(&[chain]).inc();
        self.attest_seconds
            .with_label_values(&[chain])
            .observe(secs);
    }

    /// The ibc-format series of `chain` (the one chain signed in that format) at zero.
    pub fn init_ibc(&self, chain: &str) {
        for a in IBC_ATTESTATIONS {
            self.ibc_signatures.with_label_values(&[chain, a]).reset();
        }
    }

    /// An ibc-format attestation signed; `attestation` is one of [`IBC_ATTESTATIONS`].
    pub fn ibc_signed(&self, chain: &str, attestation: &'static str, secs: f64) {
        self.signed(chain, secs);
        self.ibc_signatures
            .with_label_values(&[chain, attestation])
            .inc();
    }

    pub fn refused(&self, chain: &str, kind: Kind) {
        self.refusals
            .with_label_values(&[chain, kind.label()])
            .inc();
    }

    pub fn bad_request(&self, kind: Kind) {
        self.bad_requests.with_label_values(&[kind.label()]).inc();
    }

    pub fn follow_failed(&self, chain: &str, kind: Kind) {
        self.follow_failures
            .with_label_values(&[chain, kind.label()])
            .inc();
    }

    pub fn rpc_error(&self, chain: &str, endpoint: usize) {
        self.rpc_errors
            .with_label_values(&[chain, &endpoint.to_string()])
            .inc();
    }

    pub fn verified_height(&self, chain: &str, h: u64) {
        self.verified_height
            .with_label_values(&[chain])
            .set(i64::try_from(h).unwrap_or(i64::MAX));
    }

    pub fn final_height(&self, chain: &str, h: u64) {
        self.final_height
            .with_label_values(&[chain])
            .set(i64::try_from(h).unwrap_or(i64::MAX));
    }

    pub fn records(&self, n: usize) {
        self.records.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_exist_at_zero_with_the_prefix() {
        let m = Metrics::new(&[("evm-l3".into(), 2)]);
        m.refused("evm-l3", Kind::Disagreement);
        m.init_ibc("evm-l3");
        m.ibc_signed("evm-l3", "packets", 0.1);
        let text = m.render();
        assert!(text
            .contains("ferry_attestor_refusals_total{chain=\"evm-l3\",reason=\"disagreement\"} 1"));
        assert!(
            text.contains("ferry_attestor_refusals_total{chain=\"evm-l3\",reason=\"conflict\"} 0")
        );
        assert!(text.contains("ferry_attestor_rpc_errors_total{chain=\"evm-l3\",endpoint=\"1\"} 0"));
        assert!(text.contains("ferry_attestor_bad_requests_total{reason=\"unknown_chain\"} 0"));
        assert!(text.contains(
            "ferry_attestor_ibc_signatures_total{attestation=\"packets\",chain=\"evm-l3\"} 1"
        ));
        assert!(text.contains(
            "ferry_attestor_ibc_signatures_total{attestation=\"state\",chain=\"evm-l3\"} 0"
        ));
        assert!(text.contains("ferry_attestor_signatures_total{chain=\"evm-l3\"} 1"));
        assert!(text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .all(|l| l.starts_with("ferry_attestor_")));
    }
}
