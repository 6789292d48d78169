//! Static checks of Ferry's SRE and deployment files (`dashboards/`, `deploy/`):
//!
//! * every YAML/JSON file parses (Helm templates are Go templates: they must exist,
//!   and the chart's plain files must parse);
//! * every host path the compose file, its Prometheus config, the Grafana
//!   provisioning and the Helm chart point to exists;
//! * the Grafana dashboard has the `datasource`/`chain`/`channel` variables, its rows
//!   in the agreed order, every target on `${datasource}`, `chain=~"$chain"` on every
//!   chain-labelled selector, no hard-coded chain/channel/client ids, and only metrics
//!   from the contract in docs/METRICS.md; with promtool, every expression parses;
//! * the alert rules use only contract metrics, carry severity/summary/description,
//!   the unit tests cover every alert firing and not firing, and the Helm chart's
//!   copy has the same groups (with helm: `helm lint`, and the rendered PrometheusRule);
//! * the systemd unit has the hardening keys and passes `systemd-analyze verify`.
//!
//! External tools (promtool, systemd-analyze, helm) are used when found on PATH. When one is
//! missing the test says so on stderr ("NOT RUN") and checks only what it can; set
//! `FERRY_REQUIRE_TOOLS=1` to make a missing tool a failure.
//!
//! Run: `cargo test -p ferry-tests --test deploy_files -- --nocapture`

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

// ------------------------------------------------------------------ helpers

/// Repository root: `$FERRY_REPO_ROOT`, else the parent of this crate.
fn root() -> PathBuf {
    if let Ok(r) = std::env::var("FERRY_REPO_ROOT") {
        return PathBuf::from(r);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate has a parent")
        .to_path_buf()
}

/// Always-visible note (bypasses libtest's output capture).
fn note(msg: impl AsRef<str>) {
    let _ = writeln!(std::io::stderr(), "deploy_files: {}", msg.as_ref());
}

fn require_tools() -> bool {
    std::env::var("FERRY_REQUIRE_TOOLS")
        .map(|v| v == "1" || v == "true")
        .unwrap_or(false)
}

/// A tool that is not on PATH: say so loudly, and fail if tools are required.
fn tool_missing(tool: &str, what: &str) {
    let msg = format!(
        "NOT RUN: `{tool}` not found on PATH, so {what} was NOT checked (only static checks ran)"
    );
    note(&msg);
    assert!(!require_tools(), "FERRY_REQUIRE_TOOLS=1: {msg}");
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn yaml(p: &Path) -> Yaml {
    serde_yaml::from_str(&read(p))
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", p.display()))
}

fn json(p: &Path) -> Json {
    serde_json::from_str(&read(p))
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", p.display()))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if name != "target" && name != ".git" && name != "node_modules" {
                walk(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

fn ext(p: &Path) -> &str {
    p.extension().and_then(|e| e.to_str()).unwrap_or("")
}

fn is_helm_template(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.contains("/deploy/helm/") && s.contains("/templates/")
}

fn ystr<'a>(v: &'a Yaml, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Yaml::as_str)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferry-deploy-files-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// `${VAR:-default}` / `${VAR-default}` / `${VAR}` / `$VAR` as compose would expand
/// them with the variables unset: the repository's defaults are what must exist.
fn compose_default(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .unwrap_or_else(|| panic!("unterminated ${{ in {s:?}"));
            let inner = &body[..end];
            if let Some(j) = inner.find(":-").or_else(|| inner.find('-')) {
                let skip = if inner[j..].starts_with(":-") { 2 } else { 1 };
                out.push_str(&inner[j + skip..]);
            }
            rest = &body[end + 1..];
        } else if let Some(after2) = after.strip_prefix('$') {
            out.push('$');
            rest = after2;
        } else {
            let n = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            rest = &after[n..];
        }
    }
    out.push_str(rest);
    out
}

// ------------------------------------------------------------------ metric contract

/// (name, type, labels) exactly as docs/METRICS.md and the relayer define them.
const METRICS: &[(&str, &str, &[&str])] = &[
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
    ("ferry_chain_latest_height", "gauge", &["chain"]),
];

/// The contract family a sample name belongs to (histogram `_bucket/_sum/_count` included).
fn family(sample: &str) -> Option<&'static (&'static str, &'static str, &'static [&'static str])> {
    METRICS.iter().find(|(name, kind, _)| {
        sample == *name
            || (*kind == "histogram"
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| sample.strip_suffix(s) == Some(name)))
    })
}

/// Labels whose values are deployment-specific ids: never hard-coded in dashboards.
const ID_LABELS: &[&str] = &[
    "chain",
    "counterparty",
    "channel",
    "client",
    "wallet",
    "denom",
    "instance",
];

