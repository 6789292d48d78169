//! `ferry devnet …` as a user runs it: the production `ferry` binary hands the command to the
//! `ferry-devnet` binary beside it (crate `deploy/devnet`), and `ferry devnet demo --exit`, the
//! README's main job, starts the devnet, opens every path, serves metrics and relays a transfer
//! each way on each of them.
//!
//! Run: `cargo build -p ferry -p ferry-devnet --bins && cargo test -p ferry-tests --test devnet_cli`

use std::process::Stdio;
use std::time::Duration;

use ferry_tests::{ferry_bin, TempDir};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Stops, by the pids in its state file, whatever the demo left running, also when the test fails.
struct DevnetGuard(ferry_devnet::Devnet);

impl Drop for DevnetGuard {
    fn drop(&mut self) {
        let _ = self.0.down();
    }
}

fn ferry(tmp: &TempDir) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(ferry_bin());
    cmd.env("FERRY_DEVNET_DIR", tmp.0.join("devnet"))
        .env("FERRY_HOME", tmp.0.join("home"))
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn ferry_devnet_runs_the_devnet_binary() {
    let tmp = TempDir::new("devnet-cli");
    let out = ferry(&tmp)
        .args(["devnet", "--help"])
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ferry devnet --help: {out:?}");
    for cmd in ["up", "down", "status", "demo"] {
        assert!(help.contains(cmd), "`{cmd}` missing from:\n{help}");
    }

    let out = ferry(&tmp)
        .args(["devnet", "status"])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("no devnet in {}", tmp.0.join("devnet").display())),
        "{err}"
    );

    // Global flags before `devnet` reach the devnet binary.
    let out = ferry(&tmp)
        .args(["--json", "devnet", "status"])
        .output()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"].as_str().unwrap().contains("no devnet in"), "{v}");
}

#[tokio::test]
async fn the_demo_opens_every_path_serves_metrics_and_relays_each_way() {
    let tmp = TempDir::new("devnet-demo");
    let _guard = DevnetGuard(ferry_devnet::Devnet::with_v2(tmp.0.join("devnet")));
    let mut child = ferry(&tmp)
        .args(["devnet", "demo", "--exit"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut scraped = false;
    let run = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            eprintln!("demo| {line}");
            // "metrics: http://127.0.0.1:PORT/metrics  (health: …)": the relayer is serving.
            if let Some(url) = line
                .strip_prefix("metrics: ")
                .and_then(|r| r.split_whitespace().next())
            {
                let body = reqwest::get(url).await.unwrap().text().await.unwrap();
                assert!(body.contains("ferry_"), "no Ferry metrics at {url}");
                scraped = true;
            }
            seen.push(line);
        }
        child.wait().await.unwrap()
    };
    let status = tokio::time::timeout(Duration::from_secs(1200), run)
        .await
        .expect("the demo did not finish within 20 minutes");
    let all = seen.join("\n");
    assert!(status.success(), "demo failed:\n{all}");
    assert!(
        scraped,
        "the demo never printed its metrics address:\n{all}"
    );
    for want in [
        "opened l3-appchain-1/",
        "==> transfer 1000samoleans l3-appchain-1 -> settlement-1",
        "(IBC v2 path l3-settlement-evm)",
        "==> opening path v2-settlement-evm",
    ] {
        assert!(all.contains(want), "`{want}` missing from:\n{all}");
    }
    // One "balances after" per path: Cosmos classic, EVM, Cosmos–EVM IBC v2.
    assert_eq!(all.matches("balances after").count(), 3, "{all}");
}
