//! The attestor as an operator runs it (the built `ferry` binary, a home of its own), its HTTP
//! API, and independent checks of what it signs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ethers::abi::Token;
use ethers::types::{Address, H256};
use ferry::chain::evm::attestation::recover;
use ferry_tests::evm::Tamper;
use ferry_tests::{ferry_bin, Relayer, TempDir, SIGTERM};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::simd::COSMOS_ID;

pub const KEY: &str = "attestor-1";
pub const EVM_ID: u64 = 33333;

pub fn ferry(home: &Path, args: &[&str]) -> (bool, String) {
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

pub fn home_with_key(tag: &str) -> (TempDir, Address) {
    let home = TempDir::new(tag);
    let (ok, out) = ferry(&home.0, &["keys", "add", KEY]);
    assert!(ok, "{out}");
    let (ok, out) = ferry(&home.0, &["--json", "attestor", "address"]);
    assert!(ok, "{out}");
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let address = v["address"].as_str().unwrap().parse().unwrap();
    (home, address)
}

/// `attestor.toml` with `chains` (TOML tables); returns the port it listens on.
pub fn write_config(home: &Path, chains: &str) -> u16 {
    let port = ferry_devnet::free_port();
    std::fs::write(
        home.join("attestor.toml"),
        format!("key = \"{KEY}\"\nlisten = \"127.0.0.1:{port}\"\nrpc_timeout = \"5s\"\n{chains}"),
    )
    .unwrap();
    port
}

pub fn cosmos_chain(rpc: &[&str], checkpoint: &str) -> String {
    let rpc: Vec<String> = rpc.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "[[chains]]\nname = \"hub\"\nkind = \"cosmos\"\nchain_id = \"{COSMOS_ID}\"\n\
         rpc = [{}]\ncheckpoint = \"{checkpoint}\"\nibc_attestations = true\n",
        rpc.join(", ")
    )
}

/// `ferry attestor start` in the background (stopped by pid), once /healthz answers.
pub async fn start(home: &Path, port: u16, log_name: &str) -> Relayer {
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
            t.elapsed() < Duration::from_secs(60),
            "attestor not up:\n{}",
            att.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn stop(mut att: Relayer) {
    let status = att.signal(SIGTERM);
    assert!(status.success(), "exit {status}:\n{}", att.log_text());
}

pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(port: u16) -> Api {
        Api {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn state(&self, chain: &str, height: u64) -> (u16, Value) {
        self.post(
            "/v1/attest/ibc/state",
            json!({"chain": chain, "height": height}),
        )
        .await
    }

    pub async fn packets(&self, chain: &str, height: u64, keys: &[&[u8]]) -> (u16, Value) {
        let keys: Vec<String> = keys
            .iter()
            .map(|k| format!("0x{}", hex::encode(k)))
            .collect();
        self.post(
            "/v1/attest/ibc/packets",
            json!({"chain": chain, "height": height, "keys": keys}),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn metric(&self, series: &str) -> f64 {
        self.get("/metrics")
            .await
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

pub fn record_lines(home: &Path) -> Vec<String> {
    std::fs::read_to_string(home.join("attestor-record.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

pub fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

/// Check an answer's signature independently: `sha256(tag ‖ sha256(attestation_data))`,
/// recovered to `signer`. Returns the attestation data.
pub fn signed_data(v: &Value, tag: u8, signer: Address) -> Vec<u8> {
    let data = unhex(&v["attestation_data"]);
    let mut pre = vec![tag];
    pre.extend_from_slice(&Sha256::digest(&data));
    let digest = H256::from_slice(&Sha256::digest(&pre));
    let sig = unhex(&v["signature"]);
    assert_eq!(sig.len(), 65);
    assert_eq!(recover(digest, &sig), Some(signer), "{v}");
    assert_eq!(
        v["signer"].as_str().unwrap().parse::<Address>().unwrap(),
        signer
    );
    data
}

pub fn word(n: u64) -> Token {
    Token::Uint(n.into())
}

/// `abi.encode(PacketAttestation{height, packets})` by ethers' encoder.
pub fn packet_abi(height: u64, packets: &[(H256, H256)]) -> Vec<u8> {
    let items = packets
        .iter()
        .map(|(p, c)| {
            Token::Tuple(vec![
                Token::FixedBytes(p.as_bytes().to_vec()),
                Token::FixedBytes(c.as_bytes().to_vec()),
            ])
        })
        .collect();
    ethers::abi::encode(&[Token::Tuple(vec![word(height), Token::Array(items)])])
}

pub fn evm_chain(rpc: &[&str], checkpoint: (u64, &str), router: Address) -> String {
    let rpc: Vec<String> = rpc.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "[[chains]]\nname = \"evm-l3\"\nkind = \"evm\"\nevm_chain_id = {EVM_ID}\nrpc = [{}]\n\
         finality = {{ depth = 4 }}\ncheckpoint = \"{}:{}\"\nibc_attestations = true\n\
         router = \"{router:?}\"\n",
        rpc.join(", "),
        checkpoint.0,
        checkpoint.1
    )
}

pub fn honest() -> Tamper {
    Arc::new(|_, _| {})
}
