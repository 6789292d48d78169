//! The EVM path end to end on the devnet's two anvil chains (`evm-l3` 33333, `evm-settlement`
//! 31337) with Ferry's contracts, relayed by `ferry start`:
//!
//! 1. the test ERC-20 from evm-l3 to evm-settlement (escrowed; a voucher minted), acknowledged;
//! 2. part of the voucher back (burned; the original token unescrowed), acknowledged;
//! 3. a transfer to a receiver that is not an address: error acknowledgement, sender refunded;
//! 4. tampering: with evm-l3's RPC behind a proxy that alters `eth_getProof`, Ferry rejects the
//!    proof and submits nothing (the packet stays unreceived); a forged block header is refused
//!    before it is attested; and the honest relayer then delivers the packet;
//! 5. a transfer that times out while the relayer is down is timed out and refunded after restart.
//!
//! Run: `cargo test -p ferry-tests --test evm_path -- --nocapture`

use std::sync::Arc;
use std::time::Duration;

use ethers::types::U256;
use ferry::chain::{ChainError, Heights, PacketProofs, PacketQueries};
use ferry::ibc::{ChannelId, PortId};
use ferry_tests::evm::{flip_hex, tampering_proxy, CLIENT};
use ferry_tests::{eventually, metric_sum, TestNet, SIGTERM};
use serde_json::Value;

