//! `ferry attestor` signing the ibc-go v11 `attestations` light client format, as an operator runs
//! it (the built `ferry` binary, a home of its own), against real chains:
//!
//! (a) a Cosmos chain: one ibc-go v8 `simd` node read through two endpoints (the node and a
//!     JSON-RPC proxy in front of it). A localhost channel and one transfer put a real 32-byte
//!     packet commitment in its `ibc` store. Honest endpoints: the state `(H, block time)` and the
//!     commitment (plus a missing key as zero, by an ICS-23 non-existence proof) are signed, and
//!     both signatures recover to the attestor over `sha256(tag ‖ sha256(data))`; refusals of bad
//!     requests; a conflicting recorded timestamp after a restart.
//! (b) lying endpoints on that chain: one rewrites headers' app hash (`disagreement`), one
//!     rewrites the queried value (`disagreement`), both rewrite it the same way, keeping the proof
//!     (`verification_failed`); nothing is signed or recorded.
//! (c) an EVM chain (anvil) flagged for the ibc format: the FerryRouter's `commitments` slot of a
//!     raw key, proven by `eth_getProof` against the verified state root; a lying and a forging
//!     endpoint are refused; EIP-712 keeps working for it.
//! (d) `ferry attestor validate` refuses a second chain in the ibc format, naming the key.
//!
//! Run: `cargo build -p ferry --bin ferry && cargo test -p ferry-tests --test attestor_ibc`.
//! The chain is the devnet's ibc-go v8 `simd`; `FERRY_SIMD=<ibc-go v11 simd>` runs (a) and (b)
//! against v11 (Cosmos SDK v0.54, CometBFT v0.39) unchanged.

#[path = "attestor_ibc/harness.rs"]
mod harness;
#[path = "attestor_ibc/simd.rs"]
mod simd;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ethers::types::{Address, H256};
use ethers::utils::keccak256;
use ferry_tests::anvil::Anvil;
use ferry_tests::evm::{tampering_proxy, Tamper};
use serde_json::{json, Value};

