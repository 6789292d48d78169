//! End-to-end EVM benchmark: N ICS-20 transfers of the test ERC-20 from `evm-l3` to `evm-settlement`
//! on the devnet's anvil chains (1 s blocks), relayed by the release `ferry` binary over
//! `l3-settlement-evm`. All sends go into the L3 mempool at once (consecutive nonces); the run ends
//! when no packet commitment is left on the L3 (every packet received and its ack processed).
//! Writes the figures as JSON (first argument; default bench-results/evm-200.json). Run with
//! `make bench-evm`.
//!
//! Latencies come from block timestamps (the send's block on the L3, the receive's block on the
//! settlement chain); txs and gas (the relayer's, both directions, client updates included) from the
//! relayer's own /metrics.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ethers::contract::{EthEvent, EthLogDecode};
use ethers::middleware::SignerMiddleware;
use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::Signer;
use ethers::types::{Address, Filter, U256};
use ferry::chain::evm::abi::ferry_router::{RecvPacketFilter, SendPacketFilter};
use ferry::chain::evm::abi::{Erc20, FerryRouter, Ics20Transfer};
use ferry_tests::bench::{metric_sum, peak_rss_kib, percentile, write_result};
use ferry_tests::evm::CLIENT;
use ferry_tests::{TestNet, SIGTERM};

const N: u64 = 200;

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

#[tokio::main]
async fn main() {
    let out_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("bench-results/evm-{N}.json"));
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
        .approve(l3n.transfer, U256::from(N))
        .send()
        .await
        .unwrap()
        .await
        .unwrap();

    eprintln!("sending {N} transfers");
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
    for i in 0..N {
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
    let seqs: Vec<u64> = (first..first + N).collect();
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
                == first + N
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
        if relayed >= 2.0 * N as f64 || waited.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let rss = peak_rss_kib(relayer.pid());

    let sends = seq_blocks::<SendPacketFilter>(&l3, l3n.router, |e| e.sequence).await;
    let recvs = seq_blocks::<RecvPacketFilter>(&st, stn.router, |e| e.sequence).await;
    let mut times = BTreeMap::new();
    let mut lat = Vec::new();
    for s in &seqs {
        let (sb, rb) = (sends[s], recvs[s]);
        if let Entry::Vacant(e) = times.entry((0, sb)) {
            e.insert(block_time(&l3, sb).await);
        }
        if let Entry::Vacant(e) = times.entry((1, rb)) {
            e.insert(block_time(&st, rb).await);
        }
        lat.push((times[&(1, rb)] as f64) - (times[&(0, sb)] as f64));
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let delta = |name: &str| metric_sum(&after, name) - metric_sum(&before, name);
    let (txs, gas) = (
        delta("ferry_txs_confirmed_total"),
        delta("ferry_gas_used_total"),
    );
    let result = serde_json::json!({
        "transfers": N,
        "send_seconds": sent_in.as_secs_f64(),
        "seconds_until_all_acknowledged": all_acked.as_secs_f64(),
        "packets_per_second": N as f64 / all_acked.as_secs_f64(),
        "send_to_recv_latency_seconds": { "p50": percentile(&lat, 0.5), "p99": percentile(&lat, 0.99), "max": lat[lat.len() - 1] },
        "block_seconds": 1,
        "confirmations": 1,
        "relayer_txs": txs,
        "relayer_txs_per_packet": txs / N as f64,
        "relayer_gas": gas,
        "relayer_gas_per_packet_recv_and_ack": gas / N as f64,
        "relayed_messages": delta("ferry_packets_relayed_total"),
        "rpc_requests_per_packet": delta("ferry_rpc_requests_total") / N as f64,
        "relayer_peak_rss_mib": rss as f64 / 1024.0,
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
    });
    write_result(&out_path, &result);
    let mut relayer = relayer;
    relayer.signal(SIGTERM);
}
