//! The compose file, its Prometheus config and the Grafana provisioning point to existing files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::Value as Yaml;

use crate::common::{compose_default, note, root, yaml, ystr};

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
