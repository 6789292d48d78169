//! Ferry and Hermes side by side (`make bench-compare`): one devnet, the same chains and node
//! settings, each relayer on channels of its own, one relayer at a time, every node request of both
//! going through the same counting proxies. Writes every run and the medians to the file given as the
//! first argument (default bench-results/compare.json).
//!
//! Workloads (`FERRY_BENCH_WORKLOADS`, default `1,2,3,4`; `FERRY_BENCH_REPEATS`, default 3):
//! 1. 1,000 transfers on one channel, all in the mempool at once (20 txs of 50);
//! 2. 5,000 transfers over four channels, all in the mempool at once;
//! 3. a steady 20 transfers/s (one tx of 20 each second) for 60 s on one channel;
//! 4. a backlog of 10,000 transfers over four channels sent before the relayer starts, and a steady
//!    20 transfers/s for 30 s on the first of them once it has started (their latency is the
//!    run's latency; the backlog's is reported apart).
//!
//! The relayers alternate which goes first from one repeat to the next. `FERRY_BENCH_RELAYERS`
//! (default `ferry,hermes`) picks which run; without `hermes`, Hermes is neither built nor run.
//! `FERRY_BENCH_TIME_LIMIT_SECS` (default 1200) bounds each run's wait for its acknowledgements.
//! `FERRY_BENCH_HERMES_CLEAR_LIMIT` sets Hermes's `clear_limit` (packets it clears per channel and
//! round; its default, 50, when unset): what an operator facing a backlog would raise.

#[path = "compare/hermes.rs"]
mod hermes;
#[path = "compare/measure.rs"]
mod measure;
#[path = "compare/summary.rs"]
mod summary;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry::chain::cosmos::CosmosChain;
use ferry_tests::counting_proxy::{CountingProxy, Tally};
use ferry_tests::{Relayer, TestNet, SIGTERM};
use measure::Lane;

const SRC: &str = "l3-appchain-1";
const DST: &str = "settlement-1";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Who {
    Ferry,
    /// Ferry with `keys = ["relayer", "relayer-2", "relayer-3"]` on both chains (workload 2).
    Ferry3,
    Hermes,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Ferry => "ferry",
            Who::Ferry3 => "ferry-3-signers",
            Who::Hermes => "hermes",
        }
    }
}

/// A node's RPC (HTTP and WebSocket) and gRPC, each behind a counting proxy.
struct NodeProxies {
    rpc: CountingProxy,
    grpc: CountingProxy,
}

struct Bench {
    net: TestNet,
    proxies: Vec<NodeProxies>,
    /// None when `FERRY_BENCH_RELAYERS` leaves Hermes out.
    hermes: Option<hermes::Hermes>,
    ferry_config: std::path::PathBuf,
    ferry3_config: std::path::PathBuf,
    /// Source channel ids per relayer: the first is workloads 1 and 3's, all four are 2 and 4's.
    ferry_channels: Vec<String>,
    hermes_channels: Vec<String>,
    sender: Arc<CosmosChain>,
    src: Arc<CosmosChain>,
    dst: Arc<CosmosChain>,
    receiver: String,
    /// The addresses the relayers sign with (Ferry's extra signers included).
    relayer_addresses: Vec<String>,
}

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

impl Bench {
    fn tally(&self) -> Tally {
        self.proxies.iter().fold(Tally::default(), |t, p| {
            t.plus(p.rpc.counts.tally()).plus(p.grpc.counts.tally())
        })
    }

