//! A real Prometheus (the Debian `prometheus` package) scraping a live `ferry start` on the devnet,
//! then every Grafana panel query and every alert expression run through Prometheus's HTTP API.
//!
//! 1. Devnet, `create path l3-settlement`, `ferry start`.
//! 2. Prometheus on a free 127.0.0.1 port with a temporary config: job `ferry` scraping the relayer
//!    every second, `dashboards/alerts/ferry-rules.yaml` as its rule file, evaluated every second.
//!    It is started *before* the transfers so `rate()`/`increase()` see the counters move.
//! 3. Transfers both ways and one with an error acknowledgement (`--wait`), so the relayed,
//!    latency, transaction, gas and fee families all get samples; then wait until Prometheus has
//!    scraped them.
//! 4. Every panel target of `dashboards/grafana/ferry.json` (`$chain`/`$channel` = `.*`, the "All"
//!    value) as an instant query: it must parse, and it must return data (non-empty, and not only
//!    NaN). The few targets that are empty on a healthy devnet by nature (failures, stuck packets,
//!    firing alerts…) are in [`EXPECTED_EMPTY`], each with its reason; they must still parse.
//!    The dashboard's template variables (`label_values(...)`) must list values too.
//! 5. Every alert rule expression as an instant query (parses); `/api/v1/rules` lists every rule of
//!    the file with health "ok" after an evaluation; on the healthy devnet none of them fires.
//!
//! Needs `prometheus` on PATH (or `$PROMETHEUS_BIN`): `apt-get install prometheus`. A missing
//! binary is a failure, not a skip.
//!
//! Run: `cargo test -p ferry-tests --test prometheus_live -- --nocapture`

#[path = "prometheus_live/common.rs"]
mod common;
#[path = "prometheus_live/dashboard.rs"]
mod dashboard;
#[path = "prometheus_live/prometheus.rs"]
mod prometheus;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use ferry_tests::{eventually, last_json, TestNet};
use serde_json::Value;

