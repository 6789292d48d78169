//! Medians and spreads of every figure over the repeats, per workload and relayer, and the ratio
//! Ferry/Hermes of the medians.

use serde_json::{json, Value};

/// (name, JSON pointer into one run) of every figure the table shows.
const FIGURES: &[(&str, &str)] = &[
    (
        "seconds_until_all_acknowledged",
        "/seconds_until_all_acknowledged",
    ),
    ("packets_per_second", "/packets_per_second"),
    ("send_to_recv_p50_s", "/latency/send_to_recv_seconds/p50"),
    ("send_to_recv_p99_s", "/latency/send_to_recv_seconds/p99"),
    ("send_to_ack_p50_s", "/latency/send_to_ack_seconds/p50"),
    ("send_to_ack_p99_s", "/latency/send_to_ack_seconds/p99"),
    (
        "send_to_recv_p50_blocks",
        "/latency/send_to_recv_blocks/p50",
    ),
    (
        "send_to_recv_p99_blocks",
        "/latency/send_to_recv_blocks/p99",
    ),
    (
        "floor_send_to_recv_p50_blocks",
        "/latency/floor_send_to_recv_blocks/p50",
    ),
    (
        "backlog_send_to_recv_p50_s",
        "/backlog_latency/send_to_recv_seconds/p50",
    ),
    (
        "backlog_send_to_recv_p99_s",
        "/backlog_latency/send_to_recv_seconds/p99",
    ),
    ("relayer_txs", "/relayer_txs"),
    ("relayer_failed_txs", "/relayer_failed_txs"),
    ("gas_per_packet", "/relayer_gas_per_packet"),
    ("client_updates", "/relayer_client_updates"),
    ("requests_per_packet", "/requests_per_packet"),
    (
        "rpc_http_requests_per_packet",
        "/rpc_http_requests_per_packet",
    ),
    ("jsonrpc_calls_per_packet", "/jsonrpc_calls_per_packet"),
    (
        "websocket_messages_per_packet",
        "/websocket_messages_per_packet",
    ),
    ("grpc_calls_per_packet", "/grpc_calls_per_packet"),
    ("peak_rss_mib", "/peak_rss_mib"),
    ("cpu_seconds", "/cpu_seconds"),
    ("source_node_cpu_seconds", "/source_node_cpu_seconds"),
    (
        "destination_node_cpu_seconds",
        "/destination_node_cpu_seconds",
    ),
    ("machine_busy_cores", "/machine_busy_cores"),
];

/// Median (the middle value; the mean of the two middle ones for an even count), min and max.
pub fn spread(mut v: Vec<f64>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    json!({ "median": median, "min": v[0], "max": v[n - 1], "n": n })
}

pub fn summarize(runs: &[Value], workloads: &[u8]) -> Value {
    let mut out = serde_json::Map::new();
    for &w in workloads {
        let mut per = serde_json::Map::new();
        for who in ["ferry", "hermes", "ferry-3-signers"] {
            let mine: Vec<&Value> = runs
                .iter()
                .filter(|r| r["workload"] == w && r["relayer"] == who)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut figs = serde_json::Map::new();
            for (name, ptr) in FIGURES {
                let v = mine
                    .iter()
                    .filter_map(|r| r.pointer(ptr)?.as_f64())
                    .collect();
                figs.insert(name.to_string(), spread(v));
            }
            per.insert(who.into(), Value::Object(figs));
        }
        let mut ratio = serde_json::Map::new();
        for (name, _) in FIGURES {
            let m = |who: &str| per.get(who)?[name]["median"].as_f64();
            if let (Some(f), Some(h)) = (m("ferry"), m("hermes")) {
                if h != 0.0 {
                    ratio.insert(name.to_string(), json!(f / h));
                }
            }
        }
        per.insert("ratio_ferry_over_hermes".into(), Value::Object(ratio));
        out.insert(format!("workload_{w}"), Value::Object(per));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        assert_eq!(spread(vec![3.0, 1.0, 2.0])["median"], 2.0);
        assert_eq!(spread(vec![4.0, 1.0, 2.0, 3.0])["median"], 2.5);
        assert_eq!(spread(vec![4.0, 1.0])["max"], 4.0);
        assert!(spread(vec![]).is_null());
    }

    #[test]
    fn ratio_of_medians() {
        let run =
            |who: &str, pps: f64| json!({"workload": 1, "relayer": who, "packets_per_second": pps});
        let runs = vec![
            run("ferry", 100.0),
            run("ferry", 300.0),
            run("ferry", 200.0),
            run("hermes", 50.0),
        ];
        let s = summarize(&runs, &[1]);
        assert_eq!(
            s["workload_1"]["ratio_ferry_over_hermes"]["packets_per_second"],
            4.0
        );
        assert_eq!(s["workload_1"]["ferry"]["packets_per_second"]["min"], 100.0);
    }
}