    fn start(&self, who: Who, log: &str) -> Relayer {
        let r = match who {
            Who::Ferry => self.net.start_relayer_with(log, &self.ferry_config),
            Who::Ferry3 => self.net.start_relayer_with(log, &self.ferry3_config),
            Who::Hermes => self.hermes.as_ref().expect("Hermes is set up").start(log),
        };
        // Ready once every path is relayed (Ferry says so per path; Hermes once).
        let (needle, times) = match who {
            Who::Ferry | Who::Ferry3 => ("relaying path", self.ferry_channels.len()),
            Who::Hermes => ("Hermes has started", 1),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while r.log_text().matches(needle).count() < times {
            assert!(
                Instant::now() < deadline,
                "{who:?} not ready:\n{}",
                r.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        r
    }

    /// `per_lane` transfers on each of `lanes`, every tx in the mempool before any is awaited.
    async fn burst(&self, lanes: &[String], per_lane: usize) -> usize {
        let port: ferry::ibc::PortId = "transfer".parse().unwrap();
        let chans: Vec<ferry::ibc::ChannelId> = lanes.iter().map(|c| c.parse().unwrap()).collect();
        let ts: Vec<_> = chans
            .iter()
            .map(|ch| transfer(&port, ch, &self.receiver))
            .collect();
        let sends = ts
            .iter()
            .map(|t| ferry::transfer::send_many(&self.sender, t, per_lane));
        for r in futures::future::join_all(sends).await {
            r.expect("send");
        }
        per_lane * lanes.len()
    }

    /// One tx of `per_second` transfers on `lane` every second for `seconds`.
    async fn steady(&self, lane: &str, per_second: usize, seconds: usize) -> usize {
        let ch: ferry::ibc::ChannelId = lane.parse().unwrap();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut tasks = Vec::new();
        for _ in 0..seconds {
            tick.tick().await;
            let (sender, ch, rcv) = (self.sender.clone(), ch.clone(), self.receiver.clone());
            tasks.push(tokio::spawn(async move {
                let port: ferry::ibc::PortId = "transfer".parse().unwrap();
                let t = transfer(&port, &ch, &rcv);
                ferry::transfer::send_many(&sender, &t, per_second).await
            }));
        }
        for t in tasks {
            t.await.unwrap().expect("send");
        }
        per_second * seconds
    }

    async fn run(&self, who: Who, workload: u8, rep: usize) -> serde_json::Value {
        let chans = match who {
            Who::Ferry | Who::Ferry3 => &self.ferry_channels,
            Who::Hermes => &self.hermes_channels,
        };
        let used: Vec<String> = if matches!(workload, 2 | 4) {
            chans.clone()
        } else {
            chans[..1].to_vec()
        };
        let lanes: Vec<Lane> = used
            .iter()
            .map(|c| Lane {
                src_channel: c.clone(),
                dst_channel: c.clone(),
            })
            .collect();
        let (h_src, h_dst) = (latest(&self.src).await, latest(&self.dst).await);
        // Workload 4: the backlog is on chain before the relayer starts.
        let backlog = if workload == 4 {
            eprintln!("{}: sending the backlog of 10,000", who.name());
            self.burst(&used, 2500).await
        } else {
            0
        };
        let mut relayer = self.start(who, &format!("{}-w{workload}-r{rep}.log", who.name()));
        let before = self.tally();
        let h_live = latest(&self.src).await + 1;
        eprintln!("{}: workload {workload}, repeat {rep}", who.name());
        // What the nodes and the machine spend over the run: where the time goes when the relayer
        // waits on the chains.
        let nodes_before = self.node_cpu();
        let machine_before = measure::MachineCpu::now();
        let t0 = Instant::now();
        let live = match workload {
            1 => self.burst(&used, 1000).await,
            2 => self.burst(&used, 1250).await,
            3 => self.steady(&used[0], 20, 60).await,
            _ => self.steady(&used[0], 20, 30).await,
        };
        let sent_in = t0.elapsed();
        let left = measure::wait_all_acked(&self.src, &lanes, time_limit()).await;
        let wall = t0.elapsed();
        if left > 0 {
            eprintln!(
                "{}: {left} packets still unacknowledged after {:.0} s; figures of the others",
                who.name(),
                wall.as_secs_f64()
            );
        }
        let machine_busy = machine_before.busy_cores_since();
        let nodes: Vec<f64> = self
            .node_cpu()
            .iter()
            .zip(&nodes_before)
            .map(|(a, b)| a - b)
            .collect();
        let requests = self.tally().minus(before);
        let (rss, cpu) = measure::process_figures(relayer.pid());
        relayer.signal(SIGTERM);
        let (src, dst) = (&self.src, &self.dst);
        // Workload 4's latency is that of the transfers sent while the backlog was cleared.
        let (lat, backlog_lat) = if workload == 4 {
            (
                measure::packet_figures(src, dst, &lanes, (h_live, None), h_dst, live, left > 0)
                    .await,
                Some(
                    measure::packet_figures(
                        src,
                        dst,
                        &lanes,
                        (h_src, Some(h_live)),
                        h_dst,
                        backlog,
                        left > 0,
                    )
                    .await,
                ),
            )
        } else {
            let l = measure::packet_figures(src, dst, &lanes, (h_src, None), h_dst, live, left > 0)
                .await;
            (l, None)
        };
        let mut signed = measure::SignedTxs::default();
        for a in &self.relayer_addresses {
            signed = signed
                + measure::relayer_txs(&self.src, a, h_src).await
                + measure::relayer_txs(&self.dst, a, h_dst).await;
        }
        let n = live + backlog;
        let nf = n as f64;
        serde_json::json!({
            "relayer": who.name(),
            "workload": workload,
            "repeat": rep,
            "transfers": n,
            "backlog_at_start": backlog,
            "channels": used,
            "send_seconds": sent_in.as_secs_f64(),
            // A run that hit the time limit has no clearing time; its rate counts what was
            // acknowledged by then.
            "seconds_until_all_acknowledged": (left == 0).then_some(wall.as_secs_f64()),
            "unacknowledged_at_time_limit": left,
            "time_limit_seconds": time_limit().as_secs(),
            "packets_per_second": (n - left) as f64 / wall.as_secs_f64(),
            "latency": lat,
            "backlog_latency": backlog_lat,
            "relayer_txs": signed.txs,
            "relayer_failed_txs": signed.failed,
            "relayer_gas": signed.gas,
            "relayer_gas_per_packet": signed.gas as f64 / nf,
            "relayer_client_updates": signed.client_updates,
            "requests": requests.json(),
            "rpc_http_requests_per_packet": requests.http_requests as f64 / nf,
            "jsonrpc_calls_per_packet": requests.jsonrpc_calls as f64 / nf,
            "websocket_messages_per_packet": requests.ws_messages as f64 / nf,
            "grpc_calls_per_packet": requests.grpc_calls as f64 / nf,
            "requests_per_packet": (requests.http_requests + requests.ws_messages + requests.grpc_calls) as f64 / nf,
            "peak_rss_mib": rss,
            "cpu_seconds": cpu,
            "source_node_cpu_seconds": nodes[0],
            "destination_node_cpu_seconds": nodes[1],
            "machine_busy_cores": machine_busy,
            "machine_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        })
    }

    /// CPU seconds so far of the source's and the destination's node processes.
    fn node_cpu(&self) -> [f64; 2] {
        [SRC, DST].map(|id| {
            let node = self
                .net
                .state
                .nodes
                .iter()
                .find(|n| n.chain_id == id)
                .expect("the devnet runs the path's chains");
            ferry_tests::bench::cpu_seconds(node.pid)
        })
    }
}

/// `FERRY_BENCH_HERMES_CLEAR_LIMIT`, if set.
fn hermes_clear_limit() -> Option<usize> {
    std::env::var("FERRY_BENCH_HERMES_CLEAR_LIMIT")
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("FERRY_BENCH_HERMES_CLEAR_LIMIT: `{v}` is not a count"))
        })
}

/// How long a run waits for every packet to be acknowledged (`FERRY_BENCH_TIME_LIMIT_SECS`, default
/// 1200). A run that hits it reports what was left and times only the packets that finished; its
/// channels keep the rest, so it should be the last run on them.
fn time_limit() -> Duration {
    let secs = std::env::var("FERRY_BENCH_TIME_LIMIT_SECS")
        .ok()
        .map(|v| {
            v.parse()
                .expect("FERRY_BENCH_TIME_LIMIT_SECS: a number of seconds")
        })
        .unwrap_or(1200);
    Duration::from_secs(secs)
}

/// One transfer of 1samoleans to `receiver`, timing out in 30 minutes.
fn transfer<'a>(
    port: &'a ferry::ibc::PortId,
    channel: &'a ferry::ibc::ChannelId,
    receiver: &'a str,
) -> ferry::transfer::Transfer<'a> {
    ferry::transfer::Transfer {
        port,
        channel,
        amount: 1,
        denom: "samoleans",
        receiver,
        timeout: Duration::from_secs(1800),
        memo: "",
    }
}

