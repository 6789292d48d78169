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
use ferry::devnet::evm::{V2_COSMOS_CLIENT, V2_EVM_CLIENT};
use ferry::devnet::{V2_CHAIN_ID, V2_PATH};
use ferry_tests::bench::{metric_sum, peak_rss_kib, percentile, write_result};
use ferry_tests::{last_json, search_txs, Relayer, TestNet, SIGTERM};
use serde_json::{json, Value};
use tendermint_rpc::query::Query;

const EVM: &str = "evm-settlement";
const DEFAULT_N: u64 = 500;

/// The devnet config with only the cosmos–evm path and its own metrics port (as
/// tests/cosmos_evm_path.rs).
fn v2_config(net: &TestNet) -> PathBuf {
    let text = std::fs::read_to_string(net.home().join("config.toml")).unwrap();
    let mut v: toml::Value = toml::from_str(&text).unwrap();
    let t = v.as_table_mut().unwrap();
    t["chains"]
        .as_array_mut()
        .unwrap()
        .retain(|c| matches!(c["id"].as_str(), Some(V2_CHAIN_ID | EVM)));
    t["paths"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["name"].as_str() == Some(V2_PATH));
    let port = ferry::devnet::free_port();
    t["telemetry"]["listen"] = toml::Value::String(format!("127.0.0.1:{port}"));
    let path = net.home().join("config-v2.toml");
    std::fs::write(&path, toml::to_string(&v).unwrap()).unwrap();
    path
}

/// Sum of the series of `name` whose labels contain every one of `labels` (`chain="x"`).
fn metric_where(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b'{'))
        .filter(|l| labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// The relayer's figures for one chain between two scrapes.
fn chain_metrics(before: &str, after: &str, chain: &str) -> Value {
    let lab = format!("chain=\"{chain}\"");
    let d = |name: &str, extra: &[&str]| {
        let mut labels = vec![lab.as_str()];
        labels.extend_from_slice(extra);
        metric_where(after, name, &labels) - metric_where(before, name, &labels)
    };
    json!({
        "txs_confirmed": d("ferry_txs_confirmed_total", &[]),
        "txs_failed": d("ferry_txs_failed_total", &[]),
        "gas_used": d("ferry_gas_used_total", &[]),
        "packet_messages_relayed": d("ferry_packets_relayed_total", &[]),
        "client_updates_submitted": d("ferry_client_updates_submitted_total", &[]),
        "client_updates_skipped": d("ferry_client_updates_skipped_total", &[]),
        // Signatures collected for updates of the client OF this chain (label = attested chain).
        "attestor_signatures_accepted_for_this_chains_state": d("ferry_attestation_signatures_total", &["outcome=\"accepted\""]),
        "attestor_signatures_all_outcomes_for_this_chains_state": d("ferry_attestation_signatures_total", &[]),
        "rpc_requests": d("ferry_rpc_requests_total", &[]),
    })
}

fn stats(sorted: &[f64]) -> Value {
    if sorted.is_empty() {
        return Value::Null;
    }
    json!({
        "p50": percentile(sorted, 0.5),
        "p99": percentile(sorted, 0.99),
        "max": sorted[sorted.len() - 1],
        "min": sorted[0],
        "count": sorted.len(),
    })
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// Header times (ns) of `heights` on the appchain.
async fn cosmos_times(
    chain: &CosmosChain,
    heights: impl Iterator<Item = u64>,
) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for h in heights {
        if let std::collections::btree_map::Entry::Vacant(e) = out.entry(h) {
            e.insert(chain.block_time(h).await.unwrap());
        }
    }
    out
}

/// Block timestamps (as ns) of `heights` on anvil.
async fn evm_times(p: &Provider<Http>, heights: impl Iterator<Item = u64>) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for h in heights {
        if let std::collections::btree_map::Entry::Vacant(e) = out.entry(h) {
            let b = p.get_block(h).await.unwrap().unwrap();
            e.insert(b.timestamp.as_u64() * 1_000_000_000);
        }
    }
    out
}

