//! `ferry attestor` as an operator runs it: the built `ferry` binary, a home of its own in the
//! temp folder (one key, `attestor.toml`), and a real anvil read through two endpoints (anvil
//! itself and a JSON-RPC proxy in front of it, honest or tampering).
//!
//! (a) honest endpoints: the signature recovers to the attestor's address over `state_digest`,
//!     for the block anvil has; a non-final height, an unknown chain and a malformed body are
//!     refused; the `finalized` rule follows anvil's `finalized` tag.
//! (b) one endpoint rewrites `stateRoot` in `eth_getBlockByNumber` answers: refused as
//!     `disagreement`, counted on /metrics, nothing signed or recorded; both endpoints forging the
//!     same chain: refused as `verification_failed` (it does not link to the checkpoint).
//! (c) restart on the same home, whose record says another state was signed at height H:
//!     `conflict`, counted; the state signed before the restart is signed again.
//! (d) bad config and bad homes: `ferry attestor validate` / `start` exit non-zero naming the key;
//!     `ferry attestor sign-rotation` signs an `AttestorRotation` that recovers to the key.
//!
//! Run: `cargo build -p ferry --bin ferry && cargo test -p ferry-tests --test attestor`

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ethers::types::{Address, H256};
use ferry::chain::evm::attestation::{
    caip2_eip155, recover, rotation_digest, state_digest, Domain, StateAttestation,
};
use ferry_tests::anvil::Anvil;
use ferry_tests::evm::{flip_hex, tampering_proxy, Tamper};
use ferry_tests::{ferry_bin, Relayer, TempDir, SIGTERM};
use serde_json::{json, Value};

#[path = "attestor/config.rs"]
mod config;

const CHAIN_ID: u64 = 33333;
const KEY: &str = "attestor-1";

async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let v: Value = reqwest::Client::new()
        .post(url)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}

