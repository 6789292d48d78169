use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::Args;

use super::Ctx;
use crate::ibc::ChainId;
use crate::transfer::{parse_coin, send, send_many, status, Transfer, TransferState};

#[derive(Args)]
pub struct TransferArgs {
    /// The configured path to send over.
    #[arg(long)]
    pub path: String,
    /// The chain the tokens leave.
    #[arg(long)]
    pub from_chain: ChainId,
    /// Amount and denom, e.g. 100samoleans or 5ibc/27A6…
    #[arg(long)]
    pub amount: String,
    /// Receiver address on the other chain.
    #[arg(long)]
    pub to: String,
    /// The packet times out this many seconds after sending.
    #[arg(long, default_value_t = 600)]
    pub timeout_seconds: u64,
    #[arg(long, default_value = "")]
    pub memo: String,
    /// Signing key (default: `[global] default_transfer_key`; a relayer key only when named).
    #[arg(long)]
    pub key: Option<String>,
    /// Send this many identical transfers, batched into txs (load tests; prints the tx hashes).
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Follow the transfer until it is final.
    #[arg(long)]
    pub wait: bool,
    /// On an EVM chain: the ERC-20 to send (its own token, or a Ferry voucher to send back);
    /// `--amount` is then a plain integer in the token's base units.
    #[arg(long)]
    pub token: Option<String>,
    /// Skip Ferry's checks of the receiver and timeout before signing, leaving them to the chains
    /// (which refuse with an error acknowledgement or a timeout, at the sender's cost): for testing
    /// those refusals.
    #[arg(long)]
    pub unchecked: bool,
}

pub async fn run(mut a: TransferArgs, ctx: &Ctx) -> Result<()> {
    let cfg = ctx.load_config()?;
    a.key = Some(
        a.key
            .clone()
            .or_else(|| cfg.default_transfer_key.clone())
            .ok_or_else(|| {
                anyhow!(
                    "no key to sign the transfer with: pass --key NAME, or set [global] \
             default_transfer_key (Ferry signs with a relayer key only when it is named)"
                )
            })?,
    );
    if cfg.chain(&a.from_chain).is_some_and(|c| c.evm.is_some()) {
        return run_evm(a, ctx, &cfg).await;
    }
    if let Some(client) = v2_client(&cfg, &a)? {
        return run_cosmos_v2(a, ctx, &cfg, client).await;
    }
    // Checked before anything is signed: the receiver in the destination's address form, the
    // timeout and the memo; then (below, from the chain) the funds.
    let path = ctx_path(&cfg, &a.path)?;
    let dst_end = if path.a.chain == a.from_chain {
        &path.b
    } else {
        &path.a
    };
    if !a.unchecked {
        if let Some(d) = cfg.chain(&dst_end.chain) {
            crate::transfer::checks::cosmos_receiver(&a.to, d.id.as_str(), &d.account_prefix)?;
        }
        crate::transfer::checks::timeout_in_future(a.timeout_seconds)?;
        crate::transfer::checks::memo(&a.memo)?;
    }
    let (ca, cb, ids) = ctx.open_path(&cfg, &a.path).await?;
    let (src_id, port, channel, dst) = if a.from_chain == ca.id {
        (ca.id.clone(), ids.port_a.clone(), ids.channel_a.clone(), cb)
    } else if a.from_chain == cb.id {
        (cb.id.clone(), ids.port_b.clone(), ids.channel_b.clone(), ca)
    } else {
        return Err(anyhow!(
            "chain {} is not an end of path {}",
            a.from_chain,
            a.path
        ));
    };
    let src = ctx.chain(&cfg, &src_id, a.key.as_deref())?;
    let (amount, denom) = parse_coin(&a.amount).map_err(|e| anyhow!("--amount: {e}"))?;
    if !a.unchecked {
        check_funds(&src, amount.saturating_mul(a.count as u128), &denom).await?;
    }
    let t = Transfer {
        port: &port,
        channel: &channel,
        amount,
        denom: &denom,
        receiver: &a.to,
        timeout: Duration::from_secs(a.timeout_seconds),
        memo: &a.memo,
    };
    if a.count > 1 {
        let hashes = send_many(&src, &t, a.count)
            .await
            .map_err(crate::transfer::explain::describe)?;
        ctx.emit(
            &serde_json::json!({ "tx_hashes": hashes, "transfers": a.count }),
            || {
                format!(
                    "sent {} transfers of {amount}{denom} in {} txs: {}",
                    a.count,
                    hashes.len(),
                    hashes.join(" ")
                )
            },
        );
        return Ok(());
    }
    let (hash, packet) = send(&src, &t)
        .await
        .map_err(crate::transfer::explain::describe)?;
    ctx.emit(&serde_json::json!({ "tx_hash": hash, "sequence": packet.sequence, "source_channel": packet.source_channel, "state": "sent" }), || {
        format!("sent {amount}{denom} from {} to {} on {}: tx {hash}, packet {} on {}", src.address, a.to, dst.id, packet.sequence, packet.source_channel)
    });
    if a.wait {
        follow(
            ctx,
            &hash,
            Duration::from_secs(a.timeout_seconds + 120),
            || status(&src, &dst, &hash),
        )
        .await?;
    }
    Ok(())
}