/// (sequence → block) of router events `E` whose first indexed topic is `client`.
async fn evm_seq_blocks<E: EthEvent + EthLogDecode>(
    p: &Provider<Http>,
    router: Address,
    client: &str,
    from: u64,
    seq: impl Fn(&E) -> u64,
) -> BTreeMap<u64, u64> {
    let logs = p
        .get_logs(
            &Filter::new()
                .address(router)
                .topic0(E::signature())
                .topic1(H256::from(keccak256(client.as_bytes())))
                .from_block(from),
        )
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for l in logs {
        let e = <E as EthLogDecode>::decode_log(&RawLog::from(l.clone())).unwrap();
        out.entry(seq(&e))
            .or_insert(l.block_number.unwrap().as_u64());
    }
    out
}

/// (sequence → height) of v2 events `kind` on the appchain whose `key` is `client`, and the
/// txs carrying them: (height, gas_used, packets; ibc-go v11 emits `recv_packet` twice per packet).
async fn cosmos_seq_heights(
    chain: &CosmosChain,
    kind: &str,
    key: &str,
    client: &str,
    from_height: u64,
) -> (BTreeMap<u64, u64>, Vec<(u64, u64, u64)>) {
    let q = Query::eq(format!("{kind}.{key}"), client).and_gte("tx.height", from_height);
    let mut out = BTreeMap::new();
    let mut txs = Vec::new();
    for tx in search_txs(chain, q).await {
        let h = tx.height.value();
        let mut seen = std::collections::BTreeSet::new();
        if txs.is_empty() {
            let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
            for e in &tx.tx_result.events {
                *kinds.entry(e.kind.clone()).or_default() += 1;
            }
            eprintln!("  first tx with {kind}: events {kinds:?}");
        }
        for (k, attrs) in ferry::chain::cosmos::flatten_events(&tx.tx_result.events) {
            if k != kind || !attrs.iter().any(|(a, v)| a == key && v == client) {
                continue;
            }
            let seq = attrs
                .iter()
                .find(|(a, _)| a == "packet_sequence")
                .and_then(|(_, s)| s.parse::<u64>().ok());
            if let Some(s) = seq {
                seen.insert(s);
                out.entry(s).or_insert(h);
            }
        }
        // (ibc-go v11 emits recv_packet twice per packet in a tx: counted once.)
        if !seen.is_empty() {
            txs.push((h, tx.tx_result.gas_used as u64, seen.len() as u64));
        }
    }
    (out, txs)
}

/// Latencies of each packet: (send time ns, receive height) with the destination's block times
/// over the range. Returns (seconds, blocks counted, destination block interval).
fn latencies(pairs: &[(u64, u64)], dst_times: &BTreeMap<u64, u64>) -> (Vec<f64>, Vec<f64>, f64) {
    let mut secs = Vec::new();
    let mut blocks = Vec::new();
    for &(send_ns, rh) in pairs {
        let recv_ns = dst_times[&rh];
        secs.push((recv_ns as f64 - send_ns as f64) / 1e9);
        // Destination blocks after the send block's time, up to and including the receive block.
        blocks.push(dst_times.range(..=rh).filter(|(_, &t)| t > send_ns).count() as f64);
    }
    let (first, last) = (
        dst_times.iter().next().unwrap(),
        dst_times.iter().next_back().unwrap(),
    );
    let interval = if last.0 > first.0 {
        (*last.1 as f64 - *first.1 as f64) / 1e9 / (last.0 - first.0) as f64
    } else {
        1.0
    };
    (sorted(secs), sorted(blocks), interval)
}

fn latency_json(secs: &[f64], blocks: &[f64], interval: f64) -> Value {
    json!({
        "send_to_recv_latency_seconds": stats(secs),
        "destination_block_seconds": interval,
        "send_to_recv_latency_destination_blocks_counted": stats(blocks),
        "send_to_recv_latency_blocks_by_interval": if secs.is_empty() { Value::Null } else {
            json!({ "p50": percentile(secs, 0.5) / interval, "p99": percentile(secs, 0.99) / interval })
        },
    })
}

