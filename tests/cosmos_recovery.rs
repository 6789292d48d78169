//! Recovery against a live devnet: a transfer with a short timeout sent while the relayer is stopped is
//! timed out and refunded once it starts; a relayer killed with SIGKILL in the middle of relaying a
//! batch, then restarted, goes on from the heights it stored as scanned and delivers every packet
//! exactly once; a relayer that dies right after a
//! broadcast looks that tx up after the restart, never resends it, and counts its packets once; a
//! destination node frozen (SIGSTOP) for 30 s with a batch in its mempool: every packet delivered
//! once, counted once, and no tx failed for it.

use std::time::Duration;

use ferry_tests::{
    eventually, metric_sum, signal_pid, TestNet, SIGCONT, SIGKILL, SIGSTOP, SIGTERM,
};

/// Receives on settlement-1, as metric labels.
const HUB_RECV: &[(&str, &str)] = &[("chain", "settlement-1"), ("kind", "recv")];
use tendermint_rpc::query::Query;

fn state_of(net: &TestNet, chain: &str, hash: &str) -> String {
    let out = net.ferry_ok(&["--json", "query", "transfer", chain, hash]);
    let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    v["state"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_while_stopped_and_sigkill_mid_batch() {
    let net = TestNet::start("recovery").await;
    // Small batches, so one relay round spans several txs and a kill lands between them.
    net.set_max_msgs_per_tx(10);
    net.ferry_ok(&["create", "path", "l3-settlement"]);
    let user = net.address("user");
    let l3 = net.chain("l3-appchain-1");
    let hub = net.chain("settlement-1");
    let before = net.balance("l3-appchain-1", "user", "samoleans").await;

    // 1. Sent with a 3 s timeout while no relayer runs.
    let v = net.transfer(
        "l3-appchain-1",
        "5samoleans",
        &user,
        &["--key", "user", "--timeout-seconds", "3"],
    );
    let timeout_tx = v["tx_hash"].as_str().unwrap().to_string();
    eventually(
        "the packet to time out on settlement-1",
        Duration::from_secs(30),
        || {
            let s = state_of(&net, "l3-appchain-1", &timeout_tx);
            async move { (s == "timed_out").then_some(()) }
        },
    )
    .await;
    assert_eq!(
        net.balance("l3-appchain-1", "user", "samoleans").await,
        before - 5,
        "not refunded before a relayer runs"
    );

    // 2. Sixty transfers waiting, then a relayer killed in the middle of relaying them.
    const N: usize = 60;
    net.transfer(
        "l3-appchain-1",
        "1samoleans",
        &user,
        &["--key", "user", "--count", &N.to_string()],
    );
    let mut first = net.start_relayer("relayer-1.log");
    assert!(
        first.wait_log("relayed batch to settlement-1", Duration::from_secs(60)),
        "no batch relayed:\n{}",
        first.log_text()
    );
    let status = first.signal(SIGKILL);
    assert!(!status.success());
    let port: ferry::ibc::PortId = "transfer".parse().unwrap();
    let chan: ferry::ibc::ChannelId = "channel-0".parse().unwrap();
    let seqs: Vec<u64> = (2..=(N as u64 + 1)).collect();
    let missing_after_kill = ferry::chain::PacketQueries::unreceived(&*hub, &port, &chan, &seqs)
        .await
        .unwrap()
        .len();
    println!(
        "after SIGKILL: {} of {N} packets not yet received",
        missing_after_kill
    );

    // 3. Restart: everything is delivered, acknowledged and the timeout refunded.
    let mut second = net.start_relayer("relayer-2.log");
    // The store kept how far the killed relayer read each chain: the restart reads on from there.
    assert!(
        second.wait_log(
            "resuming the subscription after the last scanned height",
            Duration::from_secs(60)
        ),
        "no resume from the stored scanned height:\n{}",
        second.log_text()
    );
    ferry_tests::wait_no_commitments(&l3, Duration::from_secs(120)).await;
    assert_eq!(
        state_of(&net, "l3-appchain-1", &timeout_tx),
        "timed_out_refunded"
    );
    assert_eq!(
        net.balance("l3-appchain-1", "user", "samoleans").await,
        before - N as u128,
        "the timed-out 5 are refunded, the 60 sent"
    );
    let voucher = ferry::cli::voucher_denom("transfer/channel-0/samoleans");
    assert_eq!(
        net.balance("settlement-1", "user", &voucher).await,
        N as u128
    );

    // Exactly once: no packet message was ever submitted twice, across the kill and restart.
    assert_eq!(
        ferry_tests::count_msgs(&hub, "/ibc.core.channel.v1.MsgRecvPacket").await,
        N,
        "MsgRecvPacket count"
    );
    assert_eq!(
        ferry_tests::count_msgs(&l3, "/ibc.core.channel.v1.MsgAcknowledgement").await,
        N,
        "MsgAcknowledgement count"
    );
    assert_eq!(
        ferry_tests::count_msgs(&l3, "/ibc.core.channel.v1.MsgTimeout").await,
        1,
        "MsgTimeout count"
    );

    let status = second.signal(SIGTERM);
    assert!(status.success(), "{}", second.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_after_broadcast_the_tx_is_looked_up_not_resent() {
    let net = TestNet::start("recovery-inflight").await;
    net.ferry_ok(&["create", "path", "l3-settlement"]);
    let user = net.address("user");
    let (l3, hub) = (net.chain("l3-appchain-1"), net.chain("settlement-1"));
    const N: usize = 5;
    net.transfer(
        "l3-appchain-1",
        "1samoleans",
        &user,
        &["--key", "user", "--count", &N.to_string()],
    );
    // Dies (abort, like SIGKILL) right after the first batch is broadcast and recorded.
    let cfg = net.home().join("config.toml");
    let mut first = net.start_relayer_env(
        "relayer-failpoint.log",
        &cfg,
        &[("FERRY_TEST_FAILPOINT", "after-broadcast")],
    );
    let status = first
        .wait_exit(Duration::from_secs(90))
        .unwrap_or_else(|| panic!("did not stop at the failpoint:\n{}", first.log_text()));
    assert!(!status.success());
    assert!(
        first.log_text().contains("failpoint after-broadcast"),
        "{}",
        first.log_text()
    );
    let store = ferry::store::SqliteStore::open(&net.home().join("state.db")).unwrap();
    let recorded = ferry::store::Store::inflight(&store, "l3-settlement", "settlement-1").unwrap();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].items.len(), N);
    drop(store);

    // Restart: the recorded tx is looked up (it landed meanwhile): its packets are counted once,
    // as relayed, and nothing is resent.
    let mut second = net.start_relayer("relayer-after-failpoint.log");
    assert!(
        second.wait_log("restored an in-flight tx", Duration::from_secs(60)),
        "{}",
        second.log_text()
    );
    ferry_tests::wait_no_commitments(&l3, Duration::from_secs(120)).await;
    assert_eq!(
        ferry_tests::count_msgs(&hub, "/ibc.core.channel.v1.MsgRecvPacket").await,
        N,
        "MsgRecvPacket count"
    );
    let txs = ferry_tests::search_txs(
        &hub,
        Query::eq("message.action", "/ibc.core.channel.v1.MsgRecvPacket"),
    )
    .await;
    assert_eq!(txs.len(), 1, "one recv tx in all, paid once");
    let metrics = ferry_tests::instances::metrics(&net.metrics_url()).await;
    assert_eq!(
        metric_sum(&metrics, "ferry_packets_relayed_total", HUB_RECV),
        N as u64,
        "{metrics}"
    );
    assert_eq!(
        metric_sum(&metrics, "ferry_packets_skipped_total", HUB_RECV),
        0,
        "{metrics}"
    );
    let store = ferry::store::SqliteStore::open(&net.home().join("state.db")).unwrap();
    assert!(
        !store.has(&recorded[0].hash).unwrap(),
        "settled and forgotten"
    );
    assert!(second.signal(SIGTERM).success(), "{}", second.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn destination_frozen_with_a_batch_in_flight() {
    let net = TestNet::start("recovery-frozen").await;
    net.ferry_ok(&["create", "path", "l3-settlement"]);
    let user = net.address("user");
    let (l3, hub) = (net.chain("l3-appchain-1"), net.chain("settlement-1"));
    let mut relayer = net.start_relayer("relayer-frozen.log");
    assert!(relayer.wait_log("relaying path", Duration::from_secs(60)));
    let node = net.state.node("settlement-1").unwrap().clone();
    let mempool = format!("{}/num_unconfirmed_txs", node.rpc.trim_end_matches('/'));
    let http = reqwest::Client::new();

    const N: usize = 50;
    net.transfer(
        "l3-appchain-1",
        "1samoleans",
        &user,
        &["--key", "user", "--count", &N.to_string()],
    );
    // Freeze settlement-1's node as soon as the relayer's batch is in its mempool.
    let t = std::time::Instant::now();
    loop {
        let n = async {
            let v: serde_json::Value = http.get(&mempool).send().await.ok()?.json().await.ok()?;
            v["result"]["n_txs"].as_str()?.parse::<u64>().ok()
        }
        .await
        .unwrap_or(0);
        if n > 0 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no relayer tx reached settlement-1's mempool"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    signal_pid(node.pid, SIGSTOP);
    tokio::time::sleep(Duration::from_secs(30)).await;
    signal_pid(node.pid, SIGCONT);

    ferry_tests::wait_no_commitments(&l3, Duration::from_secs(180)).await;
    // Every packet received exactly once ...
    assert_eq!(
        ferry_tests::count_msgs(&hub, "/ibc.core.channel.v1.MsgRecvPacket").await,
        N,
        "MsgRecvPacket count"
    );
    // ... counted once as relayed, never as skipped, and no tx to settlement-1 failed on chain
    // (a confirmation that took longer than tx_confirm_timeout is looked up again, not failed).
    let metrics = ferry_tests::instances::metrics(&net.metrics_url()).await;
    assert_eq!(
        metric_sum(&metrics, "ferry_packets_relayed_total", HUB_RECV),
        N as u64,
        "{metrics}"
    );
    assert_eq!(
        metric_sum(&metrics, "ferry_packets_skipped_total", HUB_RECV),
        0,
        "{metrics}"
    );
    for kind in ["out_of_gas", "timeout", "sequence_mismatch", "rejected"] {
        assert_eq!(
            metric_sum(
                &metrics,
                "ferry_txs_failed_total",
                &[("chain", "settlement-1"), ("error", kind)]
            ),
            0,
            "{kind}: {metrics}"
        );
    }
    assert!(relayer.signal(SIGTERM).success(), "{}", relayer.log_text());
}
