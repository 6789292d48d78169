//! EVM helpers: an EVM-only config for the devnet, chain handles through Ferry's library, ERC-20
//! queries, and a JSON-RPC proxy that tampers with chosen answers of a real anvil.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ethers::providers::{Http, Provider};
use ethers::types::{Address, U256};
use ferry::chain::evm::abi::{Erc20, Ics20Transfer};
use ferry::chain::evm::EvmChain;
use ferry_devnet::evm::EvmNode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::TestNet;

pub const PATH: &str = "l3-settlement-evm";
pub const CLIENT: &str = "attestations-0";

impl TestNet {
    pub fn evm_node(&self, id: &str) -> &EvmNode {
        self.state.evm.iter().find(|n| n.chain_id == id).unwrap()
    }

    /// The devnet config with only the EVM chains and path, its own metrics port, and `rpc`
    /// overrides (chain id → URL). Written next to config.toml as `name`.
    pub fn evm_config(&self, name: &str, rpc: &[(&str, &str)]) -> PathBuf {
        let text = std::fs::read_to_string(self.home().join("config.toml")).unwrap();
        let mut v: toml::Value = toml::from_str(&text).unwrap();
        let t = v.as_table_mut().unwrap();
        let chains = t["chains"].as_array_mut().unwrap();
        chains.retain(|c| c["type"].as_str() == Some("evm"));
        for c in chains.iter_mut() {
            let id = c["id"].as_str().unwrap().to_string();
            if let Some((_, url)) = rpc.iter().find(|(chain, _)| *chain == id) {
                c["rpc"] = toml::Value::Array(vec![toml::Value::String(url.to_string())]);
            }
        }
        t["paths"]
            .as_array_mut()
            .unwrap()
            .retain(|p| p["name"].as_str() == Some(PATH));
        let port = ferry_devnet::free_port();
        t["telemetry"]["listen"] = toml::Value::String(format!("127.0.0.1:{port}"));
        let path = self.home().join(name);
        std::fs::write(&path, toml::to_string(&v).unwrap()).unwrap();
        path
    }

    /// A chain handle through Ferry's library, opened from `config` with the relayer's keys.
    pub fn evm_chain(&self, config: &Path, id: &str) -> Arc<EvmChain> {
        let cfg = ferry::config::load(config).unwrap().0;
        let c = cfg.chains.iter().find(|c| c.id.as_str() == id).unwrap();
        match ferry::supervisor::open_chain(c, self.home(), &c.key).unwrap() {
            ferry::supervisor::Chain::Evm(e) => e,
            _ => panic!("{id} is not an evm chain"),
        }
    }

    pub fn provider(&self, id: &str) -> Arc<Provider<Http>> {
        Arc::new(Provider::<Http>::try_from(self.evm_node(id).rpc.as_str()).unwrap())
    }

    pub fn evm_address(&self, role: &str) -> Address {
        self.address(&format!("evm-{role}")).parse().unwrap()
    }

    pub async fn erc20_balance(&self, chain: &str, token: Address, owner: Address) -> U256 {
        Erc20::new(token, self.provider(chain))
            .balance_of(owner)
            .call()
            .await
            .unwrap()
    }

    /// The voucher the ICS-20 app on `chain` minted for `trace` (zero if none yet).
    pub async fn voucher(&self, chain: &str, trace: &str) -> Address {
        Ics20Transfer::new(self.evm_node(chain).transfer, self.provider(chain))
            .voucher_of(trace.into())
            .call()
            .await
            .unwrap()
    }

    /// Wait (up to `timeout`) for the voucher of `trace` on `chain`, then (up to 30 s) until
    /// `owner` holds `amount` of it; returns the voucher.
    pub async fn wait_voucher_balance(
        &self,
        chain: &str,
        trace: &str,
        owner: Address,
        amount: u64,
        timeout: std::time::Duration,
    ) -> Address {
        let voucher = crate::eventually(
            &format!("the voucher of {trace} on {chain}"),
            timeout,
            || async {
                let v = self.voucher(chain, trace).await;
                (!v.is_zero()).then_some(v)
            },
        )
        .await;
        crate::eventually(
            &format!("{amount} of {trace} held on {chain}"),
            std::time::Duration::from_secs(30),
            || async {
                (self.erc20_balance(chain, voucher, owner).await == U256::from(amount))
                    .then_some(())
            },
        )
        .await;
        voucher
    }

    /// `ferry --json --config CONFIG transfer` on the EVM path; returns the last JSON line.
    pub fn evm_transfer(
        &self,
        config: &Path,
        from: &str,
        amount: &str,
        token: Address,
        to: &str,
        extra: &[&str],
    ) -> Value {
        let token = format!("{token:?}");
        let config = config.to_str().unwrap();
        let mut args = vec![
            "--json",
            "--config",
            config,
            "transfer",
            "--path",
            PATH,
            "--from-chain",
            from,
            "--amount",
            amount,
            "--token",
            &token,
            "--to",
            to,
            "--key",
            "user",
        ];
        args.extend_from_slice(extra);
        crate::last_json(&self.ferry_ok(&args))
    }
}

/// What the proxy does to an answer: (method, result) → altered result.
pub type Tamper = Arc<dyn Fn(&str, &mut Value) + Send + Sync>;

/// A JSON-RPC proxy on a free 127.0.0.1 port in front of `upstream`, altering answers with
/// `tamper`. Stops with the test's runtime.
pub async fn tampering_proxy(upstream: &str, tamper: Tamper) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.to_string();
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (upstream, client, tamper) = (upstream.clone(), client.clone(), tamper.clone());
            tokio::spawn(async move {
                let Some(body) = read_request(&mut sock).await else {
                    return;
                };
                let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let Ok(resp) = client
                    .post(&upstream)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                else {
                    return;
                };
                let mut answer: Value = resp.json().await.unwrap_or(Value::Null);
                if let (Some(method), Some(result)) =
                    (req["method"].as_str(), answer.get_mut("result"))
                {
                    tamper(method, result);
                }
                let out = serde_json::to_vec(&answer).unwrap();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    out.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&out).await;
            });
        }
    });
    url
}

/// One HTTP request's body (by content-length).
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf[end + 4..end + 4 + len].to_vec());
        }
    }
}

/// Flip the last byte of a hex string (`0x…`).
pub fn flip_hex(s: &str) -> String {
    let mut b = hex::decode(s.trim_start_matches("0x")).unwrap();
    if let Some(x) = b.last_mut() {
        *x ^= 0x01;
    }
    format!("0x{}", hex::encode(b))
}
