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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_tests::{eventually, TempDir, TestNet};
use serde_json::Value;

/// Panel targets that are empty on a healthy devnet run, as `(panel title, refId, why)`. Each one
/// must still parse. Keep this list short: a panel that should show something on a healthy relayer
/// does not belong here.
const EXPECTED_EMPTY: &[(&str, &str, &str)] = &[
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
    ("WebSocket reconnects (per hour)", "A", "ferry_websocket_reconnects_total has no series until a WebSocket reconnects"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate has a parent")
        .to_path_buf()
}

fn last_json(out: &str) -> Value {
    serde_json::from_str(out.lines().last().expect("output")).expect("JSON output")
}

/// The `prometheus` binary: `$PROMETHEUS_BIN`, else `prometheus` on PATH, else a panic telling how
/// to install it.
fn prometheus_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PROMETHEUS_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "PROMETHEUS_BIN={} does not exist. Install Prometheus with `apt-get install prometheus` (CI does).", p.display());
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        let p = dir.join("prometheus");
        if p.is_file() {
            return p;
        }
    }
    panic!("`prometheus` not found on PATH: this test needs a real Prometheus server. Install it with `apt-get install prometheus` (CI does), or set PROMETHEUS_BIN=/path/to/prometheus.");
}

// ------------------------------------------------------------------ dashboard and rules

/// One panel target: panel title, refId, the expression with the dashboard variables substituted.
struct Target {
    panel: String,
    ref_id: String,
    expr: String,
}

/// Replace the dashboard variables by what Grafana sends for "All" (`allValue: ".*"`) and the
/// interval variables by fixed ranges; no `$` may remain.
fn substitute(expr: &str) -> String {
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

fn dashboard() -> Value {
    let text = std::fs::read_to_string(root().join("dashboards/grafana/ferry.json"))
        .expect("read dashboards/grafana/ferry.json");
    serde_json::from_str(&text).expect("dashboard JSON")
}

/// Every target of every panel (including panels nested in collapsed rows), in dashboard order.
fn panel_targets(dash: &Value) -> Vec<Target> {
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
fn alert_rules() -> Vec<(String, String)> {
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

// ------------------------------------------------------------------ the Prometheus process

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGTERM: i32 = 15;

/// A Prometheus server we started; stopped by pid (SIGTERM, then wait; SIGKILL after 20 s) on drop,
/// before its temporary folder goes.
struct Prometheus {
    child: Option<Child>,
    pid: u32,
    url: String,
    log: PathBuf,
    _dir: TempDir,
}

impl Prometheus {
    /// Start Prometheus scraping `target` (`host:port`) as job `ferry` every second, with Ferry's
    /// alert rules evaluated every second.
    fn start(target: &str) -> Prometheus {
        let bin = prometheus_bin();
        let dir = TempDir::new("prometheus");
        let rules = root().join("dashboards/alerts/ferry-rules.yaml");
        let config = dir.0.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {rules:?}\nscrape_configs:\n  - job_name: ferry\n    static_configs:\n      - targets: [{target:?}]\n",
                rules = rules.display().to_string(),
            ),
        )
        .unwrap();
        let port = ferry::devnet::free_port();
        let listen = format!("127.0.0.1:{port}");
        let log = dir.0.join("prometheus.log");
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address={listen}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "start {}: {e} (install with `apt-get install prometheus`)",
                    bin.display()
                )
            });
        let pid = child.id();
        eprintln!(
            "prometheus pid {pid} on {listen}, folder {}",
            dir.0.display()
        );
        Prometheus {
            child: Some(child),
            pid,
            url: format!("http://{listen}"),
            log,
            _dir: dir,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panic (with the log) if the process has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("prometheus exited with {status:?}:\n{}", self.log_text());
        }
    }

    /// `/api/v1/query` (POST form) at the current time: the whole JSON answer.
    async fn query(&self, http: &reqwest::Client, q: &str) -> Value {
        let resp = http
            .post(format!("{}/api/v1/query", self.url))
            .form(&[("query", q)])
            .send()
            .await
            .expect("query prometheus");
        let code = resp.status();
        let body = resp.text().await.expect("query body");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("query {q:?}: HTTP {code}, not JSON ({e}): {body}"))
    }

    async fn get(&self, http: &reqwest::Client, path: &str) -> Value {
        let body = http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET prometheus")
            .text()
            .await
            .expect("body");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        unsafe { kill(self.pid as i32, SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "prometheus pid {} ignored SIGTERM for 20 s: SIGKILL",
            self.pid
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// What an instant query returned: `(labels, value)` per sample, the value as text ("NaN", "3.5").
fn values(answer: &Value) -> Vec<(String, String)> {
    let data = &answer["data"];
    let labels = |m: &Value| {
        m.as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    labels(&s["metric"]),
                    s["value"][1].as_str().unwrap_or("?").to_string(),
                )
            })
            .collect(),
        Some("scalar") | Some("string") => vec![(
            String::new(),
            data["result"][1].as_str().unwrap_or("?").to_string(),
        )],
        other => panic!("unexpected resultType {other:?} for an instant query: {answer}"),
    }
}

fn is_success(answer: &Value) -> bool {
    answer["status"] == "success"
}

// ------------------------------------------------------------------ the test

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
    let out = net.ferry_ok(&[
        "--json",
        "transfer",
        "--path",
        "l3-settlement",
        "--from-chain",
        "l3-appchain-1",
        "--amount",
        "1000samoleans",
        "--to",
        &user,
        "--key",
        "user",
        "--wait",
    ]);
    assert_eq!(last_json(&out)["state"], "acknowledged", "{out}");
    let out = net.ferry_ok(&[
        "--json",
        "transfer",
        "--path",
        "l3-settlement",
        "--from-chain",
        "settlement-1",
        "--amount",
        &format!("400{voucher}"),
        "--to",
        &user,
        "--key",
        "user",
        "--wait",
    ]);
    assert_eq!(last_json(&out)["state"], "acknowledged", "{out}");
    let out = net.ferry_ok(&[
        "--json",
        "transfer",
        "--path",
        "l3-settlement",
        "--from-chain",
        "l3-appchain-1",
        "--amount",
        "7samoleans",
        "--to",
        "not-an-address",
        "--key",
        "user",
        "--wait",
    ]);
    let fin = last_json(&out);
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
