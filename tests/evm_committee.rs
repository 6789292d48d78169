//! The attestor committee on the devnet: three `ferry attestor` processes (one key each, quorum 2)
//! attest the anvil chains; `ferry start` holds no attestor key and collects their signatures.
//!
//! 1. All three up: a transfer evm-l3 → evm-settlement is acknowledged; the relayer counted accepted
//!    signatures.
//! 2. attestor-3 stopped: relaying goes on with two of three.
//! 3. attestor-2 stopped too, attestor-3 back but reading evm-l3 through two proxies that rewrite
//!    every block's `stateRoot` the same way (its endpoints agree, on a forged chain): its light
//!    client refuses the chain, it signs nothing, and the packet is not delivered.
//! 4. attestor-3 again, now with one honest and one lying endpoint: it refuses on the disagreement;
//!    still nothing is delivered. (Steps 3 and 4 also ask attestor-3 directly, as the relayer does,
//!    so the refusal's kind is checked whatever the relayer's backoff.)
//! 5. attestor-2 back: the packet is delivered, and every state root the settlement chain's client
//!    holds for evm-l3 is evm-l3's real one.
//!
//! Run: `cargo test -p ferry-tests --test evm_committee -- --nocapture`

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use ethers::providers::Middleware;
use ferry::chain::evm::abi::AttestedLightClient;
use ferry::chain::PacketQueries;
use ferry::ibc::{ChannelId, PortId};
use ferry_devnet::attestors::{self, AttestorNode};
use ferry_tests::evm::{flip_hex, tampering_proxy, CLIENT};
use ferry_tests::{eventually, ferry_bin, Relayer, TestNet};
use serde_json::Value;