#[derive(Debug)]
struct Selector {
    metric: String,
    matchers: Vec<(String, String, String)>, // label, op, value
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Every `metric{...}` / bare `metric` / `{...}` selector in a PromQL expression,
/// skipping string literals and the label lists of `by (...)`, `on (...)` etc.
fn selectors(expr: &str) -> Vec<Selector> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "offset",
        "bool",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "inf",
        "nan",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut label_list = false; // inside by(...)/on(...)
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            let q = c;
            i += 1;
            while i < chars.len() && chars[i] != q {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
            continue;
        }
        if label_list {
            if c == ')' {
                label_list = false;
            }
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            // Number or duration literal (0.5, 1e12, 10m): not a metric name.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == '{' {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let next = chars.get(j).copied();
            let lower = word.to_ascii_lowercase();
            if [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&lower.as_str())
            {
                if next == Some('(') {
                    label_list = true;
                    i = j + 1;
                }
                continue;
            }
            if next == Some('(') && c != '{' {
                continue; // function call or aggregation
            }
            if !word.is_empty()
                && (KEYWORDS.contains(&lower.as_str()) || word.chars().all(|c| c.is_ascii_digit()))
            {
                continue;
            }
            if word.is_empty() && c != '{' {
                i += 1;
                continue;
            }
            let mut sel = Selector {
                metric: word,
                matchers: Vec::new(),
            };
            if next == Some('{') {
                let body_start = j + 1;
                let mut k = body_start;
                let mut in_q = false;
                while k < chars.len() && (in_q || chars[k] != '}') {
                    if chars[k] == '"' {
                        in_q = !in_q;
                    } else if in_q && chars[k] == '\\' {
                        k += 1;
                    }
                    k += 1;
                }
                let body: String = chars[body_start..k.min(chars.len())].iter().collect();
                sel.matchers = parse_matchers(&body, expr);
                i = k + 1;
            }
            out.push(sel);
            continue;
        }
        i += 1;
    }
    out
}

fn parse_matchers(body: &str, expr: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let name_end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        let name = rest[..name_end].to_string();
        let after = rest[name_end..].trim_start();
        let op = ["=~", "!~", "!=", "="]
            .iter()
            .find(|op| after.starts_with(**op))
            .unwrap_or_else(|| panic!("cannot parse matcher {rest:?} in {expr}"));
        let after = after[op.len()..].trim_start();
        assert!(
            after.starts_with('"'),
            "matcher value must be double-quoted in {expr}"
        );
        let mut end = 1;
        let b = after.as_bytes();
        while end < b.len() && b[end] != b'"' {
            if b[end] == b'\\' {
                end += 1;
            }
            end += 1;
        }
        out.push((name, op.to_string(), after[1..end].to_string()));
        rest = after[(end + 1).min(after.len())..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    out
}

/// Check that every metric referenced is either a contract metric or an allowed other.
fn check_metric_names(expr: &str, allowed_other: &[&str], errors: &mut Vec<String>, ctx: &str) {
    for sel in selectors(expr) {
        if sel.metric.is_empty() || allowed_other.contains(&sel.metric.as_str()) {
            continue;
        }
        if family(&sel.metric).is_none() {
            errors.push(format!(
                "{ctx}: metric `{}` is not in the metric contract: {expr}",
                sel.metric
            ));
        }
    }
}

/// Write PromQL expressions as recording rules and let promtool parse them.
fn promtool_parse(exprs: &[String], tag: &str) -> Option<String> {
    let promtool = which("promtool")?;
    let dir = temp_dir(tag);
    let mut rules = String::from("groups:\n  - name: parse-check\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: parse_check_{i}\n        expr: {}\n",
            serde_json::to_string(e).unwrap()
        ));
    }
    let file = dir.join("exprs.yaml");
    fs::write(&file, rules).unwrap();
    let out = Command::new(promtool)
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
        .expect("run promtool");
    let _ = fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool could not parse the expressions ({tag}):\n{text}"
    );
    Some(text.trim().replace('\n', " | "))
}

// ------------------------------------------------------------------ tests

