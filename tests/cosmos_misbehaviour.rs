//! Misbehaviour against a live devnet: a fork of `l3-appchain-1` (a second node from the same genesis
//! and validator key, fresh data, no peers: the one validator double-signs) is set as Ferry's
//! witness for the L3. Ferry detects the conflicting headers, submits the evidence to
//! `settlement-1` (the tx succeeds and the L3's client there is frozen), counts
//! `ferry_misbehaviour_detected_total`, and relays nothing from the L3 afterwards.

use std::time::Duration;

use ferry::ibc::ClientId;
use ferry_devnet::fork::{start_fork, stop_fork};
use ferry_devnet::NodeInfo;
use ferry_tests::{eventually, last_json, TestNet, SIGTERM};
use tendermint_rpc::{Client, HttpClient};

/// Stops the fork node by pid when the test ends, however it ends.
struct ForkGuard(NodeInfo);

impl Drop for ForkGuard {
    fn drop(&mut self) {
        stop_fork(&self.0);
    }
}

async fn latest(rpc: &HttpClient) -> u64 {
    rpc.status()
        .await
        .unwrap()
        .sync_info
        .latest_block_height
        .value()
}

#[tokio::test(flavor = "multi_thread")]
async fn fork_is_detected_evidence_freezes_client_and_relaying_stops() {
    let net = TestNet::start("misbehaviour").await;
    // As early as possible: the fork restarts at height 1 and must get past the client's
    // trusted height, which the path creation below sets.
    let fork = ForkGuard(
        start_fork(&net.state, "l3-appchain-1", &net.devnet.dir)
            .await
            .expect("start fork"),
    );
    let fork_rpc = HttpClient::new(fork.0.rpc.as_str()).unwrap();
    let main_rpc = HttpClient::new(net.state.node("l3-appchain-1").unwrap().rpc.as_str()).unwrap();

    let ids =
        last_json(&net.ferry_ok(&["--json", "create", "path", "l3-settlement"]))["ids"].clone();
    let client: ClientId = ids["client_b"].as_str().unwrap().parse().unwrap();
    let hub = net.chain("settlement-1");
    let trusted = hub
        .client_state(&client)
        .await
        .unwrap()
        .latest_height
        .unwrap()
        .revision_height;
    println!("client {client} on settlement-1 trusts l3-appchain-1 at height {trusted}");

    // A real fork: one chain id, one validator set, different blocks at one height.
    let h = latest(&fork_rpc).await.min(latest(&main_rpc).await);
    let height = tendermint::block::Height::try_from(h).unwrap();
    let (a, b) = (
        main_rpc.commit(height).await.unwrap().signed_header,
        fork_rpc.commit(height).await.unwrap().signed_header,
    );
    assert_eq!(a.header.chain_id, b.header.chain_id);
    assert_eq!(a.header.validators_hash, b.header.validators_hash);
    assert_ne!(
        a.header.hash(),
        b.header.hash(),
        "the fork must sign a different block at {h}"
    );
    assert_ne!(a.header.time, b.header.time);

    eventually(
        "the fork to pass the client's trusted height",
        Duration::from_secs(120),
        || {
            let fork_rpc = fork_rpc.clone();
            async move { (latest(&fork_rpc).await > trusted + 1).then_some(()) }
        },
    )
    .await;

    // The fork is the L3's witness.
    let cfg = net.home().join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let id_line = "id = \"l3-appchain-1\"\n";
    assert!(text.contains(id_line), "{text}");
    let text = text.replacen(
        id_line,
        &format!("{id_line}witness_rpc = \"{}\"\n", fork.0.rpc),
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    net.ferry_ok(&["config", "validate"]);

    let mut relayer = net.start_relayer("relayer.log");
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(30)),
        "relayer did not start:\n{}",
        relayer.log_text()
    );

    // The evidence lands: the client is frozen...
    eventually("the client to be frozen", Duration::from_secs(90), || {
        let hub = hub.clone();
        let client = client.clone();
        async move {
            let f = hub.client_state(&client).await.ok()?.frozen_height?;
            (f.revision_number != 0 || f.revision_height != 0).then_some(())
        }
    })
    .await;
    use ibc_proto::ibc::core::client::v1::{QueryClientStatusRequest, QueryClientStatusResponse};
    let status: QueryClientStatusResponse = hub
        .grpc_query(
            "/ibc.core.client.v1.Query/ClientStatus",
            &QueryClientStatusRequest {
                client_id: client.to_string(),
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(status.status, "Frozen");
    // ...by a successful tx of Ferry's carrying the misbehaviour.
    let q = tendermint_rpc::query::Query::eq("client_misbehaviour.client_id", client.as_str());
    let found = hub
        .rpc
        .call("tx_search", |c| {
            tendermint_rpc::Client::tx_search(
                c,
                q.clone(),
                false,
                1,
                10,
                tendermint_rpc::Order::Ascending,
            )
        })
        .await
        .unwrap();
    assert_eq!(found.txs.len(), 1, "one misbehaviour tx");
    assert!(
        found.txs[0].tx_result.code.is_ok(),
        "{:?}",
        found.txs[0].tx_result
    );
    let hash = found.txs[0].hash.to_string();
    assert!(
        relayer.wait_log(&hash, Duration::from_secs(10)),
        "the relayer did not report tx {hash}:\n{}",
        relayer.log_text()
    );
    assert!(relayer.log_text().contains("MISBEHAVIOUR"));

    // Counted.
    let url = net.metrics_url();
    let needle =
        format!("ferry_misbehaviour_detected_total{{chain=\"settlement-1\",client=\"{client}\"}} ");
    let count: f64 = eventually("the misbehaviour metric", Duration::from_secs(20), || {
        let (url, needle) = (url.clone(), needle.clone());
        async move {
            let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix(needle.as_str()))
                .and_then(|v| v.trim().parse().ok())
        }
    })
    .await;
    assert!(count >= 1.0, "ferry_misbehaviour_detected_total = {count}");

    // The check before every client update, through the library: a fresh handle of the L3 (with
    // the witness from the config) refuses to build the update and halts.
    let l3 = net.chain("l3-appchain-1");
    assert!(l3.witness.configured());
    let trusted_h = ferry::ibc::Height::new(1, trusted);
    let anchor = ferry::chain::ClientHost::consensus_anchor(&*hub, &client, trusted_h)
        .await
        .unwrap();
    let target = ferry::chain::Heights::latest(&*l3).await.unwrap().0;
    let err = ferry::chain::Headers::client_headers(&*l3, trusted_h, target, &anchor)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ferry::chain::ChainError::Halted { reason, .. } if reason.contains("conflicting headers")),
        "{err}"
    );
    assert!(l3.witness.halted().is_some());
    let err = ferry::chain::Headers::client_headers(&*l3, trusted_h, target, &anchor)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ferry::chain::ChainError::Halted { .. }),
        "{err}"
    );

    // A transfer sent now is not relayed.
    let user = net.address("user");
    let out = net.transfer("l3-appchain-1", "5samoleans", &user, &["--key", "user"]);
    let tx = out["tx_hash"].as_str().unwrap().to_string();
    assert!(
        relayer.wait_log("is halted", Duration::from_secs(30)),
        "relaying was not refused:\n{}",
        relayer.log_text()
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let st = last_json(&net.ferry_ok(&["--json", "query", "transfer", "l3-appchain-1", &tx]));
    assert_eq!(st["state"], "sent", "{st}");
    let voucher = ferry::cli::voucher_denom(&format!(
        "transfer/{}/samoleans",
        ids["channel_b"].as_str().unwrap()
    ));
    assert_eq!(net.balance("settlement-1", "user", &voucher).await, 0);

    let status = relayer.signal(SIGTERM);
    assert!(
        status.success(),
        "ferry start exited with {status:?}:\n{}",
        relayer.log_text()
    );
    drop(fork);
}
