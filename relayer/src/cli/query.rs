use anyhow::{anyhow, Result};
use clap::Subcommand;
use serde::Serialize;

use super::Ctx;
use crate::chain::{PacketEvents, PacketQueries};
use crate::ibc::ChainId;

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
    /// awaiting_receive | awaiting_ack
    waiting_for: &'static str,
    sent_height: Option<u64>,
    sent_at: Option<String>,
    age_seconds: Option<u64>,
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
            let path = cfg
                .paths
                .iter()
                .find(|p| p.a.chain == chain || p.b.chain == chain)
                .ok_or_else(|| anyhow!("no configured path has chain {chain}"))?;
            let other = if path.a.chain == chain {
                &path.b.chain
            } else {
                &path.a.chain
            };
            use crate::supervisor::Chain;
            let (src, dst) = (ctx.open_any(&cfg, &chain)?, ctx.open_any(&cfg, other)?);
            let status = || async {
                match (&src, &dst) {
                    (Chain::Evm(s), Chain::Evm(d)) => {
                        crate::transfer::evm::status(s, d, &tx_hash).await
                    }
                    (Chain::Cosmos(s), Chain::Cosmos(d)) => {
                        crate::transfer::status(s, d, &tx_hash).await
                    }
                    _ => Err(crate::chain::ChainError::Other(
                        "a path joins one family".into(),
                    )),
                }
            };
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
        QueryCmd::Packets(PacketsCmd::Pending { path }) => {
            let (a, b, ids) = ctx.open_path(&cfg, &path).await?;
            let mut out = Vec::new();
            for (src, dst, sport, schan, dport, dchan) in [
                (
                    &a,
                    &b,
                    &ids.port_a,
                    &ids.channel_a,
                    &ids.port_b,
                    &ids.channel_b,
                ),
                (
                    &b,
                    &a,
                    &ids.port_b,
                    &ids.channel_b,
                    &ids.port_a,
                    &ids.channel_a,
                ),
            ] {
                let seqs = src.commitments(sport, schan).await?;
                let unreceived = dst.unreceived(dport, dchan, &seqs).await?;
                for (i, seq) in seqs.iter().copied().enumerate() {
                    let (mut sent_height, mut sent_at, mut age) = (None, None, None);
                    if i < DETAIL_LIMIT {
                        if let Some(ev) = src.sent_packet(sport, schan, seq).await? {
                            sent_height = Some(ev.height);
                            if let Ok(t) = src.block_time(ev.height).await {
                                let now = std::time::SystemTime::now()
                                    .duration_since(std::time::UNIX_EPOCH)
                                    .unwrap_or_default()
                                    .as_nanos() as u64;
                                age = Some(now.saturating_sub(t) / 1_000_000_000);
                                sent_at = tendermint::Time::from_unix_timestamp(
                                    (t / 1_000_000_000) as i64,
                                    (t % 1_000_000_000) as u32,
                                )
                                .ok()
                                .map(|t| t.to_rfc3339());
                            }
                        }
                    }
                    out.push(PendingPacket {
                        source_chain: src.id.to_string(),
                        destination_chain: dst.id.to_string(),
                        source_channel: schan.to_string(),
                        sequence: seq,
                        waiting_for: if unreceived.contains(&seq) {
                            "awaiting_receive"
                        } else {
                            "awaiting_ack"
                        },
                        sent_height,
                        sent_at,
                        age_seconds: age,
                    });
                }
            }
            ctx.emit(&out, || {
                if out.is_empty() {
                    return format!("path {path}: nothing pending");
                }
                let mut s = vec![format!(
                    "{:<16} {:<16} {:<11} {:>6}  {:<16}  {}",
                    "from", "to", "channel", "seq", "waiting for", "since"
                )];
                for p in &out {
                    let since = match (&p.sent_at, p.age_seconds) {
                        (Some(t), Some(a)) => format!("{t} ({a}s ago)"),
                        _ => "-".into(),
                    };
                    s.push(format!(
                        "{:<16} {:<16} {:<11} {:>6}  {:<16}  {since}",
                        p.source_chain,
                        p.destination_chain,
                        p.source_channel,
                        p.sequence,
                        p.waiting_for
                    ));
                }
                s.join("\n")
            });
        }
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