#[test]
fn all_yaml_and_json_files_parse() {
    let root = root();
    let mut files = Vec::new();
    walk(&root.join("dashboards"), &mut files);
    walk(&root.join("deploy"), &mut files);
    let (mut yamls, mut jsons, mut templates) = (0, 0, 0);
    for f in &files {
        match ext(f) {
            "yaml" | "yml" if is_helm_template(f) => templates += 1,
            "yaml" | "yml" => {
                // Multi-document files: parse each `---`-separated document.
                let text = read(f);
                let mut doc = String::new();
                for line in text.lines().chain(std::iter::once("---")) {
                    if line.trim_end() == "---" {
                        serde_yaml::from_str::<Yaml>(&doc)
                            .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", f.display()));
                        doc.clear();
                    } else {
                        doc.push_str(line);
                        doc.push('\n');
                    }
                }
                yamls += 1;
            }
            "json" => {
                json(f);
                jsons += 1;
            }
            _ => {}
        }
    }
    assert!(
        yamls >= 8 && jsons >= 1,
        "expected the deployment files, found {yamls} YAML and {jsons} JSON"
    );

    // Helm templates are Go templates: they must exist; the chart's own files parse (above).
    let chart = root.join("deploy/helm/ferry");
    for t in [
        "_helpers.tpl",
        "deployment.yaml",
        "service.yaml",
        "configmap.yaml",
        "servicemonitor.yaml",
        "prometheusrule.yaml",
    ] {
        assert!(
            chart.join("templates").join(t).is_file(),
            "missing Helm template templates/{t}"
        );
    }
    for f in ["Chart.yaml", "values.yaml", "files/ferry-rules.yaml"] {
        assert!(chart.join(f).is_file(), "missing chart file {f}");
    }
    note(format!("parsed {yamls} YAML and {jsons} JSON files; {templates} Helm templates present (not parsed: Go templates)"));
}