/// The sender's balances cover `amount` of `denom` and the fee (bounded by `default_gas` at the
/// configured gas price).
async fn check_funds(
    src: &crate::chain::cosmos::CosmosChain,
    amount: u128,
    denom: &str,
) -> Result<()> {
    let fee_denom = src.config.gas_price.denom.clone();
    let balance = src.balance(&src.address, denom).await?;
    let fee_balance = if fee_denom == denom {
        balance
    } else {
        src.balance(&src.address, &fee_denom).await?
    };
    crate::transfer::checks::funds(&crate::transfer::checks::Funds {
        chain: src.id.as_str(),
        address: &src.address,
        amount,
        denom,
        balance,
        fee_denom: &fee_denom,
        fee_balance,
        fee: src.fee_for(src.config.default_gas),
    })?;
    Ok(())
}

/// The source's IBC v2 client when `a` leaves a Cosmos chain over a path to an EVM chain.
fn v2_client(
    cfg: &crate::config::Config,
    a: &TransferArgs,
) -> Result<Option<crate::ibc::ChannelId>> {
    let path = ctx_path(cfg, &a.path)?;
    let (src, dst) = if path.a.chain == a.from_chain {
        (&path.a, &path.b)
    } else {
        (&path.b, &path.a)
    };
    if cfg.chain(&dst.chain).is_none_or(|c| c.evm.is_none()) {
        return Ok(None);
    }
    let client = src
        .client
        .as_ref()
        .ok_or_else(|| anyhow!("path `{}`: end {} has no client", a.path, src.chain))?;
    Ok(Some(client.as_str().parse()?))
}

fn ctx_path<'a>(
    cfg: &'a crate::config::Config,
    name: &str,
) -> Result<&'a crate::config::PathConfig> {
    cfg.paths
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| anyhow!("no path named `{name}` in the config"))
}

/// A transfer from a Cosmos chain over IBC v2 (to an EVM chain): `MsgTransfer` with the client id
/// as source channel and the Solidity ABI payload encoding.
async fn run_cosmos_v2(
    a: TransferArgs,
    ctx: &Ctx,
    cfg: &crate::config::Config,
    client: crate::ibc::ChannelId,
) -> Result<()> {
    // Checked before anything is signed: the EVM receiver's form and the timeout.
    let path = ctx_path(cfg, &a.path)?;
    let dst = if path.a.chain == a.from_chain {
        &path.b.chain
    } else {
        &path.a.chain
    };
    if !a.unchecked {
        crate::transfer::checks::evm_receiver(&a.to, dst.as_str())?;
        crate::transfer::checks::timeout(a.timeout_seconds)?;
        crate::transfer::checks::memo(&a.memo)?;
    }
    let src = ctx.chain(cfg, &a.from_chain, a.key.as_deref())?;
    let (amount, denom) = parse_coin(&a.amount).map_err(|e| anyhow!("--amount: {e}"))?;
    if !a.unchecked {
        check_funds(&src, amount.saturating_mul(a.count as u128), &denom).await?;
    }
    let port: crate::ibc::PortId = "transfer".parse()?;
    let t = Transfer {
        port: &port,
        channel: &client,
        amount,
        denom: &denom,
        receiver: &a.to,
        timeout: Duration::from_secs(a.timeout_seconds),
        memo: &a.memo,
    };
    if a.count > 1 {
        let hashes = send_many(&src, &t, a.count)
            .await
            .map_err(crate::transfer::explain::describe)?;
        ctx.emit(
            &serde_json::json!({ "tx_hashes": hashes, "transfers": a.count }),
            || {
                format!(
                    "sent {} transfers of {amount}{denom} in {} txs: {}",
                    a.count,
                    hashes.len(),
                    hashes.join(" ")
                )
            },
        );
        return Ok(());
    }
    let (hash, packet) = send(&src, &t)
        .await
        .map_err(crate::transfer::explain::describe)?;
    ctx.emit(&serde_json::json!({ "tx_hash": hash, "sequence": packet.sequence, "source_channel": packet.source_channel, "state": "sent" }), || {
        format!("sent {amount}{denom} from {} to {}: tx {hash}, packet {} on {}", src.address, a.to, packet.sequence, packet.source_channel)
    });
    Ok(())
}

