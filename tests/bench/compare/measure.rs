//! What one run measured, read from the chains (block heights and times of each packet's send,
//! receive and acknowledgement; the relayer's txs and gas), from the relayer's process (/proc) and
//! from the counting proxies: the same for both relayers, none of it from a relayer's own report.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferry::chain::cosmos::CosmosChain;
use ferry_tests::bench::percentile;

/// One channel of a workload: packets go `src` → `dst`, acks come back.
pub struct Lane {
    pub src_channel: String,
    pub dst_channel: String,
}

/// Header times (ns) of heights, each read once.
struct Times<'a> {
    chain: &'a CosmosChain,
    cache: HashMap<u64, u64>,
}

impl Times<'_> {
    async fn at(&mut self, h: u64) -> f64 {
        if let Some(t) = self.cache.get(&h) {
            return *t as f64 / 1e9;
        }
        let t = self.chain.block_time(h).await.expect("block time");
        self.cache.insert(h, t);
        t as f64 / 1e9
    }
}

fn quantiles(mut v: Vec<f64>) -> serde_json::Value {
    if v.is_empty() {
        return serde_json::Value::Null;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    serde_json::json!({ "p50": percentile(&v, 0.5), "p99": percentile(&v, 0.99), "max": v[v.len() - 1] })
}

/// Latency figures of every packet sent on `lanes` at source heights in `sent` (from, before) whose
/// receipt is at `from_dst` or later. With `unfinished_allowed` (a run that hit its time limit), a
/// packet not yet received and acknowledged is counted apart, not timed.
pub async fn packet_figures(
    src: &CosmosChain,
    dst: &CosmosChain,
    lanes: &[Lane],
    sent: (u64, Option<u64>),
    from_dst: u64,
    expected: usize,
    unfinished_allowed: bool,
) -> serde_json::Value {
    let (mut ts, mut td) = (
        Times {
            chain: src,
            cache: HashMap::new(),
        },
        Times {
            chain: dst,
            cache: HashMap::new(),
        },
    );
    let (mut recv_s, mut ack_s, mut floor_s) = (vec![], vec![], vec![]);
    let (mut first_send, mut last_ack) = (f64::MAX, 0f64);
    let mut dst_h1 = 0u64;
    let (mut count, mut unfinished) = (0, 0);
    let from_src = sent.0;
    for lane in lanes {
        let sends = ferry_tests::bench::packet_heights(
            src,
            "send_packet",
            "packet_src_channel",
            &lane.src_channel,
            from_src,
        )
        .await;
        let recvs = ferry_tests::bench::packet_heights(
            dst,
            "recv_packet",
            "packet_dst_channel",
            &lane.dst_channel,
            from_dst,
        )
        .await;
        let acks = ferry_tests::bench::packet_heights(
            src,
            "acknowledge_packet",
            "packet_src_channel",
            &lane.src_channel,
            from_src,
        )
        .await;
        for (seq, &sh) in &sends {
            if sent.1.is_some_and(|before| sh >= before) {
                continue;
            }
            let (Some(&rh), Some(&ah)) = (recvs.get(seq), acks.get(seq)) else {
                // Only a run that hit its time limit leaves packets unacknowledged.
                assert!(
                    unfinished_allowed,
                    "packet {seq} on {} was not received and acknowledged",
                    lane.src_channel
                );
                unfinished += 1;
                continue;
            };
            let (st, rt, at) = (ts.at(sh).await, td.at(rh).await, ts.at(ah).await);
            recv_s.push(rt - st);
            ack_s.push(at - st);
            floor_s.push(floor_recv_time(&mut ts, &mut td, sh, rh, from_dst).await - st);
            first_send = first_send.min(st);
            last_ack = last_ack.max(at);
            dst_h1 = dst_h1.max(rh);
            count += 1;
        }
    }
    assert_eq!(count + unfinished, expected, "packets sent in this run");
    // The destination's block interval over the run expresses latency in its blocks.
    let (h0, h1) = (from_dst.max(1), dst_h1.max(from_dst + 1));
    let (t0, t1) = (td.at(h0).await, td.at(h1).await);
    let block_s = if h1 > h0 {
        (t1 - t0) / (h1 - h0) as f64
    } else {
        1.0
    };
    serde_json::json!({
        "packets": count,
        "packets_not_acknowledged": unfinished,
        "seconds_first_send_to_last_ack_by_block_time": last_ack - first_send,
        "destination_block_seconds": block_s,
        "send_to_recv_seconds": quantiles(recv_s.clone()),
        "send_to_ack_seconds": quantiles(ack_s),
        "send_to_recv_blocks": quantiles(recv_s.iter().map(|s| s / block_s).collect()),
        "floor_send_to_recv_blocks": quantiles(floor_s.iter().map(|s| s / block_s).collect()),
    })
}

/// The header time of the earliest destination block a relayer that took no time at all could have
/// put the receive of a packet sent at source height `sent` into (`received`: where it did land).
///
/// The packet is provable once block `sent + 1` has its commit (its header carries the app hash
/// after `sent`): that is the precommit time of `sent + 1`, which CometBFT writes as the header time
/// of `sent + 2`. A destination block D takes in the txs that reached the mempool before it was
/// proposed, and it was proposed before block D + 1's header time (D's precommit). So the floor is
/// the first D whose successor's header time is after the packet became provable. Both chains run
/// on one machine, so their clocks agree. This bound is optimistic: it counts no time for proving,
/// building, simulating and CheckTx.
async fn floor_recv_time(
    ts: &mut Times<'_>,
    td: &mut Times<'_>,
    sent: u64,
    received: u64,
    from_dst: u64,
) -> f64 {
    let provable = ts.at(sent + 2).await;
    let mut d = received;
    while d > from_dst.max(1) && td.at(d).await > provable {
        d -= 1;
    }
    td.at(d).await
}

/// What the relayer's address signed on one chain over a run.
#[derive(Default, Clone, Copy)]
pub struct SignedTxs {
    pub txs: u64,
    pub failed: u64,
    pub gas: u64,
    /// Client updates those txs carried (`update_client` events): the gas a relayer spends
    /// around the packet messages.
    pub client_updates: u64,
}

impl std::ops::Add for SignedTxs {
    type Output = SignedTxs;
    fn add(self, o: SignedTxs) -> SignedTxs {
        SignedTxs {
            txs: self.txs + o.txs,
            failed: self.failed + o.failed,
            gas: self.gas + o.gas,
            client_updates: self.client_updates + o.client_updates,
        }
    }
}

/// Txs the relayer's address signed on `chain` since `from`.
pub async fn relayer_txs(chain: &CosmosChain, signer: &str, from: u64) -> SignedTxs {
    // Read block by block: a tx_search on `message.sender` re-runs the whole query for every page
    // and timed out on the 10,000-packet backlog (workload 4).
    let to = ferry::chain::Heights::latest(chain)
        .await
        .expect("latest height")
        .0
        .revision_height;
    let mut out = SignedTxs::default();
    for h in from..=to {
        let res = chain
            .rpc
            .call("block_results", |c| {
                tendermint_rpc::Client::block_results(c, tendermint::block::Height::from(h as u32))
            })
            .await
            .unwrap_or_else(|e| panic!("block_results {h}: {e}"));
        for r in res.txs_results.unwrap_or_default() {
            let by_signer = r.events.iter().any(|e| {
                e.kind == "message"
                    && e.attributes
                        .iter()
                        .any(|a| a.key_bytes() == b"sender" && a.value_bytes() == signer.as_bytes())
            });
            if by_signer {
                out.txs += 1;
                out.failed += u64::from(r.code.is_err());
                out.gas += r.gas_used as u64;
                out.client_updates += r
                    .events
                    .iter()
                    .filter(|e| e.kind == "update_client")
                    .count() as u64;
            }
        }
    }
    out
}

/// (peak RSS in MiB, CPU seconds) of a running process.
pub fn process_figures(pid: u32) -> (f64, f64) {
    let rss = ferry_tests::bench::peak_rss_kib(pid) as f64 / 1024.0;
    (rss, ferry_tests::bench::cpu_seconds(pid))
}

/// The machine's CPU time from `/proc/stat` (all cores): busy and total, in clock ticks.
pub struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    pub fn now() -> MachineCpu {
        let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
        let line = stat.lines().next().expect("the cpu line");
        // user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
        let f: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let total: u64 = f.iter().take(8).sum();
        let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
        MachineCpu {
            busy: total - idle,
            total,
        }
    }

    /// Cores kept busy on average since `self` (2.0 = both cores of a 2-core machine all the time).
    pub fn busy_cores_since(&self) -> f64 {
        let now = MachineCpu::now();
        let (busy, total) = (now.busy - self.busy, now.total - self.total);
        if total == 0 {
            return 0.0;
        }
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        busy as f64 / total as f64 * cores
    }
}

/// Wait until `src` holds no packet commitment on any of `lanes`, or until `limit` has passed:
/// how many commitments were left then (0 when every packet was acknowledged).
pub async fn wait_all_acked(src: &Arc<CosmosChain>, lanes: &[Lane], limit: Duration) -> usize {
    let port: ferry::ibc::PortId = "transfer".parse().unwrap();
    let started = std::time::Instant::now();
    loop {
        let mut left = Some(0);
        for lane in lanes {
            let chan: ferry::ibc::ChannelId = lane.src_channel.parse().unwrap();
            left = match ferry::chain::PacketQueries::commitments(&**src, &port, &chan).await {
                Ok(c) => left.map(|l| l + c.len()),
                // Not known this time: asked again at the next tick.
                Err(_) => None,
            };
        }
        match left {
            Some(0) => return 0,
            Some(l) if started.elapsed() >= limit => return l,
            // As before the limit existed: a node that cannot say ends the run, not a hang.
            None if started.elapsed() >= limit => {
                panic!("packet commitments on the source unreadable at the time limit")
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