/// An attestor this test (re)started: a child process, stopped by pid when dropped.
fn restart(a: &AttestorNode, tag: &str) -> Relayer {
    let path = a.home.join(format!("attestor-{tag}.log"));
    let log = std::fs::File::create(&path).unwrap();
    let child = Command::new(ferry_bin())
        .arg("--home")
        .arg(&a.home)
        .args(["attestor", "start"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Relayer {
        child: Some(child),
        log: path,
    }
}

/// Point the `evm-l3` entry of an attestor's config at `rpc`.
fn set_l3_rpc(home: &Path, rpc: &[&str]) {
    let path = home.join("attestor.toml");
    let mut v: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for c in v["chains"].as_array_mut().unwrap() {
        if c["name"].as_str() == Some("evm-l3") {
            c["rpc"] = toml::Value::Array(rpc.iter().map(|u| toml::Value::from(*u)).collect());
        }
    }
    std::fs::write(&path, toml::to_string(&v).unwrap()).unwrap();
}

async fn healthy(a: &AttestorNode) {
    let url = format!("{}healthz", a.url);
    eventually(
        &format!("{} healthy", a.name),
        Duration::from_secs(30),
        || {
            let url = url.clone();
            async move {
                reqwest::get(&url)
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(|_| ())
            }
        },
    )
    .await;
}

/// The sum of a metric's samples whose labels contain every `labels` pair.
async fn metric(url: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn forge_state_root() -> ferry_tests::evm::Tamper {
    Arc::new(|method: &str, result: &mut Value| {
        if method == "eth_getBlockByNumber" {
            if let Some(root) = result.get("stateRoot").and_then(Value::as_str) {
                let forged = flip_hex(root);
                result["stateRoot"] = Value::String(forged);
            }
        }
    })
}

/// `POST /v1/attest/state` to attestor `a` for evm-l3's latest final block, for the settlement
/// chain's client, as the relayer would ask: (HTTP status, JSON body).
async fn ask(
    net: &TestNet,
    a: &AttestorNode,
    attested: &str,
    host: &str,
    cfg: &Path,
) -> (u16, Value) {
    use ferry::chain::Heights;
    let (fin, _) = net.evm_chain(cfg, attested).latest().await.unwrap();
    let host_node = net.evm_node(host);
    let body = serde_json::json!({
        "chain": format!("eip155:{}", net.evm_node(attested).evm_chain_id),
        "height": fin.revision_height.saturating_sub(2),
        "domain": {
            "host_chain_id": host_node.evm_chain_id,
            "light_client": format!("{:?}", host_node.light_client),
        },
    });
    let r = reqwest::Client::new()
        .post(format!("{}v1/attest/state", a.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_committee_needs_a_quorum_of_honest_attestors() {
    let net = TestNet::start("evm-committee").await;
    assert_eq!(
        net.state.attestors.len(),
        3,
        "the devnet runs three attestors"
    );
    let home_keys: Vec<_> = std::fs::read_dir(net.home().join("keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !home_keys.iter().any(|k| k.contains("attestor")),
        "the relayer's home holds an attestor key: {home_keys:?}"
    );
    let cfg = net.evm_config("config-evm.toml", &[]);
    let relayer = net.start_relayer_with("relayer-evm.log", &cfg);
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(60)),
        "relayer did not start:\n{}",
        relayer.log_text()
    );
    let relayer_metrics = {
        let text = std::fs::read_to_string(&cfg).unwrap();
        let v: toml::Value = toml::from_str(&text).unwrap();
        format!(
            "http://{}/metrics",
            v["telemetry"]["listen"].as_str().unwrap()
        )
    };
    let (l3, st) = ("evm-l3", "evm-settlement");
    let token = net.evm_node(l3).token;
    let user = format!("{:?}", net.evm_address("user"));
    let state = |v: &Value| v["state"].as_str().unwrap_or_default().to_string();

    // 1. The whole committee.
    let out = net.evm_transfer(&cfg, l3, "10", token, &user, &["--wait"]);
    assert_eq!(state(&out), "acknowledged", "{out}");
    let accepted = metric(
        &relayer_metrics,
        "ferry_attestation_signatures_total",
        &[("chain", l3), ("outcome", "accepted")],
    )
    .await;
    assert!(
        accepted >= 2.0,
        "accepted signatures for evm-l3: {accepted}"
    );

    // 2. One attestor down: two of three are a quorum.
    let [a1, a2, a3] = [0, 1, 2].map(|i| net.state.attestors[i].clone());
    attestors::stop(&a3);
    let out = net.evm_transfer(&cfg, l3, "11", token, &user, &["--wait"]);
    assert_eq!(state(&out), "acknowledged", "with attestor-3 down: {out}");

    // 3. attestor-2 down; attestor-3 back, fed a forged chain by both of its endpoints.
    attestors::stop(&a2);
    let upstream = net.evm_node(l3).rpc.clone();
    let forged_a = tampering_proxy(&upstream, forge_state_root()).await;
    let forged_b = tampering_proxy(&upstream, forge_state_root()).await;
    set_l3_rpc(&a3.home, &[&forged_a, &forged_b]);
    let deceived = restart(&a3, "forged");
    healthy(&a3).await;
    let pending = net.evm_transfer(&cfg, l3, "12", token, &user, &[]);
    let seq = pending["sequence"].as_u64().expect("sequence");
    let settlement = net.evm_chain(&cfg, st);
    let port: PortId = "transfer".parse().unwrap();
    let client: ChannelId = CLIENT.parse().unwrap();
    // Asked as the relayer asks, it refuses: the forged chain does not link to its checkpoint.
    let (status, body) = ask(&net, &a3, l3, st, &cfg).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (502, Some("verification_failed")),
        "{body}"
    );
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(
        settlement.unreceived(&port, &client, &[seq]).await.unwrap(),
        vec![seq],
        "delivered while only one honest attestor ran"
    );
    let refused = metric(
        &format!("{}metrics", a3.url),
        "ferry_attestor_refusals_total",
        &[("chain", l3)],
    )
    .await;
    assert!(
        refused >= 1.0,
        "attestor-3 refused nothing on a forged chain"
    );
    let unavailable = metric(
        &relayer_metrics,
        "ferry_attestation_signatures_total",
        &[("chain", l3), ("outcome", "unavailable")],
    )
    .await;
    assert!(
        unavailable >= 1.0,
        "the relayer counted no missing signature"
    );
    let signed = metric(
        &format!("{}metrics", a3.url),
        "ferry_attestor_signatures_total",
        &[("chain", l3)],
    )
    .await;
    assert_eq!(signed, 0.0, "attestor-3 signed on a forged chain");
    drop(deceived);

    // 4. One honest and one lying endpoint: a disagreement, nothing signed.
    set_l3_rpc(&a3.home, &[&upstream, &forged_a]);
    let split = restart(&a3, "split");
    healthy(&a3).await;
    let (status, body) = ask(&net, &a3, l3, st, &cfg).await;
    assert_eq!(
        (status, body["kind"].as_str()),
        (502, Some("disagreement")),
        "{body}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        settlement.unreceived(&port, &client, &[seq]).await.unwrap(),
        vec![seq],
        "delivered while attestor-3's endpoints disagreed"
    );
    let disagreements = metric(
        &format!("{}metrics", a3.url),
        "ferry_attestor_refusals_total",
        &[("chain", l3), ("reason", "disagreement")],
    )
    .await;
    assert!(
        disagreements >= 1.0,
        "no disagreement counted by attestor-3"
    );
    let signed = metric(
        &format!("{}metrics", a3.url),
        "ferry_attestor_signatures_total",
        &[("chain", l3)],
    )
    .await;
    assert_eq!(
        signed, 0.0,
        "attestor-3 signed while its endpoints disagreed"
    );

    // 5. attestor-2 back: a quorum again, the packet arrives.
    let back = restart(&a2, "back");
    healthy(&a2).await;
    eventually("the held packet delivered", Duration::from_secs(90), || {
        let settlement = settlement.clone();
        let (port, client) = (port.clone(), client.clone());
        async move {
            settlement
                .unreceived(&port, &client, &[seq])
                .await
                .ok()
                .filter(|v| v.is_empty())
        }
    })
    .await;
    // Every state root evm-settlement's client trusts for evm-l3 is evm-l3's own.
    let provider = net.provider(st);
    let l3_provider = net.provider(l3);
    let lc = AttestedLightClient::new(net.evm_node(st).light_client, provider.clone());
    let logs = lc
        .client_updated_filter()
        .from_block(0u64)
        .query()
        .await
        .unwrap();
    assert!(logs.len() >= 3, "client updates seen: {}", logs.len());
    for u in logs {
        let block = l3_provider
            .get_block(u.height)
            .await
            .unwrap()
            .expect("the attested block exists on evm-l3");
        assert_eq!(
            block.state_root.0, u.state_root,
            "the client holds a state root evm-l3 never had at {}",
            u.height
        );
    }
    drop(split);
    drop(back);
    let _ = a1;
}