#[test]
fn compose_and_prometheus_paths_exist() {
    let root = root();
    let dir = root.join("deploy/compose");
    let compose = yaml(&dir.join("compose.yaml"));
    let services = compose
        .get("services")
        .and_then(Yaml::as_mapping)
        .expect("compose: services");
    let declared_volumes: BTreeSet<String> = compose
        .get("volumes")
        .and_then(Yaml::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut checked = 0;
    // container path -> host path, per service
    let mut mounts: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
    for (name, svc) in services {
        let name = name.as_str().unwrap().to_string();
        if let Some(build) = svc.get("build") {
            let ctx = dir.join(compose_default(ystr(build, "context").unwrap_or(".")));
            assert!(
                ctx.is_dir(),
                "compose {name}: build context {} does not exist",
                ctx.display()
            );
            let file = ctx.join(compose_default(
                ystr(build, "dockerfile").unwrap_or("Dockerfile"),
            ));
            assert!(
                file.is_file(),
                "compose {name}: dockerfile {} does not exist",
                file.display()
            );
            checked += 2;
        }
        for env_file in svc
            .get("env_file")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
        {
            let p = dir.join(compose_default(env_file.as_str().unwrap()));
            assert!(
                p.is_file(),
                "compose {name}: env_file {} does not exist",
                p.display()
            );
            checked += 1;
        }
        for v in svc
            .get("volumes")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
        {
            let spec = compose_default(v.as_str().expect("short volume syntax"));
            let parts: Vec<&str> = spec.split(':').collect();
            let (src, dst) = (parts[0], parts.get(1).copied().unwrap_or(parts[0]));
            if src.starts_with('.') || src.starts_with('/') || src.starts_with('~') {
                let host = dir.join(src);
                assert!(
                    host.exists(),
                    "compose {name}: bind-mount source {} does not exist (volume {v:?})",
                    host.display()
                );
                mounts
                    .entry(name.clone())
                    .or_default()
                    .push((dst.to_string(), host));
                checked += 1;
            } else {
                assert!(
                    declared_volumes.contains(src),
                    "compose {name}: named volume {src} not declared"
                );
            }
        }
    }

    // Ferry listens on all interfaces inside the container.
    let ferry = compose["services"]
        .get("ferry")
        .expect("compose: ferry service");
    let listen = ferry
        .get("environment")
        .and_then(|e| ystr(e, "FERRY_TELEMETRY__LISTEN"));
    assert_eq!(
        listen,
        Some("0.0.0.0:9464"),
        "compose ferry: FERRY_TELEMETRY__LISTEN must be 0.0.0.0:9464"
    );

    // Maps a container path of `service` to the host through its bind mounts.
    let host_of = |service: &str, container: &str| -> Option<PathBuf> {
        // The most specific (longest) mount wins, as in the container.
        mounts
            .get(service)?
            .iter()
            .filter_map(|(dst, host)| {
                let rel = Path::new(container).strip_prefix(dst).ok()?;
                Some((
                    dst.len(),
                    if rel.as_os_str().is_empty() {
                        host.clone()
                    } else {
                        host.join(rel)
                    },
                ))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, p)| p)
    };

    // Prometheus: rule files resolve to the repository's rules; scrape job "ferry" -> ferry:9464.
    let prom_cfg_host =
        host_of("prometheus", "/etc/prometheus/prometheus.yml").expect("prometheus.yml mounted");
    let prom = yaml(&prom_cfg_host);
    let rule_files = prom
        .get("rule_files")
        .and_then(Yaml::as_sequence)
        .expect("prometheus.yml: rule_files");
    assert!(!rule_files.is_empty());
    for rf in rule_files {
        let rf = rf.as_str().unwrap();
        let host = host_of("prometheus", rf)
            .unwrap_or_else(|| panic!("rule file {rf} is not on a mounted volume"));
        assert!(
            host.is_file(),
            "rule file {rf} maps to {} which does not exist",
            host.display()
        );
        assert!(
            !rf.contains('*'),
            "rule_files must not glob: the rules directory also holds unit tests"
        );
        checked += 1;
    }
    let jobs = prom
        .get("scrape_configs")
        .and_then(Yaml::as_sequence)
        .expect("scrape_configs");
    let ferry_job = jobs
        .iter()
        .find(|j| ystr(j, "job_name") == Some("ferry"))
        .expect("scrape job named ferry (alerts use up{job=\"ferry\"})");
    let targets = serde_yaml::to_string(&ferry_job["static_configs"]).unwrap();
    assert!(
        targets.contains("ferry:9464"),
        "job ferry must scrape ferry:9464: {targets}"
    );

    // Grafana: provisioning directory and the dashboards path it names.
    let prov =
        host_of("grafana", "/etc/grafana/provisioning").expect("grafana provisioning mounted");
    let providers = yaml(&prov.join("dashboards/ferry.yaml"));
    for p in providers["providers"].as_sequence().expect("providers") {
        let path = p["options"]["path"]
            .as_str()
            .expect("provider options.path");
        let host =
            host_of("grafana", path).unwrap_or_else(|| panic!("dashboard path {path} not mounted"));
        assert!(
            host.join("ferry.json").is_file(),
            "{} has no ferry.json",
            host.display()
        );
        checked += 1;
    }
    let ds = yaml(&prov.join("datasources/prometheus.yaml"));
    let url = ds["datasources"][0]["url"]
        .as_str()
        .expect("datasource url");
    assert!(
        url.contains("//prometheus:9090"),
        "datasource url {url} should point at the compose prometheus service"
    );
    let home = compose["services"]["grafana"]["environment"]
        ["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
        .as_str();
    if let Some(home) = home {
        let host =
            host_of("grafana", home).unwrap_or_else(|| panic!("home dashboard {home} not mounted"));
        assert!(host.is_file(), "home dashboard {} missing", host.display());
    }
    note(format!("compose: {checked} referenced host paths exist"));
}

#[test]
fn helm_chart_points_to_existing_files_and_carries_the_rules() {
    let root = root();
    let chart = root.join("deploy/helm/ferry");
    let meta = yaml(&chart.join("Chart.yaml"));
    assert_eq!(ystr(&meta, "apiVersion"), Some("v2"));
    assert_eq!(ystr(&meta, "name"), Some("ferry"));
    let values = yaml(&chart.join("values.yaml"));
    assert!(
        values.get("config").and_then(Yaml::as_str).is_some(),
        "values.config (config.toml text) missing"
    );
    assert_eq!(
        values["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    assert_eq!(
        values["podSecurityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );

    // Every .Files.Get / .Files.Glob path in the templates exists.
    let mut templates = Vec::new();
    walk(&chart.join("templates"), &mut templates);
    let mut referenced = 0;
    let mut all = String::new();
    for t in &templates {
        let text = read(t);
        for pat in [".Files.Get \"", ".Files.Glob \""] {
            let mut rest = text.as_str();
            while let Some(i) = rest.find(pat) {
                let tail = &rest[i + pat.len()..];
                let path = &tail[..tail.find('"').unwrap()];
                if pat == ".Files.Get \"" {
                    assert!(
                        chart.join(path).is_file(),
                        "{}: .Files.Get {path:?} does not exist in the chart",
                        t.display()
                    );
                }
                referenced += 1;
                rest = tail;
            }
        }
        all.push_str(&text);
    }
    assert!(
        referenced >= 1,
        "the PrometheusRule should load files/ferry-rules.yaml with .Files.Get"
    );
    for needle in [
        "path: /healthz",
        "path: /readyz",
        "defaultMode: 0400",
        "readOnly: true",
        "kind: ServiceMonitor",
        "kind: PrometheusRule",
        "kind: ConfigMap",
        "kind: Service",
        "FERRY_TELEMETRY__LISTEN",
        "jobLabel: app.kubernetes.io/name",
    ] {
        assert!(
            all.contains(needle),
            "Helm templates should contain `{needle}`"
        );
    }

    // The chart's rules are the repository's rules.
    let ours = yaml(&root.join("dashboards/alerts/ferry-rules.yaml"));
    let copy = yaml(&chart.join("files/ferry-rules.yaml"));
    assert!(ours.get("groups").is_some());
    assert_eq!(
        ours.get("groups"),
        copy.get("groups"),
        "deploy/helm/ferry/files/ferry-rules.yaml differs from dashboards/alerts/ferry-rules.yaml: \
         cp dashboards/alerts/ferry-rules.yaml deploy/helm/ferry/files/ferry-rules.yaml"
    );
    note(format!("helm: {} templates, {referenced} .Files references exist, PrometheusRule groups identical to dashboards/alerts", templates.len()));

    // With helm on PATH: lint, render, and compare the rendered PrometheusRule.
    let Some(helm) = which("helm") else {
        tool_missing("helm", "`helm lint` / `helm template` of deploy/helm/ferry");
        return;
    };
    let lint = Command::new(&helm)
        .arg("lint")
        .arg(&chart)
        .output()
        .expect("run helm lint");
    assert!(
        lint.status.success(),
        "helm lint failed:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    let out = Command::new(&helm)
        .args(["template", "ferry"])
        .arg(&chart)
        .output()
        .expect("run helm template");
    let rendered = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "helm template failed:\n{rendered}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut docs = Vec::new();
    let mut doc = String::new();
    for line in rendered.lines().chain(std::iter::once("---")) {
        if line.trim_end() == "---" {
            let v: Yaml = serde_yaml::from_str(&doc)
                .unwrap_or_else(|e| panic!("rendered chart is not valid YAML: {e}\n{doc}"));
            if !v.is_null() {
                docs.push(v);
            }
            doc.clear();
        } else {
            doc.push_str(line);
            doc.push('\n');
        }
    }
    let kinds: Vec<&str> = docs.iter().filter_map(|d| ystr(d, "kind")).collect();
    for k in [
        "ConfigMap",
        "Service",
        "Deployment",
        "ServiceMonitor",
        "PrometheusRule",
    ] {
        assert!(kinds.contains(&k), "rendered chart lacks a {k}: {kinds:?}");
    }
    let rule = docs
        .iter()
        .find(|d| ystr(d, "kind") == Some("PrometheusRule"))
        .unwrap();
    assert_eq!(
        rule["spec"].get("groups"),
        ours.get("groups"),
        "rendered PrometheusRule differs from dashboards/alerts/ferry-rules.yaml"
    );
    note(format!("helm: `helm lint` passed; `helm template` rendered {kinds:?}; PrometheusRule equals the alert rules"));
}

#[test]
fn grafana_dashboards() {
    let root = root();
    let mut files = Vec::new();
    walk(&root.join("dashboards/grafana"), &mut files);
    let dashboards: Vec<_> = files.into_iter().filter(|f| ext(f) == "json").collect();
    assert!(
        !dashboards.is_empty(),
        "no dashboards under dashboards/grafana"
    );
    let mut errors = Vec::new();
    let mut all_exprs = Vec::new();
    let mut panels_seen = 0;

    for f in &dashboards {
        let d = json(f);
        let ctx = f.strip_prefix(&root).unwrap_or(f).display().to_string();
        let vars = d["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let var = |n: &str| vars.iter().find(|v| v["name"] == n).cloned();
        match var("datasource") {
            Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
            _ => errors.push(format!(
                "{ctx}: needs a `datasource` variable of type datasource, query prometheus"
            )),
        }
        for (name, metric) in [("chain", "ferry_chain_latest_height"), ("channel", "")] {
            match var(name) {
                Some(v) => {
                    let q = v["definition"]
                        .as_str()
                        .or(v["query"].as_str())
                        .or(v["query"]["query"].as_str())
                        .unwrap_or("");
                    if !q.starts_with("label_values(") || !q.contains(metric) {
                        errors.push(format!("{ctx}: variable {name} should be label_values(...{metric}...), got {q:?}"));
                    }
                    if v["datasource"]["uid"] != "${datasource}" {
                        errors.push(format!("{ctx}: variable {name} must use ${{datasource}}"));
                    }
                    let cur = serde_json::to_string(&v["current"]).unwrap();
                    if !(cur == "null" || cur == "{}" || cur.contains("$__all")) {
                        errors.push(format!(
                            "{ctx}: variable {name} has a saved current value {cur}"
                        ));
                    }
                }
                None => errors.push(format!("{ctx}: missing `{name}` variable")),
            }
        }

        // Flatten panels (rows may nest collapsed panels).
        let mut flat = Vec::new();
        for p in d["panels"].as_array().cloned().unwrap_or_default() {
            let nested = p["panels"].as_array().cloned().unwrap_or_default();
            flat.push(p);
            flat.extend(nested);
        }
        let rows: Vec<String> = flat
            .iter()
            .filter(|p| p["type"] == "row")
            .map(|p| p["title"].as_str().unwrap_or("").to_string())
            .collect();
        if f.file_name().unwrap() == "ferry.json" {
            let want = [
                "Is Ferry relaying",
                "What is stuck",
                "How long do transfers take",
                "What does relaying cost",
                "Are the light clients safe",
                "Are the RPC nodes healthy",
            ];
            let ok =
                rows.len() == want.len() && rows.iter().zip(want).all(|(r, w)| r.starts_with(w));
            if !ok {
                errors.push(format!(
                    "{ctx}: rows must be, in order, {want:?}; got {rows:?}"
                ));
            }
        }
        let mut ids = BTreeSet::new();
        for p in flat.iter().filter(|p| p["type"] != "row") {
            panels_seen += 1;
            let title = p["title"].as_str().unwrap_or("?");
            if !ids.insert(p["id"].to_string()) {
                errors.push(format!("{ctx}: duplicate panel id {}", p["id"]));
            }
            if p["datasource"]["uid"] != "${datasource}" {
                errors.push(format!(
                    "{ctx} / {title}: panel datasource must be ${{datasource}}"
                ));
            }
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                errors.push(format!("{ctx} / {title}: panel has no targets"));
            }
            for t in targets {
                if t["datasource"]["uid"] != "${datasource}" {
                    errors.push(format!(
                        "{ctx} / {title}: target datasource must be ${{datasource}}"
                    ));
                }
                let Some(expr) = t["expr"].as_str() else {
                    errors.push(format!("{ctx} / {title}: target without expr"));
                    continue;
                };
                let tctx = format!("{ctx} / {title}");
                if expr.contains("$__") {
                    errors.push(format!(
                        "{tctx}: use literal ranges such as [5m], not Grafana macros: {expr}"
                    ));
                }
                check_metric_names(expr, &["up", "ALERTS"], &mut errors, &tctx);
                for sel in selectors(expr) {
                    for (label, op, value) in &sel.matchers {
                        if ID_LABELS.contains(&label.as_str()) && !value.starts_with('$') {
                            errors
                                .push(format!("{tctx}: hard-coded {label}{op}\"{value}\": {expr}"));
                        }
                        if value.starts_with('$') && op != "=~" {
                            errors.push(format!("{tctx}: variables need the regex matcher ({label}=~\"{value}\"): {expr}"));
                        }
                    }
                    let chain_labelled =
                        family(&sel.metric).is_some_and(|(_, _, labels)| labels.contains(&"chain"));
                    if chain_labelled
                        && !sel
                            .matchers
                            .iter()
                            .any(|(l, o, v)| l == "chain" && o == "=~" && v == "$chain")
                    {
                        errors.push(format!(
                            "{tctx}: `{}` needs chain=~\"$chain\": {expr}",
                            sel.metric
                        ));
                    }
                }
                all_exprs.push(expr.to_string());
            }
        }
    }
    assert!(
        errors.is_empty(),
        "dashboard problems:\n  {}",
        errors.join("\n  ")
    );

    // Substitute the variables the way a live check would, and let promtool parse them.
    let substituted: Vec<String> = all_exprs
        .iter()
        .map(|e| e.replace("$chain", ".*").replace("$channel", ".*"))
        .collect();
    match promtool_parse(&substituted, "dashboards") {
        Some(out) => note(format!(
            "dashboards: {} panels, {} expressions; promtool parsed them all: {out}",
            panels_seen,
            substituted.len()
        )),
        None => tool_missing("promtool", "PromQL syntax of the dashboard expressions"),
    }
}

#[test]
fn alert_rules_and_their_unit_tests() {
    let root = root();
    let rules = yaml(&root.join("dashboards/alerts/ferry-rules.yaml"));
    let mut errors = Vec::new();
    let mut alerts = BTreeSet::new();
    let mut exprs = Vec::new();
    for g in rules["groups"].as_sequence().expect("groups") {
        for r in g["rules"].as_sequence().expect("rules") {
            let Some(name) = ystr(r, "alert") else {
                continue;
            };
            alerts.insert(name.to_string());
            let expr = ystr(r, "expr").expect("expr");
            check_metric_names(expr, &["up"], &mut errors, name);
            exprs.push(expr.to_string());
            match r["labels"]["severity"].as_str() {
                Some("critical" | "warning" | "info") => {}
                other => errors.push(format!(
                    "{name}: severity label must be critical/warning/info, got {other:?}"
                )),
            }
            for a in ["summary", "description"] {
                if r["annotations"][a].as_str().is_none_or(str::is_empty) {
                    errors.push(format!("{name}: missing annotation {a}"));
                }
            }
            if let Some(rb) = r["annotations"]["runbook"].as_str() {
                let anchor = rb.split('#').nth(1).unwrap_or("");
                let ops = read(&root.join("docs/OPERATIONS.md")).to_ascii_lowercase();
                if !ops.contains(&format!("### {anchor}")) {
                    errors.push(format!(
                        "{name}: runbook {rb} has no `### {name}` heading in docs/OPERATIONS.md"
                    ));
                }
            }
        }
    }
    let required = [
        "FerryDown",
        "FerryPacketsStuck",
        "FerryClientNearExpiry",
        "FerryWalletRunwayLow",
        "FerryTxFailureRatioHigh",
        "FerryLightClientVerificationFailure",
        "FerryMisbehaviourDetected",
        "FerryRpcDown",
    ];
    for a in required {
        if !alerts.contains(a) {
            errors.push(format!("missing alert {a}"));
        }
    }

    // Unit tests cover each alert firing and not firing.
    let tests = yaml(&root.join("dashboards/alerts/ferry-rules.test.yaml"));
    let (mut firing, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for t in tests["tests"].as_sequence().expect("tests") {
        for a in t["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = ystr(a, "alertname").unwrap().to_string();
            if a["exp_alerts"].as_sequence().is_some_and(|s| !s.is_empty()) {
                firing.insert(name);
            } else {
                quiet.insert(name);
            }
        }
    }
    for a in &alerts {
        if !firing.contains(a) {
            errors.push(format!("{a}: no unit test where it fires"));
        }
        if !quiet.contains(a) {
            errors.push(format!("{a}: no unit test where it does not fire"));
        }
    }
    assert!(
        errors.is_empty(),
        "alert rule problems:\n  {}",
        errors.join("\n  ")
    );

    // promtool: check + unit tests (the same as dashboards/check.sh).
    match which("promtool") {
        Some(promtool) => {
            let check = Command::new(&promtool)
                .arg("check")
                .arg("rules")
                .arg(root.join("dashboards/alerts/ferry-rules.yaml"))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&check.stdout).to_string()
                + &String::from_utf8_lossy(&check.stderr);
            assert!(
                check.status.success(),
                "promtool check rules failed:\n{text}"
            );
            let test = Command::new(&promtool)
                .arg("test")
                .arg("rules")
                .arg(root.join("dashboards/alerts/ferry-rules.test.yaml"))
                .output()
                .unwrap();
            let ttext = String::from_utf8_lossy(&test.stdout).to_string()
                + &String::from_utf8_lossy(&test.stderr);
            assert!(
                test.status.success(),
                "promtool test rules failed:\n{ttext}"
            );
            note(format!(
                "alerts: {} alerts, each tested firing and quiet; promtool check rules: {}; promtool test rules: {}",
                alerts.len(),
                text.lines().find(|l| l.contains("SUCCESS")).unwrap_or("?").trim(),
                ttext.lines().find(|l| l.contains("SUCCESS")).unwrap_or("?").trim()
            ));
        }
        None => tool_missing("promtool", "`promtool check rules` / `promtool test rules`"),
    }
}

#[test]
fn systemd_unit() {
    let root = root();
    let unit_path = root.join("deploy/systemd/ferry.service");
    let unit = read(&unit_path);
    let mut kv: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut section = String::new();
    for line in unit.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("bad unit line {line:?}"));
        kv.entry(format!("{section}.{}", k.trim()))
            .or_default()
            .push(v.trim().to_string());
    }
    let get = |k: &str| kv.get(&format!("Service.{k}")).cloned().unwrap_or_default();
    let want: &[(&str, &str)] = &[
        (
            "ExecStart",
            "/usr/local/bin/ferry start --config /etc/ferry/config.toml",
        ),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("Restart", "on-failure"),
    ];
    let mut errors = Vec::new();
    for (k, v) in want {
        if !get(k).iter().any(|x| x == v) {
            errors.push(format!("[Service] {k}={v} expected, found {:?}", get(k)));
        }
    }
    for k in [
        "RestrictAddressFamilies",
        "StateDirectory",
        "ReadWritePaths",
    ] {
        if get(k).iter().all(String::is_empty) {
            errors.push(format!("[Service] {k}= must be set"));
        }
    }
    if !get("SystemCallFilter")
        .iter()
        .any(|v| v.split_whitespace().any(|s| s == "@system-service"))
    {
        errors.push("[Service] SystemCallFilter=@system-service expected".into());
    }
    if get("DynamicUser").iter().all(|v| v != "yes")
        && get("User").iter().all(|u| u.is_empty() || u == "root")
    {
        errors.push("[Service] needs DynamicUser=yes or a dedicated User=".into());
    }
    if !kv.contains_key("Install.WantedBy") {
        errors.push("[Install] WantedBy= missing".into());
    }
    assert!(
        errors.is_empty(),
        "systemd unit problems:\n  {}",
        errors.join("\n  ")
    );
    note("systemd: required hardening keys present");

    let Some(analyze) = which("systemd-analyze") else {
        tool_missing(
            "systemd-analyze",
            "`systemd-analyze verify deploy/systemd/ferry.service`",
        );
        return;
    };
    // verify insists that ExecStart's binary exists: point it at a stub in a temp dir.
    let dir = temp_dir("systemd");
    let stub = dir.join("ferry");
    fs::write(&stub, "#!/bin/sh\nexit 0\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let copy = dir.join("ferry.service");
    fs::write(
        &copy,
        unit.replace(
            "ExecStart=/usr/local/bin/ferry ",
            &format!("ExecStart={} ", stub.display()),
        ),
    )
    .unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg("--man=no")
        .arg(&copy)
        .output()
        .expect("run systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_dir_all(&dir);
    // Warnings about the unit (unknown keys, bad values) exit 0 but name the file: they fail too.
    let about_unit: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ferry.service") || l.contains("ferry:"))
        .collect();
    if !out.status.success() && text.contains("System has not been booted with systemd") {
        tool_missing("a working systemd-analyze", "`systemd-analyze verify`");
        return;
    }
    assert!(
        out.status.success() && about_unit.is_empty(),
        "systemd-analyze verify failed for deploy/systemd/ferry.service:\n{text}"
    );
    let other = text.trim();
    note(format!(
        "systemd: `systemd-analyze verify` passed (ExecStart binary replaced by a stub){}",
        if other.is_empty() {
            String::new()
        } else {
            format!("; unrelated output: {other}")
        }
    ));
}

#[test]
fn containerfile() {
    let text = read(&root().join("deploy/container/Containerfile"));
    let froms: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "multi-stage build: builder and runtime");
    assert!(
        froms[0].contains("rust:1.95"),
        "builder must be rust:1.95: {}",
        froms[0]
    );
    assert!(
        froms[1].contains("debian:bookworm-slim"),
        "runtime must be debian:bookworm-slim: {}",
        froms[1]
    );
    let user = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("USER "))
        .next_back()
        .expect("USER in runtime stage");
    assert!(
        !["root", "0", "0:0"].contains(&user.trim()),
        "runtime user must not be root"
    );
    assert!(
        text.lines().any(|l| l.trim() == "EXPOSE 9464"),
        "EXPOSE 9464"
    );
    assert!(
        text.contains("FERRY_TELEMETRY__LISTEN=0.0.0.0:9464"),
        "container should listen on 0.0.0.0"
    );
    note("container: multi-stage rust:1.95 -> debian:bookworm-slim, non-root, EXPOSE 9464");
}

#[test]
fn selector_parser_self_test() {
    assert!(
        selectors("clamp_max(x_total{chain=~\"$chain\"}, 1e12) > 0.2 offset 10m")
            .iter()
            .all(|s| s.metric == "x_total")
    );
    let s = selectors(
        r#"sum by (chain, le) (rate(ferry_rpc_request_duration_seconds_bucket{chain=~"$chain", method="tx"}[5m])) / on (chain) up{job="ferry"} or absent(ferry_up)"#,
    );
    let names: Vec<&str> = s.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(
        names,
        [
            "ferry_rpc_request_duration_seconds_bucket",
            "up",
            "ferry_up"
        ]
    );
    assert_eq!(
        s[0].matchers,
        vec![
            ("chain".to_string(), "=~".to_string(), "$chain".to_string()),
            ("method".to_string(), "=".to_string(), "tx".to_string())
        ]
    );
    assert_eq!(
        compose_default("${FERRY_CONFIG:-../a.toml}:/etc/x:ro"),
        "../a.toml:/etc/x:ro"
    );
    assert!(family("ferry_fee_per_packet_bucket").is_some());
    assert!(family("ferry_up_bucket").is_none());
}
