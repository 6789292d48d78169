//! The Grafana dashboards: variables, rows, datasources, chain selectors, no hard-coded ids,
//! contract metrics only; with promtool, every expression parses.

use std::collections::BTreeSet;

use crate::common::{ext, json, note, root, tool_missing, walk};
use crate::metrics::{family, ID_LABELS};
use crate::promql::{check_metric_names, promtool_parse, selectors};

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
                "Do the attestor committees answer",
                "Who relays which lane",
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
