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
//! External tools (promtool, systemd-analyze, helm; `make deps` installs them) are looked up on
//! PATH. A missing one fails the test, naming it.
//!
//! Run: `cargo test -p ferry-tests --test deploy_files -- --nocapture`

#[path = "deploy_files/alerts.rs"]
mod alerts;
#[path = "deploy_files/common.rs"]
mod common;
#[path = "deploy_files/compose.rs"]
mod compose;
#[path = "deploy_files/container.rs"]
mod container;
#[path = "deploy_files/dashboards.rs"]
mod dashboards;
#[path = "deploy_files/helm.rs"]
mod helm;
#[path = "deploy_files/metrics.rs"]
mod metrics;
#[path = "deploy_files/promql.rs"]
mod promql;
#[path = "deploy_files/systemd.rs"]
mod systemd;
#[path = "deploy_files/yaml_json.rs"]
mod yaml_json;
