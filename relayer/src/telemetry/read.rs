//! Reading current values back for the HTTP API (the metrics stay the one source of these
//! figures; the API does not keep copies).

use super::Metrics;

impl Metrics {
    /// A chain's latest height seen and whether its RPC answered last time, for the API; `None`
    /// for a chain Ferry has not looked at.
    pub fn chain_state(&self, chain: &str) -> Option<(u64, bool)> {
        let height = self
            .latest_height
            .get_metric_with_label_values(&[chain])
            .ok()?;
        let up = self.rpc_up.get_metric_with_label_values(&[chain]).ok()?;
        Some((height.get().max(0) as u64, up.get() == 1))
    }
    /// Confirmed txs and the fees they paid (base units of `denom`) since start, for the API.
    /// Reading creates the series (at zero), so only a chain's own fee denom is asked for.
    pub fn chain_cost(&self, chain: &str, denom: Option<&str>) -> (u64, f64) {
        let txs = self.txs_confirmed.get_metric_with_label_values(&[chain]);
        let fees = denom.and_then(|d| {
            self.fees_paid
                .get_metric_with_label_values(&[chain, d])
                .ok()
        });
        (
            txs.map(|c| c.get()).unwrap_or(0),
            fees.map(|c| c.get()).unwrap_or(0.0),
        )
    }
}
