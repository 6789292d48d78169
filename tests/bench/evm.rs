//! End-to-end EVM benchmark: N ICS-20 transfers (`FERRY_BENCH_N`, default 1,000) of the test ERC-20
//! from `evm-l3` to `evm-settlement` on the devnet's anvil chains (1 s blocks), relayed by the
//! release `ferry` binary over `l3-settlement-evm`. All sends go into the L3 mempool at once
//! (consecutive nonces); the run ends when no packet commitment is left on the L3 (every packet
//! received and its ack processed). Writes the figures as JSON (first argument; default
//! bench-results/evm-<N>.json). Run with `make bench-evm`.
//!
//! Latencies come from block timestamps (the send's block on the L3, the receive's block on the
//! settlement chain, the ack's block on the L3), in seconds and in destination blocks; txs and gas
//! (the relayer's, both directions, client updates included) from the relayer's own /metrics; peak
//! RSS and CPU seconds from /proc.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ethers::contract::{EthEvent, EthLogDecode};
use ethers::middleware::SignerMiddleware;
use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::Signer;
use ethers::types::{Address, Filter, U256};
use ferry::chain::evm::abi::ferry_router::{AckPacketFilter, RecvPacketFilter, SendPacketFilter};
use ferry::chain::evm::abi::{Erc20, FerryRouter, Ics20Transfer};
use ferry_tests::bench::{cpu_seconds, metric_sum, peak_rss_kib, percentile, write_result};
use ferry_tests::evm::CLIENT;
use ferry_tests::{TestNet, SIGTERM};

/// Transfers when `FERRY_BENCH_N` is not set.
const DEFAULT_N: u64 = 1000;

/// (sequence → block number) of router events `E` on one chain.
async fn seq_blocks<E: EthEvent + EthLogDecode>(
    p: &Provider<Http>,
    router: Address,
    seq: impl Fn(&E) -> u64,
) -> BTreeMap<u64, u64> {
    let logs = p
        .get_logs(
            &Filter::new()
                .address(router)
                .topic0(E::signature())
                .from_block(0u64),
        )
        .await
        .unwrap();
    logs.iter()
        .map(|l| {
            let e = <E as EthLogDecode>::decode_log(&ethers::abi::RawLog::from(l.clone())).unwrap();
            (seq(&e), l.block_number.unwrap().as_u64())
        })
        .collect()
}

async fn block_time(p: &Provider<Http>, n: u64) -> u64 {
    p.get_block(n).await.unwrap().unwrap().timestamp.as_u64()
}

/// Timestamps of blocks `from..=to`.
async fn block_times(p: &Provider<Http>, from: u64, to: u64) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for n in from..=to {
        out.insert(n, block_time(p, n).await);
    }
    out
}

/// p50 / p99 / min / max of `v` (sorted here).
fn spread(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    serde_json::json!({
        "p50": percentile(&v, 0.5),
        "p99": percentile(&v, 0.99),
        "min": v[0],
        "max": v[v.len() - 1],
    })
}

