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
        "defaultMode: 256",
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
    check_deployment(
        docs.iter()
            .find(|d| ystr(d, "kind") == Some("Deployment"))
            .unwrap(),
    );
    note(format!("helm: `helm lint` passed; `helm template` rendered {kinds:?}; PrometheusRule equals the alert rules; probes, securityContext and the 0400 Secret -> 0600 keys checked"));
}

/// The rendered Deployment: probes on the API's health routes, a locked-down container, the keys
/// Secret mounted 0400 and installed 0600 for the pod user.
fn check_deployment(dep: &Yaml) {
    let pod = &dep["spec"]["template"]["spec"];
    let ferry = &pod["containers"][0];
    assert_eq!(ystr(ferry, "name"), Some("ferry"));
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &ferry[probe]["httpGet"];
        assert_eq!(ystr(get, "path"), Some(path), "{probe}: {get:?}");
        assert_eq!(ystr(get, "port"), Some("metrics"), "{probe}: {get:?}");
    }
    let pod_sc = &pod["securityContext"];
    assert_eq!(pod_sc["runAsNonRoot"].as_bool(), Some(true), "{pod_sc:?}");
    assert_eq!(pod_sc["runAsUser"].as_u64(), Some(10001), "{pod_sc:?}");
    for c in [ferry, &pod["initContainers"][0]] {
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{sc:?}");
        assert_eq!(
            sc["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{sc:?}"
        );
        let drop = sc["capabilities"]["drop"]
            .as_sequence()
            .expect("capabilities.drop");
        assert!(drop.iter().any(|c| c.as_str() == Some("ALL")), "{sc:?}");
    }
    let volumes = pod["volumes"].as_sequence().unwrap();
    let secret = volumes
        .iter()
        .find(|v| ystr(v, "name") == Some("keys-secret"))
        .expect("keys-secret volume");
    // YAML 0400 is the integer 256.
    assert_eq!(
        secret["secret"]["defaultMode"].as_u64(),
        Some(0o400),
        "{secret:?}"
    );
    let install = pod["initContainers"][0]["args"][0].as_str().unwrap_or("");
    assert!(install.contains("install -m 0600"), "{install}");
    let keys_mount = ferry["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| ystr(m, "name") == Some("keys"))
        .expect("keys mount");
    assert_eq!(
        keys_mount["readOnly"].as_bool(),
        Some(true),
        "{keys_mount:?}"
    );
}