async fn latest(chain: &CosmosChain) -> u64 {
    ferry::chain::Heights::latest(chain)
        .await
        .expect("latest height")
        .0
        .revision_height
}

/// The devnet, the proxies, and every channel both relayers need (opened before anything is
/// measured): Ferry's first by `ferry create path`, the rest by `hermes create channel`, so the
/// ids are the same on both chains: Ferry 0 (and 2–4), Hermes 1 (and 5–7).
async fn setup(
    hermes_bin: Option<std::path::PathBuf>,
    hermes_clear_limit: Option<usize>,
    four: bool,
) -> Bench {
    let net = TestNet::start("compare").await;
    net.ferry_ok(&["create", "path", "l3-settlement"]);
    let mut proxies = Vec::new();
    for id in [SRC, DST] {
        let node = net.state.nodes.iter().find(|n| n.chain_id == id).unwrap();
        proxies.push(NodeProxies {
            rpc: CountingProxy::start(addr(&node.rpc)).await,
            grpc: CountingProxy::start(node.grpc.parse().unwrap()).await,
        });
    }
    let ch = |ids: &[u32]| -> Vec<String> { ids.iter().map(|i| format!("channel-{i}")).collect() };
    let (ferry_channels, hermes_channels) = if four {
        (ch(&[0, 2, 3, 4]), ch(&[1, 5, 6, 7]))
    } else {
        (ch(&[0]), ch(&[1]))
    };
    let hermes_chains: Vec<hermes::HermesChain> = [SRC, DST]
        .iter()
        .zip(&proxies)
        .map(|(id, p)| hermes::HermesChain {
            id,
            rpc: p.rpc.addr().to_string(),
            grpc: p.grpc.addr().to_string(),
            channels: &hermes_channels,
        })
        .collect();
    let hermes = hermes_bin.map(|bin| {
        hermes::Hermes::setup(
            bin,
            &net.devnet.dir.join("hermes"),
            &hermes_chains,
            &ferry_devnet::mnemonic("relayer"),
            hermes_clear_limit,
        )
    });
    let extra = if four { 7 } else { 1 };
    // The same channel numbers either way: Hermes opens them when it runs, else Ferry's handshake.
    let (src, dst) = (net.chain(SRC), net.chain(DST));
    let ids =
        ferry::chain::cosmos::handshake::find_path(&src, &dst, &"transfer".parse().unwrap(), None)
            .await
            .expect("find the path")
            .expect("path l3-settlement is open");
    for i in 0..extra {
        match &hermes {
            Some(h) => {
                eprintln!("opening channel-{} with hermes", i + 1);
                h.create_channel(SRC, DST);
            }
            None => {
                eprintln!(
                    "opening channel-{} with Ferry's handshake (Hermes not run)",
                    i + 1
                );
                ferry::chain::cosmos::handshake::open_channel(
                    &src,
                    &dst,
                    &ids.client_a,
                    &ids.client_b,
                    &ids.connection_a,
                    &ids.connection_b,
                    &ids.port_a,
                    &ids.port_b,
                )
                .await
                .expect("open a channel");
            }
        }
    }
    let ferry_config = write_ferry_config(&net, &proxies, &ferry_channels, 1);
    let ferry3_config = write_ferry_config(&net, &proxies, &ferry_channels, 3);
    Bench {
        sender: net.chain_as(SRC, "user"),
        src: net.chain(SRC),
        dst: net.chain(DST),
        receiver: net.address("user"),
        relayer_addresses: ["relayer", "relayer-2", "relayer-3"]
            .iter()
            .map(|r| net.address(r))
            .collect(),
        net,
        proxies,
        hermes,
        ferry_config,
        ferry3_config,
        ferry_channels,
        hermes_channels,
    }
}

