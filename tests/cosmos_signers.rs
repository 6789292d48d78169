//! Several signers per chain on a live devnet (`keys = ["relayer", "relayer-2", "relayer-3"]`): the
//! relayer's txs come from more than one account, every packet is received once, no relayer tx
//! fails (each signer keeps its own sequence), and the API shows each signer's wallet. The batches'
//! proofs were fetched in JSON-RPC batches (`abci_query_batch`), not key by key.

use std::collections::BTreeSet;
use std::time::Duration;

use ferry_tests::TestNet;
use tendermint_rpc::query::Query;

const SIGNERS: [&str; 3] = ["relayer", "relayer-2", "relayer-3"];

/// The devnet config with both Cosmos chains signing with all three keys.
fn with_signers(net: &TestNet) {
    let path = net.home().join("config.toml");
    let mut cfg: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for c in cfg["chains"].as_array_mut().unwrap() {
        if c.get("type").and_then(|t| t.as_str()) == Some("cosmos") {
            let t = c.as_table_mut().unwrap();
            t.remove("key");
            t.insert(
                "keys".into(),
                toml::Value::Array(SIGNERS.iter().map(|s| (*s).into()).collect()),
            );
        }
    }
    std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn relayer_txs_are_spread_across_signers() {
    let net = TestNet::start("signers").await;
    net.ferry_ok(&["create", "path", "l3-settlement"]);
    with_signers(&net);
    let mut relayer = net.start_relayer("relayer.log");
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(30)),
        "{}",
        relayer.log_text()
    );
    let l3 = net.chain("l3-appchain-1");
    let hub = net.chain("settlement-1");
    let user = net.address("user");
    // Rounds one after the other: each is at least one flush, and each flush starts at the next
    // free signer.
    for _ in 0..4 {
        net.transfer(
            "l3-appchain-1",
            "1samoleans",
            &user,
            &["--key", "user", "--count", "30"],
        );
        ferry_tests::wait_no_commitments(&l3, Duration::from_secs(120)).await;
    }
    let received = ferry_tests::count_msgs(&hub, "/ibc.core.channel.v1.MsgRecvPacket").await;
    assert_eq!(received, 120, "every packet received once");

    // Who signed the relayer's txs on the hub: more than one of the three, and none failed.
    let addresses: Vec<String> = SIGNERS.iter().map(|s| net.address(s)).collect();
    let mut senders = BTreeSet::new();
    for (i, a) in addresses.iter().enumerate() {
        let txs = ferry_tests::search_txs(&hub, Query::eq("message.sender", a.as_str())).await;
        let failed: Vec<_> = txs.iter().filter(|t| t.tx_result.code.is_err()).collect();
        assert!(
            failed.is_empty(),
            "{} had failed txs: {failed:?}",
            SIGNERS[i]
        );
        let relayed = txs.iter().any(|t| {
            ferry::chain::cosmos::flatten_events(&t.tx_result.events)
                .iter()
                .any(|(k, _)| k == "recv_packet")
        });
        if relayed {
            senders.insert(SIGNERS[i]);
        }
    }
    assert!(senders.len() >= 2, "recv txs came only from {senders:?}");

    // The API lists each signer's wallet on each Cosmos chain.
    let api = net.metrics_url().replace("/metrics", "/v1/chains");
    let chains: serde_json::Value = reqwest::get(&api).await.unwrap().json().await.unwrap();
    for c in chains["chains"].as_array().unwrap() {
        if c["kind"] == "cosmos" {
            let keys: Vec<&str> = c["signers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["key"].as_str().unwrap())
                .collect();
            assert_eq!(keys, SIGNERS, "{c}");
            assert_eq!(c["wallet"]["key"], "relayer", "{c}");
        }
    }
    let metrics = ferry_tests::instances::metrics(&net.metrics_url()).await;
    let family = "ferry_rpc_requests_total";
    let batches = ferry_tests::metric_sum(&metrics, family, &[("method", "abci_query_batch")]);
    assert!(batches > 0, "no proof batch was sent");
    relayer.signal(ferry_tests::SIGTERM);
}
