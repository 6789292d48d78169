//! The alert rules and their unit tests; with promtool, `check rules` and `test rules`.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::{note, read, root, tool_missing, which, yaml, ystr};
use crate::promql::check_metric_names;

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
