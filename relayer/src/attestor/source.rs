//! Reading one chain from all of its endpoints at once. Every answer the attestor relies on is
//! asked of every endpoint: the chain id must be the configured one everywhere, a header must be
//! byte-identical everywhere (same hash), and the final height is the minimum over endpoints. Any
//! difference is a [`Kind::Disagreement`]: nothing is signed on the word of one node.

use crate::chain::evm::header_from_json;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ethers::types::H256;
use ferry_light_client_ethereum as lc;
use serde_json::{json, Value};

use super::config::Finality;
use super::metrics::Metrics;
use super::refusal::{Kind, Refusal};

/// One JSON-RPC endpoint.
#[async_trait]
pub trait Endpoint: Send + Sync {
    /// How logs name it (its URL).
    fn label(&self) -> String;
    /// The `result` of `method(params)`, or why there is none.
    async fn call(&self, method: &str, params: Value) -> Result<Value, String>;
}

/// JSON-RPC over HTTP POST.
pub struct HttpEndpoint {
    url: reqwest::Url,
    http: reqwest::Client,
}

impl HttpEndpoint {
    pub fn new(url: reqwest::Url, timeout: Duration) -> HttpEndpoint {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("http client");
        HttpEndpoint { url, http }
    }
}

#[async_trait]
impl Endpoint for HttpEndpoint {
    fn label(&self) -> String {
        self.url.to_string()
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let resp = self
            .http
            .post(self.url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{method}: {e}"))?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .map_err(|e| format!("{method}: HTTP {status}, not JSON-RPC: {e}"))?;
        if let Some(e) = v.get("error") {
            return Err(format!("{method}: {e}"));
        }
        v.get("result")
            .cloned()
            .ok_or_else(|| format!("{method}: HTTP {status}, answer without `result`"))
    }
}

/// A JSON-RPC quantity (`"0x1a"`) as u64, refusing anything else (no silent truncation).
pub fn quantity(v: &Value) -> Result<u64, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{v} is not a hex quantity"))?;
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| format!("`{s}` is not a hex quantity"))?;
    if digits.is_empty() || digits.len() > 16 {
        return Err(format!("`{s}` is not a 64-bit quantity"));
    }
    u64::from_str_radix(digits, 16).map_err(|e| format!("`{s}`: {e}"))
}

/// The header fields of an `eth_getBlockByNumber` answer (compared to name what differs).
const HEADER_FIELDS: [&str; 22] = [
    "hash",
    "parentHash",
    "sha3Uncles",
    "miner",
    "stateRoot",
    "transactionsRoot",
    "receiptsRoot",
    "logsBloom",
    "difficulty",
    "number",
    "gasLimit",
    "gasUsed",
    "timestamp",
    "extraData",
    "mixHash",
    "nonce",
    "baseFeePerGas",
    "withdrawalsRoot",
    "blobGasUsed",
    "excessBlobGas",
    "parentBeaconBlockRoot",
    "requestsHash",
];

/// One chain, read from all of its endpoints.
pub struct Source {
    /// The chain's name (metrics and logs).
    pub chain: String,
    pub evm_chain_id: u64,
    endpoints: Vec<Arc<dyn Endpoint>>,
    metrics: Arc<Metrics>,
}

impl Source {
    pub fn new(
        chain: String,
        evm_chain_id: u64,
        endpoints: Vec<Arc<dyn Endpoint>>,
        metrics: Arc<Metrics>,
    ) -> Source {
        Source {
            chain,
            evm_chain_id,
            endpoints,
            metrics,
        }
    }

    pub(super) fn name(&self, i: usize) -> String {
        format!("endpoint {i} ({})", self.endpoints[i].label())
    }

