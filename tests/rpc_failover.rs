//! RPC failover and WebSocket recovery against a live devnet, with the relayer talking to both chains
//! through TCP proxies (two per chain, as its two `rpc` endpoints) and periodic clearing out of the
//! way (1 h), so that only the event stream can deliver: transfers l3-appchain-1 → settlement-1 are
//! acknowledged normally; after l3-appchain-1's WebSocket is cut (the proxy keeps accepting), after
//! settlement-1's active endpoint dies (its first proxy stops listening); and no packet is relayed
//! twice across all of it. Then l3-appchain-1's node stops serving `block_results` while its
//! WebSocket is down: the blocks the reconnect cannot read are left to clearing, woken at once,
//! and the event stream goes on (before, the session restarted on the unreadable block for ever).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferry_tests::proxy::Proxy;
use ferry_tests::{eventually, metric_sum, wait_no_commitments, Relayer, TestNet, SIGTERM};

const L3: &str = "l3-appchain-1";
const HUB: &str = "settlement-1";
const PATH: &str = "l3-settlement";
const BATCH: usize = 5;
const WS_LOST: &str = "WebSocket lost; reconnecting, gap filled from block_results";
const FAILED_OVER: &str = "failed over to RPC endpoint";
const UNREAD: &str = "block events could not be read; left to clearing";

/// The `host:port` of an `http://host:port` RPC URL.
fn socket_addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("RPC url `{url}` is not http://IP:PORT: {e}"))
}

/// Lines of the relayer's log from byte `from` on that contain every one of `needles`.
fn log_lines(relayer: &Relayer, from: usize, needles: &[&str]) -> Vec<String> {
    let text = relayer.log_text();
    text.get(from..)
        .unwrap_or_default()
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_string)
        .collect()
}

