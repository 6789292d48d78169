//! One hostile packet never stops an EVM lane, and never drains the relayer's wallet.
//!
//! On the devnet's anvil chains, with the relayer down: a `HostileToken` (its `transferFrom` works,
//! its `transfer` always reverts) is sent from evm-l3 to a receiver evm-settlement cannot parse,
//! then ten normal transfers of the test token. When the relayer starts, evm-settlement receives
//! all eleven (the hostile one with an error acknowledgement); back on evm-l3 the hostile packet's
//! `ackPacket` must refund through `transfer`, which reverts, so its acknowledgement can never be
//! processed. The ten must still be acknowledged; the hostile one is held in quarantine — listed
//! at `/v1/quarantine` and by `ferry query packets pending`, counted on `/metrics` — and the
//! relayer pays for at most one reverted transaction for it.
//!
//! Run: `cargo test -p ferry-tests --test evm_quarantine -- --nocapture`

use std::sync::Arc;
use std::time::Duration;

use ethers::contract::ContractFactory;
use ethers::middleware::SignerMiddleware;
use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::Signer;
use ethers::types::{Address, U256};
use ferry_tests::evm::PATH;
use ferry_tests::{eventually, last_json, TestNet, SIGTERM};
use serde_json::Value;

/// Transactions sent by `from` in blocks `first..=last` of `p`, and how many of them reverted.
async fn sent_and_reverted(
    p: &Provider<Http>,
    from: Address,
    first: u64,
    last: u64,
) -> (usize, usize) {
    let (mut sent, mut reverted) = (0, 0);
    for n in first..=last {
        let Some(block) = p.get_block_with_txs(n).await.unwrap() else {
            continue;
        };
        for tx in block.transactions.iter().filter(|t| t.from == from) {
            sent += 1;
            let r = p.get_transaction_receipt(tx.hash).await.unwrap().unwrap();
            if r.status != Some(1u64.into()) {
                reverted += 1;
            }
        }
    }
    (sent, reverted)
}