/// Ferry's devnet config cut to the two Cosmos chains (through the proxies) and one path per
/// channel of its own, each pinned to its channel.
fn write_ferry_config(
    net: &TestNet,
    proxies: &[NodeProxies],
    channels: &[String],
    signers: usize,
) -> std::path::PathBuf {
    let path = net.home().join("config.toml");
    let mut cfg: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let t = cfg.as_table_mut().unwrap();
    let chains = t["chains"].as_array_mut().unwrap();
    chains.retain(|c| [SRC, DST].contains(&c["id"].as_str().unwrap()));
    for c in chains.iter_mut() {
        let p = &proxies[usize::from(c["id"].as_str() == Some(DST))];
        c["rpc"] = toml::Value::Array(vec![format!("http://{}", p.rpc.addr()).into()]);
        if signers > 1 {
            let t = c.as_table_mut().unwrap();
            t.remove("key");
            let keys = ["relayer", "relayer-2", "relayer-3"][..signers]
                .iter()
                .map(|k| toml::Value::from(*k))
                .collect();
            t.insert("keys".into(), toml::Value::Array(keys));
        }
    }
    let template = t["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("l3-settlement"))
        .unwrap()
        .clone();
    let paths = channels
        .iter()
        .enumerate()
        .map(|(i, ch)| {
            let mut p = template.clone();
            if i > 0 {
                p["name"] = format!("bench-{ch}").into();
            }
            p["a"]
                .as_table_mut()
                .unwrap()
                .insert("channel".into(), ch.clone().into());
            p
        })
        .collect();
    t.insert("paths".into(), toml::Value::Array(paths));
    let out = net.devnet.dir.join(format!("ferry-bench-{signers}.toml"));
    std::fs::write(&out, toml::to_string(&cfg).unwrap()).unwrap();
    out
}

#[tokio::main]
async fn main() {
    let out_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "bench-results/compare.json".into());
    let repeats: usize = std::env::var("FERRY_BENCH_REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let workloads: Vec<u8> = std::env::var("FERRY_BENCH_WORKLOADS")
        .unwrap_or_else(|_| "1,2,3,4".into())
        .split(',')
        .map(|w| {
            w.trim()
                .parse()
                .expect("FERRY_BENCH_WORKLOADS: numbers 1 to 4")
        })
        .collect();
    let relayers: Vec<Who> = std::env::var("FERRY_BENCH_RELAYERS")
        .unwrap_or_else(|_| "ferry,hermes".into())
        .split(',')
        .map(|r| match r.trim() {
            "ferry" => Who::Ferry,
            "hermes" => Who::Hermes,
            other => panic!("FERRY_BENCH_RELAYERS: `{other}` is neither ferry nor hermes"),
        })
        .collect();
    // Built before the devnet starts, so the first run's build does not share the cores with it.
    let hermes_bin = relayers.contains(&Who::Hermes).then(hermes::binary);
    let four = workloads.iter().any(|w| matches!(w, 2 | 4));
    let clear_limit = hermes_clear_limit();
    let bench = setup(hermes_bin, clear_limit, four).await;
    let mut runs = Vec::new();
    for &w in &workloads {
        for rep in 0..repeats {
            let mut order = if rep % 2 == 0 {
                vec![Who::Ferry, Who::Hermes]
            } else {
                vec![Who::Hermes, Who::Ferry]
            };
            if w == 2 {
                order.push(Who::Ferry3);
            }
            order.retain(|who| {
                relayers.contains(who) || *who == Who::Ferry3 && relayers.contains(&Who::Ferry)
            });
            for who in order {
                let r = bench.run(who, w, rep).await;
                eprintln!("{}", serde_json::to_string(&r).unwrap());
                runs.push(r);
            }
        }
    }
    let summary = summary::summarize(&runs, &workloads);
    let result = serde_json::json!({
        "hermes_version": "1.13.2",
        "hermes_clear_limit": clear_limit,
        "repeats": repeats,
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "summary": summary,
        "runs": runs,
    });
    ferry_tests::bench::write_result(&out_path, &result);
}