use harness::*;
use simd::{flip_b64, flip_upper_hex, SimdNode, COSMOS_ID};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_b_cosmos_chain_signed_in_the_ibc_format() {
    let node = SimdNode::start().await;
    let sent_at = node.localhost_packet().await;
    node.wait_height(sent_at + 2).await;
    let commitment_key = b"commitments/ports/transfer/channels/channel-0/sequences/1".to_vec();
    let missing_key = b"receipts/ports/transfer/channels/channel-1/sequences/1".to_vec();
    let commitment = node.value(&commitment_key, sent_at).await;
    assert_eq!(commitment.len(), 32, "the packet commitment");
    let cp = node.checkpoint(2).await;
    let caip2 = format!("cosmos:{COSMOS_ID}");

    // (a) Honest endpoints.
    let proxy = tampering_proxy(&node.rpc, honest()).await;
    let (home, me) = home_with_key("attestor-ibc-a");
    let port = write_config(&home.0, &cosmos_chain(&[&node.rpc, &proxy], &cp));
    let (ok, out) = ferry(&home.0, &["attestor", "validate"]);
    assert!(ok, "{out}");
    let att = start(&home.0, port, "a.log").await;
    let api = Api::new(port);

    let h = sent_at;
    let (status, v) = api.state(&caip2, h).await;
    assert_eq!(status, 200, "{v}");
    let data = signed_data(&v, 0x01, me);
    let time = node.time(h).await;
    assert_eq!(data, ethers::abi::encode(&[word(h), word(time)]));
    assert_eq!(
        (v["height"].as_u64(), v["timestamp"].as_u64()),
        (Some(h), Some(time))
    );

    let (status, v) = api
        .packets(&caip2, h, &[&commitment_key, &missing_key])
        .await;
    assert_eq!(status, 200, "{v}");
    let data = signed_data(&v, 0x02, me);
    let expect = [
        (
            H256(keccak256(&commitment_key)),
            H256::from_slice(&commitment),
        ),
        (H256(keccak256(&missing_key)), H256::zero()),
    ];
    assert_eq!(data, packet_abi(h, &expect));
    for (i, (path, c)) in expect.iter().enumerate() {
        assert_eq!(v["packets"][i]["path"], format!("{path:?}"), "{v}");
        assert_eq!(v["packets"][i]["commitment"], format!("{c:?}"), "{v}");
    }
    // Before the packet was sent, its key is absent: zero, by a non-existence proof.
    let (status, v) = api.packets(&caip2, sent_at - 1, &[&commitment_key]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["packets"][0]["commitment"], format!("{:?}", H256::zero()));
    signed_data(&v, 0x02, me);

    // Refusals.
    let (status, v) = api.packets(&caip2, h, &[b"nextChannelSequence"]).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap().contains("8 bytes"), "{v}");
    let far = node.latest().await + 1000;
    let (status, v) = api.state(&caip2, far).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (425, Some("not_final")),
        "{v}"
    );
    let (status, v) = api.state(&caip2, 1).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
    let (status, v) = api.state("eip155:1", h).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (404, Some("unknown_chain")),
        "{v}"
    );
    let (status, v) = api
        .post(
            "/v1/attest/state",
            json!({"chain": caip2, "height": h,
                   "domain": {"host_chain_id": 1, "light_client": format!("{:?}", Address::zero())}}),
        )
        .await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (404, Some("unknown_chain")),
        "{v}"
    );
    assert!(
        v["error"].as_str().unwrap().contains("only in the ibc"),
        "{v}"
    );
    let (status, v) = api.packets(&caip2, h, &[]).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
    let (status, v) = api
        .packets(&caip2, h, &[&commitment_key, &commitment_key])
        .await;
    assert!(
        v["error"].as_str().unwrap().contains("repeats"),
        "{status} {v}"
    );
    let many: Vec<Vec<u8>> = (0..65u8).map(|i| vec![i + 1]).collect();
    let many: Vec<&[u8]> = many.iter().map(|k| k.as_slice()).collect();
    let (status, v) = api.packets(&caip2, h, &many).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (400, Some("bad_request")),
        "{v}"
    );
    let (status, v) = api
        .post(
            "/v1/attest/ibc/packets",
            json!({"chain": caip2, "height": h}),
        )
        .await;
    assert_eq!(v["kind"], "bad_request", "{status} {v}");

    // The same state again is signed again; /v1/info, /metrics and the record.
    let (status, _) = api.state(&caip2, h).await;
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&api.get("/v1/info").await).unwrap();
    assert_eq!(info["chains"][0]["chain"], caip2.as_str());
    assert_eq!(info["chains"][0]["ibc_attestations"], true);
    assert!(info["chains"][0]["verified_height"].as_u64().unwrap() > h);
    assert_eq!(
        api.metric("ferry_attestor_ibc_signatures_total{attestation=\"state\",chain=\"hub\"}")
            .await,
        2.0
    );
    assert_eq!(
        api.metric("ferry_attestor_ibc_signatures_total{attestation=\"packets\",chain=\"hub\"}")
            .await,
        2.0
    );
    let lines = record_lines(&home.0);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[1],
        format!("{{\"format\":\"ibc\",\"chain\":\"{caip2}\",\"height\":{h},\"timestamp\":{time}}}")
    );
    stop(att);

    // A record saying another timestamp was signed at h + 1: conflict after the restart.
    let mut text = std::fs::read_to_string(home.0.join("attestor-record.jsonl")).unwrap();
    text.push_str(&format!(
        "{{\"format\":\"ibc\",\"chain\":\"{caip2}\",\"height\":{},\"timestamp\":7}}\n",
        h + 1
    ));
    std::fs::write(home.0.join("attestor-record.jsonl"), text).unwrap();
    let att = start(&home.0, port, "a2.log").await;
    let (status, v) = api.state(&caip2, h + 1).await;
    assert_eq!((status, v["kind"].as_str()), (409, Some("conflict")), "{v}");
    let (status, _) = api.state(&caip2, h).await;
    assert_eq!(status, 200);
    stop(att);

    // (b) One endpoint rewrites the app hash of headers above the checkpoint.
    let lie_header: Tamper = Arc::new(|method, result| {
        let header = &mut result["signed_header"]["header"];
        if method == "commit"
            && header["height"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|n| n > 2)
        {
            let app = header["app_hash"].as_str().unwrap().to_string();
            header["app_hash"] = json!(flip_upper_hex(&app));
        }
    });
    let liar = tampering_proxy(&node.rpc, lie_header).await;
    let (home, _) = home_with_key("attestor-ibc-b1");
    let port = write_config(&home.0, &cosmos_chain(&[&node.rpc, &liar], &cp));
    let att = start(&home.0, port, "b1.log").await;
    let api = Api::new(port);
    let (status, v) = api.state(&caip2, h).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (502, Some("disagreement")),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap().contains("app_hash"), "{v}");
    let (status, v) = api.packets(&caip2, h, &[&commitment_key]).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (502, Some("disagreement")),
        "{v}"
    );
    assert!(v.get("signature").is_none());
    assert_eq!(
        api.metric("ferry_attestor_refusals_total{chain=\"hub\",reason=\"disagreement\"}")
            .await,
        2.0
    );
    assert_eq!(record_lines(&home.0).len(), 1);
    stop(att);

    // One endpoint rewrites queried values.
    let lie_value: Tamper = Arc::new(|method, result| {
        let value = &mut result["response"]["value"];
        if method == "abci_query" && value.as_str().is_some_and(|s| !s.is_empty()) {
            *value = json!(flip_b64(value.as_str().unwrap()));
        }
    });
    let liar = tampering_proxy(&node.rpc, lie_value.clone()).await;
    let (home, _) = home_with_key("attestor-ibc-b2");
    let port = write_config(&home.0, &cosmos_chain(&[&node.rpc, &liar], &cp));
    let att = start(&home.0, port, "b2.log").await;
    let api = Api::new(port);
    let (status, v) = api.packets(&caip2, h, &[&commitment_key]).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (502, Some("disagreement")),
        "{v}"
    );
    // The absent key is answered honestly by both: still signed.
    let (status, v) = api.packets(&caip2, h, &[&missing_key]).await;
    assert_eq!(status, 200, "{v}");
    stop(att);

    // Both endpoints rewrite the value the same way and keep the proof: the proof refuses it.
    let forged_a = tampering_proxy(&node.rpc, lie_value.clone()).await;
    let forged_b = tampering_proxy(&node.rpc, lie_value).await;
    let (home, _) = home_with_key("attestor-ibc-b3");
    let port = write_config(&home.0, &cosmos_chain(&[&forged_a, &forged_b], &cp));
    let att = start(&home.0, port, "b3.log").await;
    let api = Api::new(port);
    let (status, v) = api.packets(&caip2, h, &[&commitment_key]).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (502, Some("verification_failed")),
        "{v}"
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("does not prove this value"),
        "{v}"
    );
    assert_eq!(
        api.metric("ferry_attestor_signatures_total{chain=\"hub\"}")
            .await,
        0.0
    );
    // A checkpoint the endpoints do not serve.
    stop(att);
    let bad_cp = format!("2:{}", "AB".repeat(32));
    let (home, _) = home_with_key("attestor-ibc-b4");
    let port = write_config(&home.0, &cosmos_chain(&[&node.rpc, &proxy], &bad_cp));
    let att = start(&home.0, port, "b4.log").await;
    let (status, v) = Api::new(port).state(&caip2, h).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (502, Some("verification_failed")),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap().contains("checkpoint"), "{v}");
    stop(att);
}

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

