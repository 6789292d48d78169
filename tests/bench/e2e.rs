//! End-to-end benchmark: 1,000 ICS-20 transfers from the L3 to the settlement hub on the devnet, relayed
//! by the release `ferry` binary. Writes the figures as JSON (first argument; default
//! bench-results/e2e-1000.json). Run with `make bench`.
//!
//! Latencies come from the chains (block times of the send and the receive); txs, gas and RPC counts
//! from the relayer's own /metrics; peak RSS from /proc.
//!
//! `FERRY_BENCH_POSTGRES=1`: the relayer keeps its state in a PostgreSQL started for the run
//! (`[store] url`, one instance holding every lane's lease) instead of the embedded file.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferry_tests::bench::{metric_sum, packet_heights, peak_rss_kib, percentile, write_result};
use ferry_tests::{TestNet, SIGTERM};

const N: usize = 1000;

#[tokio::main]
async fn main() {
    let out_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "bench-results/e2e-1000.json".into());
    let net = TestNet::start("bench").await;
    net.ferry_ok(&["create", "path", "l3-settlement"]);
    let pg = std::env::var_os("FERRY_BENCH_POSTGRES")
        .map(|_| ferry_tests::postgres::Postgres::start("bench"));
    let store = match &pg {
        Some(pg) => format!("postgres ({})", pg.url()),
        None if std::env::var("FERRY_STORE__ENABLED").as_deref() == Ok("false") => "none".into(),
        None => "sqlite".into(),
    };
    let url_env = pg.as_ref().map(|p| p.url());
    let envs: Vec<(&str, &str)> = url_env
        .iter()
        .map(|u| ("FERRY_STORE__URL", u.as_str()))
        .collect();
    let relayer = net.start_relayer_env("relayer.log", &net.home().join("config.toml"), &envs);
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(30)),
        "{}",
        relayer.log_text()
    );
    let url = net.metrics_url();
    let before = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let l3 = net.chain("l3-appchain-1");
    let hub = net.chain("settlement-1");
    let user = net.address("user");

    eprintln!("sending {N} transfers");
    let t0 = Instant::now();
    net.transfer(
        "l3-appchain-1",
        "1samoleans",
        &user,
        &["--key", "user", "--count", &N.to_string()],
    );
    let sent_in = t0.elapsed();
    ferry_tests::wait_no_commitments(&l3, Duration::from_secs(600)).await;
    let all_acked = t0.elapsed();
    let after = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let rss = peak_rss_kib(relayer.pid());

    // Latency from block times: send block on the L3, receive block on the hub.
    let sends = packet_heights(&l3, "send_packet", "packet_src_channel", "channel-0", 1).await;
    let recvs = packet_heights(&hub, "recv_packet", "packet_dst_channel", "channel-0", 1).await;
    assert_eq!(sends.len(), N, "sends found");
    assert_eq!(recvs.len(), N, "receives found");
    let mut times: BTreeMap<(bool, u64), u64> = BTreeMap::new();
    for (&s, &h) in &sends {
        if let std::collections::btree_map::Entry::Vacant(e) = times.entry((true, h)) {
            e.insert(l3.block_time(h).await.unwrap());
        }
        let rh = recvs[&s];
        if let std::collections::btree_map::Entry::Vacant(e) = times.entry((false, rh)) {
            e.insert(hub.block_time(rh).await.unwrap());
        }
    }
    let mut lat: Vec<f64> = sends
        .iter()
        .map(|(s, h)| (times[&(false, recvs[s])] as f64 - times[&(true, *h)] as f64) / 1e9)
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // Destination block interval over the run, to express latency in blocks.
    let (h0, h1) = (
        *recvs.values().min().unwrap(),
        *recvs.values().max().unwrap(),
    );
    let (bt0, bt1) = (
        hub.block_time(h0.saturating_sub(20).max(1)).await.unwrap(),
        hub.block_time(h1).await.unwrap(),
    );
    let block_s = (bt1 - bt0) as f64 / 1e9 / (h1 - h0.saturating_sub(20).max(1)) as f64;

    let delta = |name: &str| metric_sum(&after, name) - metric_sum(&before, name);
    let txs = delta("ferry_txs_confirmed_total");
    let gas = delta("ferry_gas_used_total");
    let rpc = delta("ferry_rpc_requests_total");
    let recv_relayed = delta("ferry_packets_relayed_total");
    let result = serde_json::json!({
        "transfers": N,
        "store": store,
        "send_seconds": sent_in.as_secs_f64(),
        "seconds_until_all_acknowledged": all_acked.as_secs_f64(),
        "packets_per_second": N as f64 / all_acked.as_secs_f64(),
        "send_to_recv_latency_seconds": { "p50": percentile(&lat, 0.5), "p99": percentile(&lat, 0.99), "max": lat[lat.len() - 1] },
        "destination_block_seconds": block_s,
        "send_to_recv_latency_blocks": { "p50": percentile(&lat, 0.5) / block_s, "p99": percentile(&lat, 0.99) / block_s },
        "relayer_txs": txs,
        "relayer_txs_per_packet": txs / N as f64,
        "relayer_gas": gas,
        "relayer_gas_per_packet": gas / N as f64,
        "relayed_messages": recv_relayed,
        "rpc_requests": rpc,
        "rpc_requests_per_packet": rpc / N as f64,
        "relayer_peak_rss_mib": rss as f64 / 1024.0,
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
    });
    write_result(&out_path, &result);
    let mut relayer = relayer;
    relayer.signal(SIGTERM);
}