/// Gas of the relayer's router txs on anvil in blocks [from, to]: per kind of delivery, with the
/// client update's share (its callTracer frame plus its calldata) split out.
async fn evm_relayer_gas(p: &Provider<Http>, router: Address, from: u64, to: u64) -> Value {
    let (mut recv_n, mut recv_gas, mut recv_update_gas, mut recv_txs) = (0u64, 0u64, 0u64, 0u64);
    let (mut ack_n, mut ack_gas, mut ack_update_gas, mut ack_txs) = (0u64, 0u64, 0u64, 0u64);
    let (mut recv_frames_gas, mut recv_calldata_gas) = (0u64, 0u64);
    let mut full_recv_per_packet = Vec::new();
    let (mut other_txs, mut other_gas, mut mixed_txs) = (0u64, 0u64, 0u64);
    let mut per_tx = Vec::new();
    let mut trace_error = Value::Null;
    for b in from..=to {
        let Some(block) = p.get_block_with_txs(b).await.unwrap() else {
            continue;
        };
        for tx in block.transactions {
            if tx.to != Some(router) {
                continue;
            }
            let Ok(call) = FerryRouterCalls::decode(tx.input.as_ref()) else {
                continue;
            };
            let inner: Vec<Vec<u8>> = match call {
                FerryRouterCalls::Multicall(m) => m.calls.into_iter().map(|c| c.to_vec()).collect(),
                _ => vec![tx.input.to_vec()],
            };
            let kinds: Vec<&str> = inner
                .iter()
                .map(|c| match FerryRouterCalls::decode(c) {
                    Ok(FerryRouterCalls::RecvPacket(_)) => "recv",
                    Ok(FerryRouterCalls::AckPacket(_)) => "ack",
                    Ok(FerryRouterCalls::UpdateClient(_)) => "update",
                    Ok(FerryRouterCalls::TimeoutPacket(_)) => "timeout",
                    _ => "other",
                })
                .collect();
            let Some(receipt) = p.get_transaction_receipt(tx.hash).await.unwrap() else {
                continue;
            };
            if receipt.status != Some(1u64.into()) {
                other_txs += 1;
                continue;
            }
            let gas = receipt.gas_used.unwrap_or_default().as_u64();
            // Each call's execution (its delegatecall frame in a multicall) and its calldata.
            let mut update_gas = 0u64;
            let (mut recv_exec, mut recv_data) = (0u64, 0u64);
            let (mut frames_sum, mut n_frames) = (0u64, 0usize);
            let trace: Result<Value, _> = p
                .request(
                    "debug_traceTransaction",
                    (tx.hash, json!({ "tracer": "callTracer" })),
                )
                .await;
            match trace {
                Ok(t) => {
                    let frames: Vec<Value> = if inner.len() > 1 {
                        t["calls"].as_array().cloned().unwrap_or_default()
                    } else {
                        vec![t.clone()]
                    };
                    let hexu = |v: &Value| {
                        v.as_str()
                            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                            .unwrap_or(0)
                    };
                    n_frames = frames.len();
                    frames_sum = frames.iter().map(|f| hexu(&f["gasUsed"])).sum();
                    for (i, k) in kinds.iter().enumerate() {
                        let exec = frames
                            .get(i)
                            .and_then(|f| f["gasUsed"].as_str())
                            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                            .unwrap_or(0);
                        let data: u64 = inner[i].iter().map(|&b| if b == 0 { 4 } else { 16 }).sum();
                        match *k {
                            "update" => update_gas += exec + if inner.len() > 1 { data } else { 0 },
                            "recv" => {
                                recv_exec += exec;
                                recv_data += data;
                            }
                            _ => {}
                        }
                    }
                }
                Err(e) => trace_error = json!(e.to_string()),
            }
            let n_recv = kinds.iter().filter(|k| **k == "recv").count() as u64;
            let n_ack = kinds.iter().filter(|k| **k == "ack").count() as u64;
            per_tx.push(json!({ "block": b, "gas": gas, "recv": n_recv, "ack": n_ack, "update_gas": update_gas,
                "recv_frames_gas": recv_exec, "trace_frames": n_frames,
                "trace_frames_gas_sum": frames_sum }));
            if n_recv >= 10 && n_ack == 0 {
                full_recv_per_packet.push((gas - update_gas) as f64 / n_recv as f64);
            }
            match (n_recv > 0, n_ack > 0) {
                (true, false) => {
                    recv_n += n_recv;
                    recv_gas += gas;
                    recv_update_gas += update_gas;
                    recv_frames_gas += recv_exec;
                    recv_calldata_gas += recv_data;
                    recv_txs += 1;
                }
                (false, true) => {
                    ack_n += n_ack;
                    ack_gas += gas;
                    ack_update_gas += update_gas;
                    ack_txs += 1;
                }
                (true, true) => mixed_txs += 1,
                _ => {
                    other_txs += 1;
                    other_gas += gas;
                }
            }
        }
    }
    let per = |g: u64, n: u64| {
        if n == 0 {
            Value::Null
        } else {
            json!(g as f64 / n as f64)
        }
    };
    json!({
        "recv_txs": recv_txs,
        "recv_packets": recv_n,
        "recv_gas": recv_gas,
        "recv_gas_per_packet_including_client_update": per(recv_gas, recv_n),
        "recv_gas_per_packet_excluding_client_update": per(recv_gas - recv_update_gas, recv_n),
        "recv_client_update_gas": recv_update_gas,
        // Per tx of at least 10 receives: (tx gas - its client update's share) / receives.
        "recv_gas_per_packet_per_tx_of_10_or_more": stats(&sorted(full_recv_per_packet)),
        // The recvPacket calls alone: their execution (callTracer frames, no tx overhead) and their
        // calldata (16/4 gas per byte).
        "recv_call_execution_gas_per_packet": per(recv_frames_gas, recv_n),
        "recv_call_calldata_gas_per_packet": per(recv_calldata_gas, recv_n),
        "ack_txs": ack_txs,
        "ack_packets": ack_n,
        "ack_gas": ack_gas,
        "ack_gas_per_packet_including_client_update": per(ack_gas, ack_n),
        "ack_gas_per_packet_excluding_client_update": per(ack_gas - ack_update_gas, ack_n),
        "other_txs": other_txs,
        "other_gas": other_gas,
        "mixed_recv_ack_txs": mixed_txs,
        "trace_error": trace_error,
        "txs": per_tx,
    })
}

