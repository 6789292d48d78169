//! The dashboard and the alert rules: panel targets with the variables substituted, the targets
//! allowed to be empty, and the rule expressions.

use serde_json::Value;

use crate::common::root;

/// Panel targets that are empty on a healthy devnet run, as `(panel title, refId, why)`. Each one
/// must still parse. Keep this list short: a panel that should show something on a healthy relayer
/// does not belong here.
pub(crate) const EXPECTED_EMPTY: &[(&str, &str, &str)] = &[
    ("Packets skipped /s (already delivered)", "A", "only one relayer on the devnet: nothing is ever found already delivered"),
    ("Transactions /s", "C", "ferry_txs_failed_total has no series until a transaction fails; none does on a healthy devnet"),
    ("Transaction failures by error /s", "A", "ferry_txs_failed_total has no series until a transaction fails"),
    ("Stuck channels (oldest unrelayed packet > 10m)", "A", "filters on backlog age > 10m; nothing is stuck"),
    ("Stuck channels (oldest unrelayed packet > 10m)", "B", "filters on backlog age > 10m; nothing is stuck"),
    ("Stuck channels (oldest unrelayed packet > 10m)", "C", "filters on backlog age > 10m; nothing is stuck"),
    ("Firing Ferry alerts", "A", "no alert fires on a healthy devnet (checked below)"),
    ("Client updates /s", "B", "ferry_client_updates_skipped_total has no series until an update is found unneeded; timing-dependent"),
    ("Header verification failures (per 10m)", "A", "ferry_light_client_verification_failures_total has no series until a header is rejected"),
    ("Misbehaviour detected (24h)", "A", "ferry_misbehaviour_detected_total has no series until misbehaviour is seen"),
    ("RPC error ratio", "A", "ferry_rpc_errors_total has no series until an RPC request fails"),
];

/// One panel target: panel title, refId, the expression with the dashboard variables substituted.
pub(crate) struct Target {
    pub(crate) panel: String,
    pub(crate) ref_id: String,
    pub(crate) expr: String,
}

/// Replace the dashboard variables by what Grafana sends for "All" (`allValue: ".*"`) and the
/// interval variables by fixed ranges; no `$` may remain.
pub(crate) fn substitute(expr: &str) -> String {
    let mut e = expr.to_string();
    for (var, value) in [
        ("${chain}", ".*"),
        ("$chain", ".*"),
        ("${channel}", ".*"),
        ("$channel", ".*"),
        ("$__rate_interval", "1m"),
        ("$__interval", "15s"),
        ("$__range", "1h"),
    ] {
        e = e.replace(var, value);
    }
    assert!(
        !e.contains('$'),
        "unknown dashboard variable left in {expr:?} -> {e:?}"
    );
    e
}

pub(crate) fn dashboard() -> Value {
    let text = std::fs::read_to_string(root().join("dashboards/grafana/ferry.json"))
        .expect("read dashboards/grafana/ferry.json");
    serde_json::from_str(&text).expect("dashboard JSON")
}

/// Every target of every panel (including panels nested in collapsed rows), in dashboard order.
pub(crate) fn panel_targets(dash: &Value) -> Vec<Target> {
    fn walk(panels: &[Value], out: &mut Vec<Target>) {
        for p in panels {
            let title = p["title"].as_str().unwrap_or("").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push(Target {
                        panel: title.clone(),
                        ref_id: t["refId"].as_str().unwrap_or("?").to_string(),
                        expr: substitute(expr),
                    });
                }
            }
            if let Some(inner) = p["panels"].as_array() {
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        dash["panels"].as_array().expect("dashboard has panels"),
        &mut out,
    );
    out
}

/// `(alert name, expression)` for every rule of the alert file.
pub(crate) fn alert_rules() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("dashboards/alerts/ferry-rules.yaml"))
        .expect("read ferry-rules.yaml");
    let y: serde_yaml::Value = serde_yaml::from_str(&text).expect("rules YAML");
    let mut out = Vec::new();
    for g in y["groups"].as_sequence().expect("groups") {
        for r in g["rules"].as_sequence().expect("rules") {
            let name = r["alert"]
                .as_str()
                .or_else(|| r["record"].as_str())
                .expect("rule name")
                .to_string();
            out.push((name, r["expr"].as_str().expect("rule expr").to_string()));
        }
    }
    out
}
