//! A small PromQL selector parser (metric names and label matchers), the metric-name check
//! against the contract, and promtool parsing of expressions.

use std::fs;
use std::process::Command;

use crate::common::{compose_default, temp_dir, which};
use crate::metrics::family;

#[derive(Debug)]
pub(crate) struct Selector {
    pub(crate) metric: String,
    pub(crate) matchers: Vec<(String, String, String)>, // label, op, value
}

pub(crate) fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Every `metric{...}` / bare `metric` / `{...}` selector in a PromQL expression,
/// skipping string literals and the label lists of `by (...)`, `on (...)` etc.
pub(crate) fn selectors(expr: &str) -> Vec<Selector> {
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

pub(crate) fn parse_matchers(body: &str, expr: &str) -> Vec<(String, String, String)> {
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
pub(crate) fn check_metric_names(
    expr: &str,
    allowed_other: &[&str],
    errors: &mut Vec<String>,
    ctx: &str,
) {
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
pub(crate) fn promtool_parse(exprs: &[String], tag: &str) -> Option<String> {
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