use dashboard::{alert_rules, dashboard, panel_targets, EXPECTED_EMPTY};
use prometheus::{is_success, prometheus_bin, values, Prometheus};

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_and_alert_queries_against_live_prometheus() {
    // Before anything slow: the tool and the files.
    let bin = prometheus_bin();
    let version = Command::new(&bin)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {} --version: {e}", bin.display()));
    eprintln!(
        "{}",
        String::from_utf8_lossy(&version.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&version.stderr).lines())
            .next()
            .unwrap_or("prometheus ?")
    );
    let dash = dashboard();
    let targets = panel_targets(&dash);
    let rules = alert_rules();
    assert!(!targets.is_empty() && !rules.is_empty());
    // The allow-list names existing targets, once each, with a reason, and stays small.
    assert!(
        EXPECTED_EMPTY.len() <= 12,
        "EXPECTED_EMPTY has grown to {} entries: make those panels show data instead",
        EXPECTED_EMPTY.len()
    );
    let mut seen = BTreeSet::new();
    for (panel, ref_id, why) in EXPECTED_EMPTY {
        assert!(
            targets
                .iter()
                .any(|t| t.panel == *panel && t.ref_id == *ref_id),
            "EXPECTED_EMPTY names {panel:?}/{ref_id}, which the dashboard does not have"
        );
        assert!(
            seen.insert((panel, ref_id)),
            "EXPECTED_EMPTY lists {panel:?}/{ref_id} twice"
        );
        assert!(
            why.len() > 10,
            "EXPECTED_EMPTY {panel:?}/{ref_id}: say why it is empty"
        );
    }

    // 1. Devnet, path, relayer.
    let net = TestNet::start("prom").await;
    let ids =
        last_json(&net.ferry_ok(&["--json", "create", "path", "l3-settlement"]))["ids"].clone();
    let chan_b = ids["channel_b"].as_str().expect("channel_b").to_string();
    let relayer = net.start_relayer("relayer.log");
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(60)),
        "relayer did not start:\n{}",
        relayer.log_text()
    );

    // 2. Prometheus scraping it.
    let metrics_url = net.metrics_url();
    let target = metrics_url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    let mut prom = Prometheus::start(&target);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let t = Instant::now();
    loop {
        prom.assert_running();
        if let Ok(r) = http.get(format!("{}/-/ready", prom.url)).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "prometheus not ready after 60 s:\n{}",
            prom.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // 3. Scraping works: up{job="ferry"} == 1 on several consecutive scrapes.
    eventually("prometheus to scrape ferry 3 times", Duration::from_secs(60), || {
        let (prom, http) = (&prom, &http);
        async move {
            let a = prom.query(http, r#"count_over_time(up{job="ferry"}[1m]) >= 3 and min_over_time(up{job="ferry"}[1m]) == 1"#).await;
            (is_success(&a) && !values(&a).is_empty()).then_some(())
        }
    })
    .await;

    // Traffic: both ways, and an error acknowledgement.
    let user = net.address("user");
    let voucher = ferry::cli::voucher_denom(&format!("transfer/{chan_b}/samoleans"));
    let out = net.transfer(
        "l3-appchain-1",
        "1000samoleans",
        &user,
        &["--key", "user", "--wait"],
    );
    assert_eq!(out["state"], "acknowledged", "{out}");
    let out = net.transfer(
        "settlement-1",
        &format!("400{voucher}"),
        &user,
        &["--key", "user", "--wait"],
    );
    assert_eq!(out["state"], "acknowledged", "{out}");
    let out = net.transfer(
        "l3-appchain-1",
        "7samoleans",
        "not-an-address",
        // Past Ferry's own receiver check, for the chain's error ack.
        &["--key", "user", "--wait", "--unchecked"],
    );
    let fin = &out;
    assert_eq!(
        (fin["state"].as_str(), fin["ok"].as_bool()),
        (Some("acknowledged"), Some(false)),
        "expected an error ack: {out}"
    );

    // Prometheus has the traffic: three acks relayed (and their latencies), and three more scrapes after.
    eventually("prometheus to see 3 acks relayed", Duration::from_secs(60), || {
        let (prom, http) = (&prom, &http);
        async move {
            let a = prom.query(http, r#"sum(ferry_packets_relayed_total{kind="ack"}) >= 3 and sum(ferry_packet_ack_latency_seconds_count) >= 3"#).await;
            (is_success(&a) && !values(&a).is_empty()).then_some(())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    prom.assert_running();

    // 4. Every panel target.
    let expected_empty: BTreeMap<(&str, &str), &str> = EXPECTED_EMPTY
        .iter()
        .map(|(p, r, w)| ((*p, *r), *w))
        .collect();
    let mut failures = Vec::new();
    // Per panel, in dashboard order: (targets, with data, expected empty, failed).
    let mut panels: Vec<(&str, [usize; 4])> = Vec::new();
    let mut allowed_with_data = Vec::new();
    let mut partly_nan = Vec::new();
    for t in &targets {
        if panels.last().map(|p| p.0) != Some(t.panel.as_str()) {
            panels.push((t.panel.as_str(), [0; 4]));
        }
        let tally = &mut panels.last_mut().unwrap().1;
        tally[0] += 1;
        let a = prom.query(&http, &t.expr).await;
        let name = format!("{:?}/{}", t.panel, t.ref_id);
        if !is_success(&a) {
            failures.push(format!(
                "{name} does not parse/evaluate: {} {}\n    {}",
                a["errorType"], a["error"], t.expr
            ));
            tally[3] += 1;
            continue;
        }
        let v = values(&a);
        let nan = v.iter().filter(|(_, x)| x == "NaN").count();
        let has_data = nan < v.len();
        if let Some(why) = expected_empty.get(&(t.panel.as_str(), t.ref_id.as_str())) {
            tally[2] += 1;
            eprintln!(
                "  parses, expected empty  {name}: {} series ({why})",
                v.len()
            );
            if has_data {
                allowed_with_data.push(format!("{name}: {v:?}"));
            }
            continue;
        }
        if v.is_empty() {
            failures.push(format!("{name} returned no data:\n    {}", t.expr));
            tally[3] += 1;
        } else if !has_data {
            failures.push(format!(
                "{name} returned only NaN ({} series):\n    {}",
                v.len(),
                t.expr
            ));
            tally[3] += 1;
        } else {
            tally[1] += 1;
            eprintln!(
                "  data                    {name}: {} series, e.g. {{{}}} {}",
                v.len(),
                v[0].0,
                v[0].1
            );
            if nan > 0 {
                // Data, but some series without a value: a gap on the panel (reported, not failed).
                partly_nan.push(format!("{name}: {nan} of {} series NaN: {v:?}", v.len()));
            }
        }
    }

    // The template variables must offer values, or every panel would be filtered to nothing.
    for (var, path) in [
        (
            "chain",
            "/api/v1/label/chain/values?match[]=ferry_chain_latest_height",
        ),
        (
            "channel",
            "/api/v1/label/channel/values?match[]=ferry_backlog_packets",
        ),
    ] {
        let a = prom.get(&http, path).await;
        let vals: Vec<&str> = a["data"]
            .as_array()
            .map(|v| v.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        eprintln!("  variable ${var}: {vals:?}");
        if !is_success(&a) || vals.is_empty() {
            failures.push(format!("dashboard variable ${var} has no values: {a}"));
        }
        if var == "chain" && !(vals.contains(&"l3-appchain-1") && vals.contains(&"settlement-1")) {
            failures.push(format!(
                "dashboard variable $chain misses a devnet chain: {vals:?}"
            ));
        }
    }

    // 5. Alert rules: every expression evaluates; all loaded and healthy; none fires on a healthy devnet.
    let mut alerts_with_result = Vec::new();
    for (name, expr) in &rules {
        let a = prom.query(&http, expr).await;
        if !is_success(&a) {
            failures.push(format!(
                "alert {name}: expression does not parse/evaluate: {} {}\n    {expr}",
                a["errorType"], a["error"]
            ));
        } else if !values(&a).is_empty() {
            alerts_with_result.push(format!("{name} = {:?}", values(&a)));
        }
    }
    let loaded = eventually("every rule evaluated once", Duration::from_secs(30), || {
        let (prom, http) = (&prom, &http);
        async move {
            let a = prom.get(http, "/api/v1/rules").await;
            let rules: Vec<Value> = a["data"]["groups"]
                .as_array()?
                .iter()
                .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
                .collect();
            let evaluated = rules.iter().all(|r| {
                r["lastEvaluation"]
                    .as_str()
                    .is_some_and(|t| !t.starts_with("0001-"))
            });
            (evaluated && !rules.is_empty()).then_some(rules)
        }
    })
    .await;
    let loaded_names: BTreeSet<&str> = loaded.iter().filter_map(|r| r["name"].as_str()).collect();
    for (name, _) in &rules {
        if !loaded_names.contains(name.as_str()) {
            failures.push(format!(
                "alert {name} not loaded by prometheus (loaded: {loaded_names:?})"
            ));
        }
    }
    for r in &loaded {
        if r["health"] != "ok" {
            failures.push(format!(
                "rule {} health {} ({})",
                r["name"], r["health"], r["lastError"]
            ));
        }
        if r["state"].as_str().is_some_and(|s| s != "inactive") {
            failures.push(format!(
                "alert {} is {} on a healthy devnet: {}",
                r["name"], r["state"], r["alerts"]
            ));
        }
    }

    // A panel "has data" when every target not in EXPECTED_EMPTY returned data; "expected empty" when
    // all its targets are in EXPECTED_EMPTY; "partly" when it has both.
    let with_data = panels
        .iter()
        .filter(|(_, [n, d, e, f])| *f == 0 && *d > 0 && d + e == *n)
        .count();
    let empty: Vec<&str> = panels
        .iter()
        .filter(|(_, [n, _, e, _])| e == n)
        .map(|p| p.0)
        .collect();
    let partly: Vec<&str> = panels
        .iter()
        .filter(|(_, [n, d, e, _])| *e > 0 && *d > 0 && e < n)
        .map(|p| p.0)
        .collect();
    eprintln!(
        "SUMMARY: {} panels ({} targets), {} with data (of which {} with an expected-empty target: {:?}), {} expected-empty {:?}; \
         {} alert expressions parsed, {} of {} rules loaded with health ok{}",
        panels.len(),
        targets.len(),
        with_data,
        partly.len(),
        partly,
        empty.len(),
        empty,
        rules.len(),
        loaded.iter().filter(|r| r["health"] == "ok").count(),
        loaded.len(),
        if alerts_with_result.is_empty() { String::new() } else { format!("; alert expressions with a result now: {alerts_with_result:?}") },
    );
    for n in &allowed_with_data {
        eprintln!("note: expected-empty target had data this run: {n}");
    }
    for n in &partly_nan {
        eprintln!("note: {n}");
    }
    // For the report: what the 1h panel shows against what the relayer counted.
    let shown = values(
        &prom
            .query(&http, "sum(increase(ferry_packets_relayed_total[1h]))")
            .await,
    );
    let counted = values(&prom.query(&http, "sum(ferry_packets_relayed_total)").await);
    eprintln!("note: packets relayed: increase()[1h] = {shown:?}, counters = {counted:?}");
    prom.assert_running();
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}\n\nprometheus log:\n{}",
        failures.len(),
        failures.join("\n"),
        prom.log_text()
    );
    drop(prom);
    drop(relayer);
}
