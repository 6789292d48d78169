//! IBC v2 benchmark on the cosmos–evm path `v2-settlement-evm`: the devnet's IBC v2 appchain
//! `v2-appchain-1` (real ibc-go v11.2.0 simd, 1 s blocks) and the anvil chain `evm-settlement`
//! (1 s blocks), each hosting an ibc-go `attestations` client of the other, fed by the two attestor
//! committees (`ferry attestor` processes). Relayed by the release `ferry start` on a config with
//! only that path.
//!
//! N transfers each way (default 500; second argument or `FERRY_BENCH_N`), one direction after
//! the other:
//! 1. Cosmos → EVM: `ferry transfer --count N` of 1stake (N `MsgTransfer` in txs of
//!    `max_msgs_per_tx` = 50, all txs in the mempool at once); done when the appchain holds no
//!    v2 packet commitment (every packet received on EVM and its ack processed on the appchain);
//! 2. EVM → Cosmos: N `sendTransfer` of 1 test ERC-20 in the anvil mempool at once (consecutive
//!    nonces); done when the router holds no commitment for any of them.
//!
//! Latencies: header time of the send block on the source, of the receive block on the destination
//! (anvil timestamps have 1 s resolution). Relayer txs, gas, client updates and attestor signatures:
//! the relayer's /metrics, per direction and chain. Gas per received packet: the relayer's receipts
//! on `evm-settlement` (client update's share from a callTracer trace) and its txs on the appchain
//! (tx_search on the v2 `recv_packet` / `acknowledge_packet` events). Peak RSS: the relayer's VmHWM.
//!
//! Writes JSON to the first argument (default bench-results/v2-500.json). Run: `make bench-v2`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ethers::abi::{AbiDecode, RawLog};
use ethers::contract::{EthEvent, EthLogDecode};
use ethers::middleware::SignerMiddleware;
use ethers::providers::{Http, Middleware, Provider};
use ethers::signers::Signer;
use ethers::types::{Address, Filter, H256, U256};
use ethers::utils::keccak256;
use ferry::chain::cosmos::CosmosChain;
use ferry::chain::evm::abi::ferry_router::{
    AckPacketFilter, FerryRouterCalls, RecvPacketFilter, SendPacketFilter,
};
use ferry::chain::evm::abi::{Erc20, FerryRouter, Ics20Transfer};
use ferry::chain::{Heights, PacketQueries};
use ferry_devnet::evm::{V2_COSMOS_CLIENT, V2_EVM_CLIENT};
use ferry_devnet::{V2_CHAIN_ID, V2_PATH};
use ferry_tests::bench::{metric_sum, peak_rss_kib, percentile, write_result};
use ferry_tests::{last_json, search_txs, Relayer, TestNet, SIGTERM};
use serde_json::{json, Value};
use tendermint_rpc::query::Query;

#[path = "v2/measure.rs"]
mod measure;
use measure::*;

const EVM: &str = "evm-settlement";
const DEFAULT_N: u64 = 500;

struct Ctx {
    net: TestNet,
    cfg: PathBuf,
    url: String,
    n: u64,
    limit: Duration,
}

