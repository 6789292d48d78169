use anyhow::{anyhow, Result};
use clap::Subcommand;
use serde::Serialize;

use super::Ctx;
use crate::chain::ChainError;
use crate::config::Config;
use crate::ibc::ChainId;
use crate::router::Side;
use crate::supervisor::Chain;
use crate::telemetry::{QuarantineEntry, QuarantineList};

#[derive(Subcommand)]
pub enum QueryCmd {
    /// Where a transfer stands: sent, received, acknowledged (ok / error), timed out and refunded.
    Transfer {
        chain: ChainId,
        tx_hash: String,
        /// Follow until final.
        #[arg(long)]
        wait: bool,
    },
    /// Packets pending on a path.
    #[command(subcommand)]
    Packets(PacketsCmd),
    /// Balances of an address (on an EVM chain: native wei, and `--token`'s ERC-20 balance).
    Balance {
        chain: ChainId,
        address: String,
        /// EVM chains: also this ERC-20's balance.
        #[arg(long)]
        token: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum PacketsCmd {
    /// Packets sent and not yet acknowledged, in both directions, with since when.
    Pending { path: String },
}

#[derive(Serialize)]
struct PendingPacket {
    source_chain: String,
    destination_chain: String,
    source_channel: String,
    sequence: u64,
    /// awaiting_receive | awaiting_ack | awaiting_timeout
    waiting_for: &'static str,
    sent_height: Option<u64>,
    sent_at: Option<String>,
    age_seconds: Option<u64>,
    /// Held back by the running relayer: its message makes batches fail (from `/v1/quarantine`).
    #[serde(skip_serializing_if = "Option::is_none")]
    quarantine: Option<Quarantine>,
    /// Why Ferry will not relay this packet at all (e.g. a timeout it cannot carry unaltered).
    #[serde(skip_serializing_if = "Option::is_none")]
    unrelayable: Option<String>,
}

#[derive(Serialize)]
struct Quarantine {
    /// recv | ack | timeout: the message held back.
    kind: String,
    reason: String,
    since: String,
    next_retry: String,
    attempts: u32,
    paid_failures: u32,
}

impl From<&QuarantineEntry> for Quarantine {
    fn from(e: &QuarantineEntry) -> Quarantine {
        Quarantine {
            kind: e.kind.clone(),
            reason: e.reason.clone(),
            since: e.since.clone(),
            next_retry: e.next_retry.clone(),
            attempts: e.attempts,
            paid_failures: e.paid_failures,
        }
    }
}

/// At most this many pending packets are looked up in detail per direction.
const DETAIL_LIMIT: usize = 100;

pub async fn run(cmd: QueryCmd, ctx: &Ctx) -> Result<()> {
    let cfg = ctx.load_config()?;
    match cmd {
        QueryCmd::Transfer {
            chain,
            tx_hash,
            wait,
        } => {
            let (src, dst, packet, send_height) = locate(ctx, &cfg, &chain, &tx_hash).await?;
            let status =
                || crate::transfer::status_of(&*src, &*dst, &tx_hash, packet.clone(), send_height);
            if wait {
                super::transfer::follow(
                    ctx,
                    &tx_hash,
                    std::time::Duration::from_secs(3600),
                    status,
                )
                .await?;
            } else {
                let st = status().await?;
                ctx.emit(&st, || {
                    format!(
                        "transfer {} (packet {} on {}): {}",
                        st.tx_hash,
                        st.sequence,
                        st.source_channel,
                        st.state.label()
                    )
                });
            }
        }
        QueryCmd::Packets(PacketsCmd::Pending { path }) => pending(ctx, &cfg, &path).await?,
        QueryCmd::Balance {
            chain,
            address,
            token,
        } => {
            let balances = if cfg.chain(&chain).is_some_and(|c| c.evm.is_some()) {
                evm_balances(ctx, &cfg, &chain, &address, token.as_deref()).await?
            } else {
                balances(&*ctx.chain(&cfg, &chain, None)?, &address).await?
            };
            ctx.emit(&balances, || {
                balances
                    .iter()
                    .map(|(d, a)| format!("{a} {d}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

async fn evm_balances(
    ctx: &Ctx,
    cfg: &crate::config::Config,
    chain: &ChainId,
    address: &str,
    token: Option<&str>,
) -> Result<std::collections::BTreeMap<String, String>> {
    let c = ctx.evm_chain(cfg, chain)?;
    let owner: ethers::types::Address = address
        .parse()
        .map_err(|_| anyhow!("`{address}` is not a 0x address"))?;
    let mut out = std::collections::BTreeMap::new();
    out.insert("wei".to_string(), c.balance(owner, None).await?.to_string());
    if let Some(t) = token {
        let addr = t
            .parse()
            .map_err(|_| anyhow!("--token: `{t}` is not a 0x address"))?;
        out.insert(
            t.to_lowercase(),
            c.balance(owner, Some(addr)).await?.to_string(),
        );
    }
    Ok(out)
}

pub async fn balances(
    c: &crate::chain::cosmos::CosmosChain,
    address: &str,
) -> Result<std::collections::BTreeMap<String, String>> {
    use cosmrs::proto::cosmos::bank::v1beta1::{QueryAllBalancesRequest, QueryAllBalancesResponse};
    let req = QueryAllBalancesRequest {
        address: address.into(),
        pagination: None,
        resolve_denom: false,
    };
    let res: QueryAllBalancesResponse = c
        .grpc_query("/cosmos.bank.v1beta1.Query/AllBalances", &req, None)
        .await?;
    Ok(res
        .balances
        .into_iter()
        .map(|c| (c.denom, c.amount))
        .collect())
}

/// Both ends of a configured path, resolved to the clients and channels the relayer uses, and the
/// chains they are on.
async fn resolve_sides(
    ctx: &Ctx,
    cfg: &Config,
    p: &crate::config::PathConfig,
) -> Result<(Side, Side, Chain, Chain)> {
    let (ca, cb) = (
        ctx.open_any(cfg, &p.a.chain)?,
        ctx.open_any(cfg, &p.b.chain)?,
    );
    let (a, b) = match (&ca, &cb) {
        (Chain::Evm(x), Chain::Evm(y)) => crate::supervisor::resolve_evm_path(p, x, y).await?,
        (Chain::Cosmos(x), Chain::Cosmos(y)) => {
            let ids = crate::supervisor::resolve_path(p, x, y).await?;
            (
                Side {
                    chain: x.clone(),
                    client: ids.client_a,
                    port: ids.port_a,
                    channel: ids.channel_a,
                },
                Side {
                    chain: y.clone(),
                    client: ids.client_b,
                    port: ids.port_b,
                    channel: ids.channel_b,
                },
            )
        }
        (Chain::Cosmos(x), Chain::Evm(y)) => {
            crate::chain::attested::path::resolve(p, x, &p.a, y, &p.b).await?
        }
        (Chain::Evm(y), Chain::Cosmos(x)) => {
            let (c, e) = crate::chain::attested::path::resolve(p, x, &p.b, y, &p.a).await?;
            (e, c)
        }
    };
    Ok((a, b, ca, cb))
}

type RelayChainRef = std::sync::Arc<dyn crate::chain::RelayChain>;

/// The packet tx `tx_hash` sent on `chain`, and the two ends of the configured path it travels
/// (the path whose end on `chain` is the packet's source port and channel).
async fn locate(
    ctx: &Ctx,
    cfg: &Config,
    chain: &ChainId,
    tx_hash: &str,
) -> Result<(RelayChainRef, RelayChainRef, crate::ibc::Packet, u64)> {
    let (packet, height) = match ctx.open_any(cfg, chain)? {
        Chain::Evm(e) => crate::transfer::evm::packet_of_tx(&e, tx_hash).await?,
        Chain::Cosmos(c) => crate::transfer::packet_of_tx(&c, tx_hash).await?,
    };
    let mut unresolved = Vec::new();
    for p in cfg
        .paths
        .iter()
        .filter(|p| &p.a.chain == chain || &p.b.chain == chain)
    {
        let (a, b, _, _) = match resolve_sides(ctx, cfg, p).await {
            Ok(sides) => sides,
            Err(e) => {
                unresolved.push(format!("{}: {e:#}", p.name));
                continue;
            }
        };
        let (src, dst) = if a.id() == chain.as_str() {
            (a, b)
        } else {
            (b, a)
        };
        if src.port == packet.source_port && src.channel == packet.source_channel {
            return Ok((src.chain, dst.chain, packet, height));
        }
    }
    let mut msg = format!(
        "tx {tx_hash} sent packet {} on {}/{}, which no configured path of {chain} uses",
        packet.sequence, packet.source_port, packet.source_channel
    );
    if !unresolved.is_empty() {
        msg.push_str(&format!(" (paths not resolved: {})", unresolved.join("; ")));
    }
    Err(anyhow!(msg))
}

/// Nanoseconds since the epoch as RFC 3339, and seconds before now.
fn when(t_ns: u64) -> (Option<String>, u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(t_ns);
    (
        Some(humantime::format_rfc3339_seconds(at).to_string()),
        now.saturating_sub(t_ns) / 1_000_000_000,
    )
}

/// Block time (ns) of `height` on `chain`, if it can be read.
async fn block_time(chain: &Chain, height: u64) -> Option<u64> {
    match chain {
        Chain::Cosmos(c) => c.block_time(height).await.ok(),
        Chain::Evm(e) => {
            use ethers::providers::Middleware;
            let block = e.provider().get_block(height).await.ok()??;
            u64::try_from(block.timestamp)
                .ok()?
                .checked_mul(1_000_000_000)
        }
    }
}

/// The running relayer's quarantine, from the telemetry server this config names.
async fn fetch_quarantine(
    cfg: &Config,
) -> std::result::Result<(String, Vec<QuarantineEntry>), String> {
    if !cfg.telemetry.enabled {
        return Err(
            "telemetry is disabled in the config, so the relayer serves no quarantine list".into(),
        );
    }
    let mut addr = cfg.telemetry.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}/v1/quarantine");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    let res = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !res.status().is_success() {
        return Err(format!("{url}: HTTP {}", res.status()));
    }
    let list: QuarantineList = res.json().await.map_err(|e| format!("{url}: {e}"))?;
    Ok((url, list.quarantined))
}

/// `ferry query packets pending PATH`: packet commitments still set on either end (from the
/// chains), and what the running relayer holds in quarantine (from its telemetry server).
async fn pending(ctx: &Ctx, cfg: &Config, name: &str) -> Result<()> {
    let p = ctx.path(cfg, name)?;
    let (a, b, ca, cb) = resolve_sides(ctx, cfg, p).await?;
    let quarantine = fetch_quarantine(cfg).await;
    let mut held: Vec<QuarantineEntry> = match &quarantine {
        Ok((_, q)) => q.iter().filter(|e| e.path == name).cloned().collect(),
        Err(_) => vec![],
    };
    let mut out = Vec::new();
    for (src, dst, src_chain) in [(&a, &b, &ca), (&b, &a, &cb)] {
        let seqs = src.chain.commitments(&src.port, &src.channel).await?;
        let unreceived = dst.chain.unreceived(&dst.port, &dst.channel, &seqs).await?;
        for (i, seq) in seqs.iter().copied().enumerate() {
            let (mut sent_height, mut sent_at, mut age, mut unrelayable) = (None, None, None, None);
            if i < DETAIL_LIMIT {
                match src.chain.sent_packet(&src.port, &src.channel, seq).await {
                    Ok(Some(ev)) => {
                        sent_height = Some(ev.height);
                        if let Some(t) = block_time(src_chain, ev.height).await {
                            let (at, secs) = when(t);
                            (sent_at, age) = (at, Some(secs));
                        }
                    }
                    Ok(None) => {}
                    Err(ChainError::UnrelayablePacket { reason, .. }) => unrelayable = Some(reason),
                    Err(e) => return Err(e.into()),
                }
            }
            // Its quarantine entry, if the relayer holds one (recv on dst, ack/timeout on src).
            let q = held
                .iter()
                .position(|e| {
                    e.source_chain == src.id()
                        && e.source_channel == src.channel.as_str()
                        && e.sequence == seq
                })
                .map(|i| held.remove(i));
            out.push(PendingPacket {
                source_chain: src.id().to_string(),
                destination_chain: dst.id().to_string(),
                source_channel: src.channel.to_string(),
                sequence: seq,
                waiting_for: match &q {
                    Some(e) if e.kind == "timeout" => "awaiting_timeout",
                    _ if unreceived.contains(&seq) => "awaiting_receive",
                    _ => "awaiting_ack",
                },
                sent_height,
                sent_at,
                age_seconds: age,
                quarantine: q.as_ref().map(Quarantine::from),
                unrelayable,
            });
        }
    }
    // Held by the relayer but not in the chains' view (beyond the newest commitments listed, or
    // delivered since the relayer last looked): shown as the relayer has them.
    for e in &held {
        let dst = if e.source_chain == a.id() { &b } else { &a };
        out.push(PendingPacket {
            source_chain: e.source_chain.clone(),
            destination_chain: dst.id().to_string(),
            source_channel: e.source_channel.clone(),
            sequence: e.sequence,
            waiting_for: match e.kind.as_str() {
                "recv" => "awaiting_receive",
                "timeout" => "awaiting_timeout",
                _ => "awaiting_ack",
            },
            sent_height: None,
            sent_at: None,
            age_seconds: None,
            quarantine: Some(Quarantine::from(e)),
            unrelayable: None,
        });
    }
    let note = match &quarantine {
        Ok((url, _)) => format!("quarantine from the running relayer at {url}"),
        Err(e) => format!(
            "the relayer is not reachable ({e}): packets it holds in quarantine are not shown"
        ),
    };
    if ctx.json {
        // stdout stays the JSON list; the note goes to stderr.
        if quarantine.is_err() {
            eprintln!("{note}");
        }
    }
    ctx.emit(&out, || {
        let mut s = Vec::new();
        if out.is_empty() {
            s.push(format!("path {name}: nothing pending"));
        } else {
            s.push(format!(
                "{:<16} {:<16} {:<16} {:>6}  {:<16}  {}",
                "from", "to", "channel", "seq", "waiting for", "since"
            ));
            for p in &out {
                let since = match (&p.sent_at, p.age_seconds) {
                    (Some(t), Some(a)) => format!("{t} ({a}s ago)"),
                    _ => "-".into(),
                };
                s.push(format!(
                    "{:<16} {:<16} {:<16} {:>6}  {:<16}  {since}",
                    p.source_chain,
                    p.destination_chain,
                    p.source_channel,
                    p.sequence,
                    p.waiting_for
                ));
                if let Some(q) = &p.quarantine {
                    s.push(format!(
                        "    QUARANTINED ({}) since {}, {} attempt(s), {} paid failure(s), next retry {}: {}",
                        q.kind, q.since, q.attempts, q.paid_failures, q.next_retry, q.reason
                    ));
                }
                if let Some(r) = &p.unrelayable {
                    s.push(format!("    NOT RELAYABLE: {r}"));
                }
            }
        }
        s.push(note.clone());
        s.join("\n")
    });
    Ok(())
}

/// `ibc/HASH` of a voucher denom trace.
pub fn voucher_denom(trace: &str) -> String {
    use sha2::{Digest, Sha256};
    format!(
        "ibc/{}",
        hex::encode_upper(Sha256::digest(trace.as_bytes()))
    )
}
