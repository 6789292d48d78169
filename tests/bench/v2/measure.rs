//! What the v2 bench measures: metrics, block times, latencies, gas per packet.

use super::*;

/// The devnet config with only the cosmos–evm path and its own metrics port (as
/// tests/cosmos_evm_path.rs).
pub(crate) fn v2_config(net: &TestNet) -> PathBuf {
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
    let port = ferry_devnet::free_port();
    t["telemetry"]["listen"] = toml::Value::String(format!("127.0.0.1:{port}"));
    let path = net.home().join("config-v2.toml");
    std::fs::write(&path, toml::to_string(&v).unwrap()).unwrap();
    path
}

/// Sum of the series of `name` whose labels contain every one of `labels` (`chain="x"`).
pub(crate) fn metric_where(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b'{'))
        .filter(|l| labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub(crate) async fn scrape(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// The relayer's figures for one chain between two scrapes.
pub(crate) fn chain_metrics(before: &str, after: &str, chain: &str) -> Value {
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

pub(crate) fn stats(sorted: &[f64]) -> Value {
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

pub(crate) fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// Header times (ns) of `heights` on the appchain.
pub(crate) async fn cosmos_times(
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
pub(crate) async fn evm_times(
    p: &Provider<Http>,
    heights: impl Iterator<Item = u64>,
) -> BTreeMap<u64, u64> {
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
pub(crate) async fn evm_seq_blocks<E: EthEvent + EthLogDecode>(
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
pub(crate) async fn cosmos_seq_heights(
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
pub(crate) fn latencies(
    pairs: &[(u64, u64)],
    dst_times: &BTreeMap<u64, u64>,
) -> (Vec<f64>, Vec<f64>, f64) {
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

pub(crate) fn latency_json(secs: &[f64], blocks: &[f64], interval: f64) -> Value {
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
pub(crate) async fn evm_relayer_gas(
    p: &Provider<Http>,
    router: Address,
    from: u64,
    to: u64,
) -> Value {
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

pub(crate) fn cosmos_gas(txs: &[(u64, u64, u64)]) -> Value {
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
pub(crate) async fn settle_metrics(url: &str, before: &str, n: u64) -> String {
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

pub(crate) fn log_problems(relayer: &Relayer) -> Value {
    let text = relayer.log_text();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("WARN") || l.contains("panicked"))
        .collect();
    json!({ "warn_or_error_lines": lines.len(), "first": lines.iter().take(10).collect::<Vec<_>>() })
}
