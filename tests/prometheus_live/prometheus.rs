//! The Prometheus process (found, started, stopped by pid) and its HTTP API: instant queries,
//! GETs, and reading the answers.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_tests::TempDir;
use serde_json::Value;

use crate::common::root;

/// The `prometheus` binary: `$PROMETHEUS_BIN`, else `prometheus` on PATH, else a panic telling how
/// to install it.
pub(crate) fn prometheus_bin() -> PathBuf {
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

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
pub(crate) const SIGTERM: i32 = 15;

/// A Prometheus server we started; stopped by pid (SIGTERM, then wait; SIGKILL after 20 s) on drop,
/// before its temporary folder goes.
pub(crate) struct Prometheus {
    child: Option<Child>,
    pid: u32,
    pub(crate) url: String,
    log: PathBuf,
    _dir: TempDir,
}

impl Prometheus {
    /// Start Prometheus scraping `target` (`host:port`) as job `ferry` every second, with Ferry's
    /// alert rules evaluated every second.
    pub(crate) fn start(target: &str) -> Prometheus {
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
        let port = ferry_devnet::free_port();
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

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panic (with the log) if the process has exited.
    pub(crate) fn assert_running(&mut self) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("prometheus exited with {status:?}:\n{}", self.log_text());
        }
    }

    /// `/api/v1/query` (POST form) at the current time: the whole JSON answer.
    pub(crate) async fn query(&self, http: &reqwest::Client, q: &str) -> Value {
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

    pub(crate) async fn get(&self, http: &reqwest::Client, path: &str) -> Value {
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
pub(crate) fn values(answer: &Value) -> Vec<(String, String)> {
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

pub(crate) fn is_success(answer: &Value) -> bool {
    answer["status"] == "success"
}