/// An anvil on a free port, once it answers.
async fn anvil() -> Anvil {
    let a = Anvil::start(CHAIN_ID);
    let http = reqwest::Client::new();
    let t = Instant::now();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    while http.post(&a.url).json(&body).send().await.is_err() {
        assert!(t.elapsed() < Duration::from_secs(30), "anvil not up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a
}

/// Mine `n` blocks one second apart (timestamps must increase for the light client).
async fn mine(url: &str, n: u64) {
    rpc(url, "anvil_mine", json!([format!("{n:#x}"), "0x1"])).await;
}

async fn block(url: &str, n: u64) -> Value {
    rpc(
        url,
        "eth_getBlockByNumber",
        json!([format!("{n:#x}"), false]),
    )
    .await
}

fn h256(v: &Value) -> H256 {
    v.as_str().unwrap().parse().unwrap()
}

fn qty(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn ferry(home: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(ferry_bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A fresh attestor home with one key; returns it and the key's address as `ferry attestor
/// address --json` prints it.
fn home_with_key(tag: &str) -> TempDir {
    let home = TempDir::new(tag);
    let (ok, out) = ferry(&home.0, &["keys", "add", KEY]);
    assert!(ok, "{out}");
    home
}

fn address(home: &Path) -> Address {
    let (ok, out) = ferry(home, &["--json", "attestor", "address"]);
    assert!(ok, "{out}");
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    v["address"].as_str().unwrap().parse().unwrap()
}

fn write_config(home: &Path, rpc: &[&str], finality: &str, checkpoint: (u64, H256)) -> u16 {
    let port = ferry_devnet::free_port();
    let rpc: Vec<String> = rpc.iter().map(|u| format!("\"{u}\"")).collect();
    std::fs::write(
        home.join("attestor.toml"),
        format!(
            r#"key = "{KEY}"
listen = "127.0.0.1:{port}"
rpc_timeout = "5s"

[[chains]]
name = "evm-l3"
kind = "evm"
evm_chain_id = {CHAIN_ID}
rpc = [{}]
finality = {finality}
checkpoint = "{}:{:?}"
"#,
            rpc.join(", "),
            checkpoint.0,
            checkpoint.1
        ),
    )
    .unwrap();
    port
}

/// `ferry attestor start` in the background (stopped by pid on drop), once /healthz answers.
async fn start(home: &Path, port: u16, log_name: &str) -> Relayer {
    let log = home.join(log_name);
    let f = std::fs::File::create(&log).unwrap();
    let child = Command::new(ferry_bin())
        .arg("--home")
        .arg(home)
        .args(["attestor", "start"])
        .env("RUST_LOG", "ferry=debug,warn")
        .stdout(Stdio::from(f.try_clone().unwrap()))
        .stderr(Stdio::from(f))
        .spawn()
        .unwrap();
    let mut att = Relayer {
        child: Some(child),
        log,
    };
    let t = Instant::now();
    let url = format!("http://127.0.0.1:{port}/healthz");
    loop {
        if let Ok(r) = reqwest::get(&url).await {
            if r.status().is_success() {
                return att;
            }
        }
        if let Some(status) = att.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("attestor exited ({status}):\n{}", att.log_text());
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "attestor not up:\n{}",
            att.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stop(mut att: Relayer) {
    let status = att.signal(SIGTERM);
    assert!(status.success(), "exit {status}:\n{}", att.log_text());
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(port: u16) -> Api {
        Api {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    async fn attest(&self, chain: &str, height: u64, domain: &Domain) -> (u16, Value) {
        self.post(json!({"chain": chain, "height": height, "domain": domain}))
            .await
    }

    async fn post(&self, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/v1/attest/state", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of one metric series (`name{labels}`), 0 when absent.
    async fn metric(&self, series: &str) -> f64 {
        self.get("/metrics")
            .await
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

fn domain(lc: u8) -> Domain {
    Domain {
        host_chain_id: 31337,
        light_client: Address::repeat_byte(lc),
    }
}

/// The attestation and its signer, checked: the signature recovers to `signer` over
/// `state_digest(domain, attestation)`.
fn signed(v: &Value, domain: &Domain, signer: Address) -> StateAttestation {
    let a: StateAttestation = serde_json::from_value(v["attestation"].clone()).unwrap();
    assert_eq!(
        v["signer"].as_str().unwrap().parse::<Address>().unwrap(),
        signer
    );
    let sig = hex::decode(v["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    assert_eq!(sig.len(), 65);
    assert_eq!(recover(state_digest(domain, &a), &sig), Some(signer), "{v}");
    a
}

/// What anvil itself says block `n` is.
async fn truth(url: &str, n: u64) -> StateAttestation {
    let b = block(url, n).await;
    StateAttestation {
        attested_chain: caip2_eip155(CHAIN_ID),
        height: n,
        timestamp: qty(&b["timestamp"]),
        state_root: h256(&b["stateRoot"]),
    }
}

async fn checkpoint(url: &str, n: u64) -> (u64, H256) {
    (n, h256(&block(url, n).await["hash"]))
}

fn honest() -> Tamper {
    Arc::new(|_, _| {})
}

fn record_lines(home: &Path) -> Vec<String> {
    std::fs::read_to_string(home.join("attestor-record.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_honest_endpoints_sign_final_verified_states() {
    let anvil = anvil().await;
    mine(&anvil.url, 20).await;
    let proxy = tampering_proxy(&anvil.url, honest()).await;
    let home = home_with_key("attestor-a");
    let me = address(&home.0);
    let cp = checkpoint(&anvil.url, 2).await;
    let port = write_config(&home.0, &[&anvil.url, &proxy], "{ depth = 4 }", cp);
    let att = start(&home.0, port, "attestor-a.log").await;
    let api = Api::new(port);
    let eip = caip2_eip155(CHAIN_ID);

    // Height 10 is final (head 20, depth 4): signed over the state anvil has.
    let (status, v) = api.attest(&eip, 10, &domain(1)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(signed(&v, &domain(1), me), truth(&anvil.url, 10).await);
    // The same state for another light client: same attestation, another digest.
    let (status, v2) = api.attest(&eip, 10, &domain(2)).await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["attestation"], v["attestation"]);
    signed(&v2, &domain(2), me);
    assert_ne!(v2["signature"], v["signature"]);
    let (status, v) = api.attest(&eip, 16, &domain(1)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(signed(&v, &domain(1), me), truth(&anvil.url, 16).await);

    // Height 17 is not final yet: 425, kind not_final, nothing signed.
    let (status, v) = api.attest(&eip, 17, &domain(1)).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (425, Some("not_final")),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap().contains("not final"), "{v}");
    // Once anvil is 4 deeper, it is.
    mine(&anvil.url, 1).await;
    let (status, v) = api.attest(&eip, 17, &domain(1)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(signed(&v, &domain(1), me), truth(&anvil.url, 17).await);

    // Refusals of requests.
    let (status, v) = api.attest("eip155:1", 10, &domain(1)).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (404, Some("unknown_chain")),
        "{v}"
    );
    let (status, v) = api.post(json!({"chain": eip, "height": "ten"})).await;
    assert_eq!(v["kind"], "bad_request", "{v}");
    assert!((400..500).contains(&status), "{status}");
    let (status, v) = api.attest(&eip, 1, &domain(1)).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
    let big = "x".repeat(64 * 1024);
    let (status, v) = api.post(json!({"chain": big, "height": 1})).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (413, Some("bad_request")),
        "{v}"
    );

    // /v1/info and /metrics.
    let info: Value = serde_json::from_str(&api.get("/v1/info").await).unwrap();
    assert_eq!(
        info["address"]
            .as_str()
            .unwrap()
            .parse::<Address>()
            .unwrap(),
        me
    );
    assert_eq!(info["chains"][0]["chain"], eip);
    assert_eq!(info["chains"][0]["name"], "evm-l3");
    assert!(
        info["chains"][0]["verified_height"].as_u64().unwrap() >= 17,
        "{info}"
    );
    assert_eq!(api.get("/healthz").await.trim(), "ok");
    assert_eq!(
        api.metric("ferry_attestor_signatures_total{chain=\"evm-l3\"}")
            .await,
        4.0
    );
    assert_eq!(
        api.metric("ferry_attestor_refusals_total{chain=\"evm-l3\",reason=\"not_final\"}")
            .await,
        1.0
    );
    assert_eq!(
        api.metric("ferry_attestor_bad_requests_total{reason=\"unknown_chain\"}")
            .await,
        1.0
    );
    // Three states on record (10 once, though signed for two domains), after the header line.
    assert_eq!(record_lines(&home.0).len(), 4);
    stop(att);

    // The `finalized` rule: anvil's tag is 64 blocks below its head.
    mine(&anvil.url, 80).await;
    let head = qty(&rpc(&anvil.url, "eth_blockNumber", json!([])).await);
    let port = write_config(&home.0, &[&anvil.url, &proxy], "\"finalized\"", cp);
    let att = start(&home.0, port, "attestor-a2.log").await;
    let api = Api::new(port);
    let fin = head - 64;
    let (status, v) = api.attest(&eip, fin, &domain(1)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(signed(&v, &domain(1), me), truth(&anvil.url, fin).await);
    let (status, v) = api.attest(&eip, fin + 1, &domain(1)).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (425, Some("not_final")),
        "{v}"
    );
    stop(att);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_a_tampered_endpoint_is_a_disagreement() {
    let anvil = anvil().await;
    mine(&anvil.url, 20).await;
    // Lies about stateRoot from block 5 on (the checkpoint, 2, is served honestly, so the
    // attestor starts; it must then refuse everything the liar serves differently).
    let tamper: Tamper = Arc::new(|method, result| {
        if method == "eth_getBlockByNumber"
            && result["number"].is_string()
            && qty(&result["number"]) >= 5
        {
            result["stateRoot"] = json!(flip_hex(result["stateRoot"].as_str().unwrap()));
        }
    });
    let proxy = tampering_proxy(&anvil.url, tamper).await;
    let home = home_with_key("attestor-b");
    let cp = checkpoint(&anvil.url, 2).await;
    let port = write_config(&home.0, &[&anvil.url, &proxy], "{ depth = 4 }", cp);
    let att = start(&home.0, port, "attestor-b.log").await;
    let api = Api::new(port);

    let (status, v) = api.attest(&caip2_eip155(CHAIN_ID), 10, &domain(1)).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (502, Some("disagreement")),
        "{v}"
    );
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("stateRoot") && msg.contains("block 5"),
        "{msg}"
    );
    assert!(v.get("signature").is_none());
    // Below the lie, the endpoints agree.
    let (status, v) = api.attest(&caip2_eip155(CHAIN_ID), 4, &domain(1)).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = api.attest(&caip2_eip155(CHAIN_ID), 12, &domain(1)).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (502, Some("disagreement")),
        "{v}"
    );

    assert_eq!(
        api.metric("ferry_attestor_refusals_total{chain=\"evm-l3\",reason=\"disagreement\"}")
            .await,
        2.0
    );
    assert_eq!(
        api.metric("ferry_attestor_signatures_total{chain=\"evm-l3\"}")
            .await,
        1.0
    );
    // Only block 4 is on record.
    let lines = record_lines(&home.0);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains("\"height\":4"), "{lines:?}");
    assert!(att.log_text().contains("disagreement"));
    stop(att);

    // Both endpoints forge every block's stateRoot the same way: they agree, but not with the
    // checkpoint (nor with the hashes they give). It starts, and signs nothing.
    let forge: Tamper = Arc::new(|method, result| {
        if method == "eth_getBlockByNumber" && result["stateRoot"].is_string() {
            result["stateRoot"] = json!(flip_hex(result["stateRoot"].as_str().unwrap()));
        }
    });
    let forged_a = tampering_proxy(&anvil.url, forge.clone()).await;
    let forged_b = tampering_proxy(&anvil.url, forge).await;
    let home = home_with_key("attestor-b2");
    let port = write_config(&home.0, &[&forged_a, &forged_b], "{ depth = 4 }", cp);
    let att = start(&home.0, port, "attestor-b2.log").await;
    let api = Api::new(port);
    let (status, v) = api.attest(&caip2_eip155(CHAIN_ID), 10, &domain(1)).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (502, Some("verification_failed")),
        "{v}"
    );
    assert_eq!(
        api.metric(
            "ferry_attestor_refusals_total{chain=\"evm-l3\",reason=\"verification_failed\"}"
        )
        .await,
        1.0
    );
    assert_eq!(
        api.metric("ferry_attestor_signatures_total{chain=\"evm-l3\"}")
            .await,
        0.0
    );
    assert_eq!(record_lines(&home.0).len(), 1);
    stop(att);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_a_recorded_other_state_is_a_conflict_after_restart() {
    let anvil = anvil().await;
    mine(&anvil.url, 20).await;
    let proxy = tampering_proxy(&anvil.url, honest()).await;
    let home = home_with_key("attestor-c");
    let me = address(&home.0);
    let cp = checkpoint(&anvil.url, 2).await;
    let port = write_config(&home.0, &[&anvil.url, &proxy], "{ depth = 4 }", cp);
    let eip = caip2_eip155(CHAIN_ID);

    let att = start(&home.0, port, "attestor-c1.log").await;
    let (status, first) = Api::new(port).attest(&eip, 8, &domain(1)).await;
    assert_eq!(status, 200, "{first}");
    stop(att);

    // As if this key had signed another state for height 12 before the restart.
    let real = truth(&anvil.url, 12).await;
    let fake_root = H256::repeat_byte(0x11);
    assert_ne!(real.state_root, fake_root);
    let mut text = std::fs::read_to_string(home.0.join("attestor-record.jsonl")).unwrap();
    text.push_str(&format!(
        "{{\"chain\":\"{eip}\",\"height\":12,\"timestamp\":{},\"state_root\":\"{fake_root:?}\"}}\n",
        real.timestamp
    ));
    std::fs::write(home.0.join("attestor-record.jsonl"), &text).unwrap();

    let att = start(&home.0, port, "attestor-c2.log").await;
    let api = Api::new(port);
    // A second attestor on the same home would keep a record of its own: refused.
    let (ok, out) = ferry(&home.0, &["attestor", "start"]);
    assert!(!ok);
    assert!(out.contains("in use by another process"), "{out}");
    let (status, v) = api.attest(&eip, 12, &domain(1)).await;
    assert_eq!((status, v["kind"].as_str()), (409, Some("conflict")), "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("CONFLICT at height 12"),
        "{v}"
    );
    assert!(v.get("signature").is_none());
    // For any domain.
    let (status, v) = api.attest(&eip, 12, &domain(7)).await;
    assert_eq!((status, v["kind"].as_str()), (409, Some("conflict")), "{v}");
    assert_eq!(
        api.metric("ferry_attestor_refusals_total{chain=\"evm-l3\",reason=\"conflict\"}")
            .await,
        2.0
    );
    assert!(att.log_text().contains("CONFLICT"));

    // The state signed before the restart is signed again; a new height is signed.
    let (status, v) = api.attest(&eip, 8, &domain(1)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, first);
    let (status, v) = api.attest(&eip, 13, &domain(1)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(signed(&v, &domain(1), me), truth(&anvil.url, 13).await);
    stop(att);

    // The record kept every line, and no second state for 12.
    let lines = record_lines(&home.0);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("\"height\":12")).count(),
        1
    );
    assert!(lines[2].contains(&format!("{fake_root:?}")));

    // A record that is not one is refused at start, and left alone.
    std::fs::write(home.0.join("attestor-record.jsonl"), "garbage\n").unwrap();
    let (ok, out) = ferry(&home.0, &["attestor", "start"]);
    assert!(!ok);
    assert!(out.contains("is not a Ferry attestor record"), "{out}");
    assert_eq!(
        std::fs::read_to_string(home.0.join("attestor-record.jsonl")).unwrap(),
        "garbage\n"
    );
}