#[tokio::main]
async fn main() {
    let n_env = std::env::var("FERRY_BENCH_N").ok();
    let n: u64 = n_env.as_deref().map_or(DEFAULT_N, |v| {
        v.parse().expect("FERRY_BENCH_N is a number of transfers")
    });
    let out_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("bench-results/evm-{n}.json"));
    let net = TestNet::start("evm-bench").await;
    let cfg = net.evm_config("config-evm.toml", &[]);
    let relayer = net.start_relayer_with("relayer-evm.log", &cfg);
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(60)),
        "{}",
        relayer.log_text()
    );
    let listen = ferry::config::load(&cfg).unwrap().0.telemetry.listen;
    let url = format!("http://{listen}/metrics");
    let before = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let (l3n, stn) = (
        net.evm_node("evm-l3").clone(),
        net.evm_node("evm-settlement").clone(),
    );
    let (l3, st) = (net.provider("evm-l3"), net.provider("evm-settlement"));
    let user = ferry::keys::evm_wallet(&ferry_devnet::mnemonic("user"), l3n.evm_chain_id).unwrap();
    let me = user.address();
    let client = Arc::new(SignerMiddleware::new(l3.as_ref().clone(), user));
    Erc20::new(l3n.token, client.clone())
        .approve(l3n.transfer, U256::from(n))
        .send()
        .await
        .unwrap()
        .await
        .unwrap();

    eprintln!("sending {n} transfers");
    let nonce = l3.get_transaction_count(me, None).await.unwrap();
    let timeout = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let app = Ics20Transfer::new(l3n.transfer, client.clone());
    let router = FerryRouter::new(l3n.router, l3.clone());
    let first = router
        .next_sequence_send(CLIENT.into())
        .call()
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut pending = Vec::new();
    for i in 0..n {
        let call = app
            .send_transfer(
                l3n.token,
                U256::one(),
                format!("{me:?}"),
                CLIENT.into(),
                timeout,
                String::new(),
            )
            .nonce(nonce + i)
            .gas(400_000u64);
        pending.push(call.send().await.unwrap().tx_hash());
    }
    let sent_in = t0.elapsed();
    // Done when all were sent and the L3 holds no commitment for any of them (all acknowledged).
    let seqs: Vec<u64> = (first..first + n).collect();
    loop {
        let open = router
            .pending_commitments(CLIENT.into(), seqs.clone())
            .call()
            .await
            .unwrap();
        if open.is_empty()
            && router
                .next_sequence_send(CLIENT.into())
                .call()
                .await
                .unwrap()
                == first + n
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "{} still pending",
            open.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_acked = t0.elapsed();
    // Ferry counts a tx once it is `confirmations` deep: let its metrics catch up with the chain.
    let mut after;
    let waited = Instant::now();
    loop {
        after = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let relayed = metric_sum(&after, "ferry_packets_relayed_total")
            - metric_sum(&before, "ferry_packets_relayed_total");
        if relayed >= 2.0 * n as f64 || waited.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let rss = peak_rss_kib(relayer.pid());
    let cpu = cpu_seconds(relayer.pid());

    let sends = seq_blocks::<SendPacketFilter>(&l3, l3n.router, |e| e.sequence).await;
    let recvs = seq_blocks::<RecvPacketFilter>(&st, stn.router, |e| e.sequence).await;
    let acks = seq_blocks::<AckPacketFilter>(&l3, l3n.router, |e| e.sequence).await;
    let mut times = BTreeMap::new();
    let mut lat = Vec::new();
    let mut ack_lat = Vec::new();
    for s in &seqs {
        let (sb, rb, ab) = (sends[s], recvs[s], acks[s]);
        for (chain, p, b) in [(0, &l3, sb), (1, &st, rb), (0, &l3, ab)] {
            if let Entry::Vacant(e) = times.entry((chain, b)) {
                e.insert(block_time(p, b).await);
            }
        }
        lat.push((times[&(1, rb)] as f64) - (times[&(0, sb)] as f64));
        ack_lat.push((times[&(0, ab)] as f64) - (times[&(0, sb)] as f64));
    }
    // In destination blocks: settlement blocks later than the send block's time, up to the
    // receive block (anvil timestamps are whole seconds).
    let (r_lo, r_hi) = (
        *recvs.values().min().unwrap(),
        *recvs.values().max().unwrap(),
    );
    let st_times = block_times(&st, r_lo.saturating_sub(30), r_hi).await;
    let lat_blocks: Vec<f64> = seqs
        .iter()
        .map(|s| {
            let (sent_at, rb) = (times[&(0, sends[s])], recvs[s]);
            st_times
                .iter()
                .filter(|(b, t)| **b <= rb && **t > sent_at)
                .count() as f64
        })
        .collect();
    let send_blocks: std::collections::BTreeSet<u64> = seqs.iter().map(|s| sends[s]).collect();
    let recv_blocks: std::collections::BTreeSet<u64> = seqs.iter().map(|s| recvs[s]).collect();
    // How full the receive blocks were: the destination's block gas limit bounds a burst.
    let mut fill = Vec::new();
    for b in &recv_blocks {
        let blk = st.get_block(*b).await.unwrap().unwrap();
        let packets = seqs.iter().filter(|s| recvs[*s] == *b).count();
        fill.push(serde_json::json!({
            "block": b,
            "packets_received": packets,
            "gas_used": blk.gas_used.as_u64(),
            "gas_limit": blk.gas_limit.as_u64(),
        }));
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let delta = |name: &str| metric_sum(&after, name) - metric_sum(&before, name);
    let chain_sum = |text: &str, name: &str, chain: &str| -> f64 {
        let label = format!("chain=\"{chain}\"");
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let chain_delta =
        |name: &str, chain: &str| chain_sum(&after, name, chain) - chain_sum(&before, name, chain);
    let (txs, gas) = (
        delta("ferry_txs_confirmed_total"),
        delta("ferry_gas_used_total"),
    );
    let result = serde_json::json!({
        "transfers": n,
        "send_seconds": sent_in.as_secs_f64(),
        "seconds_until_all_acknowledged": all_acked.as_secs_f64(),
        "packets_per_second": n as f64 / all_acked.as_secs_f64(),
        "send_to_recv_latency_seconds": spread(lat.clone()),
        "send_to_recv_latency_destination_blocks": spread(lat_blocks),
        "send_to_ack_latency_seconds": spread(ack_lat),
        "send_blocks_on_l3": send_blocks.len(),
        "receive_blocks_on_settlement": recv_blocks.len(),
        "receive_blocks": fill,
        "block_seconds": 1,
        "confirmations": 1,
        "relayer_txs": txs,
        "relayer_txs_per_packet": txs / n as f64,
        "relayer_gas": gas,
        "relayer_gas_by_chain": {
            "evm-l3": chain_delta("ferry_gas_used_total", "evm-l3"),
            "evm-settlement": chain_delta("ferry_gas_used_total", "evm-settlement"),
        },
        "relayer_gas_per_packet_recv_and_ack": gas / n as f64,
        "relayed_messages": delta("ferry_packets_relayed_total"),
        "rpc_requests_per_packet": delta("ferry_rpc_requests_total") / n as f64,
        "relayer_peak_rss_mib": rss as f64 / 1024.0,
        "relayer_cpu_seconds": cpu,
        "commit": ferry_tests::bench::git_commit(),
        "working_tree_changes_at_run": ferry_tests::bench::git_changes(),
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
    });
    write_result(&out_path, &result);
    let mut relayer = relayer;
    relayer.signal(SIGTERM);
}