async fn cosmos_to_evm(c: &Ctx) -> Value {
    let net = &c.net;
    let appchain = net.chain(V2_CHAIN_ID);
    let st = net.provider(EVM);
    let stn = net.evm_node(EVM).clone();
    let cosmos_h0 = appchain.latest().await.unwrap().0.revision_height;
    let evm_b0 = st.get_block_number().await.unwrap().as_u64();
    let before = scrape(&c.url).await;
    let to = format!("{:?}", net.evm_address("user"));
    let cfg = c.cfg.to_str().unwrap();
    let n = c.n.to_string();
    eprintln!("cosmos → evm: sending {} transfers", c.n);
    let t0 = Instant::now();
    let out = last_json(&net.ferry_ok(&[
        "--json",
        "--config",
        cfg,
        "transfer",
        "--path",
        V2_PATH,
        "--key",
        "user",
        "--from-chain",
        V2_CHAIN_ID,
        "--amount",
        "1stake",
        "--to",
        &to,
        "--count",
        &n,
    ]));
    let sent_in = t0.elapsed();
    eprintln!(
        "  sent in {:.1}s ({} txs)",
        sent_in.as_secs_f64(),
        out["tx_hashes"].as_array().map_or(0, |a| a.len())
    );
    let port: ferry::ibc::PortId = "transfer".parse().unwrap();
    let client: ferry::ibc::ChannelId = V2_COSMOS_CLIENT.parse().unwrap();
    let mut left;
    loop {
        left = appchain
            .commitments(&port, &client)
            .await
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if left == 0 || t0.elapsed() > c.limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_acked = t0.elapsed();
    eprintln!(
        "  all acknowledged after {:.1}s ({left} left)",
        all_acked.as_secs_f64()
    );
    let after = settle_metrics(&c.url, &before, c.n).await;
    let evm_b1 = st.get_block_number().await.unwrap().as_u64();

    // Latency: send block on the appchain, RecvPacket block on evm-settlement.
    let (sends, _) = cosmos_seq_heights(
        &appchain,
        "send_packet",
        "packet_source_client",
        V2_COSMOS_CLIENT,
        cosmos_h0,
    )
    .await;
    let recvs =
        evm_seq_blocks::<RecvPacketFilter>(&st, stn.router, V2_EVM_CLIENT, evm_b0, |e| e.sequence)
            .await;
    let send_t = cosmos_times(&appchain, sends.values().copied()).await;
    let (rmin, rmax) = (
        recvs.values().min().copied().unwrap_or(evm_b0),
        recvs.values().max().copied().unwrap_or(evm_b1),
    );
    let dst_t = evm_times(&st, evm_b0.min(rmin)..=rmax).await;
    let pairs: Vec<(u64, u64)> = sends
        .iter()
        .filter_map(|(s, h)| Some((send_t[h], *recvs.get(s)?)))
        .collect();
    let (secs, blocks, interval) = latencies(&pairs, &dst_t);
    let (ack_heights, acks) = cosmos_seq_heights(
        &appchain,
        "acknowledge_packet",
        "packet_source_client",
        V2_COSMOS_CLIENT,
        cosmos_h0,
    )
    .await;
    let evm_gas = evm_relayer_gas(&st, stn.router, evm_b0, evm_b1).await;
    let span = match (sends.values().min(), ack_heights.values().max()) {
        (Some(&a), Some(&b)) => {
            let t = cosmos_times(&appchain, [a, b].into_iter()).await;
            json!({ "first_send_height": a, "last_ack_height": b,
                    "seconds": (t[&b] as f64 - t[&a] as f64) / 1e9,
                    "send_heights": sends.values().collect::<std::collections::BTreeSet<_>>(),
                    "recv_blocks": recvs.values().collect::<std::collections::BTreeSet<_>>(),
                    "ack_heights": ack_heights.values().collect::<std::collections::BTreeSet<_>>() })
        }
        _ => Value::Null,
    };
    let n = c.n as f64;
    json!({
        "transfers": c.n,
        "sends_found": sends.len(),
        "receives_found": recvs.len(),
        "acks_found": ack_heights.len(),
        "chain_time_first_send_to_last_ack": span,
        "commitments_left": left,
        "send_seconds": sent_in.as_secs_f64(),
        "seconds_until_all_acknowledged": all_acked.as_secs_f64(),
        "packets_per_second": n / all_acked.as_secs_f64(),
        "latency": latency_json(&secs, &blocks, interval),
        "relayer_metrics": {
            EVM: chain_metrics(&before, &after, EVM),
            V2_CHAIN_ID: chain_metrics(&before, &after, V2_CHAIN_ID),
        },
        "evm_receipts": evm_gas,
        "cosmos_ack_txs": cosmos_gas(&acks),
        "send_txs": out["tx_hashes"],
    })
}

async fn evm_to_cosmos(c: &Ctx) -> Value {
    let net = &c.net;
    let appchain = net.chain(V2_CHAIN_ID);
    let st = net.provider(EVM);
    let stn = net.evm_node(EVM).clone();
    let cosmos_h0 = appchain.latest().await.unwrap().0.revision_height;
    let evm_b0 = st.get_block_number().await.unwrap().as_u64();
    let before = scrape(&c.url).await;
    let user = ferry::keys::evm_wallet(&ferry_devnet::mnemonic("user"), stn.evm_chain_id).unwrap();
    let me = user.address();
    let signer = Arc::new(SignerMiddleware::new(st.as_ref().clone(), user));
    Erc20::new(stn.token, signer.clone())
        .approve(stn.transfer, U256::from(c.n))
        .send()
        .await
        .unwrap()
        .await
        .unwrap();
    let receiver = net.address("user");
    let timeout = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let app = Ics20Transfer::new(stn.transfer, signer.clone());
    let router = FerryRouter::new(stn.router, st.clone());
    let first = router
        .next_sequence_send(V2_EVM_CLIENT.into())
        .call()
        .await
        .unwrap();
    let call = |nonce: U256| {
        app.send_transfer(
            stn.token,
            U256::one(),
            receiver.clone(),
            V2_EVM_CLIENT.into(),
            timeout,
            String::new(),
        )
        .nonce(nonce)
    };
    let nonce = st.get_transaction_count(me, None).await.unwrap();
    let est = call(nonce).estimate_gas().await.unwrap();
    let gas: U256 = est * 6 / 5;
    let gas_price = st.get_gas_price().await.unwrap() * 2;
    eprintln!(
        "evm → cosmos: sending {} transfers (estimate {est} gas each)",
        c.n
    );
    let t0 = Instant::now();
    for i in 0..c.n {
        call(nonce + i)
            .legacy()
            .gas(gas)
            .gas_price(gas_price)
            .send()
            .await
            .unwrap();
    }
    let sent_in = t0.elapsed();
    eprintln!("  sent in {:.1}s", sent_in.as_secs_f64());
    let seqs: Vec<u64> = (first..first + c.n).collect();
    let mut left;
    let mut last_seen = None;
    loop {
        // Both reads at one block: read at "latest" one after the other, a block mined between
        // them (the sends' block) shows no commitment yet and every sequence sent.
        let at = st.get_block_number().await.unwrap();
        let open = router
            .pending_commitments(V2_EVM_CLIENT.into(), seqs.clone())
            .block(at)
            .call()
            .await
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        let next = router
            .next_sequence_send(V2_EVM_CLIENT.into())
            .block(at)
            .call()
            .await
            .unwrap_or(0);
        left = open.saturating_add((first + c.n).saturating_sub(next) as usize);
        if Some((open, next)) != last_seen {
            eprintln!(
                "  [{:.1}s] evm commitments open {open}, next sequence {next} (first {first})",
                t0.elapsed().as_secs_f64()
            );
            last_seen = Some((open, next));
        }
        if left == 0 || t0.elapsed() > c.limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all_acked = t0.elapsed();
    eprintln!(
        "  all acknowledged after {:.1}s ({left} left)",
        all_acked.as_secs_f64()
    );
    let after = settle_metrics(&c.url, &before, c.n).await;
    let cosmos_h1 = appchain.latest().await.unwrap().0.revision_height;
    let evm_b1 = st.get_block_number().await.unwrap().as_u64();

    // Latency: SendPacket block on evm-settlement, recv_packet tx height on the appchain.
    let sends =
        evm_seq_blocks::<SendPacketFilter>(&st, stn.router, V2_EVM_CLIENT, evm_b0, |e| e.sequence)
            .await;
    let (recvs, recv_txs) = cosmos_seq_heights(
        &appchain,
        "recv_packet",
        "packet_dest_client",
        V2_COSMOS_CLIENT,
        cosmos_h0,
    )
    .await;
    let send_t = evm_times(&st, sends.values().copied()).await;
    let (rmin, rmax) = (
        recvs.values().min().copied().unwrap_or(cosmos_h0),
        recvs.values().max().copied().unwrap_or(cosmos_h1),
    );
    let dst_t = cosmos_times(&appchain, cosmos_h0.min(rmin)..=rmax).await;
    let pairs: Vec<(u64, u64)> = sends
        .iter()
        .filter(|(s, _)| seqs.contains(s))
        .filter_map(|(s, b)| Some((send_t[b], *recvs.get(s)?)))
        .collect();
    let (secs, blocks, interval) = latencies(&pairs, &dst_t);
    let evm_gas = evm_relayer_gas(&st, stn.router, evm_b0, evm_b1).await;
    let acks =
        evm_seq_blocks::<AckPacketFilter>(&st, stn.router, V2_EVM_CLIENT, evm_b0, |e| e.sequence)
            .await;
    let span = match (sends.values().min(), acks.values().max()) {
        (Some(&a), Some(&b)) => {
            let t = evm_times(&st, [a, b].into_iter()).await;
            json!({ "first_send_block": a, "last_ack_block": b,
                    "seconds": (t[&b] as f64 - t[&a] as f64) / 1e9,
                    "send_blocks": sends.values().collect::<std::collections::BTreeSet<_>>(),
                    "recv_heights": recvs.values().collect::<std::collections::BTreeSet<_>>(),
                    "ack_blocks": acks.values().collect::<std::collections::BTreeSet<_>>() })
        }
        _ => Value::Null,
    };
    let n = c.n as f64;
    json!({
        "transfers": c.n,
        "sends_found": sends.len(),
        "receives_found": recvs.len(),
        "acks_found": acks.len(),
        "chain_time_first_send_to_last_ack": span,
        "commitments_left": left,
        "user_send_gas_limit": gas.as_u64(),
        "send_seconds": sent_in.as_secs_f64(),
        "seconds_until_all_acknowledged": all_acked.as_secs_f64(),
        "packets_per_second": n / all_acked.as_secs_f64(),
        "latency": latency_json(&secs, &blocks, interval),
        "relayer_metrics": {
            EVM: chain_metrics(&before, &after, EVM),
            V2_CHAIN_ID: chain_metrics(&before, &after, V2_CHAIN_ID),
        },
        "cosmos_recv_txs": cosmos_gas(&recv_txs),
        "evm_receipts": evm_gas,
    })
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

#[tokio::main]
async fn main() {
    let n: u64 = std::env::args()
        .nth(2)
        .or_else(|| std::env::var("FERRY_BENCH_N").ok())
        .map(|s| s.parse().expect("N: a number"))
        .unwrap_or(DEFAULT_N);
    let out_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("bench-results/v2-{n}.json"));
    let limit = Duration::from_secs(
        std::env::var("FERRY_BENCH_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(600),
    );
    let commit = ferry_tests::bench::git_commit();
    let changes = ferry_tests::bench::git_changes();
    let started = Instant::now();
    let net = TestNet::start_v2("v2-bench").await;
    eprintln!("devnet up in {:.0}s", started.elapsed().as_secs_f64());
    let cfg = v2_config(&net);
    let made = last_json(&net.ferry_ok(&[
        "--json",
        "--config",
        cfg.to_str().unwrap(),
        "create",
        "path",
        V2_PATH,
    ]));
    eprintln!("path: {made}");
    let relayer = net.start_relayer_with("relayer-v2-bench.log", &cfg);
    assert!(
        relayer.wait_log("relaying path", Duration::from_secs(60)),
        "{}",
        relayer.log_text()
    );
    let listen = ferry::config::load(&cfg).unwrap().0.telemetry.listen;
    let url = format!("http://{listen}/metrics");
    let first_scrape = scrape(&url).await;
    let c = Ctx {
        net,
        cfg,
        url,
        n,
        limit,
    };
    let c2e = cosmos_to_evm(&c).await;
    let e2c = evm_to_cosmos(&c).await;
    let last_scrape = scrape(&c.url).await;
    let rss = peak_rss_kib(relayer.pid());

    let recv_evm = num(&c2e["evm_receipts"]["recv_gas_per_packet_excluding_client_update"]);
    let recv_evm_incl = num(&c2e["evm_receipts"]["recv_gas_per_packet_including_client_update"]);
    let p50_c2e = num(&c2e["latency"]["send_to_recv_latency_destination_blocks_counted"]["p50"]);
    let p50_e2c = num(&e2c["latency"]["send_to_recv_latency_destination_blocks_counted"]["p50"]);
    let result = json!({
        "bench": "IBC v2 cosmos–evm path v2-settlement-evm (ibc-go v11.2.0 simd + anvil, attestations clients)",
        "transfers_per_direction": n,
        "order": "sequential: cosmos→evm, then evm→cosmos (one relayer process throughout)",
        "commit": commit,
        "working_tree_changes_at_run": changes,
        "cosmos_to_evm": c2e,
        "evm_to_cosmos": e2c,
        "relayer_totals": {
            EVM: chain_metrics(&first_scrape, &last_scrape, EVM),
            V2_CHAIN_ID: chain_metrics(&first_scrape, &last_scrape, V2_CHAIN_ID),
        },
        "relayer_peak_rss_mib": rss as f64 / 1024.0,
        "relayer_log": log_problems(&relayer),
        "aims": {
            "evm_recv_gas_per_packet_batched_le_150k": {
                "excluding_client_update": recv_evm,
                "including_client_update": recv_evm_incl,
                "met": recv_evm.map(|g| g <= 150_000.0),
            },
            "p50_send_to_recv_le_3_destination_blocks": {
                "cosmos_to_evm": p50_c2e,
                "evm_to_cosmos": p50_e2c,
                "met": match (p50_c2e, p50_e2c) { (Some(a), Some(b)) => json!(a <= 3.0 && b <= 3.0), _ => Value::Null },
            },
        },
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
    });
    write_result(&out_path, &result);
    let mut relayer = relayer;
    relayer.signal(SIGTERM);
}