fn state(v: &Value) -> &str {
    v["state"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn evm_transfers_acks_refunds_and_tampering() {
    let net = TestNet::start("evm-path").await;
    let cfg = net.evm_config("config-evm.toml", &[]);
    let mut relayer = net.start_relayer_with("relayer-evm.log", &cfg);
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(60)),
        "relayer did not start:\n{}",
        relayer.log_text()
    );
    let (l3, st) = ("evm-l3", "evm-settlement");
    let token = net.evm_node(l3).token;
    let user = net.evm_address("user");
    let user_hex = format!("{user:?}");
    let start_balance = net.erc20_balance(l3, token, user).await;
    assert!(start_balance > U256::zero());

    // 1. Out: escrow on evm-l3, voucher on evm-settlement.
    let out = net.evm_transfer(&cfg, l3, "1000", token, &user_hex, &["--wait"]);
    assert_eq!(state(&out), "acknowledged", "{out}");
    assert_eq!(out["ok"], true, "{out}");
    let trace = format!("transfer/{CLIENT}/{token:?}");
    let voucher = net.voucher(st, &trace).await;
    assert!(!voucher.is_zero(), "no voucher for {trace}");
    assert_eq!(net.erc20_balance(st, voucher, user).await, U256::from(1000));
    assert_eq!(
        net.erc20_balance(l3, token, user).await,
        start_balance - 1000
    );

    // Someone else spends from the relayer's account on evm-settlement: Ferry's cached nonce goes
    // stale, and its next transaction there (the ack of step 2) must recover (the chain is past it).
    {
        use ethers::middleware::SignerMiddleware;
        use ethers::providers::Middleware;
        use ethers::signers::Signer;
        let w = ferry::keys::evm_wallet(&ferry_devnet::mnemonic("relayer"), 31_337).unwrap();
        let me = w.address();
        let client = SignerMiddleware::new(net.provider(st).as_ref().clone(), w);
        let tx = ethers::types::TransactionRequest::new().to(me).value(0u64);
        let r = client
            .send_transaction(tx, None)
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(r.unwrap().status, Some(1u64.into()));
    }

    // 2. Back: the voucher burned, the original token released from escrow.
    let back = net.evm_transfer(&cfg, st, "400", voucher, &user_hex, &["--wait"]);
    assert_eq!(state(&back), "acknowledged", "{back}");
    assert_eq!(net.erc20_balance(st, voucher, user).await, U256::from(600));
    let voucher_hex = format!("{voucher:?}");
    let bal = ferry_tests::last_json(&net.ferry_ok(&[
        "--json",
        "--config",
        cfg.to_str().unwrap(),
        "query",
        "balance",
        st,
        &user_hex,
        "--token",
        &voucher_hex,
    ]));
    assert_eq!(bal[voucher_hex.as_str()], "600", "{bal}");
    assert_eq!(
        net.erc20_balance(l3, token, user).await,
        start_balance - 600
    );

    assert!(
        relayer
            .log_text()
            .contains("the chain is past the local nonce; sending again under its nonce"),
        "no nonce recovery seen:\n{}",
        relayer.log_text()
    );

    // 3. Error acknowledgement: the receiving app cannot parse the receiver; the sender is refunded.
    let bad = net.evm_transfer(
        &cfg,
        l3,
        "50",
        token,
        "not-an-address",
        &["--wait", "--unchecked"],
    );
    assert_eq!(state(&bad), "acknowledged", "{bad}");
    assert_eq!(bad["ok"], false, "{bad}");
    assert_eq!(
        net.erc20_balance(l3, token, user).await,
        start_balance - 600
    );

    // 4. Tampering. With the honest relayer stopped, send a packet that stays pending.
    assert!(relayer.signal(SIGTERM).success());
    let pending = net.evm_transfer(&cfg, l3, "70", token, &user_hex, &[]);
    let seq = pending["sequence"].as_u64().unwrap();
    let upstream = net.evm_node(l3).rpc.clone();
    let bad_proofs = tampering_proxy(
        &upstream,
        Arc::new(|method: &str, result: &mut Value| {
            if method == "eth_getProof" {
                if let Some(node) = result["storageProof"][0]["proof"]
                    .as_array_mut()
                    .and_then(|p| p.last_mut())
                {
                    *node = Value::String(flip_hex(node.as_str().unwrap()));
                }
            }
        }),
    )
    .await;
    let tampered_cfg = net.evm_config("config-evm-tampered.toml", &[(l3, &bad_proofs)]);
    // Through the library: the proof is checked against the verified state root and refused.
    let chain = net.evm_chain(&tampered_cfg, l3);
    let (fin, _) = chain.latest().await.unwrap();
    let port: PortId = "transfer".parse().unwrap();
    let client: ChannelId = CLIENT.parse().unwrap();
    match chain.prove_commitment(&port, &client, seq, fin).await {
        Err(ChainError::EvmVerification { .. }) => {}
        other => panic!("tampered proof not rejected: {other:?}"),
    }
    // The relayer behind the same proxy counts it and submits nothing for 15 s.
    let evil = net.start_relayer_with("relayer-tampered.log", &tampered_cfg);
    assert!(
        evil.wait_log("failed verification", Duration::from_secs(60)),
        "tampered proof not reported:\n{}",
        evil.log_text()
    );
    tokio::time::sleep(Duration::from_secs(15)).await;
    let settlement = net.evm_chain(&cfg, st);
    assert_eq!(
        settlement.unreceived(&port, &client, &[seq]).await.unwrap(),
        vec![seq],
        "a packet proven with a tampered proof was delivered"
    );
    assert!(!evil.log_text().contains("relayed batch to evm-settlement"));
    // ...and counts it, with the reason, on its metrics endpoint.
    let listen = ferry::config::load(&tampered_cfg)
        .unwrap()
        .0
        .telemetry
        .listen;
    let metrics = reqwest::get(format!("http://{listen}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rejected: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("ferry_light_client_verification_failures_total{")
                && l.contains("chain=\"evm-l3\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        rejected >= 1.0,
        "no verification failure counted for evm-l3:\n{metrics}"
    );
    drop(evil);
    // A node that forges a block's state root: the header chain no longer links, so Ferry
    // refuses to attest it.
    let forged = tampering_proxy(
        &upstream,
        Arc::new(|method: &str, result: &mut Value| {
            if method == "eth_getBlockByNumber" {
                if let Some(root) = result.get_mut("stateRoot") {
                    *root = Value::String(flip_hex(root.as_str().unwrap()));
                }
            }
        }),
    )
    .await;
    let forged_cfg = net.evm_config("config-evm-forged.toml", &[(l3, &forged)]);
    let chain = net.evm_chain(&forged_cfg, l3);
    let (fin, _) = net.evm_chain(&cfg, l3).latest().await.unwrap();
    // Ferry verifies the header chain before it asks anyone to attest a block of it.
    match chain.verify_to(fin.revision_height).await {
        Err(ChainError::EvmVerification { .. }) | Err(ChainError::CheckpointMismatch { .. }) => {}
        other => panic!("forged header accepted: {other:?}"),
    }
    // The honest relayer delivers the pending packet.
    let mut relayer = net.start_relayer_with("relayer-evm-2.log", &cfg);
    let hash = pending["tx_hash"].as_str().unwrap().to_string();
    let cfg_s = cfg.to_str().unwrap().to_string();
    let done = eventually(
        "pending packet acknowledged",
        Duration::from_secs(90),
        || {
            let out = net.ferry(&["--json", "--config", &cfg_s, "query", "transfer", l3, &hash]);
            let v = ferry_tests::last_json(&String::from_utf8_lossy(&out.stdout));
            async move { (state(&v) == "acknowledged").then_some(v) }
        },
    )
    .await;
    assert_eq!(done["ok"], true, "{done}");

    // 5. Timeout: sent while the relayer is down with a 5 s timeout, refunded after restart.
    assert!(relayer.signal(SIGTERM).success());
    let before = net.erc20_balance(l3, token, user).await;
    let short = net.evm_transfer(
        &cfg,
        l3,
        "30",
        token,
        &user_hex,
        &["--timeout-seconds", "5"],
    );
    assert_eq!(net.erc20_balance(l3, token, user).await, before - 30);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let _relayer = net.start_relayer_with("relayer-evm-3.log", &cfg);
    let hash = short["tx_hash"].as_str().unwrap().to_string();
    let out = net.ferry_ok(&[
        "--json", "--config", &cfg_s, "query", "transfer", l3, &hash, "--wait",
    ]);
    let v = ferry_tests::last_json(&out);
    assert_eq!(state(&v), "timed_out_refunded", "{v}");
    assert_eq!(net.erc20_balance(l3, token, user).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_after_broadcast_the_evm_tx_is_looked_up_not_resent() {
    use ethers::providers::Middleware;
    let net = TestNet::start("evm-failpoint").await;
    let cfg = net.evm_config("config-evm.toml", &[]);
    let (l3, st) = ("evm-l3", "evm-settlement");
    let token = net.evm_node(l3).token;
    let user_hex = format!("{:?}", net.evm_address("user"));
    let relayer_addr = net.evm_address("relayer");
    let nonce0 = net
        .provider(st)
        .get_transaction_count(relayer_addr, None)
        .await
        .unwrap();
    let sent = net.evm_transfer(&cfg, l3, "10", token, &user_hex, &[]);
    let hash = sent["tx_hash"].as_str().unwrap().to_string();

    // Dies right after broadcasting the receive on evm-settlement (recorded in the store).
    let mut first = net.start_relayer_env(
        "relayer-evm-failpoint.log",
        &cfg,
        &[("FERRY_TEST_FAILPOINT", "after-broadcast")],
    );
    let status = first
        .wait_exit(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("did not stop at the failpoint:\n{}", first.log_text()));
    assert!(!status.success());
    let store = ferry::store::SqliteStore::open(&net.home().join("state.db")).unwrap();
    let recorded = ferry::store::Store::inflight(&store, ferry_tests::evm::PATH, st).unwrap();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    drop(store);

    // Restart: the tx is looked up by its hash (this run never sent it), its packet counted once
    // as relayed, and nothing is sent to evm-settlement again.
    let cfg_s = cfg.to_str().unwrap().to_string();
    let mut second = net.start_relayer_with("relayer-evm-after-failpoint.log", &cfg);
    let out = net.ferry_ok(&[
        "--json", "--config", &cfg_s, "query", "transfer", l3, &hash, "--wait",
    ]);
    let done = ferry_tests::last_json(&out);
    assert_eq!(state(&done), "acknowledged", "{done}");
    assert!(second.log_text().contains("restored an in-flight tx"));
    let nonce1 = net
        .provider(st)
        .get_transaction_count(relayer_addr, None)
        .await
        .unwrap();
    assert_eq!(
        nonce1 - nonce0,
        U256::from(1),
        "one tx on evm-settlement, paid once"
    );
    let listen = ferry::config::load(&cfg).unwrap().0.telemetry.listen;
    let metrics = reqwest::get(format!("http://{listen}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric_sum(
            &metrics,
            "ferry_packets_relayed_total",
            &[("chain", st), ("kind", "recv")]
        ),
        1,
        "{metrics}"
    );
    assert_eq!(
        metric_sum(
            &metrics,
            "ferry_packets_skipped_total",
            &[("chain", st), ("kind", "recv")]
        ),
        0,
        "{metrics}"
    );
    // ... and evm-l3's verified header chain goes on from the anchor the first run stored (its
    // next packet needs an evm-l3 proof).
    let next = net.evm_transfer(&cfg, l3, "1", token, &user_hex, &["--wait"]);
    assert_eq!(state(&next), "acknowledged", "{next}");
    assert!(
        second
            .log_text()
            .contains("resuming the verified header chain from the stored anchor"),
        "{}",
        second.log_text()
    );
    assert!(second.signal(SIGTERM).success(), "{}", second.log_text());

    // 2. A tx that stays stuck after the crash: evm-settlement stops mining, the relayer dies
    //    right after broadcasting; the restarted relayer takes the tx's nonce, calldata and fees
    //    from the node and replaces it with a higher fee, never leaving the nonce behind.
    let mining = |on: u64| {
        let p = net.provider(st);
        async move {
            let _: serde_json::Value = p.request("evm_setIntervalMining", [on]).await.unwrap();
        }
    };
    mining(0).await;
    let stuck_nonce = net
        .provider(st)
        .get_transaction_count(relayer_addr, None)
        .await
        .unwrap();
    let sent = net.evm_transfer(&cfg, l3, "3", token, &user_hex, &[]);
    let hash = sent["tx_hash"].as_str().unwrap().to_string();
    let mut third = net.start_relayer_env(
        "relayer-evm-stuck.log",
        &cfg,
        &[("FERRY_TEST_FAILPOINT", "after-broadcast")],
    );
    third
        .wait_exit(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("did not stop at the failpoint:\n{}", third.log_text()));
    let store = ferry::store::SqliteStore::open(&net.home().join("state.db")).unwrap();
    let recorded = ferry::store::Store::inflight(&store, ferry_tests::evm::PATH, st).unwrap();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    drop(store);
    let original: ethers::types::H256 = recorded[0].hash.parse().unwrap();
    let mut fourth = net.start_relayer_with("relayer-evm-unstuck.log", &cfg);
    // The confirmation budget is 30 s: a replacement goes out after a third of it.
    assert!(
        fourth.wait_log(
            "replaced a stuck transaction with a higher fee",
            Duration::from_secs(60)
        ),
        "{}",
        fourth.log_text()
    );
    mining(1).await;
    let out = net.ferry_ok(&[
        "--json", "--config", &cfg_s, "query", "transfer", l3, &hash, "--wait",
    ]);
    assert_eq!(
        state(&ferry_tests::last_json(&out)),
        "acknowledged",
        "{out}"
    );
    let p = net.provider(st);
    assert!(
        p.get_transaction_receipt(original).await.unwrap().is_none(),
        "the stuck original was mined, not its replacement"
    );
    let nonce_after = p.get_transaction_count(relayer_addr, None).await.unwrap();
    assert!(
        nonce_after > stuck_nonce,
        "the stuck nonce {stuck_nonce} was left behind"
    );
    assert!(fourth.signal(SIGTERM).success(), "{}", fourth.log_text());
}