fn state(v: &Value) -> &str {
    v["state"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_packet_is_quarantined_and_the_others_are_delivered() {
    let art = ferry_devnet::contracts::compiled()
        .expect("compile contracts")
        .remove("HostileToken")
        .expect("HostileToken is embedded");
    let net = TestNet::start("evm-quarantine").await;
    let cfg = net.evm_config("config-evm.toml", &[]);
    let cfg_s = cfg.to_str().unwrap().to_string();
    let (l3, st) = ("evm-l3", "evm-settlement");
    let user = net.evm_address("user");
    let user_hex = format!("{user:?}");
    let relayer_addr = net.evm_address("relayer");
    let token = net.evm_node(l3).token;
    let l3_rpc = net.provider(l3);
    let st_rpc = net.provider(st);

    // The hostile token, deployed by the user on evm-l3 (the whole supply goes to the deployer).
    let wallet = ferry::keys::evm_wallet(
        &ferry_devnet::mnemonic("user"),
        net.evm_node(l3).evm_chain_id,
    )
    .unwrap();
    assert_eq!(wallet.address(), user);
    let client = Arc::new(SignerMiddleware::new(l3_rpc.as_ref().clone(), wallet));
    let hostile = ContractFactory::new(art.abi.clone(), art.bytecode.clone(), client)
        .deploy((
            "Hostile".to_string(),
            "HST".to_string(),
            18u8,
            U256::from(1_000_000u64),
        ))
        .unwrap()
        .send()
        .await
        .unwrap()
        .address();

    // With the relayer down: the hostile packet first, then ten normal ones.
    let bad = net.evm_transfer(&cfg, l3, "100", hostile, "not-an-address", &["--unchecked"]);
    let bad_seq = bad["sequence"].as_u64().expect("sequence");
    let mut good = Vec::new();
    for _ in 0..10 {
        let out = net.evm_transfer(&cfg, l3, "10", token, &user_hex, &[]);
        good.push(out["tx_hash"].as_str().unwrap().to_string());
    }
    let l3_first = l3_rpc.get_block_number().await.unwrap().as_u64() + 1;
    let st_first = st_rpc.get_block_number().await.unwrap().as_u64() + 1;

    let mut relayer = net.start_relayer_with("relayer-quarantine.log", &cfg);
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(60)),
        "relayer did not start:\n{}",
        relayer.log_text()
    );

    // The ten are received and acknowledged although the hostile ack fails every time.
    for hash in &good {
        let done = eventually("transfer acknowledged", Duration::from_secs(180), || {
            let out = net.ferry(&["--json", "--config", &cfg_s, "query", "transfer", l3, hash]);
            let v = last_json(&String::from_utf8_lossy(&out.stdout));
            async move { (state(&v) == "acknowledged").then_some(v) }
        })
        .await;
        assert_eq!(done["ok"], true, "{done}");
    }

    // The hostile packet's ack is listed as quarantined by the running relayer.
    let listen = ferry::config::load(&cfg).unwrap().0.telemetry.listen;
    let entry = eventually("hostile ack quarantined", Duration::from_secs(60), || {
        let url = format!("http://{listen}/v1/quarantine");
        async move {
            let v: Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
            v["quarantined"]
                .as_array()?
                .iter()
                .find(|e| e["sequence"] == bad_seq && e["path"] == PATH)
                .cloned()
        }
    })
    .await;
    assert_eq!(entry["kind"], "ack", "{entry}");
    assert_eq!(entry["chain"], l3, "{entry}");
    assert_eq!(
        entry["packet"],
        format!("{l3}:transfer/attestations-0/{bad_seq}"),
        "{entry}"
    );
    assert!(
        entry["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("revert"),
        "{entry}"
    );
    assert!(
        relayer.log_text().contains("packet quarantined"),
        "{}",
        relayer.log_text()
    );

    // Counted on /metrics.
    let metrics = reqwest::get(format!("http://{listen}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| {
                l.starts_with(prefix)
                    && l.contains(&format!("chain=\"{l3}\""))
                    && l.contains("kind=\"ack\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(value("ferry_packets_quarantined{"), 1.0, "{metrics}");
    assert!(
        value("ferry_packets_quarantined_total{") >= 1.0,
        "{metrics}"
    );

    // `ferry query packets pending` lists it with its quarantine.
    let pending = last_json(&net.ferry_ok(&[
        "--json", "--config", &cfg_s, "query", "packets", "pending", PATH,
    ]));
    let row = pending
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sequence"] == bad_seq && p["source_chain"] == l3)
        .unwrap_or_else(|| panic!("hostile packet not listed: {pending}"))
        .clone();
    assert_eq!(row["quarantine"]["kind"], "ack", "{row}");
    assert_eq!(row["waiting_for"], "awaiting_ack", "{row}");
    // The ten are no longer pending.
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    let human = net.ferry_ok(&["--config", &cfg_s, "query", "packets", "pending", PATH]);
    assert!(human.contains("QUARANTINED (ack)"), "{human}");

    // Retries of the quarantined ack happen in simulation only: give it time to retry, then count
    // the relayer's reverted transactions. At most one for the hostile packet, none elsewhere.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let l3_last = l3_rpc.get_block_number().await.unwrap().as_u64();
    let st_last = st_rpc.get_block_number().await.unwrap().as_u64();
    let (l3_sent, l3_reverted) = sent_and_reverted(&l3_rpc, relayer_addr, l3_first, l3_last).await;
    let (st_sent, st_reverted) = sent_and_reverted(&st_rpc, relayer_addr, st_first, st_last).await;
    eprintln!("relayer txs: {l3} {l3_sent} sent, {l3_reverted} reverted; {st} {st_sent} sent, {st_reverted} reverted");
    assert!(l3_sent >= 1 && st_sent >= 1);
    assert!(
        l3_reverted <= 1,
        "{l3_reverted} reverted relayer txs on {l3}"
    );
    assert_eq!(st_reverted, 0, "reverted relayer txs on {st}");
    assert!(relayer.log_text().contains("relayed batch to evm-l3"));

    // With the relayer stopped, the query says it cannot show the quarantine.
    assert!(relayer.signal(SIGTERM).success());
    let out = net.ferry(&["--config", &cfg_s, "query", "packets", "pending", PATH]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not reachable"), "{text}");
}