async fn anvil() -> Anvil {
    let a = Anvil::start(EVM_ID);
    let t = Instant::now();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    while reqwest::Client::new()
        .post(&a.url)
        .json(&body)
        .send()
        .await
        .is_err()
    {
        assert!(t.elapsed() < Duration::from_secs(30), "anvil not up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a
}

async fn mine(url: &str, n: u64) {
    rpc(url, "anvil_mine", json!([format!("{n:#x}"), "0x1"])).await;
}

async fn head(url: &str) -> u64 {
    let v = rpc(url, "eth_blockNumber", json!([])).await;
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

async fn block(url: &str, n: u64) -> Value {
    rpc(
        url,
        "eth_getBlockByNumber",
        json!([format!("{n:#x}"), false]),
    )
    .await
}

/// The router's storage slot of a raw key: `keccak256(abi.encode(keccak256(key), uint256(0)))`.
fn router_slot(key: &[u8]) -> H256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&keccak256(key));
    H256(keccak256(buf))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_d_evm_chain_signed_in_the_ibc_format() {
    let anvil = anvil().await;
    mine(&anvil.url, 10).await;
    let router = Address::repeat_byte(0x7f);
    // A v2 packet commitment key: client id ‖ 0x01 ‖ be64(sequence).
    let mut key = b"attestations-0".to_vec();
    key.push(1);
    key.extend_from_slice(&1u64.to_be_bytes());
    let missing = [b"attestations-0".as_slice(), &[3], &7u64.to_be_bytes()].concat();
    let commitment = H256::repeat_byte(0xc1);
    let before = head(&anvil.url).await;
    rpc(
        &anvil.url,
        "anvil_setStorageAt",
        json!([
            format!("{router:?}"),
            format!("{:?}", router_slot(&key)),
            format!("{commitment:?}")
        ]),
    )
    .await;
    mine(&anvil.url, 10).await;
    let h = head(&anvil.url).await - 4;
    let cp_hash = block(&anvil.url, 2).await["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let caip2 = format!("eip155:{EVM_ID}");

    let proxy = tampering_proxy(&anvil.url, honest()).await;
    let (home, me) = home_with_key("attestor-ibc-c");
    let port = write_config(
        &home.0,
        &evm_chain(&[&anvil.url, &proxy], (2, &cp_hash), router),
    );
    let att = start(&home.0, port, "c.log").await;
    let api = Api::new(port);

    let (status, v) = api.state(&caip2, h).await;
    assert_eq!(status, 200, "{v}");
    let ts = u64::from_str_radix(
        block(&anvil.url, h).await["timestamp"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert_eq!(
        signed_data(&v, 0x01, me),
        ethers::abi::encode(&[word(h), word(ts)])
    );

    let (status, v) = api.packets(&caip2, h, &[&key, &missing]).await;
    assert_eq!(status, 200, "{v}");
    let expect = [
        (H256(keccak256(&key)), commitment),
        (H256(keccak256(&missing)), H256::zero()),
    ];
    assert_eq!(signed_data(&v, 0x02, me), packet_abi(h, &expect));
    // Before the slot was written: zero, by an exclusion proof. (`anvil_setStorageAt` writes
    // into the state of the head it is called at, so that block's proofs no longer match its
    // header: the block below it.)
    let (status, v) = api.packets(&caip2, before - 1, &[&key]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["packets"][0]["commitment"], format!("{:?}", H256::zero()));
    // Not final yet.
    let (status, v) = api.packets(&caip2, h + 2, &[&key]).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (425, Some("not_final")),
        "{v}"
    );
    // EIP-712 still serves this chain.
    let (status, v) = api
        .post(
            "/v1/attest/state",
            json!({"chain": caip2, "height": h,
                   "domain": {"host_chain_id": 1, "light_client": format!("{:?}", Address::repeat_byte(1))}}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(record_lines(&home.0).len(), 3);
    stop(att);

    // One endpoint claims another value for the slot.
    let lie: Tamper = Arc::new(|method, result| {
        if method == "eth_getProof" {
            result["storageProof"][0]["value"] = json!("0x1234");
        }
    });
    let liar = tampering_proxy(&anvil.url, lie.clone()).await;
    let (home, _) = home_with_key("attestor-ibc-c2");
    let port = write_config(
        &home.0,
        &evm_chain(&[&anvil.url, &liar], (2, &cp_hash), router),
    );
    let att = start(&home.0, port, "c2.log").await;
    let (status, v) = Api::new(port).packets(&caip2, h, &[&key]).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (502, Some("disagreement")),
        "{v}"
    );
    stop(att);
    // Both claim it, keeping the proof: the proof under the verified state root refuses it.
    let forged_a = tampering_proxy(&anvil.url, lie.clone()).await;
    let forged_b = tampering_proxy(&anvil.url, lie).await;
    let (home, _) = home_with_key("attestor-ibc-c3");
    let port = write_config(
        &home.0,
        &evm_chain(&[&forged_a, &forged_b], (2, &cp_hash), router),
    );
    let att = start(&home.0, port, "c3.log").await;
    let api = Api::new(port);
    let (status, v) = api.packets(&caip2, h, &[&key]).await;
    assert_eq!(
        (status, v["kind"].as_str()),
        (502, Some("verification_failed")),
        "{v}"
    );
    assert_eq!(
        api.metric("ferry_attestor_ibc_signatures_total{attestation=\"packets\",chain=\"evm-l3\"}")
            .await,
        0.0
    );
    stop(att);

    // (d) A second chain in the ibc format is refused by validation, naming the key.
    let two = format!(
        "{}{}",
        evm_chain(&[&anvil.url, &proxy], (2, &cp_hash), router),
        cosmos_chain(
            &["http://127.0.0.1:26657", "http://127.0.0.1:26658"],
            &format!("1:{}", "AB".repeat(32))
        )
    );
    write_config(&home.0, &two);
    let (ok, out) = ferry(&home.0, &["attestor", "validate"]);
    assert!(!ok, "{out}");
    assert!(out.contains("`chains[1].ibc_attestations`"), "{out}");
    assert!(out.contains("key `attestor-1`"), "{out}");
    let (ok, out) = ferry(&home.0, &["attestor", "start"]);
    assert!(!ok && out.contains("chains[1].ibc_attestations"), "{out}");
}