/// A transfer from an EVM chain over an IBC v2 path.
async fn run_evm(a: TransferArgs, ctx: &Ctx, cfg: &crate::config::Config) -> Result<()> {
    let path = ctx.path(cfg, &a.path)?;
    let (src_end, dst_end) = if path.a.chain == a.from_chain {
        (&path.a, &path.b)
    } else if path.b.chain == a.from_chain {
        (&path.b, &path.a)
    } else {
        return Err(anyhow!(
            "chain {} is not an end of path {}",
            a.from_chain,
            a.path
        ));
    };
    let client = src_end
        .client
        .as_ref()
        .ok_or_else(|| anyhow!("path `{}`: evm end {} has no client", a.path, src_end.chain))?;
    // Checked before anything is signed: the receiver in the destination's address form, and
    // the timeout.
    if !a.unchecked {
        match cfg.chain(&dst_end.chain) {
            Some(d) if d.evm.is_none() => {
                crate::transfer::checks::cosmos_receiver(&a.to, d.id.as_str(), &d.account_prefix)?
            }
            _ => crate::transfer::checks::evm_receiver(&a.to, dst_end.chain.as_str())?,
        }
        crate::transfer::checks::timeout(a.timeout_seconds)?;
    }
    let src = ctx.evm_chain(cfg, &src_end.chain)?;
    let token: ethers::types::Address = a
        .token
        .as_deref()
        .ok_or_else(|| anyhow!("--token is required on an evm chain (the ERC-20 to send)"))?
        .parse()
        .map_err(|_| anyhow!("--token: not a 0x address"))?;
    let amount = ethers::types::U256::from_dec_str(&a.amount)
        .map_err(|_| anyhow!("--amount: on an evm chain, a plain integer of base units"))?;
    if amount.is_zero() {
        return Err(anyhow!("--amount: must be greater than zero"));
    }
    let key = a.key.clone().expect("resolved in run");
    let wallet = ctx
        .keystore()
        .load_evm(&key, src.evm.chain_id)
        .with_context(|| format!("loading key `{key}` for chain {}", src.id))?;
    let channel: crate::ibc::ChannelId = client.as_str().parse()?;
    let t = crate::transfer::evm::EvmTransfer {
        wallet,
        token,
        amount,
        receiver: &a.to,
        client: &channel,
        timeout: Duration::from_secs(a.timeout_seconds),
        memo: &a.memo,
    };
    let (hash, packet) = crate::transfer::evm::send(&src, &t).await?;
    ctx.emit(&serde_json::json!({ "tx_hash": hash, "sequence": packet.sequence, "source_channel": packet.source_channel, "state": "sent" }), || {
        format!("sent {amount} of {token:?} to {} on {}: tx {hash}, packet {} on {}", a.to, dst_end.chain, packet.sequence, packet.source_channel)
    });
    if a.wait {
        let dst = ctx.evm_chain(cfg, &dst_end.chain)?;
        follow(
            ctx,
            &hash,
            Duration::from_secs(a.timeout_seconds + 120),
            || crate::transfer::evm::status(&src, &dst, &hash),
        )
        .await?;
    }
    Ok(())
}

/// Print each state change until the transfer is final.
pub async fn follow<F, Fut>(
    ctx: &Ctx,
    hash: &str,
    limit: Duration,
    status: F,
) -> Result<TransferState>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = crate::chain::Result<crate::transfer::TransferStatus>>,
{
    let start = Instant::now();
    let mut last: Option<TransferState> = None;
    // On a terminal, a spinner shows the state reached and the time waited; the state changes
    // are printed (or emitted as JSON) as well.
    let spinner = (!ctx.json && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| crate::progress::Progress::start(format!("waiting for {hash}")));
    loop {
        let st = match status().await {
            Ok(st) => st,
            Err(e) => {
                if let Some(p) = spinner {
                    p.finish("lookup failed");
                }
                return Err(e.into());
            }
        };
        if last.as_ref() != Some(&st.state) {
            let line = format!(
                "[{:>5.1}s] {}: {}",
                start.elapsed().as_secs_f64(),
                st.tx_hash,
                st.state.label()
            );
            match &spinner {
                Some(p) => {
                    p.step(st.state.label());
                    p.println(&line);
                }
                None => ctx.emit(&st, || line.clone()),
            }
            last = Some(st.state.clone());
        }
        if st.state.is_final() {
            if let Some(p) = spinner {
                p.finish(st.state.label());
            }
            return Ok(st.state);
        }
        if start.elapsed() > limit {
            return Err(anyhow!(
                "transfer {hash} not final after {}s (state: {})",
                limit.as_secs(),
                st.state.label()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