    /// `method(params)` asked of every endpoint at once; every one must answer.
    pub(super) async fn each(&self, method: &str, params: Value) -> Result<Vec<Value>, Refusal> {
        let answers = futures::future::join_all(
            self.endpoints
                .iter()
                .map(|e| e.call(method, params.clone())),
        )
        .await;
        let mut out = Vec::with_capacity(answers.len());
        for (i, a) in answers.into_iter().enumerate() {
            match a {
                Ok(v) => out.push(v),
                Err(e) => {
                    self.metrics.rpc_error(&self.chain, i);
                    return Err(Refusal::new(
                        Kind::RpcError,
                        format!("{}: {}: {e}", self.chain, self.name(i)),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Every endpoint serves the configured chain.
    pub async fn check_chain_id(&self) -> Result<(), Refusal> {
        for (i, v) in self
            .each("eth_chainId", json!([]))
            .await?
            .iter()
            .enumerate()
        {
            let id = quantity(v).map_err(|e| {
                Refusal::new(
                    Kind::RpcError,
                    format!("{}: {}: eth_chainId: {e}", self.chain, self.name(i)),
                )
            })?;
            if id != self.evm_chain_id {
                return Err(Refusal::new(
                    Kind::Disagreement,
                    format!(
                        "{}: {} serves chain id {id}, not the configured {}",
                        self.chain,
                        self.name(i),
                        self.evm_chain_id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The newest final block under `finality`: the minimum over endpoints. `None` while no
    /// block is final yet.
    pub async fn final_height(&self, finality: Finality) -> Result<Option<u64>, Refusal> {
        let bad = |i: usize, e: String| {
            Refusal::new(
                Kind::RpcError,
                format!("{}: {}: {e}", self.chain, self.name(i)),
            )
        };
        let mut min = u64::MAX;
        match finality {
            Finality::Finalized => {
                let answers = self
                    .each("eth_getBlockByNumber", json!(["finalized", false]))
                    .await?;
                for (i, b) in answers.iter().enumerate() {
                    if b.is_null() {
                        return Err(bad(i, "has no `finalized` block".into()));
                    }
                    let n = quantity(&b["number"])
                        .map_err(|e| bad(i, format!("finalized block number: {e}")))?;
                    min = min.min(n);
                }
                Ok(Some(min))
            }
            Finality::Depth(depth) => {
                let answers = self.each("eth_blockNumber", json!([])).await?;
                for (i, v) in answers.iter().enumerate() {
                    let n = quantity(v).map_err(|e| bad(i, format!("eth_blockNumber: {e}")))?;
                    min = min.min(n);
                }
                Ok(min.checked_sub(depth))
            }
        }
    }

    /// Block `n`'s header, identical at every endpoint, hashing to the hash they give for it.
    pub async fn header(&self, n: u64) -> Result<lc::Header, Refusal> {
        let answers = self
            .each("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))
            .await?;
        let mut headers = Vec::with_capacity(answers.len());
        for (i, b) in answers.iter().enumerate() {
            if b.is_null() {
                return Err(Refusal::new(
                    Kind::RpcError,
                    format!("{}: {} has no block {n}", self.chain, self.name(i)),
                ));
            }
            let h = header_from_json(b).map_err(|e| {
                Refusal::new(
                    Kind::VerificationFailed,
                    format!("{}: {}: block {n}: {e}", self.chain, self.name(i)),
                )
            })?;
            headers.push(h);
        }
        let first = headers[0].hash();
        for (i, h) in headers.iter().enumerate().skip(1) {
            let hash = h.hash();
            if hash != first {
                let differ: Vec<&str> = HEADER_FIELDS
                    .iter()
                    .copied()
                    .filter(|f| answers[0].get(*f) != answers[i].get(*f))
                    .collect();
                return Err(Refusal::new(
                    Kind::Disagreement,
                    format!(
                        "{}: block {n} differs between endpoints: {} has hash {first:?}, {} has \
                         {hash:?} (fields that differ: {})",
                        self.chain,
                        self.name(0),
                        self.name(i),
                        differ.join(", ")
                    ),
                ));
            }
        }
        let h = headers.swap_remove(0);
        if h.number != n {
            return Err(Refusal::new(
                Kind::VerificationFailed,
                format!(
                    "{}: asked for block {n}, the endpoints gave block {}",
                    self.chain, h.number
                ),
            ));
        }
        // The endpoints agree on the header; it must also be the block they name by that hash.
        for (i, b) in answers.iter().enumerate() {
            let given = b["hash"]
                .as_str()
                .and_then(|s| s.strip_prefix("0x"))
                .and_then(|s| hex::decode(s).ok())
                .filter(|v| v.len() == 32)
                .map(|v| H256::from_slice(&v));
            if given != Some(first) {
                return Err(Refusal::new(
                    Kind::VerificationFailed,
                    format!(
                        "{}: {}: block {n}'s fields hash to {first:?}, but it names its hash {}",
                        self.chain,
                        self.name(i),
                        b["hash"]
                    ),
                ));
            }
        }
        Ok(h)
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! Endpoints serving a made-up chain from memory, for tests.

    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Mutex;

    use super::*;

    /// A well-linked chain of `n + 1` headers (0 ..= n).
    pub fn chain(n: u64) -> Vec<lc::Header> {
        let mut out: Vec<lc::Header> = Vec::new();
        for number in 0..=n {
            out.push(lc::Header {
                parent_hash: out.last().map(|p| p.hash()).unwrap_or_default(),
                ommers_hash: H256::repeat_byte(0x22),
                beneficiary: lc::Address::repeat_byte(0x33),
                state_root: H256::from_low_u64_be(1000 + number),
                transactions_root: lc::EMPTY_ROOT,
                receipts_root: lc::EMPTY_ROOT,
                logs_bloom: [0u8; 256],
                difficulty: lc::U256::zero(),
                number,
                gas_limit: 30_000_000,
                gas_used: 21_000,
                timestamp: 1_700_000_000 + number * 2,
                extra_data: b"ferry".to_vec(),
                mix_hash: H256::repeat_byte(0x55),
                nonce: [0u8; 8],
                base_fee_per_gas: Some(lc::U256::from(7u64)),
                withdrawals_root: Some(lc::EMPTY_ROOT),
                blob_gas_used: Some(0),
                excess_blob_gas: Some(0),
                parent_beacon_block_root: Some(H256::zero()),
                requests_hash: None,
            });
        }
        out
    }

    /// The JSON-RPC form of a header (what `eth_getBlockByNumber` answers).
    pub fn to_json(h: &lc::Header) -> Value {
        let hx = |b: &[u8]| format!("0x{}", hex::encode(b));
        let q = |n: u64| format!("{n:#x}");
        json!({
            "hash": format!("{:?}", h.hash()),
            "parentHash": format!("{:?}", h.parent_hash),
            "sha3Uncles": format!("{:?}", h.ommers_hash),
            "miner": format!("{:?}", h.beneficiary),
            "stateRoot": format!("{:?}", h.state_root),
            "transactionsRoot": format!("{:?}", h.transactions_root),
            "receiptsRoot": format!("{:?}", h.receipts_root),
            "logsBloom": hx(&h.logs_bloom),
            "difficulty": format!("{:#x}", h.difficulty),
            "number": q(h.number),
            "gasLimit": q(h.gas_limit),
            "gasUsed": q(h.gas_used),
            "timestamp": q(h.timestamp),
            "extraData": hx(&h.extra_data),
            "mixHash": format!("{:?}", h.mix_hash),
            "nonce": hx(&h.nonce),
            "baseFeePerGas": h.base_fee_per_gas.map(|v| format!("{v:#x}")),
            "withdrawalsRoot": h.withdrawals_root.map(|v| format!("{v:?}")),
            "blobGasUsed": h.blob_gas_used.map(q),
            "excessBlobGas": h.excess_blob_gas.map(q),
            "parentBeaconBlockRoot": h.parent_beacon_block_root.map(|v| format!("{v:?}")),
        })
    }

    /// Serves `blocks` as a node would: `latest` is the last, `finalized` is `finalized`.
    pub struct Fake {
        pub blocks: Mutex<Vec<Value>>,
        pub chain_id: AtomicU64,
        pub finalized: AtomicU64,
        pub down: AtomicBool,
        pub calls: AtomicU64,
    }

    impl Fake {
        pub fn new(headers: &[lc::Header], chain_id: u64) -> Arc<Fake> {
            Arc::new(Fake {
                blocks: Mutex::new(headers.iter().map(to_json).collect()),
                chain_id: AtomicU64::new(chain_id),
                finalized: AtomicU64::new(headers.len() as u64 - 1),
                down: AtomicBool::new(false),
                calls: AtomicU64::new(0),
            })
        }

        /// Change one JSON field of block `n` as a lying node would (the `hash` stays).
        pub fn tamper(&self, n: usize, field: &str, value: Value) {
            self.blocks.lock().unwrap()[n][field] = value;
        }
    }

    #[async_trait]
    impl Endpoint for Fake {
        fn label(&self) -> String {
            "fake".into()
        }

        async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err("connection refused".into());
            }
            let blocks = self.blocks.lock().unwrap();
            match method {
                "eth_chainId" => Ok(json!(format!(
                    "{:#x}",
                    self.chain_id.load(Ordering::SeqCst)
                ))),
                "eth_blockNumber" => Ok(json!(format!("{:#x}", blocks.len() - 1))),
                "eth_getBlockByNumber" => {
                    let n = match params[0].as_str() {
                        Some("finalized") => self.finalized.load(Ordering::SeqCst),
                        Some("latest") => blocks.len() as u64 - 1,
                        _ => quantity(&params[0])?,
                    };
                    Ok(blocks.get(n as usize).cloned().unwrap_or(Value::Null))
                }
                m => Err(format!("{m} not served")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;

    fn source(fakes: &[Arc<Fake>]) -> Source {
        Source::new(
            "evm-l3".into(),
            33333,
            fakes
                .iter()
                .map(|f| f.clone() as Arc<dyn Endpoint>)
                .collect(),
            Arc::new(Metrics::new(&[("evm-l3".into(), fakes.len())])),
        )
    }

    #[test]
    fn quantities_are_checked() {
        assert_eq!(quantity(&json!("0x1a")), Ok(26));
        assert_eq!(quantity(&json!("0xffffffffffffffff")), Ok(u64::MAX));
        assert!(quantity(&json!("0x1ffffffffffffffff")).is_err());
        assert!(quantity(&json!("0x")).is_err());
        assert!(quantity(&json!("26")).is_err());
        assert!(quantity(&json!(26)).is_err());
        assert!(quantity(&Value::Null).is_err());
    }

    #[test]
    fn json_round_trip_keeps_the_hash() {
        for h in chain(3) {
            let back = header_from_json(&to_json(&h)).unwrap();
            assert_eq!(back, h);
        }
    }

    #[tokio::test]
    async fn agreeing_endpoints_give_the_header() {
        let c = chain(5);
        let s = source(&[Fake::new(&c, 33333), Fake::new(&c, 33333)]);
        s.check_chain_id().await.unwrap();
        assert_eq!(s.header(3).await.unwrap(), c[3]);
    }

    #[tokio::test]
    async fn a_rewritten_state_root_is_a_disagreement() {
        let c = chain(5);
        let (a, b) = (Fake::new(&c, 33333), Fake::new(&c, 33333));
        b.tamper(3, "stateRoot", json!(format!("{:?}", H256::repeat_byte(9))));
        let s = source(&[a, b]);
        let r = s.header(3).await.unwrap_err();
        assert_eq!(r.kind, Kind::Disagreement, "{r}");
        assert!(r.message.contains("stateRoot"), "{r}");
        assert!(!r.message.contains("parentHash"), "{r}");
        s.header(2).await.unwrap();
    }

    #[tokio::test]
    async fn a_consistent_lie_is_caught_by_its_own_hash() {
        // Both endpoints tell the same altered header but name the original hash.
        let c = chain(5);
        let (a, b) = (Fake::new(&c, 33333), Fake::new(&c, 33333));
        for f in [&a, &b] {
            f.tamper(3, "stateRoot", json!(format!("{:?}", H256::repeat_byte(9))));
        }
        let r = source(&[a, b]).header(3).await.unwrap_err();
        assert_eq!(r.kind, Kind::VerificationFailed, "{r}");
    }

    #[tokio::test]
    async fn wrong_chain_id_and_dead_endpoints_are_refused() {
        let c = chain(5);
        let (a, b) = (Fake::new(&c, 33333), Fake::new(&c, 1));
        let s = source(&[a.clone(), b.clone()]);
        let r = s.check_chain_id().await.unwrap_err();
        assert_eq!(r.kind, Kind::Disagreement);
        assert!(r.message.contains("endpoint 1"), "{r}");
        b.down.store(true, std::sync::atomic::Ordering::SeqCst);
        let r = s.header(1).await.unwrap_err();
        assert_eq!(r.kind, Kind::RpcError);
        assert!(s
            .metrics
            .render()
            .contains("ferry_attestor_rpc_errors_total{chain=\"evm-l3\",endpoint=\"1\"} 1"));
        // A block one endpoint does not have.
        b.down.store(false, std::sync::atomic::Ordering::SeqCst);
        b.blocks.lock().unwrap().truncate(3);
        assert_eq!(s.header(4).await.unwrap_err().kind, Kind::RpcError);
    }

    #[tokio::test]
    async fn the_final_height_is_the_minimum_over_endpoints() {
        let c = chain(20);
        let (a, b) = (Fake::new(&c, 33333), Fake::new(&c[..16], 33333));
        a.finalized.store(12, std::sync::atomic::Ordering::SeqCst);
        b.finalized.store(9, std::sync::atomic::Ordering::SeqCst);
        let s = source(&[a, b]);
        assert_eq!(s.final_height(Finality::Finalized).await.unwrap(), Some(9));
        assert_eq!(s.final_height(Finality::Depth(5)).await.unwrap(), Some(10));
        assert_eq!(s.final_height(Finality::Depth(16)).await.unwrap(), None);
    }
}