fn cosmos_gas(txs: &[(u64, u64, u64)]) -> Value {
    let gas: u64 = txs.iter().map(|t| t.1).sum();
    let n: u64 = txs.iter().map(|t| t.2).sum();
    json!({
        "txs": txs.len(),
        "packets": n,
        "gas_used": gas,
        "gas_per_packet_including_client_update": if n == 0 { Value::Null } else { json!(gas as f64 / n as f64) },
        "per_tx": txs.iter().map(|t| json!({"height": t.0, "gas_used": t.1, "packets": t.2})).collect::<Vec<_>>(),
    })
}

/// Wait for the relayer's counters to include `2 * n` more relayed messages than `before`.
async fn settle_metrics(url: &str, before: &str, n: u64) -> String {
    let waited = Instant::now();
    loop {
        let after = scrape(url).await;
        let relayed = metric_sum(&after, "ferry_packets_relayed_total")
            - metric_sum(before, "ferry_packets_relayed_total");
        if relayed >= 2.0 * n as f64 || waited.elapsed() > Duration::from_secs(30) {
            return after;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn log_problems(relayer: &Relayer) -> Value {
    let text = relayer.log_text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN") || l.contains("panicked"))
        .collect();
    json!({ "warn_or_error_lines": lines.len(), "first": lines.iter().take(10).collect::<Vec<_>>() })
}

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
    let user = ferry::keys::evm_wallet(&ferry::devnet::mnemonic("user"), stn.evm_chain_id).unwrap();
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

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Files changed in the working tree at run time (what the release binary was built from, besides
/// the commit).
fn git_changes() -> Vec<String> {
    std::process::Command::new("git")
        .args(["status", "--short", "--untracked-files=no"])
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
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
    let commit = git_commit();
    let changes = git_changes();
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
