//! The Helm chart: referenced files exist, hardening values, the alert rules copy; with helm,
//! `helm lint` and the rendered PrometheusRule.

use std::process::Command;

use serde_yaml::Value as Yaml;

use crate::common::{note, read, root, tool_missing, walk, which, yaml, ystr};

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