/// Wait until a log line from byte `from` on contains every one of `needles`.
async fn wait_log_line(relayer: &Relayer, from: usize, needles: &[&str], timeout: Duration) {
    let t = Instant::now();
    while log_lines(relayer, from, needles).is_empty() {
        assert!(
            t.elapsed() < timeout,
            "no log line with {needles:?} within {timeout:?}:\n{}",
            relayer.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn metrics(net: &TestNet) -> String {
    reqwest::get(net.metrics_url())
        .await
        .expect("metrics endpoint")
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn websocket_cut_and_dead_endpoint() {
    let net = TestNet::start("rpc-failover").await;
    net.ferry_ok(&["create", "path", PATH]);
    let user = net.address("user");
    let l3 = net.chain(L3);
    let hub = net.chain(HUB);

    // The relayer's config: both chains behind two proxies each, clearing every hour only.
    let mut cfg: toml::Table = std::fs::read_to_string(net.home().join("config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let mut proxies = std::collections::HashMap::new();
    for chain in cfg["chains"].as_array_mut().unwrap() {
        let chain = chain.as_table_mut().unwrap();
        let id = chain["id"].as_str().unwrap().to_string();
        if id != L3 && id != HUB {
            continue;
        }
        let target = socket_addr(chain["rpc"][0].as_str().unwrap());
        let pair = (Proxy::start(target).await, Proxy::start(target).await);
        chain.insert(
            "rpc".into(),
            toml::Value::Array(vec![pair.0.url().into(), pair.1.url().into()]),
        );
        chain.insert("event_source".into(), "websocket".into());
        proxies.insert(id, pair);
    }
    let mut paths = 0;
    for path in cfg["paths"].as_array_mut().unwrap() {
        let path = path.as_table_mut().unwrap();
        if path["name"].as_str() == Some(PATH) {
            path.insert("clear_interval".into(), "1h".into());
            paths += 1;
        }
    }
    assert_eq!(proxies.len(), 2, "both chains in the devnet config");
    assert_eq!(paths, 1, "path {PATH} in the devnet config");
    let (l3_active, l3_standby) = &proxies[L3];
    let (hub_active, hub_standby) = &proxies[HUB];
    let config_path = net.home().join("failover.toml");
    std::fs::write(&config_path, toml::to_string_pretty(&cfg).unwrap()).unwrap();
    net.ferry_ok(&[
        "config",
        "validate",
        "--config",
        config_path.to_str().unwrap(),
    ]);

    let mut relayer = net.start_relayer_with("relayer-failover.log", &config_path);
    wait_log_line(
        &relayer,
        0,
        &["relaying path", &format!("path={PATH} ")],
        Duration::from_secs(60),
    )
    .await;
    let send = || {
        net.transfer(
            L3,
            "1samoleans",
            &user,
            &["--key", "user", "--count", &BATCH.to_string()],
        )
    };

    // 1. Everything up: delivered and acknowledged, from the WebSocket alone: no block is read
    //    again from block_results while every block is announced.
    let block_results = |m: &str| {
        metric_sum(
            m,
            "ferry_rpc_requests_total",
            &[("chain", HUB), ("method", "block_results")],
        )
    };
    let before = block_results(&metrics(&net).await);
    let h0 = ferry::chain::Heights::latest(&*hub)
        .await
        .unwrap()
        .0
        .revision_height;
    let t = Instant::now();
    send();
    wait_no_commitments(&l3, Duration::from_secs(120)).await;
    println!("1. {BATCH} transfers acknowledged in {:?}", t.elapsed());
    let h1 = ferry::chain::Heights::latest(&*hub)
        .await
        .unwrap()
        .0
        .revision_height;
    let read_again = block_results(&metrics(&net).await) - before;
    println!(
        "1. settlement-1: {} blocks, {read_again} read from block_results",
        h1 - h0
    );
    assert!(
        h1 - h0 >= 3 && read_again <= 1,
        "{read_again} block_results reads over {} announced blocks",
        h1 - h0
    );

    // 2. l3-appchain-1's WebSocket (through its active endpoint's proxy) cut, transfers sent at
    //    once: the event stream reconnects and fills the gap.
    let mark = relayer.log_text().len();
    let t = Instant::now();
    l3_active.cut();
    send();
    wait_no_commitments(&l3, Duration::from_secs(60)).await;
    println!(
        "2. WebSocket cut: {BATCH} transfers acknowledged in {:?}",
        t.elapsed()
    );
    wait_log_line(
        &relayer,
        mark,
        &[WS_LOST, &format!("chain={L3}")],
        Duration::from_secs(10),
    )
    .await;

    // 3. settlement-1's active endpoint dies: Ferry moves to the second one.
    assert!(
        log_lines(&relayer, 0, &[FAILED_OVER, &format!("chain={HUB}")]).is_empty(),
        "settlement-1 failed over before its endpoint died:\n{}",
        relayer.log_text()
    );
    let mark = relayer.log_text().len();
    let t = Instant::now();
    hub_active.kill();
    send();
    wait_no_commitments(&l3, Duration::from_secs(60)).await;
    println!(
        "3. endpoint killed: {BATCH} transfers acknowledged in {:?}",
        t.elapsed()
    );
    wait_log_line(
        &relayer,
        mark,
        &[FAILED_OVER, &format!("chain={HUB}"), &hub_standby.url()],
        Duration::from_secs(10),
    )
    .await;

    // 4. Delivered by the event stream, each packet once.
    let total = 3 * BATCH;
    let recv = [("chain", HUB), ("kind", "recv")];
    let ack = [("chain", L3), ("kind", "ack")];
    // The chain drops a commitment as soon as the ack tx commits; Ferry counts the packets once it
    // has looked the tx up. Wait for that, then a little longer for anything sent twice to land.
    eventually(
        "the relayer to count every packet it relayed",
        Duration::from_secs(30),
        || async {
            let m = metrics(&net).await;
            (metric_sum(&m, "ferry_packets_relayed_total", &recv) >= total as u64
                && metric_sum(&m, "ferry_packets_relayed_total", &ack) >= total as u64)
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let m = metrics(&net).await;
    println!(
        "recv relayed {}, skipped {}; ack relayed {}, skipped {}; WebSocket reconnects l3 {} hub {}",
        metric_sum(&m, "ferry_packets_relayed_total", &recv),
        metric_sum(&m, "ferry_packets_skipped_total", &recv),
        metric_sum(&m, "ferry_packets_relayed_total", &ack),
        metric_sum(&m, "ferry_packets_skipped_total", &ack),
        metric_sum(&m, "ferry_websocket_reconnects_total", &[("chain", L3)]),
        metric_sum(&m, "ferry_websocket_reconnects_total", &[("chain", HUB)]),
    );
    assert_eq!(
        metric_sum(&m, "ferry_packets_relayed_total", &recv),
        total as u64,
        "{m}"
    );
    assert_eq!(
        metric_sum(&m, "ferry_packets_relayed_total", &ack),
        total as u64,
        "{m}"
    );
    assert!(
        metric_sum(&m, "ferry_websocket_reconnects_total", &[("chain", L3)]) >= 1,
        "{m}"
    );
    assert_eq!(
        metric_sum(&m, "ferry_worker_restarts_total", &[("path", PATH)]),
        0,
        "{m}"
    );
    assert_eq!(
        ferry_tests::count_msgs(&hub, "/ibc.core.channel.v1.MsgRecvPacket").await,
        total,
        "MsgRecvPacket count on settlement-1"
    );
    assert_eq!(
        ferry_tests::count_msgs(&l3, "/ibc.core.channel.v1.MsgAcknowledgement").await,
        total,
        "MsgAcknowledgement count on l3-appchain-1"
    );
    let voucher = ferry::cli::voucher_denom("transfer/channel-0/samoleans");
    assert_eq!(
        net.balance(HUB, "user", &voucher).await,
        total as u128,
        "vouchers received on settlement-1"
    );
    let cleared = log_lines(
        &relayer,
        0,
        &["clearing found pending packets", &format!("src={L3}")],
    );
    assert!(
        cleared.is_empty(),
        "packets were delivered by clearing, not the event stream: {cleared:?}"
    );

    // 5. l3-appchain-1's endpoints refuse WebSocket upgrades and its WebSocket is cut; a batch is
    //    sent while no subscription runs. Then they serve WebSockets again but no block_results
    //    (as a node does for a block too big to answer within the timeout): the reconnect cannot
    //    read the blocks it missed. They are left to clearing, woken at once (its interval is
    //    1 h), which delivers that batch; a batch sent afterwards comes by the event stream.
    let mark = relayer.log_text().len();
    for p in [l3_active, l3_standby] {
        p.refuse(&["websocket", "block_results"]);
    }
    l3_active.cut();
    l3_standby.cut();
    send();
    // The batch is in a block while the subscription is down.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for p in [l3_active, l3_standby] {
        p.refuse(&["block_results"]);
    }
    wait_no_commitments(&l3, Duration::from_secs(60)).await;
    wait_log_line(
        &relayer,
        mark,
        &[UNREAD, &format!("chain={L3}")],
        Duration::from_secs(5),
    )
    .await;
    let cleared = log_lines(
        &relayer,
        mark,
        &["clearing found pending packets", &format!("src={L3}")],
    );
    assert!(
        !cleared.is_empty(),
        "the batch in the unread blocks was not found by clearing:\n{}",
        relayer.log_text()
    );
    println!("5. unread blocks left to clearing: {}", cleared[0]);
    let mark = relayer.log_text().len();
    send();
    wait_no_commitments(&l3, Duration::from_secs(60)).await;
    let cleared = log_lines(
        &relayer,
        mark,
        &["clearing found pending packets", &format!("src={L3}")],
    );
    assert!(
        cleared.is_empty(),
        "the batch sent after the reconnect came by clearing, not the event stream: {cleared:?}"
    );
    let total = 5 * BATCH;
    eventually(
        "the relayer to count the last two batches",
        Duration::from_secs(30),
        || async {
            let m = metrics(&net).await;
            (metric_sum(&m, "ferry_packets_relayed_total", &ack) >= total as u64).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let m = metrics(&net).await;
    assert!(
        metric_sum(&m, "ferry_event_blocks_unread_total", &[("chain", L3)]) >= 1,
        "{m}"
    );
    for (labels, name) in [(&recv, "recv"), (&ack, "ack")] {
        assert_eq!(
            metric_sum(&m, "ferry_packets_relayed_total", labels),
            total as u64,
            "{name}: {m}"
        );
    }
    assert_eq!(
        ferry_tests::count_msgs(&hub, "/ibc.core.channel.v1.MsgRecvPacket").await,
        total,
        "MsgRecvPacket count on settlement-1 after the unread blocks"
    );

    let status = relayer.signal(SIGTERM);
    assert!(status.success(), "{}", relayer.log_text());
}
