//! The IBC v2 part of `ferry devnet demo`: `stake` from the ibc-go v11 appchain to `evm-settlement`
//! and part of its voucher back, relayed by the running relayer over `v2-settlement-evm`, each side
//! proven to the other by that chain's attestor committee.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use ethers::types::{Address, U256};

use crate::evm::{V2_COSMOS_CLIENT, V2_EVM_CHAIN, V2_EVM_CLIENT};
use crate::{DevnetState, V2_CHAIN_ID, V2_PATH};
use ferry::chain::cosmos::CosmosChain;
use ferry::chain::evm::abi::Ics20Transfer;
use ferry::chain::evm::EvmChain;
use ferry::cli::Ctx;
use ferry::supervisor::Chain;

/// Open the appchain and evm-settlement, and create the path's Cosmos side if needed.
pub async fn open_path(
    ctx: &Ctx,
) -> Result<(std::sync::Arc<CosmosChain>, std::sync::Arc<EvmChain>)> {
    let cfg = ctx.load_config()?;
    let p = ctx.path(&cfg, V2_PATH)?;
    let (Chain::Cosmos(c), Chain::Evm(e)) = (
        ctx.open_any(&cfg, &p.a.chain)?,
        ctx.open_any(&cfg, &p.b.chain)?,
    ) else {
        return Err(anyhow!("path {V2_PATH} is not appchain -> evm"));
    };
    let evm_client = V2_EVM_CLIENT.parse()?;
    let done = ferry::chain::attested::create::ensure_path(
        &c,
        Some(&V2_COSMOS_CLIENT.parse()?),
        &e,
        &evm_client,
        None,
    )
    .await?;
    println!(
        "{} path {V2_PATH}: attestations clients {} on {} <-> {V2_EVM_CLIENT} on {}",
        if done.cosmos.created {
            "opened"
        } else {
            "reusing"
        },
        done.cosmos.client,
        c.id,
        e.id
    );
    Ok((c, e))
}

async fn until<F, Fut>(what: &str, f: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let t = Instant::now();
    while !f().await? {
        if t.elapsed() > Duration::from_secs(180) {
            return Err(anyhow!("{what}: not done after 180 s"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("{what} ({:.1} s)", t.elapsed().as_secs_f64());
    Ok(())
}

pub async fn run(ctx: &Ctx, state: &DevnetState) -> Result<()> {
    let cfg = ctx.load_config()?;
    let (c, e) = (
        ctx.chain(&cfg, &V2_CHAIN_ID.parse()?, Some("user"))?,
        ctx.evm_chain(&cfg, &V2_EVM_CHAIN.parse()?)?,
    );
    let user_c = state.addresses["user"].clone();
    let user_e: Address = state.addresses["evm-user"].parse()?;
    let app = Ics20Transfer::new(
        e.evm.transfer.ok_or_else(|| anyhow!("no ics20"))?,
        e.provider(),
    );
    let trace = format!("transfer/{V2_EVM_CLIENT}/stake");
    let stake0 = c.balance(&user_c, "stake").await?;
    println!(
        "==> transfer 1000stake {} -> {} (IBC v2, attested both ways)",
        c.id, e.id
    );
    let client = V2_COSMOS_CLIENT.parse()?;
    let port = "transfer".parse()?;
    let user_e_hex = format!("{user_e:?}");
    let t = ferry::transfer::Transfer {
        port: &port,
        channel: &client,
        amount: 1000,
        denom: "stake",
        receiver: &user_e_hex,
        timeout: Duration::from_secs(600),
        memo: "ferry demo",
    };
    ferry::transfer::send(&c, &t).await?;
    let voucher = || async { Ok::<_, anyhow::Error>(app.voucher_of(trace.clone()).call().await?) };
    until("voucher minted on evm-settlement", || async {
        let v = voucher().await?;
        Ok(!v.is_zero() && e.balance(user_e, Some(v)).await? == U256::from(1000))
    })
    .await?;
    let v = voucher().await?;
    println!(
        "==> transfer 400 of the voucher {v:?} {} -> {} (back to stake)",
        e.id, c.id
    );
    let wallet = ctx
        .keystore()
        .load_evm("user", e.evm.chain_id)
        .map_err(|err| anyhow!("devnet user key: {err}"))?;
    let evm_client = V2_EVM_CLIENT.parse()?;
    ferry::transfer::evm::send(
        &e,
        &ferry::transfer::evm::EvmTransfer {
            wallet,
            token: v,
            amount: 400u64.into(),
            receiver: &user_c,
            client: &evm_client,
            timeout: Duration::from_secs(600),
            memo: "ferry demo",
        },
    )
    .await?;
    until("stake back on the appchain", || async {
        Ok(c.balance(&user_c, "stake").await? + 600 == stake0)
    })
    .await?;
    println!(
        "balances after: {} stake on {}; {} of {trace} on {}",
        c.balance(&user_c, "stake").await?,
        c.id,
        e.balance(user_e, Some(v)).await?,
        e.id
    );
    Ok(())
}
